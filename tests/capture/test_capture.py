"""Capture tests for issue 4, one case per run: test_capture.py CASE.

Paths come from the environment set by tests/capture/meson.build
(ARGUS_PRELOAD, ARGUS_STUB_CORE, ...). Each case makes a throwaway folder
with its own self-signed certificate, runs the programs, and exits non-zero
with a message on the first failed expectation.
"""
import glob
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ci_rule import missing_exit  # noqa: E402

PY = "/usr/bin/python3"
ENV = os.environ
SRC = ENV["ARGUS_CAPTURE_SRC"]
PEERS = os.path.join(SRC, "tls_peers.py")
FNV_OFFSET = 0xcbf29ce484222325
# Another architecture under emulation (the arm64 suite of a cross build):
# every program under test runs through ARGUS_GUEST_RUN (qemu-aarch64), and
# the C client (tls_client.c, ARGUS_TLS_CLIENT) stands in for tls_peers.py's,
# since no Python of that architecture is at hand. The TLS server stays
# native, outside the preload.
TLS_CLIENT = ENV.get("ARGUS_TLS_CLIENT")
GUEST = shlex.split(ENV.get("ARGUS_GUEST_RUN", ""))


def guest(argv, env):
    """argv and env to run a program of the tested architecture. qemu's own
    loader must not see LD_PRELOAD (an arm64 object in an x86-64 process):
    -E hands it to the emulated program only."""
    if not GUEST:
        return argv, env
    env = dict(env)
    pre = env.pop("LD_PRELOAD", None)
    wrap = list(GUEST)
    if pre is not None:
        if os.path.basename(wrap[0]).startswith("qemu-"):
            wrap += ["-E", "LD_PRELOAD=" + pre]
        else:
            env["LD_PRELOAD"] = pre
    return wrap + list(argv), env


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


