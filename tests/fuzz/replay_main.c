/* replay_main.c - main() for fuzz_replay_NAME: runs a fuzz target's LLVMFuzzerTestOneInput() once
 * on every file given, or on every file of every directory given (sorted, not recursive), the
 * way libFuzzer runs a corpus without fuzzing. Links with any compiler, so the seed corpus and
 * the regression inputs (crashes found and fixed) are replayed in every build: under ASan+UBSan
 * a memory error or UB aborts, elsewhere the target's own invariant checks do.
 *
 *   fuzz_replay_NAME PATH...   exit 0 when every input ran; non-zero for a missing or unreadable
 *                              path, or when no input was found at all (a misconfigured test). */
#include "sb_fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* Runs one file. Returns 0, or -1 after saying why it could not be read. */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz replay: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* An allocation of exactly the input's size, as libFuzzer makes: ASan then reports a read
     * one byte past the input. */
    size_t cap = 4096, size = 0;
    uint8_t *data = malloc(cap);
    while (data) {
        size += fread(data + size, 1, cap - size, f);
        if (size < cap)
            break;
        uint8_t *bigger = realloc(data, cap *= 2);
        if (!bigger)
            free(data);
        data = bigger;
    }
    int read_error = ferror(f);
    fclose(f);
    uint8_t *exact = data ? malloc(size) : NULL;
    if (!exact || read_error) {
        fprintf(stderr, "fuzz replay: cannot read %s\n", path);
        free(data);
        free(exact);
        return -1;
    }
    memcpy(exact, data, size);
    free(data);
    fprintf(stderr, "fuzz replay: %s (%zu bytes)\n", path, size);
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    return 0;
}

static int skip_entry(const struct dirent *entry)
{
    return entry->d_name[0] != '.'; /* not ".", "..", nor hidden files */
}

/* Runs every regular file of dir in name order; adds how many ran to *inputs. */
static int run_directory(const char *dir, unsigned *inputs)
{
    struct dirent **entries;
    int n = scandir(dir, &entries, skip_entry, alphasort);
    if (n < 0) {
        fprintf(stderr, "fuzz replay: cannot list %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, entries[i]->d_name);
        if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = run_file(path);
            *inputs += rc == 0;
        }
        free(entries[i]);
    }
    free(entries);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned inputs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "fuzz replay: %s: %s\n", argv[i], strerror(errno));
            return 2;
        }
        int rc = S_ISDIR(st.st_mode) ? run_directory(argv[i], &inputs) : run_file(argv[i]);
        if (rc == 0 && !S_ISDIR(st.st_mode))
            inputs++;
        if (rc != 0)
            return 2;
    }
    if (inputs == 0) {
        fprintf(stderr, "fuzz replay: no input found in the %d path(s) given\n", argc - 1);
        return 3;
    }
    printf("fuzz replay: %u inputs ran, no invariant broken\n", inputs);
    return 0;
}
