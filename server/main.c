/* main.c - streambridge-server: serves a stream whose frame ring and event queue live in POSIX
 * shared memory (a producer process created them with shm_name NAME). No VTK in this binary.
 *
 *   streambridge-server --name NAME [--wait] [--bind ADDR] [--port N] [--token T]
 *                       [--video-codecs h264,vp8] [--default-codec C]
 *                       [--rtp-host ADDR --rtp-port N [--rtp-rtcp-port N] ...] ...
 *
 * Exit codes: 0 after SIGINT/SIGTERM, 1 when the stream cannot be attached or served, 2 for
 * bad command-line arguments. */
#include "streambridge/error.h"
#include "streambridge/event_queue.h"
#include "streambridge/frame_ring.h"
#include "streambridge/server.h"
#include "streambridge/version.h"
#include "server_options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: streambridge-server --name NAME [options]\n"
        "Serves a streambridge stream whose frames and input live in shared memory\n"
        "(/dev/shm/streambridge-NAME-ring and -events) to web browsers.\n"
        "\n"
        "  --name NAME           stream name the producer used as shm_name (required)\n"
        "  --wait                wait for the producer to appear instead of failing\n"
        "  --bind ADDR           numeric address to listen on (default 127.0.0.1; anything\n"
        "                        else exposes the stream to the network: set --token)\n"
        "  --port N              TCP port, 0 = ephemeral (default 8000)\n"
        "  --token T             access token required on every endpoint ([A-Za-z0-9-_.~],\n"
        "                        at most 256); default: $STREAMBRIDGE_TOKEN if set, else none\n"
        "  --quality Q           JPEG quality while input flows, 1..100 (default 60)\n"
        "  --still-quality Q     JPEG quality of the frame sent once input is idle (default 90)\n"
        "  --still-delay-ms MS   input idle time before the still frame (default 150)\n"
        "  --max-fps F           encode/send cap, frames per second (default 60)\n"
        "  --allow-origin ORIG   extra WebSocket origin allowed to drive the stream, e.g.\n"
        "                        http://localhost:8888 (repeatable; own origin always allowed)\n"
        "  --max-clients N       simultaneous viewers, 1..1024 (default 64)\n"
        "  --max-clients-per-address N\n"
        "                        viewers from one remote address, 0..1024, 0 = no cap\n"
        "                        (default 16; behind a reverse proxy all share its address)\n"
        "  --ack-timeout-ms MS   close a WebSocket viewer that leaves a frame unacknowledged\n"
        "                        this long while newer frames wait (default 30000)\n"
        "  --video-codecs LIST   video codecs viewers may ask for, comma-separated among\n"
        "                        h264,vp8 (default: every one this build has; JPEG always)\n"
        "  --default-codec C     jpeg, h264 or vp8: for viewers with no preference (default jpeg)\n"
        "  --video-crf N         video quality, -1..63, lower = better (default -1: H.264 crf 23,\n"
        "                        VP8 cq-level 10)\n"
        "  --video-max-kbps N    video bitrate cap per codec, 0 = none (default 0)\n"
        "  --keyframe-min-interval-ms MS\n"
        "                        at most one keyframe forced by viewers per codec this often\n"
        "                        (default 500)\n"
        "  --keyframe-interval-ms MS\n"
        "                        a keyframe at least this often while frames flow, 0 = only\n"
        "                        on demand (default 0)\n"
        "  --rtp-host ADDR       send the video as RTP to a WebRTC gateway (a Janus streaming\n"
        "                        mountpoint of type rtp) at this numeric address\n"
        "  --rtp-port N          the mountpoint's videoport (required with --rtp-host)\n"
        "  --rtp-rtcp-port N     its videortcpport: sender reports, keyframe requests (PLI/FIR)\n"
        "                        from the gateway (default 0 = none)\n"
        "  --rtp-codec C         h264 or vp8, the mountpoint's videocodec (default h264)\n"
        "  --rtp-pt N            RTP payload type, 96..127, the mountpoint's videopt (default 96)\n"
        "  --rtp-mtu N           bytes per RTP packet, 256..1472 (default 1200)\n"
        "  --rtp-keyframe-interval-ms MS\n"
        "                        a keyframe at least this often, 0 = only when the gateway\n"
        "                        asks (default 2000)\n"
        "  --rtp-janus-url URL   Janus HTTP API the page's WebRTC mode (?webrtc=1) uses, e.g.\n"
        "                        http://127.0.0.1:8088/janus (served at /webrtc.json)\n"
        "  --rtp-mountpoint-id N the mountpoint the page watches (default 1)\n"
        "  (docs/webrtc.md)\n"
        "  --help                print this help and exit\n"
        "  --version             print the version and exit\n"
        "\n"
        "The server keeps running when the producer exits (/healthz then answers 503) and\n"
        "re-attaches when a producer with the same name appears again.\n"
        "Stop it with SIGINT or SIGTERM.\n");
}

