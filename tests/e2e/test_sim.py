#!/usr/bin/python3
"""The simulator itself, checked with a hand-rolled client (no bot, no namespace).

Covers what the two bots do not exercise: zstd-stream, both API versions,
the close codes for a bad token and an unknown opcode, permessage-deflate
accepted or refused, Discord-style 404s, gzip and chunked REST bodies, the
X-RateLimit and Via headers, and the ground truth of a run where nothing was
played. The simulator listens on a free port on 127.0.0.1; a resolver sends
every Discord host name there, so Host and SNI are the real ones.
"""

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest
import zlib

import aiohttp
import zstandard
from aiohttp.abc import AbstractResolver

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts", "sim"))
sys.path.insert(0, HERE)

import fake_secrets  # noqa: E402
from run_scenario import make_tls  # noqa: E402

AUTH = {"Authorization": f"Bot {fake_secrets.BOT_TOKEN}"}
ZLIB_SUFFIX = b"\x00\x00\xff\xff"


class LoopbackResolver(AbstractResolver):
    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Simulator:
    """One simulator process for a test class, with an empty scenario."""

    def __init__(self, permessage_deflate="refuse", shards=2):
        self.dir = tempfile.TemporaryDirectory()
        self.ca, cert, key = make_tls(self.dir.name)
        scenario = os.path.join(self.dir.name, "empty.json")
        with open(scenario, "w") as f:
            json.dump({"name": "empty", "guilds": 4, "shards": shards, "steps": [],
                       "start_delay_s": 0, "end_grace_s": 0}, f)
        self.truth = os.path.join(self.dir.name, "truth.json")
        self.port = free_port()
        self.log = open(os.path.join(self.dir.name, "sim.log"), "w")
        self.process = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(ROOT, "scripts", "sim", "discord_sim.py"),
             "--scenario", scenario, "--truth", self.truth, "--cert", cert, "--key", key,
             "--port", str(self.port), "--permessage-deflate", permessage_deflate],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline()  # blocks until "listening" (or EOF on failure)
        assert json.loads(line)["event"] == "listening", line

    def milestone(self, event):
        for line in self.process.stdout:
            if json.loads(line)["event"] == event:
                return json.loads(line)
        return None

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        self.process.stdout.close()
        self.log.close()
        self.dir.cleanup()


class SimTestCase(unittest.TestCase):
    permessage_deflate = "refuse"

    @classmethod
    def setUpClass(cls):
        cls.sim = Simulator(cls.permessage_deflate)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def url(self, host, path):
        return f"https://{host}:{self.sim.port}{path}"

    def run_client(self, body):
        async def main():
            context = ssl.create_default_context(cafile=self.sim.ca)
            connector = aiohttp.TCPConnector(ssl=context, resolver=LoopbackResolver())
            async with aiohttp.ClientSession(connector=connector) as session:
                return await body(session)
        return asyncio.run(main())


class GatewayClient:
    """Reads gateway payloads in the transport compression asked for."""

    def __init__(self, ws, compress):
        self.ws = ws
        self.compress = compress
        self.buffer = b""
        self.inflate = zlib.decompressobj()
        self.zstd = zstandard.ZstdDecompressor().decompressobj()

    async def receive(self):
        while True:
            message = await self.ws.receive(timeout=10)
            if message.type == aiohttp.WSMsgType.TEXT:
                return json.loads(message.data)
            if message.type != aiohttp.WSMsgType.BINARY:
                return {"closed": self.ws.close_code}
            if self.compress == "zstd-stream":
                return json.loads(self.zstd.decompress(message.data))
            self.buffer += message.data
            if self.buffer.endswith(ZLIB_SUFFIX):
                data, self.buffer = self.inflate.decompress(self.buffer), b""
                return json.loads(data)

    async def send(self, op, d):
        await self.ws.send_str(json.dumps({"op": op, "d": d}))


