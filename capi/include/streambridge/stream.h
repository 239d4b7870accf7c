/* streambridge/stream.h - attach streambridge to an existing VTK render window.
 *
 *     sb_stream_options o = SB_STREAM_OPTIONS_INIT;
 *     o.serve = 1;                                   // also start the web server on 127.0.0.1:8000
 *     sb_stream *s;
 *     if (sb_stream_create(renderWindow, &o, &s) != SB_OK) fprintf(stderr, "%s\n", sb_last_error());
 *     interactor->Start();                           // or call sb_stream_pump() from your own loop
 *     sb_stream_destroy(s);
 *
 * Threads: every sb_stream_* function runs on the render thread (the thread that owns the VTK
 * window), except sb_stream_frame_ring/sb_stream_event_queue/sb_stream_server which only return
 * borrowed pointers. */
#ifndef STREAMBRIDGE_STREAM_H
#define STREAMBRIDGE_STREAM_H

#include "streambridge/common.h"
#include "streambridge/event_queue.h"
#include "streambridge/frame_ring.h"
#include "streambridge/server.h"

SB_BEGIN_DECLS

typedef struct sb_stream sb_stream;

#define SB_STREAM_OPTIONS_VERSION 1

typedef struct sb_stream_options {
    unsigned int version;          /* SB_STREAM_OPTIONS_VERSION */
    uint32_t max_width;            /* largest frame streamed, default 1920 x 1080 */
    uint32_t max_height;
    uint32_t buffer_count;         /* frame ring slots, default 3 */
    const char *shm_name;          /* NULL: heap (server in this process). A name: the ring and the
                                    * queue live in shm so streambridge-server can attach. */
    int serve;                     /* 1: start the web server in sb_stream_create */
    const char *bind_address;      /* server options, used when serve = 1 (see server.h) */
    int port;
    int jpeg_quality_interactive;
    int jpeg_quality_still;
    double max_fps;
    const char *access_token;
    int timer_interval_ms;         /* interactor timer draining events, default 10 */
    int allow_remote_exit;         /* 0 (default): browser input never ends the application - a
                                    * replayed 'q'/'e' reaching VTK's interactor style asks the
                                    * interactor to exit (ExitCallback()), and the stream swallows
                                    * that request (no ExitEvent observer, no TerminateApp()).
                                    * 1: it goes through as a local key's would. Local input is
                                    * never affected. */
} sb_stream_options;

#define SB_STREAM_OPTIONS_INIT \
    { SB_STREAM_OPTIONS_VERSION, 1920, 1080, 3, NULL, 0, "127.0.0.1", 8000, 60, 90, 60.0, NULL, 10, 0 }

/* Attaches to render_window, which must point to a vtkRenderWindow (passed as void* so C and
 * ctypes callers need no VTK header; anything else gives SB_EINVAL). Installs a render-end
 * observer that captures each finished frame into the ring, and an interactor timer that
 * replays queued events (a vtkGenericRenderWindowInteractor with trackball-camera style is made
 * when the window has none). The window is not owned; either may be destroyed first. */
SB_API int sb_stream_create(void *render_window, const sb_stream_options *opts, sb_stream **out);
/* Removes every observer and timer, stops the server, frees the ring and queue. NULL ignored. */
SB_API void sb_stream_destroy(sb_stream *stream);

/* Replays queued events now (waiting up to timeout_ms for the first one; 0 = don't wait) and
 * renders once if anything changed. Returns the number of events replayed (>= 0) or an error. */
SB_API int sb_stream_pump(sb_stream *stream, int timeout_ms);
/* Renders the window once (so a frame is captured) - convenience for batch programs. */
SB_API int sb_stream_render(sb_stream *stream);

/* Borrowed, valid until sb_stream_destroy. */
SB_API sb_frame_ring *sb_stream_frame_ring(sb_stream *stream);
SB_API sb_event_queue *sb_stream_event_queue(sb_stream *stream);
/* The running server or NULL. Borrowed. */
SB_API sb_server *sb_stream_server(sb_stream *stream);
/* Starts the server now with opts (NULL = from the stream options); SB_ESTATE if one runs. */
SB_API int sb_stream_serve(sb_stream *stream, const sb_server_options *opts);

typedef struct sb_stream_stats {
    uint64_t frames_captured;
    uint64_t frames_refused_too_big;  /* window larger than max size: logged once, counted */
    uint64_t events_replayed;
    uint64_t events_invalid;          /* unknown or out-of-range events skipped */
    uint64_t renders_requested;       /* renders triggered by replay */
    double capture_ms_mean;           /* render-thread cost of the capture */
} sb_stream_stats;
SB_API int sb_stream_get_stats(sb_stream *stream, sb_stream_stats *stats);

SB_END_DECLS
#endif /* STREAMBRIDGE_STREAM_H */
