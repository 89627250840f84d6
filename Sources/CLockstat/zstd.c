#include "clockstat.h"
#include <stdlib.h>
#include <zstd.h>

/* ---- zstd ------------------------------------------------------------- */
struct ls_zstd { ZSTD_CCtx *c; ZSTD_DCtx *d; };

ls_zstd *ls_zstd_new(void) {
    ls_zstd *z = calloc(1, sizeof *z);
    if (!z) return NULL;
    z->c = ZSTD_createCCtx();
    z->d = ZSTD_createDCtx();
    ZSTD_DCtx_setParameter(z->d, ZSTD_d_windowLogMax, 27);
    return z;
}

void ls_zstd_free(ls_zstd *z) {
    if (!z) return;
    ZSTD_freeCCtx(z->c);
    ZSTD_freeDCtx(z->d);
    free(z);
}

size_t ls_zstd_bound(size_t len) { return ZSTD_compressBound(len); }

static int window_log(size_t bytes) {
    int log = 20;
    while (log < 27 && ((size_t)1 << log) < bytes) log++;
    return log;
}

size_t ls_zstd_compress(ls_zstd *z, void *dst, size_t cap, const void *src, size_t len, const void *prefix, size_t prefix_len, int level) {
    ZSTD_CCtx_reset(z->c, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(z->c, ZSTD_c_compressionLevel, level);
    /* The window must reach back over the whole previous snapshot. */
    ZSTD_CCtx_setParameter(z->c, ZSTD_c_windowLog, window_log(prefix_len + len));
    if (prefix && prefix_len) ZSTD_CCtx_refPrefix(z->c, prefix, prefix_len);
    size_t r = ZSTD_compress2(z->c, dst, cap, src, len);
    return ZSTD_isError(r) ? 0 : r;
}

long long ls_zstd_content_size(const void *src, size_t len) {
    unsigned long long n = ZSTD_getFrameContentSize(src, len);
    return (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN) ? -1 : (long long)n;
}

long long ls_zstd_decompress(ls_zstd *z, void *dst, size_t cap, const void *src, size_t len, const void *prefix, size_t prefix_len) {
    ZSTD_DCtx_reset(z->d, ZSTD_reset_session_only);
    if (prefix && prefix_len) ZSTD_DCtx_refPrefix(z->d, prefix, prefix_len);
    size_t r = ZSTD_decompressDCtx(z->d, dst, cap, src, len);
    return ZSTD_isError(r) ? -1 : (long long)r;
}
