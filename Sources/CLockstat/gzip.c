#include "clockstat.h"
#include <string.h>
#include <zlib.h>

size_t ls_gzip_bound(size_t len) {
    /* deflateBound for the default settings, plus the gzip header and trailer (18 bytes). */
    return len + (len >> 12) + (len >> 14) + (len >> 25) + 13 + 18 + 64;
}

long ls_gzip(const void *src, size_t len, void *dst, size_t capacity) {
    z_stream z;
    memset(&z, 0, sizeof z);
    /* 15 + 16: a gzip wrapper (RFC 1952) around the deflate stream, as pprof reads it. */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    z.next_in = (Bytef *)src;
    z.avail_in = (uInt)len;
    z.next_out = dst;
    z.avail_out = (uInt)capacity;
    int rc = deflate(&z, Z_FINISH);
    long written = (long)z.total_out;
    deflateEnd(&z);
    return rc == Z_STREAM_END ? written : -1;
}
