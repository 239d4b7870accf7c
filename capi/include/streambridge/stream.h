/* streambridge/stream.h - attach streambridge to an existing VTK render window.
 *
 *     sb_stream_options o;
 *     sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);  // or = SB_STREAM_OPTIONS_INIT in C
 *     o.serve = 1;                                   // also start the web server on 127.0.0.1:8000
 *     o.server.port = 0;                             // every server option is in o.server
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

/* Version 3 (0.3) adds readback before .server. Version 2 (0.2) embeds the server's options as
 * its last member; it is still accepted (readback takes its default). Version 1 (0.1: the server
 * options bind_address, port, jpeg_quality_interactive, jpeg_quality_still, max_fps and
 * access_token flat among the stream's, through timer_interval_ms) is still accepted; its
 * allow_remote_exit is not read (default 0). */
#define SB_STREAM_OPTIONS_VERSION 3
#define SB_STREAM_DEFAULT_MAX_WIDTH SB_FRAME_RING_DEFAULT_MAX_WIDTH
#define SB_STREAM_DEFAULT_MAX_HEIGHT SB_FRAME_RING_DEFAULT_MAX_HEIGHT
#define SB_STREAM_DEFAULT_BUFFER_COUNT SB_FRAME_RING_DEFAULT_BUFFERS
#define SB_STREAM_DEFAULT_TIMER_INTERVAL_MS 10

/* How the capture reads a finished frame back from OpenGL (sb_stream_options.readback;
 * docs/bridge.md, "Readback"). */
#define SB_STREAM_READBACK_SYNC 1  /* glReadPixels straight into the ring slot at the render's end:
                                    * the frame is published before Render() returns */
#define SB_STREAM_READBACK_ASYNC 2 /* glReadPixels into a pixel buffer object at the render's end,
                                    * mapped and published at the next render's end or, when the
                                    * window stops rendering, at the next interactor timer tick,
                                    * sb_stream_pump() or sb_stream_render(): never more than one
                                    * frame late, never torn */
#define SB_STREAM_DEFAULT_READBACK SB_STREAM_READBACK_SYNC

typedef struct sb_stream_options {
    unsigned int version;          /* SB_STREAM_OPTIONS_VERSION */
    uint32_t max_width;            /* largest frame streamed, each side 1..SB_MAX_FRAME_SIDE,
                                    * default 1920 x 1080 */
    uint32_t max_height;
    uint32_t buffer_count;         /* frame ring slots, 2..SB_FRAME_RING_MAX_BUFFERS, default 3 */
    const char *shm_name;          /* NULL: heap (server in this process). A name: the ring and the
                                    * queue live in shm so streambridge-server can attach. */
    int serve;                     /* 1: start the web server in sb_stream_create with .server */
    int timer_interval_ms;         /* interactor timer draining events, 1..10000, default 10 */
    int allow_remote_exit;         /* 0 (default): browser input never ends the application - a
                                    * replayed 'q'/'e' reaching VTK's interactor style asks the
                                    * interactor to exit (ExitCallback()), and the stream swallows
                                    * that request (no ExitEvent observer, no TerminateApp()).
                                    * 1: it goes through as a local key's would. Local input is
                                    * never affected. */
    /* Version 3 (0.3). */
    int readback;                  /* SB_STREAM_READBACK_SYNC or _ASYNC, default
                                    * SB_STREAM_DEFAULT_READBACK (measured: README, "Streaming's
                                    * cost to the application") */
    sb_server_options server;      /* the server's options (server.h), used by serve = 1 and by
                                    * sb_stream_serve(stream, NULL); checked at sb_stream_create by
                                    * the server's own validation, serve or not. LAST
                                    * member, always: it grows at its end (its own version says
                                    * how much), so every version is a prefix of the current
                                    * layout. */
} sb_stream_options;

/* C, and C++20 (designated initializers); C++17 calls sb_stream_options_init(). */
#if !defined(__cplusplus) || __cplusplus >= 202002L
#define SB_STREAM_OPTIONS_INIT                                                                  \
    {                                                                                           \
        .version = SB_STREAM_OPTIONS_VERSION, .max_width = SB_STREAM_DEFAULT_MAX_WIDTH,         \
        .max_height = SB_STREAM_DEFAULT_MAX_HEIGHT,                                             \
        .buffer_count = SB_STREAM_DEFAULT_BUFFER_COUNT, .shm_name = NULL, .serve = 0,           \
        .timer_interval_ms = SB_STREAM_DEFAULT_TIMER_INTERVAL_MS, .allow_remote_exit = 0,       \
        .readback = SB_STREAM_DEFAULT_READBACK, .server = SB_SERVER_OPTIONS_INIT                \
    }
#endif

/* Fills opts with the defaults of SB_STREAM_OPTIONS_VERSION, .server included
 * (sb_server_options_init), and sets the versions. Only the current version can be filled (a
 * version-1 struct has another type): SB_EVERSION for any other, SB_EINVAL for NULL. */
SB_API int sb_stream_options_init(sb_stream_options *opts, unsigned int version);

