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

Needs ARGUS_BUILD (the build directory) and root (unshare, nsenter).
"""

import glob
import json
import os
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
        runner = subprocess.Popen(
            [PYTHON, RUN_SCENARIO, "--bot", "dpy", "--scenario", "main", "--build", BUILD,
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

    def query(self, promql):
        """Runs an instant query inside the namespace Prometheus lives in."""
        url = (f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/query?query="
               + urllib.parse.quote(promql))
        code = ("import sys, urllib.request;"
                f"sys.stdout.write(urllib.request.urlopen({url!r}, timeout=10).read().decode())")
        out = subprocess.run(["nsenter", f"--target={self.prometheus.pid}", "--net", PYTHON,
                              "-c", code], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        reply = json.loads(out.stdout)
        self.assertEqual(reply["status"], "success", reply)
        return reply["data"]["result"]

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


if __name__ == "__main__":
    unittest.main(verbosity=2)
