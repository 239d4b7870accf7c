# sb_warnings(target): the project's warning flags (errors unless SB_WERROR=OFF). Applied to our
# own targets only, never globally, so third-party headers are not judged by them.
function(sb_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes>
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wshadow>
    $<$<BOOL:${SB_WERROR}>:-Werror>)
endfunction()
