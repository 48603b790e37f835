"""Ground truth: what happened during a run, as Discord itself saw it.

The simulator reports every dispatch, callback, webhook call and channel
message here; this module turns them into command lifecycles with the outcome
rules of shared/design.md, judged from Discord's side of the wire:

  success  the bot answered in time and Discord accepted the answer (for a
           deferred answer, type 5, only once the follow-up or the @original
           edit was accepted);
  error    Discord rejected the answer with an HTTP error (e.g. the callback of
           an interaction that was already 3.5 s old when it was delivered:
           404 code 10062);
  timeout  no initial response within 3 s of the delivery, or a deferred
           answer never completed within followup_deadline_s. A callback that
           arrives after those 3 s is still recorded (Discord answers it 404
           10062) but the lifecycle already closed as a timeout, which is what
           the user saw ("The application did not respond").

Prefix commands follow the same words: success when the bot's reply in the
channel was accepted, error when it was rejected, timeout when no reply came
within prefix_deadline_s (discord.py's default error handler sends nothing).

Times are wall-clock seconds (time.time()) so they can be lined up with
Argus' span timestamps. The recorder runs on the simulator's single asyncio
loop; nothing here is thread-safe and nothing needs to be. Tokens and message
contents are never stored.
"""

import asyncio
import collections
import json
import os
import time

INITIAL_RESPONSE_DEADLINE_S = 3.0
DEFERRED_CALLBACK_TYPES = {5}


class InteractionRecord:
    def __init__(self, interaction_id, kind, name, created_at, shard):
        self.id = interaction_id
        self.kind = kind              # command | component | autocomplete | modal_submit
        self.name = name              # "admin stats", custom_id, ...
        self.created_at = created_at  # snowflake time
        self.shard = shard
        self.dispatched_at = None
        self.callback_at = None
        self.callback_type = None
        self.callback_status = None
        self.callback_code = None
        self.late_callbacks = []      # (at, status, code) after the lifecycle closed
        self.completed_at = None
        self.completion_status = None
        self.webhook_calls = 0
        self.outcome = None
        self.closed_at = None

    def as_json(self):
        return {k: v for k, v in vars(self).items()}


class PrefixRecord:
    def __init__(self, message_id, channel_id, command, shard):
        self.message_id = message_id
        self.channel_id = channel_id
        self.command = command
        self.shard = shard
        self.dispatched_at = None
        self.reply_at = None
        self.reply_status = None
        self.reply_attempts = 0
        self.outcome = None
        self.closed_at = None

    def as_json(self):
        return {k: v for k, v in vars(self).items() if k != "channel_id"}


