/*
 * zs.c - zlib and zstd contexts with message-boundary bookkeeping.
 *
 * Decompression runs as the bytes arrive (never on a buffered compressed
 * message), so memory is the context plus one output chunk on the stack,
 * whatever the message size; the caller's sink decides what to keep. The
 * zlib-stream boundary is tracked with a 4-byte tail of the compressed input
 * rather than by looking at the WS message, because a flush may straddle two
 * reads and, per discord-wire.md open question 3, possibly two messages.
 */
#include "zs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
/* For ZSTD_createDStream_advanced and ZSTD_customMem, stable since zstd
 * 1.3 and exported by the shared library. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

static const uint8_t zs_flush_marker[4] = {0x00, 0x00, 0xff, 0xff};

/* Each block carries its size in front, so the free can wipe it whole;
 * ZS_WIPING_HEAD keeps the caller's part aligned as malloc's is. */
#define ZS_WIPING_HEAD 16

void *zs_wiping_alloc(void *opaque, size_t size)
{
    uint8_t *p = NULL;

    (void)opaque;
    if (size <= SIZE_MAX - ZS_WIPING_HEAD)
        p = malloc(ZS_WIPING_HEAD + size);
    if (p == NULL)
        return NULL;
    memcpy(p, &size, sizeof(size));
    return p + ZS_WIPING_HEAD;
}

void zs_wiping_free(void *opaque, void *ptr)
{
    uint8_t *p = ptr;
    size_t size;

    (void)opaque;
    if (p == NULL)
        return;
    p -= ZS_WIPING_HEAD;
    memcpy(&size, p, sizeof(size));
    explicit_bzero(p, ZS_WIPING_HEAD + size);
    free(p);
}

static voidpf zs_zlib_alloc(voidpf opaque, uInt items, uInt size)
{
    if (size != 0 && items > SIZE_MAX / size)
        return Z_NULL;
    return zs_wiping_alloc(opaque, (size_t)items * size);
}

static void zs_zlib_free(voidpf opaque, voidpf p)
{
    zs_wiping_free(opaque, p);
}

void zs_wiping_zlib(z_stream *z)
{
    z->zalloc = zs_zlib_alloc;
    z->zfree = zs_zlib_free;
    z->opaque = Z_NULL;
}

void *zs_wiping_zstd_create(void)
{
    ZSTD_customMem mem = {zs_wiping_alloc, zs_wiping_free, NULL};
    return ZSTD_createDStream_advanced(mem);
}

