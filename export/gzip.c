/*
 * gzip.c - deflate with zlib's gzip wrapper, in one call.
 *
 * The output buffer is sized with deflateBound, so a single deflate(Z_FINISH)
 * always completes: bodies are at most a few MiB (the sender refuses more
 * than 64 MiB before getting here), and a streaming loop would only add a
 * path no input reaches.
 */
#include "gzip.h"

#include <errno.h>
#include <stdlib.h>
#include <zlib.h>

int gzip_compress(const void *in, size_t len, uint8_t **out, size_t *out_len)
{
    z_stream z = {0};
    uint8_t *buf = NULL;
    int rc = -ENOMEM;

    *out = NULL;
    *out_len = 0;
    /* 15 + 16: a gzip wrapper rather than zlib's (RFC 1952). */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return rc;
    uLong bound = deflateBound(&z, (uLong)len);
    buf = malloc(bound);
    if (buf == NULL)
        goto out;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)bound;
    rc = -EIO;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        goto out;
    *out = buf;
    *out_len = z.total_out;
    buf = NULL;
    rc = 0;
out:
    deflateEnd(&z);
    free(buf);
    return rc;
}
