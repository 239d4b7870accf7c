# check_no_test_code.cmake - fails when a library contains test-only code: any symbol, exported or
# hidden (nm without -D; needs the symbol table, which RelWithDebInfo and Debug builds keep), whose
# name has "test" as a word (sb__event_queue_test_lock, test_hook, ...). Test hooks belong to the
# tests (tests/support), never to the shipped library.
#
#   cmake -DNM=/usr/bin/nm -DLIBRARY=lib.so -P check_no_test_code.cmake
cmake_minimum_required(VERSION 3.24)
foreach(var NM LIBRARY)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_no_test_code.cmake: -D${var}=... is required")
  endif()
endforeach()
execute_process(COMMAND ${NM} --defined-only ${LIBRARY}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} --defined-only ${LIBRARY} failed (${rc}): ${err}")
endif()
set(bad)
set(n 0)
string(REPLACE "\n" ";" lines "${out}")
foreach(line IN LISTS lines)
  if(NOT line MATCHES "^[0-9a-fA-F]* ?. (.+)$")
    continue()
  endif()
  math(EXPR n "${n} + 1")
  # "test" between word boundaries of a C name (start, end or '_'): not "latest", "attest".
  if(CMAKE_MATCH_1 MATCHES "(^|_)[Tt]est(_|s?$)")
    list(APPEND bad "${line}")
  endif()
endforeach()
if(n EQUAL 0)
  message(FATAL_ERROR "${LIBRARY}: nm listed no symbols (stripped?), nothing was checked")
endif()
if(bad)
  list(JOIN bad "\n  " listing)
  message(FATAL_ERROR "${LIBRARY} contains test-only code (move it to tests/support):\n  ${listing}")
endif()
message(STATUS "${LIBRARY}: ${n} symbols, none test-only")
