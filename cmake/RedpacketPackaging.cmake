# The daemon's installation and the .deb packages (cpack -G DEB in a build tree):
#   redpacketd          the five binaries, their man pages, the systemd unit, an example config
#   libredpacket-dev    the library, its headers, CMake package and pkg-config files
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

foreach(binary IN LISTS REDPACKET_DAEMON_BINARIES)
    if(TARGET ${binary})
        install(TARGETS ${binary} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT daemon)
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
        add_custom_command(OUTPUT "${page}.gz"
            COMMAND ${CMAKE_COMMAND} -E make_directory "${CMAKE_CURRENT_BINARY_DIR}/man"
            COMMAND ${REDPACKET_HELP2MAN} --no-info --no-discard-stderr --section 1
                    --name "${description}" --output "${page}" $<TARGET_FILE:${binary}>
            COMMAND ${REDPACKET_GZIP} -n -9 -f "${page}"
            DEPENDS ${binary}
            COMMENT "Man page of ${binary} (help2man)"
            VERBATIM)
        list(APPEND man_pages "${page}.gz")
    endforeach()
    add_custom_target(redpacket_man_pages ALL DEPENDS ${man_pages})
    install(FILES ${man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT daemon)
else()
    message(STATUS "help2man or gzip not found: no man pages (cmake/install-deps.sh installs help2man)")
endif()

install(FILES "${PROJECT_SOURCE_DIR}/packaging/redpacketd.service"
    DESTINATION lib/systemd/system COMPONENT daemon)
install(FILES "${PROJECT_SOURCE_DIR}/examples/redpacketd.json"
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/redpacketd/examples COMPONENT daemon)

# --- CPack: one .deb per component -----------------------------------------------------------
set(CPACK_PACKAGE_NAME redpacket)
set(CPACK_PACKAGE_VENDOR "libredpacket")
set(CPACK_PACKAGE_CONTACT "libredpacket maintainers <maintainers@example.invalid>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL daemon dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from the binaries' shared libraries
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_DAEMON_PACKAGE_NAME redpacketd)
set(CPACK_DEBIAN_DAEMON_DESCRIPTION
    "Serves the 2017 red packet wire protocol and an extended one, with a\n write-ahead journal, verifiable splits, an admin HTTP API and a systemd unit.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libredpacket-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libuv1-dev, libisal-dev, libssl-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION
    "Pools, split policies, sharded connection sets, journal and snapshots,\n and the redpacket::Client SDK, with CMake and pkg-config files.")
include(CPack)
