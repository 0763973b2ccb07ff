# The daemon's and the load generator's dependencies, all Debian packages. Found once in the
# top-level directory so that the imported targets are visible to daemon/ and bench/load/.
find_package(fmt REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(PkgConfig REQUIRED)
# The admin API's HTTP server (daemon/admin_http.cpp) and the load generator's client for it.
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd>=0.9.75)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib>=0.11)
# sd_notify(3) for systemd's Type=notify (packaging/redpacketd.service).
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)

# GET /dashboard's page, compiled in (the daemon serves no files from disk): sets `out_var` to
# the generated source defining redpacketd::kDashboardPage.
function(redpacketd_embed_dashboard out_var)
    set(page "${PROJECT_SOURCE_DIR}/daemon/dashboard/dashboard.html")
    set(source "${CMAKE_CURRENT_BINARY_DIR}/generated/dashboard_page.cpp")
    add_custom_command(OUTPUT "${source}"
        COMMAND ${CMAKE_COMMAND} -DINPUT=${page} -DOUTPUT=${source} -DNAME=kDashboardPage
                -DNAMESPACE=redpacketd -P ${PROJECT_SOURCE_DIR}/cmake/embed_text.cmake
        DEPENDS "${page}" "${PROJECT_SOURCE_DIR}/cmake/embed_text.cmake"
        COMMENT "Embedding the dashboard page")
    set(${out_var} "${source}" PARENT_SCOPE)
endfunction()
