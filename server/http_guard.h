/* http_guard.h - defenses against hostile HTTP clients that civetweb 1.15 does not offer.
 *
 * civetweb gives every connection a worker thread from a fixed pool for as long as the connection
 * lives, from the first header byte on. Two things tie those threads up without our handlers
 * ever knowing (docs/wire-protocol.md, "Limits"):
 *   - slow header senders (slowloris): a request's headers must be complete within
 *     SB_HEADER_DEADLINE_MS of the guard first seeing the connection, and one address may have at most
 *     SB_PENDING_PER_ADDRESS connections still sending headers (a newer one evicts the oldest);
 *   - MJPEG viewers that went away on a still scene: an MJPEG handler only writes, so it would
 *     notice the hang-up only at its next frame; the guard polls their sockets for the hang-up and
 *     wakes the handler at once.
 * One guard thread per server does both. It sleeps in poll() on the MJPEG sockets and wakes every
 * SB_GUARD_SCAN_MS only while some worker is still reading request headers (counted by civetweb's
 * connection callbacks), to find those connections' sockets and evict the late ones
 * (shutdown(2): civetweb's read then ends and it closes the connection itself).
 * Not installed. */
#ifndef SB_HTTP_GUARD_H
#define SB_HTTP_GUARD_H

#include <stdbool.h>

struct mg_connection;
struct sb_client;
typedef struct sb_http_guard sb_http_guard;

#define SB_HEADER_DEADLINE_MS 3000
#define SB_PENDING_PER_ADDRESS 8
#define SB_GUARD_SCAN_MS 250

/* Starts the guard thread. Returns NULL (and sets the error) when it cannot. */
sb_http_guard *sb__http_guard_start(void);
/* The server's port, once known: the guard looks only at sockets accepted on it. */
void sb__http_guard_set_port(sb_http_guard *g, int port);
/* Joins the thread and frees. Call after civetweb has stopped (no callback runs any more).
 * NULL is ignored. */
void sb__http_guard_stop(sb_http_guard *g);

/* civetweb callbacks, on the worker thread that serves conn: a connection was picked up, its
 * request headers are complete, it is closing. */
void sb__http_guard_conn_opened(sb_http_guard *g);
void sb__http_guard_request_started(sb_http_guard *g, const struct mg_connection *conn);
void sb__http_guard_conn_closing(sb_http_guard *g, const struct mg_connection *conn);

/* Connections closed for sending their request headers too slowly (late or over the per-address
 * limit), since start. Any thread. */
unsigned long long sb__http_guard_slow_closed(const sb_http_guard *g);

/* MJPEG viewers: watch fd (the socket of c's connection) for the peer's hang-up, which then sets
 * c->closing and wakes c. Remove before the handler returns (civetweb closes fd after that). */
void sb__http_guard_watch_mjpeg(sb_http_guard *g, struct sb_client *c, int fd);
void sb__http_guard_unwatch_mjpeg(sb_http_guard *g, struct sb_client *c);

#endif /* SB_HTTP_GUARD_H */
