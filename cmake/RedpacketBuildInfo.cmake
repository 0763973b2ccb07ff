# What every binary's --version and redpacketd's build_info metric say: the project version,
# the git commit and the build type, fixed when CMake configures. CMake configures again when
# HEAD moves (the files git changes on a commit or checkout are configure dependencies), so a
# build never reports a commit it was not built from. Outside a git checkout: "unknown".
set(REDPACKET_GIT_COMMIT "unknown")
find_package(Git QUIET)
if(Git_FOUND AND EXISTS "${PROJECT_SOURCE_DIR}/.git")
    execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --short=12 HEAD
        WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}" RESULT_VARIABLE rc
        OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(rc EQUAL 0)
        set(REDPACKET_GIT_COMMIT "${commit}")
    endif()
    execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --symbolic-full-name HEAD
        WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}" OUTPUT_VARIABLE ref
        OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    # Where git keeps them (a worktree's .git is a file): HEAD, its reflog (written on every
    # move of HEAD), the branch's loose ref and the packed refs.
    foreach(name IN ITEMS HEAD logs/HEAD packed-refs ${ref})
        execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse --git-path "${name}"
            WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}" OUTPUT_VARIABLE path
            OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
        if(path)
            get_filename_component(path "${path}" ABSOLUTE BASE_DIR "${PROJECT_SOURCE_DIR}")
            if(EXISTS "${path}")
                set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY
                    CMAKE_CONFIGURE_DEPENDS "${path}")
            endif()
        endif()
    endforeach()
endif()
set(REDPACKET_BUILD_TYPE "${CMAKE_BUILD_TYPE}")
if(NOT REDPACKET_BUILD_TYPE)
    set(REDPACKET_BUILD_TYPE "unspecified")
endif()
configure_file("${PROJECT_SOURCE_DIR}/cmake/build_info.hpp.in"
    "${PROJECT_BINARY_DIR}/generated/build_info/redpacket_build_info.hpp" @ONLY)
add_library(redpacket_build_info INTERFACE)
target_include_directories(redpacket_build_info INTERFACE
    "${PROJECT_BINARY_DIR}/generated/build_info")
