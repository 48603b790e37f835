/*
 * lc_gw.h - what the gateway says about the bot: shards, heartbeat latency,
 * disconnects, reconnects, guilds, and the synced command count.
 *
 * It owns the state behind the gauges discord_shard_latency_seconds,
 * discord_shard_up, discord_shards_connected, discord_shards_configured,
 * discord_guilds, discord_app_commands_registered, discord_shard_ws_ratelimited,
 * discord_event_loop_lag_seconds and the cache gauges discord_cached_users,
 * discord_emojis, discord_stickers, discord_private_channels and
 * discord_voice_clients, and records the counters
 * discord_shard_disconnects_total, discord_shard_reconnects_total and
 * argus_state_dropped_total.
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
 *     READY's guild count stands in (the gauge is the larger of the two);
 *   - a shard is ws-ratelimited while its connection's last LC_GW_SEND_CAP
 *     payloads written (heartbeats aside) all fall in the last 60 s;
 *   - loop lag is how far a HEARTBEAT written came after the previous one
 *     (or HELLO) plus HELLO's interval: the largest sample of the last
 *     minute, else the last one; sampled at heartbeat cadence, a lower bound;
 *   - cached users are the distinct user ids of guild memberships
 *     (GUILD_CREATE and GUILD_MEMBERS_CHUNK members, GUILD_MEMBER_ADD, minus
 *     GUILD_MEMBER_REMOVE and removed guilds; lc_users.h); emojis and
 *     stickers the per-guild array lengths of GUILD_CREATE and the
 *     *_UPDATE events, summed over the guild set;
 *   - DM channels are READY's private_channels (shard 0) plus DM and group
 *     DM CHANNEL_CREATEs (minus CHANNEL_DELETEs);
 *   - voice clients are the larger of the guilds where the bot's own
 *     VOICE_STATE_UPDATE has a channel and the open voice gateway
 *     connections (*.discord.media).
 *
 * Bounds: LC_GW_MAX_CONNS gateway connections and LC_GW_MAX_SHARDS shards are
 * tracked (beyond, the oldest connection is dropped and the line said once);
 * the guild set holds LC_GW_MAX_GUILDS ids, the DM set LC_GW_MAX_DMS and the
 * membership table LC_GW_MAX_MEMBERSHIPS; an id past a full table is not
 * kept and is counted in argus_state_dropped_total{table}.
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
/* Guild memberships kept for discord_cached_users: 2^20 (at most 56 MB at the
 * cap, 32 bytes a membership and 24 a user; nothing until used). */
#define LC_GW_MAX_MEMBERSHIPS (1u << 20)
#define LC_GW_MAX_DMS (1u << 16)
/* Gateway payloads a client writes per 60 s, heartbeats aside
 * (discord-wire.md §4): discord.py stops at 110 of Discord's 120, discord.js
 * at 115 (IDENTIFY and RESUME aside too). The gauge says 1 from the
 * smaller, where discord.py waits and discord.js has 5 left. */
#define LC_GW_SEND_CAP 110

struct lc_gw;

/* ns: the metric name prefix (ARGUS_NAMESPACE), copied. */
struct lc_gw *lc_gw_create(struct reg *reg, const char *ns);
void lc_gw_destroy(struct lc_gw *gw);

/* A payload the bot read (EV_GW_RECV) or wrote (EV_GW_SEND). */
void lc_gw_on_payload(struct lc_gw *gw, const struct argus_event *ev);
/* EV_CONN_KIND of any connection: a voice gateway is counted until it
 * closes (others are ignored). */
void lc_gw_on_kind(struct lc_gw *gw, const struct argus_event *ev);
/* EV_WS_CLOSE or EV_CONN_CLOSE of any connection (others are ignored). */
void lc_gw_on_close(struct lc_gw *gw, const struct argus_event *ev);
/* argus_state_dropped_total, for the other tables of the tracker (NULL if
 * its definition failed). */
struct reg_metric *lc_gw_dropped(struct lc_gw *gw);
/* A 2xx command sync returned n commands. */
void lc_gw_set_commands_registered(struct lc_gw *gw, int n);

#endif
