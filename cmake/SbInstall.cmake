# Installs headers, libstreambridge, the CMake package (streambridge::streambridge via
# find_package(streambridge)) and a pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS streambridge EXPORT streambridgeTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/capi/include/streambridge
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(EXPORT streambridgeTargets NAMESPACE streambridge::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/streambridge)

configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/streambridgeConfig.cmake.in
  ${CMAKE_BINARY_DIR}/streambridgeConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/streambridge)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/streambridgeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/streambridgeConfig.cmake
              ${CMAKE_BINARY_DIR}/streambridgeConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/streambridge)

file(RELATIVE_PATH SB_PC_TO_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(${CMAKE_SOURCE_DIR}/cmake/streambridge.pc.in ${CMAKE_BINARY_DIR}/streambridge.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/streambridge.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