static int bad_usage(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

static int bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "streambridge-server: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'streambridge-server --help'.\n");
    va_end(ap);
    return 2;
}

/* Numbers only: the ranges are the library's (sb__server_options_check says what is wrong). */
static int parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < INT_MIN || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Attaches ring and queue; with wait, retries until the producer exists (or a signal). */
static int attach_stream(const char *name, int wait, sb_frame_ring **ring, sb_event_queue **queue)
{
    int announced = 0;
    for (;;) {
        int rc = sb_frame_ring_attach(name, ring);
        if (rc == SB_OK) {
            rc = sb_event_queue_attach(name, queue);
            if (rc == SB_OK)
                return SB_OK;
            /* A view-only producer has no queue: serve without input. */
            if (rc == SB_ENOENT) {
                fprintf(stderr, "streambridge-server: no event queue for '%s': view only\n", name);
                *queue = NULL;
                return SB_OK;
            }
            sb_frame_ring_destroy(*ring);
            *ring = NULL;
        }
        if (!wait || (rc != SB_ENOENT && rc != SB_EBADSEG) || stop_requested) {
            fprintf(stderr, "streambridge-server: cannot attach stream '%s': %s (%s)\n", name,
                    sb_last_error(), sb_err_name(rc));
            return rc;
        }
        if (!announced) {
            fprintf(stderr, "streambridge-server: waiting for stream '%s'...\n", name);
            announced = 1;
        }
        sleep_ms(200);
    }
}

/* What the command line asks for. */
typedef struct cli {
    sb_server_options opts;
    const char *name;
    int wait;
    char origins[4097];
} cli;

/* The value of a numeric option (ch) into its field: -1 when it is not a number. */
static int parse_number(cli *c, int ch, const char *arg);

enum { O_NAME = 256, O_WAIT, O_BIND, O_PORT, O_TOKEN, O_QUALITY, O_STILL_QUALITY,
       O_STILL_DELAY, O_MAX_FPS, O_ALLOW_ORIGIN, O_MAX_CLIENTS, O_MAX_CLIENTS_PER_ADDRESS,
       O_ACK_TIMEOUT, O_VIDEO_CODECS, O_DEFAULT_CODEC, O_VIDEO_CRF, O_VIDEO_MAX_KBPS,
       O_KEYFRAME_MIN_INTERVAL, O_KEYFRAME_INTERVAL, O_RTP_HOST, O_RTP_PORT, O_RTP_RTCP_PORT,
       O_RTP_CODEC, O_RTP_PT, O_RTP_MTU, O_RTP_KEYFRAME_INTERVAL, O_RTP_JANUS_URL,
       O_RTP_MOUNTPOINT_ID, O_HELP, O_VERSION };

static const struct option longopts[] = {
    {"name", required_argument, NULL, O_NAME},
    {"wait", no_argument, NULL, O_WAIT},
    {"bind", required_argument, NULL, O_BIND},
    {"port", required_argument, NULL, O_PORT},
    {"token", required_argument, NULL, O_TOKEN},
    {"quality", required_argument, NULL, O_QUALITY},
    {"still-quality", required_argument, NULL, O_STILL_QUALITY},
    {"still-delay-ms", required_argument, NULL, O_STILL_DELAY},
    {"max-fps", required_argument, NULL, O_MAX_FPS},
    {"allow-origin", required_argument, NULL, O_ALLOW_ORIGIN},
    {"max-clients", required_argument, NULL, O_MAX_CLIENTS},
    {"max-clients-per-address", required_argument, NULL, O_MAX_CLIENTS_PER_ADDRESS},
    {"ack-timeout-ms", required_argument, NULL, O_ACK_TIMEOUT},
    {"video-codecs", required_argument, NULL, O_VIDEO_CODECS},
    {"default-codec", required_argument, NULL, O_DEFAULT_CODEC},
    {"video-crf", required_argument, NULL, O_VIDEO_CRF},
    {"video-max-kbps", required_argument, NULL, O_VIDEO_MAX_KBPS},
    {"keyframe-min-interval-ms", required_argument, NULL, O_KEYFRAME_MIN_INTERVAL},
    {"keyframe-interval-ms", required_argument, NULL, O_KEYFRAME_INTERVAL},
    {"rtp-host", required_argument, NULL, O_RTP_HOST},
    {"rtp-port", required_argument, NULL, O_RTP_PORT},
    {"rtp-rtcp-port", required_argument, NULL, O_RTP_RTCP_PORT},
    {"rtp-codec", required_argument, NULL, O_RTP_CODEC},
    {"rtp-pt", required_argument, NULL, O_RTP_PT},
    {"rtp-mtu", required_argument, NULL, O_RTP_MTU},
    {"rtp-keyframe-interval-ms", required_argument, NULL, O_RTP_KEYFRAME_INTERVAL},
    {"rtp-janus-url", required_argument, NULL, O_RTP_JANUS_URL},
    {"rtp-mountpoint-id", required_argument, NULL, O_RTP_MOUNTPOINT_ID},
    {"help", no_argument, NULL, O_HELP},
    {"version", no_argument, NULL, O_VERSION},
    {NULL, 0, NULL, 0},
};

