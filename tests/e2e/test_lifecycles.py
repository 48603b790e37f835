#!/usr/bin/python3
"""Issue 7, criterion 1: what Argus exported equals the simulator's ground truth.

    test_lifecycles.py BOT BUILD_DIR [SCENARIO [SCALE]]

BOT is dpy or djs, or djs@MAJOR for discord.js on that official Node build
(scripts/setup-node-official; Argus patches its built-in OpenSSL), or
djs@MAJOR:arm64 for its arm64 build under the emulator in ARGUS_GUEST_RUN
(BUILD_DIR then a cross build); SCENARIO a name in scripts/sim/scenarios/ (default main);
SCALE scales its bursts (run_scenario.py --scale, default 1).
One run of the real bot under the preload (tests/e2e/run_scenario.py), with
Argus' deadlines set to the scenario's (ARGUS_PREFIX_TIMEOUT_S,
ARGUS_DEFERRED_TIMEOUT_S), then the last OTLP metrics export (the one made at
exit, after every lifecycle ended) and every exported span are compared with
truth.json:

  - every lifecycle counter equals the truth exactly: interactions received by
    type, outcomes by type, application and prefix commands by name and
    outcome, command errors by error type; REST requests by method, route and
    status; 429s; gateway dispatches by event; reconnects;
  - series that start at 0 (issue 13): every command exported has a series
    for each outcome, and every shard that identified a reconnect series (so
    the quiet scenario exports discord_shard_reconnects_total{shard="0"} 0);
  - histogram counts match exactly and sums within 20 % (or 50 ms, or 5 ms per
    command, for sums of milliseconds, where 20 % is below the scheduling
    noise: the truth ends a command when the simulator receives the answer,
    Argus when the bot reads Discord's reply);
  - the guild count, the shard count, a latency gauge per shard within 50 ms of
    the simulator's heartbeat round trips, disconnects by close code (plus
    at most the bot's own close at exit, which the truth, written before the
    bot stops, cannot contain);
  - issue 13: the cache gauges (cached users, emojis, stickers, DM channels,
    voice clients) and the invalid-request count exactly; the IDENTIFY budget
    when the bot asked GET /gateway/bot; rate-limit headroom never below the
    truth's lowest and 0 on a route whose bucket was spent; no shard
    ws-ratelimited; loop lag at most LAG_IDLE_MAX_S, except in a scenario
    with loop_block_s, where it reaches the block less one heartbeat interval;
  - exactly one SERVER span per lifecycle (none for autocomplete) with the
    right name, command and outcome, and as many CLIENT children as REST calls
    carried its token (callback, late callbacks, follow-ups) or answered it
    (prefix replies, 429s included).

Prefix command labels follow the inference rule of issue 7: a name is a label
once a command of that name was answered; before that a timeout is _unknown.
Runs leave everything in BUILD_DIR/e2e/lifecycles/<bot>-<scenario>/.
"""

import collections
import glob
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"

KIND_TYPE = {"command": "application_command", "component": "component",
             "autocomplete": "autocomplete", "modal_submit": "modal_submit"}
SPAN_KIND_SERVER, SPAN_KIND_CLIENT = 2, 3
OUTCOMES = ("success", "error", "timeout")
# Mirrors LC_DECISION_DELAY_NS (infer/lc.h): Argus decides a timeout this
# long after the deadline, which orders it after answers that came meanwhile.
DECISION_DELAY_S = 2.0
LABEL_RE = re.compile(r"^[a-z0-9_-]{1,32}$")
SUM_REL_TOLERANCE = 0.20
SUM_ABS_TOLERANCE_S = 0.05
# The truth ends a command when the simulator receives the answer; Argus when
# the bot reads Discord's reply to it, one loopback round trip and a turn of
# the bot's event loop later. Under a burst that is a few ms per command.
SUM_PER_SAMPLE_TOLERANCE_S = 0.005
LATENCY_TOLERANCE_S = 0.05
# A bot under an emulator (djs@MAJOR:arm64) runs some ten times slower, and
# so does that round trip; the absolute time tolerances above are multiplied
# by this there. Counts and every counter stay exact.
EMULATED_TIME_SLACK = 10.0
time_slack = 1.0


