# SB_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer on everything we build.
# Any UB report aborts (no recovery), so ctest sees it as a failure.
#
# SB_FUZZ=ON (clang only): the same sanitizers, plus libFuzzer's coverage instrumentation
# (-fsanitize=fuzzer-no-link) on everything, so the fuzz targets of tests/fuzz/ are guided by
# the library code they drive, not only by their own harness.
if(SB_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SB_FUZZ=ON needs clang (libFuzzer); the C compiler is "
      "${CMAKE_C_COMPILER_ID}. Configure a fresh build directory with CC=clang CXX=clang++.")
  endif()
  set(SB_SANITIZE ON)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
if(SB_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# sb_no_undefined(target): a shared library gets every symbol it uses from what it links
# (--no-undefined). Not under clang's sanitizers: clang links their runtimes into executables
# only, so an instrumented shared library leaves the runtime's symbols to the executable.
function(sb_no_undefined target)
  if(NOT (SB_SANITIZE AND CMAKE_C_COMPILER_ID MATCHES "Clang"))
    target_link_options(${target} PRIVATE "LINKER:--no-undefined")
  endif()
endfunction()
