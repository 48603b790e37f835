/*
 * lc_info.h - discord_bot_info: who the bot is and which library it runs.
 *
 * The bot's id and name come from READY; the library, its version and the
 * runtime from the REST User-Agent, as decode/ splits it. Some calls carry a
 * plain HTTP client's
 * User-Agent instead (discord.py's webhook adapter sends aiohttp's own): a
 * Discord library's name replaces an HTTP client's, never the reverse. Each
 * change republishes the whole attribute set, with Argus' version.
 *
 * Threads: the decode thread. Ownership: lc_info_init() on an embedded struct
 * that borrows the info instrument (NULL: nothing is published); nothing to
 * free. Every string is copied, cut to its field.
 */
#ifndef ARGUS_LC_INFO_H
#define ARGUS_LC_INFO_H

#include <stdint.h>

#include "event.h"
#include "reg.h"

struct lc_info {
    struct reg_metric *metric;
    char bot_id[24];
    char bot_name[40];
    char library[24];
    char library_version[16];
    char runtime[24];
};

void lc_info_init(struct lc_info *i, struct reg_metric *metric);
/* READY: the bot's user id and name. */
void lc_info_on_ready(struct lc_info *i, uint64_t user_id, const char *username);
/* Any REST exchange: its User-Agent's library, when it tells more. */
void lc_info_on_rest(struct lc_info *i, const struct ev_rest *r);

#endif
