/* main.c - streambridge-server: serves a stream whose frame ring and event queue live in POSIX
 * shared memory (a producer process created them with shm_name NAME). No VTK in this binary.
 *
 *   streambridge-server --name NAME [--wait] [--bind ADDR] [--port N] [--token T] ...
 *
 * Exit codes: 0 after SIGINT/SIGTERM, 1 when the stream cannot be attached or served, 2 for
 * bad command-line arguments. */
#include "streambridge/error.h"
#include "streambridge/event_queue.h"
#include "streambridge/frame_ring.h"
#include "streambridge/server.h"
#include "streambridge/version.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
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
        "  --help                print this help and exit\n"
        "  --version             print the version and exit\n"
        "\n"
        "The server keeps running when the producer exits (/healthz then answers 503) and\n"
        "re-attaches when a producer with the same name appears again.\n"
        "Stop it with SIGINT or SIGTERM.\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "streambridge-server: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'streambridge-server --help'.\n");
    return 2;
}

static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
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

int main(int argc, char **argv)
{
    sb_server_options opts = SB_SERVER_OPTIONS_INIT;
    const char *name = NULL;
    int wait = 0;
    char origins[4097] = "";
    const char *env_token = getenv("STREAMBRIDGE_TOKEN");
    if (env_token && *env_token)
        opts.access_token = env_token;

    enum { O_NAME = 256, O_WAIT, O_BIND, O_PORT, O_TOKEN, O_QUALITY, O_STILL_QUALITY,
           O_STILL_DELAY, O_MAX_FPS, O_ALLOW_ORIGIN, O_MAX_CLIENTS, O_MAX_CLIENTS_PER_ADDRESS, O_ACK_TIMEOUT, O_HELP,
           O_VERSION };
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
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case O_NAME: name = optarg; break;
        case O_WAIT: wait = 1; break;
        case O_BIND: opts.bind_address = optarg; break;
        case O_PORT:
            if (parse_int(optarg, 0, 65535, &opts.port))
                return bad_usage("--port needs a number in 0..65535, not '%s'", optarg);
            break;
        case O_TOKEN: opts.access_token = optarg; break;
        case O_QUALITY:
            if (parse_int(optarg, 1, 100, &opts.jpeg_quality_interactive))
                return bad_usage("--quality needs a number in 1..100, not '%s'", optarg);
            break;
        case O_STILL_QUALITY:
            if (parse_int(optarg, 1, 100, &opts.jpeg_quality_still))
                return bad_usage("--still-quality needs a number in 1..100, not '%s'", optarg);
            break;
        case O_STILL_DELAY:
            if (parse_int(optarg, 0, 60000, &opts.still_delay_ms))
                return bad_usage("--still-delay-ms needs a number in 0..60000, not '%s'", optarg);
            break;
        case O_MAX_FPS: {
            char *end;
            errno = 0;
            double v = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(v > 0.0 && v <= 1000.0))
                return bad_usage("--max-fps needs a number in (0, 1000], not '%s'", optarg);
            opts.max_fps = v;
            break;
        }
        case O_ALLOW_ORIGIN:
            if (strlen(origins) + strlen(optarg) + 2 > sizeof origins)
                return bad_usage("too many --allow-origin values (%s)", "4096 characters at most");
            if (origins[0])
                strcat(origins, ",");
            strcat(origins, optarg);
            break;
        case O_MAX_CLIENTS:
            if (parse_int(optarg, 1, 1024, &opts.max_clients))
                return bad_usage("--max-clients needs a number in 1..1024, not '%s'", optarg);
            break;
        case O_MAX_CLIENTS_PER_ADDRESS:
            if (parse_int(optarg, 0, 1024, &opts.max_clients_per_address))
                return bad_usage("--max-clients-per-address needs a number in 0..1024, not '%s'",
                                 optarg);
            break;
        case O_ACK_TIMEOUT:
            if (parse_int(optarg, 100, 3600000, &opts.ack_timeout_ms))
                return bad_usage("--ack-timeout-ms needs a number in 100..3600000, not '%s'",
                                 optarg);
            break;
        case O_HELP: usage(stdout); return 0;
        case O_VERSION: printf("streambridge-server %s\n", sb_version()); return 0;
        case ':':
            return bad_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            return bad_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return bad_usage("unexpected argument '%s'", argv[optind]);
    if (!name)
        return bad_usage("%s", "--name NAME is required");
    if (origins[0])
        opts.allowed_origins = origins;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    sb_frame_ring *ring = NULL;
    sb_event_queue *queue = NULL;
    if (attach_stream(name, wait, &ring, &queue) != SB_OK)
        return stop_requested ? 0 : 1;
    sb_server *srv = NULL;
    int rc = sb_server_create(ring, queue, &opts, &srv);
    if (rc != SB_OK) {
        fprintf(stderr, "streambridge-server: %s\n", sb_last_error());
        sb_event_queue_destroy(queue);
        sb_frame_ring_destroy(ring);
        /* Invalid option values are usage errors too. */
        return rc == SB_EINVAL ? 2 : 1;
    }
    /* Keep the port we got, so browsers reconnect to the same URL after a re-attach. */
    sb_server_get_port(srv, &opts.port);
    printf("streambridge-server: serving '%s' on http://%s:%d/\n", name,
           opts.bind_address ? opts.bind_address : "127.0.0.1", opts.port);
    fflush(stdout);

    int gone_logged = 0;
    while (!stop_requested) {
        sleep_ms(200);
        sb_frame_ring_stats rs = SB_FRAME_RING_STATS_INIT;
        sb_frame_ring_get_stats(ring, &rs);
        if (rs.writer_alive) {
            gone_logged = 0;
            continue;
        }
        if (!gone_logged) {
            fprintf(stderr, "streambridge-server: producer of '%s' is gone; waiting for a new one\n",
                    name);
            gone_logged = 1;
        }
        /* A new producer with the same name creates a new segment: attach it and swap. */
        sb_frame_ring *nring = NULL;
        if (sb_frame_ring_attach(name, &nring) != SB_OK)
            continue;
        sb_frame_ring_stats ns = SB_FRAME_RING_STATS_INIT;
        sb_frame_ring_get_stats(nring, &ns);
        if (!ns.writer_alive) {
            sb_frame_ring_destroy(nring);
            continue;
        }
        sb_event_queue *nqueue = NULL;
        if (sb_event_queue_attach(name, &nqueue) != SB_OK)
            nqueue = NULL;
        sb_server_destroy(srv);
        srv = NULL;
        sb_event_queue_destroy(queue);
        sb_frame_ring_destroy(ring);
        ring = nring;
        queue = nqueue;
        rc = sb_server_create(ring, queue, &opts, &srv);
        if (rc != SB_OK) {
            fprintf(stderr, "streambridge-server: cannot serve again: %s\n", sb_last_error());
            sb_event_queue_destroy(queue);
            sb_frame_ring_destroy(ring);
            return 1;
        }
        fprintf(stderr, "streambridge-server: re-attached to a new producer of '%s'\n", name);
        gone_logged = 0;
    }
    sb_server_destroy(srv);
    sb_event_queue_destroy(queue);
    sb_frame_ring_destroy(ring);
    return 0;
}