class RestTest(SimTestCase):
    def test_users_me_answers_on_v9_and_v10_with_discord_headers(self):
        async def body(session):
            results = []
            for version in (9, 10):
                async with session.get(self.url("discord.com", f"/api/v{version}/users/@me"),
                                       headers=AUTH) as response:
                    results.append((response.status, response.headers, await response.json()))
            return results
        for status, headers, user in self.run_client(body):
            self.assertEqual(status, 200)
            self.assertEqual(user["id"], fake_secrets.BOT_USER_ID)
            self.assertIn("Via", headers)
            self.assertIn("X-RateLimit-Bucket", headers)
            self.assertEqual(headers["X-RateLimit-Limit"], "50")

    def test_wrong_token_is_401(self):
        async def body(session):
            async with session.get(self.url("discord.com", "/api/v10/users/@me"),
                                   headers={"Authorization": "Bot nope"}) as response:
                return response.status
        self.assertEqual(self.run_client(body), 401)

    def test_unknown_route_is_a_discord_style_404(self):
        async def body(session):
            async with session.get(self.url("discord.com", "/api/v10/guilds/1/audit-logs"),
                                   headers=AUTH) as response:
                return response.status, await response.json()
        status, error = self.run_client(body)
        self.assertEqual(status, 404)
        self.assertEqual(error, {"message": "404: Not Found", "code": 0})

    def test_large_bodies_are_chunked_and_gzip_when_accepted(self):
        async def body(session):
            async with session.get(self.url("discord.com", "/api/v10/oauth2/applications/@me"),
                                   headers={**AUTH, "Accept-Encoding": "gzip"}) as response:
                return response.headers, await response.json()
        headers, application = self.run_client(body)
        self.assertEqual(headers.get("Content-Encoding"), "gzip")
        self.assertEqual(headers.get("Transfer-Encoding"), "chunked")
        self.assertEqual(application["id"], fake_secrets.APPLICATION_ID)

    def test_gateway_bot_recommends_the_scenario_shards(self):
        async def body(session):
            async with session.get(self.url("discord.com", "/api/v10/gateway/bot"),
                                   headers=AUTH) as response:
                return await response.json()
        self.assertEqual(self.run_client(body)["shards"], 2)


