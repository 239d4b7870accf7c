/* auth.c - access token, WebSocket Origin and Host checks (docs/wire-protocol.md, "Security").
 * The string logic is pure (auth.h); the functions at the end read a civetweb request into an
 * sb_auth_request and call it. */
#include "auth.h"
#include "server_internal.h"

#include <civetweb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool sb__ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    /* Constant time in the secret's length: every byte of b (the expected token) is visited
     * whatever a holds, so the response time tells nothing about how much of a prefix matched. */
    volatile unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < blen; i++) {
        unsigned char ca = i < alen ? (unsigned char)a[i] : 0u;
        diff |= (unsigned char)(ca ^ (unsigned char)b[i]);
    }
    return diff == 0;
}

/* Copies src into buf (size > 0), cut to fit; returns the copied length. The check refuses any
 * supplied token that fills the buffer, so a cut one never matches. */
static int copy_truncated(char *buf, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(buf, src, n);
    buf[n] = '\0';
    return (int)n;
}

int sb__auth_find_token(const sb_auth_request *rq, char *buf, size_t size)
{
    buf[0] = '\0';
    if (rq->token_header)
        return copy_truncated(buf, size, rq->token_header);
    const char *h = rq->authorization;
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ')
            h++;
        return copy_truncated(buf, size, h);
    }
    if (rq->query_string) {
        /* civetweb's decoder: -1 absent, -2 longer than buf (certainly wrong), else the length */
        int n = mg_get_var(rq->query_string, strlen(rq->query_string), "token", buf, size);
        if (n >= 0)
            return n;
        if (n == -2) {
            buf[0] = '\0';
            return SB_TOKEN_MAX;
        }
    }
    if (rq->cookie) {
        int n = mg_get_cookie(rq->cookie, "sb_token", buf, size);
        if (n >= 0)
            return n;
        if (n == -2) {
            buf[0] = '\0';
            return SB_TOKEN_MAX;
        }
    }
    buf[0] = '\0';
    return -1;
}

sb_auth_result sb__auth_check_request(const sb_auth_config *cfg, const sb_auth_request *rq)
{
    if (!cfg->access_token)
        return SB_AUTH_OK;
    char supplied[SB_TOKEN_MAX + 1];
    int n = sb__auth_find_token(rq, supplied, sizeof supplied);
    if (n < 0)
        return SB_AUTH_MISSING;
    if (n >= SB_TOKEN_MAX)
        return SB_AUTH_WRONG;
    return sb__ct_equal(supplied, (size_t)n, cfg->access_token, cfg->token_len) ? SB_AUTH_OK
                                                                                : SB_AUTH_WRONG;
}

bool sb__auth_token_in_query_string(const sb_auth_config *cfg, const char *query_string)
{
    if (!cfg->access_token || !query_string)
        return false;
    char buf[SB_TOKEN_MAX + 1];
    return mg_get_var(query_string, strlen(query_string), "token", buf, sizeof buf) >= 0;
}

/* Case-insensitive comparison of origin against one comma-separated list entry [s, e). */
static bool origin_matches(const char *origin, const char *s, const char *e)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '/'))
        e--;
    size_t n = (size_t)(e - s);
    return n > 0 && strlen(origin) == n && strncasecmp(origin, s, n) == 0;
}

bool sb__origin_allowed_request(const sb_auth_config *cfg, const sb_auth_request *rq)
{
    const char *origin = rq->origin;
    /* No Origin: not a browser (browsers always send it on WebSocket upgrades), so no hostile
     * page can be driving this connection; the token, if set, still applies. */
    if (!origin)
        return true;
    const char *host = rq->host;
    if (host && strncasecmp(origin, "http://", 7) == 0 && strcasecmp(origin + 7, host) == 0)
        return true;
    if (host && strncasecmp(origin, "https://", 8) == 0 && strcasecmp(origin + 8, host) == 0)
        return true; /* behind a TLS-terminating reverse proxy that keeps the Host header */
    const char *list = cfg->allowed_origins;
    while (list && *list) {
        const char *comma = strchr(list, ',');
        const char *end = comma ? comma : list + strlen(list);
        if (origin_matches(origin, list, end))
            return true;
        list = comma ? comma + 1 : end;
    }
    return false;
}

/* ---- Host header (DNS rebinding) -------------------------------------------------------------- */

bool sb__is_loopback_address(const char *addr)
{
    return addr && (strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0);
}

/* [s, e) is a dotted-quad IPv4 address in 127.0.0.0/8 (strictly four decimal fields <= 255). */
static bool is_loopback_ipv4(const char *s, const char *e)
{
    int fields = 0;
    const char *p = s;
    while (p < e) {
        const char *start = p;
        unsigned value = 0;
        while (p < e && *p >= '0' && *p <= '9' && p - start < 3)
            value = value * 10u + (unsigned)(*p++ - '0');
        if (p == start || value > 255 || (fields == 0 && value != 127))
            return false;
        fields++;
        if (p == e)
            break;
        if (*p != '.' || fields == 4)
            return false;
        p++;
        if (p == e)
            return false; /* trailing dot */
    }
    return fields == 4;
}

/* Splits a Host header value into its host name [*hs, *he) (brackets kept for IPv6) and checks
 * that what follows is nothing or ":digits". */
