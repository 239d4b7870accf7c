/* server_attach.h - what the C API's sb_stream_create_on_server needs beyond the public server
 * API: the attached stream keeps the server's memory alive, so a server destroyed before the
 * streams attached to it never leaves them a dangling pointer (sb_server_destroy stops serving
 * at once and logs them; the memory goes with the last release). Not installed. */
#ifndef SB_SERVER_ATTACH_H
#define SB_SERVER_ATTACH_H

#include "streambridge/server.h"

#include <stdbool.h>

SB_BEGIN_DECLS

void sb__server_hold(sb_server *srv);
/* Frees a destroyed server with its last hold. */
void sb__server_release(sb_server *srv);
/* Whether sb_server_destroy ran (the server then serves nothing and only waits for releases). */
bool sb__server_destroyed(sb_server *srv);

SB_END_DECLS
#endif /* SB_SERVER_ATTACH_H */
