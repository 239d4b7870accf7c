/* library_anchor.c - libstreambridge.so is the union of the layer archives (see the top-level
 * CMakeLists.txt); CMake needs at least one source of its own for the shared library. */
#include "streambridge/version.h"
