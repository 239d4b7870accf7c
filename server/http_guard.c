/* http_guard.c - see http_guard.h. */
#include "http_guard.h"

#include "conn_socket.h"
#include "clients.h"
#include "sb_clock.h"
#include "sb_error_internal.h"

#include <civetweb.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* "addr port" of a peer: a numeric IPv6 address with a scope fits. */
#define SB_PEER_TEXT 112

/* A connection accepted on our port, as the socket scan sees it, keyed by its peer. */
typedef struct guarded_conn {
    char peer[SB_PEER_TEXT];        /* "addr port", civetweb's remote_addr and remote_port */
    size_t addr_len;      /* length of the address part of peer (per-address limit) */
    int fd;               /* -1: known only from its started request, not scanned yet */
    uint64_t first_seen_ns;
    unsigned scans_seen;  /* how many scans found it still waiting for headers */
    unsigned seen_gen;    /* the last scan that found its socket (or its request start) */
    bool started;         /* its request headers are complete: never evicted */
    bool closed;          /* civetweb is closing it: never evicted, forgotten once its fd goes */
    bool evicted;
} guarded_conn;

typedef struct mjpeg_watch {
    sb_client *client;
    int fd;
    bool notified; /* its hang-up was signalled: poll it no more (POLLRDHUP stays raised) */
} mjpeg_watch;

struct sb_http_guard {
    pthread_t thread;
    int wake_fd; /* eventfd: the MJPEG set changed, a header read began, or stop */
    atomic_bool stop;
    atomic_int port;
    atomic_int pending;  /* workers reading request headers now */
    atomic_bool busy;    /* the thread is in its scanning rhythm (pending was seen > 0) */
    atomic_ullong slow_closed;

    pthread_mutex_t mu; /* guards everything below */
    guarded_conn *conns;
    size_t nconns, cap_conns;
    unsigned gen;
    unsigned unlogged_late, unlogged_crowded; /* evictions not logged yet (one line per 5 s) */
    uint64_t last_log_ns;
    mjpeg_watch *watches;
    size_t nwatches, cap_watches;
};

/* The connection this worker thread is serving is still reading its request headers. One worker
 * serves one connection from init_connection to connection_close, so a thread-local flag follows
 * it without touching civetweb's per-connection user data (ws.c owns that). */
static _Thread_local bool tl_reading_headers;

static void wake(sb_http_guard *g)
{
    uint64_t one = 1;
    ssize_t n = write(g->wake_fd, &one, sizeof one);
    (void)n; /* a full counter already means "wake up" */
}

/* ---- connection bookkeeping (under mu) ------------------------------------------------------- */

static void format_peer(char out[SB_PEER_TEXT], size_t *addr_len, const char *addr, int port)
{
    int n = snprintf(out, SB_PEER_TEXT, "%s %d", addr, port);
    (void)n;
    *addr_len = strlen(addr);
}

/* conn's key in the bookkeeping; false when civetweb has no request info for it. */
static bool conn_peer(const struct mg_connection *conn, char peer[SB_PEER_TEXT], size_t *addr_len)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (!ri)
        return false;
    format_peer(peer, addr_len, ri->remote_addr, ri->remote_port);
    return true;
}

static guarded_conn *find_conn(sb_http_guard *g, const char *peer)
{
    for (size_t i = 0; i < g->nconns; i++)
        if (strcmp(g->conns[i].peer, peer) == 0)
            return &g->conns[i];
    return NULL;
}

static guarded_conn *add_conn(sb_http_guard *g, const char *peer, size_t addr_len, int fd)
{
    if (g->nconns == g->cap_conns) {
        size_t cap = g->cap_conns ? g->cap_conns * 2 : 64;
        guarded_conn *p = realloc(g->conns, cap * sizeof *p);
        if (!p)
            return NULL;
        g->conns = p;
        g->cap_conns = cap;
    }
    guarded_conn *c = &g->conns[g->nconns++];
    memset(c, 0, sizeof *c);
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    c->addr_len = addr_len;
    c->fd = fd;
    c->first_seen_ns = sb__monotonic_ns();
    c->seen_gen = g->gen;
    return c;
}

/* ---- civetweb callbacks ---------------------------------------------------------------------- */

void sb__http_guard_conn_opened(sb_http_guard *g)
{
    tl_reading_headers = true;
    atomic_fetch_add(&g->pending, 1);
    if (!atomic_exchange(&g->busy, true))
        wake(g); /* start scanning: one wake per idle -> busy change, not one per request */
}

static void done_reading_headers(sb_http_guard *g)
{
    if (tl_reading_headers) {
        tl_reading_headers = false;
        atomic_fetch_sub(&g->pending, 1);
    }
}

