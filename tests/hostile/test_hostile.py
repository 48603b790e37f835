"""Hostile Discord-side input (issue 14), one case per run: test_hostile.py CASE.

A client program (hostile_peers.py client) reads what a hostile server playing
Discord (hostile_peers.py server, SNI gateway.discord.gg / discord.com) sends:
a compression bomb, one 100 MB message, a million tiny frames, JSON nested
100,000 deep, invalid UTF-8 and NUL in every field, a 2^63 frame length,
100,000 headers (the cases are described in hostile_peers.py). The client runs
twice: without the preload, then under the real preload and core exporting
every 200 ms to scripts/otlp_receiver.py, a strict decoder. Checks:
    - the client read the same bytes (SHA-256, length, how the stream ended);
    - its peak RSS (VmHWM) under Argus is within 64 MiB of the run without;
    - the problem is counted under a metric name the README documents
      (argus_decode_errors_total{stage}, discord_gateway_events_total{event});
    - the receiver answered 200 to every export, metrics and traces.
It prints one line of figures per case. Paths come from the environment set
by tests/hostile/meson.build.
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PY = "/usr/bin/python3"
ENV = os.environ
PEERS = os.path.join(ENV["ARGUS_HOSTILE_SRC"], "hostile_peers.py")
RSS_SLACK_KIB = 64 * 1024
STAGES = ("http", "ws", "inflate", "gateway", "capture")

sys.path.insert(0, ENV["ARGUS_HOSTILE_SRC"])
import hostile_peers  # noqa: E402


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_file(path, proc, what):
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        expect(proc.poll() is None, "%s exited" % what)
        expect(time.monotonic() < deadline, "%s did not start" % what)
        time.sleep(0.01)  # waiting for a file another process creates


class Counters:
    """The counters of the newest metrics export the receiver stored."""

    def __init__(self, out):
        self.n = self.traces = 0
        self.values = {}
        files = sorted(glob.glob(os.path.join(out, "metrics-*.json")))
        if not files:
            return
        self.n = len(files)
        self.traces = len(glob.glob(os.path.join(out, "traces-*.json")))
        with open(files[-1]) as f:
            req = json.load(f)
        for rm in req["resource_metrics"]:
            for scope in rm["scopes"]:
                for m in scope["metrics"]:
                    for p in m.get("points", []):
                        v = p.get("as_int", p.get("as_double", p.get("count")))
                        attrs = {k: v for k, v in p["attributes"].items() if k != "cluster"}
                        key = (m["name"], tuple(sorted(attrs.items())))
                        self.values[key] = v

    def get(self, name, **attrs):
        return self.values.get((name, tuple(sorted(attrs.items()))), 0)

    def errors(self):
        return {s: self.get("argus_decode_errors_total", stage=s) for s in STAGES}

    def events(self):
        out = {}
        for (name, attrs), v in self.values.items():
            if name == "discord_gateway_events_total":
                out[dict(attrs)["event"]] = v
        return out

    def timeouts(self):
        return sum(v for (name, attrs), v in self.values.items()
                   if name == "discord_app_commands_total" and ("status", "timeout") in attrs)

    def commands(self):
        return sorted({dict(attrs)["command"] for (name, attrs) in self.values
                       if name == "discord_app_commands_total"})

    def dropped(self):
        return self.get("argus_capture_dropped_bytes_total")


def counted(case, c):
    """None when CASE's problem is counted as documented, else what is missing."""
    e, g = c.errors(), c.events()
    after = g.get("HOSTILE_AFTER", 0) == 1
    if case == "bomb":
        # HOSTILE_AFTER twice: in the same zlib stream, then as a text frame.
        ok = e["inflate"] == 0 and e["gateway"] == 1 and g.get("HOSTILE_AFTER", 0) == 2
    elif case == "big":
        if c.dropped() == 0:
            ok = e["gateway"] == 1 and after and "HOSTILE_BIG" not in g
        else:
            # The capture ring overflowed while the decoder was busy: the
            # gap abandons the connection, which is counted instead.
            ok = sum(e.values()) >= 1 and "HOSTILE_BIG" not in g
    elif case == "tiny":
        n = hostile_peers.TINY_FRAMES // len(hostile_peers.dispatch(b"HOSTILE_TINY", b"{}"))
        ok = g.get("HOSTILE_TINY", 0) == n and after and sum(e.values()) == 0
    elif case == "deep":
        # The gateway parser reads op, t and s and skims "d" by counting
        # depth (decode/jscan.c), so nesting costs no stack and both
        # messages are dispatches, counted as such.
        ok = g.get("HOSTILE_DEEP", 0) == 1 and g.get("HOSTILE_DEEP_OPEN", 0) == 1 and \
            sum(e.values()) == 0 and after
    elif case == "utf8":
        # Every dispatch is counted, the bad event names replaced by U+FFFD,
        # and the application commands end as timeouts whose spans (the
        # command name is bad bytes) reach the strict receiver.
        ok = after and any("\ufffd" in name for name in g) and \
            g.get("MESSAGE_CREATE", 0) == 2 and g.get("INTERACTION_CREATE", 0) == 4 and \
            c.timeouts() == 2
    elif case == "len63":
        ok = e["ws"] == 1 and not g
    elif case == "headers":
        ok = e["http"] == 1
    else:
        fail("unknown case %s" % case)
    return None if ok else "errors %r, events %r, dropped %d" % (
        e, {k: v for k, v in g.items()}, c.dropped())


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    fail("no VmHWM for %d" % pid)