int zs_init(struct zs *s, enum zs_mode mode, bool no_context_takeover)
{
    int rc = 0;

    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->no_context_takeover = no_context_takeover;
    switch (mode) {
    case ZS_ZLIB_STREAM:
    case ZS_ZLIB_MESSAGE:
    case ZS_PMD:
        /* zlib-stream is inflated raw after its 2-byte header (see
         * zlib_stream_header): the stream never ends, so its Adler-32 would
         * never be checked, and computing it was 16% of decode time. */
        zs_wiping_zlib(&s->z);
        if (inflateInit2(&s->z, mode == ZS_ZLIB_MESSAGE ? 15 : -15) != Z_OK) {
            rc = -ENOMEM;
            goto out;
        }
        s->z_ready = true;
        break;
    case ZS_ZSTD_STREAM:
        s->zstd = zs_wiping_zstd_create();
        if (s->zstd == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        ZSTD_initDStream(s->zstd);
        break;
    case ZS_NONE:
        break;
    }
out:
    return rc;
}

void zs_fini(struct zs *s)
{
    if (s->z_ready)
        inflateEnd(&s->z);
    if (s->zstd != NULL)
        ZSTD_freeDStream(s->zstd);
    memset(s, 0, sizeof(*s));
}

static void remember_tail(struct zs *s, const uint8_t *in, size_t len)
{
    if (len >= 4) {
        memcpy(s->tail, in + len - 4, 4);
        s->tail_len = 4;
        return;
    }
    size_t keep = s->tail_len + len > 4 ? 4 - len : s->tail_len;
    memmove(s->tail, s->tail + s->tail_len - keep, keep);
    memcpy(s->tail + keep, in, len);
    s->tail_len = (uint8_t)(keep + len);
}

/* RFC 1950 §2.2: CM = 8 (deflate), a window of at most 32 KiB, no preset
 * dictionary, and the check bits. */
static bool zlib_header_ok(const uint8_t h[2])
{
    return (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && (h[1] & 0x20) == 0 &&
           ((unsigned)h[0] << 8 | h[1]) % 31 == 0;
}

static enum zs_status inflate_some(struct zs *s, const uint8_t *in, size_t len, zs_sink_fn sink,
                                   void *arg)
{
    uint8_t out[ZS_OUT_CHUNK];

    if (len == 0)
        return ZS_OK;
    if (s->ended)
        return ZS_ERROR; /* bytes after the end of a stream that never ends */
    s->z.next_in = (Bytef *)(uintptr_t)in;
    s->z.avail_in = (uInt)len;
    for (;;) {
        s->z.next_out = out;
        s->z.avail_out = sizeof(out);
        int zr = inflate(&s->z, Z_SYNC_FLUSH);
        size_t produced = sizeof(out) - s->z.avail_out;
        if (produced > 0 && sink(arg, out, produced) != 0)
            return ZS_STOPPED;
        if (zr == Z_STREAM_END) {
            s->ended = true;
            return s->z.avail_in == 0 ? ZS_OK : ZS_ERROR;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return ZS_ERROR;
        if (s->z.avail_in == 0 && s->z.avail_out != 0)
            return ZS_OK;
        if (zr == Z_BUF_ERROR && produced == 0)
            return ZS_OK;
    }
}

static enum zs_status zstd_some(struct zs *s, const uint8_t *in, size_t len, zs_sink_fn sink,
                                void *arg)
{
    uint8_t out[ZS_OUT_CHUNK];
    ZSTD_inBuffer ib = {in, len, 0};

    for (;;) {
        ZSTD_outBuffer ob = {out, sizeof(out), 0};
        size_t r = ZSTD_decompressStream(s->zstd, &ob, &ib);
        if (ZSTD_isError(r))
            return ZS_ERROR;
        if (ob.pos > 0 && sink(arg, out, ob.pos) != 0)
            return ZS_STOPPED;
        /* A full output buffer may leave decoded bytes inside zstd. */
        if (ib.pos == ib.size && ob.pos < ob.size)
            return ZS_OK;
    }
}

enum zs_status zs_feed(struct zs *s, const uint8_t *in, size_t len, zs_sink_fn sink, void *arg)
{
    switch (s->mode) {
    case ZS_ZLIB_STREAM:
        remember_tail(s, in, len);
        while (s->header_seen < 2 && len > 0) {
            s->header[s->header_seen++] = *in++;
            len--;
            if (s->header_seen == 2 && !zlib_header_ok(s->header))
                return ZS_ERROR;
        }
        return inflate_some(s, in, len, sink, arg);
    case ZS_ZLIB_MESSAGE:
    case ZS_PMD:
        return inflate_some(s, in, len, sink, arg);
    case ZS_ZSTD_STREAM:
        return zstd_some(s, in, len, sink, arg);
    case ZS_NONE:
        return len == 0 || sink(arg, in, len) == 0 ? ZS_OK : ZS_STOPPED;
    }
    return ZS_ERROR;
}

enum zs_status zs_end_message(struct zs *s, zs_sink_fn sink, void *arg)
{
    enum zs_status st = ZS_COMPLETE;

    switch (s->mode) {
    case ZS_ZLIB_STREAM:
        if (s->tail_len < 4 || memcmp(s->tail, zs_flush_marker, 4) != 0)
            st = ZS_OK;
        break;
    case ZS_PMD:
        /* RFC 7692 §7.2.2: append the stripped 00 00 ff ff, inflate. A
         * sender that ended the DEFLATE stream (BFINAL) has nothing to
         * flush; the context then restarts for the next message. */
        if (!s->ended) {
            st = inflate_some(s, zs_flush_marker, sizeof(zs_flush_marker), sink, arg);
            if (st == ZS_OK)
                st = ZS_COMPLETE;
        }
        if (s->no_context_takeover || s->ended) {
            inflateReset(&s->z);
            s->ended = false;
        }
        break;
    case ZS_ZLIB_MESSAGE:
        inflateReset(&s->z);
        s->ended = false;
        break;
    case ZS_ZSTD_STREAM:
    case ZS_NONE:
        break;
    }
    return st;
}
