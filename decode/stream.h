/*
 * stream.h - the per-connection decode pipeline: ring records in, typed
 * events (decode/event.h) out.
 *
 * The table owns one decoding state per captured connection (conn_id):
 * before an upgrade, its REST exchanges (rest.h: requests paired with
 * responses); after a 101, one message assembler per direction (wsmsg.h:
 * WebSocket frames, permessage-deflate, transport decompression) and the
 * gateway payload parser (gw.h). It promises:
 *   - events come out through the callback, synchronously inside
 *     stream_table_feed(), in capture order, each stamped with the t_ns of
 *     the record that completed it;
 *   - bounded memory: at most cfg->max_connections connections (the least
 *     recently active one is evicted and counted when a new one arrives),
 *     HTTP heads capped (http.h), gateway messages and decoded REST bodies
 *     capped at cfg->max_message_bytes, kept body bytes at REST_BODY_CAP;
 *   - a message or body past cfg->max_message_bytes (a 100 MB payload, a
 *     compression bomb) is counted as cut, EV_DECODE_ERROR {"gateway" or
 *     "http", "too_large"}, and yields no event, not even from its prefix;
 *     the connection stays in sync and its next message decodes;
 *   - any byte sequence is safe: a connection that cannot be decoded (bad
 *     framing, a corrupt compressed stream, ETF, a RING_F_GAP after the
 *     upgrade) is abandoned: one EV_DECODE_ERROR {stage, reason} is emitted
 *     and its later bytes are ignored until RING_CLOSE. A RING_F_GAP before
 *     any upgrade (REST, or a connection first seen mid-stream) emits one
 *     EV_DECODE_ERROR {"capture", "gap"}, drops the exchanges in flight, and
 *     resumes at the next write that starts with a request line. A single
 *     gateway payload that is not JSON on an otherwise healthy connection is
 *     also reported (stage "gateway", reason "malformed") without abandoning
 *     it. The registry counts these as argus_decode_errors_total{stage};
 *   - no token reaches an event (route.h, gw.h), and buffers that held a
 *     request head or a gateway payload (either direction: tokens, message
 *     content) are wiped once its event is out. What stays is a compressed
 *     stream's window (zlib-stream keeps the last 32 KiB of inflated text,
 *     zstd-stream its own window): the stream cannot be decoded without it.
 *     It lives as long as the connection and is wiped when freed (zs.h).
 *
 * Threads: the decode thread only. stream_table_create copies what it needs
 * from cfg. stream_table_create returns NULL on allocation failure;
 * stream_table_destroy accepts NULL and frees everything, emitting nothing.
 */
#ifndef ARGUS_STREAM_H
#define ARGUS_STREAM_H

#include "config.h"
#include "event.h"
#include "ring.h"

struct stream_table;

struct stream_table *stream_table_create(const struct argus_config *cfg, argus_event_fn cb,
                                         void *arg);
void stream_table_feed(struct stream_table *t, const struct ring_record *rec);
void stream_table_destroy(struct stream_table *t);

#endif
