/* samples.c - see sb_samples.h. */
#include "sb_samples.h"

#include <stdlib.h>
#include <string.h>

void sb__samples_add(sb_samples *s, double value)
{
    s->v[s->count % SB_SAMPLES_MAX] = value;
    s->count++;
    if (s->n < SB_SAMPLES_MAX)
        s->n++;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The value at rank ceil(q * n) (1-based) of n sorted values. */
static double rank(const double *sorted, unsigned n, double q)
{
    unsigned r = (unsigned)(q * n + 0.999999);
    if (r < 1)
        r = 1;
    if (r > n)
        r = n;
    return sorted[r - 1];
}

void sb__samples_summary(const sb_samples *s, sb_sample_summary *out)
{
    memset(out, 0, sizeof *out);
    if (s->n == 0)
        return;
    double sorted[SB_SAMPLES_MAX];
    memcpy(sorted, s->v, s->n * sizeof sorted[0]);
    qsort(sorted, s->n, sizeof sorted[0], cmp_double);
    out->n = s->n;
    out->p50 = rank(sorted, s->n, 0.50);
    out->p90 = rank(sorted, s->n, 0.90);
    out->p99 = rank(sorted, s->n, 0.99);
    out->max = sorted[s->n - 1];
}
