# Per-target helpers: warnings and sanitizers reach this project's own targets only, never
# consumers (they are PRIVATE, or behind $<BUILD_INTERFACE:...>).
# Libraries, CMake and pkg-config files in Debian's multiarch directory (lib/x86_64-linux-gnu)
# whatever the prefix, so that the packaged ones sit where Debian's pkg-config looks (lintian:
# pkg-config-unavailable-for-cross-compilation). GNUInstallDirs does this only for /usr.
if(NOT DEFINED CMAKE_INSTALL_LIBDIR AND CMAKE_LIBRARY_ARCHITECTURE AND EXISTS /etc/debian_version)
    set(CMAKE_INSTALL_LIBDIR "lib/${CMAKE_LIBRARY_ARCHITECTURE}" CACHE PATH
        "Object code libraries (lib/<multiarch>)")
endif()
include(GNUInstallDirs)

add_library(redpacket_warnings INTERFACE)
target_compile_options(redpacket_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion
    $<$<BOOL:${REDPACKET_WERROR}>:-Werror>)

function(redpacket_setup_target target)
    set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
    target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:redpacket_warnings>)
    if(REDPACKET_SANITIZE)
        target_compile_options(${target} PRIVATE
            -fsanitize=${REDPACKET_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
        target_link_options(${target} PRIVATE -fsanitize=${REDPACKET_SANITIZE})
    endif()
    # The fuzz configuration (tests/fuzz): libFuzzer's coverage instrumentation on every target,
    # the library included; the fuzz targets add the libFuzzer runtime themselves. clang's
    # default constexpr step limit is too low for protocol.cpp's static_assert over all 65,536
    # command ids.
    if(REDPACKET_FUZZ)
        target_compile_options(${target} PRIVATE
            -fsanitize=fuzzer-no-link -fconstexpr-steps=16777216)
    endif()
endfunction()

# Compiles each header alone in its own translation unit (an optional third argument names a
# subfolder of include/redpacket/, e.g. redis/).
function(redpacket_add_header_check target headers)
    set(subdir "${ARGV2}")
    set(sources "")
    foreach(header IN LISTS headers)
        get_filename_component(name "${header}" NAME_WE)
        set(source "${CMAKE_CURRENT_BINARY_DIR}/header_check/${subdir}${name}.cpp")
        file(CONFIGURE OUTPUT "${source}" CONTENT "#include \"redpacket/${subdir}${name}.hpp\"\n")
        list(APPEND sources "${source}")
    endforeach()
    add_library(${target} OBJECT ${sources})
    target_link_libraries(${target} PRIVATE redpacket::redpacket)
    redpacket_setup_target(${target})
endfunction()
