# SPDX-License-Identifier: MIT
# What the build tests (install/run.cmake, subdir/run.cmake) share: a fresh WORK_DIR, the
# generator, and step(), which runs one command and fails the test with it when it fails.
# TEST_NAME names the test in the failure message.
file(REMOVE_RECURSE "${WORK_DIR}")
if(NOT GENERATOR)
    set(GENERATOR "Unix Makefiles")
endif()
function(step)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "${TEST_NAME} test: failed (${rc}): ${ARGN}")
    endif()
endfunction()