void sb__http_guard_request_started(sb_http_guard *g, const struct mg_connection *conn)
{
    done_reading_headers(g);
    char peer[SB_PEER_TEXT];
    size_t addr_len;
    if (!conn_peer(conn, peer, &addr_len))
        return;
    pthread_mutex_lock(&g->mu);
    guarded_conn *c = find_conn(g, peer);
    if (!c)
        c = add_conn(g, peer, addr_len, -1); /* the next scan matches it to its socket */
    if (c) {
        c->started = true;
        c->closed = false; /* a new connection from the peer port of a closed one */
        c->seen_gen = g->gen + 1; /* survives the scan under way, if any */
    }
    pthread_mutex_unlock(&g->mu);
}

void sb__http_guard_conn_closing(sb_http_guard *g, const struct mg_connection *conn)
{
    done_reading_headers(g);
    char peer[SB_PEER_TEXT];
    size_t addr_len;
    if (!conn_peer(conn, peer, &addr_len))
        return;
    pthread_mutex_lock(&g->mu);
    guarded_conn *c = find_conn(g, peer);
    if (c && c->fd < 0) {
        /* Never scanned: forget it now, so entries do not pile up while no scan runs. */
        size_t i = (size_t)(c - g->conns);
        memmove(c, c + 1, (g->nconns - i - 1) * sizeof *c);
        g->nconns--;
    } else if (c) {
        c->closed = true; /* the next scan forgets it once its socket is gone */
    }
    pthread_mutex_unlock(&g->mu);
}

/* ---- MJPEG hang-ups -------------------------------------------------------------------------- */

void sb__http_guard_watch_mjpeg(sb_http_guard *g, sb_client *c, int fd)
{
    pthread_mutex_lock(&g->mu);
    if (g->nwatches == g->cap_watches) {
        size_t cap = g->cap_watches ? g->cap_watches * 2 : 16;
        mjpeg_watch *p = realloc(g->watches, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&g->mu);
            sb__log("server: cannot watch MJPEG client %u for hang-ups (out of memory): it is "
                    "noticed at its next frame",
                    c->id);
            return;
        }
        g->watches = p;
        g->cap_watches = cap;
    }
    g->watches[g->nwatches++] = (mjpeg_watch){c, fd, false};
    pthread_mutex_unlock(&g->mu);
    wake(g);
}

void sb__http_guard_unwatch_mjpeg(sb_http_guard *g, sb_client *c)
{
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->nwatches; i++) {
        if (g->watches[i].client == c) {
            g->watches[i] = g->watches[--g->nwatches];
            break;
        }
    }
    pthread_mutex_unlock(&g->mu);
    /* The thread may be polling c's fd: it finds c gone when it looks the result up (under mu),
     * and the wake makes it drop the fd from its next poll before civetweb closes it. */
    wake(g);
}

/* Marks the watched clients whose fd hung up (under mu). The entry still exists, so its fd is
 * still that client's socket: civetweb closes it only after the handler unwatched it. */
