#!/usr/bin/python3
"""Run one real bot against the Discord simulator, with or without Argus.

    run_scenario.py --bot dpy|djs --scenario main [--preload|--no-preload]
                    [--build DIR] --out DIR [--permessage-deflate accept|refuse]
                    [--scale F] [--bot-env KEY=VALUE ...] [--progress] [--stats-out FILE]

The djs bot needs scripts/setup-node18 and tests/e2e/bots/djs_bot/setup.sh
to have run once (test_e2e.py does it).

Everything happens inside a private network and mount namespace (unshare -nm):
loopback only, and a generated hosts file bind-mounted over /etc/hosts sends
discord.com, gateway.discord.gg and the resume host to 127.0.0.1, where the
simulator listens on 443 with a certificate from a throwaway CA made for this
run. The bot trusts that CA through SSL_CERT_FILE (OpenSSL, so Python) and
NODE_EXTRA_CA_CERTS (Node); nothing else on the machine is touched.

Order: OTLP receiver, simulator, bot (with LD_PRELOAD and OTEL_* when
--preload). The runner then waits for the simulator's "ground_truth"
milestone (every lifecycle closed), and with the preload also for an OTLP
export that left the bot after the longest deadline Argus applies, so the
export reflects the finished scenario. Then SIGTERM to the bot, and the folder
--out holds: truth.json, sim.log, bot.log, receiver.log, otlp/ (decoded
exports), run.json (what ran, exit codes, timings).

Exit status 0 when the scenario was played to the end and the bot stopped
on SIGTERM; 1 otherwise (run.json says why).
"""

import argparse
import json
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SIM_DIR = os.path.join(ROOT, "scripts", "sim")
sys.path.insert(0, SIM_DIR)

import fake_secrets  # noqa: E402

PYTHON = "/usr/bin/python3"
NODE18_DIR = os.environ.get("ARGUS_NODE18_DIR", "/var/cache/argus-e2e/node18")
DJS_MODULES = os.environ.get("ARGUS_DJS_MODULES", "/var/cache/argus-e2e/djs/node_modules")
DISCORD_HOSTS = ["discord.com", "discordapp.com", "gateway.discord.gg",
                 "gateway-us-east1-b.discord.gg"]
OTLP_PORT = 4318
EXPORT_INTERVAL_MS = 1000
# Argus gets the scenario's deadlines (ARGUS_PREFIX_TIMEOUT_S,
# ARGUS_DEFERRED_TIMEOUT_S; the 3 s initial-response deadline is Discord's),
# so it closes each lifecycle when the simulator does, give or take the
# delivery delay. This margin covers that delay before the export we wait for.
ARGUS_DEADLINE_MARGIN_S = float(os.environ.get("ARGUS_E2E_DEADLINE_MARGIN_S", "1.5"))
READY_TIMEOUT_S = 120
STOP_TIMEOUT_S = 20


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bot", choices=["dpy", "djs"], required=True)
    parser.add_argument("--scenario", default="main",
                        help="a name in scripts/sim/scenarios/ or a path to a JSON file")
    parser.add_argument("--preload", dest="preload", action="store_true", default=True)
    parser.add_argument("--no-preload", dest="preload", action="store_false")
    parser.add_argument("--build", default=os.path.join(ROOT, "build"),
                        help="build directory holding libargus_preload.so")
    parser.add_argument("--out", required=True, help="folder for everything the run leaves")
    parser.add_argument("--permessage-deflate", choices=["accept", "refuse"], default="refuse")
    parser.add_argument("--scale", type=float, default=1.0, help="scale burst sizes")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many s")
    parser.add_argument("--bot-env", action="append", default=[], metavar="KEY=VALUE",
                        help="one more variable for the bot (with --preload), applied last; "
                             "e.g. OTEL_METRICS_EXPORTER=otlp,prometheus (repeatable)")
    parser.add_argument("--stats-out", metavar="FILE",
                        help="write the bot's CPU, threads and peak RSS from /proc, sampled when "
                             "the scenario starts, at its ground truth and before SIGTERM "
                             "(for scripts/bench)")
    parser.add_argument("--progress", action="store_true",
                        help="say what is happening while the run goes on (for the demo)")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def enter_namespace(argv):
    """Re-run this script inside a fresh network + mount namespace."""
    command = ["unshare", "--net", "--mount", "--propagation", "private",
               PYTHON, os.path.abspath(__file__), "--inner"] + argv
    return subprocess.call(command)