/* Attaches to render_window, which must point to a vtkRenderWindow (passed as void* so C and
 * ctypes callers need no VTK header; anything else gives SB_EINVAL). Installs a render-end
 * observer that captures each finished frame into the ring, and an interactor timer that
 * replays queued events (a vtkGenericRenderWindowInteractor with trackball-camera style is made
 * when the window has none). The window is not owned; either may be destroyed first. One
 * stream per window: SB_ESTATE while another live sb_stream streams it (serve more viewers,
 * codecs or a second server name from that one). */
SB_API int sb_stream_create(void *render_window, const sb_stream_options *opts, sb_stream **out);
/* Like sb_stream_create, but the window is served by a server that runs already, as its stream
 * called name (server.h: 1..64 of [A-Za-z0-9._-]; SB_SERVER_DEFAULT_STREAM_NAME makes it the
 * default stream, served at the top-level endpoints too): /v/NAME/ and the /streams list.
 * opts->serve and opts->server are ignored (the server has its options). SB_EEXIST for a name
 * in use, SB_ESTATE for a server already destroyed. Any number of windows can share one server
 * (one port). Ownership: the server is borrowed. Destroy the stream before the server; a server
 * destroyed first stops serving the stream at once and logs it, and sb_stream_destroy still
 * works (the server's memory lives until then). */
SB_API int sb_stream_create_on_server(sb_server *server, const char *name, void *render_window,
                                      const sb_stream_options *opts, sb_stream **out);
/* Removes every observer and timer, stops the server (or, for sb_stream_create_on_server,
 * removes its stream from the server: its viewers are closed, the server goes on serving the
 * others), frees the ring and queue. NULL ignored. */
SB_API void sb_stream_destroy(sb_stream *stream);

/* Replays queued events now (waiting up to timeout_ms for the first one; 0 = don't wait, -1 =
 * until one comes) and renders once if anything changed. Returns the number of events replayed
 * (>= 0) or an error.
 *
 * Who drains browser input: while the application runs interactor->Start(), the stream's
 * interactor timer does. Without an event loop (a window only Initialize()d or with no
 * interactor at all, a batch program between renders, an interpreter waiting for its user) the
 * timers never fire: then nothing replays input, not even a resize, until this is called. Either
 * call it from the render thread's own loop (sb_stream_pump(s, 10) each turn), or let a helper
 * thread sleep in sb_event_queue_wait(sb_stream_event_queue(s), timeout) and, when it returns
 * SB_OK, ask the render thread's loop to run sb_stream_pump(s, 0) - that thread must never call
 * VTK or this function itself - and wait for that pump before waiting again; stop it with
 * sb_event_queue_wake() before sb_stream_destroy(). The Python package's input driver does
 * exactly this on a Jupyter kernel's or asyncio's loop (README, "Python"). */
SB_API int sb_stream_pump(sb_stream *stream, int timeout_ms);
/* Renders the window once (so a frame is captured) - convenience for batch programs. */
SB_API int sb_stream_render(sb_stream *stream);

/* Borrowed, valid until sb_stream_destroy. */
SB_API sb_frame_ring *sb_stream_frame_ring(sb_stream *stream);
SB_API sb_event_queue *sb_stream_event_queue(sb_stream *stream);
/* The running server or NULL (for sb_stream_create_on_server: the shared server). Borrowed. */
SB_API sb_server *sb_stream_server(sb_stream *stream);
/* Starts the server now with opts (NULL = the stream options' .server); SB_ESTATE if one runs
 * (or the stream is served by a shared server). */
SB_API int sb_stream_serve(sb_stream *stream, const sb_server_options *opts);

/* Version 1: through capture_ms_mean. Version 2 (0.2): the render and input-to-publish
 * percentiles. Fields are only appended, with a version bump; every version is accepted. */
#define SB_STREAM_STATS_VERSION 2

typedef struct sb_stream_stats {
    unsigned int version;             /* set by the caller: SB_STREAM_STATS_VERSION */
    uint64_t frames_captured;
    uint64_t frames_refused_too_big;  /* window larger than max size: logged once, counted */
    uint64_t events_replayed;
    uint64_t events_invalid;          /* unknown or out-of-range events skipped */
    uint64_t renders_requested;       /* renders triggered by replay */
    double capture_ms_mean;           /* render-thread cost of the capture */
    /* Version 2. Percentiles over the last SB_STREAM_LATENCY_SAMPLES frames (0 before any):
     * the window's render (StartEvent to EndEvent), and for frames made from input the time
     * from the input's sb_event.timestamp_ns (the server's receive time for browser input) to
     * the frame's publish in the ring. */
    double render_ms_p50;
    double render_ms_p99;
    double input_to_publish_ms_p50;
    double input_to_publish_ms_p99;
} sb_stream_stats;

#define SB_STREAM_LATENCY_SAMPLES 256

#if !defined(__cplusplus) || __cplusplus >= 202002L
#define SB_STREAM_STATS_INIT { .version = SB_STREAM_STATS_VERSION }
#endif

/* Fills the first bytes of *stats that stats->version (set by the caller) has; changes nothing.
 * SB_EINVAL for NULL, SB_EVERSION for a version this library does not know. */
SB_API int sb_stream_get_stats(const sb_stream *stream, sb_stream_stats *stats);

SB_END_DECLS
#endif /* STREAMBRIDGE_STREAM_H */
