#!/usr/bin/python3
"""Writes Argus' Grafana dashboards (dashboards/*.json) from the tables below.

    dashboards/generate.py            rewrite the JSON files next to this script
    dashboards/generate.py --check    exit 1 if a JSON file differs from what it would write

The JSON files are what users import (Grafana: Dashboards > New > Import); this
script is where they are edited, so that every board shares one `cluster`
variable, one datasource variable and one way of joining a gauge without a
`cluster` label to its process. The `prom` test suite runs every panel's query
against a Prometheus that scraped a real bot (tests/e2e/test_prom_scenario.py)
and checks that the JSON is this script's output (tests/e2e/test_dashboards.py).

Metric names are those of README.md ("What Argus exports"), as Prometheus
stores them: from Argus' own /metrics, or from OTLP through a Collector or
Prometheus' OTLP receiver, which give the same names.

Most gauges carry `cluster` like the counters; the per-shard and per-route ones
(discord_shard_up, discord_shard_latency_seconds, ...), argus_subsystem_up and
discord_bot_info do not. Those are joined to argus_up of the same process
(job and instance: the scrape target, or service.name and service.instance.id
through OTLP), which does carry it: see by_cluster().
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OK, NOT_OK, NOT_2XX = 'status="success"', 'status!="success"', 'status!~"2.."'
RI = "$__rate_interval"

# Span attributes (README.md, "Traces") that trace links may query.
TRACE_ATTRIBUTES = ("discord.command", "discord.outcome", "discord.interaction_type",
                    "cluster", "error.type", "http.request.method", "url.template",
                    "http.response.status_code")


def sel(metric, extra=""):
    """metric{cluster=~"$cluster",extra}."""
    inner = 'cluster=~"$cluster"' + ("," + extra if extra else "")
    return f"{metric}{{{inner}}}"


def by_cluster(metric, extra=""):
    """A gauge without `cluster`, given the cluster of its process (argus_up)."""
    series = f"{metric}{{{extra}}}" if extra else metric
    return (f"({series} * on (job, instance) group_left (cluster) "
            f"(0 * argus_up{{cluster=~\"$cluster\"}} + 1))")


def ratio(numerator, denominator):
    return f"({numerator}) / ({denominator})"


def quantile(q, bucket, by, extra=""):
    return (f"histogram_quantile({q}, sum by (le{', ' + by if by else ''}) "
            f"(rate({sel(bucket, extra)}[{RI}])))")


def trace_link(title, traceql):
    """A data link to Grafana Explore on the `traces` datasource (Tempo),
    searching spans with TraceQL. ${__field.labels.X} is the clicked series'
    label; ${__from}/${__to} the board's time range."""
    pane = {"t": {"datasource": "${traces}",
                  "queries": [{"refId": "A", "queryType": "traceql", "query": traceql}],
                  "range": {"from": "${__from}", "to": "${__to}"}}}
    return {"title": title, "targetBlank": True,
            "url": "/explore?schemaVersion=1&panes=" + json.dumps(pane, separators=(",", ":"))}


