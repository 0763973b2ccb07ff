# install(EXPORT) + redpacketConfig.cmake + version file + redpacket.pc.
include(CMakePackageConfigHelpers)

set(REDPACKET_CONFIG_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/redpacket")

install(TARGETS redpacket redpacket_client EXPORT redpacketTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/redpacket DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(EXPORT redpacketTargets
    NAMESPACE redpacket::
    DESTINATION ${REDPACKET_CONFIG_DIR}
    COMPONENT dev)

configure_package_config_file(
    "${CMAKE_CURRENT_LIST_DIR}/redpacketConfig.cmake.in"
    "${CMAKE_CURRENT_BINARY_DIR}/redpacketConfig.cmake"
    INSTALL_DESTINATION ${REDPACKET_CONFIG_DIR})
write_basic_package_version_file(
    "${CMAKE_CURRENT_BINARY_DIR}/redpacketConfigVersion.cmake"
    COMPATIBILITY SameMinorVersion)
install(FILES
    "${CMAKE_CURRENT_BINARY_DIR}/redpacketConfig.cmake"
    "${CMAKE_CURRENT_BINARY_DIR}/redpacketConfigVersion.cmake"
    "${CMAKE_CURRENT_LIST_DIR}/FindISAL.cmake"
    "${CMAKE_CURRENT_LIST_DIR}/FindLibUV.cmake"
    DESTINATION ${REDPACKET_CONFIG_DIR}
    COMPONENT dev)

# The .pc file locates its prefix from its own directory, so an installed tree can be moved.
file(RELATIVE_PATH REDPACKET_PC_TO_PREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file("${CMAKE_CURRENT_LIST_DIR}/redpacket.pc.in"
    "${CMAKE_CURRENT_BINARY_DIR}/redpacket.pc" @ONLY)
configure_file("${CMAKE_CURRENT_LIST_DIR}/redpacket-client.pc.in"
    "${CMAKE_CURRENT_BINARY_DIR}/redpacket-client.pc" @ONLY)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/redpacket.pc"
    "${CMAKE_CURRENT_BINARY_DIR}/redpacket-client.pc"
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
    COMPONENT dev)