class Failures:
    def __init__(self):
        self.messages = []
        self.checks = 0

    def equal(self, what, got, want):
        self.checks += 1
        if got != want:
            self.messages.append(f"{what}: exported {got!r}, truth {want!r}")

    def check(self, condition, message):
        self.checks += 1
        if not condition:
            self.messages.append(message)


# ---- reading what Argus exported ------------------------------------------------

def load_metrics(out):
    """{name: [(attrs without cluster, point)]} from the last export."""
    files = sorted(glob.glob(os.path.join(out, "otlp", "metrics-*.json")))
    if not files:
        return None
    return load_metrics_file(files[-1])


def load_metrics_file(path):
    """{name: [(attrs without cluster, point)]} from one decoded export
    (scripts/soak compares many)."""
    with open(path) as f:
        export = json.load(f)
    metrics = collections.defaultdict(list)
    for rm in export["resource_metrics"]:
        for scope in rm["scopes"]:
            for metric in scope["metrics"]:
                for point in metric["points"]:
                    attrs = {k: v for k, v in point["attributes"].items() if k != "cluster"}
                    metrics[metric["name"]].append((attrs, point))
    return metrics


def load_spans(out):
    spans = []
    for path in sorted(glob.glob(os.path.join(out, "otlp", "traces-*.json"))):
        with open(path) as f:
            export = json.load(f)
        for rs in export["resource_spans"]:
            for scope in rs["scopes"]:
                spans.extend(scope["spans"])
    return spans


def counter_map(metrics, name, keys):
    """{tuple of the keys' values: value} for a counter or gauge."""
    out = {}
    for attrs, point in metrics.get(name, []):
        value = point.get("as_int", point.get("as_double"))
        out[tuple(attrs.get(k) for k in keys)] = int(value) if "as_int" in point else value
    return out


def counted(series):
    """The series that counted something: those that exist at 0 (issue 13)
    have no counterpart in the truth."""
    return {k: v for k, v in series.items() if v}


def check_every_outcome(f, name, got):
    """Issue 13: every command exported has a series for each outcome, so
    rate() sees its first success, error or timeout."""
    for command in sorted({c for c, _ in got}):
        have = {s for c, s in got if c == command}
        f.check(have == set(OUTCOMES), f"{name}{{command={command!r}}}: statuses {sorted(have)}, "
                                       f"want every one of {OUTCOMES}")


def histogram_map(metrics, name, key):
    return {attrs.get(key): (int(point["count"]), float(point.get("sum", 0.0)))
            for attrs, point in metrics.get(name, [])}


def normalise_route(route):
    """Argus' templates name their ids ({channel_id}); the simulator's say {id}."""
    return re.sub(r"\{(?!token\})[a-z_]+\}", "{id}", route)


# ---- what the truth implies ---------------------------------------------------------

def error_type(code, status):
    return str(code) if code else f"http_{status}"


def expected_interactions(truth):
    exp = {"received": collections.Counter(), "responses": collections.Counter(),
           "app": collections.Counter(), "errors": collections.Counter(),
           "app_duration": collections.defaultdict(list),
           "response_count": collections.Counter(), "spans": collections.Counter()}
    for r in truth["interactions"]:
        if r["dispatched_at"] is None:
            continue
        kind = KIND_TYPE[r["kind"]]
        outcome = r["outcome"]
        exp["received"][(kind, "received")] += 1
        exp["responses"][(kind, outcome)] += 1
        if r["callback_at"] is not None or r["late_callbacks"]:
            exp["response_count"][kind] += 1
        children = (1 if r["callback_at"] is not None else 0) + len(r["late_callbacks"]) + \
            r["webhook_calls"]
        if r["kind"] == "command":
            name = r["name"]
            exp["app"][(name, outcome)] += 1
            exp["app_duration"][name].append(r["closed_at"] - r["dispatched_at"])
            if outcome == "timeout":
                exp["errors"][(name, "timeout")] += 1
            elif outcome == "error":
                if r["completed_at"] is not None:
                    exp["errors"][(name, error_type(0, r["completion_status"]))] += 1
                else:
                    exp["errors"][(name, error_type(r["callback_code"], r["callback_status"]))] += 1
            exp["spans"][("discord.app_command", name, outcome, children)] += 1
        elif r["kind"] != "autocomplete":
            exp["spans"][("discord.interaction", None, outcome, children)] += 1
    return exp


