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


def print_family(name, points):
    print(f"  {name}")
    for point in points:
        text = labels(point["attributes"])
        print(f"    {text + ': ' if text else ''}{point_text(point)}")


def print_groups(metrics):
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
        if "discord_commands_total" in names:
            command_table(by_command(metrics["discord_commands_total"]),
                          durations_by_command(metrics.get("discord_command_duration_seconds", [])),
                          "prefix commands by outcome (discord_commands_total)")
        for name in names:
            if name not in special:
                print_family(name, metrics[name])


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
    path = os.path.join(run_dir, "truth.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        truth = json.load(f)
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
    print(f"{DIM}  success: answered in time and Discord accepted the answer; error: Discord "
          "rejected it\n  (e.g. 10062, too late); timeout: no answer within 3 s, so the user saw "
          "\"The application\n  did not respond\". A prefix command that was never answered is "
          "counted as _unknown:\n  its name is user text and becomes a label only once the bot "
          f"has answered it.{RESET}")
    print_groups(metrics)
    print_warnings(metrics)
    if spans:
        print(f"\n{BOLD}Traces{RESET}")
        for name, count in sorted(spans.items()):
            print(f"  {name}: {count} spans")
    compare_with_truth(run_dir, metrics)
    print(f"\n{DIM}Everything (decoded OTLP, ground truth, logs) is in {run_dir}{RESET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
