/* streambridge/version.h - compile-time and run-time version. */
#ifndef STREAMBRIDGE_VERSION_H
#define STREAMBRIDGE_VERSION_H

#include "streambridge/common.h"

#define SB_VERSION_MAJOR 0
#define SB_VERSION_MINOR 2
#define SB_VERSION_PATCH 0
/* One comparable number: 0xMMmmpp. */
#define SB_VERSION_NUMBER ((SB_VERSION_MAJOR << 16) | (SB_VERSION_MINOR << 8) | SB_VERSION_PATCH)

SB_BEGIN_DECLS

/* "MAJOR.MINOR.PATCH" of the library actually loaded. Static string, never NULL. Any thread. */
SB_API const char *sb_version(void);
/* SB_VERSION_NUMBER of the library actually loaded. Any thread. */
SB_API int sb_version_number(void);

SB_END_DECLS
#endif /* STREAMBRIDGE_VERSION_H */
