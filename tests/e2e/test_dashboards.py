#!/usr/bin/python3
"""The Grafana dashboards (dashboards/) and the Prometheus rules (rules/), on
their own (issue 15): no Grafana runs here (Debian has no package), so the
boards are checked for what Grafana needs and what a user relies on, and
their queries run against a real Prometheus in test_prom_scenario.py.

- dashboards/*.json is exactly what dashboards/generate.py writes;
- every board has the datasource and `cluster` variables, every panel a unit
  and thresholds, every query a `cluster` filter (directly, or through
  argus_up of the same process), and only metrics of the README's catalogue
  (or of CATALOGUE_IN_PROGRESS below);
- every trace link queries span attributes the README names;
- `promtool check rules` and `promtool test rules` pass, and every alert of
  the rules file has a unit test that expects it to fire.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ci_rule import missing  # noqa: E402
from prom_helpers import PYTHON, ROOT  # noqa: E402

DASHBOARDS = os.path.join(ROOT, "dashboards")
RULES = os.path.join(ROOT, "rules", "argus.rules.yml")
RULES_TEST = os.path.join(ROOT, "rules", "argus.rules.test.yml")
README = os.path.join(ROOT, "README.md")

# Metrics that the catalogue work of issue 15 adds beside this one; the boards
# and rules use them by these names. Once README.md lists one, it leaves this
# list (test_catalogue_in_progress_is_not_yet_in_the_readme says when).
CATALOGUE_IN_PROGRESS = {
    "discord_ratelimit_headroom", "discord_invalid_requests",
    "discord_gateway_session_starts_remaining", "discord_gateway_session_starts_total",
    "discord_gateway_shards_recommended", "discord_event_loop_lag_seconds",
    "discord_cached_users", "discord_emojis", "discord_stickers", "discord_private_channels",
    "discord_voice_clients", "discord_shard_ws_ratelimited",
}
PROMQL_WORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "max", "min", "on",
                "group_left", "le", "cluster", "job", "instance", "and", "or", "bool", "without",
                "topk", "count", "avg", "ignoring", "offset", "last_over_time"}


def readme():
    with open(README) as f:
        return f.read()


def catalogue():
    """Metric names of README.md's table, as Prometheus stores them."""
    names = set()
    for line in readme().splitlines():
        m = re.match(r"\| `((?:discord|argus)_[a-z_]+)` \| (\w+)", line)
        if m:
            names.add(m.group(1))
    return names


