# Script run by the install_and_consume test (cmake -P).
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(f include/streambridge/streambridge.h lib/cmake/streambridge/streambridgeConfig.cmake
          lib/cmake/streambridge/streambridgeConfigVersion.cmake lib/pkgconfig/streambridge.pc)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
set(ENV{LD_LIBRARY_PATH} ${prefix}/lib)
run(${WORK_DIR}/build/sb_consumer)
# pkg-config route: compile the same program with the flags the .pc file gives.
set(ENV{PKG_CONFIG_PATH} ${prefix}/lib/pkgconfig)
execute_process(COMMAND pkg-config --cflags --libs streambridge OUTPUT_VARIABLE pc_flags
                RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config does not know streambridge")
endif()
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
run(cc ${SOURCE_DIR}/main.c ${pc_flags} -o ${WORK_DIR}/consumer_pc)
run(${WORK_DIR}/consumer_pc)
# The Python package: installed beside the library, it loads that library with no environment
# (no STREAMBRIDGE_LIBRARY, no LD_LIBRARY_PATH), from outside the source tree.
if(EXISTS /usr/bin/python3)
  set(py_dir ${prefix}/lib/python3/dist-packages)
  if(NOT EXISTS ${py_dir}/streambridge/__init__.py OR NOT EXISTS ${py_dir}/streambridge/_install_paths.py)
    message(FATAL_ERROR "the Python package is not installed in ${py_dir}")
  endif()
  execute_process(
    COMMAND env -u STREAMBRIDGE_LIBRARY -u LD_LIBRARY_PATH PYTHONPATH=${py_dir} /usr/bin/python3 -c
            "import streambridge; print(streambridge.library_path()); print(streambridge.version())"
    WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc OUTPUT_VARIABLE py_out ERROR_VARIABLE py_err)
  if(NOT rc EQUAL 0 OR NOT py_out MATCHES "^${prefix}/")
    message(FATAL_ERROR "the installed package did not load the installed library (${rc}):\n${py_out}${py_err}")
  endif()
endif()
