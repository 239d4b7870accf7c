/* bench_video_scene.h - the rotating demo scene of bench_video: a demo scene (sb_demo_scenes) in
 * the demo's own window setup, offscreen, streamed through the public C API without a server;
 * each step turns the camera and renders, and the frame the stream's capture committed to its
 * frame ring is copied out: exactly the pixels streambridge would encode and send. C interface
 * (bench_video.c is C), C++ inside (bench_video_scene.cxx). */
#ifndef SB_BENCH_VIDEO_SCENE_H
#define SB_BENCH_VIDEO_SCENE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One captured frame, rows packed (stride = width * pixel size), as the ring held it. */
typedef struct bv_frame {
    uint8_t *pixels; /* malloc'd; bv_frame_free */
    uint32_t width, height, stride, format; /* format: sb_pixel_format */
    bool bottom_up;
} bv_frame;

typedef struct bv_scene bv_scene;

/* The scene name ("basic" | "science") at width x height, rendered once; NULL with the reason
 * in why. */
bv_scene *bv_scene_open(const char *name, uint32_t width, uint32_t height, char *why,
                        size_t why_len);
/* Turns the camera degrees about the view up (azimuth), renders, and copies the newest frame of
 * the stream's ring into *out (its pixels reused when the size matches). false on failure. */
bool bv_scene_step(bv_scene *s, double degrees, bv_frame *out);
void bv_scene_close(bv_scene *s);
void bv_frame_free(bv_frame *f);

#ifdef __cplusplus
}
#endif

#endif /* SB_BENCH_VIDEO_SCENE_H */
