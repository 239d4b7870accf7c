/* conn_socket.h - the OS socket under a civetweb connection.
 *
 * Why: civetweb 1.15 offers no way to read a WebSocket frame header before it allocates and reads
 * the whole declared payload (up to 2 GiB per frame), and a request handler cannot notice that its
 * peer closed while it has nothing to write. Both need the socket itself, which civetweb's public
 * API does not hand out; this finds it by the connection's TCP endpoints, which are unique while
 * the connection lives. Not installed. */
#ifndef SB_CONN_SOCKET_H
#define SB_CONN_SOCKET_H

#include <stdbool.h>

struct mg_connection;

/* The file descriptor of conn's socket, or -1 when none matches (then the caller falls back to
 * civetweb's own handling). Call from the thread that serves conn: civetweb closes the descriptor
 * only after that thread's handler returns, so the number stays valid until then. O(open fds). */
int sb__conn_socket(const struct mg_connection *conn);

/* Calls visit(fd, user) for each socket descriptor the process has open, in no particular order,
 * until visit returns true. false when the descriptors cannot be listed (no /proc). A descriptor
 * may be closed and its number reused while visit runs: visit checks what it acts on. */
bool sb__for_each_socket(bool (*visit)(int fd, void *user), void *user);

#endif /* SB_CONN_SOCKET_H */