def expected_prefix(truth):
    """Labels by the inference rule, in the order Argus decides outcomes."""
    exp = {"commands": collections.Counter(), "errors": collections.Counter(),
           "duration": collections.defaultdict(list), "spans": collections.Counter()}
    records = [r for r in truth["prefix_commands"] if r["dispatched_at"] is not None]
    # The simulator answers a scripted 429 before the reply reaches the truth
    # (reply_attempts leaves it out), but the 429'd request carried the same
    # reference, so Argus makes it a child: give each 429 on the messages
    # route to the command that was open in that moment.
    limited = [x["at"] for x in truth["rest"]["rate_limited"]
               if x["route"] == "POST /channels/{id}/messages"]
    records.sort(key=lambda r: r["closed_at"] + (DECISION_DELAY_S if r["outcome"] == "timeout"
                                                 else 0.0))
    learned = set()
    for r in records:
        name, outcome = r["command"].lower(), r["outcome"]
        answered = outcome in ("success", "error")
        if name in learned:
            label = name
        elif not answered:
            label = "_unknown"
        elif LABEL_RE.match(name):
            learned.add(name)
            label = name
        else:
            label = "_other"
        exp["commands"][(label, outcome)] += 1
        exp["duration"][label].append(r["closed_at"] - r["dispatched_at"])
        if outcome == "timeout":
            exp["errors"][(label, "timeout")] += 1
        elif outcome == "error":
            exp["errors"][(label, error_type(0, r["reply_status"]))] += 1
        retried = sum(1 for at in limited if r["dispatched_at"] <= at <= r["closed_at"])
        exp["spans"][("discord.command", label, outcome, r["reply_attempts"] + retried)] += 1
    return exp


# ---- the comparison -------------------------------------------------------------------

def compare_histograms(f, what, exported, durations):
    for name, values in sorted(durations.items()):
        count, total = exported.get(name, (0, 0.0))
        f.equal(f"{what}{{{name}}} count", count, len(values))
        want = sum(values)
        tolerance = max(SUM_REL_TOLERANCE * want, SUM_ABS_TOLERANCE_S * time_slack,
                        SUM_PER_SAMPLE_TOLERANCE_S * time_slack * len(values))
        f.check(abs(total - want) <= tolerance,
                f"{what}{{{name}}} sum: exported {total:.3f}, truth {want:.3f}")
    for name in sorted(set(exported) - set(durations)):
        f.check(False, f"{what}{{{name}}}: exported, not in the truth")


def compare_lifecycles(f, metrics, truth):
    inter = expected_interactions(truth)
    prefix = expected_prefix(truth)
    f.equal("discord_interactions_total",
            counter_map(metrics, "discord_interactions_total", ["type", "status"]),
            dict(inter["received"]))
    f.equal("discord_interaction_responses_total",
            counter_map(metrics, "discord_interaction_responses_total", ["type", "status"]),
            dict(inter["responses"]))
    for name, want in (("discord_app_commands_total", inter["app"]),
                       ("discord_commands_total", prefix["commands"])):
        got = counter_map(metrics, name, ["command", "status"])
        f.equal(name, counted(got), dict(want))
        check_every_outcome(f, name, got)
    f.equal("discord_command_errors_total",
            counter_map(metrics, "discord_command_errors_total", ["command", "error_type"]),
            dict(inter["errors"] + prefix["errors"]))
    compare_histograms(f, "discord_app_command_duration_seconds",
                       histogram_map(metrics, "discord_app_command_duration_seconds", "command"),
                       inter["app_duration"])
    compare_histograms(f, "discord_command_duration_seconds",
                       histogram_map(metrics, "discord_command_duration_seconds", "command"),
                       prefix["duration"])
    counts = {k: v[0] for k, v in
              histogram_map(metrics, "discord_interaction_response_seconds", "type").items()}
    f.equal("discord_interaction_response_seconds counts", counts, dict(inter["response_count"]))
    return inter["spans"] + prefix["spans"]


