/*
 * lc_gw.h - what the gateway says about the bot: shards, heartbeat latency,
 * disconnects, reconnects, guilds, and the synced command count.
 *
 * It owns the state behind the gauges discord_shard_latency_seconds,
 * discord_shard_up, discord_shards_connected, discord_shards_configured,
 * discord_guilds and discord_app_commands_registered, and records the
 * counters discord_shard_disconnects_total and discord_shard_reconnects_total.
 * ("discord" is cfg->ns.) Gauges are computed when a reader collects
 * (invariant 5): nothing polls. A shard's reconnects series exists, at 0,
 * from its first IDENTIFY, READY or RESUME, so rate() and increase() see its
 * first reconnect; disconnects have no such 0, because their close code is
 * unknown until the disconnect.
 *
 * How the wire is read (discord-wire.md §4):
 *   - a gateway connection's shard is the shard of its IDENTIFY (or READY);
 *     unsharded bots are shard 0. RESUME carries no shard, so a resuming
 *     connection takes the shard that went down most recently and is not up;
 *   - latency is HEARTBEAT (op 1) written to HEARTBEAT_ACK (op 11) read on the
 *     same connection, as discord.py and discord.js measure it; the gauge shows
 *     the last round trip per shard;
 *   - a shard is up from READY or RESUMED until its connection closes;
 *   - a disconnect is counted once per identified connection, at the first
 *     close frame (either direction) with its code, or when the connection
 *     ends without one (code 1006);
 *   - a reconnect is a RESUME written, or an IDENTIFY for a shard that was up
 *     before;
 *   - guilds are the set of ids from GUILD_CREATE minus GUILD_DELETE without
 *     "unavailable" (a removal); until the GUILD_CREATEs of a login arrive, the
 *     READY's guild count stands in (the gauge is the larger of the two).
 *
 * Bounds: LC_GW_MAX_CONNS gateway connections and LC_GW_MAX_SHARDS shards are
 * tracked (beyond, the oldest connection is dropped and the line said once);
 * the guild set holds LC_GW_MAX_GUILDS ids.
 *
 * Threads: every lc_gw_on_*() and lc_gw_set_*() call is the decode thread's;
 * the gauge callbacks run on reader threads. Both sides take lc_gw's own
 * mutex, held only around in-memory updates.
 *
 * Ownership: lc_gw_create() returns a heap object (NULL only when allocation
 * failed, and then nothing was defined in reg) and defines its instruments in
 * reg, whose gauge callbacks point at it: call lc_gw_destroy() (accepts NULL)
 * only once no reader will collect reg again.
 */
#ifndef ARGUS_LC_GW_H
#define ARGUS_LC_GW_H

#include <stdint.h>

#include "event.h"
#include "reg.h"

#define LC_GW_MAX_CONNS 256
#define LC_GW_MAX_SHARDS 1024
#define LC_GW_MAX_GUILDS (1u << 19)

struct lc_gw;

/* ns: the metric name prefix (ARGUS_NAMESPACE), copied. */
struct lc_gw *lc_gw_create(struct reg *reg, const char *ns);
void lc_gw_destroy(struct lc_gw *gw);

/* A payload the bot read (EV_GW_RECV) or wrote (EV_GW_SEND). */
void lc_gw_on_payload(struct lc_gw *gw, const struct argus_event *ev);
/* EV_WS_CLOSE or EV_CONN_CLOSE of any connection (others are ignored). */
void lc_gw_on_close(struct lc_gw *gw, const struct argus_event *ev);
/* A 2xx command sync returned n commands. */
void lc_gw_set_commands_registered(struct lc_gw *gw, int n);

#endif
