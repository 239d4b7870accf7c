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

/* Still sending its request headers, and ours to close: not started, not being closed by
 * civetweb, not evicted already, its socket known. */
static bool waiting_for_headers(const guarded_conn *c)
{
    return !c->started && !c->closed && !c->evicted && c->fd >= 0;
}

/* Forgets the connections whose socket is gone: not seen by scan gen nor started since
 * (under mu). */
static void forget_gone_conns(sb_http_guard *g, unsigned gen)
{
    size_t kept = 0;
    for (size_t i = 0; i < g->nconns; i++)
        if (g->conns[i].seen_gen >= gen)
            g->conns[kept++] = g->conns[i];
    g->nconns = kept;
}

/* How many connections first seen after conns[i], from its address, have waited for headers
 * through two scans too (under mu). */
static unsigned newer_waiting_from_same_address(const sb_http_guard *g, size_t i)
{
    const guarded_conn *c = &g->conns[i];
    unsigned newer = 0;
    for (size_t k = i + 1; k < g->nconns; k++) {
        const guarded_conn *o = &g->conns[k];
        if (waiting_for_headers(o) && o->scans_seen >= 2 && o->addr_len == c->addr_len &&
            strncmp(o->peer, c->peer, c->addr_len) == 0)
            newer++;
    }
    return newer;
}

/* Evicts the connections late with their headers and those over their address's limit
 * (under mu); adds how many of each were closed to *late and *crowded. */
static void evict_slow_senders(sb_http_guard *g, uint64_t now, unsigned *late, unsigned *crowded)
{
    for (size_t i = 0; i < g->nconns; i++) {
        guarded_conn *c = &g->conns[i];
        if (!waiting_for_headers(c))
            continue;
        if (now - c->first_seen_ns > (uint64_t)SB_HEADER_DEADLINE_MS * 1000000ull) {
            *late += evict(g, c);
            continue;
        }
        /* Per address: the connections that have waited for headers through two scans
         * (a legitimate client's headers arrive with its connection); beyond the limit the
         * oldest go. Entries are in order of first sight, so the oldest come first. */
        if (c->scans_seen < 2)
            continue;
        if (newer_waiting_from_same_address(g, i) >= SB_PENDING_PER_ADDRESS)
            *crowded += evict(g, c);
    }
}

/* Counts the evictions and decides whether to log them now (under mu): an attack must not
 * flood the log, so one line per 5 s at most, with what was closed since the last one. True:
 * *late and *crowded are the totals to log. */
static bool account_evictions(sb_http_guard *g, uint64_t now, unsigned *late, unsigned *crowded)
{
    atomic_fetch_add(&g->slow_closed, (unsigned long long)*late + *crowded);
    g->unlogged_late += *late;
    g->unlogged_crowded += *crowded;
    *late = g->unlogged_late;
    *crowded = g->unlogged_crowded;
    bool log = (*late || *crowded) && now - g->last_log_ns >= 5000000000ull;
    if (log) {
        g->unlogged_late = g->unlogged_crowded = 0;
        g->last_log_ns = now;
    }
    return log;
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
    forget_gone_conns(g, gen);
    uint64_t now = sb__monotonic_ns();
    unsigned late = 0, crowded = 0;
    evict_slow_senders(g, now, &late, &crowded);
    bool log = account_evictions(g, now, &late, &crowded);
    pthread_mutex_unlock(&g->mu);
    if (log)
        sb__log("server: closed %u connection(s) that sent no complete request header within "
                "%d ms and %u beyond %d per address still sending one",
                late, SB_HEADER_DEADLINE_MS, crowded, SB_PENDING_PER_ADDRESS);
}

/* ---- the thread ------------------------------------------------------------------------------ */

/* What the thread polls: pfds[0] is the wake eventfd, pfds[1..n] the MJPEG sockets still
 * watched, who[i] the client of pfds[i]. Grown as watches come; never shrunk. */
typedef struct poll_set {
    struct pollfd *pfds;
    const sb_client **who;
    size_t cap;
    size_t n;
} poll_set;

