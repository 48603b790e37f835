/*
 * fuzz_lc.c - the lifecycle tracker on a fuzzed sequence of decoded events.
 *
 * The input is a list of 8-byte operations "op a b c d e f g": op picks the
 * event (interaction, callback, follow-up or @original edit, message, reply,
 * reaction, gateway payload either way, close, tick), the other bytes its
 * fields, drawn from small alphabets (8 interaction ids and tokens, 8 message
 * ids, 3 channels, 3 gateway connections) so that answers meet their
 * lifecycles, replays and collisions happen, and the 16-slot table evicts.
 * Time moves forward by e * 10 ms per operation. After lc_shutdown() the
 * registry is collected and checked: no more outcomes than arrivals.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event.h"
#include "lc.h"
#include "reg.h"
#include "spans.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fuzz_getenv(const char *name)
{
    static const char *const env[] = {"ARGUS_MAX_OPEN_LIFECYCLES",
                                      "16",
                                      "ARGUS_PREFIX_TIMEOUT_S",
                                      "1",
                                      "ARGUS_DEFERRED_TIMEOUT_S",
                                      "5",
                                      "ARGUS_MAX_PREFIX_COMMANDS",
                                      "2",
                                      "ARGUS_PREFIX",
                                      "!,?",
                                      NULL};
    for (const char *const *p = env; *p; p += 2) {
        if (strcmp(p[0], name) == 0)
            return p[1];
    }
    return NULL;
}

static const int statuses[] = {204, 200, 404, 400, 429, 500, 0, 403};
static const char *const contents[] = {
    "!ping",    "!PING now",
    "<@42> hi", "hello",
    "!",        "?a.b",
    "! x",      "!abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"};
static const char *const dispatches[] = {"READY", "RESUMED", "GUILD_CREATE", "GUILD_DELETE"};

static uint64_t sum_points(struct reg_snapshot *snap, const char *name)
{
    uint64_t total = 0;
    for (size_t i = 0; i < snap->n_metrics; i++) {
        if (strcmp(snap->metrics[i].name, name) != 0)
            continue;
        for (size_t p = 0; p < snap->metrics[i].n_points; p++)
            total += snap->metrics[i].points[p].value.u64;
    }
    return total;
}

static void rest_event(struct argus_event *ev, const char *method, const char *route,
                       const uint8_t *op, uint64_t now)
{
    *ev = (struct argus_event){.kind = EV_REST, .conn_id = 9, .t_ns = now};
    snprintf(ev->u.rest.method, sizeof(ev->u.rest.method), "%s", method);
    snprintf(ev->u.rest.route, sizeof(ev->u.rest.route), "%s", route);
    ev->u.rest.status = statuses[op[3] % 8];
    ev->u.rest.discord_error_code = op[4] & 1 ? 10062 : 0;
    ev->u.rest.request_ns = now - (op[6] % 4) * 1000000ull;
    ev->u.rest.response_ns = now;
    ev->u.rest.callback_type = -1;
    ev->u.rest.commands_synced = op[7] == 0xff ? op[6] : -1;
    ev->u.rest.reset_after_s = ev->u.rest.retry_after_s = -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct argus_config cfg;
    static int loaded;
    uint64_t now = 10ull * 1000000000ull, messages = 0;
    if (!loaded) {
        argus_config_load(&cfg, fuzz_getenv);
        loaded = 1;
    }
    struct reg *reg = reg_create(0, "fuzz");
    struct spanq *spans = spanq_create(8, 8);
    struct lc *lc = reg && spans ? lc_create(&cfg, reg, spans) : NULL;
    if (!lc)
        goto out;

    for (size_t at = 0; at + 8 <= size; at += 8) {
        const uint8_t *op = data + at;
        struct argus_event ev = {.t_ns = now};
        struct span drained[8];
        now += (uint64_t)op[5] * 10000000ull;
        ev.t_ns = now;
        switch (op[0] % 10) {
        case 0: /* INTERACTION_CREATE */
            ev.kind = EV_GW_RECV;
            ev.conn_id = 1;
            snprintf(ev.u.gw.t, sizeof(ev.u.gw.t), "INTERACTION_CREATE");
            ev.u.gw.u.interaction.id = 1 + op[1] % 8;
            ev.u.gw.u.interaction.token_hash = 0x100 + op[2] % 8;
            ev.u.gw.u.interaction.type = 1 + op[3] % 5;
            ev.u.gw.u.interaction.guild_id = op[4];
            snprintf(ev.u.gw.u.interaction.name, EV_NAME_MAX, "%s", op[4] & 1 ? "admin stats" : "");
            break;
        case 1: /* a callback */
            rest_event(&ev, "POST", "/interactions/{id}/{token}/callback", op, now);
            ev.u.rest.interaction_id = op[1] < 240 ? 1 + op[1] % 8 : 0;
            ev.u.rest.token_hash = 0x100 + op[2] % 8;
            ev.u.rest.callback_type = op[7] % 10;
            break;
        case 2: /* a follow-up or @original edit */
            if (op[7] & 1) {
                rest_event(&ev, "PATCH", "/webhooks/{webhook_id}/{token}/messages/@original", op,
                           now);
                ev.u.rest.is_original_edit = true;
            } else {
                rest_event(&ev, "POST", "/webhooks/{webhook_id}/{token}", op, now);
            }
            ev.u.rest.webhook_id = 77;
            ev.u.rest.token_hash = 0x100 + op[2] % 8;
            break;
        case 3: /* MESSAGE_CREATE */
            ev.kind = EV_GW_RECV;
            ev.conn_id = 1;
            snprintf(ev.u.gw.t, sizeof(ev.u.gw.t), "MESSAGE_CREATE");
            ev.u.gw.u.message.id = 1000 + op[1] % 8;
            ev.u.gw.u.message.channel_id = 1 + op[2] % 3;
            ev.u.gw.u.message.author_bot = op[3] & 1;
            ev.u.gw.u.message.content_len = (uint16_t)strnlen(contents[op[4] % 8], EV_CONTENT_HEAD);
            memcpy(ev.u.gw.u.message.content_head, contents[op[4] % 8],
                   ev.u.gw.u.message.content_len);
            messages++;
            break;
        case 4: /* a bot message in a channel */
            rest_event(&ev, "POST", "/channels/{channel_id}/messages", op, now);
            ev.u.rest.channel_id = 1 + op[2] % 3;
            ev.u.rest.ref_message_id = op[1] & 1 ? 1000 + op[1] % 8 : 0;
            break;
        case 5: /* a reaction */
            rest_event(&ev, "PUT", "/channels/{channel_id}/messages/{id}/reactions/{emoji}/@me", op,
                       now);
            ev.u.rest.channel_id = 1 + op[2] % 3;
            ev.u.rest.message_id = 1000 + op[1] % 8;
            ev.u.rest.is_reaction = true;
            break;
        case 6: /* HEARTBEAT, IDENTIFY or RESUME written */
            ev.kind = EV_GW_SEND;
            ev.conn_id = 1 + op[1] % 3;
            ev.u.gw.op = (int[]){1, 2, 6}[op[2] % 3];
            ev.u.gw.u.identify.shard_id = (int)(op[3] % 4) - 1;
            ev.u.gw.u.identify.shard_count = op[4] % 4;
            break;
        case 7: /* HEARTBEAT_ACK or a dispatch read */
            ev.kind = EV_GW_RECV;
            ev.conn_id = 1 + op[1] % 3;
            if (op[2] & 1) {
                ev.u.gw.op = 11;
            } else {
                snprintf(ev.u.gw.t, sizeof(ev.u.gw.t), "%s", dispatches[op[3] % 4]);
                ev.u.gw.u.ready.user_id = 42;
                ev.u.gw.u.ready.shard_id = (int)(op[4] % 4) - 1;
                ev.u.gw.u.ready.shard_count = op[6] % 4;
                ev.u.gw.u.ready.guild_count = op[7] % 5;
                if (op[3] % 4 >= 2) {
                    ev.u.gw.u.guild.guild_id = 1 + op[4] % 16;
                    ev.u.gw.u.guild.unavailable = op[6] & 1;
                }
            }
            break;
        case 8: /* a close frame or the end of a connection */
            ev.kind = op[2] & 1 ? EV_WS_CLOSE : EV_CONN_CLOSE;
            ev.conn_id = 1 + op[1] % 3;
            ev.u.close.code = op[3] & 1 ? 4000 + op[4] % 15 : 0;
            break;
        default:
            lc_tick(lc, now);
            spanq_pop(spans, drained, 8);
            continue;
        }
        lc_on_event(&ev, lc);
    }
    lc_shutdown(lc);

    struct reg_reader *rd = reg_reader_create(reg, ARGUS_TEMPORALITY_CUMULATIVE);
    struct reg_snapshot *snap = NULL;
    if (rd && reg_collect(rd, &snap) == 0) {
        if (sum_points(snap, "discord_interaction_responses_total") >
            sum_points(snap, "discord_interactions_total"))
            abort(); /* an interaction ended twice */
        if (sum_points(snap, "discord_commands_total") > messages)
            abort(); /* a prefix command ended twice */
    }
    reg_snapshot_destroy(snap);
    reg_reader_destroy(rd);
out:
    lc_destroy(lc);
    spanq_destroy(spans);
    reg_destroy(reg);
    return 0;
}
