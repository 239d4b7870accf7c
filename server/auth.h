/* auth.h - the string logic of the access checks (docs/wire-protocol.md, "Security"): pure
 * functions of the request's header values and the server's settings, with no civetweb
 * connection, so a fuzzer and tests can call them directly. auth.c's civetweb-facing checks
 * (server_internal.h) read the request into an sb_auth_request and call these. Not installed. */
#ifndef SB_AUTH_H
#define SB_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* OK: full access (or no token configured); VIEW_ONLY: the view token (watch, no input);
 * MISSING/WRONG: refused, the HTTP status. */
typedef enum {
    SB_AUTH_OK = 0,
    SB_AUTH_VIEW_ONLY = 1,
    SB_AUTH_MISSING = 401,
    SB_AUTH_WRONG = 403
} sb_auth_result;

/* The server settings the checks read. Strings are NUL-terminated; NULL = not set. */
typedef struct sb_auth_config {
    const char *access_token;    /* NULL: no token required */
    size_t token_len;
    const char *allowed_origins; /* comma-separated "scheme://host[:port]" list, or NULL */
    const char *bind_address;    /* numeric address the server listens on */
    const char *view_token;      /* NULL: none; only with access_token (options.c) */
    size_t view_token_len;
} sb_auth_config;

/* The request fields the checks read: header values and the query string as the client sent
 * them (any bytes, NUL-terminated); NULL = absent. */
typedef struct sb_auth_request {
    const char *token_header;  /* X-Streambridge-Token */
    const char *authorization; /* Authorization */
    const char *query_string;  /* after '?', undecoded */
    const char *cookie;        /* Cookie */
    const char *host;          /* Host */
    const char *origin;        /* Origin */
} sb_auth_request;

/* The longest token a request may carry (valid tokens have at most 256 characters). */
#define SB_TOKEN_MAX 512

/* Finds the token the request carries: X-Streambridge-Token, Authorization: Bearer, ?token=,
 * cookie sb_token (first present wins) and copies it into buf (size > 0, NUL-terminated).
 * Returns its length; SB_TOKEN_MAX or more when it was longer than buf (never a match); -1 when
 * none is present. */
int sb__auth_find_token(const sb_auth_request *rq, char *buf, size_t size);
/* Whether the request carries the configured token (SB_AUTH_OK also when none is configured)
 * or the view token (SB_AUTH_VIEW_ONLY). Both comparisons always run, in constant time. */
sb_auth_result sb__auth_check_request(const sb_auth_config *cfg, const sb_auth_request *rq);
/* Whether query_string (may be NULL) has a token= parameter while a token is configured. */
bool sb__auth_token_in_query_string(const sb_auth_config *cfg, const char *query_string);
/* WebSocket Origin policy: no Origin, the server's own origin (Host), or an allowed origin. */
bool sb__origin_allowed_request(const sb_auth_config *cfg, const sb_auth_request *rq);
/* DNS rebinding guard: false when the server is bound to a loopback address and the Host names
 * anything but localhost, 127.x.x.x, [::1] (optional :port) or the host of an allowed origin. */
bool sb__host_allowed_request(const sb_auth_config *cfg, const sb_auth_request *rq);

/* Constant time in blen (the secret's length). */
bool sb__ct_equal(const char *a, size_t alen, const char *b, size_t blen);
bool sb__is_loopback_address(const char *addr);

#endif /* SB_AUTH_H */
