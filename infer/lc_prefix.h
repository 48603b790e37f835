/*
 * lc_prefix.h - recognising prefix commands and keeping their labels bounded.
 *
 * A prefix command is a message whose content starts with one of the
 * configured prefixes (ARGUS_PREFIX, default "!", as config.h parsed it) or with a
 * mention of the bot; the command is the first word after it. That word is
 * user text, so it may become a metric label only under the rules of issue 7:
 *   - ARGUS_PREFIX_COMMANDS set: the allow-list is the whole vocabulary; a
 *     listed name is its own label, anything else is "_other";
 *   - otherwise a name is learned once a command of that name has been
 *     answered (until then "_unknown"), only if it matches ^[a-z0-9_-]{1,32}$
 *     after ASCII case folding, and only while fewer than
 *     ARGUS_MAX_PREFIX_COMMANDS names are known; later names are "_other".
 * So the label set is at most max + 2 values, whatever users type.
 *
 * What is kept: only a candidate name that already matches the pattern (at
 * most 32 bytes of [a-z0-9_-]); never the content around it.
 *
 * Threads: the decode thread only. Ownership: lc_prefix_labels_init()/
 * lc_prefix_labels_fini() on an embedded struct; fini accepts a zeroed or
 * half-built one.
 */
#ifndef ARGUS_LC_PREFIX_H
#define ARGUS_LC_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define LC_PREFIX_NAME_MAX 33 /* 32 bytes of name + NUL */
#define LC_PREFIX_UNKNOWN "_unknown"
#define LC_PREFIX_OTHER "_other"

/* Decides whether content (the bounded head of a message, not NUL-terminated;
 * truncated says the message was longer than len) is a prefix command. When it
 * is, returns true and writes the case-folded first word into name, or "" when
 * that word can never be a label (too long, characters outside [a-z0-9_-], or
 * cut off by the truncation). A prefix followed by nothing or by white space
 * is not a command. prefixes is ARGUS_PREFIX as parsed (an empty list means
 * no text prefix), tried in order; bot_id 0 disables mention prefixes. */
bool lc_prefix_match(const struct argus_list *prefixes, uint64_t bot_id, const char *content,
                     size_t len, bool truncated, char name[LC_PREFIX_NAME_MAX]);

struct lc_prefix_labels {
    bool allow_list; /* the names came from ARGUS_PREFIX_COMMANDS: never learn */
    uint32_t n_names;
    uint32_t max_names;
    char (*names)[LC_PREFIX_NAME_MAX]; /* sorted, for bsearch */
};

/* allow_list: ARGUS_PREFIX_COMMANDS as parsed, or an empty list (or NULL) for
 * inference; its entries are case-folded and those that cannot be labels are
 * skipped. max_names: ARGUS_MAX_PREFIX_COMMANDS (>= 1). Returns 0, -EINVAL or
 * -ENOMEM. */
int lc_prefix_labels_init(struct lc_prefix_labels *l, const struct argus_list *allow_list,
                          uint32_t max_names);
void lc_prefix_labels_fini(struct lc_prefix_labels *l);

/* The label for one ended command named name ("" for an unusable word);
 * answered says whether the bot answered it (success or error), which is what
 * lets inference learn a name. Returns a string that stays valid until the
 * next call on l. */
const char *lc_prefix_label(struct lc_prefix_labels *l, const char *name, bool answered);

#endif
