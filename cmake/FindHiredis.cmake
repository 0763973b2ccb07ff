# FindHiredis: Debian's libhiredis-dev (0.14) ships a pkg-config file only. This module turns it
# into the imported target Hiredis::Hiredis.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
    pkg_check_modules(PC_HIREDIS QUIET IMPORTED_TARGET hiredis)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Hiredis
    REQUIRED_VARS PC_HIREDIS_LINK_LIBRARIES
    VERSION_VAR PC_HIREDIS_VERSION)

if(Hiredis_FOUND AND NOT TARGET Hiredis::Hiredis)
    add_library(Hiredis::Hiredis INTERFACE IMPORTED)
    target_link_libraries(Hiredis::Hiredis INTERFACE PkgConfig::PC_HIREDIS)
endif()
