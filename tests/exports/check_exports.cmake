# check_exports.cmake - fails, listing them, when a shared library exports a symbol it must not.
#
#   cmake -DNM=/usr/bin/nm -DLIBRARY=lib.so -DALLOWED=<regex> [-DVERSION_NODE=NAME]
#         [-DREQUIRED=sym1,sym2] -P check_exports.cmake
#
# Every defined dynamic symbol (nm -D --defined-only) must match ALLOWED (a regex on the bare
# name). VERSION_NODE: the library's symbol version; its own absolute symbol is not an export,
# and every export must carry that version (proof that the version script was applied).
# REQUIRED: names that must be exported, so a library exporting nothing cannot pass.
cmake_minimum_required(VERSION 3.24)
foreach(var NM LIBRARY ALLOWED)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_exports.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${NM} -D --defined-only ${LIBRARY}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} -D --defined-only ${LIBRARY} failed (${rc}): ${err}")
endif()

set(bad)
set(seen)
string(REPLACE "\n" ";" lines "${out}")
foreach(line IN LISTS lines)
  # "<address> <type> <name>[@@VERSION]"
  if(NOT line MATCHES "^[0-9a-fA-F]+ (.) ([^ @]+)(@@?([^ ]+))?$")
    if(NOT line STREQUAL "")
      list(APPEND bad "unparsed nm line: ${line}")
    endif()
    continue()
  endif()
  set(type "${CMAKE_MATCH_1}")
  set(name "${CMAKE_MATCH_2}")
  set(version "${CMAKE_MATCH_4}")
  if(DEFINED VERSION_NODE AND type STREQUAL "A" AND name STREQUAL VERSION_NODE)
    continue()
  endif()
  list(APPEND seen "${name}")
  if(NOT name MATCHES "${ALLOWED}")
    list(APPEND bad "${line}")
  elseif(DEFINED VERSION_NODE AND NOT version STREQUAL VERSION_NODE)
    list(APPEND bad "${line}   (expected version ${VERSION_NODE})")
  endif()
endforeach()
string(REPLACE "," ";" required "${REQUIRED}")
foreach(name IN LISTS required)
  if(NOT name IN_LIST seen)
    list(APPEND bad "missing required export ${name}")
  endif()
endforeach()

list(LENGTH seen n_seen)
if(bad)
  list(LENGTH bad n_bad)
  list(JOIN bad "\n  " listing)
  message(FATAL_ERROR
    "${LIBRARY}: ${n_bad} problem(s) among ${n_seen} exported symbols (allowed: ${ALLOWED}):\n"
    "  ${listing}")
endif()
message(STATUS "${LIBRARY}: ${n_seen} exported symbols, all allowed")