class GatewayTest(SimTestCase):
    def connect(self, session, compress=None, host="gateway.discord.gg", **kwargs):
        query = "/?v=10&encoding=json" + (f"&compress={compress}" if compress else "")
        return session.ws_connect(self.url(host, query), **kwargs)

    def identify_and_read(self, compress, shard):
        async def body(session):
            async with self.connect(session, compress) as ws:
                client = GatewayClient(ws, compress)
                hello = await client.receive()
                await client.send(1, None)
                ack = await client.receive()
                await client.send(2, {"token": fake_secrets.BOT_TOKEN, "intents": 513,
                                      "properties": {}, "shard": shard})
                ready = await client.receive()
                guilds = [await client.receive() for _ in ready["d"]["guilds"]]
                return hello, ack, ready, guilds
        return self.run_client(body)

    def check_session(self, compress):
        for shard_id in (0, 1):
            hello, ack, ready, guilds = self.identify_and_read(compress, [shard_id, 2])
            self.assertEqual(hello["op"], 10)
            self.assertIn("heartbeat_interval", hello["d"])
            self.assertEqual(ack["op"], 11)
            self.assertEqual((ready["t"], ready["s"]), ("READY", 1))
            self.assertEqual(ready["d"]["shard"], [shard_id, 2])
            self.assertTrue(ready["d"]["resume_gateway_url"].startswith("wss://"))
            self.assertEqual(len(ready["d"]["guilds"]), 2)  # 4 guilds alternate over 2 shards
            for guild in guilds:
                self.assertEqual(guild["t"], "GUILD_CREATE")
                self.assertEqual((int(guild["d"]["id"]) >> 22) % 2, shard_id)

    def test_plain_json(self):
        self.check_session(None)

    def test_zlib_stream(self):
        self.check_session("zlib-stream")

    def test_zstd_stream(self):
        self.check_session("zstd-stream")

    def test_bad_token_closes_4004(self):
        async def body(session):
            async with self.connect(session) as ws:
                client = GatewayClient(ws, None)
                await client.receive()
                await client.send(2, {"token": "x.y.z", "intents": 1, "properties": {}})
                return await client.receive()
        self.assertEqual(self.run_client(body), {"closed": 4004})

    def test_unknown_opcode_closes_4001(self):
        async def body(session):
            async with self.connect(session) as ws:
                client = GatewayClient(ws, None)
                await client.receive()
                await client.send(99, None)
                return await client.receive()
        self.assertEqual(self.run_client(body), {"closed": 4001})

    def test_resume_host_resumes_and_replays_nothing_new(self):
        async def body(session):
            async with self.connect(session) as ws:
                client = GatewayClient(ws, None)
                await client.receive()
                await client.send(2, {"token": fake_secrets.BOT_TOKEN, "intents": 1,
                                      "properties": {}, "shard": [0, 2]})
                ready = await client.receive()
                for _ in ready["d"]["guilds"]:
                    last = await client.receive()
            host = ready["d"]["resume_gateway_url"][len("wss://"):]
            async with self.connect(session, host=host) as ws:
                client = GatewayClient(ws, None)
                await client.receive()
                await client.send(6, {"token": fake_secrets.BOT_TOKEN, "seq": last["s"],
                                      "session_id": ready["d"]["session_id"]})
                return await client.receive()
        resumed = self.run_client(body)
        self.assertEqual(resumed["t"], "RESUMED")

    def test_permessage_deflate_refused(self):
        async def body(session):
            async with self.connect(session, compress=15) as ws:
                return ws.compress
        self.assertEqual(self.run_client(body), 0)


class GatewayDeflateAcceptedTest(SimTestCase):
    permessage_deflate = "accept"

    def test_permessage_deflate_accepted(self):
        async def body(session):
            url = self.url("gateway.discord.gg", "/?v=10&encoding=json")
            async with session.ws_connect(url, compress=15) as ws:
                hello = json.loads((await ws.receive(timeout=10)).data)
                return ws.compress, hello["op"]
        self.assertEqual(self.run_client(body), (15, 10))


class GroundTruthTest(unittest.TestCase):
    def test_truth_is_written_after_command_registration_and_has_no_token(self):
        sim = Simulator()
        try:
            async def main():
                context = ssl.create_default_context(cafile=sim.ca)
                connector = aiohttp.TCPConnector(ssl=context, resolver=LoopbackResolver())
                async with aiohttp.ClientSession(connector=connector) as session:
                    base = f"https://gateway.discord.gg:{sim.port}/?v=10&encoding=json"
                    async with session.ws_connect(base) as ws:
                        client = GatewayClient(ws, None)
                        await client.receive()
                        await client.send(2, {"token": fake_secrets.BOT_TOKEN, "intents": 1,
                                              "properties": {}})
                        await client.receive()
                        url = (f"https://discord.com:{sim.port}/api/v10/applications/"
                               f"{fake_secrets.APPLICATION_ID}/commands")
                        async with session.put(url, headers=AUTH,
                                               json=[{"name": "ping", "description": "p"}]) as r:
                            self.assertEqual(r.status, 200)
                            self.assertEqual((await r.json())[0]["name"], "ping")
                        return await asyncio.get_running_loop().run_in_executor(
                            None, sim.milestone, "ground_truth")
            done = asyncio.run(main())
            self.assertTrue(done["ok"])
            with open(sim.truth) as f:
                text = f.read()
            truth = json.loads(text)
            self.assertEqual(truth["guilds"], 4)
            self.assertEqual(truth["gateway"]["identifies"], 1)
            self.assertEqual(truth["summary"]["open"], 0)
            self.assertNotIn(fake_secrets.BOT_TOKEN, text)
        finally:
            sim.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
