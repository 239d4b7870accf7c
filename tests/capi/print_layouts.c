/* print_layouts.c - prints the size and field offsets of the public structs that
 * examples/python/streambridge_ctypes.py mirrors, one "struct field offset" line each ("struct
 * sizeof N" for the size), for check_ctypes_layouts.py to compare with the ctypes mirrors. */
#include <streambridge/streambridge.h>

#include <stddef.h>
#include <stdio.h>

#define FIELD(type, field) printf(#type " " #field " %zu\n", offsetof(type, field));
#define SIZE(type) printf(#type " sizeof %zu\n", sizeof(type));
#define CONSTANT(name) printf("constants " #name " %d\n", (int)(name));

int main(void)
{
    /* The versions the mirrors claim to be. */
    CONSTANT(SB_SERVER_OPTIONS_VERSION)
    CONSTANT(SB_STREAM_OPTIONS_VERSION)
    CONSTANT(SB_STREAM_STATS_VERSION)
    SIZE(sb_server_options)
    FIELD(sb_server_options, version)
    FIELD(sb_server_options, bind_address)
    FIELD(sb_server_options, port)
    FIELD(sb_server_options, jpeg_quality_interactive)
    FIELD(sb_server_options, jpeg_quality_still)
    FIELD(sb_server_options, still_delay_ms)
    FIELD(sb_server_options, max_fps)
    FIELD(sb_server_options, access_token)
    FIELD(sb_server_options, allowed_origins)
    FIELD(sb_server_options, max_clients)
    FIELD(sb_server_options, max_message_bytes)
    FIELD(sb_server_options, max_events_per_second)
    FIELD(sb_server_options, num_threads)
    FIELD(sb_server_options, send_timeout_ms)
    FIELD(sb_server_options, max_clients_per_address)
    FIELD(sb_server_options, ack_timeout_ms)
    FIELD(sb_server_options, video_codecs)
    FIELD(sb_server_options, default_codec)
    FIELD(sb_server_options, video_crf)
    FIELD(sb_server_options, video_max_kbps)
    FIELD(sb_server_options, keyframe_min_interval_ms)
    FIELD(sb_server_options, keyframe_interval_ms)

    SIZE(sb_stream_options)
    FIELD(sb_stream_options, version)
    FIELD(sb_stream_options, max_width)
    FIELD(sb_stream_options, max_height)
    FIELD(sb_stream_options, buffer_count)
    FIELD(sb_stream_options, shm_name)
    FIELD(sb_stream_options, serve)
    FIELD(sb_stream_options, timer_interval_ms)
    FIELD(sb_stream_options, allow_remote_exit)
    FIELD(sb_stream_options, readback)
    FIELD(sb_stream_options, server)

    SIZE(sb_stream_stats)
    FIELD(sb_stream_stats, version)
    FIELD(sb_stream_stats, frames_captured)
    FIELD(sb_stream_stats, frames_refused_too_big)
    FIELD(sb_stream_stats, events_replayed)
    FIELD(sb_stream_stats, events_invalid)
    FIELD(sb_stream_stats, renders_requested)
    FIELD(sb_stream_stats, capture_ms_mean)
    FIELD(sb_stream_stats, render_ms_p50)
    FIELD(sb_stream_stats, render_ms_p99)
    FIELD(sb_stream_stats, input_to_publish_ms_p50)
    FIELD(sb_stream_stats, input_to_publish_ms_p99)

    SIZE(sb_frame_info)
    FIELD(sb_frame_info, seq)
    FIELD(sb_frame_info, width)
    FIELD(sb_frame_info, height)
    FIELD(sb_frame_info, stride)
    FIELD(sb_frame_info, format)
    FIELD(sb_frame_info, bottom_up)
    FIELD(sb_frame_info, reserved_)
    FIELD(sb_frame_info, capture_ns)
    FIELD(sb_frame_info, input_ns)
    FIELD(sb_frame_info, replay_ns)
    FIELD(sb_frame_info, render_start_ns)
    FIELD(sb_frame_info, render_end_ns)

    SIZE(sb_frame)
    FIELD(sb_frame, info)
    FIELD(sb_frame, pixels)
    FIELD(sb_frame, slot_)
    FIELD(sb_frame, gen_)

    SIZE(sb_event)
    FIELD(sb_event, type)
    FIELD(sb_event, button)
    FIELD(sb_event, modifiers)
    FIELD(sb_event, key_code)
    FIELD(sb_event, x)
    FIELD(sb_event, y)
    FIELD(sb_event, width)
    FIELD(sb_event, height)
    FIELD(sb_event, wheel_delta)
    FIELD(sb_event, producer_id)
    FIELD(sb_event, timestamp_ns)
    FIELD(sb_event, keysym)
    return 0;
}
