# SPDX-License-Identifier: MIT
# cmake -DSOURCE_DIR=... -DWORK_DIR=... [-DGENERATOR=...] -P run.cmake
set(TEST_NAME subdir)
include(${CMAKE_CURRENT_LIST_DIR}/../buildtest.cmake)
step(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/subdir" -B "${WORK_DIR}" -G "${GENERATOR}"
     -DCMAKE_BUILD_TYPE=Release -DKOMPOZ_SOURCE_DIR=${SOURCE_DIR})
step(${CMAKE_COMMAND} --build "${WORK_DIR}" --parallel 2)
step("${WORK_DIR}/consumer")
message(STATUS "subdir test: add_subdirectory(kompoz) consumer built and ran")