def compare_rest_and_gateway(f, metrics, truth):
    exported = collections.Counter()
    for (method, route, status), n in counter_map(
            metrics, "discord_http_requests_total", ["method", "route", "status"]).items():
        exported[(method, normalise_route(route), int(status))] += n
    want = {(r["method"], r["route"], r["status"]): r["count"] for r in truth["rest"]["requests"]}
    f.equal("discord_http_requests_total", dict(exported), want)
    durations = histogram_map(metrics, "discord_http_request_duration_seconds", "route")
    f.equal("discord_http_request_duration_seconds total count",
            sum(c for c, _ in durations.values()),
            sum(n for (_, _, status), n in want.items() if status > 0))
    f.equal("discord_ratelimits_total (all)",
            sum(counter_map(metrics, "discord_ratelimits_total", ["route", "scope"]).values()),
            len(truth["rest"]["rate_limited"]))
    events = {k[0]: v for k, v in
              counter_map(metrics, "discord_gateway_events_total", ["event"]).items()}
    # A dispatch replayed after a RESUME reaches the bot (and Argus) twice.
    replayed = truth["dispatches_replayed"]
    if not isinstance(replayed, dict):  # older truth files: a total only
        replayed = {} if replayed == 0 else None
    if replayed is None:
        f.equal("discord_gateway_events_total (all)", sum(events.values()),
                truth["dispatches_total"] + truth["dispatches_replayed"])
    else:
        want = collections.Counter(truth["dispatches"])
        want.update(replayed)
        f.equal("discord_gateway_events_total", events, dict(want))