static bool split_host(const char *host, const char **hs, const char **he)
{
    const char *end = host + strlen(host);
    const char *name_end;
    if (*host == '[') {
        const char *close = strchr(host, ']');
        if (!close)
            return false;
        name_end = close + 1;
    } else {
        const char *colon = strchr(host, ':');
        name_end = colon ? colon : end;
    }
    if (name_end == host)
        return false;
    if (name_end < end) {
        if (*name_end != ':' || name_end + 1 == end || end - name_end > 6)
            return false;
        for (const char *p = name_end + 1; p < end; p++)
            if (*p < '0' || *p > '9')
                return false;
    }
    *hs = host;
    *he = name_end;
    return true;
}

static bool name_equals(const char *s, const char *e, const char *name)
{
    size_t n = strlen(name);
    return (size_t)(e - s) == n && strncasecmp(s, name, n) == 0;
}

/* Whether host name [hs, he) is the host of one of the allowed origins ("scheme://host[:port]"). */
static bool is_allowed_origin_host(const char *allowed_origins, const char *hs, const char *he)
{
    const char *list = allowed_origins;
    while (list && *list) {
        const char *comma = strchr(list, ',');
        const char *end = comma ? comma : list + strlen(list);
        const char *scheme = list;
        while (scheme < end && (*scheme == ' ' || *scheme == '\t'))
            scheme++;
        const char *sep = scheme;
        while (sep + 2 < end && !(sep[0] == ':' && sep[1] == '/' && sep[2] == '/'))
            sep++;
        if (sep + 2 < end) {
            const char *ohs = sep + 3, *ohe = ohs;
            if (ohs < end && *ohs == '[') {
                while (ohe < end && *ohe != ']')
                    ohe++;
                if (ohe < end)
                    ohe++;
            } else {
                while (ohe < end && *ohe != ':' && *ohe != '/' && *ohe != ' ' && *ohe != '\t')
                    ohe++;
            }
            if (ohe > ohs && he - hs == ohe - ohs && strncasecmp(hs, ohs, (size_t)(he - hs)) == 0)
                return true;
        }
        list = comma ? comma + 1 : end;
    }
    return false;
}

bool sb__host_allowed_request(const sb_auth_config *cfg, const sb_auth_request *rq)
{
    /* Only a loopback server needs this: DNS rebinding points a hostile name at 127.0.0.1, and
     * the browser then treats our responses as that hostile site's own (same origin, so no
     * Origin check applies). The Host header still carries the hostile name. A server bound to
     * another address was exposed deliberately (and should have a token). */
    if (!sb__is_loopback_address(cfg->bind_address))
        return true;
    const char *host = rq->host;
    if (!host)
        return true; /* not a browser: browsers always send Host */
    const char *hs, *he;
    if (!split_host(host, &hs, &he))
        return false;
    return name_equals(hs, he, "localhost") || name_equals(hs, he, "[::1]") ||
           is_loopback_ipv4(hs, he) || is_allowed_origin_host(cfg->allowed_origins, hs, he);
}

/* ---- civetweb-facing wrappers ----------------------------------------------------------------- */

static sb_auth_config config_of(const sb_server *srv)
{
    return (sb_auth_config){srv->access_token, srv->token_len, srv->allowed_origins,
                            srv->bind_address};
}

static sb_auth_request request_of(const struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    return (sb_auth_request){
        .token_header = mg_get_header(conn, "X-Streambridge-Token"),
        .authorization = mg_get_header(conn, "Authorization"),
        .query_string = ri ? ri->query_string : NULL,
        .cookie = mg_get_header(conn, "Cookie"),
        .host = mg_get_header(conn, "Host"),
        .origin = mg_get_header(conn, "Origin"),
    };
}

bool sb__auth_token_in_query(const sb_server *srv, const struct mg_connection *conn)
{
    sb_auth_config cfg = config_of(srv);
    const struct mg_request_info *ri = mg_get_request_info(conn);
    return ri && sb__auth_token_in_query_string(&cfg, ri->query_string);
}

/* The decision alone: 0 = allowed, else the status, with the text to answer. */
static int access_verdict(const sb_server *srv, const struct mg_connection *conn, bool websocket,
                          const char **text)
{
    sb_auth_config cfg = config_of(srv);
    sb_auth_request rq = request_of(conn);
    if (!sb__host_allowed_request(&cfg, &rq)) {
        *text = "403 forbidden: Host not allowed\n";
        return 403;
    }
    sb_auth_result r = sb__auth_check_request(&cfg, &rq);
    if (r != SB_AUTH_OK) {
        /* The body says only what the status says: nothing about the token. */
        *text = r == SB_AUTH_MISSING ? "401 unauthorized\n" : "403 forbidden\n";
        return (int)r;
    }
    if (websocket && !sb__origin_allowed_request(&cfg, &rq)) {
        *text = "403 forbidden: origin not allowed\n";
        return 403;
    }
    return 0;
}

bool sb__access_allowed(sb_server *srv, struct mg_connection *conn, bool websocket,
                        sb_stats *count_in)
{
    const char *text = NULL;
    int status = access_verdict(srv, conn, websocket, &text);
    if (status == 0)
        return true;
    if (websocket && count_in)
        SB_STATS_ADD(count_in, clients_refused, 1);
    sb__http_reply_text(conn, status, text);
    return false;
}
