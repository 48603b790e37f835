/*
 * record_wrap.c - the real core, recording: every ring record is written
 * (record.h) before the decoder sees it. Linked only into
 * libargus_core_record.so with -Wl,--wrap=stream_table_feed, so the core's
 * call to the decoder lands here; the names are the linker's.
 */
#include "record.h"
#include "stream.h"

void __real_stream_table_feed(struct stream_table *t, const struct ring_record *rec);
void __wrap_stream_table_feed(struct stream_table *t, const struct ring_record *rec);

void __wrap_stream_table_feed(struct stream_table *t, const struct ring_record *rec)
{
    record_feed(rec);
    __real_stream_table_feed(t, rec);
}
