/*
 * wsmsg.h - one direction of an upgraded connection: WebSocket frames in,
 * whole decompressed messages out.
 *
 * A struct wsmsg owns the frame decoder (ws.h), the decompression contexts
 * (zs.h: permessage-deflate when negotiated, and the gateway's transport
 * compression for binary messages) and the buffer a message is assembled
 * in. It promises:
 *   - compressed bytes are never buffered: they are decompressed as they
 *     arrive and only the decompressed message is kept;
 *   - bounded memory: a message keeps at most max_message bytes. A longer
 *     one (say a compression bomb) is never handed out, not even its
 *     prefix: the stream is still decompressed to its end (a zlib stream
 *     cannot skip), the bytes are dropped and wiped, and the message is
 *     reported as WSMSG_DROPPED, so the next message decodes as usual;
 *   - close frames are reported with their status code (RFC 6455 §7.1.5:
 *     1005 when the frame has none); pings and pongs are consumed;
 *   - any byte sequence is safe: bad framing or a corrupt compressed stream
 *     is WSMSG_ERROR, after which the direction cannot resume (a compressed
 *     stream has no sync points): destroy it.
 *
 * Shape (style.md, "Streaming decoders"): wsmsg_feed() in a loop until it
 * has consumed its input, acting on each status. A message
 * (WSMSG_MESSAGE) stays readable until the next wsmsg_feed(), which starts
 * the next one; wsmsg_wipe() clears it, which stream.c does for every
 * message once its event is out (a token, message content). Unmasked
 * payload passes through a stack buffer that is wiped after each frame.
 *
 * Threads: the decode thread; no shared state. wsmsg_create() returns NULL
 * when an allocation fails; wsmsg_destroy() accepts NULL and wipes the
 * message buffer before freeing it.
 */
#ifndef ARGUS_WSMSG_H
#define ARGUS_WSMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ws.h"
#include "zs.h"

struct wsmsg_opts {
    bool permessage_deflate;  /* negotiated in the 101 (RFC 7692) */
    bool no_context_takeover; /* ... and this direction's sender resets its window */
    enum zs_mode transport;   /* decompression of binary messages, ZS_NONE for none */
    uint32_t max_message;     /* bytes of one decompressed message kept, at most */
};

enum wsmsg_status {
    WSMSG_NEED_MORE, /* all input consumed */
    WSMSG_MESSAGE,   /* out->data, out->len: one complete message */
    WSMSG_DROPPED,   /* a message ended that could not be kept whole: out->reason is
                        "too_large" (past max_message) or "out_of_memory" */
    WSMSG_CLOSE,     /* a close frame: out->close_code */
    WSMSG_ERROR,     /* out->stage ("ws" or "inflate") and out->reason say why */
};

struct wsmsg_out {
    const uint8_t *data;
    size_t len;
    int close_code;
    const char *stage;  /* WSMSG_ERROR: "ws" or "inflate" */
    const char *reason; /* WSMSG_ERROR, WSMSG_DROPPED (static strings) */
};

struct wsmsg {
    struct ws_decoder ws;
    struct zs pmd;       /* permessage-deflate, when negotiated */
    struct zs transport; /* zlib-stream / zstd-stream / zlib per message */
    uint32_t max_message;
    uint8_t *msg;
    size_t msg_len, msg_alloc;
    const char *msg_dropped; /* why the message is not kept whole, NULL while it is */
    bool msg_transport;      /* the message passes through `transport` */
    bool msg_delivered;      /* returned as WSMSG_MESSAGE: the next feed starts anew */
    uint8_t ctl[125];        /* a control frame's payload (RFC 6455 §5.5) */
    uint8_t ctl_len;
};

struct wsmsg *wsmsg_create(const struct wsmsg_opts *o);
void wsmsg_destroy(struct wsmsg *m);

/* Decodes from buf; sets *consumed (possibly < len when a message or close
 * frame ended: call again with the rest). */
enum wsmsg_status wsmsg_feed(struct wsmsg *m, const uint8_t *buf, size_t len, size_t *consumed,
                             struct wsmsg_out *out);

/* Clears the message last returned (it carried a token or content). */
void wsmsg_wipe(struct wsmsg *m);

#endif
