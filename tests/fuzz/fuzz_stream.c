/*
 * fuzz_stream.c - the whole pipeline on a fuzzed sequence of ring records.
 *
 * The input is a list of records, each "conn(1) kind(1) len(2, LE) data":
 * kind's low two bits are the ring type, bit 2 the direction, bit 3 the GAP
 * flag. Connection ids are taken modulo 4 and the table holds 3, so
 * eviction is exercised too. Events are checked for basic sanity.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_event(const struct argus_event *ev, void *arg)
{
    (void)arg;
    if (ev->kind == EV_REST && memchr(ev->u.rest.route, '\0', sizeof(ev->u.rest.route)) == NULL)
        abort();
    if (ev->kind == EV_REST && (strchr(ev->u.rest.route, '?') || strchr(ev->u.rest.route, '%')))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct argus_config cfg;
    struct stream_table *t;
    uint64_t now = 1;

    cfg.max_connections = 3;
    cfg.max_message_bytes = 1 << 16;
    static const char *const bang[] = {"!"};
    cfg.prefixes = (struct argus_list){bang, 1};
    t = stream_table_create(&cfg, on_event, NULL);
    if (t == NULL)
        return 0;
    for (size_t at = 0; at + 4 <= size;) {
        struct ring_record rec;
        size_t len = (size_t)data[at + 2] | (size_t)data[at + 3] << 8;
        if (len > size - at - 4)
            len = size - at - 4;
        rec.conn_id = data[at] % 4;
        rec.type = data[at + 1] & 3;
        rec.dir = (data[at + 1] >> 2) & 1;
        rec.flags = (data[at + 1] >> 3) & 1;
        rec.t_ns = now++;
        rec.len = (uint32_t)len;
        rec.data = data + at + 4;
        stream_table_feed(t, &rec);
        at += 4 + len;
    }
    stream_table_destroy(t);
    return 0;
}