def prepare_network(out):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    hosts = os.path.join(out, "hosts")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost\n::1 localhost\n")
        f.write("127.0.0.1 " + " ".join(DISCORD_HOSTS) + "\n")
    subprocess.run(["mount", "--bind", hosts, "/etc/hosts"], check=True)


def make_tls(out):
    """A throwaway CA and one leaf for every Discord host; returns paths."""
    tls = os.path.join(out, "tls")
    os.makedirs(tls, exist_ok=True)
    ca_key, ca_crt = os.path.join(tls, "ca.key"), os.path.join(tls, "ca.crt")
    key, csr, crt = (os.path.join(tls, n) for n in ("discord.key", "discord.csr", "discord.crt"))
    ext = os.path.join(tls, "leaf.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join(
            ["DNS:" + h for h in ["discord.com", "discordapp.com", "gateway.discord.gg",
                                  "*.discord.gg"]]) + "\n")
        f.write("extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True}
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key, "-out", ca_crt,
                    "-days", "2", "-subj", "/CN=argus e2e throwaway CA"], **quiet)
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=discord.com"], **quiet)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                    "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext], **quiet)
    return ca_crt, crt, key


class Lines:
    """Reads JSON milestone lines from a child's stdout without blocking."""

    def __init__(self, process):
        self.process = process
        self.selector = selectors.DefaultSelector()
        self.selector.register(process.stdout, selectors.EVENT_READ)
        self.buffer = b""

    def wait_for(self, event, deadline):
        while time.time() < deadline:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if message.get("event") == event:
                    return message
            if self.process.poll() is not None and not self.selector.select(0):
                return None
            for _key, _ in self.selector.select(min(1.0, max(0.0, deadline - time.time()))):
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    self.selector.unregister(self.process.stdout)
                    return None
                self.buffer += chunk
        return None


def receiver_command(otlp_dir):
    return [PYTHON, os.path.join(ROOT, "scripts", "otlp_receiver.py"),
            "--port", str(OTLP_PORT), "--host", "127.0.0.1", "--out", otlp_dir]


def wait_for_port(port, deadline):
    import socket
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)  # polling a port that is still opening: no event exists for it
    return False


def bot_command(bot):
    if bot == "dpy":
        return [PYTHON, os.path.join(HERE, "bots", "dpy_bot.py")], {}
    # ARGUS_E2E_NODE: another node to run the bot on (an official build,
    # scripts/setup-node-official), with OpenSSL built in: Argus patches it.
    node = os.environ.get("ARGUS_E2E_NODE") or os.path.join(NODE18_DIR, "usr", "bin", "node")
    env = {"NODE_PATH": DJS_MODULES}
    return [node, os.path.join(HERE, "bots", "djs_bot", "bot.js")], env


def guest_command(command, env):
    """ARGUS_E2E_GUEST_RUN: the bot's runtime (ARGUS_E2E_NODE, an official
    arm64 Node) is of another architecture and runs under this emulator
    (qemu-aarch64). qemu's own loader must not see LD_PRELOAD: -E hands it to
    the emulated program only."""
    wrap = shlex.split(os.environ.get("ARGUS_E2E_GUEST_RUN", ""))
    if not wrap:
        return command, env
    env = dict(env)
    preload = env.pop("LD_PRELOAD", None)
    if preload is not None:
        wrap += ["-E", "LD_PRELOAD=" + preload]
    return wrap + list(command), env


