# Test helpers shared by every tests/ subfolder.
#
# sb_add_cunit_test(NAME SOURCES src... [LIBS lib...] [XVFB] [TIMEOUT s] [LABELS l...])
#   Builds a CUnit test binary (its main returns the number of failures, so ctest fails it),
#   registers it with ctest, and makes it part of the "no shm segment left behind" fixture. It
#   links sb_test_support (tests/support: the CUnit main, waits, HTTP/WebSocket clients, a server
#   under test, shm helpers) after LIBS.
#   XVFB runs it under its own Xvfb server (tests/xvfb-run.sh) for anything that renders.
function(sb_add_cunit_test name)
  cmake_parse_arguments(T "XVFB" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} sb_test_support Threads::Threads)
  sb_warnings(${name})
  if(T_XVFB)
    add_test(NAME ${name} COMMAND ${CMAKE_SOURCE_DIR}/tests/xvfb-run.sh $<TARGET_FILE:${name}>)
  else()
    add_test(NAME ${name} COMMAND ${name})
  endif()
  sb_test_properties(${name} TIMEOUT ${T_TIMEOUT} LABELS ${T_LABELS})
endfunction()

# sb_test_properties(NAME [TIMEOUT s] [LABELS l...]): common properties for any ctest test
# (also for script tests added with add_test directly).
function(sb_test_properties name)
  cmake_parse_arguments(T "" "TIMEOUT" "LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${name} PROPERTIES
    TIMEOUT ${T_TIMEOUT}
    FIXTURES_REQUIRED sb_shm_clean
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  if(T_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
  endif()
endfunction()
