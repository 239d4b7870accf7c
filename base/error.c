/* error.c - the error table's functions and the thread-local last-error slot. */
#include "sb_error_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* 512 bytes is enough for a function name plus a sentence with a few numbers and a path. */
static _Thread_local char last_error[512];

const char *sb_strerror(int err)
{
    switch (err) {
#define SB__ERR_TEXT(name, value, text) \
    case SB_##name: return text;
        SB_ERRNO_MAP(SB__ERR_TEXT)
#undef SB__ERR_TEXT
    default: return "unknown error";
    }
}

const char *sb_err_name(int err)
{
    switch (err) {
#define SB__ERR_NAME(name, value, text) \
    case SB_##name: return "SB_" #name;
        SB_ERRNO_MAP(SB__ERR_NAME)
#undef SB__ERR_NAME
    default: return "SB_E?";
    }
}

const char *sb_last_error(void)
{
    return last_error;
}

void sb_clear_error(void)
{
    last_error[0] = '\0';
}

int sb__set_error(int code, const char *func, const char *fmt, ...)
{
    int n = snprintf(last_error, sizeof last_error, "%s(): ", func ? func : "?");
    if (n < 0 || (size_t)n >= sizeof last_error)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}