def bot_environment(args, scenario, ca_crt):
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and not k.startswith(("OTEL_", "ARGUS_", "LD_"))}
    env.update({"DISCORD_TOKEN": fake_secrets.BOT_TOKEN, "SSL_CERT_FILE": ca_crt,
                "NODE_EXTRA_CA_CERTS": ca_crt, "PYTHONUNBUFFERED": "1"})
    env.pop("SSL_CERT_DIR", None)
    if args.bot == "djs" and not os.environ.get("ARGUS_E2E_NODE"):
        env["LD_LIBRARY_PATH"] = os.path.join(NODE18_DIR, "usr", "lib", "x86_64-linux-gnu")
    if args.preload:
        env.update({"LD_PRELOAD": os.path.join(os.path.abspath(args.build), "libargus_preload.so"),
                    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{OTLP_PORT}",
                    "OTEL_METRIC_EXPORT_INTERVAL": str(EXPORT_INTERVAL_MS),
                    "OTEL_SERVICE_NAME": f"e2e-{args.bot}",
                    "ARGUS_PREFIX_TIMEOUT_S": str(round(scenario.get("prefix_deadline_s", 5))),
                    "ARGUS_DEFERRED_TIMEOUT_S": str(round(scenario.get("followup_deadline_s", 15)))})
        env.update(kv.split("=", 1) for kv in args.bot_env if "=" in kv)
    return env


def exports_after(otlp_dir, after):
    """Decoded metric exports the receiver stored after a point in time."""
    if not os.path.isdir(otlp_dir):
        return []
    return [n for n in os.listdir(otlp_dir)
            if n.startswith("metrics-") and os.path.getmtime(os.path.join(otlp_dir, n)) > after]