class Case:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="argus-capture-")
        self.rec = os.path.join(self.dir, "rec")
        os.mkdir(self.rec)
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", self.key, "-out", self.cert, "-days", "1",
                        "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True)
        self.server = None
        self.port = None

    def start_server(self, log=None):
        portfile = os.path.join(self.dir, "port")
        env = {k: v for k, v in ENV.items() if k != "LD_PRELOAD"}
        if log:
            env["TLS_PEERS_LOG"] = log
        self.server = subprocess.Popen([PY, PEERS, "server", portfile, self.cert, self.key],
                                       env=env)
        for _ in range(500):
            if os.path.exists(portfile):
                break
            if self.server.poll() is not None:
                fail("TLS server exited")
            time.sleep(0.01)  # waiting for a file another process creates
        with open(portfile) as f:
            self.port = int(f.read())
        return self.port

    def preload_env(self, **extra):
        env = dict(ENV)
        env.update({
            "LD_PRELOAD": ENV["ARGUS_PRELOAD"],
            "ARGUS_CORE_PATH": ENV["ARGUS_STUB_CORE"],
            "ARGUS_TEST_RECORD_DIR": self.rec,
        })
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def plain_env(self):
        return {k: v for k, v in ENV.items() if not k.startswith("ARGUS_TEST") and k != "LD_PRELOAD"}

    def run(self, argv, env, **kw):
        argv, env = guest(argv, env)
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=150, **kw)
        if p.returncode != 0:
            fail("%s exited %d\nstdout: %s\nstderr: %s" % (argv, p.returncode, p.stdout[-2000:],
                                                        p.stderr[-2000:]))
        return p

    def client_argv(self, specs):
        if TLS_CLIENT:
            return [TLS_CLIENT, str(self.port), json.dumps(specs)]
        return [PY, PEERS, "client", str(self.port), json.dumps(specs)]

    def client(self, specs, env):
        return json.loads(self.run(self.client_argv(specs), env).stdout)

    def recorded(self):
        """{(pid, conn_id): {"open": host, "close": bool, "gaps": n, "read": bytes, "write": bytes}}"""
        conns = {}
        for meta in glob.glob(os.path.join(self.rec, "*.meta")):
            pid, cid = os.path.basename(meta)[:-5].split("-")
            c = {"open": None, "close": False, "gaps": 0}
            for line in open(meta):
                parts = line.split()
                if parts[1] == "open":
                    c["open"] = parts[2] if len(parts) > 2 else ""  # re-sent OPEN: SNI or none
                elif parts[1] == "close":
                    c["close"] = True
                elif parts[1] == "gap":
                    c["gaps"] += 1
            for d in ("read", "write"):
                p = os.path.join(self.rec, "%s-%s-%s.bin" % (pid, cid, d))
                c[d] = open(p, "rb").read() if os.path.exists(p) else b""
            conns[(int(pid), int(cid))] = c
        return conns

    def stats(self, pid=None):
        files = glob.glob(os.path.join(self.rec, "%s.stats" % (pid if pid else "*")))
        expect(len(files) >= 1, "no stats file written (exit flush did not run)")
        out = {}
        for line in open(files[0]):
            k, v = line.split(" ", 1)
            out[k] = v.strip()
        return out

    def close(self):
        if self.server is not None:
            self.server.kill()
            self.server.wait()
        if not os.environ.get("ARGUS_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def fnv(b):
    h = FNV_OFFSET
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def match_streams(recorded, client_results, names):
    """Each named client connection must appear exactly once, byte-exact."""
    by_digest = {(sha(c["write"]), sha(c["read"])): key for key, c in recorded.items()}
    for name in names:
        r = client_results[name]
        key = by_digest.get((r["write_sha"], r["read_sha"]))
        expect(key is not None, "connection %s not captured byte-exactly" % name)


# --- cases --------------------------------------------------------------------


def case_exports(c):
    out = subprocess.run(["nm", "-D", "--defined-only", ENV["ARGUS_PRELOAD"]],
                         capture_output=True, text=True, check=True).stdout
    names = sorted(line.split()[-1] for line in out.splitlines() if line.strip())
    expect(names == ["SSL_free", "SSL_read", "SSL_read_ex", "SSL_write", "SSL_write_ex"],
           "the preload must export exactly the five hooks, exports: %s" % names)


# bio_pair's schedule moves about 8.4 MB through Argus (4.2 MB each way). The
# cases that check it byte for byte run with a ring larger than that, so no
# record can be dropped however far the recording consumer falls behind on a
# loaded machine; overflow has its own case.
BIO_PAIR_RING_BYTES = 32 << 20


def check_bio_pair_run(c, plain, hooked):
    """bio_pair's output under the preload (hooked) equals the run without it
    (plain), call for call, and its client connection (SNI discord.com) was
    captured byte-exactly while the server side (SSL_is_server) was ignored.
    Shared with test_patched.py, which runs the same schedule on the patched
    path."""
    expect(len(plain.splitlines()) > 1000, "the schedule made too few calls")
    if plain != hooked:
        for i, (a, b) in enumerate(zip(plain.splitlines(), hooked.splitlines())):
            if a != b:
                fail("call %d differs under the preload:\n  real:   %s\n  hooked: %s" % (i, a, b))
        fail("output length differs under the preload")
    tail = dict((l.split()[0], dict(kv.split("=") for kv in l.split()[1:]))
                for l in plain.splitlines()[-2:])
    conns = c.recorded()
    expect(len(conns) == 1, "expected one captured connection, got %d" % len(conns))
    conn = next(iter(conns.values()))
    expect(conn["open"] == "discord.com" and conn["close"],
           "OPEN/CLOSE records missing (SSL_free not hooked?)")
    dropped = "(%s records dropped)" % c.stats()["dropped_records"]
    expect(len(conn["write"]) == int(tail["client_write"]["len"]) and
           fnv(conn["write"]) == tail["client_write"]["fnv"], "written stream differs " + dropped)
    expect(len(conn["read"]) == int(tail["client_read"]["len"]) and
           fnv(conn["read"]) == tail["client_read"]["fnv"], "read stream differs " + dropped)
    expect(c.stats()["connections_ignored"] == "1", "the server side was not counted as ignored")


def case_bio_transparency(c):
    argv = [ENV["ARGUS_BIO_PAIR"], c.cert, c.key, "discord.com", "4"]
    plain = c.run(argv, c.plain_env()).stdout
    hooked = c.run(argv, c.preload_env(ARGUS_RING_BYTES=BIO_PAIR_RING_BYTES)).stdout
    for kind in ("ssl_error=2", "ssl_error=3", "errno=104", "ssl_error=5", "ssl_error=1 err=a"):
        expect(kind in plain, "the schedule never produced %s" % kind)
    check_bio_pair_run(c, plain, hooked)

def case_socket_transparency(c):
    c.start_server()
    specs = [{"name": "rest", "host": "127.0.0.1:%d" % c.port, "sni": None,
              "requests": [[3 << 20, 2 << 20], [17, 3 << 20], [1, 1]], "chunk": 5000},
             {"name": "other", "host": "example.org", "sni": None,
              "requests": [[1 << 20, 1 << 20]]},
             {"name": "reset", "host": "127.0.0.1:%d" % c.port, "sni": None,
              "requests": [[1 << 20, 1 << 20], [1000, 0]], "reset": True}]
    plain = c.client(specs, c.plain_env())
    hooked = c.client(specs, c.preload_env(ARGUS_DISCORD_HOSTS="127.0.0.1:%d" % c.port))
    # CPython maps a reset seen through SSL_read_ex (which returns 0, not -1)
    # to a ragged EOF, so "eof" is what a Python client sees; what matters is
    # that it sees the same with the preload.
    expect("error" in plain["reset"], "the peer's reset went unnoticed: %s" % plain["reset"])
    expect(plain == hooked, "bytes or errors differ under the preload:\n%s\n%s" % (plain, hooked))


def capture_specs(port):
    host = "127.0.0.1:%d" % port
    specs = []
    for i in range(4):
        specs.append({"name": "discord%d" % i, "host": host, "sni": None,
                      "requests": [[(i + 1) << 18, (4 - i) << 18], [100, 1 << 20]],
                      "chunk": 1000 + 7000 * i})
    specs.append({"name": "gateway-sni", "host": "ignored.example", "sni": "gateway.discord.gg",
                  "requests": [[1 << 16, 1 << 20]]})
    specs.append({"name": "other0", "host": "example.org", "sni": None,
                  "requests": [[1 << 20, 1 << 19]]})
    specs.append({"name": "other1", "host": "127.0.0.1:1", "sni": "example.org",
                  "requests": [[1 << 19, 1 << 20]]})
    return specs


def case_capture(c):
    c.start_server()
    specs = capture_specs(c.port)
    # A ring larger than the whole exchange (about 9 MiB): this case is about
    # byte-exact capture; what a full ring does is the overflow case's. With
    # the default 4 MiB ring a consumer starved of CPU on a loaded machine
    # made it drop, and fail for a reason it does not test.
    res = c.client(specs, c.preload_env(ARGUS_DISCORD_HOSTS="127.0.0.1:%d" % c.port,
                                        ARGUS_RING_BYTES=32 << 20))
    conns = c.recorded()
    names = ["discord0", "discord1", "discord2", "discord3", "gateway-sni"]
    expect(len(conns) == len(names),
           "expected %d captured connections, got %d" % (len(names), len(conns)))
    match_streams(conns, res, names)
    for conn in conns.values():
        expect(conn["close"] and conn["gaps"] == 0, "a stream is not closed or has a gap")
    hosts = sorted(conn["open"] for conn in conns.values())
    expect(hosts == ["127.0.0.1"] * 4 + ["gateway.discord.gg"], "OPEN hosts: %s" % hosts)
    st = c.stats()
    want_read = sum(res[n]["read_len"] for n in names)
    want_write = sum(res[n]["write_len"] for n in names)
    expect(int(st["captured_read"]) == want_read and int(st["captured_write"]) == want_write,
           "captured byte counters include ignored connections: %s" % st)
    expect(st["connections_ignored"] == "2", "ignored connections counted: %s" % st)
    expect(st["dropped_bytes"] == "0", "nothing may be dropped with a ring this large")


def case_overflow(c):
    c.start_server()
    host = "127.0.0.1:%d" % c.port
    specs = [{"name": "big%d" % i, "host": host, "sni": None,
              "requests": [[4 << 20, 4 << 20]], "chunk": 16384} for i in range(3)]
    plain = c.client(specs, c.plain_env())
    hooked = c.client(specs, c.preload_env(ARGUS_DISCORD_HOSTS=host, ARGUS_RING_BYTES=65536,
                                           ARGUS_TEST_STUB_SLOW_US=300))
    expect(plain == hooked, "the program's own I/O changed when the ring overflowed")
    st = c.stats()
    expect(int(st["dropped_bytes"]) > 0 and int(st["dropped_records"]) > 0,
           "a 64 KiB ring drained slowly should drop: %s" % st)
    conns = c.recorded()
    expect(len(conns) == 3, "expected 3 captured connections, got %d" % len(conns))
    expect(all(conn["open"] is not None for conn in conns.values()),
           "every captured stream must begin with an OPEN, even one dropped at first")
    gaps = sum(conn["gaps"] for conn in conns.values())
    expect(gaps > 0, "dropped records must mark the streams broken (a GAP record)")
    got = sum(len(conn["read"]) + len(conn["write"]) for conn in conns.values())
    sent = sum(r["read_len"] + r["write_len"] for r in hooked.values())
    expect(got + int(st["dropped_bytes"]) == sent,
           "captured (%d) + dropped (%s) must equal what moved (%d)" % (got, st["dropped_bytes"],
                                                                       sent))


def argus_state_script(fetch_port, host="example.org", await_core=False):
    """Python code that optionally fetches https://127.0.0.1:port (with the
    given Host header) and prints its thread count and whether an Argus core
    is mapped (with await_core: once it is, or after 10 s)."""
    return r"""
import os, socket, ssl, subprocess, sys, time
await_core = %r
port = %d
if port:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    s.sendall(b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nX-Reply: 10\r\n\r\n")
    data = b""
    while len(data) < 10 or b"\r\n\r\n" not in data:
        data += s.recv(4096)
    s.close()
maps = open("/proc/self/maps").read()
deadline = time.monotonic() + 10
while await_core and "argus_core" not in maps and time.monotonic() < deadline:
    time.sleep(0.01)  # Argus' thread loads the core concurrently
    maps = open("/proc/self/maps").read()
print(len(os.listdir("/proc/self/task")), "core" if "argus_core" in maps else "nocore")
""" % (await_core, fetch_port, host)


def case_dormant(c):
    port = c.start_server()
    # A bad variable too: problems are reported when Argus activates, never
    # by a dormant process.
    env = c.preload_env(OTEL_METRIC_EXPORT_INTERVAL="5s")
    p = c.run(["/bin/true"], env)
    expect(p.stdout == "" and p.stderr == "", "/bin/true under the preload printed something")
    out = c.run(["sh", "-c", "ls /proc/$$/task | wc -l; grep -c argus_core /proc/$$/maps || true"],
                env).stdout.split()
    expect(out == ["1", "0"], "sh -c: threads/core maps = %s" % out)
    p = c.run([PY, "-c", argus_state_script(port)], env)
    out = p.stdout.split()
    expect(out == ["1", "nocore"],
           "a Python HTTPS fetch of a non-Discord URL started Argus: %s" % out)
    expect(p.stderr == "", "a dormant Python process printed: %s" % p.stderr)
    expect(c.recorded() == {}, "a dormant process recorded something")
    # OTEL_SDK_DISABLED: even a Discord connection leaves Argus asleep.
    host = "127.0.0.1:%d" % port
    env = c.preload_env(ARGUS_DISCORD_HOSTS=host, OTEL_SDK_DISABLED="true")
    out = c.run([PY, "-c", argus_state_script(port, host)], env).stdout.split()
    expect(out == ["1", "nocore"], "OTEL_SDK_DISABLED=true still started Argus: %s" % out)
    expect(c.recorded() == {}, "OTEL_SDK_DISABLED=true still captured")
    # ... and the same connection without it does start Argus (the check above
    # can fail).
    env = c.preload_env(ARGUS_DISCORD_HOSTS=host)
    out = c.run([PY, "-c", argus_state_script(port, host, await_core=True)], env).stdout.split()
    expect(out[1] == "core" and int(out[0]) >= 2, "a Discord connection did not start Argus: %s"
           % out)


def case_eager(c):
    env = c.preload_env(ARGUS_EAGER=1, OTEL_METRIC_EXPORT_INTERVAL="5s")
    p = c.run([PY, "-c", argus_state_script(0, await_core=True) + r"""
child = subprocess.run(["sh", "-c", "grep -c argus_core /proc/$$/maps || true"],
                       capture_output=True, text=True).stdout.split()
print(child[0])
"""], env)
    out = p.stdout.split()
    expect(out[1] == "core", "ARGUS_EAGER=1 did not load the core at start: %s" % out)
    problems = [l for l in p.stderr.splitlines() if "OTEL_METRIC_EXPORT_INTERVAL" in l]
    expect(len(problems) == 1, "an active process must report a bad variable once: %r" % p.stderr)
    expect(out[2] == "0", "a child exec'd by an eager process loaded the core too")
    out = c.run([PY, "-c", argus_state_script(0)], c.preload_env()).stdout.split()
    expect(out == ["1", "nocore"], "without ARGUS_EAGER the core was loaded: %s" % out)


def case_fork(c):
    c.start_server()
    host = "127.0.0.1:%d" % c.port
    script = r"""
import json, os, sys, threading
sys.path.insert(0, %r)
import tls_peers
port, host = %d, %r
def conn(name, n):
    res = {}
    tls_peers.run_connection(port, {"name": name, "host": host, "sni": None,
                                    "requests": [[n, 2 * n]]}, res, threading.Lock())
    return res[name]
out = {"parent": os.getpid(), "before": conn("before", 300000)}
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    res = {"child": os.getpid(), "in_child": conn("in_child", 200000)}
    os.write(w, json.dumps(res).encode())
    sys.exit(0)
os.close(w)
child = json.loads(os.read(r, 65536).decode())
_, status = os.waitpid(pid, 0)
out.update(child)
out["status"] = status
out["after"] = conn("after", 100000)
print(json.dumps(out))
""" % (SRC, c.port, host)
    argv = [TLS_CLIENT, "--fork", str(c.port), host] if TLS_CLIENT else [PY, "-c", script]
    res = json.loads(c.run(argv, c.preload_env(ARGUS_DISCORD_HOSTS=host)).stdout)
    expect(res["status"] == 0, "the forked child failed")
    conns = c.recorded()
    parent = {k: v for k, v in conns.items() if k[0] == res["parent"]}
    child = {k: v for k, v in conns.items() if k[0] == res["child"]}
    expect(len(parent) == 2, "parent: expected 2 captured connections, got %d" % len(parent))
    expect(len(child) == 1, "child: expected its own capture of 1 connection, got %d" % len(child))
    match_streams(parent, res, ["before", "after"])
    match_streams(child, res, ["in_child"])
    expect(os.path.exists(os.path.join(c.rec, "%d.stats" % res["child"])),
           "the child's Argus did not flush at exit")


def case_fork_real_core(c):
    """Criterion 5 with the real core (libargus_core_record.so): after fork,
    the parent's and the child's exports each carry their own capture."""
    c.start_server()
    host = "127.0.0.1:%d" % c.port
    script = r"""
import json, os, sys, threading
sys.path.insert(0, %r)
import tls_peers
port, host = %d, %r
def conn(name, n):
    res = {}
    tls_peers.run_connection(port, {"name": name, "host": host, "sni": None,
                                    "requests": [[n, 2 * n]]}, res, threading.Lock())
    return res[name]["read_len"]
before = conn("before", 300000)
pid = os.fork()
if pid == 0:
    sys.stdout.write(json.dumps({"child": conn("in_child", 200000)}) + "\n")
    sys.stdout.flush()
    sys.exit(0)
_, status = os.waitpid(pid, 0)
after = conn("after", 100000)
print(json.dumps({"parent": before + after, "status": status}))
""" % (SRC, c.port, host)
    env = c.preload_env(ARGUS_DISCORD_HOSTS=host, ARGUS_CORE_PATH=ENV["ARGUS_RECORD_CORE"],
                        OTEL_METRICS_EXPORTER="console", OTEL_TRACES_EXPORTER="none")
    p = c.run([PY, "-c", script], env)
    res = {}
    for line in p.stdout.splitlines():
        res.update(json.loads(line))
    expect(res["status"] == 0, "the forked child failed")
    exported = [int(line.split()[-2]) for line in p.stderr.splitlines()
                if "argus_capture_bytes_total" in line and 'direction="read"' in line]
    expect(res["child"] in exported,
           "the child's own export of its captured bytes (%d) is missing: %s"
           % (res["child"], exported))
    expect(res["parent"] in exported,
           "the parent's export after the fork (%d) is missing: %s" % (res["parent"], exported))


def case_own_tls_not_captured(c):
    """Argus' own HTTPS (libcurl exporting OTLP to a collector that is also a
    configured Discord host) passes through the hooks uncaptured."""
    log = os.path.join(c.dir, "requests.log")
    c.start_server(log)
    host = "127.0.0.1:%d" % c.port
    script = r"""
import json, os, sys, threading, time
sys.path.insert(0, %r)
import tls_peers
port, host, log = %d, %r, %r
def conn(name, n):
    res = {}
    tls_peers.run_connection(port, {"name": name, "host": host, "sni": None,
                                    "requests": [[n, 2 * n]]}, res, threading.Lock())
    return res[name]
a = conn("first", 50000)
deadline = time.monotonic() + 30
while time.monotonic() < deadline:  # await the exporter's first HTTPS POST
    if os.path.exists(log) and "/v1/metrics" in open(log).read():
        break
    time.sleep(0.05)
b = conn("second", 20000)
print(json.dumps({"read": a["read_len"] + b["read_len"], "write": a["write_len"] + b["write_len"]}))
""" % (SRC, c.port, host, log)
    env = c.preload_env(ARGUS_DISCORD_HOSTS=host, ARGUS_CORE_PATH=ENV["ARGUS_RECORD_CORE"],
                        OTEL_EXPORTER_OTLP_ENDPOINT="https://" + host,
                        OTEL_EXPORTER_OTLP_CERTIFICATE=c.cert, OTEL_METRIC_EXPORT_INTERVAL=200,
                        OTEL_METRICS_EXPORTER="otlp,console", OTEL_TRACES_EXPORTER="none")
    p = c.run([PY, "-c", script], env)
    bot = json.loads(p.stdout)
    expect("/v1/metrics" in open(log).read(), "the exporter's HTTPS never reached the server")
    last = {}
    for line in p.stderr.splitlines():
        if "argus_capture_bytes_total" in line:
            last["read" if 'direction="read"' in line else "write"] = int(line.split()[-2])
    expect(last == bot, "captured bytes %s are not exactly the bot's own %s: Argus' TLS was "
           "captured" % (last, bot))


def case_eviction(c):
    """More live connections than ARGUS_MAX_CONNECTIONS: evictions are
    counted, an evicted stream is closed, one seen again mid-stream starts
    with a GAP, and the program's I/O is untouched. The connections carry an
    SNI name, as real Discord ones do: one recognised only by the Host header
    of its first request cannot be recognised again mid-stream (a limit)."""
    c.start_server()
    host = "127.0.0.1:%d" % c.port
    specs = [{"name": "d%02d" % i, "host": host, "sni": "discord.com",
              "requests": [[20000, 20000]] * 30} for i in range(24)]
    plain = c.client(specs, c.plain_env())
    # A ring that holds the whole run (mapped MAP_NORESERVE, so only what is
    # used is resident): with the default 4 MiB a consumer slowed by a busy
    # machine, or by emulation, drops records, CLOSE ones included, and a
    # stream whose CLOSE was dropped (counted) would fail the check below.
    hooked = c.client(specs, c.preload_env(ARGUS_MAX_CONNECTIONS=8, ARGUS_RING_BYTES=64 << 20))
    expect(plain == hooked, "the program's own I/O changed under evictions")
    st = c.stats()
    expect(int(st["connections_evicted"]) > 0, "24 live connections in a table of 8 must evict")
    conns = c.recorded()
    expect(len(conns) > 24, "evicted connections seen again must reopen (%d streams)" % len(conns))
    for key, conn in conns.items():
        expect(conn["close"], "stream %s was never closed" % (key,))
        # (An empty stream was evicted right after its OPEN; its bytes are
        # counted as dropped.)
        if (conn["write"] or conn["read"]) and not conn["write"].startswith(b"POST / HTTP/1.1"):
            expect(conn["gaps"] > 0, "stream %s joined mid-stream without a GAP: open=%r "
                   "write[:40]=%r read[:40]=%r" % (key, conn["open"], conn["write"][:40],
                                                   conn["read"][:40]))
    got = sum(len(conn["read"]) + len(conn["write"]) for conn in conns.values())
    sent = sum(r["read_len"] + r["write_len"] for r in hooked.values())
    expect(got + int(st["dropped_bytes"]) == sent,
           "evictions lost bytes: captured %d + dropped %s != %d" % (got, st["dropped_bytes"], sent))


def case_core_missing(c):
    """A core that cannot be loaded: one line, then pure pass-through."""
    c.start_server()
    host = "127.0.0.1:%d" % c.port
    specs = [{"name": "d%d" % i, "host": host, "sni": None, "requests": [[1 << 18, 1 << 18]] * 3}
             for i in range(3)]
    plain = c.client(specs, c.plain_env())
    env = c.preload_env(ARGUS_DISCORD_HOSTS=host,
                        ARGUS_CORE_PATH=os.path.join(c.dir, "no-such-core.so"))
    p = c.run(c.client_argv(specs), env)
    expect(json.loads(p.stdout) == plain, "I/O changed when the core could not load")
    lines = [l for l in p.stderr.splitlines() if l.startswith("argus:")]
    expect(len(lines) == 1 and "cannot load" in lines[0],
           "expected one line saying the core cannot load, got: %r" % p.stderr)


def case_threads(c):
    """Eight threads do TLS at once through the hooks: one ring and one
    connection table under contention. Everything the client ends moved is
    captured, nothing is dropped. scripts/test runs this case again with
    ThreadSanitizer builds of the program, the preload and the stub core."""
    threads, kib = 8, 256
    argv = [ENV["ARGUS_CAP_THREADS"], c.cert, c.key, str(threads), str(kib)]
    out = c.run(argv, c.preload_env(ARGUS_RING_BYTES=64 << 20)).stdout.split()
    moved = {"read": int(out[1]), "write": int(out[3])}
    expect(moved["read"] == moved["write"] == threads * kib * 1024,
           "the program did not move what it should: %s" % out)
    st = c.stats()
    expect(st["dropped_bytes"] == "0" and st["dropped_records"] == "0",
           "records dropped with a large ring: %s" % st)
    expect(int(st["captured_read"]) == moved["read"] and
           int(st["captured_write"]) == moved["write"],
           "captured %s/%s of %s" % (st["captured_read"], st["captured_write"], moved))
    conns = c.recorded()
    expect(len(conns) == threads, "expected %d captured connections, got %d" % (threads, len(conns)))
    for conn in conns.values():
        expect(conn["open"] == "gateway.discord.gg" and conn["close"] and conn["gaps"] == 0,
               "a connection lacks its OPEN or CLOSE, or has a gap: open=%r close=%r gaps=%d"
               % (conn["open"], conn["close"], conn["gaps"]))
        expect(len(conn["read"]) == len(conn["write"]) == kib * 1024,
               "a connection's streams are not whole")


def case_two_copies(c):
    if "ARGUS_TLS_RENAMED" not in ENV:
        missing_exit("patchelf not found")
    argv = [ENV["ARGUS_TWO_COPIES"], c.cert, c.key, ENV["ARGUS_TLS_SYSTEM"], ENV["ARGUS_TLS_RENAMED"]]
    plain = c.run(argv, c.plain_env()).stdout
    hooked = c.run(argv, c.preload_env()).stdout
    expect("rc=0" in plain and plain.count("rc=0") == 2, "the program itself failed: %s" % plain)
    expect(plain == hooked, "output differs under the preload:\n%s\n%s" % (plain, hooked))
    conns = c.recorded()
    expect(len(conns) == 1, "only the system copy's connection may be captured, got %d" % len(conns))
    system = dict(kv.split("=") for kv in plain.splitlines()[0].split()[1:])
    conn = next(iter(conns.values()))
    expect(fnv(conn["write"]) == system["write_fnv"] and fnv(conn["read"]) == system["read_fnv"],
           "the captured stream is not the system copy's")


def main():
    case = sys.argv[1]
    c = Case()
    try:
        globals()["case_" + case](c)
    finally:
        c.close()
    print("ok: " + case)


if __name__ == "__main__":
    main()
