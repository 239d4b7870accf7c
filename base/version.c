/* version.c - run-time version of the loaded library. */
#include "streambridge/version.h"

#define SB__STR2(x) #x
#define SB__STR(x) SB__STR2(x)

const char *sb_version(void)
{
    return SB__STR(SB_VERSION_MAJOR) "." SB__STR(SB_VERSION_MINOR) "." SB__STR(SB_VERSION_PATCH);
}

int sb_version_number(void)
{
    return SB_VERSION_NUMBER;
}
