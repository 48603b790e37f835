/*
 * record.h - test-only recording of captured streams.
 *
 * Compiled only into libargus_core_record.so (-DARGUS_RECORD), a build of the
 * core used by tests to prove capture is byte-exact and to record decoder
 * fixtures. Never part of the library users run. The decode loop hands every
 * ring record to record_feed(); it appends DATA bytes to
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
