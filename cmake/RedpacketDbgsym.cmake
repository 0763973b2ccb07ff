# CPack post-build script (CPACK_POST_BUILD_SCRIPTS): fixes the dbgsym packages cpack just
# wrote, before it copies them out (cmake/fix-dbgsym.sh says what and why).
set(ddebs "")
foreach(file IN LISTS CPACK_PACKAGE_FILES)
    if(file MATCHES "-dbgsym_.*\\.ddeb$")
        list(APPEND ddebs "${file}")
    endif()
endforeach()
if(ddebs)
    execute_process(COMMAND bash "${CMAKE_CURRENT_LIST_DIR}/fix-dbgsym.sh" ${ddebs}
        RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "fix-dbgsym.sh failed (${rc}) on ${ddebs}")
    endif()
endif()
