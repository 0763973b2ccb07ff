# The daemon's installation and the .deb packages (cpack -G DEB in a build tree), one per
# component, each with a dbgsym package (.ddeb) holding the debug symbols stripped from it:
#   redpacketd          the daemon, its man page, the systemd unit, the packaged configuration
#                       (/etc/redpacketd/redpacketd.json, a conffile) and the maintainer scripts
#                       (packaging/debian/: system user, generated secrets, the unit enabled)
#   redpacket-tools     redpacket-audit, -verify, -load and -echo with their man pages
#   libredpacket-dev    the library, its headers, CMake package and pkg-config files
# Why cpack and not debhelper: the packages come from the build tree the tests already built,
# so the test command pays no second build (debhelper's dpkg-buildpackage would compile the
# whole tree again); what dh would add — maintainer scripts, conffiles, copyright, changelog,
# stripping, dbgsym — is here, and lintian checks the result (tests/packaging/check_deb.sh).
# Man pages are generated from each binary's --help and --version by help2man at build time.
# Included from the top level after the targets exist.

set(REDPACKET_DAEMON_BINARIES redpacketd redpacket-audit redpacket-verify redpacket-load
    redpacket-echo)
set(REDPACKET_MAN_NAMES
    "redpacketd=the red packet reference daemon"
    "redpacket-audit=check the money invariants of a redpacketd journal"
    "redpacket-verify=check a packet's split against its committed seed"
    "redpacket-load=load generator and latency recorder for redpacketd"
    "redpacket-echo=echo server for the load generator's ceiling measurements")

# The package of each binary (its man page goes with it).
function(redpacket_component_of binary out)
    if(binary STREQUAL "redpacketd")
        set(${out} daemon PARENT_SCOPE)
    else()
        set(${out} tools PARENT_SCOPE)
    endif()
endfunction()

foreach(binary IN LISTS REDPACKET_DAEMON_BINARIES)
    if(TARGET ${binary})
        redpacket_component_of(${binary} component)
        install(TARGETS ${binary} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
                COMPONENT ${component})
    endif()
endforeach()

find_program(REDPACKET_HELP2MAN help2man)
find_program(REDPACKET_GZIP gzip)
if(REDPACKET_HELP2MAN AND REDPACKET_GZIP)
    set(man_pages "")
    foreach(entry IN LISTS REDPACKET_MAN_NAMES)
        string(REPLACE "=" ";" pair "${entry}")
        list(GET pair 0 binary)
        list(GET pair 1 description)
        if(NOT TARGET ${binary})
            continue()
        endif()
        set(page "${CMAKE_CURRENT_BINARY_DIR}/man/${binary}.1")
        # The sections --help cannot hold (SIGNALS, ENVIRONMENT, FILES, HTTP ENDPOINTS, EXIT
        # STATUS) come from packaging/man/<binary>.h2m. The footer names the version only: the
        # commit and build type of --version do not fit beside the date at 80 columns.
        set(include "${PROJECT_SOURCE_DIR}/packaging/man/${binary}.h2m")
        add_custom_command(OUTPUT "${page}.gz"
            COMMAND ${CMAKE_COMMAND} -E make_directory "${CMAKE_CURRENT_BINARY_DIR}/man"
            COMMAND ${REDPACKET_HELP2MAN} --no-info --no-discard-stderr --section 1
                    --name "${description}" --version-string "${PROJECT_VERSION}"
                    --include "${include}" --output "${page}" $<TARGET_FILE:${binary}>
            COMMAND ${REDPACKET_GZIP} -n -9 -f "${page}"
            DEPENDS ${binary} "${include}"
            COMMENT "Man page of ${binary} (help2man)"
            VERBATIM)
        list(APPEND man_pages "${page}.gz")
        redpacket_component_of(${binary} component)
        install(FILES "${page}.gz" DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
                COMPONENT ${component})
    endforeach()
    add_custom_target(redpacket_man_pages ALL DEPENDS ${man_pages})
else()
    message(STATUS "help2man or gzip not found: no man pages (cmake/install-deps.sh --tests installs help2man)")
endif()

set(debian "${PROJECT_SOURCE_DIR}/packaging/debian")
install(FILES "${PROJECT_SOURCE_DIR}/packaging/redpacketd.service"
    DESTINATION lib/systemd/system COMPONENT daemon)