def span_attributes():
    text = readme().split("### Traces", 1)[1].split("###", 1)[0]
    return set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)+|cluster)`", text))


def boards():
    out = {}
    for path in sorted(glob.glob(os.path.join(DASHBOARDS, "*.json"))):
        with open(path) as f:
            out[os.path.basename(path)] = json.load(f)
    return out


def panels(board):
    return [p for p in board["panels"] if p["type"] != "row"]


def metrics_in(expr):
    """Metric names an expression selects (histogram series without their suffix)."""
    names = set()
    no_labels = re.sub(r"\{[^}]*\}", "", re.sub(r'"[^"]*"', '""', expr))
    no_ranges = re.sub(r"\[[^\]]*\]", "", no_labels)
    no_ranges = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "",
                       no_ranges)
    for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", no_ranges):
        if word in PROMQL_WORDS or not word.startswith(("discord_", "argus_")):
            continue
        names.add(re.sub(r"_(bucket|sum|count)$", "", word))
    return names


class Dashboards(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.boards = boards()

    def test_the_json_is_what_the_generator_writes(self):
        r = subprocess.run([PYTHON, os.path.join(DASHBOARDS, "generate.py"), "--check"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_the_boards_cover_the_whole_catalogue(self):
        self.assertEqual(set(self.boards), {"overview.json", "commands.json", "gateway.json",
                                            "rest.json", "argus-health.json"})
        used = set()
        for board in self.boards.values():
            for panel in panels(board):
                for target in panel["targets"]:
                    used |= metrics_in(target["expr"])
        # discord_bot_info and argus_up are used; every catalogue metric is shown.
        self.assertEqual(sorted(catalogue() - used), [])
        self.assertEqual(sorted(used - catalogue() - CATALOGUE_IN_PROGRESS), [])

    def test_catalogue_in_progress_is_not_yet_in_the_readme(self):
        landed = sorted(CATALOGUE_IN_PROGRESS & catalogue())
        # Not a failure: the list only documents what the scenario test may lack.
        if landed:
            print(f"in README now, can leave CATALOGUE_IN_PROGRESS: {landed}", file=sys.stderr)

    def test_every_board_has_the_cluster_and_datasource_variables(self):
        for name, board in self.boards.items():
            variables = {v["name"]: v for v in board["templating"]["list"]}
            self.assertEqual(variables["datasource"]["type"], "datasource", name)
            self.assertEqual(variables["datasource"]["query"], "prometheus", name)
            self.assertEqual(variables["traces"]["query"], "tempo", name)
            cluster = variables["cluster"]
            self.assertEqual(cluster["query"]["query"], "label_values(argus_up, cluster)", name)
            self.assertTrue(cluster["includeAll"] and cluster["multi"], name)
            self.assertIsInstance(board["schemaVersion"], int)
            self.assertTrue(board["uid"].startswith("argus-"))

    def test_every_panel_has_a_unit_thresholds_and_a_cluster_filter(self):
        ids = set()
        for name, board in self.boards.items():
            titles = [p["title"] for p in panels(board)]
            self.assertEqual(len(titles), len(set(titles)), f"{name}: duplicate panel titles")
            for panel in panels(board):
                where = f"{name}: {panel['title']}"
                ids.add((name, panel["id"]))
                defaults = panel["fieldConfig"]["defaults"]
                self.assertTrue(defaults.get("unit"), where)
                self.assertTrue(defaults["thresholds"]["steps"], where)
                self.assertIsNone(defaults["thresholds"]["steps"][0]["value"], where)
                self.assertEqual(panel["datasource"]["uid"], "${datasource}", where)
                self.assertTrue(panel["targets"], where)
                for target in panel["targets"]:
                    self.assertIn('cluster=~"$cluster"', target["expr"], where)
                    self.assertTrue(target["refId"], where)
                grid = panel["gridPos"]
                self.assertLessEqual(grid["x"] + grid["w"], 24, where)

    def test_trace_links_query_span_attributes_of_the_readme(self):
        known = span_attributes()
        self.assertIn("discord.command", known)
        links = 0
        for name, board in self.boards.items():
            for panel in panels(board):
                for link in panel["fieldConfig"]["defaults"].get("links", []):
                    links += 1
                    self.assertIn("${traces}", link["url"])
                    for attribute in re.findall(r"span\.([a-z_.]+?)\s*(?:=|!=|>|<)", link["url"]):
                        self.assertIn(attribute, known, f"{name}: {panel['title']}")
        self.assertGreater(links, 5)


class Rules(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("promtool"):
            missing("promtool (Debian package prometheus)")

    def test_promtool_checks_the_rules(self):
        r = subprocess.run(["promtool", "check", "rules", RULES], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)

    def test_promtool_unit_tests_pass(self):
        r = subprocess.run(["promtool", "test", "rules", RULES_TEST], capture_output=True,
                           text=True, cwd=os.path.dirname(RULES_TEST))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)

    def test_every_alert_has_a_test_that_expects_it_to_fire(self):
        with open(RULES) as f:
            alerts = set(re.findall(r"^\s*- alert: (\w+)", f.read(), re.M))
        with open(RULES_TEST) as f:
            tests = f.read()
        fired = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:", tests))
        self.assertGreaterEqual(len(alerts), 9)
        self.assertEqual(sorted(alerts - fired), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
