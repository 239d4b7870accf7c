/* conn_socket.c - see conn_socket.h. */
#include "conn_socket.h"

#include <civetweb.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

/* true when addr (a peer or local address) has the textual address ip and the port. */
static bool endpoint_is(const struct sockaddr_storage *addr, const char *ip, int port)
{
    char text[INET6_ADDRSTRLEN];
    int p;
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        if (!inet_ntop(AF_INET, &a->sin_addr, text, sizeof text))
            return false;
        p = ntohs(a->sin_port);
    } else if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        if (!inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text))
            return false;
        p = ntohs(a->sin6_port);
    } else {
        return false;
    }
    if (p != port)
        return false;
    /* civetweb may bracket an IPv6 address. */
    size_t n = strlen(ip);
    if (n >= 2 && ip[0] == '[' && ip[n - 1] == ']')
        return n - 2 == strlen(text) && strncmp(ip + 1, text, n - 2) == 0;
    return strcmp(text, ip) == 0;
}

static int local_port(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)addr)->sin_port);
    if (addr->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
    return -1;
}

bool sb__for_each_socket(bool (*visit)(int fd, void *user), void *user)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || fd < 0 || fd == dirfd(d))
            continue;
        struct stat st;
        if (fstat((int)fd, &st) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        if (visit((int)fd, user))
            break;
    }
    closedir(d);
    return true;
}

/* The connection sb__conn_socket looks for, and the descriptor once found. */
typedef struct conn_match {
    const struct mg_request_info *ri;
    int found;
} conn_match;

static bool match_conn(int fd, void *user)
{
    conn_match *m = user;
    struct sockaddr_storage peer, self;
    socklen_t plen = sizeof peer, slen = sizeof self;
    if (getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 ||
        getsockname(fd, (struct sockaddr *)&self, &slen) != 0)
        return false;
    if (endpoint_is(&peer, m->ri->remote_addr, m->ri->remote_port) &&
        local_port(&self) == m->ri->server_port) {
        m->found = fd;
        return true;
    }
    return false;
}

int sb__conn_socket(const struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (!ri)
        return -1;
    conn_match m = {.ri = ri, .found = -1};
    sb__for_each_socket(match_conn, &m);
    return m.found;
}

/* How often a write waiting for room looks at the stop flag. */
#define SB_WRITE_STOP_POLL_MS 100

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Drops the first `done` bytes of iov[*first..n). */
static void advance_iov(struct iovec *iov, int n, int *first, size_t done)
{
    while (*first < n && done >= iov[*first].iov_len) {
        done -= iov[*first].iov_len;
        (*first)++;
    }
    if (*first < n) {
        iov[*first].iov_base = (char *)iov[*first].iov_base + done;
        iov[*first].iov_len -= done;
    }
}

bool sb__sock_write_all(int fd, struct iovec *iov, int n, int timeout_ms, const atomic_bool *stop)
{
    int first = 0;
    advance_iov(iov, n, &first, 0); /* skip empty pieces */
    uint64_t progress_ms = now_ms();
    while (first < n) {
        struct msghdr msg = {.msg_iov = iov + first, .msg_iovlen = (size_t)(n - first)};
        ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            advance_iov(iov, n, &first, (size_t)w);
            progress_ms = now_ms();
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return false;
        /* The socket's buffer is full: wait for room, the stop or the timeout. */
        for (;;) {
            if (stop && atomic_load(stop)) {
                errno = ECANCELED;
                return false;
            }
            uint64_t waited = now_ms() - progress_ms;
            if (waited >= (uint64_t)timeout_ms) {
                errno = ETIMEDOUT;
                return false;
            }
            uint64_t left = (uint64_t)timeout_ms - waited;
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int r = poll(&p, 1, (int)(left < SB_WRITE_STOP_POLL_MS ? left : SB_WRITE_STOP_POLL_MS));
            if (r > 0)
                break; /* room, or an error the next sendmsg reports */
            if (r < 0 && errno != EINTR)
                return false;
        }
    }
    return true;
}
