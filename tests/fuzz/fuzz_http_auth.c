/* fuzz_http_auth.c - libFuzzer target for the string logic of the access checks (server/auth.h):
 * token extraction (X-Streambridge-Token, Authorization: Bearer, ?token=, cookie sb_token),
 * the token check, the query-string token test, the Origin policy and the Host (DNS rebinding)
 * check, under a few server settings.
 *
 * Input: byte 0 picks the settings and which fields are absent; the rest is split at '\n' into
 * X-Streambridge-Token, Authorization, query string, Cookie, Host, Origin (in that order; missing
 * trailing fields are absent). A NUL inside the input ends that field early, as in a C string.
 * Besides the sanitizers, it checks invariants that must hold for any input. */
#include "../../server/auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FIELDS 6

static const char *const tokens[] = {NULL, "s3cr3t-Token_1.~", "x"};
static const char *const origin_lists[] = {
    NULL,
    "http://viewer.example:8888, https://[::1]:9000/,http://a.b",
    ",, ,http://,://x,[::1",
};
static const char *const binds[] = {"127.0.0.1", "::1", "0.0.0.0", "127.0.0.5"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t select = data[0];
    data++;
    size--;

    /* One NUL-terminated copy with the field separators turned into terminators. */
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *field[FIELDS] = {NULL};
    size_t start = 0;
    for (int f = 0; f < FIELDS && start <= size; f++) {
        size_t end = start;
        while (end < size && copy[end] != '\n')
            end++;
        copy[end] = '\0';
        /* Bits 0..5 of select drop a field (absent header), so presence orders get explored. */
        field[f] = (select >> f) & 1 ? NULL : copy + start;
        start = end + 1;
    }

    sb_auth_config cfg = {0};
    cfg.access_token = tokens[(select >> 6) % 3];
    cfg.token_len = cfg.access_token ? strlen(cfg.access_token) : 0;
    cfg.allowed_origins = origin_lists[(size + select) % 3];
    cfg.bind_address = binds[(size / 3 + (select & 3)) % 4];
    sb_auth_request rq = {field[0], field[1], field[2], field[3], field[4], field[5]};

    char buf[SB_TOKEN_MAX + 1];
    int n = sb__auth_find_token(&rq, buf, sizeof buf);
    /* The length counts decoded bytes: "%00" in ?token= or the cookie decodes to a NUL inside
     * the token, so strlen(buf) may be shorter; the comparison below uses n, never strlen. */
    if (n >= (int)sizeof buf || (n >= 0 && n < SB_TOKEN_MAX && buf[n] != '\0'))
        abort(); /* the copy fits and is terminated */
    sb_auth_result r = sb__auth_check_request(&cfg, &rq);
    if (!cfg.access_token && r != SB_AUTH_OK)
        abort(); /* no token configured: everything passes */
    if (cfg.access_token && r == SB_AUTH_OK &&
        !(n == (int)cfg.token_len && memcmp(buf, cfg.access_token, cfg.token_len) == 0))
        abort(); /* accepted only the exact token */
    if (cfg.access_token && n < 0 && r != SB_AUTH_MISSING)
        abort();
    (void)sb__auth_token_in_query_string(&cfg, rq.query_string);
    bool origin_ok = sb__origin_allowed_request(&cfg, &rq);
    if (!rq.origin && !origin_ok)
        abort(); /* no Origin: not a browser, allowed */
    bool host_ok = sb__host_allowed_request(&cfg, &rq);
    if ((!rq.host || !sb__is_loopback_address(cfg.bind_address)) && !host_ok)
        abort(); /* the Host check applies only to a loopback server and a present Host */
    (void)sb__ct_equal(copy, strlen(copy), "s3cr3t-Token_1.~", 16);
    free(copy);
    return 0;
}
