#!/usr/bin/python3
"""A real Prometheus scrapes the discord.py test bot under the preload while it
plays the simulator's main scenario (issue 8, criterion 1).

tests/e2e/run_scenario.py runs the bot in a private network namespace; the
bot also serves /metrics there (--bot-env OTEL_METRICS_EXPORTER=otlp,prometheus).
This test finds the bot by a unique ARGUS_CLUSTER_ID, starts Debian's
prometheus inside the same network namespace (nsenter --net) with a
generated config scraping 127.0.0.1:9464 every second, lets the scenario
finish, then asks Prometheus' HTTP API (from inside the namespace, which the
Prometheus process keeps alive) for the series, and compares them with the
simulator's ground truth (truth.json).

A metric the core does not export yet (neither in the OTLP exports nor on
/metrics) is reported as a skip naming it, so this test tightens by itself as
the lifecycle metrics land; one exported by OTLP but missing from Prometheus
is a failure.

The same run proves Argus' dashboards and rules (issue 15): Prometheus loads
rules/argus.rules.yml (every `for:` shortened to a few seconds, since the
run lasts a minute; promtool's unit tests check the real durations), and the
scenario is main.json with an outage at its end, the simulator refusing the
gateway for OUTAGE_S seconds: a shard kept down. Every panel query of
dashboards/*.json, with its variables substituted, must return data, except
the panels of SCENARIO_LACKS (whose event this scenario does not have), which
the test prints by name; every rule must evaluate without error; and the
shard-down and fast burn-rate alerts must fire (main.json's boom, late and
stale commands are 3 failures in 11: far past 14.4 % of a 99 % SLO).

Needs ARGUS_BUILD (the build directory) and root (unshare, nsenter).
"""

import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ci_rule import missing  # noqa: E402
from prom_helpers import BUILD, PYTHON, ROOT, prometheus_name, stop, wait_for
from test_lifecycles import expected_prefix

RUN_SCENARIO = os.path.join(ROOT, "tests", "e2e", "run_scenario.py")
SCRAPE_PORT = 9464
PROMETHEUS_PORT = 9090
SCENARIO = os.path.join(ROOT, "scripts", "sim", "scenarios", "main.json")
RULES = os.path.join(ROOT, "rules", "argus.rules.yml")
DASHBOARDS = os.path.join(ROOT, "dashboards")
OUTAGE_S = 8
# Dashboard panels whose data this scenario cannot give, by board and title,
# with the reason. Only these may come back empty (a panel listed here that
# has data is printed, so it can leave the list).
GATEWAY_BOT = ("the discord.py Client asks GET /gateway, never GET /gateway/bot, so no "
               "session_start_limit (the discord.js lifecycle runs check it)")
SCENARIO_LACKS = {
    ("gateway.json", "Shards Discord recommends"): GATEWAY_BOT,
    ("gateway.json", "Session starts remaining"): GATEWAY_BOT,
    ("gateway.json", "Session starts remaining of the daily total"): GATEWAY_BOT,
}


def pid_with_env(entry):
    """The pid of the process whose environment holds entry (KEY=VALUE), or None."""
    needle = entry.encode() + b"\0"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read() + b"\0":
                    return int(pid)
        except OSError:
            continue
    return None


