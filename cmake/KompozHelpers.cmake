# SPDX-License-Identifier: MIT
# Warnings and sanitizers go on our own targets only (PRIVATE), never into CMAKE_CXX_FLAGS and
# never as INTERFACE options that would leak into a user's build.
function(kompoz_set_warnings target)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    if(KOMPOZ_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
    target_compile_definitions(${target} PRIVATE QT_NO_KEYWORDS QT_NO_CAST_FROM_ASCII
                                                 QT_NO_CAST_TO_ASCII QT_NO_FOREACH
                                                 QT_NO_URL_CAST_FROM_STRING)
    kompoz_set_sanitizers(${target})
endfunction()

function(kompoz_set_sanitizers target)
    if(KOMPOZ_ENABLE_ASAN AND KOMPOZ_ENABLE_TSAN)
        message(FATAL_ERROR "KOMPOZ_ENABLE_ASAN and KOMPOZ_ENABLE_TSAN cannot be combined")
    endif()
    if(KOMPOZ_ENABLE_ASAN)
        target_compile_options(${target} PRIVATE -fsanitize=address,undefined
                                                 -fno-omit-frame-pointer -fno-sanitize-recover=all)
        target_link_options(${target} PRIVATE -fsanitize=address,undefined)
    endif()
    if(KOMPOZ_ENABLE_TSAN)
        # Qt itself is not built with TSan: see tests/tsan.supp for what that costs and why
        # each suppression is Qt's and not ours. Our own locks become std::mutex under TSan
        # (runtime.h), so TSan sees them.
        target_compile_options(${target} PRIVATE -fsanitize=thread -fno-omit-frame-pointer)
        target_link_options(${target} PRIVATE -fsanitize=thread)
    endif()
endfunction()

# kompoz_add_test(name [LIBS ...] [ENV ...] [TIMEOUT s]): builds tests/tst_<name>.cpp into
# tst_<name> and registers it with CTest.
function(kompoz_add_test name)
    cmake_parse_arguments(ARG "" "TIMEOUT" "LIBS;ENV;SOURCES" ${ARGN})
    add_executable(tst_${name} tst_${name}.cpp ${ARG_SOURCES})
    target_link_libraries(tst_${name} PRIVATE Kompoz::Kompoz Qt6::Test kompoz_testlib ${ARG_LIBS})
    kompoz_set_warnings(tst_${name})
    add_test(NAME ${name} COMMAND tst_${name})
    if(NOT ARG_TIMEOUT)
        set(ARG_TIMEOUT 120)
    endif()
    set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
                         ENVIRONMENT "QT_QPA_PLATFORM=offscreen;${ARG_ENV}")
endfunction()
