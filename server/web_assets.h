/* web_assets.h - the browser client, embedded at build time (server/embed_web_assets.cmake
 * generates sb_web_assets.c from server/web/). Nothing is ever served from disk. */
#ifndef SB_WEB_ASSETS_H
#define SB_WEB_ASSETS_H

#include <stddef.h>

typedef struct sb_web_asset {
    const char *path;         /* URL path, e.g. "/client.js" ("/" for index.html) */
    const char *content_type;
    const unsigned char *data;
    size_t size;
} sb_web_asset;

extern const sb_web_asset sb__web_assets[];
extern const size_t sb__web_asset_count;

#endif /* SB_WEB_ASSETS_H */
