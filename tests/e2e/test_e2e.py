#!/usr/bin/python3
"""End-to-end checks with real bots, the simulator and the real preload.

    test_e2e.py CASE BUILD_DIR

CASE is one of:
  dpy, djs          the main scenario with and without the preload: both runs
                    complete, their ground truths agree on every count and
                    outcome, the ground truth matches the known behaviour of
                    the bot (issue 5, criterion 2), and Argus exported
                    (argus_up = 1) after counting the bot's Discord connections
                    and bytes; no token appears in what it exported.
  djs_deflate       the same for discord.js with permessage-deflate accepted.
  dpy_sessions, djs_sessions
                    INVALID_SESSION (not resumable, then resumable) and a server
                    close 4000 under the preload: the bot re-identifies once,
                    resumes twice, answers every command; Argus agrees.
  dpy_burst, djs_burst
                    the burst scenario (scaled down for CI) under the preload:
                    it completes, every lifecycle closes, Argus exports.

A djs case may name an official Node build by its major version, e.g.
djs@22, djs_sessions@22, djs_burst@22: the bot then runs on that build
(scripts/setup-node-official), whose built-in OpenSSL the preload patches,
instead of Debian's Node 18 and its shared libssl.

Runs leave everything in BUILD_DIR/e2e/<case>/<run>/ (see run_scenario.py).
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts", "sim"))

import fake_secrets  # noqa: E402

PYTHON = "/usr/bin/python3"
BURST_SCALE = float(os.environ.get("ARGUS_E2E_BURST_SCALE", "0.25"))

# Issue 5, criterion 2: the outcome of every interaction of scenarios/main.json,
# in the order Discord created them (the modal submit follows /feedback).
EXPECTED_INTERACTIONS = [
    ("command", "ping", "success"),
    ("command", "admin stats", "success"),
    ("command", "slow", "success"),
    ("command", "boom", "timeout"),
    ("command", "late", "timeout"),
    ("command", "menu", "success"),
    ("component", "argus:wave", "success"),
    ("autocomplete", "color", "success"),
    ("command", "feedback", "success"),
    ("modal_submit", "feedback:modal", "success"),
    ("command", "ping", "error"),        # delivered 3.5 s old, answered at once
    ("command", "ping", "success"),      # after the RESUME
    ("command", "admin stats", "success"),
]
EXPECTED_PREFIX = [("ping", "success"), ("echo", "success"), ("fail", "timeout"),
                   ("ping", "success")]


class Failures:
    def __init__(self):
        self.messages = []

    def check(self, condition, message):
        if not condition:
            self.messages.append(message)
        return condition


def run(bot, scenario, preload, build, out, *extra):
    command = [PYTHON, os.path.join(HERE, "run_scenario.py"), "--bot", bot,
               "--scenario", scenario, "--build", build, "--out", out,
               "--preload" if preload else "--no-preload", *extra]
    print("+", " ".join(command), flush=True)
    status = subprocess.call(command)
    with open(os.path.join(out, "run.json")) as f:
        report = json.load(f)
    truth = None
    if os.path.exists(os.path.join(out, "truth.json")):
        with open(os.path.join(out, "truth.json")) as f:
            truth = json.load(f)
    return status, report, truth


def stable_view(truth):
    """What must not change between two runs of the same bot and scenario:
    every count and outcome, none of the timings."""
    return {
        "summary": truth["summary"],
        "interactions": [(i["kind"], i["name"], i["outcome"], i["callback_type"],
                          i["callback_status"], i["callback_code"], i["completion_status"],
                          [c["status"] for c in i["late_callbacks"]])
                         for i in truth["interactions"]],
        "prefix": [(p["command"], p["outcome"], p["reply_status"]) for p in truth["prefix_commands"]],
        "dispatches": truth["dispatches"],
        "gateway": {k: truth["gateway"][k] for k in
                    ("identifies", "resumes", "reconnects_requested", "invalid_sessions")},
        "gateway_connections": [(c["host"], c["compress"], c["shard"], c["identified"],
                                 c["resumed"], c["permessage_deflate"])
                                for c in truth["gateway"]["connections"]],
        "guilds": truth["guilds"],
        "rest": sorted((r["method"], r["route"], r["status"], r["count"])
                       for r in truth["rest"]["requests"]),
        "rate_limited": [r["route"] for r in truth["rest"]["rate_limited"]],
    }


def check_known_behaviour(truth, failures):
    got = [(i["kind"], i["name"], i["outcome"]) for i in truth["interactions"]]
    failures.check(got == EXPECTED_INTERACTIONS,
                   f"interaction outcomes {got} != expected {EXPECTED_INTERACTIONS}")
    by_name = {}
    for record in truth["interactions"]:
        by_name.setdefault(record["name"], []).append(record)
    late = by_name.get("late", [{}])[0]
    failures.check([(c["status"], c["code"]) for c in late.get("late_callbacks", [])] == [(404, 10062)],
                   f"/late's callback was not answered 404/10062: {late.get('late_callbacks')}")
    stale = [r for r in by_name.get("ping", []) if r["outcome"] == "error"]
    failures.check(len(stale) == 1 and stale[0]["callback_code"] == 10062
                   and stale[0]["dispatched_at"] - stale[0]["created_at"] >= 3.4,
                   f"the 3.5 s old /ping was not rejected with 10062: {stale}")
    slow = by_name.get("slow", [{}])[0]
    failures.check(slow.get("callback_type") == 5 and slow.get("completion_status") == 200,
                   f"/slow did not defer and complete: {slow}")
    got_prefix = [(p["command"], p["outcome"]) for p in truth["prefix_commands"]]
    failures.check(got_prefix == EXPECTED_PREFIX,
                   f"prefix outcomes {got_prefix} != expected {EXPECTED_PREFIX}")
    failures.check(len(truth["rest"]["rate_limited"]) == 1, "the armed 429 was not served once")
    failures.check(truth["gateway"]["resumes"] == 1, "the bot did not RESUME after op 7")
    failures.check(truth["summary"]["open"] == 0, "lifecycles left open")


def exported(out):
    summary = subprocess.run([PYTHON, os.path.join(ROOT, "scripts", "otlp_summary.py"),
                              os.path.join(out, "otlp"), "--json"],
                             capture_output=True, text=True)
    if summary.returncode != 0:
        return None
    return json.loads(summary.stdout)["metrics"]


def value_of(metrics, name, **attributes):
    """The newest value of the series with these attributes (None if absent)."""
    for point in metrics.get(name, []):
        if all(point["attributes"].get(k) == v for k, v in attributes.items()):
            return point.get("value")
    return None


def check_argus_exported(out, truth, failures):
    metrics = exported(out)
    if not failures.check(metrics, f"no decodable OTLP metrics in {out}/otlp"):
        return
    failures.check(value_of(metrics, "argus_up") == 1, "argus_up=1 was never exported")
    for direction in ("read", "write"):
        value = value_of(metrics, "argus_capture_bytes_total", direction=direction)
        failures.check(value is not None and value > 0,
                       f"argus_capture_bytes_total{{direction={direction}}} = {value}")
    rest = value_of(metrics, "argus_connections_total", kind="rest")
    gateway = value_of(metrics, "argus_connections_total", kind="gateway")
    failures.check(rest is not None and rest >= 1, f"argus_connections_total{{kind=rest}} = {rest}")
    expected_gateway = len(truth["gateway"]["connections"])
    failures.check(gateway is not None and gateway >= expected_gateway,
                   f"argus_connections_total{{kind=gateway}} = {gateway}, "
                   f"the bot opened {expected_gateway} gateway connections")
    leaked = []
    for name in os.listdir(os.path.join(out, "otlp")):
        with open(os.path.join(out, "otlp", name), "rb") as f:
            data = f.read()
        for secret in fake_secrets.all_fixed_secrets() + [fake_secrets.INTERACTION_TOKEN_PREFIX]:
            if secret.encode() in data:
                leaked.append(name)
    failures.check(not leaked, f"a token appears in exported data: {leaked}")


INTERACTION_TYPES = {"command": "application_command", "component": "component",
                     "autocomplete": "autocomplete", "modal_submit": "modal_submit"}


def series_counter(metrics, name, *keys):
    """{(attribute values...): value} for one family, summed over other attributes."""
    counter = {}
    for point in metrics.get(name, []):
        key = tuple(str(point["attributes"].get(k)) for k in keys)
        counter[key] = counter.get(key, 0) + (point.get("value") or 0)
    return {k: v for k, v in counter.items() if v}


def tally(pairs):
    counter = {}
    for key in pairs:
        counter[key] = counter.get(key, 0) + 1
    return counter


def check_argus_against_truth(out, truth, failures):
    """Argus' command, gateway and REST counts equal what Discord saw."""
    metrics = exported(out) or {}

    def same(name, argus, discord):
        failures.check(argus == discord, f"{name}: Argus {sorted(argus.items())} "
                                         f"!= Discord {sorted(discord.items())}")

    same("slash commands by (command, status)",
         series_counter(metrics, "discord_app_commands_total", "command", "status"),
         tally((i["name"], i["outcome"]) for i in truth["interactions"] if i["kind"] == "command"))
    same("interaction responses by (type, status)",
         series_counter(metrics, "discord_interaction_responses_total", "type", "status"),
         tally((INTERACTION_TYPES[i["kind"]], i["outcome"]) for i in truth["interactions"]))
    same("prefix commands by status",
         series_counter(metrics, "discord_commands_total", "status"),
         tally((p["outcome"],) for p in truth["prefix_commands"]))
    delivered = dict(truth["dispatches"])
    for event, count in truth["dispatches_replayed"].items():
        delivered[event] = delivered.get(event, 0) + count
    same("gateway events by type", series_counter(metrics, "discord_gateway_events_total", "event"),
         {(event,): count for event, count in delivered.items()})
    same("guilds", series_counter(metrics, "discord_guilds"), {(): truth["guilds"]})
    same("rate limits", series_counter(metrics, "discord_ratelimits_total"),
         {(): len(truth["rest"]["rate_limited"])} if truth["rest"]["rate_limited"] else {})
    rest = {}
    for r in truth["rest"]["requests"]:
        rest[(r["method"], str(r["status"]))] = rest.get((r["method"], str(r["status"])), 0) + r["count"]
    same("REST requests by (method, status)",
         series_counter(metrics, "discord_http_requests_total", "method", "status"), rest)


