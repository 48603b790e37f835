"""The gateway side of the simulator: wss://gateway.discord.gg and the resume host.

One GatewayConnection per WebSocket, one Session per identified shard. A
session outlives its connection: dispatches sent while the shard is away are
kept (bounded) and replayed on RESUME, then RESUMED, as Discord does. Each
connection encodes JSON and applies the transport compression the client
asked for in the query string: zlib-stream (one zlib stream per connection,
every message ending on a Z_SYNC_FLUSH) or zstd-stream (one zstd stream, each
message flushed as a block). WebSocket permessage-deflate is accepted or
refused by a switch, since whether Discord accepts the offer is unknown.

Sending is serialised per connection under a lock so that sequence numbers,
the compression context and the order of frames on the wire always agree.
"""

import asyncio
import json
import logging
import secrets
import time
import zlib

from aiohttp import web, WSMsgType

import fake_secrets

try:
    import zstandard
except ImportError:  # zstd-stream is refused (close 4002) without it
    zstandard = None

log = logging.getLogger("sim.gateway")

RESUME_HOST = "gateway-us-east1-b.discord.gg"
HISTORY_CAP = 50000  # dispatches kept per session for replay

CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_API_VERSION = 4012


class Session:
    def __init__(self, shard_id, shard_count):
        self.id = secrets.token_hex(16)
        self.shard_id = shard_id
        self.shard_count = shard_count
        self.seq = 0
        self.history = []          # (seq, event name, frame text) for replay
        self.connection = None
        self.lock = asyncio.Lock()


class GatewayConnection:
    def __init__(self, ws, compress, record):
        self.ws = ws
        self.compress = compress
        self.record = record       # the ground-truth entry for this connection
        self.session = None
        self.closing = None        # a server-initiated close running in another task
        self.heartbeat_requested_at = None  # when we sent op 1, awaiting the client's beat
        self._lock = asyncio.Lock()
        if compress == "zlib-stream":
            self._zlib = zlib.compressobj()
        elif compress == "zstd-stream":
            self._zstd = zstandard.ZstdCompressor().compressobj()

    async def send_text(self, text):
        """True when the frame was written, False when the socket had closed."""
        async with self._lock:
            return await self._send_unlocked(text)

    async def _send_unlocked(self, text):
        if self.ws.closed:
            return False
        data = text.encode()
        if self.compress == "zlib-stream":
            await self.ws.send_bytes(self._zlib.compress(data) + self._zlib.flush(zlib.Z_SYNC_FLUSH))
        elif self.compress == "zstd-stream":
            await self.ws.send_bytes(self._zstd.compress(data)
                                     + self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))
        else:
            await self.ws.send_str(text)
        return True


def envelope(op, d, s=None, t=None):
    # Discord's own frames put "t" first; clients must not rely on key order.
    return json.dumps({"t": t, "s": s, "op": op, "d": d}, separators=(",", ":"))


