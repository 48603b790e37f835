/*
 * lc_span.h - the spans of command lifecycles: a SERVER span per lifecycle
 * and a CLIENT child per REST call that belongs to it.
 *
 * It promises the span shapes docs/lifecycles.md lists: names
 * (discord.app_command, discord.interaction, discord.command), attributes,
 * events (initial response, answer, completion, timeout, late response) and
 * the error status. Ids and the sampling decision are drawn when the
 * lifecycle opens (lc_span_start()), so a child can be pushed, finished, the
 * moment its REST call is seen, and the server span is built from the entry
 * alone when the lifecycle ends. An entry that is not sampled, or a builder
 * with tracing off, pushes nothing.
 *
 * Threads: the decode thread only. Ownership: lc_span_init() on an embedded
 * struct that borrows cfg and spans (NULL: tracing is off), both of which
 * must outlive it; nothing to free. Spans are copied into the queue, which
 * drops and counts what does not fit (spans.h).
 */
#ifndef ARGUS_LC_SPAN_H
#define ARGUS_LC_SPAN_H

#include "config.h"
#include "event.h"
#include "lc_entry.h"
#include "spans.h"

struct lc_span_builder {
    const struct argus_config *cfg;
    struct spanq *spans;
    struct span scratch; /* spans are built here, not on the stack (a few KB) */
};

void lc_span_init(struct lc_span_builder *b, const struct argus_config *cfg, struct spanq *spans);

/* Draws e's trace id and sampling decision (and its span id when sampled). */
void lc_span_start(const struct lc_span_builder *b, struct lc_entry *e);

/* Pushes the finished CLIENT span of one REST call of lifecycle e. */
void lc_span_push_child(struct lc_span_builder *b, const struct lc_entry *e,
                        const struct ev_rest *r);

/* Pushes e's SERVER span; e must have been decided (outcome, end_ns, and
 * label or error_type where they apply). */
void lc_span_push_server(struct lc_span_builder *b, const struct lc_entry *e);

#endif
