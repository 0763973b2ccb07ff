# FindLibUV: libuv 1.44 on Debian ships only a pkg-config file. This module turns it into the
# imported target LibUV::LibUV.
#
#   find_package(LibUV 1.44 REQUIRED)
#   target_link_libraries(app PRIVATE LibUV::LibUV)
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
    pkg_check_modules(PC_LIBUV QUIET IMPORTED_TARGET libuv)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LibUV
    REQUIRED_VARS PC_LIBUV_LINK_LIBRARIES
    VERSION_VAR PC_LIBUV_VERSION)

if(LibUV_FOUND AND NOT TARGET LibUV::LibUV)
    add_library(LibUV::LibUV INTERFACE IMPORTED)
    target_link_libraries(LibUV::LibUV INTERFACE PkgConfig::PC_LIBUV)
endif()
