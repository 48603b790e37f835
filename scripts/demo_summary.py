#!/usr/bin/python3
"""A terminal summary of what Argus exported during a demo run, for people.

    demo_summary.py RUN_DIR

RUN_DIR is a folder left by tests/e2e/run_scenario.py: RUN_DIR/otlp/ holds the
decoded OTLP requests (read through scripts/otlp_summary.py) and
RUN_DIR/truth.json what the Discord simulator saw. Metric families are
grouped by what they describe (commands, gateway, REST, Argus itself); the
command tables are laid out as command x outcome, and every family that has no
dedicated layout is still printed, so a metric added later shows up without a
change here. Finally Argus' command counts are set against the simulator's
ground truth, which is the point of the demo: the numbers came from watching
TLS plaintext, with no change to the bot.
"""

import collections
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STATUSES = ["success", "error", "timeout"]
GROUPS = [  # (title, name prefixes), first match wins
    ("Slash commands, buttons, modals", ("discord_app_command", "discord_interaction")),
    ("Prefix commands", ("discord_command",)),
    ("Gateway", ("discord_gateway", "discord_shard", "discord_guilds", "discord_bot",
                 "discord_uptime")),
    ("REST API", ("discord_http", "discord_ratelimit", "discord_rest")),
    ("Argus itself", ("argus_",)),
]
BOLD, DIM, GREEN, RED, RESET = "\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[0m"
if not sys.stdout.isatty():
    BOLD = DIM = GREEN = RED = RESET = ""


