# SB_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer on everything we build.
# Any UB report aborts (no recovery), so ctest sees it as a failure.
if(SB_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
