/*
 * zs.h - decompression of WebSocket message payloads, one context per
 * connection direction.
 *
 * Owns a zlib or zstd decompression context and the little state needed to
 * find message ends. Modes:
 *   ZS_ZLIB_STREAM  gateway ?compress=zlib-stream: one zlib stream for the
 *                   whole connection; a gateway message is complete when the
 *                   compressed bytes so far end in 00 00 ff ff (a
 *                   Z_SYNC_FLUSH), which may span several WS messages.
 *   ZS_ZSTD_STREAM  gateway ?compress=zstd-stream: one zstd stream; each WS
 *                   message decodes to exactly one gateway message, without
 *                   ending a zstd frame.
 *   ZS_ZLIB_MESSAGE IDENTIFY "compress":true without transport compression:
 *                   each binary message is a standalone zlib stream.
 *   ZS_PMD          permessage-deflate (RFC 7692 §7.2.2): raw DEFLATE per
 *                   message with the 00 00 ff ff tail stripped; the window
 *                   carries over unless no_context_takeover was agreed.
 *
 * Output goes to a sink callback in chunks of at most ZS_OUT_CHUNK bytes. A
 * sink that returns non-zero stops decompression with ZS_STOPPED; the input
 * was then only partly consumed, so a stream mode cannot continue and the
 * caller abandons the connection. (The pipeline's sink never stops: past the
 * message cap it drops output but lets the stream run, to stay in sync.)
 *
 * Threads: the decode thread. zs_init allocates the context (returns 0 or
 * -ENOMEM; zs_fini is safe after a failed or no init), zs_fini frees it.
 */
#ifndef ARGUS_ZS_H
#define ARGUS_ZS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#define ZS_OUT_CHUNK 32768

enum zs_mode {
    ZS_NONE = 0,
    ZS_ZLIB_STREAM,
    ZS_ZSTD_STREAM,
    ZS_ZLIB_MESSAGE,
    ZS_PMD,
};

enum zs_status {
    ZS_OK,       /* input consumed; the gateway message is not complete yet */
    ZS_COMPLETE, /* zs_end_message: a whole gateway message has been output */
    ZS_STOPPED,  /* the sink returned non-zero */
    ZS_ERROR,    /* corrupt input; the context is unusable */
};

/* Returns 0 to continue, non-zero to stop. */
typedef int (*zs_sink_fn)(void *arg, const uint8_t *data, size_t len);

/* Memory for decompression contexts that is wiped when freed: a context's
 * window holds the last inflated bytes (message content, tokens), and zlib,
 * zstd and brotli free theirs as is (issue 14, secrets at rest). Any thread.
 * zs_wiping_alloc returns NULL on failure; zs_wiping_free accepts NULL. The
 * signature is zstd's and brotli's allocator pair (opaque unused). */
void *zs_wiping_alloc(void *opaque, size_t size);
void zs_wiping_free(void *opaque, void *p);
/* Before inflateInit2(z, ...): its allocations go through the pair above. */
void zs_wiping_zlib(z_stream *z);
/* A ZSTD_DStream allocated through the pair above (ZSTD_freeDStream frees
 * it); NULL on failure. */
void *zs_wiping_zstd_create(void);

struct zs {
    enum zs_mode mode;
    bool no_context_takeover; /* ZS_PMD only */
    bool z_ready;
    bool ended; /* the zlib stream reached its end */
    z_stream z;
    void *zstd;      /* ZSTD_DStream */
    uint8_t tail[4]; /* last compressed bytes seen (zlib-stream flush marker) */
    uint8_t tail_len;
    uint8_t header[2]; /* zlib-stream: the zlib header, checked then skipped */
    uint8_t header_seen;
};

int zs_init(struct zs *s, enum zs_mode mode, bool no_context_takeover);
void zs_fini(struct zs *s);

/* Decompresses one piece of a WS message's payload. */
enum zs_status zs_feed(struct zs *s, const uint8_t *in, size_t len, zs_sink_fn sink, void *arg);

/* The WS message ended. Returns ZS_COMPLETE when a gateway message is now
 * complete (always, except for a zlib-stream message that did not end on a
 * flush), ZS_OK when it continues in the next WS message, or an error. */
enum zs_status zs_end_message(struct zs *s, zs_sink_fn sink, void *arg);

#endif
