"""The REST side of the simulator: https://discord.com/api/v9 and /api/v10.

Covers what discord.py 2.2.2 and discord.js 14 call from start-up to answering
commands: users/@me, oauth2/applications/@me, gateway and gateway/bot,
application command sync, interaction callbacks, webhook follow-ups and
@original edits, channel messages, typing and reactions. Anything else is a
logged 404 with a Discord-style JSON error, so a missing route shows up in the
simulator log instead of as a mysterious client failure.

Responses look like Discord's behind Cloudflare: X-RateLimit-* headers per
bucket, `Via: 1.1 google` (discord.py treats a 429 without Via as a Cloudflare
ban), gzip when the client accepts it and the body is worth compressing,
chunked transfer for larger bodies, Content-Length otherwise. A scenario can
arm a 429 with Retry-After on a route; interaction callbacks and webhook calls
follow Discord's 3 s / 15 min token rules.
"""

import json
import logging
import math
import re
import time
import uuid

from aiohttp import web

import fake_secrets
from model import snowflake_time_s

log = logging.getLogger("sim.rest")

INTERACTION_TOKEN_LIFETIME_S = 15 * 60
BUCKET_LIMIT = 50
BUCKET_WINDOW_S = 1.0
CHUNKED_ABOVE_BYTES = 400
GZIP_ABOVE_BYTES = 120

SNOWFLAKE = r"\d{15,21}"
TOKEN = r"[A-Za-z0-9_\-\.]{20,}"


def route_template(path):
    """/channels/123/messages -> /channels/{id}/messages, tokens -> {token}."""
    parts = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        previous = segments[index - 1] if index else ""
        if re.fullmatch(SNOWFLAKE, segment):
            parts.append("{id}")
        elif previous == "reactions" and segment:
            parts.append("{emoji}")
        elif re.fullmatch(TOKEN, segment) and segment not in ("@me", "@original"):
            parts.append("{token}")
        else:
            parts.append(segment)
    return "/".join(parts)


def discord_error(status, code, message):
    return status, {"message": message, "code": code}


