/* conn_socket.h - the OS socket under a civetweb connection.
 *
 * Why: civetweb 1.15 offers no way to read a WebSocket frame header before it allocates and reads
 * the whole declared payload (up to 2 GiB per frame), and a request handler cannot notice that its
 * peer closed while it has nothing to write. Both need the socket itself, which civetweb's public
 * API does not hand out; this finds it by the connection's TCP endpoints, which are unique while
 * the connection lives. Not installed. */
#ifndef SB_CONN_SOCKET_H
#define SB_CONN_SOCKET_H

#include <stdatomic.h>
#include <stdbool.h>

struct iovec;
struct mg_connection;

/* The file descriptor of conn's socket, or -1 when none matches (then the caller falls back to
 * civetweb's own handling). Call from the thread that serves conn: civetweb closes the descriptor
 * only after that thread's handler returns, so the number stays valid until then. O(open fds). */
int sb__conn_socket(const struct mg_connection *conn);

/* Calls visit(fd, user) for each socket descriptor the process has open, in no particular order,
 * until visit returns true. false when the descriptors cannot be listed (no /proc). A descriptor
 * may be closed and its number reused while visit runs: visit checks what it acts on. */
bool sb__for_each_socket(bool (*visit)(int fd, void *user), void *user);

/* Writes every byte of iov[0..n) to the stream socket fd with as few sendmsg calls as the socket
 * allows (normally one). Why not mg_write per piece: each write is a send of its own, with
 * TCP_NODELAY a segment of its own, and each segment wakes the peer; a frame written as header,
 * header and payload cost three of each per viewer. Waits for room (POLLOUT) at most timeout_ms
 * without progress, and gives up once *stop is raised (looked at every 100 ms while waiting).
 * false: an error (errno), the timeout (ETIMEDOUT) or the stop (ECANCELED). Consumes iov (the
 * entries are advanced past what was written). Callers hold mg_lock_connection when others may
 * write to the same connection. */
bool sb__sock_write_all(int fd, struct iovec *iov, int n, int timeout_ms, const atomic_bool *stop);

#endif /* SB_CONN_SOCKET_H */