static int parse_number(cli *c, int ch, const char *arg)
{
    sb_server_options *o = &c->opts;
    switch (ch) {
    case O_PORT: return parse_int(arg, &o->port);
    case O_QUALITY: return parse_int(arg, &o->jpeg_quality_interactive);
    case O_STILL_QUALITY: return parse_int(arg, &o->jpeg_quality_still);
    case O_STILL_DELAY: return parse_int(arg, &o->still_delay_ms);
    case O_MAX_FPS: return parse_double(arg, &o->max_fps);
    case O_MAX_CLIENTS: return parse_int(arg, &o->max_clients);
    case O_MAX_CLIENTS_PER_ADDRESS: return parse_int(arg, &o->max_clients_per_address);
    case O_ACK_TIMEOUT: return parse_int(arg, &o->ack_timeout_ms);
    case O_VIDEO_CRF: return parse_int(arg, &o->video_crf);
    case O_VIDEO_MAX_KBPS: return parse_int(arg, &o->video_max_kbps);
    case O_KEYFRAME_MIN_INTERVAL: return parse_int(arg, &o->keyframe_min_interval_ms);
    case O_KEYFRAME_INTERVAL: return parse_int(arg, &o->keyframe_interval_ms);
    case O_RTP_PORT: return parse_int(arg, &o->rtp_port);
    case O_RTP_RTCP_PORT: return parse_int(arg, &o->rtp_rtcp_port);
    case O_RTP_PT: return parse_int(arg, &o->rtp_payload_type);
    case O_RTP_MTU: return parse_int(arg, &o->rtp_mtu);
    case O_RTP_KEYFRAME_INTERVAL: return parse_int(arg, &o->rtp_keyframe_interval_ms);
    case O_RTP_MOUNTPOINT_ID: return parse_int(arg, &o->rtp_mountpoint_id);
    default: return -1;
    }
}

static int add_origin(cli *c, const char *origin)
{
    if (strlen(c->origins) + strlen(origin) + 2 > sizeof c->origins)
        return -1;
    if (c->origins[0])
        strcat(c->origins, ",");
    strcat(c->origins, origin);
    return 0;
}

