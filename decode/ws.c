/*
 * ws.c - RFC 6455 §5.2 base framing, read incrementally.
 *
 * The header is at most 14 bytes (2 + 8 extended length + 4 mask); bytes
 * are collected into d->hdr until the length the first two bytes announce
 * is present, then validated and decoded in one place. Payload is never
 * buffered: WS_PAYLOAD hands back the input slice and its offset in the
 * frame, which is all ws_unmask() needs to continue the mask phase across
 * reads. Message reassembly (and its size cap) belongs to the caller, which
 * knows what it needs to keep.
 */
#include "ws.h"

#include <string.h>

static size_t header_size(const uint8_t hdr[2])
{
    size_t n = 2;
    uint8_t len7 = hdr[1] & 0x7f;

    if (len7 == 126)
        n += 2;
    else if (len7 == 127)
        n += 8;
    if (hdr[1] & 0x80)
        n += 4;
    return n;
}

static enum ws_status fail(struct ws_decoder *d, const char *why)
{
    d->state = WS_S_FAILED;
    d->error = why;
    return WS_ERROR;
}

/* Decodes and validates the complete header in d->hdr. */
static enum ws_status finish_header(struct ws_decoder *d)
{
    const uint8_t *h = d->hdr;
    struct ws_frame *f = &d->frame;
    uint8_t len7 = h[1] & 0x7f;
    size_t at = 2;

    f->fin = (h[0] & 0x80) != 0;
    f->rsv1 = (h[0] & 0x40) != 0;
    f->opcode = h[0] & 0x0f;
    f->masked = (h[1] & 0x80) != 0;
    if (h[0] & 0x30)
        return fail(d, "rsv2_rsv3_set");
    if (len7 == 126) {
        f->length = (uint64_t)h[2] << 8 | h[3];
        at = 4;
    } else if (len7 == 127) {
        f->length = 0;
        for (int i = 0; i < 8; i++)
            f->length = f->length << 8 | h[2 + i];
        if (f->length >> 63)
            return fail(d, "length_msb_set");
        at = 10;
    } else {
        f->length = len7;
    }
    if (f->masked)
        memcpy(f->mask, h + at, 4);
    else
        memset(f->mask, 0, 4);

    switch (f->opcode) {
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        /* §5.5: control frames are final, short, and never compressed
         * (RFC 7692 §6.1). */
        if (!f->fin || f->length > 125 || f->rsv1)
            return fail(d, "bad_control_frame");
        break;
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        if (d->in_message)
            return fail(d, "data_frame_inside_message");
        if (f->rsv1 && !d->allow_rsv1)
            return fail(d, "rsv1_without_extension");
        d->msg_opcode = f->opcode;
        d->msg_compressed = f->rsv1;
        d->in_message = !f->fin;
        break;
    case WS_OP_CONTINUATION:
        if (!d->in_message)
            return fail(d, "continuation_outside_message");
        if (f->rsv1)
            return fail(d, "rsv1_on_continuation");
        d->in_message = !f->fin;
        break;
    default:
        return fail(d, "reserved_opcode");
    }
    f->msg_opcode = d->msg_opcode;
    f->msg_compressed = d->msg_compressed;
    d->left = f->length;
    d->offset = 0;
    d->hdr_len = 0;
    d->state = f->length > 0 ? WS_S_PAYLOAD : WS_S_END;
    return WS_FRAME_START;
}

enum ws_status ws_decode(struct ws_decoder *d, const uint8_t *buf, size_t len, size_t *consumed,
                         struct ws_chunk *chunk)
{
    size_t i = 0;
    enum ws_status st = WS_NEED_MORE;

    chunk->data = NULL;
    chunk->len = 0;
    chunk->offset = 0;
    switch (d->state) {
    case WS_S_HEADER:
        while (i < len) {
            d->hdr[d->hdr_len++] = buf[i++];
            if (d->hdr_len >= 2 && d->hdr_len == header_size(d->hdr)) {
                st = finish_header(d);
                break;
            }
        }
        break;
    case WS_S_PAYLOAD:
        if (len == 0)
            break;
        chunk->data = buf;
        chunk->len = len < d->left ? len : (size_t)d->left;
        chunk->offset = d->offset;
        d->left -= chunk->len;
        d->offset += chunk->len;
        i = chunk->len;
        if (d->left == 0)
            d->state = WS_S_END;
        st = WS_PAYLOAD;
        break;
    case WS_S_END:
        d->state = WS_S_HEADER;
        st = WS_FRAME_END;
        break;
    case WS_S_FAILED:
        st = WS_ERROR;
        break;
    }
    *consumed = i;
    return st;
}

void ws_unmask(const struct ws_frame *f, const struct ws_chunk *chunk, uint8_t *dst)
{
    if (!f->masked) {
        memcpy(dst, chunk->data, chunk->len);
        return;
    }
    /* Rotate the key to the chunk's phase so the loop can run in 8-byte
     * words over the bulk of the payload. */
    uint8_t key[8];
    for (int k = 0; k < 8; k++)
        key[k] = f->mask[(chunk->offset + (uint64_t)k) & 3];
    uint64_t key64;
    memcpy(&key64, key, 8);
    size_t i = 0;
    for (; i + 8 <= chunk->len; i += 8) {
        uint64_t w;
        memcpy(&w, chunk->data + i, 8);
        w ^= key64;
        memcpy(dst + i, &w, 8);
    }
    for (; i < chunk->len; i++)
        dst[i] = chunk->data[i] ^ key[i & 7];
}
