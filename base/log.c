/* log.c - the log sink (streambridge/log.h): the default stderr line, or the application's
 * callback. */
#include "sb_error_internal.h"
#include "streambridge/log.h"

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

/* The callback and its user_data form a pair that changes together while library threads may
 * be logging. A seqlock keeps the read lock-free and never calls user code under a lock:
 * set_lock orders the (rare) writers; sink_seq is odd while a writer changes the pair, and a
 * reader retries until it read both words under one even, unchanged sequence. */
static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned sink_seq;
static _Atomic(sb_log_fn) sink_fn;
static _Atomic(void *) sink_user_data;

void sb_set_log_callback(sb_log_fn fn, void *user_data)
{
    pthread_mutex_lock(&set_lock);
    unsigned seq = atomic_load_explicit(&sink_seq, memory_order_relaxed);
    atomic_store_explicit(&sink_seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&sink_fn, fn, memory_order_relaxed);
    atomic_store_explicit(&sink_user_data, user_data, memory_order_relaxed);
    atomic_store_explicit(&sink_seq, seq + 2, memory_order_release);
    pthread_mutex_unlock(&set_lock);
}

static void load_sink(sb_log_fn *fn, void **user_data)
{
    for (;;) {
        unsigned before = atomic_load_explicit(&sink_seq, memory_order_acquire);
        if (before & 1u) {
            sched_yield(); /* a writer is between its two stores: a few instructions */
            continue;
        }
        *fn = atomic_load_explicit(&sink_fn, memory_order_relaxed);
        *user_data = atomic_load_explicit(&sink_user_data, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&sink_seq, memory_order_relaxed) == before)
            return;
    }
}

static void log_va(int level, const char *fmt, va_list ap)
{
    if (!fmt)
        return;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    sb_log_fn fn;
    void *user_data;
    load_sink(&fn, &user_data);
    if (fn)
        fn(level, line, user_data);
    else
        fprintf(stderr, "streambridge: %s\n", line); /* one write per line: no interleaving */
}

void sb_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_va(level, fmt, ap);
    va_end(ap);
}

void sb__log_at(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_va(level, fmt, ap);
    va_end(ap);
}

void sb__log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_va(SB_LOG_WARNING, fmt, ap);
    va_end(ap);
}