/* Fills c from argv. Returns -1 to go on, else the exit code (help, version, bad usage). */
static int parse_args(int argc, char **argv, cli *c)
{
    sb_server_options_init(&c->opts, SB_SERVER_OPTIONS_VERSION);
    const char *env_token = getenv("STREAMBRIDGE_TOKEN");
    if (env_token && *env_token)
        c->opts.access_token = env_token;
    opterr = 0;
    int ch, index = -1;
    while ((ch = getopt_long(argc, argv, "", longopts, &index)) != -1) {
        switch (ch) {
        case O_NAME: c->name = optarg; break;
        case O_WAIT: c->wait = 1; break;
        case O_BIND: c->opts.bind_address = optarg; break;
        case O_TOKEN: c->opts.access_token = optarg; break;
        case O_VIDEO_CODECS: c->opts.video_codecs = optarg; break;
        case O_DEFAULT_CODEC: c->opts.default_codec = optarg; break;
        case O_RTP_HOST: c->opts.rtp_host = optarg; break;
        case O_RTP_CODEC: c->opts.rtp_codec = optarg; break;
        case O_RTP_JANUS_URL: c->opts.rtp_janus_url = optarg; break;
        case O_ALLOW_ORIGIN:
            if (add_origin(c, optarg))
                return bad_usage("too many --allow-origin values (%s)", "4096 characters at most");
            break;
        case O_HELP: usage(stdout); return 0;
        case O_VERSION: printf("streambridge-server %s\n", sb_version()); return 0;
        case ':': return bad_usage("option '%s' needs a value", argv[optind - 1]);
        case '?': return bad_usage("unknown option '%s'", argv[optind - 1]);
        default:
            if (parse_number(c, ch, optarg)) {
                char what[96];
                snprintf(what, sizeof what, "--%s needs a number", longopts[index].name);
                return bad_usage("%s, not '%s'", what, optarg);
            }
        }
    }
    if (optind < argc)
        return bad_usage("unexpected argument '%s'", argv[optind]);
    if (!c->name)
        return bad_usage("%s", "--name NAME is required");
    if (c->origins[0])
        c->opts.allowed_origins = c->origins;
    /* The library's own validation and message, before any stream is attached. */
    if (sb__server_options_check(&c->opts, "sb_server_create") != SB_OK) {
        /* "sb_server_create(): port 70000 is outside 0..65535": the library's words. */
        const char *why = strstr(sb_last_error(), "(): ");
        return bad_usage("%s", why ? why + 4 : sb_last_error());
    }
    return -1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* A stream being served: what the server reads and the server itself. */
typedef struct served {
    sb_frame_ring *ring;
    sb_event_queue *queue;
    sb_server *srv;
} served;

static void served_close(served *s)
{
    sb_server_destroy(s->srv);
    sb_event_queue_destroy(s->queue);
    sb_frame_ring_destroy(s->ring);
    memset(s, 0, sizeof *s);
}

/* A new producer of the stream, if one is alive now: its ring and (if any) its queue. */
static bool attach_new_producer(const char *name, served *next)
{
    memset(next, 0, sizeof *next);
    if (sb_frame_ring_attach(name, &next->ring) != SB_OK)
        return false;
    sb_frame_ring_stats ns = SB_FRAME_RING_STATS_INIT;
    sb_frame_ring_get_stats(next->ring, &ns);
    if (!ns.writer_alive) {
        sb_frame_ring_destroy(next->ring);
        return false;
    }
    if (sb_event_queue_attach(name, &next->queue) != SB_OK)
        next->queue = NULL;
    return true;
}

/* Serves until a signal; when the producer goes, waits for a new one with the same name (a new
 * segment) and serves that on the same port. Returns the exit code. */
static int serve(cli *c, served *s)
{
    int gone_logged = 0;
    while (!stop_requested) {
        sleep_ms(200);
        sb_frame_ring_stats rs = SB_FRAME_RING_STATS_INIT;
        sb_frame_ring_get_stats(s->ring, &rs);
        if (rs.writer_alive) {
            gone_logged = 0;
            continue;
        }
        if (!gone_logged) {
            fprintf(stderr,
                    "streambridge-server: producer of '%s' is gone; waiting for a new one\n",
                    c->name);
            gone_logged = 1;
        }
        served next;
        if (!attach_new_producer(c->name, &next))
            continue;
        served_close(s);
        *s = next;
        if (sb_server_create(s->ring, s->queue, &c->opts, &s->srv) != SB_OK) {
            fprintf(stderr, "streambridge-server: cannot serve again: %s\n", sb_last_error());
            served_close(s);
            return 1;
        }
        fprintf(stderr, "streambridge-server: re-attached to a new producer of '%s'\n", c->name);
        gone_logged = 0;
    }
    served_close(s);
    return 0;
}

int main(int argc, char **argv)
{
    static cli c;
    int rc = parse_args(argc, argv, &c);
    if (rc >= 0)
        return rc;
    install_signals();
    served s = {0};
    if (attach_stream(c.name, c.wait, &s.ring, &s.queue) != SB_OK)
        return stop_requested ? 0 : 1;
    rc = sb_server_create(s.ring, s.queue, &c.opts, &s.srv);
    if (rc != SB_OK) {
        fprintf(stderr, "streambridge-server: %s\n", sb_last_error());
        served_close(&s);
        /* Invalid option values are usage errors too. */
        return rc == SB_EINVAL ? 2 : 1;
    }
    /* Keep the port we got, so browsers reconnect to the same URL after a re-attach. */
    sb_server_get_port(s.srv, &c.opts.port);
    printf("streambridge-server: serving '%s' on http://%s:%d/\n", c.name,
           c.opts.bind_address ? c.opts.bind_address : "127.0.0.1", c.opts.port);
    fflush(stdout);
    return serve(&c, &s);
}