def compare_shards(f, metrics, truth):
    gw = truth["gateway"]
    conns = gw["connections"]
    shards = {c["shard"][0] for c in conns if c.get("shard")}
    identifies = collections.Counter(c["shard"][0] for c in conns
                                     if c.get("identified") and c.get("shard"))
    reconnects = gw["resumes"] + sum(n - 1 for n in identifies.values())
    got = counter_map(metrics, "discord_shard_reconnects_total", ["shard"])
    f.equal("discord_shard_reconnects_total (all)", sum(got.values()), reconnects)
    for shard in sorted(shards):
        f.check((str(shard),) in got, f"discord_shard_reconnects_total{{shard={shard}}}: absent; "
                                      "a shard that identified starts at 0 (issue 13)")

    want_codes = collections.Counter()
    still_open = 0
    for c in conns:
        if c["closed_at"] is None:
            still_open += 1
            continue
        code = c.get("client_close_code") or c.get("server_close_code") or 1006
        want_codes[(str(c["shard"][0]) if c.get("shard") else None, str(code))] += 1
    got_codes = counter_map(metrics, "discord_shard_disconnects_total", ["shard", "code"])
    for key, n in want_codes.items():
        f.check(got_codes.get(key, 0) >= n,
                f"discord_shard_disconnects_total{key}: exported {got_codes.get(key, 0)}, "
                f"truth {n}")
    extra = sum(got_codes.values()) - sum(want_codes.values())
    f.check(0 <= extra <= still_open,
            f"discord_shard_disconnects_total: {extra} beyond the truth, "
            f"{still_open} connections were open when it was written")

    guilds = counter_map(metrics, "discord_guilds", [])
    f.equal("discord_guilds", guilds.get((), None), truth["guilds"])
    counts = {c["shard"][1] for c in conns if c.get("shard")}
    if len(counts) == 1:
        f.equal("discord_shards_configured",
                counter_map(metrics, "discord_shards_configured", []).get((), None), counts.pop())
    latency = counter_map(metrics, "discord_shard_latency_seconds", ["shard"])
    for shard in sorted(shards):
        value = latency.get((str(shard),))
        # discord.js beats first after interval * random(): a short run may
        # end before some shard's first heartbeat was acknowledged.
        acked = truth["heartbeats"].get(str(shard), {}).get("acks_sent", 0) > 0
        if value is None and not acked:
            continue
        # The simulator times the round trips of the heartbeats it requests
        # (op 1 from the server); without any, loopback is ~0.
        trips = truth["heartbeats"].get(str(shard), {}).get("requested_round_trips_ms") or [0.0]
        want = sorted(trips)[len(trips) // 2] / 1000.0
        f.check(value is not None and abs(value - want) <= LATENCY_TOLERANCE_S * time_slack,
                f"discord_shard_latency_seconds{{shard={shard}}}: {value!r}, want the "
                f"simulator's round trip {want:.4f} s within {LATENCY_TOLERANCE_S * time_slack} s")


# Issue 13: the lag a bot whose loop never blocks shows, at most (heartbeat
# timers fire late by scheduling noise only).
LAG_IDLE_MAX_S = 0.5


def compare_catalogue(f, metrics, truth, scenario):
    """Issue 13: the argus-dpy gauges inferred from the gateway, and the three
    warnings read from REST, against what the simulator sent."""
    def gauge(name):
        return counter_map(metrics, name, []).get((), None)

    cat = truth.get("catalogue")
    if cat is None:  # a truth file older than issue 13
        return
    for name in ("cached_users", "emojis", "stickers", "private_channels", "voice_clients"):
        f.equal(f"discord_{name}", gauge(f"discord_{name}"), cat[name])
    rest = truth["rest"]
    invalid = sum(r["count"] for r in rest["requests"] if r["status"] in (401, 403, 429))
    f.equal("discord_invalid_requests", gauge("discord_invalid_requests"), invalid)
    headroom = {normalise_route(k[0]): v for k, v in
                counter_map(metrics, "discord_ratelimit_headroom", ["route"]).items()}
    for route, lowest in rest.get("headroom", {}).items():
        got = headroom.get(route)
        # The gauge is the lowest of the last minute (or the last value), so
        # never below the run's lowest; a route that reached 0 during this
        # short run still shows 0.
        f.check(got is not None and lowest - 1e-9 <= got <= 1.0,
                f"discord_ratelimit_headroom{{route={route!r}}}: {got!r}, truth lowest {lowest}")
        if lowest == 0:
            f.equal(f"discord_ratelimit_headroom{{route={route!r}}}", got, 0.0)
    limit = rest.get("session_start_limit")
    if limit is not None:
        f.equal("discord_gateway_session_starts_remaining",
                gauge("discord_gateway_session_starts_remaining"), limit["remaining"])
        f.equal("discord_gateway_session_starts_total",
                gauge("discord_gateway_session_starts_total"), limit["total"])
        f.equal("discord_gateway_shards_recommended",
                gauge("discord_gateway_shards_recommended"), limit["shards"])
    shards = {str(c["shard"][0]) for c in truth["gateway"]["connections"] if c.get("shard")}
    limited = counter_map(metrics, "discord_shard_ws_ratelimited", ["shard"])
    for shard in sorted(shards):
        f.equal(f"discord_shard_ws_ratelimited{{shard={shard}}}", limited.get((shard,)), 0)
    lag = gauge("discord_event_loop_lag_seconds")
    block = scenario.get("loop_block_s")
    if block:
        # The beat due during the block leaves when it ends: at least the
        # block less one interval late (a lower bound, sampled per beat).
        want = block - scenario["heartbeat_interval_ms"] / 1000.0
        f.check(lag is not None and lag >= want - LAG_IDLE_MAX_S,
                f"discord_event_loop_lag_seconds: {lag!r}, want at least {want:.2f} after a "
                f"{block} s block")
    elif lag is not None:
        f.check(lag <= LAG_IDLE_MAX_S,
                f"discord_event_loop_lag_seconds: {lag!r} without any block (max {LAG_IDLE_MAX_S})")


def compare_spans(f, spans, expected):
    children = collections.Counter(s.get("parent_span_id") for s in spans
                                   if s["kind"] == SPAN_KIND_CLIENT)
    exported = collections.Counter()
    for s in spans:
        if s["kind"] != SPAN_KIND_SERVER:
            continue
        attrs = s["attributes"]
        exported[(s["name"], attrs.get("discord.command")
                  if s["name"] != "discord.interaction" else None,
                  attrs.get("discord.outcome"), children[s["span_id"]])] += 1
        f.check(attrs.get("discord.outcome") == "success" or
                (s.get("status", {}).get("code") == 2 and "error.type" in attrs),
                f"span {s['name']} {attrs.get('discord.command')}: a failure without "
                f"status ERROR and error.type")
        f.check("discord.guild_id" not in attrs, "discord.guild_id on a span without "
                "ARGUS_ENABLE_PER_GUILD")
    f.equal("server spans (name, command, outcome, children)", dict(exported), dict(expected))
    parents = {s["span_id"] for s in spans if s["kind"] == SPAN_KIND_SERVER}
    orphans = [s["name"] for s in spans
               if s["kind"] == SPAN_KIND_CLIENT and s.get("parent_span_id") not in parents]
    f.equal("client spans without their server span", orphans, [])


def compare(out, scenario=None):
    with open(os.path.join(out, "truth.json")) as fp:
        truth = json.load(fp)
    if scenario is None:
        with open(os.path.join(ROOT, "scripts", "sim", "scenarios",
                               truth["scenario"] + ".json")) as fp:
            scenario = json.load(fp)
    metrics = load_metrics(out)
    if metrics is None:
        print(f"FAIL: no metrics export in {out}/otlp")
        return None
    f = Failures()
    expected_spans = compare_lifecycles(f, metrics, truth)
    compare_rest_and_gateway(f, metrics, truth)
    compare_shards(f, metrics, truth)
    compare_catalogue(f, metrics, truth, scenario)
    compare_spans(f, load_spans(out), expected_spans)
    for message in f.messages:
        print("FAIL:", message)
    return f


def main(argv):
    if len(argv) == 3 and argv[1] == "--compare":
        # Re-check a finished run's folder (for working on this test).
        f = compare(argv[2])
        return 1 if f is None or f.messages else 0
    bot, _, major = argv[1].partition("@") if len(argv) > 1 else ("", "", "")
    if len(argv) < 3 or bot not in ("dpy", "djs") or (major and bot != "djs"):
        print(__doc__)
        return 2
    major, _, arch = major.partition(":")
    if major:  # djs@22: the bot on that official Node build (see test_e2e.py)
        # djs@22:arm64: its arm64 build, under the emulator the cross build's
        # arm64 suite names in ARGUS_GUEST_RUN, with the arm64 preload.
        setup = [os.path.join(ROOT, "scripts", "setup-node-official")]
        if arch:
            setup += ["--arch", arch]
            guest = os.environ.get("ARGUS_GUEST_RUN")
            if not guest:
                print(f"FAIL: djs@{major}:{arch} needs ARGUS_GUEST_RUN (an emulator)")
                return 1
            os.environ["ARGUS_E2E_GUEST_RUN"] = guest
            global time_slack
            time_slack = EMULATED_TIME_SLACK
        node = subprocess.run(setup + [major], check=True, capture_output=True,
                              text=True).stdout.split()[-1]
        os.environ["ARGUS_E2E_NODE"] = node
    build = os.path.abspath(argv[2])
    scenario = argv[3] if len(argv) > 3 else "main"
    scale = argv[4] if len(argv) > 4 else "1"
    with open(os.path.join(ROOT, "scripts", "sim", "scenarios", scenario + ".json")) as fp:
        spec = json.load(fp)
    out = os.path.join(build, "e2e", "lifecycles", f"{bot}-{scenario}")
    if major:
        out += f"-node{major}" + (f"-{arch}" if arch else "")
    if scale != "1":
        out += f"-x{scale}"
    command = [PYTHON, os.path.join(HERE, "run_scenario.py"), "--bot", bot, "--scenario",
               scenario, "--build", build, "--out", out, "--preload", "--scale", scale,
               "--bot-env", f"ARGUS_PREFIX_TIMEOUT_S={int(spec['prefix_deadline_s'])}",
               "--bot-env", f"ARGUS_DEFERRED_TIMEOUT_S={int(spec['followup_deadline_s'])}"]
    print("+", " ".join(command), flush=True)
    status = subprocess.call(command)
    if status != 0:
        print(f"FAIL: the scenario did not complete (see {out}/run.json)")
        return 1
    f = compare(out, spec)
    if f is None:
        return 1
    print(f"{bot} {scenario}: {f.checks - len(f.messages)}/{f.checks} checks passed ({out})")
    return 1 if f.messages else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
