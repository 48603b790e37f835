#!/usr/bin/python3
"""scripts/demo_summary.py tells the truth at a glance (issue 15, item 7), on a
small run folder written here in the shape tests/e2e/run_scenario.py leaves
(otlp/metrics-*.json as scripts/otlp_receiver.py decodes them, truth.json):

- the legend states the outcome rules (a late answer is a timeout, never an
  error);
- each count that differs from its neighbour gets one "why" line: response
  times against slash commands, callbacks against interactions (and the ones
  Discord rejected), callback spans against callback requests;
- the shard gauges, 0 in the export sent after SIGTERM, read "up during the
  run, closed at exit";
- no escape sequence reaches a pipe.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from prom_helpers import PYTHON, ROOT  # noqa: E402

SUMMARY = os.path.join(ROOT, "scripts", "demo_summary.py")
CALLBACK = "/interactions/{id}/{token}/callback"


def counter(name, points, unit="{x}"):
    return {"name": name, "kind": "sum", "is_monotonic": True, "unit": unit,
            "points": [{"attributes": dict(a, cluster="default"), "as_int": v} for a, v in points]}


def gauge(name, points, unit=""):
    return {"name": name, "kind": "gauge", "unit": unit,
            "points": [{"attributes": a, "as_int": v} for a, v in points]}


def histogram(name, points):
    return {"name": name, "kind": "histogram", "unit": "s",
            "points": [{"attributes": dict(a, cluster="default"), "count": n, "sum": n * 0.01,
                        "max": 0.01} for a, n in points]}


def export(shard_up):
    metrics = [
        gauge("argus_up", [({"cluster": "default"}, 1)]),
        gauge("discord_shard_up", [({"shard": "0"}, shard_up)]),
        gauge("discord_shards_connected", [({"cluster": "default"}, shard_up)], "{shard}"),
        counter("discord_interactions_total", [
            ({"type": "application_command", "status": "received"}, 3),
            ({"type": "autocomplete", "status": "received"}, 1)]),
        histogram("discord_interaction_response_seconds", [
            ({"type": "application_command"}, 2), ({"type": "autocomplete"}, 1)]),
        counter("discord_app_commands_total", [
            ({"command": "ping", "status": "success"}, 1),
            ({"command": "boom", "status": "timeout"}, 1),
            ({"command": "late", "status": "timeout"}, 1)]),
        counter("discord_http_requests_total", [
            ({"method": "POST", "route": CALLBACK, "status": "204"}, 2),
            ({"method": "POST", "route": CALLBACK, "status": "404"}, 1)]),
        counter("discord_shard_disconnects_total", [({"shard": "0", "code": "1000"}, 1)]),
        counter("discord_commands_total", [({"command": "_unknown", "status": "timeout"}, 1)]),
        counter("discord_command_errors_total", [
            ({"command": "boom", "error_type": "timeout"}, 1),
            ({"command": "late", "error_type": "timeout"}, 1),
            ({"command": "_unknown", "error_type": "timeout"}, 1)]),
        gauge("discord_app_commands_registered", [({"cluster": "default"}, 4)], "{command}"),
    ]
    return {"resource_metrics": [{"resource": {"service.name": "demo"},
                                  "scopes": [{"metrics": metrics}]}]}


def interaction(kind, name, outcome, callback_status=None, late=None):
    return {"kind": kind, "name": name, "outcome": outcome,
            "callback_at": 1.0 if callback_status else None,
            "callback_status": callback_status, "late_callbacks": late or []}


class DemoSummary(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="argus-demo-summary-")
        os.makedirs(os.path.join(cls.tmp, "otlp"))
        for i, up in enumerate((1, 1, 0), 1):  # the last export is the one after SIGTERM
            with open(os.path.join(cls.tmp, "otlp", f"metrics-{i:04d}.json"), "w") as f:
                json.dump(export(up), f)
        with open(os.path.join(cls.tmp, "otlp", "traces-0001.json"), "w") as f:
            json.dump({"resource_spans": [{"scopes": [{"spans": [
                {"name": "POST " + CALLBACK}, {"name": "POST " + CALLBACK},
                {"name": "discord.app_command"}]}]}]}, f)
        truth = {"interactions": [
            interaction("command", "ping", "success", 204),
            interaction("command", "boom", "timeout"),
            interaction("command", "late", "timeout",
                        late=[{"at": 5.0, "status": 404, "code": 10062}]),
            interaction("autocomplete", "color", "success", 204)],
            "prefix_commands": []}
        with open(os.path.join(cls.tmp, "truth.json"), "w") as f:
            json.dump(truth, f)
        r = subprocess.run([PYTHON, SUMMARY, cls.tmp], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        cls.out = r.stdout

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_no_escape_sequences_in_a_pipe(self):
        self.assertNotIn("\x1b", self.out)

    def test_the_legend_states_the_outcome_rules(self):
        legend = self.out.split("Slash commands", 1)[0]
        self.assertNotIn("too late", legend)
        self.assertIn("error:   answered within 3 s, but Discord rejected the answer", legend)
        self.assertIn("an answer written later stays a timeout", legend)

    def test_fewer_response_times_than_slash_commands_say_why(self):
        self.assertIn("why: 2 response times for 3 slash commands: 1 never answered at all "
                      "(boom); late answered after 3 s (counted here, outcome timeout)", self.out)

    def test_callbacks_against_interactions_say_why(self):
        self.assertIn("why: 3 callbacks for 4 interactions: 1 never answered (boom)", self.out)
        self.assertIn("why: 1 callback(s) rejected by Discord: late (outcome timeout, answered "
                      "after 3 s)", self.out)

    def test_callback_spans_against_requests_say_why(self):
        self.assertIn("why: 2 spans for 3 callback requests: autocomplete (1 here) gets no span",
                      self.out)

    def test_errors_of_both_kinds_of_command_say_so(self):
        self.assertIn("why: slash and prefix commands together: the 2 slash and 1 prefix "
                      "commands that did not succeed", self.out)
        self.assertIn("why: 4 commands registered, 3 of them run as slash commands", self.out)

    def test_the_shard_reads_up_during_the_run_closed_at_exit(self):
        self.assertIn("shard=0: up during the run (1), closed at exit", self.out)
        self.assertNotIn("shard=0: 0\n", self.out)
        self.assertIn("why: code 1000 is the bot's own close at exit", self.out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
