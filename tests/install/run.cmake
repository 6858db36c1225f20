# SPDX-License-Identifier: MIT
# cmake -DSOURCE_DIR=... -DWORK_DIR=... [-DGENERATOR=...] -P run.cmake
set(TEST_NAME install)
include(${CMAKE_CURRENT_LIST_DIR}/../buildtest.cmake)
set(prefix "${WORK_DIR}/prefix")
step(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/lib" -G "${GENERATOR}"
     -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=${prefix}
     -DKOMPOZ_BUILD_TESTS=OFF -DKOMPOZ_BUILD_DEMO=OFF -DKOMPOZ_BUILD_BENCHMARKS=OFF)
step(${CMAKE_COMMAND} --build "${WORK_DIR}/lib" --parallel 2)
step(${CMAKE_COMMAND} --install "${WORK_DIR}/lib")
step(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/install" -B "${WORK_DIR}/consumer" -G "${GENERATOR}"
     -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
step(${CMAKE_COMMAND} --build "${WORK_DIR}/consumer")
step(${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${prefix}/lib:${prefix}/lib64
     "${WORK_DIR}/consumer/consumer")
message(STATUS "install test: find_package(Kompoz) consumer built and ran")
