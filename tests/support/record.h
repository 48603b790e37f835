/*
 * record.h - test-only recording of captured streams.
 *
 * Linked into two test-only cores, never into the library users run:
 * libargus_core_stub.so (stub_core.c), which only records, and
 * libargus_core_record.so, the real core linked with
 * -Wl,--wrap=stream_table_feed so that record_wrap.c sees every record on its
 * way to the decoder (the product carries no test hook). Tests use them to
 * prove capture is byte-exact and to record decoder fixtures.
 * record_feed() appends DATA bytes to
 * $ARGUS_TEST_RECORD_DIR/<pid>-<conn_id>-<read|write>.bin and OPEN/CLOSE/GAP
 * markers to $ARGUS_TEST_RECORD_DIR/<pid>-<conn_id>.meta (one line each:
 * "<t_ns> open <host>", "<t_ns> close", "<t_ns> gap <dir>", and
 * "<t_ns> data <dir> <len>" for every DATA record, which gives the order of
 * the two directions' bytes).
 */
#ifndef ARGUS_RECORD_H
#define ARGUS_RECORD_H

#include "ring.h"

void record_feed(const struct ring_record *rec);

#endif