# The packaged configuration: in /etc when the prefix is /usr (the package: cpack installs with
# prefix /usr into its staging DESTDIR), else in <prefix>/etc — GNUInstallDirs' rule for
# SYSCONFDIR, applied at install time, so that `cmake --install --prefix DIR` stays in DIR.
install(CODE "
    if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
        set(redpacket_etc \"/etc/redpacketd\")
    else()
        set(redpacket_etc \"\${CMAKE_INSTALL_PREFIX}/etc/redpacketd\")
    endif()
    file(INSTALL DESTINATION \"\${redpacket_etc}\" TYPE FILE
         FILES \"${PROJECT_SOURCE_DIR}/packaging/redpacketd.json\")
    " COMPONENT daemon)
install(FILES "${PROJECT_SOURCE_DIR}/examples/redpacketd.json"
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/redpacketd/examples COMPONENT daemon)
# Each package's copyright and changelog, as Debian's policy asks (§12.5, §12.7).
set(changelog "${CMAKE_CURRENT_BINARY_DIR}/debian/changelog.Debian.gz")
add_custom_command(OUTPUT "${changelog}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${CMAKE_CURRENT_BINARY_DIR}/debian"
    COMMAND ${REDPACKET_GZIP} -n -9 -c "${debian}/changelog" > "${changelog}"
    DEPENDS "${debian}/changelog"
    COMMENT "changelog.Debian.gz")
add_custom_target(redpacket_debian_changelog ALL DEPENDS "${changelog}")
foreach(pair IN ITEMS "daemon=redpacketd" "tools=redpacket-tools" "dev=libredpacket-dev")
    string(REPLACE "=" ";" pair "${pair}")
    list(GET pair 0 component)
    list(GET pair 1 package)
    install(FILES "${debian}/copyright" "${changelog}"
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${package} COMPONENT ${component})
    # The one lintian override, justified in the file itself.
    configure_file("${debian}/lintian-overrides.in"
        "${CMAKE_CURRENT_BINARY_DIR}/debian/${package}.lintian-overrides" @ONLY)
    install(FILES "${CMAKE_CURRENT_BINARY_DIR}/debian/${package}.lintian-overrides"
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME ${package}
        COMPONENT ${component})
endforeach()
# The changelog's version is the package's.
file(STRINGS "${debian}/changelog" changelog_top LIMIT_COUNT 1)
if(NOT changelog_top MATCHES "\\(${PROJECT_VERSION}-1\\)")
    message(FATAL_ERROR "packaging/debian/changelog starts with '${changelog_top}', not "
                        "version ${PROJECT_VERSION}-1")
endif()

# --- CPack: one .deb per component -----------------------------------------------------------
set(CPACK_PACKAGE_NAME redpacket)
set(CPACK_PACKAGE_VENDOR "libredpacket")
set(CPACK_PACKAGE_CONTACT "libredpacket maintainers <maintainers@example.invalid>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
# Each package's Description below starts with its own synopsis line. CPackDeb prepends the
# summary to it unless the summary is CPack's default, so the default it is.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${CMAKE_PROJECT_NAME} built using CMake")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL daemon tools dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from the binaries' shared libraries
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)  # scripts 0755, conffiles 0644
# Executables stripped by cpack (objcopy --strip-unneeded), their debug symbols kept in
# <package>-dbgsym .ddeb files (usr/lib/debug/.build-id/, found by the build id). Not
# CPACK_STRIP_FILES: that strips before cpack can keep the symbols.
set(CPACK_DEBIAN_DEBUGINFO_PACKAGE ON)
set(CPACK_POST_BUILD_SCRIPTS "${PROJECT_SOURCE_DIR}/cmake/RedpacketDbgsym.cmake")
set(CPACK_DEBIAN_DAEMON_PACKAGE_NAME redpacketd)
set(CPACK_DEBIAN_DAEMON_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_EXTRA
    "${debian}/postinst;${debian}/prerm;${debian}/postrm;${debian}/conffiles")
set(CPACK_DEBIAN_DAEMON_DESCRIPTION
    "red packet (lucky money) allocation daemon\nServes the 2017 red packet wire protocol and an extended one, with a\nwrite-ahead journal, verifiable splits, an admin HTTP API and a systemd\nunit. The packaged configuration journals every claim, requires\nauthenticated logins and guards the admin API with a generated token.")
set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME redpacket-tools)
set(CPACK_DEBIAN_TOOLS_DESCRIPTION
    "tools for redpacketd: audit, proof verifier, load generator\nredpacket-audit checks a journal's money invariants, redpacket-verify\nchecks a packet's split against its committed seed, redpacket-load\ndrives a daemon and records latency, redpacket-echo is the load\ngenerator's baseline server.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libredpacket-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libuv1-dev, libisal-dev, libssl-dev, libsqlite3-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION
    "red packet allocation library (development files)\nPools, split policies, sharded connection sets, journal and snapshots,\nand the redpacket::Client SDK, with CMake and pkg-config files.")
include(CPack)