class Board:
    def __init__(self, uid, title, description):
        self.uid, self.title, self.description = uid, title, description
        self.panels = []
        self.y = 0
        self.x = 0

    def row(self, title):
        self._newline()
        self.panels.append({"type": "row", "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def _newline(self):
        if self.x:
            self.y += 8
            self.x = 0

    def panel(self, kind, title, targets, unit="short", width=12, height=8,
              thresholds=None, description="", links=None, minimum=None, maximum=None,
              legend=None, stack=False):
        """targets: [(expr, legend)]; thresholds: [(value or None, color)] from the bottom."""
        if self.x + width > 24:
            self._newline()
        steps = [{"value": v, "color": c} for v, c in (thresholds or [(None, "green")])]
        defaults = {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps},
                    "color": {"mode": "thresholds" if kind == "stat" else "palette-classic"}}
        if minimum is not None:
            defaults["min"] = minimum
        if maximum is not None:
            defaults["max"] = maximum
        if links:
            defaults["links"] = links
        if kind == "timeseries":
            defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                  "showPoints": "never", "spanNulls": False,
                                  "stacking": {"mode": "normal" if stack else "none"},
                                  "thresholdsStyle": {"mode": "line" if thresholds else "off"}}
        panel = {
            "id": len(self.panels) + 1, "type": kind, "title": title,
            "description": description,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": height, "w": width, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": leg or "__auto",
                         "datasource": {"type": "prometheus", "uid": "${datasource}"},
                         **({"instant": True, "format": "table"} if kind == "table" else {})}
                        for i, (expr, leg) in enumerate(targets)],
        }
        if kind == "stat":
            panel["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "values": False},
                                "colorMode": "background", "graphMode": "area"}
        elif kind == "timeseries":
            panel["options"] = {"legend": {"displayMode": "table", "placement": "bottom",
                                           "calcs": legend or ["lastNotNull", "max"]},
                                "tooltip": {"mode": "multi", "sort": "desc"}}
        self.panels.append(panel)
        self.x += width
        if self.x >= 24:
            self._newline()

    def json(self):
        variables = [
            {"name": "datasource", "label": "Metrics", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0},
            {"name": "traces", "label": "Traces", "type": "datasource", "query": "tempo",
             "current": {}, "hide": 0},
            {"name": "cluster", "label": "cluster", "type": "query",
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "definition": "label_values(argus_up, cluster)",
             "query": {"query": "label_values(argus_up, cluster)", "refId": "cluster"},
             "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*",
             "current": {"text": "All", "value": "$__all"}, "sort": 1, "hide": 0},
        ]
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": ["argus", "discord"], "editable": True, "schemaVersion": 39,
            "graphTooltip": 1, "refresh": "30s", "timezone": "",
            "time": {"from": "now-6h", "to": "now"},
            "templating": {"list": variables},
            "links": [{"type": "dashboards", "tags": ["argus"], "asDropdown": True,
                       "title": "Argus", "includeVars": True, "keepTime": True}],
            "annotations": {"list": []},
            "panels": self.panels,
        }


# Discord's numbers the thresholds come from.
INTERACTION_DEADLINE_S = 3          # the initial response (README, "Command outcomes")
INVALID_REQUEST_LIMIT = 10000       # invalid requests per 10 minutes before a temporary ban
OUTCOMES_BY_STATUS = "sum by (status) (rate({m}[" + RI + "]))"


def overview():
    b = Board("argus-overview", "Argus / Overview",
              "Is the bot up, answering, and connected? One line per question; the other "
              "Argus boards go into each.")
    b.panel("stat", "Bot processes with Argus up", [(f"sum({sel('argus_up')})", "processes")],
            width=4, thresholds=[(None, "red"), (1, "green")],
            description="argus_up: 1 per bot process whose Argus runs.")
    b.panel("stat", "Shards connected", [(f"sum({sel('discord_shards_connected')})", "connected"),
                                         (f"sum({sel('discord_shards_configured')})", "configured")],
            width=4, description="discord_shards_connected against discord_shards_configured.")
    b.panel("stat", "Guilds", [(f"sum({sel('discord_guilds')})", "guilds")], width=4)
    b.panel("stat", "Slash command success", [(ratio(
        f"sum(increase({sel('discord_app_commands_total', OK)}[$__range]))",
        f"sum(increase({sel('discord_app_commands_total')}[$__range]))"), "success")],
        unit="percentunit", width=4, minimum=0, maximum=1,
        thresholds=[(None, "red"), (0.95, "orange"), (0.99, "green")],
        description="Answered in time and accepted by Discord, over the board's time range.")
    b.panel("stat", "Uptime", [(f"min({sel('discord_uptime_seconds')})", "uptime")],
            unit="s", width=4, description="The youngest bot process of the selection.")
    b.panel("stat", "Argus data lost", [(
        f"sum(increase({sel('argus_capture_dropped_bytes_total')}[$__range])) + "
        f"sum(increase({sel('argus_spans_dropped_total')}[$__range]))", "lost")],
        width=4, thresholds=[(None, "green"), (1, "red")],
        description="Captured bytes dropped (full ring) plus spans dropped (full queue).")
    b.panel("timeseries", "Slash commands by outcome", [
        (OUTCOMES_BY_STATUS.format(m=sel("discord_app_commands_total")), "{{status}}")],
        unit="reqps", stack=True)
    b.panel("timeseries", "Slash command latency", [
        (quantile(0.5, "discord_app_command_duration_seconds_bucket", ""), "p50"),
        (quantile(0.95, "discord_app_command_duration_seconds_bucket", ""), "p95")],
        unit="s", thresholds=[(None, "green"), (INTERACTION_DEADLINE_S, "red")])
    b.panel("timeseries", "Heartbeat latency by shard", [
        (f"max by (cluster, shard) {by_cluster('discord_shard_latency_seconds')}",
         "{{cluster}} shard {{shard}}")],
        unit="s", thresholds=[(None, "green"), (0.5, "orange"), (1, "red")])
    b.panel("timeseries", "Discord 429s by scope", [
        (f"sum by (scope) (rate({sel('discord_ratelimits_total')}[{RI}]))", "{{scope}}")],
        unit="reqps")
    b.panel("table", "Bots", [(
        "max by (cluster, bot_name, library, library_version, runtime, argus_version) "
        f"{by_cluster('discord_bot_info')}", "")], width=24, height=5,
        description="discord_bot_info of every process, with its cluster.")
    return b


