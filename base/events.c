/* events.c - names and validation of sb_event records (shared by the queue, the server's
 * message parser and the replay). */
#include "streambridge/events.h"

#include "sb_error_internal.h"

#include <string.h>

const char *sb_event_type_name(uint32_t type)
{
    static const char *const names[SB_EVENT_TYPE_COUNT] = {
        "none",        "pointer_move", "button_press", "button_release", "wheel",
        "key_press",   "key_release",  "char",         "resize",
    };
    return type < SB_EVENT_TYPE_COUNT ? names[type] : "invalid";
}

int sb_event_validate(const sb_event *e)
{
    if (!e)
        return SB_FAIL(SB_EINVAL, "event is NULL");
    if (e->type == SB_EVENT_NONE || e->type >= SB_EVENT_TYPE_COUNT)
        return SB_FAIL(SB_EINVAL, "unknown event type %u", e->type);
    if (e->button > SB_BUTTON_RIGHT)
        return SB_FAIL(SB_EINVAL, "unknown button %u", e->button);
    if ((e->type == SB_EVENT_BUTTON_PRESS || e->type == SB_EVENT_BUTTON_RELEASE) &&
        e->button == SB_BUTTON_NONE)
        return SB_FAIL(SB_EINVAL, "%s without a button", sb_event_type_name(e->type));
    if (e->modifiers & ~(uint32_t)SB_MOD_ALL)
        return SB_FAIL(SB_EINVAL, "unknown modifier bits 0x%x", e->modifiers);
    if (e->x < -SB_MAX_FRAME_SIDE || e->x > SB_MAX_FRAME_SIDE || e->y < -SB_MAX_FRAME_SIDE ||
        e->y > SB_MAX_FRAME_SIDE)
        return SB_FAIL(SB_EINVAL, "position (%d, %d) out of range", e->x, e->y);
    if (e->type == SB_EVENT_RESIZE &&
        (e->width < 1 || e->height < 1 || e->width > SB_MAX_FRAME_SIDE ||
         e->height > SB_MAX_FRAME_SIDE))
        return SB_FAIL(SB_EINVAL, "resize to %dx%d out of range", e->width, e->height);
    if (e->type == SB_EVENT_WHEEL && !(e->wheel_delta == e->wheel_delta && e->wheel_delta != 0.0f &&
                                       e->wheel_delta > -1000.0f && e->wheel_delta < 1000.0f))
        return SB_FAIL(SB_EINVAL, "wheel delta must be a finite non-zero number");
    if (memchr(e->keysym, '\0', sizeof e->keysym) == NULL)
        return SB_FAIL(SB_EINVAL, "keysym is not NUL-terminated within %d bytes", SB_KEYSYM_MAX);
    if (e->key_code > 0x10FFFF)
        return SB_FAIL(SB_EINVAL, "key code 0x%x is not a Unicode code point", e->key_code);
    return SB_OK;
}
