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

# The Python package (python/streambridge, pure Python) into PREFIX/lib/python3/dist-packages:
# on Debian's python3 path for the prefixes /usr and /usr/local (elsewhere: PYTHONPATH). The
# installed library's path is recorded in streambridge/_install_paths.py, so the package finds
# it without LD_LIBRARY_PATH. (pip install ./python is the other way: README, "Python".)
set(SB_PYTHON_INSTALL_DIR "lib/python3/dist-packages" CACHE STRING
    "Where cmake --install puts the streambridge Python package, relative to the prefix")
install(DIRECTORY ${CMAKE_SOURCE_DIR}/python/streambridge DESTINATION ${SB_PYTHON_INSTALL_DIR}
  FILES_MATCHING PATTERN "*.py" PATTERN "py.typed" PATTERN "__pycache__" EXCLUDE
  PATTERN "_install_paths.py" EXCLUDE)
install(CODE "
  set(sb_py_dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${SB_PYTHON_INSTALL_DIR}/streambridge\")
  file(WRITE \"\${sb_py_dir}/_install_paths.py\"
       \"# Written by cmake --install: the library this package was installed with.\\n\"
       \"LIBRARY = '\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/libstreambridge.so.${SB_SOVERSION}'\\n\")
  message(STATUS \"Installing: \${sb_py_dir}/_install_paths.py\")
")
