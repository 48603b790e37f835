/*
 * core.h - what the core's modules may ask of the core's entry (core.c).
 *
 * core.c implements struct argus_core_ops (core_api.h) for
 * libargus_core.so: it owns the registry, the span queue, the resource and
 * the exporter for the life of one start() (a forked child abandons them and
 * starts afresh). The decode loop runs on Argus' thread (run()) and hands
 * every capture record to core_feed(), on that same thread.
 *
 * The accessors return NULL before start() succeeded. The objects they return
 * stay valid until the process exits (they are never freed, only abandoned in
 * a forked child). Decode-thread code may record into the registry and push
 * to the span queue; see reg.h and spans.h for their own rules.
 */
#ifndef ARGUS_CORE_H
#define ARGUS_CORE_H

struct reg;
struct spanq;
struct argus_config;
struct ring_record;

struct reg *core_registry(void);
struct spanq *core_spans(void); /* NULL when tracing is off */
const struct argus_config *core_config(void);

/* Decode thread: one capture record (ring.h), borrowed for the call. The
 * decoder and the lifecycle tracker are wired in here. */
void core_feed(const struct ring_record *rec);

#endif
