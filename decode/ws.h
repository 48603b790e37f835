/*
 * ws.h - a streaming RFC 6455 frame decoder for one direction of a
 * WebSocket connection.
 *
 * It owns the framing state only: the header being read (resumable at any
 * byte), the payload bytes left, the mask and its phase, and whether a
 * fragmented message is in progress. It promises:
 *   - RFC 6455 §5.2 checks: reserved opcodes and RSV2/RSV3 are errors, RSV1
 *     only on the first frame of a message and only when permessage-deflate
 *     was negotiated (ws_decoder.allow_rsv1), control frames are final and at
 *     most 125 bytes, a 64-bit length has its top bit clear, continuation
 *     only inside a message and a new data frame only outside one (§5.4);
 *   - control frames between fragments are allowed and reported as such;
 *   - no allocation and no copy: payload comes out as slices of the input,
 *     still masked; ws_unmask() copies and unmasks into the caller's buffer.
 *
 * Shape: zero-fill, set allow_rsv1 if negotiated, then ws_decode() in a loop.
 * Threads: the decode thread; no shared state.
 */
#ifndef ARGUS_WS_H
#define ARGUS_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xa,
};

enum ws_status {
    WS_NEED_MORE,   /* all input consumed */
    WS_FRAME_START, /* a frame header was read: see d->frame */
    WS_PAYLOAD,     /* *chunk is payload of the current frame (masked) */
    WS_FRAME_END,   /* the current frame's payload is complete */
    WS_ERROR,       /* protocol violation; d->error says which; stays failed */
};

enum ws_state {
    WS_S_HEADER,  /* 2..14 header bytes -> PAYLOAD, or FRAME_END if empty */
    WS_S_PAYLOAD, /* payload bytes left -> FRAME_END */
    WS_S_END,     /* report FRAME_END -> HEADER */
    WS_S_FAILED,  /* terminal */
};

struct ws_frame {
    bool fin;
    bool rsv1;      /* compressed message (permessage-deflate), first frame only */
    uint8_t opcode; /* enum ws_opcode */
    bool masked;
    uint8_t mask[4];
    uint64_t length;
    /* For data frames: the opcode of the message (TEXT/BINARY) and whether
     * it is compressed, carried over continuation frames. */
    uint8_t msg_opcode;
    bool msg_compressed;
};

struct ws_decoder {
    bool allow_rsv1;
    enum ws_state state;
    const char *error;
    uint8_t hdr[14];
    uint8_t hdr_len;
    bool in_message; /* a fragmented data message is open */
    uint8_t msg_opcode;
    bool msg_compressed;
    struct ws_frame frame;
    uint64_t left;   /* payload bytes left in the current frame */
    uint64_t offset; /* payload bytes of the current frame already returned */
};

struct ws_chunk {
    const uint8_t *data; /* masked if frame.masked */
    size_t len;
    uint64_t offset; /* position of data[0] in the frame payload (mask phase) */
};

enum ws_status ws_decode(struct ws_decoder *d, const uint8_t *buf, size_t len, size_t *consumed,
                         struct ws_chunk *chunk);

/* Copies chunk into dst (chunk->len bytes), unmasking it with the frame's
 * key if masked. */
void ws_unmask(const struct ws_frame *f, const struct ws_chunk *chunk, uint8_t *dst);

#endif
