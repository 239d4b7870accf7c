/* sb_samples.h - private: a window of the most recent SB_SAMPLES_MAX measurements (ms) and
 * their percentiles; the latency parts of /stats and sb_stream_stats are summarised with it.
 * Not thread-safe: the owner guards it. */
#ifndef SB_SAMPLES_H
#define SB_SAMPLES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SB_SAMPLES_MAX 256

typedef struct sb_samples {
    double v[SB_SAMPLES_MAX]; /* a ring: the newest SB_SAMPLES_MAX values */
    unsigned n;               /* values held, <= SB_SAMPLES_MAX */
    uint64_t count;           /* values ever added */
} sb_samples;

typedef struct sb_sample_summary {
    unsigned n; /* values summarised (0: every figure below is 0) */
    double p50, p90, p99, max;
} sb_sample_summary;

void sb__samples_add(sb_samples *s, double value);
/* Nearest-rank percentiles of the window (sorts a copy; s is unchanged). */
void sb__samples_summary(const sb_samples *s, sb_sample_summary *out);

#ifdef __cplusplus
}
#endif

#endif /* SB_SAMPLES_H */
