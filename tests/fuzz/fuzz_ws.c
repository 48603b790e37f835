/*
 * fuzz_ws.c - the RFC 6455 frame decoder and unmasking on any bytes.
 * Byte 0: allow RSV1 and the piece size for feeding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ws_decoder d;
    uint8_t plain[4096];
    size_t piece;

    if (size < 1)
        return 0;
    memset(&d, 0, sizeof(d));
    d.allow_rsv1 = data[0] & 1;
    piece = (data[0] >> 1) == 0 ? size : (size_t)(data[0] >> 1);
    data++;
    size--;
    for (size_t at = 0; at < size;) {
        size_t n = size - at < piece ? size - at : piece, used;
        const uint8_t *buf = data + at;
        struct ws_chunk c;
        at += n;
        for (;;) {
            enum ws_status st = ws_decode(&d, buf, n, &used, &c);
            buf += used;
            n -= used;
            if (st == WS_ERROR)
                return 0;
            if (st == WS_NEED_MORE)
                break;
            if (st == WS_PAYLOAD) {
                for (size_t o = 0; o < c.len; o += sizeof(plain)) {
                    struct ws_chunk part = {c.data + o, c.len - o, c.offset + o};
                    if (part.len > sizeof(plain))
                        part.len = sizeof(plain);
                    ws_unmask(&d.frame, &part, plain);
                }
            }
        }
    }
    return 0;
}