/* Snapshots the MJPEG sockets that still need watching. False when there is no room at all
 * (out of memory); when only growing failed, as many as fit are watched. */
static bool snapshot_watches(sb_http_guard *g, poll_set *ps)
{
    pthread_mutex_lock(&g->mu);
    if (ps->cap < g->nwatches + 1) {
        size_t ncap = g->nwatches + 16;
        struct pollfd *p = realloc(ps->pfds, ncap * sizeof *p);
        if (p)
            ps->pfds = p;
        const sb_client **w = realloc(ps->who, ncap * sizeof *w);
        if (w)
            ps->who = w;
        if (p && w)
            ps->cap = ncap;
    }
    ps->n = 0;
    for (size_t i = 0; i < g->nwatches && ps->n + 1 < ps->cap; i++) {
        if (g->watches[i].notified)
            continue;
        ps->pfds[ps->n + 1] = (struct pollfd){.fd = g->watches[i].fd, .events = POLLRDHUP};
        ps->who[ps->n + 1] = g->watches[i].client;
        ps->n++;
    }
    pthread_mutex_unlock(&g->mu);
    if (ps->cap == 0)
        return false;
    ps->pfds[0] = (struct pollfd){.fd = g->wake_fd, .events = POLLIN};
    return true;
}

/* How long to sleep in poll: until something happens; while workers are reading headers, at
 * most until the next scan (which this schedules when none is). */
static int poll_timeout_ms(sb_http_guard *g, uint64_t *next_scan_ns)
{
    if (!atomic_load(&g->busy))
        return -1;
    uint64_t now = sb__monotonic_ns();
    if (*next_scan_ns == 0)
        *next_scan_ns = now + (uint64_t)SB_GUARD_SCAN_MS * 1000000ull;
    return *next_scan_ns > now ? (int)((*next_scan_ns - now) / 1000000ull) + 1 : 0;
}

/* After poll returned events: consumes the wake-ups and signals the MJPEG hang-ups. */
static void handle_poll_events(sb_http_guard *g, const poll_set *ps)
{
    if (ps->pfds[0].revents & POLLIN) {
        uint64_t v;
        ssize_t got = read(g->wake_fd, &v, sizeof v);
        (void)got;
    }
    pthread_mutex_lock(&g->mu);
    signal_hangups(g, ps->pfds + 1, ps->who + 1, ps->n);
    pthread_mutex_unlock(&g->mu);
}

/* At scan time: scans while workers are still reading headers, else goes idle. */
static void scan_or_go_idle(sb_http_guard *g, uint64_t *next_scan_ns)
{
    uint64_t now = sb__monotonic_ns();
    if (!atomic_load(&g->busy) || *next_scan_ns == 0 || now < *next_scan_ns)
        return;
    *next_scan_ns = 0;
    if (atomic_load(&g->pending) > 0) {
        scan_connections(g);
    } else {
        /* Idle again: sleep without timeout until the next connection. A connection opened
         * between the load and the store re-raises busy and wakes us. */
        atomic_store(&g->busy, false);
        if (atomic_load(&g->pending) > 0)
            atomic_store(&g->busy, true);
    }
}

static void *guard_main(void *arg)
{
    sb_http_guard *g = arg;
    pthread_setname_np(pthread_self(), "sb-http-guard");
    poll_set ps = {0};
    uint64_t next_scan_ns = 0;
    while (!atomic_load(&g->stop)) {
        if (!snapshot_watches(g, &ps)) { /* out of memory: retry after a scan interval */
            struct timespec pause = {0, SB_GUARD_SCAN_MS * 1000000L};
            nanosleep(&pause, NULL);
            continue;
        }
        int r = poll(ps.pfds, ps.n + 1, poll_timeout_ms(g, &next_scan_ns));
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0)
            handle_poll_events(g, &ps);
        scan_or_go_idle(g, &next_scan_ns);
    }
    free(ps.pfds);
    free(ps.who);
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