static void signal_hangups(sb_http_guard *g, const struct pollfd *pfds, const sb_client **who,
                           size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!(pfds[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
            continue;
        for (size_t k = 0; k < g->nwatches; k++) {
            mjpeg_watch *w = &g->watches[k];
            if (w->client != who[i] || w->fd != pfds[i].fd || w->notified)
                continue;
            w->notified = true;
            sb__client_close(w->client);
        }
    }
}

/* ---- slow header senders --------------------------------------------------------------------- */

/* The peer of fd as "addr port" when fd is a connected TCP socket accepted on port. The address
 * is formatted as civetweb formats remote_addr (getnameinfo, numeric: an IPv6 scope included), so
 * it matches the key of sb__http_guard_request_started. */
static bool accepted_peer(int fd, int port, char peer[SB_PEER_TEXT], size_t *addr_len)
{
    struct sockaddr_storage self, other;
    socklen_t slen = sizeof self, olen = sizeof other;
    if (getsockname(fd, (struct sockaddr *)&self, &slen) != 0 ||
        getpeername(fd, (struct sockaddr *)&other, &olen) != 0)
        return false;
    int self_port, peer_port;
    if (self.ss_family == AF_INET && other.ss_family == AF_INET) {
        self_port = ntohs(((struct sockaddr_in *)&self)->sin_port);
        peer_port = ntohs(((struct sockaddr_in *)&other)->sin_port);
    } else if (self.ss_family == AF_INET6 && other.ss_family == AF_INET6) {
        self_port = ntohs(((struct sockaddr_in6 *)&self)->sin6_port);
        peer_port = ntohs(((struct sockaddr_in6 *)&other)->sin6_port);
    } else {
        return false;
    }
    if (self_port != port)
        return false; /* the listening socket has no peer; our own clients have another port */
    char text[SB_PEER_TEXT - 8]; /* room for " port" */
    if (getnameinfo((struct sockaddr *)&other, olen, text, sizeof text, NULL, 0, NI_NUMERICHOST) != 0)
        return false;
    format_peer(peer, addr_len, text, peer_port);
    return true;
}

/* Closes a connection that is still sending headers (under mu). Checks that fd still belongs
 * to that peer: civetweb may have closed the connection, and a new one reused the number. */
static bool evict(sb_http_guard *g, guarded_conn *c)
{
    char peer[SB_PEER_TEXT];
    size_t addr_len;
    c->evicted = true;
    if (!accepted_peer(c->fd, atomic_load(&g->port), peer, &addr_len) ||
        strcmp(peer, c->peer) != 0)
        return false;
    shutdown(c->fd, SHUT_RDWR); /* civetweb's header read sees EOF and closes the connection */
    return true;
}

/* What scan_connections hands track_socket for each socket. */
typedef struct scan_visit {
    sb_http_guard *g;
    int port;
    unsigned gen;
} scan_visit;

/* Records fd in the bookkeeping when it is a connection accepted on our port. */
static bool track_socket(int fd, void *user)
{
    const scan_visit *v = user;
    sb_http_guard *g = v->g;
    char peer[SB_PEER_TEXT];
    size_t addr_len;
    if (!accepted_peer(fd, v->port, peer, &addr_len))
        return false;
    pthread_mutex_lock(&g->mu);
    guarded_conn *c = find_conn(g, peer);
    if (c && c->closed && c->fd != fd) {
        /* A new connection from the peer port of a closed one, its request not begun:
         * start over. (The same fd number too is taken for the closing connection's
         * lingering socket: when in doubt, the guard does not evict.) */
        memset(c, 0, sizeof *c);
        snprintf(c->peer, sizeof c->peer, "%s", peer);
        c->addr_len = addr_len;
        c->first_seen_ns = sb__monotonic_ns();
    }
    if (!c)
        c = add_conn(g, peer, addr_len, fd);
    if (c) {
        c->fd = fd;
        c->seen_gen = v->gen;
        if (!c->started && !c->closed)
            c->scans_seen++;
    }
    pthread_mutex_unlock(&g->mu);
    return false; /* every socket */
}

/* Finds the sockets accepted on our port and evicts those that are late with their headers or
 * over their address's limit. */
static void scan_connections(sb_http_guard *g)
{
    int port = atomic_load(&g->port);
    if (port <= 0)
        return;
    pthread_mutex_lock(&g->mu);
    unsigned gen = ++g->gen;
    pthread_mutex_unlock(&g->mu);

    scan_visit v = {.g = g, .port = port, .gen = gen};
    if (!sb__for_each_socket(track_socket, &v))
        return;

    pthread_mutex_lock(&g->mu);
    /* Forget connections whose socket is gone (not seen by this scan nor started since). */
    size_t kept = 0;
    for (size_t i = 0; i < g->nconns; i++)
        if (g->conns[i].seen_gen >= gen)
            g->conns[kept++] = g->conns[i];
    g->nconns = kept;

    uint64_t now = sb__monotonic_ns();
    unsigned late = 0, crowded = 0;
    for (size_t i = 0; i < g->nconns; i++) {
        guarded_conn *c = &g->conns[i];
        if (c->started || c->closed || c->evicted || c->fd < 0)
            continue;
        if (now - c->first_seen_ns > (uint64_t)SB_HEADER_DEADLINE_MS * 1000000ull) {
            late += evict(g, c);
            continue;
        }
        /* Per address: the connections that have waited for headers through two scans
         * (a legitimate client's headers arrive with its connection); beyond the limit the
         * oldest go. Entries are in order of first sight, so the oldest come first. */
        if (c->scans_seen < 2)
            continue;
        unsigned newer = 0;
        for (size_t k = i + 1; k < g->nconns; k++) {
            const guarded_conn *o = &g->conns[k];
            if (!o->started && !o->closed && !o->evicted && o->fd >= 0 && o->scans_seen >= 2 &&
                o->addr_len == c->addr_len && strncmp(o->peer, c->peer, c->addr_len) == 0)
                newer++;
        }
        if (newer >= SB_PENDING_PER_ADDRESS)
            crowded += evict(g, c);
    }
    atomic_fetch_add(&g->slow_closed, (unsigned long long)late + crowded);
    g->unlogged_late += late;
    g->unlogged_crowded += crowded;
    late = g->unlogged_late;
    crowded = g->unlogged_crowded;
    bool log = (late || crowded) && now - g->last_log_ns >= 5000000000ull;
    if (log) {
        g->unlogged_late = g->unlogged_crowded = 0;
        g->last_log_ns = now;
    }
    pthread_mutex_unlock(&g->mu);
    if (log) /* an attack must not flood the log: one line per 5 s at most */
        sb__log("server: closed %u connection(s) that sent no complete request header within "
                "%d ms and %u beyond %d per address still sending one",
                late, SB_HEADER_DEADLINE_MS, crowded, SB_PENDING_PER_ADDRESS);
}

/* ---- the thread ------------------------------------------------------------------------------ */

static void *guard_main(void *arg)
{
    sb_http_guard *g = arg;
    struct pollfd *pfds = NULL;
    const sb_client **who = NULL;
    size_t cap = 0;
    uint64_t next_scan_ns = 0;
    while (!atomic_load(&g->stop)) {
        /* Snapshot the MJPEG sockets that still need watching. */
        pthread_mutex_lock(&g->mu);
        if (cap < g->nwatches + 1) {
            size_t ncap = g->nwatches + 16;
            struct pollfd *p = realloc(pfds, ncap * sizeof *p);
            if (p)
                pfds = p;
            const sb_client **w = realloc(who, ncap * sizeof *w);
            if (w)
                who = w;
            if (p && w)
                cap = ncap;
        }
        size_t n = 0;
        for (size_t i = 0; i < g->nwatches && n + 1 < cap; i++) {
            if (g->watches[i].notified)
                continue;
            pfds[n + 1] = (struct pollfd){.fd = g->watches[i].fd, .events = POLLRDHUP};
            who[n + 1] = g->watches[i].client;
            n++;
        }
        pthread_mutex_unlock(&g->mu);
        if (cap == 0) { /* out of memory: retry after a scan interval */
            struct timespec pause = {0, SB_GUARD_SCAN_MS * 1000000L};
            nanosleep(&pause, NULL);
            continue;
        }
        pfds[0] = (struct pollfd){.fd = g->wake_fd, .events = POLLIN};

        /* Sleep until something happens; while workers are reading headers, at most until the
         * next scan. */
        int timeout = -1;
        uint64_t now = sb__monotonic_ns();
        if (atomic_load(&g->busy)) {
            if (next_scan_ns == 0)
                next_scan_ns = now + (uint64_t)SB_GUARD_SCAN_MS * 1000000ull;
            timeout = next_scan_ns > now ? (int)((next_scan_ns - now) / 1000000ull) + 1 : 0;
        }
        int r = poll(pfds, n + 1, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0 && (pfds[0].revents & POLLIN)) {
            uint64_t v;
            ssize_t got = read(g->wake_fd, &v, sizeof v);
            (void)got;
        }
        if (r > 0) {
            pthread_mutex_lock(&g->mu);
            signal_hangups(g, pfds + 1, who + 1, n);
            pthread_mutex_unlock(&g->mu);
        }
        now = sb__monotonic_ns();
        if (atomic_load(&g->busy) && next_scan_ns && now >= next_scan_ns) {
            next_scan_ns = 0;
            if (atomic_load(&g->pending) > 0) {
                scan_connections(g);
            } else {
                /* Idle again: sleep without timeout until the next connection. A connection
                 * opened between the load and the store re-raises busy and wakes us. */
                atomic_store(&g->busy, false);
                if (atomic_load(&g->pending) > 0)
                    atomic_store(&g->busy, true);
            }
        }
    }
    free(pfds);
    free(who);
    return NULL;
}

sb_http_guard *sb__http_guard_start(void)
{
    sb_http_guard *g = calloc(1, sizeof *g);
    if (!g) {
        SB_FAIL(SB_ENOMEM, "cannot allocate the HTTP guard");
        return NULL;
    }
    g->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g->wake_fd < 0) {
        SB_FAIL(SB_EIO, "eventfd: %s", strerror(errno));
        free(g);
        return NULL;
    }
    pthread_mutex_init(&g->mu, NULL);
    int rc = pthread_create(&g->thread, NULL, guard_main, g);
    if (rc != 0) {
        SB_FAIL(SB_EIO, "cannot start the HTTP guard thread: %s", strerror(rc));
        pthread_mutex_destroy(&g->mu);
        close(g->wake_fd);
        free(g);
        return NULL;
    }
    return g;
}

unsigned long long sb__http_guard_slow_closed(const sb_http_guard *g)
{
    return atomic_load(&g->slow_closed);
}

void sb__http_guard_set_port(sb_http_guard *g, int port)
{
    atomic_store(&g->port, port);
}

void sb__http_guard_stop(sb_http_guard *g)
{
    if (!g)
        return;
    atomic_store(&g->stop, true);
    wake(g);
    pthread_join(g->thread, NULL);
    pthread_mutex_destroy(&g->mu);
    close(g->wake_fd);
    free(g->conns);
    free(g->watches);
    free(g);
}
