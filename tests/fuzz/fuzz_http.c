/*
 * fuzz_http.c - the HTTP/1.1 parser and body decoders on any bytes.
 *
 * Byte 0 picks the direction and the body encoding; the rest is fed in
 * pieces whose sizes come from byte 1, so splits are fuzzed too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "http_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct http_parser p;
    struct http_body body;
    size_t piece;

    if (size < 2)
        return 0;
    memset(&p, 0, sizeof(p));
    p.kind = data[0] & 1 ? HTTP_RESPONSE : HTTP_REQUEST;
    p.next_response_bodiless = (data[0] & 2) != 0;
    piece = data[1] == 0 ? size : data[1];
    if (http_body_init(&body, (enum http_encoding)((data[0] >> 2) % (HTTP_ENC_UNSUPPORTED + 1)),
                       4096, 1 << 20) < 0)
        return 0;
    data += 2;
    size -= 2;
    for (size_t at = 0; at < size;) {
        size_t n = size - at < piece ? size - at : piece, used;
        const uint8_t *buf = data + at;
        struct http_slice s;
        at += n;
        while (n > 0) {
            enum http_status st = http_parse(&p, buf, n, &used, &s);
            buf += used;
            n -= used;
            if (st == HTTP_BODY)
                http_body_feed(&body, s.data, s.len);
            if (st == HTTP_HEAD_DONE) {
                const char *v;
                size_t vl;
                (void)http_head_get(&p, "content-type", &v, &vl);
                (void)http_head_has_token(&p, "connection", "upgrade");
                (void)http_head_encoding(&p);
            }
            if (st == HTTP_ERROR || st == HTTP_UPGRADED)
                goto out;
        }
    }
    (void)http_parse_eof(&p);
out:
    http_body_fini(&body);
    return 0;
}
