#!/usr/bin/python3
"""End-to-end tests of the Prometheus endpoint (issue 8).

- promtool accepts the exposition of a registry holding every kind;
- the negotiated formats (OpenMetrics, gzip) are served;
- the names a scrape yields are the names the OTel-to-Prometheus translation
  derives from the same process's OTLP export;
- a real Prometheus scrapes a process under the preload, and its HTTP API
  returns the series;
- a second process on a taken port says so in one line and still pushes OTLP.

Needs ARGUS_BUILD (the build directory); run through `meson test --suite prom`.
"""

import glob
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

from prom_helpers import (BUILD, free_port, http_get, label_name, parse_text, preload_env,
                          prometheus_name, start_receiver, stop, wait_for)

PROM_SERVE = os.path.join(BUILD, "tests", "e2e", "prom_serve")
PROM_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
               "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


class EveryKind(unittest.TestCase):
    """prom_serve: counter, histogram, gauge, observable counter, info."""

    def setUp(self):
        self.proc = subprocess.Popen([PROM_SERVE, "0"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.assertTrue(line.startswith("listening "), line)
        self.url = f"http://127.0.0.1:{int(line.split()[1])}/metrics"

    def tearDown(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)

    def test_promtool_accepts_the_text_exposition(self):
        status, headers, body = http_get(self.url)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        check = subprocess.run(["promtool", "check", "metrics"], input=body, text=True,
                               capture_output=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(check.stdout + check.stderr, "", "promtool has lint findings")
        parsed = parse_text(body)
        self.assertEqual(parsed["types"], {
            "target_info": "gauge",
            "discord_commands_total": "counter",
            "discord_command_duration_seconds": "histogram",
            "discord_bot_info": "gauge",
            "discord_shard_latency_seconds": "gauge",
            "argus_capture_dropped_bytes_total": "counter",
        })
        for line in body.splitlines():
            if line.startswith("# TYPE "):
                fam = line.split()[2]
                self.assertIn(f"# HELP {fam} ", body)  # HELP for every family

    def test_values_and_histogram_are_cumulative(self):
        samples = parse_text(http_get(self.url)[2])["samples"]
        by = {(n, tuple(sorted((k, v) for k, v in l.items()
                               if not k.startswith("otel_scope")))): v for n, l, v in samples}
        self.assertEqual(by[("discord_commands_total",
                             (("cluster", "default"), ("command", "ping"), ("status", "success")))],
                         "3")
        buckets = [(l["le"], v) for n, l, v in samples
                   if n == "discord_command_duration_seconds_bucket"]
        self.assertEqual(buckets, [("0.05", "1"), ("0.1", "1"), ("0.25", "2"), ("0.5", "2"),
                                   ("1.0", "2"), ("2.5", "2"), ("5.0", "2"), ("10.0", "2"),
                                   ("+Inf", "3")])
        self.assertEqual(by[("discord_shard_latency_seconds", (("shard", "1"),))], "0.051")
        self.assertEqual(by[("target_info", (("service_instance_id", "instance-1"),
                                             ("service_name", "prom-serve")))], "1")
        for name, labels, _ in samples:
            if name != "target_info":
                self.assertEqual(labels.get("otel_scope_name"), "argus", name)
                self.assertEqual(labels.get("otel_scope_version"), "0.1.0", name)

    def test_openmetrics_and_gzip_when_asked(self):
        status, headers, body = http_get(self.url, {"Accept": PROM_ACCEPT,
                                                    "Accept-Encoding": "gzip"})
        self.assertEqual(headers["Content-Type"],
                         "application/openmetrics-text; version=1.0.0; charset=utf-8")
        self.assertEqual(headers.get("Content-Encoding"), "gzip")
        self.assertTrue(body.endswith("# EOF\n"))
        self.assertIn("# TYPE discord_commands counter\n", body)
        self.assertIn("# TYPE target info\n", body)
        self.assertIn("# UNIT discord_command_duration_seconds seconds\n", body)


class UnderPreload(unittest.TestCase):
    """A process under the preload, started eagerly."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="argus-prom-")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            stop(p)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def spawn(self, args, **env):
        p = subprocess.Popen(args, env=preload_env(**env), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def test_scraped_names_equal_the_translation_of_the_otlp_export(self):
        receiver, otlp_port = start_receiver(self.tmp)
        self.procs.append(receiver)
        port = free_port()
        self.spawn(["sleep", "30"], ARGUS_EAGER=1, OTEL_SERVICE_NAME="names",
                   OTEL_METRICS_EXPORTER="otlp,prometheus", OTEL_TRACES_EXPORTER="none",
                   OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{otlp_port}",
                   OTEL_METRIC_EXPORT_INTERVAL=300, OTEL_EXPORTER_PROMETHEUS_PORT=port,
                   OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1")
        export_file = wait_for("an OTLP export",
                               lambda: sorted(glob.glob(os.path.join(self.tmp, "metrics-*.json"))))
        with open(export_file[0]) as f:
            export = json.load(f)
        body = wait_for("/metrics", lambda: http_get(f"http://127.0.0.1:{port}/metrics")[2])
        scraped = parse_text(body)

        expected_types, expected_labels = {}, set()
        resource = export["resource_metrics"][0]["resource"]
        for scope in export["resource_metrics"][0]["scopes"]:
            for m in scope["metrics"]:
                kind = m["kind"]
                if kind == "sum":
                    kind = "counter" if m["is_monotonic"] else "updown"
                name = prometheus_name(m["name"], m["unit"], kind)
                expected_types[name] = {"counter": "counter", "updown": "gauge",
                                        "gauge": "gauge", "histogram": "histogram"}[kind]
                for p in m["points"]:
                    expected_labels |= {label_name(k) for k in p["attributes"]}
        self.assertTrue(expected_types, "the export held no metric")
        expected_types["target_info"] = "gauge"
        self.assertEqual(scraped["types"], expected_types)

        scraped_labels = {k for n, labels, _ in scraped["samples"] if n != "target_info"
                          for k in labels} - {"otel_scope_name", "otel_scope_version", "le"}
        self.assertEqual(scraped_labels, expected_labels)
        target = [labels for n, labels, _ in scraped["samples"] if n == "target_info"]
        self.assertEqual(len(target), 1)
        self.assertEqual(target[0], {label_name(k): str(v) for k, v in resource.items()})

    def test_a_real_prometheus_scrapes_the_bot(self):
        port, prom_port = free_port(), free_port()
        self.spawn(["sleep", "60"], ARGUS_EAGER=1, OTEL_SERVICE_NAME="mybot",
                   OTEL_METRICS_EXPORTER="prometheus", OTEL_TRACES_EXPORTER="none",
                   OTEL_EXPORTER_PROMETHEUS_PORT=port, OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1")
        config = os.path.join(self.tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
                    "scrape_configs:\n  - job_name: mybot\n"
                    f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
        prom = subprocess.Popen(
            ["prometheus", f"--config.file={config}",
             f"--storage.tsdb.path={os.path.join(self.tmp, 'data')}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(prom)
        api = f"http://127.0.0.1:{prom_port}/api/v1"

        def query(q):
            url = f"{api}/query?query={urllib.parse.quote(q)}"
            return json.loads(http_get(url)[2])["data"]["result"]

        up = wait_for("argus_up in Prometheus", lambda: query("argus_up"), timeout=60)
        self.assertEqual(len(up), 1)
        self.assertEqual(up[0]["value"][1], "1")
        labels = up[0]["metric"]
        self.assertEqual(labels["job"], "mybot")
        self.assertEqual(labels["instance"], f"127.0.0.1:{port}")
        self.assertEqual(labels["otel_scope_name"], "argus")
        target = query('target_info{service_name="mybot"}')
        self.assertEqual(len(target), 1)
        self.assertIn("service_instance_id", target[0]["metric"])
        targets = json.loads(http_get(f"{api}/targets")[2])["data"]["activeTargets"]
        self.assertEqual([t["health"] for t in targets], ["up"])
        self.assertEqual(targets[0]["lastError"], "")
        # Gauges are evaluated per scrape: uptime grows between two scrapes.
        first = float(query("discord_uptime_seconds")[0]["value"][1])
        wait_for("a later scrape",
                 lambda: float(query("discord_uptime_seconds")[0]["value"][1]) > first,
                 timeout=10)

    def test_taken_port_gets_one_line_and_otlp_carries_on(self):
        port = free_port()
        first = self.spawn(["sleep", "30"], ARGUS_EAGER=1, OTEL_METRICS_EXPORTER="prometheus",
                           OTEL_TRACES_EXPORTER="none", OTEL_EXPORTER_PROMETHEUS_PORT=port,
                           OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1")
        wait_for("the first process's /metrics",
                 lambda: http_get(f"http://127.0.0.1:{port}/metrics")[0] == 200)
        receiver, otlp_port = start_receiver(self.tmp)
        self.procs.append(receiver)
        second = subprocess.run(
            ["sleep", "2"], env=preload_env(
                ARGUS_EAGER=1, OTEL_METRICS_EXPORTER="otlp,prometheus",
                OTEL_TRACES_EXPORTER="none", OTEL_EXPORTER_PROMETHEUS_PORT=port,
                OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
                OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{otlp_port}",
                OTEL_METRIC_EXPORT_INTERVAL=300),
            capture_output=True, text=True, timeout=30)
        self.assertEqual(second.returncode, 0)
        lines = [l for l in second.stderr.splitlines() if l.startswith("argus:")]
        self.assertEqual(len(lines), 1, second.stderr)
        self.assertIn(f"OTEL_EXPORTER_PROMETHEUS_PORT={port} is already in use", lines[0])
        self.assertIn("only pushes OTLP", lines[0])
        self.assertTrue(glob.glob(os.path.join(self.tmp, "metrics-*.json")),
                        "the second process pushed nothing")
        self.assertIsNone(first.poll())
        self.assertEqual(http_get(f"http://127.0.0.1:{port}/metrics")[0], 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