def commands():
    b = Board("argus-commands", "Argus / Commands",
              "Slash and prefix commands: outcomes, Discord's verdicts, latency. success: "
              "answered within 3 s and accepted; error: Discord rejected the answer; timeout: "
              "no answer within 3 s (a command that raised looks the same on the wire).")
    failing = trace_link("Failed runs of ${__field.labels.command} (traces)",
                         '{ span.discord.command = "${__field.labels.command}" && '
                         'span.discord.outcome != "success" }')
    b.row("Slash commands")
    b.panel("timeseries", "Slash commands by command and outcome", [
        (f"sum by (command, status) (rate({sel('discord_app_commands_total')}[{RI}]))",
         "{{command}} {{status}}")], unit="reqps", links=[failing])
    b.panel("timeseries", "Slash command error ratio by command", [(ratio(
        f"sum by (command) (rate({sel('discord_app_commands_total', NOT_OK)}[{RI}]))",
        f"sum by (command) (rate({sel('discord_app_commands_total')}[{RI}]))"), "{{command}}")],
        unit="percentunit", minimum=0, maximum=1,
        thresholds=[(None, "green"), (0.01, "orange"), (0.05, "red")], links=[failing])
    b.panel("timeseries", "Discord's verdicts (error_type)", [
        (f"sum by (error_type) (rate({sel('discord_command_errors_total')}[{RI}]))",
         "{{error_type}}")], unit="reqps",
        description="Discord's code (10062 Unknown interaction, ...), http_<status>, or timeout.",
        links=[trace_link("Spans with error.type ${__field.labels.error_type}",
                          '{ span.error.type = "${__field.labels.error_type}" }')])
    b.panel("timeseries", "Slash command latency p95 by command", [
        (quantile(0.95, "discord_app_command_duration_seconds_bucket", "command"), "{{command}}")],
        unit="s", thresholds=[(None, "green"), (INTERACTION_DEADLINE_S, "red")],
        links=[trace_link("Slowest runs of ${__field.labels.command}",
                          '{ span.discord.command = "${__field.labels.command}" } | '
                          'duration > 1s')])
    b.panel("timeseries", "Slash command latency percentiles", [
        (quantile(q, "discord_app_command_duration_seconds_bucket", ""), f"p{int(q * 100)}")
        for q in (0.5, 0.9, 0.95, 0.99)], unit="s",
        thresholds=[(None, "green"), (INTERACTION_DEADLINE_S, "red")])
    b.panel("timeseries", "Initial response time p95 by interaction type", [
        (quantile(0.95, "discord_interaction_response_seconds_bucket", "type"), "{{type}}")],
        unit="s", thresholds=[(None, "green"), (2, "orange"), (INTERACTION_DEADLINE_S, "red")],
        description="INTERACTION_CREATE read to the callback written: Discord allows 3 s.")
    b.row("Interactions")
    b.panel("timeseries", "Interactions received by type", [
        (f"sum by (type) (rate({sel('discord_interactions_total')}[{RI}]))", "{{type}}")],
        unit="reqps")
    b.panel("timeseries", "Interaction outcomes by type", [
        (f"sum by (type, status) (rate({sel('discord_interaction_responses_total')}[{RI}]))",
         "{{type}} {{status}}")], unit="reqps",
        links=[trace_link("Interactions of type ${__field.labels.type}",
                          '{ span.discord.interaction_type = "${__field.labels.type}" && '
                          'span.discord.outcome = "${__field.labels.status}" }')])
    b.panel("stat", "Application commands registered", [
        (f"max({sel('discord_app_commands_registered')})", "registered")], width=6)
    b.panel("timeseries", "Event loop lag", [
        (f"max by (cluster) {by_cluster('discord_event_loop_lag_seconds')}", "{{cluster}}")],
        unit="s", width=18, thresholds=[(None, "green"), (0.1, "orange"), (1, "red")],
        description="How late the bot's event loop runs its callbacks.")
    b.row("Prefix commands")
    b.panel("timeseries", "Prefix commands by command and outcome", [
        (f"sum by (command, status) (rate({sel('discord_commands_total')}[{RI}]))",
         "{{command}} {{status}}")], unit="reqps", links=[failing])
    b.panel("timeseries", "Prefix command latency percentiles", [
        (quantile(q, "discord_command_duration_seconds_bucket", ""), f"p{int(q * 100)}")
        for q in (0.5, 0.95, 0.99)], unit="s")
    return b