class Rest:
    def __init__(self, sim):
        self.sim = sim
        self.truth = sim.truth
        self.world = sim.world
        self.commands = {}          # scope (None = global, else guild id) -> [command]
        self.buckets = {}           # bucket key -> [window start, used]
        self.armed_429 = []         # [route key, retry_after, remaining count]
        self.armed_empty = []       # route keys whose next answer spends the bucket
        self.messages = {}          # message id -> message (the bot's messages)
        self.cookie_sent = set()
        self.routes = [
            ("GET", r"/users/@me", self.get_me),
            ("GET", r"/oauth2/applications/@me", self.get_application),
            ("GET", r"/applications/@me", self.get_application),
            ("GET", r"/gateway", self.get_gateway),
            ("GET", r"/gateway/bot", self.get_gateway_bot),
            ("PUT", rf"/applications/({SNOWFLAKE})/commands", self.put_commands),
            ("PUT", rf"/applications/({SNOWFLAKE})/guilds/({SNOWFLAKE})/commands", self.put_commands),
            ("GET", rf"/applications/({SNOWFLAKE})/commands", self.get_commands),
            ("GET", rf"/applications/({SNOWFLAKE})/guilds/({SNOWFLAKE})/commands", self.get_commands),
            ("POST", rf"/interactions/({SNOWFLAKE})/([^/]+)/callback", self.post_callback),
            ("POST", rf"/webhooks/({SNOWFLAKE})/([^/]+)", self.post_followup),
            ("GET", rf"/webhooks/({SNOWFLAKE})/([^/]+)/messages/(@original|{SNOWFLAKE})", self.webhook_message),
            ("PATCH", rf"/webhooks/({SNOWFLAKE})/([^/]+)/messages/(@original|{SNOWFLAKE})", self.webhook_message),
            ("DELETE", rf"/webhooks/({SNOWFLAKE})/([^/]+)/messages/(@original|{SNOWFLAKE})", self.webhook_message),
            ("POST", rf"/channels/({SNOWFLAKE})/messages", self.post_message),
            ("GET", rf"/channels/({SNOWFLAKE})/messages/({SNOWFLAKE})", self.get_message),
            ("PATCH", rf"/channels/({SNOWFLAKE})/messages/({SNOWFLAKE})", self.edit_message),
            ("DELETE", rf"/channels/({SNOWFLAKE})/messages/({SNOWFLAKE})", self.delete_message),
            ("POST", rf"/channels/({SNOWFLAKE})/typing", self.typing),
            ("PUT", rf"/channels/({SNOWFLAKE})/messages/({SNOWFLAKE})/reactions/([^/]+)/@me", self.reaction),
            ("DELETE", rf"/channels/({SNOWFLAKE})/messages/({SNOWFLAKE})/reactions/([^/]+)/@me", self.reaction),
            ("GET", rf"/channels/({SNOWFLAKE})", self.get_channel),
        ]
        # Interaction callbacks and webhooks carry their own token in the path
        # and no Authorization header (discord.py's webhook adapter, discord.js
        # auth:false); every other route needs the bot token.
        token_in_path = {self.post_callback, self.post_followup, self.webhook_message}
        self.routes = [(m, re.compile(p + r"/?"), h, h not in token_in_path)
                       for m, p, h in self.routes]

    # ---- the HTTP entry -------------------------------------------------------------

    async def handle(self, request):
        match = re.match(r"/api/v(9|10)(/.*)$", request.path)
        at = time.time()
        path = match.group(2) if match else request.path
        template = route_template(path)
        route_key = f"{request.method} {template}"
        handler, args, needs_bot_token = None, (), True
        for method, pattern, candidate, needs_token in self.routes:
            found = pattern.fullmatch(path) if match else None
            if found and method == request.method:
                handler, args, needs_bot_token = candidate, found.groups(), needs_token
                break
        body = None
        if request.can_read_body:
            raw = await request.read()
            if raw and request.content_type == "application/json":
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
            elif raw and request.content_type.startswith("multipart/"):
                body = {}
        authenticated = request.headers.get("Authorization") == f"Bot {fake_secrets.BOT_TOKEN}"
        extra_headers = {}
        if handler is None:
            log.warning("unknown route %s %s", request.method, template)
            self.truth.unknown_routes[route_key] += 1
            status, payload = discord_error(404, 0, "404: Not Found")
        elif needs_bot_token and not authenticated:
            status, payload = discord_error(401, 0, "401: Unauthorized")
        else:
            limited = self._take_armed_429(route_key)
            if limited is not None:
                status, payload, extra_headers = self._rate_limited(route_key, limited, at)
            else:
                status, payload = await handler(request, body, at, *args)
        # Interaction callbacks are exempt from rate limits and carry no bucket.
        if handler is not None and handler != self.post_callback and status != 429:
            extra_headers.update(self._bucket_headers(route_key, args, at))
        self.truth.rest_request(request.method, template, status,
                                (request.host, id(request.transport)))
        if "X-RateLimit-Limit" in extra_headers and "X-RateLimit-Remaining" in extra_headers:
            self.truth.ratelimit_headers(template, int(extra_headers["X-RateLimit-Limit"]),
                                         int(extra_headers["X-RateLimit-Remaining"]))
        return await self._respond(request, status, payload, extra_headers)

    async def _respond(self, request, status, payload, headers):
        headers = dict(headers)
        headers["Via"] = "1.1 google"
        headers["CF-Ray"] = uuid.uuid4().hex[:16] + "-IAD"
        headers["CF-Cache-Status"] = "DYNAMIC"
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer not in self.cookie_sent:
            self.cookie_sent.add(peer)
            headers["Set-Cookie"] = (f"__dcfduid={uuid.uuid4().hex}; Max-Age=31536000; "
                                     "Secure; HttpOnly; Path=/; SameSite=Lax")
        if payload is None:
            return web.Response(status=status, headers=headers)
        data = json.dumps(payload, separators=(",", ":")).encode()
        accepts_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
        if len(data) < CHUNKED_ABOVE_BYTES:
            response = web.Response(status=status, body=data, headers=headers,
                                    content_type="application/json")
            if accepts_gzip and len(data) >= GZIP_ABOVE_BYTES:
                response.enable_compression(web.ContentCoding.gzip)
            return response
        response = web.StreamResponse(status=status, headers=headers)
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        if accepts_gzip:
            response.enable_compression(web.ContentCoding.gzip)
        await response.prepare(request)
        half = len(data) // 2
        await response.write(data[:half])
        await response.write(data[half:])
        await response.write_eof()
        return response

    # ---- rate limits ------------------------------------------------------------------

    def arm_429(self, route_key, retry_after, count=1):
        self.armed_429.append([route_key, retry_after, count])

    def _take_armed_429(self, route_key):
        for armed in self.armed_429:
            if armed[0] == route_key and armed[2] > 0:
                armed[2] -= 1
                return armed[1]
        return None

    def _rate_limited(self, route_key, retry_after, at):
        self.truth.rate_limited.append({"route": route_key, "at": at, "retry_after": retry_after})
        headers = {"Retry-After": str(max(1, math.ceil(retry_after))),
                   "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                   "X-RateLimit-Reset": f"{at + retry_after:.3f}",
                   "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                   "X-RateLimit-Bucket": uuid.uuid5(uuid.NAMESPACE_URL, route_key).hex,
                   "X-RateLimit-Scope": "user"}
        return 429, {"message": "You are being rate limited.", "retry_after": retry_after,
                     "global": False}, headers

    def _bucket_headers(self, route_key, args, at):
        major = args[0] if args else ""
        key = (route_key, major)
        window = self.buckets.setdefault(key, [at, 0])
        if at - window[0] >= BUCKET_WINDOW_S:
            window[0], window[1] = at, 0
        window[1] += 1
        if route_key in self.armed_empty:
            # This request took the bucket's last slot: the next one before
            # the reset would get a 429 (what discord_ratelimit_headroom warns of).
            self.armed_empty.remove(route_key)
            window[1] = BUCKET_LIMIT
        reset_after = max(0.0, window[0] + BUCKET_WINDOW_S - at)
        return {"X-RateLimit-Limit": str(BUCKET_LIMIT),
                "X-RateLimit-Remaining": str(max(0, BUCKET_LIMIT - window[1])),
                "X-RateLimit-Reset": f"{at + reset_after:.3f}",
                "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                "X-RateLimit-Bucket": uuid.uuid5(uuid.NAMESPACE_URL, route_key).hex}

    # ---- start-up routes ----------------------------------------------------------------

    async def get_me(self, request, body, at):
        return 200, self.world.bot_user

    async def get_application(self, request, body, at):
        return 200, self.world.application()

    async def get_gateway(self, request, body, at):
        return 200, {"url": "wss://gateway.discord.gg"}

    async def get_gateway_bot(self, request, body, at):
        limit = {"total": 1000, "remaining": 997, "reset_after": 80000000, "max_concurrency": 16}
        self.truth.session_start_limit = {"total": limit["total"], "remaining": limit["remaining"],
                                          "shards": self.sim.shard_count}
        return 200, {"url": "wss://gateway.discord.gg", "shards": self.sim.shard_count,
                     "session_start_limit": limit}

    async def put_commands(self, request, body, at, application_id, guild_id=None):
        if application_id != fake_secrets.APPLICATION_ID or not isinstance(body, list):
            return discord_error(400, 50035, "Invalid Form Body")
        stored = [self.world.command_object(c, guild_id) for c in body]
        self.commands[guild_id] = stored
        self.sim.commands_registered()
        return 200, stored

    async def get_commands(self, request, body, at, application_id, guild_id=None):
        return 200, self.commands.get(guild_id, [])

    def find_command(self, name):
        for scope in self.commands.values():
            for command in scope:
                if command["name"] == name:
                    return command
        return None

    # ---- interactions -------------------------------------------------------------------

    async def post_callback(self, request, body, at, interaction_id, token):
        interaction = self.sim.interactions.get(interaction_id)
        callback_type = (body or {}).get("type")
        if interaction is None or interaction["token"] != token:
            return discord_error(404, 10062, "Unknown interaction")
        record = interaction["record"]
        if at - snowflake_time_s(interaction_id) > 3.0:
            status, payload = discord_error(404, 10062, "Unknown interaction")
        elif interaction["acknowledged"]:
            status, payload = discord_error(400, 40060, "Interaction has already been acknowledged.")
        else:
            interaction["acknowledged"] = True
            status, payload = 204, None
            if request.query.get("with_response") in ("true", "1"):
                status, payload = 200, {"interaction": {"id": interaction_id, "type": interaction["type"],
                                                        "response_message_loading": callback_type == 5,
                                                        "response_message_ephemeral": False}}
        self.truth.callback_answered(record, at, callback_type, status,
                                     payload.get("code") if status >= 400 else None)
        if status < 300:
            await self.sim.after_callback(interaction, callback_type, (body or {}).get("data") or {})
        return status, payload

    def _interaction_for_token(self, application_id, token):
        interaction = self.sim.interactions_by_token.get(token)
        if application_id != fake_secrets.APPLICATION_ID or interaction is None:
            return None, discord_error(404, 10015, "Unknown Webhook")
        if time.time() - snowflake_time_s(interaction["id"]) > INTERACTION_TOKEN_LIFETIME_S:
            return None, discord_error(401, 50027, "Invalid Webhook Token")
        if not interaction["acknowledged"]:
            return None, discord_error(404, 10015, "Unknown Webhook")
        return interaction, None

    def response_message(self, interaction, content):
        guild = interaction["guild"]
        message = self.world.message_object(
            guild["channel_id"], self.world.bot_user, "", 20, guild,
            webhook_id=fake_secrets.APPLICATION_ID, application_id=fake_secrets.APPLICATION_ID,
            interaction_metadata={"id": interaction["id"], "type": interaction["type"],
                                  "user": interaction["user"],
                                  "authorizing_integration_owners": {"0": guild["id"]}})
        message["content"] = content if isinstance(content, str) else ""
        self.messages[message["id"]] = message
        return message

    async def post_followup(self, request, body, at, application_id, token):
        interaction, error = self._interaction_for_token(application_id, token)
        if error:
            return error
        message = self.response_message(interaction, (body or {}).get("content"))
        self.truth.webhook_answered(interaction["record"], at, 200)
        await self.sim.echo_message(interaction["guild"], message)
        return 200, message

    async def webhook_message(self, request, body, at, application_id, token, message_id):
        interaction, error = self._interaction_for_token(application_id, token)
        if error:
            return error
        if message_id == "@original":
            message = interaction.get("original") or self.response_message(interaction, "")
            interaction["original"] = message
        else:
            message = self.messages.get(message_id)
            if message is None:
                return discord_error(404, 10008, "Unknown Message")
        if request.method == "DELETE":
            self.truth.webhook_answered(interaction["record"], at, 204)
            return 204, None
        if request.method == "PATCH":
            if isinstance((body or {}).get("content"), str):
                message["content"] = body["content"]
            message["edited_timestamp"] = message["timestamp"]
            self.truth.webhook_answered(interaction["record"], at, 200)
        return 200, message

    # ---- channels -----------------------------------------------------------------------

    async def post_message(self, request, body, at, channel_id):
        guild = self.world.guild_by_channel(channel_id)
        if guild is None:
            return discord_error(404, 10003, "Unknown Channel")
        body = body or {}
        reference = body.get("message_reference") or {}
        referenced = reference.get("message_id")
        content = body.get("content")
        if not content and not body.get("embeds") and not body.get("components") and body != {}:
            status, payload = discord_error(400, 50006, "Cannot send an empty message")
        else:
            extra = {}
            if referenced:
                extra["message_reference"] = {"message_id": referenced, "channel_id": channel_id,
                                              "guild_id": guild["id"], "type": 0}
                extra["referenced_message"] = None
            message = self.world.message_object(channel_id, self.world.bot_user,
                                                content or "", 19 if referenced else 0, guild, **extra)
            self.messages[message["id"]] = message
            status, payload = 200, message
        record = self.truth.find_prefix_for_reply(channel_id, referenced)
        if record is not None:
            self.truth.prefix_reply(record, at, status)
        if status == 200:
            await self.sim.echo_message(guild, payload)
        return status, payload

    async def get_message(self, request, body, at, channel_id, message_id):
        message = self.messages.get(message_id)
        return (200, message) if message else discord_error(404, 10008, "Unknown Message")

    async def edit_message(self, request, body, at, channel_id, message_id):
        message = self.messages.get(message_id)
        if message is None:
            return discord_error(404, 10008, "Unknown Message")
        if isinstance((body or {}).get("content"), str):
            message["content"] = body["content"]
        return 200, message

    async def delete_message(self, request, body, at, channel_id, message_id):
        if self.messages.pop(message_id, None) is None:
            return discord_error(404, 10008, "Unknown Message")
        return 204, None

    async def typing(self, request, body, at, channel_id):
        if self.world.guild_by_channel(channel_id) is None:
            return discord_error(404, 10003, "Unknown Channel")
        return 204, None

    async def reaction(self, request, body, at, channel_id, message_id, emoji):
        return 204, None

    async def get_channel(self, request, body, at, channel_id):
        guild = self.world.guild_by_channel(channel_id)
        if guild is None:
            return discord_error(404, 10003, "Unknown Channel")
        return 200, self.world.channel_object(guild)