def compare_case(bot, build, base, extra=()):
    failures = Failures()
    truths = {}
    for preload in (False, True):
        out = os.path.join(base, "preload" if preload else "no-preload")
        status, report, truth = run(bot, "main", preload, build, out, *extra)
        if not failures.check(status == 0 and truth is not None,
                              f"run preload={preload} failed: {report['problems']}"):
            continue
        truths[preload] = truth
        check_known_behaviour(truth, failures)
        if preload:
            check_argus_exported(out, truth, failures)
            check_argus_against_truth(out, truth, failures)
    if len(truths) == 2:
        without, with_ = stable_view(truths[False]), stable_view(truths[True])
        for key in without:
            failures.check(without[key] == with_[key],
                           f"ground truths differ on {key}:\n  without preload {without[key]}\n"
                           f"  with preload    {with_[key]}")
    return failures


def sessions_case(bot, build, base):
    """INVALID_SESSION both ways and a server close: the bot re-identifies
    once, resumes twice, and misses no command; Argus agrees."""
    failures = Failures()
    status, report, truth = run(bot, "sessions", True, build, base)
    if failures.check(status == 0 and truth is not None, f"sessions run failed: {report['problems']}"):
        outcomes = [(i["name"], i["outcome"]) for i in truth["interactions"]]
        failures.check(outcomes == [("ping", "success"), ("ping", "success"),
                                    ("admin stats", "success"), ("ping", "success")],
                       f"interaction outcomes {outcomes}")
        prefix = [(p["command"], p["outcome"]) for p in truth["prefix_commands"]]
        failures.check(prefix == [("ping", "success"), ("echo", "success")], f"prefix outcomes {prefix}")
        gateway = truth["gateway"]
        failures.check((gateway["identifies"], gateway["resumes"], gateway["invalid_sessions"])
                       == (2, 2, 2), f"identifies/resumes/invalid sessions: {gateway}")
        check_argus_exported(base, truth, failures)
        check_argus_against_truth(base, truth, failures)
    return failures