def gateway():
    b = Board("argus-gateway", "Argus / Gateway and shards",
              "Shards up and down, heartbeat latency, reconnects, close codes, event rates, "
              "and the IDENTIFY budget.")
    b.panel("timeseries", "Shard up", [
        (f"max by (cluster, shard) {by_cluster('discord_shard_up')}", "{{cluster}} shard {{shard}}")],
        minimum=0, maximum=1, thresholds=[(None, "red"), (1, "green")],
        description="1 while the shard's session is ready or resumed.")
    b.panel("timeseries", "Shards connected and configured", [
        (f"sum by (cluster) ({sel('discord_shards_connected')})", "{{cluster}} connected"),
        (f"sum by (cluster) ({sel('discord_shards_configured')})", "{{cluster}} configured")])
    b.panel("stat", "Shards Discord recommends", [
        (f"max {by_cluster('discord_gateway_shards_recommended')}", "recommended")], width=6,
        description="GET /gateway/bot's shards: compare with the shards configured.")
    b.panel("timeseries", "Heartbeat latency by shard", [
        (f"max by (cluster, shard) {by_cluster('discord_shard_latency_seconds')}",
         "{{cluster}} shard {{shard}}")], unit="s", width=18,
        thresholds=[(None, "green"), (0.5, "orange"), (1, "red")])
    b.panel("timeseries", "Reconnects by shard", [
        (f"sum by (cluster, shard) (increase({sel('discord_shard_reconnects_total')}[{RI}]))",
         "{{cluster}} shard {{shard}}")])
    b.panel("timeseries", "Disconnects by close code", [
        (f"sum by (code) (increase({sel('discord_shard_disconnects_total')}[{RI}]))", "{{code}}")],
        description="Close code sent by either side; 1006 when the connection ended without one.")
    b.panel("timeseries", "Gateway events per second", [
        (f"sum by (event) (rate({sel('discord_gateway_events_total')}[{RI}]))", "{{event}}")],
        unit="ops", stack=True)
    b.panel("timeseries", "Shards rate limited on the gateway", [
        (f"max by (cluster, shard) {by_cluster('discord_shard_ws_ratelimited')}",
         "{{cluster}} shard {{shard}}")], thresholds=[(None, "green"), (1, "red")],
        description="1 while a shard waits on Discord's 120 commands per 60 s gateway limit.")
    b.row("IDENTIFY budget")
    b.panel("stat", "Session starts remaining", [
        (f"min {by_cluster('discord_gateway_session_starts_remaining')}", "remaining")],
        width=6, thresholds=[(None, "red"), (10, "orange"), (100, "green")],
        description="IDENTIFYs left today (GET /gateway/bot session_start_limit.remaining).")
    b.panel("timeseries", "Session starts remaining of the daily total", [(ratio(
        f"min by (cluster) {by_cluster('discord_gateway_session_starts_remaining')}",
        f"max by (cluster) {by_cluster('discord_gateway_session_starts_total')}"), "{{cluster}}")],
        unit="percentunit", width=18, minimum=0, maximum=1,
        thresholds=[(None, "red"), (0.1, "orange"), (0.25, "green")])
    b.row("Cache")
    b.panel("timeseries", "Guilds", [(f"sum by (cluster) ({sel('discord_guilds')})", "{{cluster}}")],
            width=8)
    for metric, title in (("discord_cached_users", "Cached users"), ("discord_emojis", "Emojis"),
                          ("discord_stickers", "Stickers"),
                          ("discord_private_channels", "Private channels"),
                          ("discord_voice_clients", "Voice clients")):
        b.panel("timeseries", title, [(f"sum by (cluster) {by_cluster(metric)}", "{{cluster}}")],
                width=8)
    return b


