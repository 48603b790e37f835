#!/usr/bin/python3
"""A local stand-in for Discord: discord.com (REST) and *.discord.gg (gateway).

Run it on 443 behind a hosts file that maps discord.com, gateway.discord.gg
and the resume host to 127.0.0.1, with a certificate the bot trusts
(tests/e2e/run_scenario.py does all of that inside a private network
namespace). It waits for a bot to log in, identify and register its commands,
then plays a scenario file (scenarios/*.json, described in scenarios/README.md)
and writes the ground truth JSON once every command lifecycle it started has
closed. It then keeps serving until it is stopped, so the bot can shut down
cleanly. With --loop-s it plays the scenario again and again for that long
(scripts/soak), writing the cumulative truth after each iteration.

On stdout it prints one JSON line per milestone ({"event": "listening"},
{"event": "ready"}, {"event": "ground_truth", "path": ...}) for the runner
to wait on; its log goes to stderr.
"""

import argparse
import asyncio
import json
import logging
import os
import random
import secrets
import signal
import ssl
import sys
import time

from aiohttp import web

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fake_secrets  # noqa: E402
from gateway import Gateway, RESUME_HOST  # noqa: E402
from model import World, user_object  # noqa: E402
from rest import Rest  # noqa: E402
from truth import Truth  # noqa: E402

log = logging.getLogger("sim")

GATEWAY_HOSTS = ("gateway.discord.gg", RESUME_HOST)
REST_HOSTS = ("discord.com", "discordapp.com")
READY_TIMEOUT_S = 90.0
CLOSE_TIMEOUT_S = 120.0
MODAL_SUBMIT_DELAY_S = 0.4
CHATTER = ["hello there", "anyone around?", "lol", "brb", "that build is green again",
           "who broke main", "gg", "see you tomorrow", "nice", "coffee time"]


def milestone(event, **fields):
    print(json.dumps({"event": event, "at": time.time(), **fields}), flush=True)


