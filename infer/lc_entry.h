/*
 * lc_entry.h - one command lifecycle as the tracker remembers it, and the few
 * facts derived from one that the tracker and the span builder share.
 *
 * A struct lc_entry is a slot of the lifecycle table (lc_table.h): the tracker
 * (lc.c) fills it as events arrive, the span builder (lc_span.h) reads it when
 * the lifecycle ends. What it keeps is bounded and never secret: ids for
 * correlation, a token's hash, times, the qualified command name or a prefix
 * candidate already restricted to [a-z0-9_-]{1,32}, never message content.
 *
 * Threads: the decode thread only. The functions are pure: they read their
 * arguments and write only the buffer they are given.
 */
#ifndef ARGUS_LC_ENTRY_H
#define ARGUS_LC_ENTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "event.h"
#include "lc_prefix.h"

#define LC_ERROR_TYPE_MAX 16 /* "10062", "http_403", "timeout" and the NUL */

enum lc_kind {
    LC_KIND_INTERACTION = 0,
    LC_KIND_PREFIX,
};

/* What an open lifecycle waits for; lc.c describes the moves between them. */
enum lc_phase {
    LC_AWAIT_ANSWER = 0,
    LC_AWAIT_COMPLETION,
    LC_LINGER,
};

enum lc_outcome {
    LC_SUCCESS = 0,
    LC_ERROR,
    LC_TIMEOUT,
    LC_N_OUTCOMES,
};

/* One REST answer as the span events need it. request_ns == 0: none yet. */
struct lc_answer {
    uint64_t request_ns;
    uint64_t response_ns;
    int status;
    int code;          /* Discord's JSON error code, 0 if none */
    int callback_type; /* interaction callbacks only, else -1 */
};

struct lc_entry {
    uint64_t key;        /* interaction id or message id; 0 marks a free slot */
    uint64_t token_hash; /* interactions; 0 for prefix commands */
    uint64_t channel_id; /* prefix commands: where the answer is expected */
    uint64_t guild_id;   /* spans only, and only with cfg->per_guild */
    uint64_t start_ns;
    uint64_t deadline_ns; /* of the current phase */
    uint64_t due_ns;      /* when lc_tick() must act on it */
    uint64_t end_ns;      /* once decided */
    uint32_t prev, next;  /* the table's open list; next also links its free list */
    uint8_t kind, phase, outcome;
    uint8_t interaction_type; /* enum ev_interaction_type */
    bool sampled;
    uint8_t trace_id[16];
    uint8_t span_id[8];
    char name[EV_NAME_MAX];             /* qualified app command, or the prefix candidate */
    char label[LC_PREFIX_NAME_MAX];     /* prefix commands: the label, once decided */
    char error_type[LC_ERROR_TYPE_MAX]; /* once decided as error or timeout */
    struct lc_answer initial;           /* the in-time callback or prefix answer */
    struct lc_answer completion;        /* the follow-up / @original edit of a deferral */
    struct lc_answer late;              /* the first answer after a timeout */
};

/* The answer a REST exchange gave (a request without a response ends at its
 * request). */
struct lc_answer lc_entry_answer_of(const struct ev_rest *r);

/* error_type: Discord's code when the body had one, else http_<status>
 * ("http_0" when the connection ended before a response). */
void lc_entry_error_type(const struct lc_answer *a, char out[LC_ERROR_TYPE_MAX]);

/* discord.py's name of an interaction type, as argus-dpy exports it; NULL for
 * PING and unknown types, which are no gateway lifecycle. */
const char *lc_entry_type_name(int interaction_type);

/* "success", "error" or "timeout". */
const char *lc_entry_outcome_name(enum lc_outcome outcome);

#endif
