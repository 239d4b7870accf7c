/* Uses the installed package: version, errors, the log callback, and a heap frame ring round
 * trip with its versioned stats. */
#include <streambridge/streambridge.h>
#include <stdio.h>
#include <string.h>

static void count_messages(int level, const char *message, void *user_data)
{
    (void)level, (void)message;
    ++*(int *)user_data;
}

int main(void)
{
    int messages = 0;
    sb_set_log_callback(count_messages, &messages);
    sb_log(SB_LOG_INFO, "consumer %d", 1);
    sb_set_log_callback(NULL, NULL);
    if (messages != 1) {
        fprintf(stderr, "the log callback got %d messages, not 1\n", messages);
        return 1;
    }
    if (sb_version_number() != SB_VERSION_NUMBER) {
        fprintf(stderr, "header/library version mismatch: %s\n", sb_version());
        return 1;
    }
    sb_frame_ring_options o = SB_FRAME_RING_OPTIONS_INIT;
    o.max_width = 64;
    o.max_height = 64;
    sb_frame_ring *ring = NULL;
    if (sb_frame_ring_create(&o, &ring) != SB_OK) {
        fprintf(stderr, "create: %s\n", sb_last_error());
        return 1;
    }
    unsigned char px[16 * 16 * 4];
    memset(px, 7, sizeof px);
    sb_frame_info info = {0};
    info.width = 16;
    info.height = 16;
    info.format = SB_PIXEL_RGBA;
    uint64_t seq = 0;
    int rc = sb_frame_ring_publish(ring, &info, px, 16 * 4, &seq);
    sb_frame f;
    if (rc == SB_OK)
        rc = sb_frame_ring_acquire(ring, &f);
    if (rc == SB_OK) {
        rc = (f.info.width == 16 && f.pixels[0] == 7) ? SB_OK : SB_EINTERNAL;
        int rel = sb_frame_ring_release(ring, &f);
        if (rc == SB_OK)
            rc = rel;
    }
    sb_frame_ring_stats st = SB_FRAME_RING_STATS_INIT;
    if (rc == SB_OK)
        rc = sb_frame_ring_get_stats(ring, &st);
    if (rc == SB_OK && st.published != 1)
        rc = SB_EINTERNAL;
    sb_frame_ring_destroy(ring);
    printf("consumer: streambridge %s, round trip %s\n", sb_version(), sb_err_name(rc));
    return rc == SB_OK ? 0 : 1;
}