class ScenarioScrapedByPrometheus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or not shutil.which("nsenter") or not shutil.which("prometheus"):
            missing("needs root, nsenter and prometheus")
        cls.tmp = tempfile.mkdtemp(prefix="argus-prom-scenario-")
        cls.out = os.path.join(cls.tmp, "run")
        cls.cluster = f"prom-e2e-{os.getpid()}"
        cls.prometheus = None
        with open(SCENARIO) as f:
            scenario = json.load(f)
        last = max(step["at"] for step in scenario["steps"])
        scenario["name"] = "main+outage"
        scenario["steps"].append({"at": last + 2.0, "do": "outage", "shard": 0,
                                  "duration_s": OUTAGE_S})
        scenario_path = os.path.join(cls.tmp, "main-outage.json")
        with open(scenario_path, "w") as f:
            json.dump(scenario, f)
        with open(RULES) as f:
            rules = re.sub(r"(\n\s+for: )\S+", r"\g<1>3s", f.read())
        rules_path = os.path.join(cls.tmp, "argus.rules.yml")
        with open(rules_path, "w") as f:
            f.write(rules)
        runner = subprocess.Popen(
            [PYTHON, RUN_SCENARIO, "--bot", "dpy", "--scenario", scenario_path, "--build", BUILD,
             "--out", cls.out, "--bot-env", "OTEL_METRICS_EXPORTER=otlp,prometheus",
             "--bot-env", "OTEL_EXPORTER_PROMETHEUS_HOST=127.0.0.1",
             "--bot-env", f"OTEL_EXPORTER_PROMETHEUS_PORT={SCRAPE_PORT}",
             "--bot-env", f"ARGUS_CLUSTER_ID={cls.cluster}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            bot = wait_for("the bot under the preload",
                           lambda: pid_with_env(f"ARGUS_CLUSTER_ID={cls.cluster}"), timeout=120)
            config = os.path.join(cls.tmp, "prometheus.yml")
            with open(config, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
                        "  evaluation_interval: 1s\n"
                        f"rule_files:\n  - {rules_path}\n"
                        "scrape_configs:\n  - job_name: e2e-dpy\n"
                        f"    static_configs:\n      - targets: ['127.0.0.1:{SCRAPE_PORT}']\n")
            cls.prometheus = subprocess.Popen(
                ["nsenter", f"--target={bot}", "--net", "prometheus", f"--config.file={config}",
                 f"--storage.tsdb.path={os.path.join(cls.tmp, 'data')}",
                 f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}", "--log.level=warn"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cls.runner_output, _ = runner.communicate(timeout=400)
        except BaseException:
            stop(runner)
            stop(cls.prometheus)
            raise
        with open(os.path.join(cls.out, "truth.json")) as f:
            cls.truth = json.load(f)
        exports = sorted(glob.glob(os.path.join(cls.out, "otlp", "metrics-*.json")))
        cls.otlp_metrics = {}  # OTLP name -> the Prometheus name the translation gives
        for path in exports:
            with open(path) as f:
                for rm in json.load(f)["resource_metrics"]:
                    for scope in rm["scopes"]:
                        for m in scope["metrics"]:
                            kind = m["kind"]
                            if kind == "sum":
                                kind = "counter" if m["is_monotonic"] else "updown"
                            cls.otlp_metrics[m["name"]] = prometheus_name(m["name"], m["unit"],
                                                                          kind)
        cls.otlp_names = set(cls.otlp_metrics)

    @classmethod
    def tearDownClass(cls):
        stop(cls.prometheus)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def query(self, promql, at=None):
        """Runs an instant query (now, or at a Unix time) inside the namespace
        Prometheus lives in."""
        return self.api("query?query=" + urllib.parse.quote(promql)
                        + (f"&time={at}" if at is not None else ""))["result"]

    def api(self, path):
        url = f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/{path}"
        code = ("import sys, urllib.request;"
                f"sys.stdout.write(urllib.request.urlopen({url!r}, timeout=10).read().decode())")
        out = subprocess.run(["nsenter", f"--target={self.prometheus.pid}", "--net", PYTHON,
                              "-c", code], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        reply = json.loads(out.stdout)
        self.assertEqual(reply["status"], "success", reply)
        return reply["data"]

    def last(self, metric, by):
        """{(label values...): value} of the last scraped value of each series."""
        result = self.query(f"max by ({','.join(by)}) "
                            f"(last_over_time({metric}{{cluster=\"{self.cluster}\"}}[30m]))")
        return {tuple(r["metric"].get(k, "") for k in by): float(r["value"][1]) for r in result}

    def counted(self, metric, by):
        """last() without the series that exist at 0 (issue 13: every outcome of
        a command once it is seen), which the truth does not list."""
        return {k: v for k, v in self.last(metric, by).items() if v}

    def exported(self, name):
        """Fails when neither exporter carries this metric: a missing feature
        must not pass as a skip."""
        if name not in self.otlp_names:
            found = self.query(f"count(last_over_time({{__name__=\"{name}\"}}[30m]))")
            if not found:
                self.fail(f"{name} is exported by neither OTLP nor /metrics")

    def test_the_scenario_ran(self):
        self.assertIn("ok", self.runner_output)
        self.assertEqual(self.truth["summary"]["open"], 0)

    def test_every_otlp_metric_reached_prometheus(self):
        self.assertIn("argus_up", self.otlp_names)
        missing = []
        for name, prom_name in sorted(self.otlp_metrics.items()):
            # A histogram is stored as _bucket/_sum/_count series.
            found = self.query(f"count(last_over_time({{__name__=~\"{prom_name}(_count)?\","
                               f"job=\"e2e-dpy\"}}[30m]))")
            if not found:
                missing.append(name)
        self.assertEqual(missing, [])

    def test_argus_up_with_job_and_instance_from_the_scrape(self):
        up = self.query("last_over_time(argus_up[30m])")
        self.assertEqual(len(up), 1, up)
        self.assertEqual(up[0]["value"][1], "1")
        self.assertEqual(up[0]["metric"]["job"], "e2e-dpy")
        self.assertEqual(up[0]["metric"]["instance"], f"127.0.0.1:{SCRAPE_PORT}")
        info = self.query("last_over_time(target_info[30m])")
        self.assertEqual(len(info), 1)
        self.assertEqual(info[0]["metric"]["service_name"], "e2e-dpy")

    def test_connections_match_the_truth(self):
        self.exported("argus_connections_total")
        got = self.last("argus_connections_total", ["kind"])
        self.assertEqual(got.get(("gateway",)), len(self.truth["gateway"]["connections"]))
        self.assertEqual(got.get(("rest",)), self.truth["rest"]["connections"])

    def test_application_commands_by_status_match_the_truth(self):
        self.exported("discord_app_commands_total")
        want = {}
        for key, statuses in self.truth["summary"]["interactions_by_command"].items():
            kind, _, name = key.partition(":")
            if kind == "command":
                for status, n in statuses.items():
                    want[(name, status)] = float(n)
        self.assertEqual(self.counted("discord_app_commands_total", ["command", "status"]), want)

    def test_prefix_commands_by_status_match_the_truth(self):
        self.exported("discord_commands_total")
        # Labels follow Argus' bounded inference (a name never answered is
        # _unknown), which test_lifecycles derives from the ground truth.
        want = {key: float(n) for key, n in expected_prefix(self.truth)["commands"].items()}
        self.assertEqual(self.counted("discord_commands_total", ["command", "status"]), want)

    def test_gateway_events_match_the_truth(self):
        self.exported("discord_gateway_events_total")
        got = self.last("discord_gateway_events_total", ["event"])
        for event, n in self.truth["dispatches"].items():
            self.assertEqual(got.get((event,)), float(n), event)

    def test_shard_latency_is_scraped(self):
        self.exported("discord_shard_latency_seconds")
        latency = self.query("last_over_time(discord_shard_latency_seconds[30m])")
        by_shard = {r["metric"].get("shard"): float(r["value"][1]) for r in latency}
        self.assertIn("0", by_shard)  # the bot identified as shard [0, 1]
        # The simulator acknowledges heartbeats at once: a loopback round trip.
        self.assertTrue(0 <= by_shard["0"] < 0.05, by_shard)


    # ---- issue 15: dashboards and rules ----------------------------------------

    def last_sample_time(self):
        """When Prometheus last scraped this bot: panels are evaluated there,
        since every series goes stale once the bot has exited."""
        result = self.query(f"max_over_time(timestamp(argus_up{{cluster=\"{self.cluster}\"}})[30m:1s])")
        self.assertTrue(result, "argus_up was never scraped")
        return float(result[0]["value"][1])

    def test_every_dashboard_panel_has_data(self):
        at = self.last_sample_time()
        substitutions = {"$__rate_interval": "5m", "$__range": "10m", "$__interval": "15s",
                         "$cluster": self.cluster}  # [a-z0-9-]: the regex is the name
        empty, lacking, now_present, checked = [], [], [], 0
        for path in sorted(glob.glob(os.path.join(DASHBOARDS, "*.json"))):
            board = os.path.basename(path)
            with open(path) as f:
                panels = [p for p in json.load(f)["panels"] if p["type"] != "row"]
            for panel in panels:
                key = (board, panel["title"])
                missing_targets = []
                for target in panel["targets"]:
                    expr = target["expr"]
                    for variable, value in substitutions.items():
                        expr = expr.replace(variable, value)
                    self.assertNotIn("$", expr, key)
                    try:
                        result = self.query(expr, at=at)  # a parse error fails here
                    except AssertionError as error:
                        self.fail(f"{board}: {panel['title']}: {expr}: {error}")
                    checked += 1
                    values = [float(r["value"][1]) for r in result]
                    if not any(not math.isnan(v) for v in values):
                        missing_targets.append(target["refId"])
                if not missing_targets:
                    if key in SCENARIO_LACKS:
                        now_present.append(key)
                elif key in SCENARIO_LACKS:
                    lacking.append(key)
                else:
                    empty.append(f"{board}: {panel['title']} (targets {missing_targets})")
        print(f"\n{checked} panel queries run at the last scrape; panels without data because "
              "the scenario lacks their event:", file=sys.stderr)
        for board, title in lacking:
            print(f"  {board}: {title}: {SCENARIO_LACKS[(board, title)]}", file=sys.stderr)
        for board, title in now_present:
            print(f"  {board}: {title}: has data now; it can leave SCENARIO_LACKS",
                  file=sys.stderr)
        self.assertGreater(checked, 50)
        self.assertEqual(empty, [])

    def test_every_rule_evaluates_without_error(self):
        groups = self.api("rules")["groups"]
        names = {g["name"] for g in groups}
        self.assertEqual(names, {"argus-recording", "argus-alerts"})
        rules = [r for g in groups for r in g["rules"]]
        self.assertGreaterEqual(len(rules), 19)
        bad = [(r["name"], r.get("health"), r.get("lastError")) for r in rules
               if r.get("health") != "ok" or r.get("lastError")]
        self.assertEqual(bad, [])
        # The recording rules gave this cluster an error ratio and a p95.
        at = self.last_sample_time()
        ratio = self.query(f"cluster:discord_app_commands:error_ratio_rate5m"
                           f"{{cluster=\"{self.cluster}\"}}", at=at)
        self.assertTrue(ratio and 0 < float(ratio[0]["value"][1]) <= 1, ratio)
        p95 = self.query(f"cluster:discord_app_command_duration_seconds:p95_rate5m"
                         f"{{cluster=\"{self.cluster}\"}}", at=at)
        self.assertTrue(p95 and float(p95[0]["value"][1]) > 0, p95)

    def fired(self, alertname):
        """Unix times at which the alert was firing for this cluster."""
        result = self.api("query_range?" + urllib.parse.urlencode({
            "query": f"ALERTS{{alertname=\"{alertname}\",alertstate=\"firing\","
                     f"cluster=\"{self.cluster}\"}}",
            "start": self.truth["started_at"] - 5, "end": self.truth["finished_at"] + 60,
            "step": "1s"}))["result"]
        return sorted(float(t) for series in result for t, _ in series["values"])

    def test_the_outage_fires_shard_down(self):
        outage = self.truth["gateway"]["outages"][0]
        self.assertGreater(outage["refused"], 0, outage)
        times = self.fired("DiscordShardDown")
        self.assertTrue(times, "DiscordShardDown never fired")
        # It fired during the outage (plus the scrape, rule and for: delays),
        # not only at exit when the bot closes its shard.
        during = [t for t in times if outage["from"] <= t <= outage["back_at"] + 5]
        self.assertTrue(during, (outage, times[:5]))

    def test_the_failed_commands_fire_the_fast_burn_rate_alert(self):
        times = self.fired("DiscordCommandErrorBudgetBurnFast")
        self.assertTrue(times, "DiscordCommandErrorBudgetBurnFast never fired")
        self.assertEqual(self.fired("ArgusDroppingData"), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
