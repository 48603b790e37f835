/*
 * lc_prefix.c - prefix matching and the bounded vocabulary of prefix labels.
 *
 * Matching follows discord.py's ext.commands with its defaults: prefixes are
 * tried in the order given and the first that matches wins; nothing is
 * stripped after a text prefix (strip_after_prefix=False), so "! ping" is not
 * a command; a mention prefix ("<@id>" or the nickname form "<@!id>") is
 * followed by white space, all of which is skipped. discord.js has no command
 * framework, and hand-written bots overwhelmingly use the same shape.
 *
 * The learned names sit in a sorted array: lookups (one per ended command) are
 * a binary search, and an insertion (at most max_names over the life of the
 * process) is a memmove. A hash table would save nothing at these sizes.
 */
#include "lc_prefix.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool lc_prefix_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Case-folds word into name if it can be a label; otherwise name is "". */
static void lc_prefix_fold(const char *word, size_t len, char name[LC_PREFIX_NAME_MAX])
{
    name[0] = '\0';
    if (len == 0 || len > LC_PREFIX_NAME_MAX - 1)
        return;
    for (size_t i = 0; i < len; i++) {
        char c = word[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) {
            name[0] = '\0';
            return;
        }
        name[i] = c;
    }
    name[len] = '\0';
}

/* Length of a leading "<@id>" or "<@!id>" for bot_id, or 0. */
static size_t lc_prefix_mention_len(uint64_t bot_id, const char *content, size_t len)
{
    char digits[24];
    int n_digits = snprintf(digits, sizeof(digits), "%" PRIu64, bot_id);
    size_t i = 2;
    if (bot_id == 0 || len < 2 || content[0] != '<' || content[1] != '@')
        return 0;
    if (i < len && content[i] == '!')
        i++;
    if (len - i < (size_t)n_digits + 1 || memcmp(content + i, digits, (size_t)n_digits) != 0)
        return 0;
    i += (size_t)n_digits;
    if (content[i] != '>')
        return 0;
    return i + 1;
}

/* Length of the first prefix of the list that content starts with, or 0. */
static size_t lc_prefix_text_len(const struct argus_list *prefixes, const char *content, size_t len)
{
    for (unsigned i = 0; prefixes != NULL && i < prefixes->n; i++) {
        size_t plen = strlen(prefixes->items[i]);
        if (plen > 0 && plen <= len && memcmp(content, prefixes->items[i], plen) == 0)
            return plen;
    }
    return 0;
}

bool lc_prefix_match(const struct argus_list *prefixes, uint64_t bot_id, const char *content,
                     size_t len, bool truncated, char name[LC_PREFIX_NAME_MAX])
{
    size_t pos = lc_prefix_text_len(prefixes, content, len);
    name[0] = '\0';
    if (pos == 0) {
        pos = lc_prefix_mention_len(bot_id, content, len);
        if (pos == 0 || pos == len || !lc_prefix_is_space(content[pos]))
            return false;
        while (pos < len && lc_prefix_is_space(content[pos]))
            pos++;
    }
    size_t end = pos;
    while (end < len && !lc_prefix_is_space(content[end]))
        end++;
    if (end == pos)
        return false;
    /* A word that runs into the end of a truncated head may continue past it;
     * its true name is unknown, so it can never become a label. */
    if (end == len && truncated)
        return true;
    lc_prefix_fold(content + pos, end - pos, name);
    return true;
}

static int lc_prefix_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static const char *lc_prefix_find(const struct lc_prefix_labels *l, const char *name)
{
    if (l->n_names == 0)
        return NULL;
    return bsearch(name, l->names, l->n_names, sizeof(l->names[0]), lc_prefix_cmp);
}

/* Inserts name (a valid label, not present) in order; the caller checked the
 * cap. Returns the stored copy. */
static const char *lc_prefix_insert(struct lc_prefix_labels *l, const char *name)
{
    uint32_t at = 0;
    while (at < l->n_names && strcmp(l->names[at], name) < 0)
        at++;
    memmove(&l->names[at + 1], &l->names[at], (l->n_names - at) * sizeof(l->names[0]));
    memcpy(l->names[at], name, strlen(name) + 1);
    l->n_names++;
    return l->names[at];
}

int lc_prefix_labels_init(struct lc_prefix_labels *l, const struct argus_list *allow_list,
                          uint32_t max_names)
{
    int rc = 0;
    *l = (struct lc_prefix_labels){0};
    if (max_names == 0) {
        rc = -EINVAL;
        goto out;
    }
    l->max_names = max_names;
    if (allow_list != NULL && allow_list->n > 0) {
        /* The allow-list is the vocabulary, however long the operator made it. */
        l->allow_list = true;
        l->max_names = allow_list->n;
    }
    l->names = calloc(l->max_names, sizeof(l->names[0]));
    if (!l->names) {
        rc = -ENOMEM;
        goto out;
    }
    for (unsigned i = 0; l->allow_list && i < allow_list->n; i++) {
        char name[LC_PREFIX_NAME_MAX];
        lc_prefix_fold(allow_list->items[i], strlen(allow_list->items[i]), name);
        if (name[0] && !lc_prefix_find(l, name))
            lc_prefix_insert(l, name);
    }
out:
    if (rc < 0)
        lc_prefix_labels_fini(l);
    return rc;
}

void lc_prefix_labels_fini(struct lc_prefix_labels *l)
{
    free(l->names);
    *l = (struct lc_prefix_labels){0};
}

const char *lc_prefix_label(struct lc_prefix_labels *l, const char *name, bool answered)
{
    const char *known = name[0] ? lc_prefix_find(l, name) : NULL;
    if (known)
        return known;
    if (l->allow_list)
        return LC_PREFIX_OTHER;
    if (!answered)
        return LC_PREFIX_UNKNOWN;
    if (!name[0] || l->n_names >= l->max_names)
        return LC_PREFIX_OTHER;
    return lc_prefix_insert(l, name);
}