def run_client(port, case, env, until=None):
    """Runs the client; returns (its JSON line, VmHWM in KiB, seconds)."""
    t0 = time.monotonic()
    p = subprocess.Popen([PY, PEERS, "client", str(port), case], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line:
        p.wait()
        fail("client exited %s: %s" % (p.returncode, p.stderr.read()[-2000:]))
    if until is not None:
        until()
    hwm = vm_hwm_kib(p.pid)
    out, err = p.communicate("done\n", timeout=60)
    expect(p.returncode == 0, "client exited %d: %s" % (p.returncode, err[-2000:]))
    return json.loads(line), hwm, time.monotonic() - t0, err


def main(case):
    tmp = tempfile.mkdtemp(prefix="argus-hostile-")
    server = receiver = None
    try:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "1", "-subj", "/CN=gateway.discord.gg"],
                       check=True, capture_output=True)
        plain_env = {k: v for k, v in ENV.items()
                     if not k.startswith(("OTEL_", "ARGUS_")) and k != "LD_PRELOAD"}
        portfile = os.path.join(tmp, "port")
        server = subprocess.Popen([PY, PEERS, "server", portfile, cert, key], env=plain_env)
        wait_file(portfile, server, "the hostile server")
        with open(portfile) as f:
            port = int(f.read())
        out = os.path.join(tmp, "otlp")
        rport = free_port()
        receiver = subprocess.Popen([PY, ENV["ARGUS_RECEIVER"], "--port", str(rport), "--out", out],
                                    env=plain_env, stdout=subprocess.PIPE, text=True)
        expect(receiver.stdout.readline().startswith("listening"), "receiver did not start")

        plain, plain_hwm, plain_s, _ = run_client(port, case, plain_env)

        env = dict(plain_env)
        env.update({"LD_PRELOAD": ENV["ARGUS_PRELOAD"], "OTEL_SERVICE_NAME": "hostile",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % rport,
                    "OTEL_METRIC_EXPORT_INTERVAL": "200", "OTEL_BSP_SCHEDULE_DELAY": "200"})
        state = {}

        def until_counted():
            deadline = time.monotonic() + 90
            while True:
                c = Counters(out)
                state["missing"] = counted(case, c)
                if state["missing"] is None:
                    return
                if time.monotonic() > deadline:
                    return
                time.sleep(0.1)  # polling another process' output files

        hooked, hwm, hooked_s, err = run_client(port, case, env, until_counted)
        expect(state["missing"] is None, "%s not counted as documented: %s" % (case,
                                                                               state["missing"]))
        expect(hooked == plain, "the client read different bytes under Argus: %r, without: %r"
               % (hooked, plain))
        expect(hwm - plain_hwm <= RSS_SLACK_KIB,
               "peak RSS %d KiB under Argus, %d KiB without: more than 64 MiB apart"
               % (hwm, plain_hwm))
        with open(os.path.join(out, "requests.log")) as f:
            statuses = [line.split()[:3] for line in f]
        expect(statuses, "no export reached the receiver")
        refused = [s for s in statuses if s[2] != "200"]
        expect(not refused, "the receiver refused exports: %r" % refused)
        c = Counters(out)
        expect(counted(case, c) is None, "the final export lost the count")
        if case == "utf8":
            # The timed-out commands' spans, held for a late answer, go out
            # in the final flush at exit.
            expect(c.traces >= 1, "no span reached the receiver")
            expect(len(c.commands()) == 2 and any("\ufffd" in n for n in c.commands()),
                   "command labels %r" % c.commands())
        e = {k: v for k, v in c.errors().items() if v}
        g = c.events()
        n_traces = sum(1 for s in statuses if s[0] == "traces")
        if case == "utf8":
            print("hostile utf8: command labels %r" % c.commands())
        print("hostile %s: %d bytes read, identical (%s); VmHWM %.1f MiB without Argus, "
              "%.1f MiB with (%+.1f MiB); decode errors %s; events %s; dropped %d B; "
              "%d exports (%d traces), all 200; %.1f s without, %.1f s with"
              % (case, plain["len"], plain["end"], plain_hwm / 1024, hwm / 1024,
                 (hwm - plain_hwm) / 1024, e or "none",
                 {k: v for k, v in sorted(g.items())} or "none", c.dropped(), len(statuses),
                 n_traces, plain_s, hooked_s))
    finally:
        for p in (server, receiver):
            if p is not None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