def rest():
    b = Board("argus-rest", "Argus / REST API",
              "Discord REST calls: routes, statuses, latency, 429s, rate-limit headroom and "
              "the invalid-request window.")
    route_link = trace_link("Calls to ${__field.labels.route} (traces)",
                            '{ span.url.template = "${__field.labels.route}" && '
                            'span.http.request.method = "${__field.labels.method}" }')
    b.panel("timeseries", "Requests by route", [
        (f"sum by (method, route) (rate({sel('discord_http_requests_total')}[{RI}]))",
         "{{method}} {{route}}")], unit="reqps", links=[route_link])
    b.panel("timeseries", "Responses by status", [
        (f"sum by (status) (rate({sel('discord_http_requests_total')}[{RI}]))", "{{status}}")],
        unit="reqps", stack=True,
        links=[trace_link("Calls answered ${__field.labels.status}",
                          "{ span.http.response.status_code = ${__field.labels.status} }")])
    b.panel("timeseries", "Error ratio by route (not 2xx)", [(ratio(
        f"sum by (method, route) (rate({sel('discord_http_requests_total', NOT_2XX)}[{RI}]))",
        f"sum by (method, route) (rate({sel('discord_http_requests_total')}[{RI}]))"),
        "{{method}} {{route}}")], unit="percentunit", minimum=0, maximum=1,
        thresholds=[(None, "green"), (0.01, "orange"), (0.05, "red")], links=[route_link])
    b.panel("timeseries", "Latency p95 by route", [
        (quantile(0.95, "discord_http_request_duration_seconds_bucket", "method, route"),
         "{{method}} {{route}}")], unit="s", thresholds=[(None, "green"), (1, "orange"),
                                                         (2.5, "red")], links=[route_link])
    b.panel("timeseries", "429s by scope", [
        (f"sum by (scope) (increase({sel('discord_ratelimits_total')}[{RI}]))", "{{scope}}")],
        description="user: a route's own bucket; shared: a resource's; global: the bot's.")
    b.panel("timeseries", "429s by route", [
        (f"sum by (route) (increase({sel('discord_ratelimits_total')}[{RI}]))", "{{route}}")])
    b.panel("timeseries", "Rate-limit headroom by route", [
        (f"min by (route) {by_cluster('discord_ratelimit_headroom')}", "{{route}}")],
        unit="percentunit", minimum=0, maximum=1,
        thresholds=[(None, "red"), (0.1, "orange"), (0.25, "green")],
        description="X-RateLimit-Remaining of X-RateLimit-Limit, the lowest per route.")
    b.panel("timeseries", "Invalid-request window", [
        (f"max by (cluster) ({sel('discord_invalid_requests')})", "{{cluster}}")],
        minimum=0, maximum=INVALID_REQUEST_LIMIT,
        thresholds=[(None, "green"), (INVALID_REQUEST_LIMIT // 2, "orange"),
                    (INVALID_REQUEST_LIMIT * 8 // 10, "red")],
        description="401, 403 and 429 answers in the last 10 minutes; Discord bans the IP "
                    "for a while at 10,000.")
    return b


def health():
    b = Board("argus-health", "Argus / Argus' own health",
              "Whether Argus sees everything: drops, evictions, decode errors, export failures.")
    b.panel("timeseries", "Argus up by process", [
        (f"max by (cluster, job, instance) ({sel('argus_up')})", "{{cluster}} {{instance}}")],
        minimum=0, maximum=1, thresholds=[(None, "red"), (1, "green")])
    b.panel("timeseries", "Export subsystems up", [
        (f"min by (cluster, subsystem) {by_cluster('argus_subsystem_up')}",
         "{{cluster}} {{subsystem}}")], minimum=0, maximum=1,
        thresholds=[(None, "red"), (1, "green")],
        description="0 while that export fails; 1 again after one succeeds.")
    b.panel("timeseries", "Export failures by reason", [
        (f"sum by (reason) (increase({sel('argus_export_failures_total')}[{RI}]))",
         "{{reason}}")], thresholds=[(None, "green"), (1, "red")],
        description="Absent until the first failure.")
    b.panel("timeseries", "Captured bytes by direction", [
        (f"sum by (direction) (rate({sel('argus_capture_bytes_total')}[{RI}]))", "{{direction}}")],
        unit="Bps")
    b.panel("timeseries", "Captured bytes dropped (ring full)", [
        (f"sum by (cluster) (rate({sel('argus_capture_dropped_bytes_total')}[{RI}]))",
         "{{cluster}}")], unit="Bps", thresholds=[(None, "green"), (1, "red")],
        description="Raise ARGUS_RING_BYTES if this is ever above 0.")
    b.panel("timeseries", "Connections by kind", [
        (f"sum by (kind) (increase({sel('argus_connections_total')}[{RI}]))", "{{kind}}")])
    b.panel("timeseries", "Evictions", [
        (f"sum by (cluster) (increase({sel('argus_connections_evicted_total')}[{RI}]))",
         "{{cluster}} connections"),
        (f"sum by (cluster) (increase({sel('argus_timers_evicted_total')}[{RI}]))",
         "{{cluster}} open commands"),
        (f"sum by (table) (increase({sel('argus_state_dropped_total')}[{RI}]))",
         "{{table}} (cache gauges now a lower bound)")], thresholds=[(None, "green"), (1, "red")],
        description="Tables full: ARGUS_MAX_CONNECTIONS, ARGUS_MAX_OPEN_LIFECYCLES; the bounded "
                    "caches behind the user, DM channel and route gauges.")
    b.panel("timeseries", "Decode errors by stage", [
        (f"sum by (stage) (increase({sel('argus_decode_errors_total')}[{RI}]))", "{{stage}}"),
        (f"sum by (stage) (increase({sel('argus_messages_cut_total')}[{RI}]))",
         "{{stage}} cut at ARGUS_MAX_MESSAGE_BYTES")],
        thresholds=[(None, "green"), (1, "orange")])
    b.panel("timeseries", "Spans dropped, lifecycles abandoned", [
        (f"sum by (cluster) (increase({sel('argus_spans_dropped_total')}[{RI}]))",
         "{{cluster}} spans dropped"),
        (f"sum by (cluster) (increase({sel('argus_lifecycles_abandoned_total')}[{RI}]))",
         "{{cluster}} lifecycles abandoned")])
    b.panel("timeseries", "Instrumentation errors by hook", [
        (f"sum by (hook) (increase({sel('argus_instrumentation_errors_total')}[{RI}]))",
         "{{hook}}")], thresholds=[(None, "green"), (1, "red")])
    return b


BOARDS = {"overview.json": overview, "commands.json": commands, "gateway.json": gateway,
          "rest.json": rest, "argus-health.json": health}


def render():
    return {name: json.dumps(make().json(), indent=2, sort_keys=False) + "\n"
            for name, make in BOARDS.items()}


def main(argv):
    check = "--check" in argv[1:]
    stale = []
    for name, text in render().items():
        path = os.path.join(HERE, name)
        try:
            with open(path) as f:
                current = f.read()
        except OSError:
            current = None
        if current == text:
            continue
        if check:
            stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("generate.py: out of date (run dashboards/generate.py): " + " ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