class Gateway:
    def __init__(self, sim):
        self.sim = sim
        self.truth = sim.truth
        self.sessions = {}            # session id -> Session
        self.shards = {}              # shard id -> current Session
        self.refusing = None          # the running outage's truth record, or None

    # ---- dispatching -----------------------------------------------------------

    def session_for_guild(self, guild):
        for session in self.shards.values():
            if self.sim.world.guild_shard(guild, session.shard_count) == session.shard_id:
                return session
        return None

    async def dispatch(self, session, event_name, data, on_sent=None):
        """Send (or keep for replay) one dispatch; on_sent(at) runs when it is
        actually written to a connection, now or at the replay."""
        async with session.lock:
            session.seq += 1
            text = envelope(0, data, session.seq, event_name)
            session.history.append((session.seq, event_name, text, on_sent))
            if len(session.history) > HISTORY_CAP:
                del session.history[: len(session.history) - HISTORY_CAP]
            connection = session.connection
            # Counted when delivered: now, or at the replay after a RESUME.
            if connection is not None and await connection.send_text(text):
                self.truth.dispatch_sent(event_name, replay=False)
                if on_sent is not None:
                    on_sent(time.time())

    async def send_op(self, session, op, d):
        connection = session.connection
        if connection is not None:
            await connection.send_text(envelope(op, d))

    # ---- the WebSocket endpoint --------------------------------------------------

    async def handle(self, request):
        query = request.query
        compress = query.get("compress")
        ws = web.WebSocketResponse(compress=self.sim.permessage_deflate, max_msg_size=0,
                                   autoping=True)
        await ws.prepare(request)
        record = {"host": request.host, "opened_at": time.time(), "compress": compress,
                  "encoding": query.get("encoding", "json"),
                  "permessage_deflate": ws.compress is not False and bool(ws.compress),
                  "shard": None, "identified": False, "resumed": False,
                  "client_close_code": None, "server_close_code": None, "closed_at": None}
        self.truth.gateway_connections.append(record)
        connection = GatewayConnection(ws, compress, record)
        try:
            if self.refusing is not None and time.time() < self.refusing["to"]:
                # A gateway that is down for this bot: every connection is
                # closed before HELLO with 1000, which discord.py and
                # discord.js answer by backing off, then resuming.
                self.refusing["refused"] += 1
                record["refused"] = True
                await self._close(connection, 1000, "Gateway unavailable")
            elif query.get("v") not in ("9", "10"):
                await self._close(connection, CLOSE_INVALID_API_VERSION, "Invalid API version")
            elif query.get("encoding", "json") != "json" or \
                    compress not in (None, "zlib-stream", "zstd-stream") or \
                    (compress == "zstd-stream" and zstandard is None):
                await self._close(connection, CLOSE_DECODE_ERROR, "Unsupported encoding")
            else:
                await self._serve(connection)
                if connection.closing is not None:
                    # Let the scenario's close write its code first; returning
                    # now would make aiohttp close with 1000 instead.
                    await connection.closing
        finally:
            record["closed_at"] = time.time()
            if record["client_close_code"] is None and ws.close_code is not None \
                    and record["server_close_code"] is None:
                record["client_close_code"] = ws.close_code
            if connection.session is not None and connection.session.connection is connection:
                connection.session.connection = None
        return ws

    async def _close(self, connection, code, reason):
        connection.record["server_close_code"] = code
        await connection.ws.close(code=code, message=reason.encode())

    async def _serve(self, connection):
        trace = [f"[\"gateway-prd-us-east1-b-{secrets.randbelow(99)}\",{{\"micros\":0.0}}]"]
        await connection.send_text(envelope(10, {"heartbeat_interval": self.sim.heartbeat_interval_ms,
                                                 "_trace": trace}))
        async for message in connection.ws:
            if message.type == WSMsgType.TEXT:
                text = message.data
            elif message.type == WSMsgType.BINARY:
                text = message.data.decode(errors="replace")
            else:
                break
            try:
                payload = json.loads(text)
                op = payload["op"]
            except (ValueError, KeyError, TypeError):
                await self._close(connection, CLOSE_DECODE_ERROR, "Error while decoding payload.")
                break
            if not await self._handle_op(connection, op, payload.get("d")):
                break
        if connection.ws.close_code is not None and connection.record["server_close_code"] is None:
            connection.record["client_close_code"] = connection.ws.close_code

    async def _handle_op(self, connection, op, d):
        """One client payload; False ends the connection."""
        shard = connection.session.shard_id if connection.session else None
        if op == 1:
            now = time.time()
            self.truth.heartbeat(shard, now)
            if connection.heartbeat_requested_at is not None:
                self.truth.heartbeat_round_trip(shard, now - connection.heartbeat_requested_at)
                connection.heartbeat_requested_at = None
            await connection.send_text(json.dumps({"op": 11}))
            self.truth.heartbeat_acked(shard)
            return True
        if op == 2:
            return await self._identify(connection, d or {})
        if op == 6:
            return await self._resume(connection, d or {})
        if op in (3, 4, 8, 31, 43):
            if connection.session is None:
                await self._close(connection, CLOSE_NOT_AUTHENTICATED, "Not authenticated.")
                return False
            return True
        await self._close(connection, CLOSE_UNKNOWN_OPCODE, "Unknown opcode.")
        return False

    async def _identify(self, connection, d):
        if connection.session is not None:
            await self._close(connection, CLOSE_ALREADY_AUTHENTICATED, "Already authenticated.")
            return False
        if d.get("token") != fake_secrets.BOT_TOKEN:
            await self._close(connection, CLOSE_AUTHENTICATION_FAILED, "Authentication failed.")
            return False
        shard_id, shard_count = (d.get("shard") or [0, 1])[:2]
        session = Session(shard_id, shard_count)
        self.sessions[session.id] = session
        self.shards[shard_id] = session
        session.connection = connection
        connection.session = session
        connection.record.update({"shard": [shard_id, shard_count], "identified": True,
                                  "intents": d.get("intents")})
        self.truth.identifies += 1
        world = self.sim.world
        guilds = [g for g in world.guilds if world.guild_shard(g, shard_count) == shard_id]
        ready = {
            "v": 10, "user_settings": {}, "user": world.bot_user, "session_type": "normal",
            "session_id": session.id, "resume_gateway_url": f"wss://{RESUME_HOST}",
            "relationships": [], "private_channels": [], "presences": [],
            "guilds": [{"id": g["id"], "unavailable": True} for g in guilds],
            "guild_join_requests": [], "geo_ordered_rtc_regions": ["us-east", "us-central"],
            "application": {"id": world.application()["id"], "flags": world.application()["flags"]},
            "auth": {}, "_trace": ["[\"gateway-prd-us-east1-b\",{\"micros\":1234}]"],
        }
        if d.get("shard") is not None:
            ready["shard"] = [shard_id, shard_count]
        await self.dispatch(session, "READY", ready)
        for guild in guilds:
            await self.dispatch(session, "GUILD_CREATE", world.guild_create(guild))
            self.truth.guild_cached(guild["id"], {u["id"] for u in world.guild_members(guild)},
                                    guild["emojis"], guild["stickers"])
        self.truth.guilds = len(world.guilds)
        self.sim.shard_ready(session)
        return True

    async def _resume(self, connection, d):
        session = self.sessions.get(d.get("session_id"))
        if d.get("token") != fake_secrets.BOT_TOKEN:
            await self._close(connection, CLOSE_AUTHENTICATION_FAILED, "Authentication failed.")
            return False
        if session is None:
            self.truth.invalid_sessions += 1
            await connection.send_text(envelope(9, False))
            return True
        async with session.lock:
            old = session.connection
            session.connection = connection
            connection.session = session
            connection.record.update({"shard": [session.shard_id, session.shard_count],
                                      "resumed": True})
            self.shards[session.shard_id] = session
            last_seq = d.get("seq") or 0
            for seq, event_name, text, on_sent in session.history:
                if seq > last_seq:
                    await connection.send_text(text)
                    self.truth.dispatch_sent(event_name, replay=True)
                    if on_sent is not None:
                        on_sent(time.time())
        if old is not None and old is not connection and not old.ws.closed:
            await old.ws.close(code=4000, message=b"Session resumed elsewhere")
        self.truth.resumes += 1
        await self.dispatch(session, "RESUMED", {"_trace": ["[\"gateway-prd-us-east1-b\",{}]"]})
        return True

    # ---- scenario actions ----------------------------------------------------------

    async def request_reconnect(self, shard_id):
        session = self.shards.get(shard_id)
        if session is None:
            return False
        self.truth.reconnects_requested += 1
        await self.send_op(session, 7, None)
        return True

    async def request_heartbeat(self, shard_id):
        """op 1 from the server: the client must beat at once, which gives a
        round trip measured on Discord's side."""
        session = self.shards.get(shard_id)
        if session is None or session.connection is None:
            return False
        session.connection.heartbeat_requested_at = time.time()
        await session.connection.send_text(envelope(1, session.seq))
        return True

    async def close_shard(self, shard_id, code):
        """Discord drops the connection (e.g. 4000 while it restarts a node)."""
        session = self.shards.get(shard_id)
        if session is None or session.connection is None:
            return False
        connection = session.connection
        connection.closing = asyncio.get_running_loop().create_task(
            self._close(connection, code, "Closed by the simulator"))
        await connection.closing
        return True

    async def outage(self, shard_id, duration_s):
        """The shard's connection drops (4000) and every new gateway connection
        is closed before HELLO (1000) for duration_s: a shard kept down. Returns once
        the shard has a live session again (or 60 s after the outage)."""
        now = time.time()
        self.refusing = {"shard": shard_id, "from": now, "to": now + duration_s, "refused": 0}
        self.truth.outages.append(self.refusing)
        await self.close_shard(shard_id, 4000)
        await asyncio.sleep(duration_s)
        deadline = time.time() + 60
        while time.time() < deadline:
            session = self.shards.get(shard_id)
            record = session.connection.record if session and session.connection else None
            if record and record["opened_at"] > self.refusing["from"] and \
                    (record["resumed"] or record["identified"]):
                break
            await asyncio.sleep(0.1)
        self.refusing["back_at"] = time.time()

    async def invalidate_session(self, shard_id, resumable):
        session = self.shards.get(shard_id)
        if session is None:
            return False
        self.truth.invalid_sessions += 1
        if not resumable:
            self.sessions.pop(session.id, None)
        await self.send_op(session, 9, resumable)
        return True
