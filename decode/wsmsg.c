/*
 * wsmsg.c - frames, unmasking and decompression chained into messages.
 *
 * Design. Each WS_PAYLOAD slice is unmasked into a stack buffer and pushed
 * through the decompression stages at once; each stage hands its output to
 * the next through a zs sink, and the last one appends to the message
 * buffer:
 *
 *   ws_decode -> ws_unmask -> [permessage-deflate] -> [transport] -> msg
 *
 * so memory is one stack buffer and the message, whatever the compression
 * ratio. A message ends at the final frame of a WebSocket message, except
 * in zlib-stream, where zs_end_message() says whether the compressed bytes
 * so far end on a flush (a gateway message may span WebSocket messages).
 *
 * The message buffer starts at WSMSG_INITIAL bytes and doubles up to the
 * cap. It grows by malloc + copy + wipe rather than realloc(), whose
 * released block would keep a copy of what may be an IDENTIFY or an
 * interaction token. A message past the cap, or one whose buffer could not
 * grow, is dropped whole (issue 14): its prefix is not a message, and a
 * gateway payload parsed from its first bytes was once counted as a
 * MESSAGE_CREATE. The stream still runs to the message's end, so decoding
 * stays in sync either way.
 */
#include "wsmsg.h"

#include <stdlib.h>
#include <string.h>

#define WSMSG_INITIAL (64 * 1024)
#define WSMSG_UNMASK_CHUNK 16384

static const char *const wsmsg_zs_reason[] = {
    [ZS_ZLIB_STREAM] = "corrupt_zlib_stream",
    [ZS_ZSTD_STREAM] = "corrupt_zstd_stream",
    [ZS_ZLIB_MESSAGE] = "corrupt_zlib_payload",
    [ZS_PMD] = "corrupt_permessage_deflate",
};

struct wsmsg *wsmsg_create(const struct wsmsg_opts *o)
{
    struct wsmsg *m = calloc(1, sizeof(*m));

    if (m == NULL)
        goto out;
    m->max_message = o->max_message;
    m->ws.allow_rsv1 = o->permessage_deflate;
    if ((o->permessage_deflate && zs_init(&m->pmd, ZS_PMD, o->no_context_takeover) < 0) ||
        zs_init(&m->transport, o->transport, false) < 0) {
        wsmsg_destroy(m);
        m = NULL;
    }
out:
    return m;
}

void wsmsg_destroy(struct wsmsg *m)
{
    if (m == NULL)
        return;
    zs_fini(&m->pmd);
    zs_fini(&m->transport);
    /* A message cut short (close, gap, error) was never wiped by its
     * reader, and earlier ones may linger past msg_len. */
    if (m->msg != NULL)
        explicit_bzero(m->msg, m->msg_alloc);
    free(m->msg);
    free(m);
}

void wsmsg_wipe(struct wsmsg *m)
{
    if (m->msg != NULL)
        explicit_bzero(m->msg, m->msg_len);
}

/* Makes room for want bytes in the message buffer (want <= max_message). */
static int msg_grow(struct wsmsg *m, size_t want)
{
    size_t alloc = m->msg_alloc > 0 ? m->msg_alloc : WSMSG_INITIAL;

    while (alloc < want)
        alloc *= 2;
    if (alloc > m->max_message)
        alloc = m->max_message;
    uint8_t *grown = malloc(alloc);
    if (grown == NULL)
        return -1;
    if (m->msg != NULL) {
        memcpy(grown, m->msg, m->msg_len);
        explicit_bzero(m->msg, m->msg_len);
        free(m->msg);
    }
    m->msg = grown;
    m->msg_alloc = alloc;
    return 0;
}

/* The last stage's sink: keeps the message up to the cap. Never stops the
 * stream, which must run on to stay in sync. */
static int msg_append(void *arg, const uint8_t *data, size_t len)
{
    struct wsmsg *m = arg;

    if (m->msg_dropped != NULL || len == 0)
        return 0;
    if (m->msg_len + len > m->max_message)
        m->msg_dropped = "too_large";
    else if (m->msg_len + len > m->msg_alloc && msg_grow(m, m->msg_len + len) < 0)
        m->msg_dropped = "out_of_memory";
    if (m->msg_dropped != NULL) {
        wsmsg_wipe(m);
        return 0;
    }
    memcpy(m->msg + m->msg_len, data, len);
    m->msg_len += len;
    return 0;
}

/* permessage-deflate's sink: on to the transport stage or the buffer. */
static int pmd_out(void *arg, const uint8_t *data, size_t len)
{
    struct wsmsg *m = arg;

    if (!m->msg_transport)
        return msg_append(arg, data, len);
    return zs_feed(&m->transport, data, len, msg_append, arg) == ZS_ERROR ? -1 : 0;
}

static enum wsmsg_status fail(struct wsmsg_out *out, const char *stage, const char *reason)
{
    out->stage = stage;
    out->reason = reason;
    return WSMSG_ERROR;
}

