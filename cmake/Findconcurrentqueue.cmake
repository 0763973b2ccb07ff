# Findconcurrentqueue: moodycamel::ConcurrentQueue, header-only. Debian's libconcurrentqueue-dev
# ships the headers under concurrentqueue/ but neither a CMake config nor a pkg-config file.
# The package and target names are the ones upstream's own CMake config exports, so code that
# links concurrentqueue::concurrentqueue works against either.
#
#   find_package(concurrentqueue REQUIRED)
#   target_link_libraries(app PRIVATE concurrentqueue::concurrentqueue)
#   #include <concurrentqueue/concurrentqueue.h>
find_path(concurrentqueue_INCLUDE_DIR NAMES concurrentqueue/concurrentqueue.h)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(concurrentqueue REQUIRED_VARS concurrentqueue_INCLUDE_DIR)

if(concurrentqueue_FOUND AND NOT TARGET concurrentqueue::concurrentqueue)
    add_library(concurrentqueue::concurrentqueue INTERFACE IMPORTED)
    set_target_properties(concurrentqueue::concurrentqueue PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${concurrentqueue_INCLUDE_DIR}")
endif()
mark_as_advanced(concurrentqueue_INCLUDE_DIR)
