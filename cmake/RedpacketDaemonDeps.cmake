# The daemon's and the load generator's dependencies, all Debian packages. Found once in the
# top-level directory so that the imported targets are visible to daemon/ and bench/load/.
find_package(fmt REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(HttpParser REQUIRED)
# sd_notify(3) for systemd's Type=notify (packaging/redpacketd.service).
find_package(PkgConfig REQUIRED)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