def load_metrics(run_dir):
    result = subprocess.run([sys.executable, os.path.join(HERE, "otlp_summary.py"),
                             os.path.join(run_dir, "otlp"), "--json"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return {}, {}
    data = json.loads(result.stdout)
    return data.get("metrics", {}), data.get("spans", {})


def labels(attributes, skip=("cluster",)):
    return ", ".join(f"{k}={v}" for k, v in sorted(attributes.items()) if k not in skip)


def seconds(value):
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def point_text(point):
    if point.get("kind") == "histogram":
        count = point.get("count", 0)
        avg = point["sum"] / count if count else None
        if point.get("unit") == "s":
            return f"count {count}, avg {seconds(avg)}, max {seconds(point.get('max'))}"
        return f"count {count}, sum {point.get('sum')}"
    value = point.get("value")
    if isinstance(value, float) and point.get("unit") == "s":
        return seconds(value)
    return str(value)


def command_table(counts, durations, title):
    """command x status, plus the average and worst latency when known."""
    names = sorted(counts)
    if not names:
        return
    print(f"  {DIM}{title}{RESET}")
    print(f"    {'command':<16}" + "".join(f"{s:>9}" for s in STATUSES) + f"{'avg':>10}{'max':>10}")
    for name in names:
        row = counts[name]
        duration = durations.get(name)
        avg = duration["sum"] / duration["count"] if duration and duration.get("count") else None
        print(f"    {name:<16}" + "".join(f"{row.get(s, 0):>9}" for s in STATUSES)
              + f"{seconds(avg):>10}{seconds(duration.get('max') if duration else None):>10}")


def by_command(points, key="command"):
    table = collections.defaultdict(dict)
    for point in points:
        attributes = point["attributes"]
        table[attributes.get(key, "?")][attributes.get("status", "?")] = point.get("value", 0)
    return table


def durations_by_command(points):
    return {p["attributes"].get("command", "?"): p for p in points}


def print_family(name, points, shown=None):
    """shown: {label text: value text} replacing a point's own value text."""
    print(f"  {name}")
    for point in points:
        text = labels(point["attributes"])
        value = (shown or {}).get(text, point_text(point))
        print(f"    {text + ': ' if text else ''}{value}")


def print_notes(notes, name):
    for line in notes.get(name, []):
        print(f"    {DIM}why: {line}{RESET}")


def print_groups(metrics, notes, shown):
    grouped = collections.OrderedDict((title, []) for title, _ in GROUPS)
    grouped["Other"] = []
    for name in sorted(metrics):
        title = next((t for t, prefixes in GROUPS if name.startswith(prefixes)), "Other")
        grouped[title].append(name)
    special = {"discord_app_commands_total", "discord_app_command_duration_seconds",
               "discord_commands_total", "discord_command_duration_seconds"}
    for title, names in grouped.items():
        if not names:
            continue
        print(f"\n{BOLD}{title}{RESET}")
        if "discord_app_commands_total" in names:
            command_table(by_command(metrics["discord_app_commands_total"]),
                          durations_by_command(metrics.get("discord_app_command_duration_seconds", [])),
                          "slash commands by outcome (discord_app_commands_total)")
            print_notes(notes, "discord_app_commands_total")
        if "discord_commands_total" in names:
            command_table(by_command(metrics["discord_commands_total"]),
                          durations_by_command(metrics.get("discord_command_duration_seconds", [])),
                          "prefix commands by outcome (discord_commands_total)")
            print_notes(notes, "discord_commands_total")
        for name in names:
            if name not in special:
                print_family(name, metrics[name], shown.get(name))
                print_notes(notes, name)


# ---- warnings (issue 13): the three incidents Argus sees coming ------------------------

INVALID_REQUEST_BAN = 10000  # Discord restricts an IP at this many per 10 minutes


def gauge_value(metrics, name):
    points = metrics.get(name) or []
    return points[0].get("value") if points else None


def print_warnings(metrics):
    """Rate-limit headroom, the invalid-request ban, the daily IDENTIFY budget:
    each with what Argus read and how close the bot came."""
    print(f"\n{BOLD}Warnings{RESET} {DIM}(what would hurt next, read from the bot's own traffic){RESET}")
    headroom = sorted((p.get("value"), p["attributes"].get("route", "?"))
                      for p in metrics.get("discord_ratelimit_headroom", []))
    if headroom:
        lowest, route = headroom[0]
        colour = RED if lowest == 0 else GREEN
        print(f"  rate-limit headroom: lowest {colour}{lowest:.0%}{RESET} on {route}"
              + (f" {RED}(its bucket was empty: the next request got a 429){RESET}"
                 if lowest == 0 else ""))
    else:
        print("  rate-limit headroom: no response carried X-RateLimit-Limit")
    invalid = gauge_value(metrics, "discord_invalid_requests")
    if invalid is not None:
        colour = RED if invalid >= INVALID_REQUEST_BAN // 5 else GREEN
        print(f"  invalid requests (401/403/429) in the last 10 minutes: {colour}{invalid}{RESET}"
              f" of the {INVALID_REQUEST_BAN} that get the IP banned")
    cloudflare = sum(p.get("value") or 0 for p in metrics.get("discord_ratelimits_total", [])
                     if p["attributes"].get("scope") == "cloudflare")
    if cloudflare:
        print(f"  {RED}Cloudflare answered {cloudflare} requests with its own 429: the IP is banned{RESET}")
    remaining = gauge_value(metrics, "discord_gateway_session_starts_remaining")
    total = gauge_value(metrics, "discord_gateway_session_starts_total")
    if remaining is not None:
        colour = RED if total and remaining < total / 10 else GREEN
        print(f"  IDENTIFY budget: {colour}{remaining}{RESET} of {total} session starts left today"
              f" (Discord recommends {gauge_value(metrics, 'discord_gateway_shards_recommended')} shards)")
    else:
        print("  IDENTIFY budget: not seen: the bot never asked GET /gateway/bot (discord.py's\n"
              "    Client asks GET /gateway, which carries no budget; AutoShardedClient and\n"
              "    discord.js ask GET /gateway/bot)")
    lag = gauge_value(metrics, "discord_event_loop_lag_seconds")
    if lag is not None:
        print(f"  event loop lag: {seconds(lag)} (how late the heartbeats left; a lower bound)")


def compare_with_truth(run_dir, metrics):
    truth = load_truth(run_dir)
    if truth is None:
        return
    discord = collections.Counter()
    for record in truth["interactions"]:
        if record["kind"] == "command" and record["outcome"]:
            discord[(record["name"], record["outcome"])] += 1
    argus = collections.Counter()
    for point in metrics.get("discord_app_commands_total", []):
        attributes = point["attributes"]
        argus[(attributes.get("command"), attributes.get("status"))] += point.get("value", 0)
    print(f"\n{BOLD}Argus against what Discord saw{RESET} (the simulator's ground truth)")
    totals = {s: sum(n for (_, st), n in discord.items() if st == s) for s in STATUSES}
    print(f"  Discord: {sum(discord.values())} slash commands: "
          + ", ".join(f"{totals[s]} {s}" for s in STATUSES))
    if not argus:
        print("  Argus exported no command metrics in this build (capture and health only).")
        return
    prefix_discord = collections.Counter(p["outcome"] for p in truth["prefix_commands"] if p["outcome"])
    prefix_argus = collections.Counter()
    for point in metrics.get("discord_commands_total", []):
        prefix_argus[point["attributes"].get("status")] += point.get("value", 0)
    differences = [(key, discord.get(key, 0), argus.get(key, 0))
                   for key in sorted(set(discord) | set(argus)) if discord.get(key, 0) != argus.get(key, 0)]
    if not differences:
        print(f"  {GREEN}Argus counted every slash command and outcome exactly as Discord saw them.{RESET}")
    for (command, status), expected, got in differences:
        print(f"  {RED}/{command} {status}: Discord {expected}, Argus {got}{RESET}")
    print(f"  Discord: {sum(prefix_discord.values())} prefix commands: "
          + ", ".join(f"{prefix_discord[s]} {s}" for s in STATUSES))
    if +prefix_discord == +prefix_argus:
        print(f"  {GREEN}Argus counted the prefix commands' outcomes exactly as well.{RESET}")
    else:
        print(f"  {RED}Argus counted prefix commands as "
              + ", ".join(f"{prefix_argus[s]} {s}" for s in STATUSES) + f"{RESET}")


# The outcome rules of README.md ("Command outcomes"), in their words: a
# callback written after 3 s leaves the outcome timeout, whatever Discord then
# answers, so "error" never means "too late".
LEGEND = """\
  success: answered within 3 s and Discord accepted the answer.
  error:   answered within 3 s, but Discord rejected the answer (an HTTP error; e.g.
           10062 Unknown interaction, for an interaction that had already expired).
  timeout: no answer within 3 s (the user saw "The application did not respond");
           an answer written later stays a timeout, whatever Discord says to it.
  A prefix command that was never answered is counted as _unknown: its name is user
  text and becomes a label only once the bot has answered it."""


def load_truth(run_dir):
    path = os.path.join(run_dir, "truth.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def shard_history(run_dir):
    """{(metric, label text): [value of each export, in order]} for the gauges
    whose last value (taken after SIGTERM) says nothing about the run."""
    history = collections.defaultdict(list)
    for path in sorted(glob.glob(os.path.join(run_dir, "otlp", "metrics-*.json"))):
        with open(path) as f:
            request = json.load(f)
        for rm in request.get("resource_metrics", []):
            for scope in rm.get("scopes", []):
                for m in scope.get("metrics", []):
                    if m["name"] not in ("discord_shard_up", "discord_shards_connected"):
                        continue
                    for p in m.get("points", []):
                        key = (m["name"], labels(p.get("attributes", {})))
                        history[key].append(p.get("as_int", p.get("as_double", 0)))
    return history


def value_of(metrics, name, **match):
    return sum(p.get("value", p.get("count", 0)) for p in metrics.get(name, [])
               if all(p["attributes"].get(k) == v for k, v in match.items()))


def names_of(records):
    counts = collections.Counter(r["name"] for r in records)
    return ", ".join(f"{n} x{c}" if c > 1 else n for n, c in sorted(counts.items()))


def explain(metrics, spans, truth, history):
    """One line for each count that differs from a neighbouring count, saying
    why; and the shard gauges shown as what they were during the run. Returns
    ({family or "span NAME": [lines]}, {family: {label text: value text}})."""
    notes = collections.defaultdict(list)
    shown = collections.defaultdict(dict)
    for (name, text), values in history.items():
        if values and max(values) > 0 and values[-1] == 0:
            peak = max(values)
            shown[name][text] = (f"up during the run ({peak}), closed at exit (0 in the final "
                                 "export, sent after SIGTERM)")
    interactions = truth["interactions"] if truth else []
    slash = [r for r in interactions if r["kind"] == "command"]
    silent = [r for r in interactions if r["callback_at"] is None and not r["late_callbacks"]]
    late = [r for r in slash if r["callback_at"] is None and r["late_callbacks"]]
    received = value_of(metrics, "discord_interactions_total", type="application_command")
    timed = value_of(metrics, "discord_interaction_response_seconds", type="application_command")
    if received and timed != received:
        silent_slash = [r for r in silent if r["kind"] == "command"]
        line = (f"{timed} response times for {received} slash commands: "
                f"{len(silent_slash)} never answered at all ({names_of(silent_slash)})")
        if late:
            line += f"; {names_of(late)} answered after 3 s (counted here, outcome timeout)"
        notes["discord_interaction_response_seconds"].append(line)
    callback = "/interactions/{id}/{token}/callback"
    callbacks = value_of(metrics, "discord_http_requests_total", route=callback)
    arrived = value_of(metrics, "discord_interactions_total")
    if callbacks and arrived and callbacks != arrived:
        notes["discord_http_requests_total"].append(
            f"{callbacks} callbacks for {arrived} interactions: {len(silent)} never "
            f"answered ({names_of(silent)})")
    rejected = [r for r in interactions if (r["callback_status"] or 0) >= 400]
    rejected += [dict(r, outcome="timeout") for r in interactions
                 if any(c["status"] >= 400 for c in r["late_callbacks"])]
    if rejected:
        notes["discord_http_requests_total"].append(
            f"{len(rejected)} callback(s) rejected by Discord: "
            + "; ".join(f"{r['name']} (outcome {r['outcome']}"
                        + (", answered after 3 s)" if r["outcome"] == "timeout" else ")")
                        for r in rejected))
    autocomplete = value_of(metrics, "discord_interactions_total", type="autocomplete")
    callback_spans = spans.get("POST " + callback, 0)
    if callback_spans and callback_spans != callbacks:
        notes["span POST " + callback].append(
            f"{callback_spans} spans for {callbacks} callback requests: autocomplete "
            f"({autocomplete} here) gets no span, since it fires on every keystroke")
    if spans.get("discord.interaction") is not None and autocomplete:
        notes["span discord.interaction"].append(
            "buttons and modals only: autocomplete has metrics but no span")
    slash_names = {p["attributes"].get("command") for p in metrics.get("discord_app_commands_total", [])}
    failed_slash = sum(p.get("value", 0) for p in metrics.get("discord_app_commands_total", [])
                       if p["attributes"].get("status") != "success")
    failed_prefix = sum(p.get("value", 0) for p in metrics.get("discord_commands_total", [])
                        if p["attributes"].get("status") != "success")
    if failed_slash and failed_prefix:
        notes["discord_command_errors_total"].append(
            f"slash and prefix commands together: the {failed_slash} slash and "
            f"{failed_prefix} prefix commands that did not succeed")
    registered = value_of(metrics, "discord_app_commands_registered")
    if registered and slash_names and registered != len(slash_names):
        notes["discord_app_commands_registered"].append(
            f"{registered} commands registered, {len(slash_names)} of them run as slash "
            "commands here (the others were only autocompleted, or not used)")
    closes = [p for p in metrics.get("discord_shard_disconnects_total", [])
              if p["attributes"].get("code") == "1000"]
    if closes and any(shown.values()):
        notes["discord_shard_disconnects_total"].append(
            "code 1000 is the bot's own close at exit; the other codes happened during the run")
    return notes, shown


def main():
    run_dir = sys.argv[1]
    metrics, spans = load_metrics(run_dir)
    if not metrics:
        print("Argus exported nothing that the receiver could decode; see "
              f"{run_dir}/bot.log and {run_dir}/receiver.log.")
        return 1
    up = metrics.get("argus_up", [{}])[0].get("value")
    info = metrics.get("discord_bot_info", [{}])[0].get("attributes", {})
    print(f"{BOLD}What Argus exported from inside the bot{RESET} "
          f"(argus_up={up}{', ' + info.get('library', '') + ' ' + info.get('library_version', '') if info else ''})")
    print(f"{DIM}{LEGEND}{RESET}")
    truth = load_truth(run_dir)
    notes, shown = explain(metrics, spans, truth, shard_history(run_dir))
    print_groups(metrics, notes, shown)
    print_warnings(metrics)
    if spans:
        print(f"\n{BOLD}Traces{RESET}")
        for name, count in sorted(spans.items()):
            print(f"  {name}: {count} spans")
            print_notes(notes, "span " + name)
    compare_with_truth(run_dir, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
