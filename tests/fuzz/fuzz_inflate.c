/*
 * fuzz_inflate.c - zlib-stream, zstd-stream, per-message zlib and
 * permessage-deflate contexts on any bytes. Byte 0 picks the mode (and no
 * context takeover); byte 1 is the WS message size, so message ends and
 * the zlib-stream flush marker land anywhere.
 */
#include <stdint.h>
#include <stdlib.h>

#include "zs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *arg, const uint8_t *out, size_t len)
{
    size_t *total = arg;

    (void)out;
    *total += len;
    return *total > (8u << 20); /* the pipeline's message cap */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum zs_mode modes[] = {ZS_ZLIB_STREAM, ZS_ZSTD_STREAM, ZS_ZLIB_MESSAGE, ZS_PMD,
                                         ZS_NONE};
    struct zs z;
    size_t total = 0, msg;

    if (size < 2)
        return 0;
    if (zs_init(&z, modes[data[0] % 5], (data[0] & 0x80) != 0) < 0)
        return 0;
    msg = data[1] == 0 ? size : data[1];
    data += 2;
    size -= 2;
    for (size_t at = 0; at < size;) {
        size_t n = size - at < msg ? size - at : msg;
        enum zs_status st = zs_feed(&z, data + at, n, sink, &total);
        at += n;
        if (st == ZS_ERROR || st == ZS_STOPPED)
            break;
        st = zs_end_message(&z, sink, &total);
        if (st == ZS_ERROR || st == ZS_STOPPED)
            break;
        if (st == ZS_COMPLETE)
            total = 0;
    }
    zs_fini(&z);
    return 0;
}