class Simulator:
    def __init__(self, scenario, permessage_deflate, truth_path):
        self.scenario = scenario
        self.truth_path = truth_path
        self.permessage_deflate = permessage_deflate
        self.heartbeat_interval_ms = scenario.get("heartbeat_interval_ms", 41250)
        self.shard_count = scenario.get("shards", 1)
        self.prefix = scenario.get("prefix", "!")
        self.world = World(scenario.get("guilds", 3))
        self.truth = Truth(scenario["name"], scenario.get("prefix_deadline_s", 5.0),
                           scenario.get("followup_deadline_s", 15.0))
        self.gateway = Gateway(self)
        self.rest = Rest(self)
        self.interactions = {}            # id -> the simulator's view (token, guild, record)
        self.interactions_by_token = {}
        self.rng = random.Random(scenario.get("seed", 5))
        self._ready = asyncio.Event()
        self._pending_modals = 0
        self._tasks = set()
        self.loop_s = 0.0
        self._hold = False
        self._resume = asyncio.Event()

    # ---- hooks from gateway and REST -----------------------------------------------------

    def commands_registered(self):
        if not self._ready.is_set() and self.gateway.shards:
            self._ready.set()

    def shard_ready(self, session):
        pass

    async def echo_message(self, guild, message):
        """The bot sees its own messages, as with the guild messages intent."""
        session = self.gateway.session_for_guild(guild)
        if session is not None and self.scenario.get("echo_bot_messages", True):
            await self.gateway.dispatch(session, "MESSAGE_CREATE", message)

    async def after_callback(self, interaction, callback_type, data):
        if callback_type == 4 and not (data.get("flags", 0) & 64):
            message = self.rest.response_message(interaction, data.get("content"))
            interaction["original"] = message
            await self.echo_message(interaction["guild"], message)
        elif callback_type == 9:
            # The user fills the modal in and submits it.
            self._pending_modals += 1
            self._spawn(self._submit_modal(interaction, data))

    def _spawn(self, coroutine):
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit_modal(self, interaction, modal):
        try:
            await asyncio.sleep(MODAL_SUBMIT_DELAY_S)
            rows = []
            for row in modal.get("components", []):
                rows.append({"type": 1, "components": [
                    {"type": 4, "custom_id": c.get("custom_id"), "value": "Works nicely"}
                    for c in row.get("components", [])]})
            await self.send_interaction(interaction["guild"], 5, "modal_submit", modal.get("custom_id"),
                                        {"custom_id": modal.get("custom_id"), "components": rows},
                                        user=interaction["user"])
        finally:
            self._pending_modals -= 1

    # ---- building and sending events ----------------------------------------------------------

    def _guild(self, index):
        return self.world.guilds[index % len(self.world.guilds)]

    def _user(self, index=None):
        users = self.world.users
        return users[self.rng.randrange(len(users))] if index is None else users[index % len(users)]

    def _command_data(self, path):
        """data for an APPLICATION_COMMAND from "admin stats": nested options
        for the subcommand group / subcommand names, looked up in what the bot
        registered."""
        words = path.split()
        command = self.rest.find_command(words[0])
        if command is None:
            return None
        data = {"id": command["id"], "name": command["name"], "type": command.get("type", 1)}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        options_out = data.setdefault("options", [])
        options = command.get("options") or []
        for word in words[1:]:
            match = next((o for o in options if o["name"] == word and o.get("type") in (1, 2)), None)
            if match is None:
                return None
            nested = {"name": word, "type": match["type"], "options": []}
            options_out.append(nested)
            options_out = nested["options"]
            options = match.get("options") or []
        return data

    async def send_interaction(self, guild, interaction_type, kind, name, data, user=None,
                               age_s=0.0, message=None):
        created_at = time.time() - age_s
        interaction_id = self.world.ids.make(created_at)
        token = fake_secrets.interaction_token(interaction_id, secrets.token_urlsafe(48))
        user = user or self._user()
        session = self.gateway.session_for_guild(guild)
        if session is None:
            self.truth.notes.append(f"no shard connected for a {kind} {name}; not sent")
            return
        record = self.truth.interaction_created(interaction_id, kind, name, created_at,
                                                session.shard_id)
        interaction = {"id": interaction_id, "token": token, "type": interaction_type,
                       "guild": guild, "user": user, "record": record, "acknowledged": False}
        self.interactions[interaction_id] = interaction
        self.interactions_by_token[token] = interaction
        member = self.world.member_object(guild, user)
        member["permissions"] = "1071698660929"
        payload = {
            "id": interaction_id, "application_id": fake_secrets.APPLICATION_ID,
            "type": interaction_type, "token": token, "version": 1,
            "guild_id": guild["id"], "channel_id": guild["channel_id"],
            "channel": self.world.channel_object(guild), "member": member,
            "locale": "en-US", "guild_locale": "en-US", "app_permissions": "1071698660929",
            "entitlements": [], "authorizing_integration_owners": {"0": guild["id"]},
            "context": 0, "entitlement_sku_ids": [], "data": data,
        }
        if message is not None:
            payload["message"] = message
        await self.gateway.dispatch(session, "INTERACTION_CREATE", payload,
                                    lambda at: self.truth.interaction_dispatched(record, at))

    async def send_message(self, guild, content, user=None):
        session = self.gateway.session_for_guild(guild)
        if session is None:
            return
        user = user or self._user()
        message = self.world.message_object(guild["channel_id"], user, content, 0, guild,
                                            member=self.world.member_object(guild, user, False))
        on_sent = None
        if content.startswith(self.prefix) and len(content) > len(self.prefix):
            command = content[len(self.prefix):].split()[0]
            record = self.truth.prefix_created(message["id"], guild["channel_id"], command,
                                               session.shard_id)
            on_sent = lambda at: self.truth.prefix_dispatched(record, at)  # noqa: E731
        await self.gateway.dispatch(session, "MESSAGE_CREATE", message, on_sent)

    async def send_noise(self, guild, index):
        """Dispatches a bot receives all day and does nothing with."""
        session = self.gateway.session_for_guild(guild)
        if session is None:
            return
        user = self._user()
        kind = index % 4
        if kind == 0 or kind == 1:
            await self.send_message(guild, self.rng.choice(CHATTER), user)
        elif kind == 2:
            await self.gateway.dispatch(session, "TYPING_START", {
                "channel_id": guild["channel_id"], "guild_id": guild["id"], "user_id": user["id"],
                "timestamp": int(time.time()), "member": self.world.member_object(guild, user)})
        else:
            await self.gateway.dispatch(session, "PRESENCE_UPDATE", {
                "user": {"id": user["id"]}, "guild_id": guild["id"], "status": "online",
                "activities": [], "client_status": {"desktop": "online"}})

    # ---- the scenario -------------------------------------------------------------------------

    async def step(self, step):
        guild = self._guild(step.get("guild", 0))
        kind = step["do"]
        if kind == "slash":
            data = self._command_data(step["command"])
            if data is None:
                self.truth.notes.append(f"command {step['command']!r} was never registered")
                return
            await self.send_interaction(guild, 2, "command", step["command"], data,
                                        age_s=step.get("age_s", 0.0))
        elif kind == "autocomplete":
            data = self._command_data(step["command"])
            if data is None:
                self.truth.notes.append(f"command {step['command']!r} was never registered")
                return
            data["options"] = [{"name": step["option"], "type": 3, "value": step.get("value", ""),
                                "focused": True}]
            await self.send_interaction(guild, 4, "autocomplete", step["command"], data)
        elif kind == "component":
            custom_id = step["custom_id"]
            message = self.world.message_object(
                guild["channel_id"], self.world.bot_user, step.get("message", "Pick one"), 0, guild,
                components=[{"type": 1, "components": [
                    {"type": 2, "style": 1, "label": "Wave", "custom_id": custom_id}]}])
            await self.send_interaction(guild, 3, "component", custom_id,
                                        {"custom_id": custom_id, "component_type": 2},
                                        message=message)
        elif kind == "message":
            await self.send_message(guild, step["content"])
        elif kind == "chatter":
            for index in range(step.get("count", 1)):
                await self.send_noise(self._guild(index), index)
        elif kind == "reconnect":
            await self.gateway.request_reconnect(step.get("shard", 0))
        elif kind == "heartbeat_request":
            await self.gateway.request_heartbeat(step.get("shard", 0))
        elif kind == "close":
            await self.gateway.close_shard(step.get("shard", 0), step.get("code", 4000))
        elif kind == "outage":
            await self.gateway.outage(step.get("shard", 0), step.get("duration_s", 10.0))
        elif kind == "invalid_session":
            await self.gateway.invalidate_session(step.get("shard", 0), step.get("resumable", False))
        elif kind == "rate_limit":
            self.rest.arm_429(step["route"], step.get("retry_after", 1.0), step.get("count", 1))
        elif kind == "empty_bucket":
            self.rest.armed_empty.append(step["route"])
        elif kind == "burst":
            await self.burst(step)
        elif kind in ("member_add", "member_remove", "members_chunk", "emojis_update",
                      "dm_channel", "bot_voice"):
            await self.cache_step(kind, guild, step)
        else:
            raise ValueError(f"unknown scenario step {kind!r}")

    async def cache_step(self, kind, guild, step):
        """The dispatches that change what the library caches (issue 13)."""
        world = self.world
        session = self.gateway.session_for_guild(guild)
        if session is None:
            return
        if kind == "member_add":
            user = user_object(world.ids.make(), f"joiner{len(guild['members'])}")
            guild["members"].append(user)
            self.truth.members[guild["id"]].add(user["id"])
            await self.gateway.dispatch(session, "GUILD_MEMBER_ADD",
                                        dict(world.member_object(guild, user), guild_id=guild["id"]))
        elif kind == "member_remove":
            if not guild["members"]:
                return
            user = guild["members"].pop(0)
            self.truth.members[guild["id"]].discard(user["id"])
            await self.gateway.dispatch(session, "GUILD_MEMBER_REMOVE",
                                        {"guild_id": guild["id"], "user": user})
        elif kind == "members_chunk":
            users = [user_object(world.ids.make(), f"chunked{k}") for k in range(step.get("count", 3))]
            guild["members"].extend(users)
            self.truth.members[guild["id"]].update(u["id"] for u in users)
            await self.gateway.dispatch(session, "GUILD_MEMBERS_CHUNK", {
                "guild_id": guild["id"], "members": [world.member_object(guild, u) for u in users],
                "chunk_index": 0, "chunk_count": 1, "not_found": []})
        elif kind == "emojis_update":
            guild["emojis"] = step.get("count", 1)
            self.truth.emojis[guild["id"]] = guild["emojis"]
            await self.gateway.dispatch(session, "GUILD_EMOJIS_UPDATE", {
                "guild_id": guild["id"],
                "emojis": [world.emoji_object(f"u{k}") for k in range(guild["emojis"])]})
        elif kind == "dm_channel":
            # Discord sends DMs to shard 0.
            session = self.gateway.shards.get(0) or session
            channel = world.dm_channel_object(self._user())
            self.truth.dm_channels.add(channel["id"])
            await self.gateway.dispatch(session, "CHANNEL_CREATE", channel)
        elif kind == "bot_voice":
            channel_id = guild["voice_channel_id"] if step.get("join", True) else None
            self.truth.bot_voice[guild["id"]] = channel_id
            await self.gateway.dispatch(session, "VOICE_STATE_UPDATE",
                                        world.voice_state_object(guild, world.bot_user, channel_id))

    async def burst(self, step):
        """Interactions and other dispatches spread evenly over duration_s."""
        interactions = step.get("interactions", 1000)
        noise = step.get("dispatches", 10000)
        commands = step.get("commands", ["ping"])
        total = interactions + noise
        every = max(1, total // max(1, interactions))
        start = time.monotonic()
        duration = step.get("duration_s", 20.0)
        sent_interactions = 0
        for index in range(total):
            guild = self._guild(index)
            if index % every == 0 and sent_interactions < interactions:
                command = commands[sent_interactions % len(commands)]
                await self.send_interaction(guild, 2, "command", command, self._command_data(command))
                sent_interactions += 1
            else:
                await self.send_noise(guild, index)
            behind = start + duration * (index + 1) / total - time.monotonic()
            if behind > 0 or index % 200 == 0:
                await asyncio.sleep(max(0.0, behind))

    async def run(self):
        self.truth.started_at = time.time()
        try:
            await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT_S)
        except asyncio.TimeoutError:
            self.truth.notes.append("the bot never registered its commands; scenario not played")
            self.truth.write(self.truth_path)
            milestone("ground_truth", path=self.truth_path, ok=False)
            return
        await asyncio.sleep(self.scenario.get("start_delay_s", 1.0))
        self.truth.ready_at = time.time()
        milestone("ready")
        loop_until = time.monotonic() + self.loop_s if self.loop_s else None
        iteration = 0
        while True:
            iteration += 1
            await self.play_once()
            last = loop_until is None or time.monotonic() >= loop_until
            milestone("ground_truth", path=self.truth_path, ok=True, open=self.truth.open_count(),
                      iteration=iteration, last=last)
            if last:
                return
            if self._hold:
                milestone("held", iteration=iteration)
                await self._resume.wait()
                milestone("resumed", iteration=iteration)
                if time.monotonic() >= loop_until:
                    milestone("loop_end", iteration=iteration)
                    return

    async def play_once(self):
        """The scenario's steps once, then the truth (cumulative over the
        iterations of a loop) once every lifecycle has closed."""
        start = time.monotonic()
        for step in self.scenario["steps"]:
            delay = start + step.get("at", 0.0) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.step(step)
        try:
            # Every delivered lifecycle closes by its deadline at the latest.
            await asyncio.wait_for(self._closed(), self.truth.followup_deadline_s + 5.0)
        except asyncio.TimeoutError:
            self.truth.close_undelivered(time.time())
            try:
                await asyncio.wait_for(self._closed(), CLOSE_TIMEOUT_S)
            except asyncio.TimeoutError:
                self.truth.notes.append(f"{self.truth.open_count()} lifecycles still open at the end")
        await asyncio.sleep(self.scenario.get("end_grace_s", 2.0))
        self.truth.write(self.truth_path)

    def hold(self):
        """SIGUSR1 (with --loop-s): stop before the next iteration, once every
        lifecycle of this one has closed and its truth is written."""
        self._hold = True
        self._resume.clear()

    def release(self):
        """SIGUSR2: go on with the next iteration."""
        self._hold = False
        self._resume.set()

    async def _closed(self):
        while True:
            await self.truth.wait_all_closed()
            if self._pending_modals == 0:
                return
            await asyncio.sleep(MODAL_SUBMIT_DELAY_S)

    # ---- HTTP plumbing -----------------------------------------------------------------------------

    async def handle(self, request):
        host = request.host.split(":")[0]
        if host in GATEWAY_HOSTS or host.endswith(".discord.gg"):
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return await self.gateway.handle(request)
            return web.json_response({"message": "404: Not Found", "code": 0}, status=404)
        if host in REST_HOSTS:
            return await self.rest.handle(request)
        log.warning("request for unknown host %s %s", host, request.path)
        return web.Response(status=421, text="misdirected request")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", required=True, help="scenario JSON file")
    parser.add_argument("--truth", required=True, help="where to write the ground truth JSON")
    parser.add_argument("--cert", required=True, help="PEM certificate chain for the Discord hosts")
    parser.add_argument("--key", required=True, help="PEM private key")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--permessage-deflate", choices=["accept", "refuse"], default="refuse",
                        help="answer the client's WebSocket permessage-deflate offer")
    parser.add_argument("--shards", type=int, help="override the scenario's shard count")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply burst sizes (e.g. 0.1 for a quick run)")
    parser.add_argument("--loop-s", type=float, default=0.0,
                        help="play the scenario again and again for this many seconds (scripts/"
                             "soak); the truth is cumulative and written after each iteration, "
                             "each with a ground_truth milestone (\"last\" on the final one); "
                             "SIGUSR1 holds before the next iteration, SIGUSR2 goes on")
    return parser.parse_args()


async def main():
    args = parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with open(args.scenario) as f:
        scenario = json.load(f)
    if args.shards:
        scenario["shards"] = args.shards
    for step in scenario["steps"]:
        if step["do"] == "burst":
            step["interactions"] = max(1, int(step.get("interactions", 1000) * args.scale))
            step["dispatches"] = max(1, int(step.get("dispatches", 10000) * args.scale))
            step["duration_s"] = max(1.0, step.get("duration_s", 20.0) * min(1.0, args.scale * 2))
    sim = Simulator(scenario, args.permessage_deflate == "accept", args.truth)
    sim.loop_s = args.loop_s
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", sim.handle)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)
    tls.set_alpn_protocols(["http/1.1"])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port, ssl_context=tls).start()
    milestone("listening", port=args.port)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    loop.add_signal_handler(signal.SIGUSR1, sim.hold)
    loop.add_signal_handler(signal.SIGUSR2, sim.release)
    scenario_task = loop.create_task(sim.run())
    await stopped.wait()  # serve until stopped, also after the scenario ended
    scenario_task.cancel()
    await runner.shutdown()
    await runner.cleanup()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
