/* streambridge/events.h - the interaction event record and its ids.
 *
 * These constants are the one definition of event ids for the C library, the shm layout and
 * the wire protocol (docs/wire-protocol.md). Values never change; new ones are appended. */
#ifndef STREAMBRIDGE_EVENTS_H
#define STREAMBRIDGE_EVENTS_H

#include "streambridge/common.h"

SB_BEGIN_DECLS

typedef enum sb_event_type {
    SB_EVENT_NONE = 0,
    SB_EVENT_POINTER_MOVE = 1,
    SB_EVENT_BUTTON_PRESS = 2,
    SB_EVENT_BUTTON_RELEASE = 3,
    SB_EVENT_WHEEL = 4,
    SB_EVENT_KEY_PRESS = 5,
    SB_EVENT_KEY_RELEASE = 6,
    SB_EVENT_CHAR = 7,
    SB_EVENT_RESIZE = 8,
    SB_EVENT_TYPE_COUNT /* one past the last valid id */
} sb_event_type;

typedef enum sb_button {
    SB_BUTTON_NONE = 0,
    SB_BUTTON_LEFT = 1,
    SB_BUTTON_MIDDLE = 2,
    SB_BUTTON_RIGHT = 3
} sb_button;

/* Modifier bitmask (sb_event.modifiers). */
enum {
    SB_MOD_SHIFT = 1u << 0,
    SB_MOD_CTRL = 1u << 1,
    SB_MOD_ALT = 1u << 2,
    SB_MOD_META = 1u << 3
};
#define SB_MOD_ALL (SB_MOD_SHIFT | SB_MOD_CTRL | SB_MOD_ALT | SB_MOD_META)

/* Capacity of sb_event.keysym, including the terminating NUL. */
#define SB_KEYSYM_MAX 32

/* One interaction event: a fixed-size (80 bytes) binary record, identical in memory, in the heap
 * queue and in the shm queue. Coordinates are frame pixels with the origin at the TOP-LEFT
 * corner (browser convention); the replay flips y for VTK. */
typedef struct sb_event {
    uint32_t type;          /* sb_event_type */
    uint32_t button;        /* sb_button: press/release; buttons held for moves (0 = none) */
    uint32_t modifiers;     /* SB_MOD_* bitmask */
    uint32_t key_code;      /* key/char events: Unicode code point of the character, 0 if none */
    int32_t x, y;           /* pointer position in frame pixels, top-left origin */
    int32_t width, height;  /* SB_EVENT_RESIZE: requested frame size in pixels */
    float wheel_delta;      /* SB_EVENT_WHEEL: > 0 forward (zoom in), < 0 backward; in notches */
    uint32_t producer_id;   /* which producer pushed it (e.g. a client id); ordering is per producer */
    uint64_t timestamp_ns;  /* the producer's timestamp, CLOCK_REALTIME ns: when the event
                             * entered streambridge. The server puts its receive time here (not
                             * the browser's clock). Carried to the frame that shows the event
                             * (sb_frame_info.input_ns) for the latency figures; 0 = unknown. */
    char keysym[SB_KEYSYM_MAX]; /* key events: NUL-terminated X11 keysym name ("a", "Left", "Escape") */
} sb_event;

/* Human name of an event type ("pointer_move"); "invalid" for unknown ids. Static string. */
SB_API const char *sb_event_type_name(uint32_t type);
/* SB_OK when e is a well-formed event (known type, known button, known modifiers, NUL-terminated
 * keysym, sane sizes); SB_EINVAL with sb_last_error() set otherwise. Any thread. */
SB_API int sb_event_validate(const sb_event *e);

SB_END_DECLS
#endif /* STREAMBRIDGE_EVENTS_H */