def burst_case(bot, build, base):
    failures = Failures()
    status, report, truth = run(bot, "burst", True, build, base, "--scale", str(BURST_SCALE))
    if failures.check(status == 0 and truth is not None, f"burst run failed: {report['problems']}"):
        failures.check(truth["summary"]["open"] == 0, "lifecycles left open")
        failures.check(len(truth["interactions"]) > 0 and truth["dispatches_total"] > 0,
                       "the burst sent nothing")
        check_argus_exported(base, truth, failures)
        check_argus_against_truth(base, truth, failures)
        outcomes = {}
        for record in truth["interactions"]:
            outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
        print(f"burst: {len(truth['interactions'])} interactions {outcomes}, "
              f"{truth['dispatches_total']} dispatches")
    return failures


def setup_node():
    """Debian's Node 18 and the bot's npm packages (both idempotent, quick
    when already there)."""
    subprocess.run([os.path.join(ROOT, "scripts", "setup-node18")], check=True)
    subprocess.run([os.path.join(HERE, "bots", "djs_bot", "setup.sh")], check=True)


def setup_official_node(major):
    """The official build of this Node major, for ARGUS_E2E_NODE (inherited
    by run_scenario.py)."""
    out = subprocess.run([os.path.join(ROOT, "scripts", "setup-node-official"), major],
                         check=True, capture_output=True, text=True).stdout.split()
    os.environ["ARGUS_E2E_NODE"] = out[-1]
    subprocess.run([os.path.join(HERE, "bots", "djs_bot", "setup.sh")], check=True)


def main():
    case, build = sys.argv[1], os.path.abspath(sys.argv[2])
    case, _, major = case.partition("@")
    if major:
        setup_official_node(major)
    elif case.startswith("djs"):
        setup_node()
    base = os.path.join(build, "e2e", case + (f"-node{major}" if major else ""))
    cases = {
        "dpy": lambda: compare_case("dpy", build, base),
        "djs": lambda: compare_case("djs", build, base),
        "djs_deflate": lambda: compare_case("djs", build, base, ("--permessage-deflate", "accept")),
        "dpy_sessions": lambda: sessions_case("dpy", build, base),
        "djs_sessions": lambda: sessions_case("djs", build, base),
        "dpy_burst": lambda: burst_case("dpy", build, base),
        "djs_burst": lambda: burst_case("djs", build, base),
    }
    failures = cases[case]()
    for message in failures.messages:
        print("FAIL:", message)
    print(f"{case}: {'ok' if not failures.messages else 'FAILED'} (runs in {base})")
    return 1 if failures.messages else 0


if __name__ == "__main__":
    sys.exit(main())
