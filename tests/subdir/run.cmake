# SPDX-License-Identifier: MIT
# cmake -DSOURCE_DIR=... -DWORK_DIR=... [-DGENERATOR=...] -P run.cmake
file(REMOVE_RECURSE "${WORK_DIR}")
if(NOT GENERATOR)
    set(GENERATOR "Unix Makefiles")
endif()
function(step)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "subdir test: failed (${rc}): ${ARGN}")
    endif()
endfunction()
step(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/subdir" -B "${WORK_DIR}" -G "${GENERATOR}"
     -DCMAKE_BUILD_TYPE=Release -DKOMPOZ_SOURCE_DIR=${SOURCE_DIR})
step(${CMAKE_COMMAND} --build "${WORK_DIR}" --parallel 2)
step("${WORK_DIR}/consumer")
message(STATUS "subdir test: add_subdirectory(kompoz) consumer built and ran")
