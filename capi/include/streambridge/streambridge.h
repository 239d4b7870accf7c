/* streambridge.h - the umbrella header: everything public. */
#ifndef STREAMBRIDGE_H
#define STREAMBRIDGE_H

#include "streambridge/common.h"
#include "streambridge/version.h"
#include "streambridge/error.h"
#include "streambridge/log.h"
#include "streambridge/events.h"
#include "streambridge/frame_ring.h"
#include "streambridge/event_queue.h"
#include "streambridge/server.h"
#include "streambridge/stream.h"

#endif /* STREAMBRIDGE_H */
