/* sb_fuzz.h - what every fuzz target of tests/fuzz/ shares: the libFuzzer entry point's
 * prototype (the project builds with -Wmissing-prototypes) and the invariant check.
 *
 * A target is one C file defining LLVMFuzzerTestOneInput(). It is linked twice (tests/fuzz/
 * CMakeLists.txt): with libFuzzer into fuzz_NAME (clang, SB_FUZZ=ON), and with replay_main.c
 * into fuzz_replay_NAME (every compiler), which runs the checked-in inputs once each. */
#ifndef SB_FUZZ_H
#define SB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs one input. Returns 0; -1 tells libFuzzer not to add the input to its corpus. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant the code under test must keep: on violation, says which and where, and aborts,
 * which libFuzzer reports as a crash (and saves the input) and the replay driver as a failure. */
#define SB_FUZZ_CHECK(cond, ...)                                                        \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
            abort();                                                                    \
        }                                                                               \
    } while (0)

#endif /* SB_FUZZ_H */