/* Unmasked payload of a data frame through the decompression stages. */
static enum wsmsg_status message_payload(struct wsmsg *m, const uint8_t *data, size_t len,
                                         struct wsmsg_out *out)
{
    enum zs_status st = ZS_OK;
    const struct zs *failed = NULL;

    if (m->ws.frame.msg_compressed) {
        st = zs_feed(&m->pmd, data, len, pmd_out, m);
        failed = st == ZS_STOPPED ? &m->transport : &m->pmd;
    } else if (m->msg_transport) {
        st = zs_feed(&m->transport, data, len, msg_append, m);
        failed = &m->transport;
    } else {
        msg_append(m, data, len);
    }
    if (st == ZS_ERROR || st == ZS_STOPPED)
        return fail(out, "inflate", wsmsg_zs_reason[failed->mode]);
    return WSMSG_NEED_MORE;
}

/* One slice of the current frame's payload, unmasked in pieces. */
static enum wsmsg_status frame_payload(struct wsmsg *m, const struct ws_chunk *chunk,
                                       struct wsmsg_out *out)
{
    const struct ws_frame *f = &m->ws.frame;
    uint8_t plain[WSMSG_UNMASK_CHUNK];
    enum wsmsg_status st = WSMSG_NEED_MORE;

    for (size_t at = 0; at < chunk->len && st == WSMSG_NEED_MORE;) {
        struct ws_chunk piece = {chunk->data + at, chunk->len - at, chunk->offset + at};
        if (piece.len > sizeof(plain))
            piece.len = sizeof(plain);
        ws_unmask(f, &piece, plain);
        if (f->opcode >= WS_OP_CLOSE) {
            memcpy(m->ctl + m->ctl_len, plain, piece.len);
            m->ctl_len += (uint8_t)piece.len;
        } else {
            st = message_payload(m, plain, piece.len, out);
        }
        at += piece.len;
    }
    explicit_bzero(plain, sizeof(plain));
    return st;
}

/* The final frame of a WebSocket message: flush the stages, and hand out
 * the message if the gateway message is complete. */
static enum wsmsg_status message_end(struct wsmsg *m, struct wsmsg_out *out)
{
    enum zs_status st = ZS_COMPLETE;

    if (m->ws.frame.msg_compressed) {
        st = zs_end_message(&m->pmd, pmd_out, m);
        if (st == ZS_ERROR || st == ZS_STOPPED)
            return fail(out, "inflate", wsmsg_zs_reason[ZS_PMD]);
        st = ZS_COMPLETE;
    }
    if (m->msg_transport)
        st = zs_end_message(&m->transport, msg_append, m);
    if (st == ZS_ERROR || st == ZS_STOPPED)
        return fail(out, "inflate", wsmsg_zs_reason[m->transport.mode]);
    if (st != ZS_COMPLETE)
        return WSMSG_NEED_MORE;
    m->msg_delivered = true;
    if (m->msg_dropped != NULL) {
        out->reason = m->msg_dropped;
        return WSMSG_DROPPED;
    }
    out->data = m->msg;
    out->len = m->msg_len;
    return WSMSG_MESSAGE;
}

static enum wsmsg_status frame_end(struct wsmsg *m, struct wsmsg_out *out)
{
    const struct ws_frame *f = &m->ws.frame;

    if (f->opcode == WS_OP_CLOSE) {
        /* RFC 6455 §7.1.5: no status code in the frame means 1005. */
        out->close_code = m->ctl_len >= 2 ? m->ctl[0] << 8 | m->ctl[1] : 1005;
        return WSMSG_CLOSE;
    }
    if (f->opcode < WS_OP_CLOSE && f->fin)
        return message_end(m, out);
    return WSMSG_NEED_MORE;
}

static void frame_start(struct wsmsg *m)
{
    const struct ws_frame *f = &m->ws.frame;

    if (f->opcode >= WS_OP_CLOSE)
        m->ctl_len = 0;
    else if (f->opcode != WS_OP_CONTINUATION)
        m->msg_transport = f->opcode == WS_OP_BINARY && m->transport.mode != ZS_NONE;
}

enum wsmsg_status wsmsg_feed(struct wsmsg *m, const uint8_t *buf, size_t len, size_t *consumed,
                             struct wsmsg_out *out)
{
    enum wsmsg_status st = WSMSG_NEED_MORE;
    struct ws_chunk chunk;
    size_t at = 0, used;

    if (m->msg_delivered) {
        m->msg_delivered = false;
        m->msg_len = 0;
        m->msg_dropped = NULL;
    }
    while (st == WSMSG_NEED_MORE) {
        enum ws_status ws = ws_decode(&m->ws, buf + at, len - at, &used, &chunk);
        at += used;
        switch (ws) {
        case WS_NEED_MORE:
            goto out;
        case WS_FRAME_START:
            frame_start(m);
            break;
        case WS_PAYLOAD:
            st = frame_payload(m, &chunk, out);
            break;
        case WS_FRAME_END:
            st = frame_end(m, out);
            break;
        case WS_ERROR:
            st = fail(out, "ws", m->ws.error);
            break;
        }
    }
out:
    *consumed = at;
    return st;
}