class Truth:
    def __init__(self, scenario_name, prefix_deadline_s, followup_deadline_s):
        self.scenario = scenario_name
        self.prefix_deadline_s = prefix_deadline_s
        self.followup_deadline_s = followup_deadline_s
        self.interactions = collections.OrderedDict()
        self.prefix = collections.OrderedDict()
        self.dispatches = collections.Counter()
        self.replayed = collections.Counter()
        self.heartbeats = collections.Counter()       # per shard, op 1 received
        self.heartbeat_acks = collections.Counter()   # per shard, op 11 sent
        self.heartbeat_gaps_ms = collections.defaultdict(list)
        self._last_heartbeat = {}
        self.heartbeat_round_trips_ms = collections.defaultdict(list)
        self.gateway_connections = []
        self.identifies = 0
        self.resumes = 0
        self.reconnects_requested = 0
        self.invalid_sessions = 0
        self.outages = []           # [{"shard", "from", "to", "refused"}], the outage step
        self.guilds = 0
        self.rest = collections.Counter()             # (method, route, status)
        self.rest_connections = set()
        self.rate_limited = []
        self.unknown_routes = collections.Counter()
        self.headroom = {}                            # route -> lowest remaining / limit
        self.session_start_limit = None               # what GET /gateway/bot answered
        # What the bot's library caches, as the gateway told it (issue 13).
        self.members = collections.defaultdict(set)   # guild id -> user ids
        self.emojis = {}                              # guild id -> count
        self.stickers = {}
        self.dm_channels = set()
        self.bot_voice = {}                           # guild id -> voice channel id
        self.started_at = None
        self.ready_at = None
        self.finished_at = None
        self.notes = []
        self._open = 0
        self._all_closed = asyncio.Event()
        self._all_closed.set()

    # ---- lifecycle bookkeeping -------------------------------------------------

    def _opened(self):
        self._open += 1
        self._all_closed.clear()

    def _close(self, record, outcome, at):
        if record.outcome is not None:
            return
        record.outcome = outcome
        record.closed_at = at
        self._open -= 1
        if self._open == 0:
            self._all_closed.set()

    async def wait_all_closed(self):
        await self._all_closed.wait()

    def open_count(self):
        return self._open

    # ---- interactions ----------------------------------------------------------

    def interaction_created(self, interaction_id, kind, name, created_at, shard):
        record = InteractionRecord(interaction_id, kind, name, created_at, shard)
        self.interactions[interaction_id] = record
        self._opened()
        return record

    def interaction_dispatched(self, record, at):
        if record.dispatched_at is not None:
            return  # a replay after RESUME; the first delivery counts
        record.dispatched_at = at
        loop = asyncio.get_running_loop()
        loop.call_later(INITIAL_RESPONSE_DEADLINE_S, self._initial_deadline, record)

    def _initial_deadline(self, record):
        if record.callback_at is None:
            self._close(record, "timeout", record.dispatched_at + INITIAL_RESPONSE_DEADLINE_S)

    def _followup_deadline(self, record):
        if record.completed_at is None:
            self._close(record, "timeout", record.callback_at + self.followup_deadline_s)

    def callback_answered(self, record, at, callback_type, status, code):
        """The bot's initial response and what Discord answered it."""
        if record.outcome is not None or record.callback_at is not None:
            record.late_callbacks.append({"at": at, "type": callback_type,
                                          "status": status, "code": code})
            return
        record.callback_at = at
        record.callback_type = callback_type
        record.callback_status = status
        record.callback_code = code
        if status >= 400:
            self._close(record, "error", at)
        elif callback_type in DEFERRED_CALLBACK_TYPES:
            asyncio.get_running_loop().call_later(self.followup_deadline_s,
                                                  self._followup_deadline, record)
        else:
            self._close(record, "success", at)

    def webhook_answered(self, record, at, status):
        """A follow-up or @original edit for this interaction."""
        record.webhook_calls += 1
        if record.completed_at is not None or record.callback_type not in DEFERRED_CALLBACK_TYPES:
            return
        if record.outcome is not None:
            return
        record.completed_at = at
        record.completion_status = status
        self._close(record, "success" if status < 400 else "error", at)

    def close_undelivered(self, at):
        """Events kept for a session that was then invalidated never reach the
        bot; for the user that is a command nobody answered."""
        for record in list(self.interactions.values()) + list(self.prefix.values()):
            if record.dispatched_at is None and record.outcome is None:
                self.notes.append(f"{type(record).__name__} never delivered; counted as timeout")
                self._close(record, "timeout", at)

    # ---- prefix commands -------------------------------------------------------

    def prefix_created(self, message_id, channel_id, command, shard):
        record = PrefixRecord(message_id, channel_id, command, shard)
        self.prefix[message_id] = record
        self._opened()
        return record

    def prefix_dispatched(self, record, at):
        if record.dispatched_at is not None:
            return
        record.dispatched_at = at
        asyncio.get_running_loop().call_later(self.prefix_deadline_s, self._prefix_deadline, record)

    def _prefix_deadline(self, record):
        if record.reply_at is None:
            self._close(record, "timeout", record.dispatched_at + self.prefix_deadline_s)

    def find_prefix_for_reply(self, channel_id, referenced_id):
        """The command a bot message answers: the referenced one, else the
        oldest still-open command in that channel (ctx.send has no reference)."""
        if referenced_id in self.prefix:
            return self.prefix[referenced_id]
        for record in self.prefix.values():
            if record.channel_id == channel_id and record.outcome is None \
                    and record.dispatched_at is not None:
                return record
        return None

    def prefix_reply(self, record, at, status):
        record.reply_attempts += 1
        if status == 429 or record.outcome is not None:
            return  # the library retries after Retry-After; the retry decides
        record.reply_at = at
        record.reply_status = status
        self._close(record, "success" if status < 400 else "error", at)

    # ---- gateway and REST ------------------------------------------------------

    def dispatch_sent(self, event_name, replay):
        if replay:
            self.replayed[event_name] += 1
        else:
            self.dispatches[event_name] += 1

    def heartbeat(self, shard, at):
        """An op 1 from the client; shard None means before IDENTIFY/RESUME
        (discord.py beats once as soon as HELLO arrives)."""
        shard = "unidentified" if shard is None else str(shard)
        self.heartbeats[shard] += 1
        last = self._last_heartbeat.get(shard)
        if last is not None:
            self.heartbeat_gaps_ms[shard].append(round((at - last) * 1000.0, 1))
        self._last_heartbeat[shard] = at

    def heartbeat_round_trip(self, shard, seconds):
        """op 1 sent by the server -> the client's op 1: a round trip as Discord sees it."""
        shard = "unidentified" if shard is None else str(shard)
        self.heartbeat_round_trips_ms[shard].append(round(seconds * 1000.0, 3))

    def heartbeat_acked(self, shard):
        self.heartbeat_acks["unidentified" if shard is None else str(shard)] += 1

    def rest_request(self, method, route, status, connection_key):
        self.rest[(method, route, status)] += 1
        self.rest_connections.add(connection_key)

    def ratelimit_headers(self, route, limit, remaining):
        if limit > 0:
            value = min(1.0, remaining / limit)
            self.headroom[route] = min(self.headroom.get(route, 1.0), value)

    # ---- caches (GUILD_CREATE and its updates) ------------------------------------

    def guild_cached(self, guild_id, user_ids, emojis, stickers):
        self.members[guild_id] = set(user_ids)
        self.emojis[guild_id] = emojis
        self.stickers[guild_id] = stickers

    def catalogue(self):
        users = set()
        for ids in self.members.values():
            users |= ids
        return {"cached_users": len(users), "emojis": sum(self.emojis.values()),
                "stickers": sum(self.stickers.values()),
                "private_channels": len(self.dm_channels),
                "voice_clients": sum(1 for c in self.bot_voice.values() if c)}

    # ---- output ----------------------------------------------------------------

    def summary(self):
        by_command = collections.defaultdict(collections.Counter)
        for record in self.interactions.values():
            by_command[f"{record.kind}:{record.name}"][record.outcome or "open"] += 1
        prefix = collections.defaultdict(collections.Counter)
        for record in self.prefix.values():
            prefix[record.command][record.outcome or "open"] += 1
        return {"interactions_by_command": {k: dict(v) for k, v in sorted(by_command.items())},
                "prefix_by_command": {k: dict(v) for k, v in sorted(prefix.items())},
                "open": self._open}

    def as_json(self):
        return {
            "scenario": self.scenario,
            "started_at": self.started_at, "ready_at": self.ready_at,
            "finished_at": self.finished_at,
            "summary": self.summary(),
            "interactions": [r.as_json() for r in self.interactions.values()],
            "prefix_commands": [r.as_json() for r in self.prefix.values()],
            "dispatches": dict(sorted(self.dispatches.items())),
            "dispatches_total": sum(self.dispatches.values()),
            "dispatches_replayed": dict(sorted(self.replayed.items())),
            "heartbeats": {s: {"received": self.heartbeats[s],
                                    "acks_sent": self.heartbeat_acks[s],
                                    "intervals_ms": self.heartbeat_gaps_ms[s],
                                    "requested_round_trips_ms": self.heartbeat_round_trips_ms[s]}
                           for s in sorted(set(self.heartbeats) | set(self.heartbeat_acks))},
            "gateway": {"connections": self.gateway_connections,
                        "identifies": self.identifies, "resumes": self.resumes,
                        "reconnects_requested": self.reconnects_requested,
                        "invalid_sessions": self.invalid_sessions,
                        "outages": self.outages},
            "guilds": self.guilds,
            "rest": {"requests": [{"method": m, "route": r, "status": s, "count": n}
                                  for (m, r, s), n in sorted(self.rest.items())],
                     "connections": len(self.rest_connections),
                     "rate_limited": self.rate_limited,
                     "unknown_routes": dict(self.unknown_routes),
                     "headroom": dict(sorted(self.headroom.items())),
                     "session_start_limit": self.session_start_limit},
            "catalogue": self.catalogue(),
            "notes": self.notes,
        }

    def write(self, path):
        self.finished_at = time.time()
        with open(path + ".tmp", "w") as out:
            json.dump(self.as_json(), out, indent=1, sort_keys=False)
        os.replace(path + ".tmp", path)