def stop(process, sig=signal.SIGTERM, timeout=STOP_TIMEOUT_S):
    if process is None or process.poll() is not None:
        return process.returncode if process else None
    process.send_signal(sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return "killed"


# ---- bot resource samples (--stats-out, for scripts/bench) -------------------

def bot_sample(pid):
    """The bot's CPU and memory now, from /proc: process CPU (utime+stime, which
    includes threads that have already exited), VmHWM/VmRSS, and every live
    thread's name, CPU and blocked-signal mask, so the reader can tell Argus'
    threads from the bot's. None if the process is gone."""
    tick = os.sysconf("SC_CLK_TCK")

    def cpu_s(stat_text):
        fields = stat_text[stat_text.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime, stime

    try:
        with open(f"/proc/{pid}/stat") as f:
            sample = {"at": time.time(), "cpu_s": cpu_s(f.read())}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    sample[key.lower() + "_kb"] = int(value.split()[0])
        threads = []
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    stat_text = f.read()
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    sigblk = next(l.split()[1] for l in f if l.startswith("SigBlk:"))
            except (OSError, StopIteration):
                continue  # the thread ended meanwhile
            threads.append({"tid": int(tid), "comm": stat_text[stat_text.index("(") + 1:
                                                                stat_text.rindex(")")],
                            "cpu_s": cpu_s(stat_text), "sigblk": sigblk})
        sample["threads"] = threads
        return sample
    except OSError:
        return None


def record_bot_sample(stats, name, process):
    if stats is not None and process is not None and process.poll() is None:
        stats[name] = bot_sample(process.pid)


def progress_printer(enabled):
    started = time.time()

    def say(text):
        if enabled:
            print(f"  [{time.time() - started:5.1f} s] {text}", flush=True)
    return say


def run_inner(args):
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    for stale in ("truth.json", "otlp"):
        path = os.path.join(out, stale)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    otlp_dir = os.path.join(out, "otlp")
    os.makedirs(otlp_dir)
    scenario = args.scenario if args.scenario.endswith(".json") else \
        os.path.join(SIM_DIR, "scenarios", args.scenario + ".json")
    report = {"bot": args.bot, "scenario": args.scenario, "preload": args.preload,
              "permessage_deflate": args.permessage_deflate, "started_at": time.time(),
              "ok": False, "problems": []}
    deadline = time.time() + args.timeout
    receiver = sim = bot = None
    logs = []
    say = progress_printer(args.progress)
    stats = {} if args.stats_out else None
    try:
        prepare_network(out)
        ca_crt, crt, key = make_tls(out)
        receiver_log = open(os.path.join(out, "receiver.log"), "w")
        logs.append(receiver_log)
        receiver = subprocess.Popen(receiver_command(otlp_dir), stdout=receiver_log,
                                    stderr=subprocess.STDOUT)
        sim_log = open(os.path.join(out, "sim.log"), "w")
        logs.append(sim_log)
        truth_path = os.path.join(out, "truth.json")
        sim = subprocess.Popen([PYTHON, os.path.join(SIM_DIR, "discord_sim.py"),
                                "--scenario", scenario, "--truth", truth_path,
                                "--cert", crt, "--key", key, "--scale", str(args.scale),
                                "--permessage-deflate", args.permessage_deflate],
                               stdout=subprocess.PIPE, stderr=sim_log)
        milestones = Lines(sim)
        if milestones.wait_for("listening", time.time() + 30) is None:
            report["problems"].append("the simulator did not start (see sim.log)")
            return report
        if not wait_for_port(OTLP_PORT, time.time() + 30):
            report["problems"].append("the OTLP receiver did not start (see receiver.log)")
            return report
        command, extra_env = bot_command(args.bot)
        with open(scenario) as f:
            env = bot_environment(args, json.load(f), ca_crt)
        env.update(extra_env)
        if args.preload and not os.path.exists(env["LD_PRELOAD"]):
            report["problems"].append(f"no preload at {env['LD_PRELOAD']} (build first)")
            return report
        bot_log = open(os.path.join(out, "bot.log"), "w")
        logs.append(bot_log)
        cwd = os.path.dirname(command[1])
        command, env = guest_command(command, env)
        bot = subprocess.Popen(command, env=env, stdout=bot_log, stderr=subprocess.STDOUT,
                               cwd=cwd)
        report["bot_started_at"] = time.time()
        say(f"simulator and OTLP receiver up; bot started{' with LD_PRELOAD' if args.preload else ''}")
        ready = milestones.wait_for("ready", min(deadline, time.time() + READY_TIMEOUT_S))
        if ready is None:
            report["problems"].append("the bot never became ready (see bot.log, sim.log)")
        record_bot_sample(stats, "ready", bot)
        if ready:
            say("the bot logged in, received its guilds and registered its commands; "
                "playing the scenario")
        done = milestones.wait_for("ground_truth", deadline) if ready else None
        record_bot_sample(stats, "truth", bot)
        if ready and done is None:
            report["problems"].append("no ground truth before the timeout")
        elif done is not None:
            report["truth_at"] = done["at"]
            if done.get("open"):
                report["problems"].append(f"{done['open']} lifecycles never closed")
        if args.preload and done is not None:
            say("every command answered or timed out; waiting for Argus' next export")
            # Argus may still hold a lifecycle open until its own deadline; wait
            # for an export that left after that.
            settle = done["at"] + ARGUS_DEADLINE_MARGIN_S
            limit = settle + 5 * EXPORT_INTERVAL_MS / 1000.0 + 5
            while time.time() < limit and not exports_after(otlp_dir, settle):
                if bot.poll() is not None:
                    break
                time.sleep(0.1)  # waiting on files the receiver writes
            if not exports_after(otlp_dir, settle):
                report["problems"].append("no OTLP export arrived after the scenario")
        report["bot_alive_at_end"] = bot.poll() is None
        if not report["bot_alive_at_end"]:
            report["problems"].append(f"the bot exited early with {bot.returncode}")
        report["ok"] = done is not None and not report["problems"]
    except Exception as error:  # report anything as a failed run, keep the logs
        report["problems"].append(f"runner error: {error!r}")
    finally:
        say("stopping the bot (SIGTERM)")
        record_bot_sample(stats, "before_stop", bot)
        if stats is not None:
            with open(args.stats_out, "w") as f:
                json.dump(stats, f, indent=1)
        report["bot_exit"] = stop(bot)
        if bot is not None and report.get("bot_alive_at_end") and report["bot_exit"] not in (0, None):
            report["problems"].append(f"the bot did not stop cleanly on SIGTERM: {report['bot_exit']}")
            report["ok"] = False
        report["sim_exit"] = stop(sim)
        report["receiver_exit"] = stop(receiver)
        for f in logs:
            f.close()
        report["finished_at"] = time.time()
        with open(os.path.join(out, "run.json"), "w") as f:
            json.dump(report, f, indent=1)
    return report


def main(argv):
    args = parse_args(argv)
    if not args.inner:
        if os.geteuid() != 0:
            print("run_scenario.py needs root (unshare -nm, mount --bind)", file=sys.stderr)
            return 2
        return enter_namespace([a for a in argv if a != "--inner"])
    report = run_inner(args)
    status = "ok" if report["ok"] else "FAILED: " + "; ".join(report["problems"])
    print(f"{args.bot} {args.scenario} preload={args.preload}: {status} -> {args.out}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
