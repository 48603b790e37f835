#!/usr/bin/python3
"""The hosting recipes of docs/hosting.md (issue 15), as far as this machine
can check them: no Docker engine, Kubernetes, panel or Collector runs here.

- systemd: `systemd-analyze verify` accepts the unit without a warning;
- Kubernetes, Collector, Grafana provisioning: the YAML parses into what the
  doc says (a Deployment with the bot's env and a Collector sidecar; pipelines
  with memory_limiter first, then batch; Prometheus remote write; a trace
  store);
- every install path a recipe or the hosting doc names is one the package
  installs (the list is meson's install plan, which scripts/package packs;
  tests/e2e/test_package.py checks the .deb's own file list).
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ci_rule import missing  # noqa: E402
from prom_helpers import BUILD, ROOT  # noqa: E402

RECIPES = os.path.join(ROOT, "docs", "recipes")
HOSTING = os.path.join(ROOT, "docs", "hosting.md")
MULTIARCH = "x86_64-linux-gnu"


def read(path):
    with open(path) as f:
        return f.read()


def load_yaml(path):
    try:
        import yaml
    except ImportError:
        missing("python3-yaml")
    with open(path) as f:
        return list(yaml.safe_load_all(f))


def packaged_paths():
    """Paths the package installs: meson's install plan for prefix /usr and
    libdir lib/<multiarch> (what scripts/package configures)."""
    r = subprocess.run(["meson", "introspect", "--installed", BUILD], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    prefix = subprocess.run(["meson", "introspect", "--buildoptions", BUILD],
                            capture_output=True, text=True)
    options = {o["name"]: o["value"] for o in json.loads(prefix.stdout)}
    out = set()
    for path in json.loads(r.stdout).values():
        rel = os.path.relpath(path, options["prefix"])
        rel = rel.replace(options["libdir"], f"lib/{MULTIARCH}", 1) \
            if rel.startswith(options["libdir"]) else rel
        out.add("/usr/" + rel)
    return out


class Recipes(unittest.TestCase):
    def test_the_systemd_unit_verifies_without_a_warning(self):
        if not shutil.which("systemd-analyze"):
            missing("systemd-analyze (systemd)")
        tmp = tempfile.mkdtemp(prefix="argus-unit-")
        try:
            unit = os.path.join(tmp, "mybot.service")
            shutil.copy(os.path.join(RECIPES, "argus-bot.service"), unit)
            r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.strip(), "")
            # And it does catch a misspelt key, so the check above means something.
            with open(unit) as f:
                text = f.read()
            with open(unit, "w") as f:
                f.write(text.replace("Environment=OTEL_SERVICE_NAME", "Enviroment=OTEL_SERVICE_NAME"))
            bad = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True,
                                 text=True)
            self.assertIn("Unknown key", bad.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        env = re.findall(r"^Environment=(\w+)=(\S+)", text, re.M)
        self.assertIn(("LD_PRELOAD", f"/usr/lib/{MULTIARCH}/libargus_preload.so"), env)

    def test_kubernetes_has_the_bot_env_and_a_collector_sidecar(self):
        docs = load_yaml(os.path.join(RECIPES, "kubernetes.yaml"))
        kinds = {d["kind"]: d for d in docs}
        self.assertEqual(set(kinds), {"ConfigMap", "Deployment"})
        containers = {c["name"]: c for c in
                      kinds["Deployment"]["spec"]["template"]["spec"]["containers"]}
        env = {e["name"]: e.get("value") for e in containers["bot"]["env"]}
        self.assertEqual(env["LD_PRELOAD"], f"/usr/lib/{MULTIARCH}/libargus_preload.so")
        self.assertEqual(env["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://127.0.0.1:4318")
        self.assertIn("opentelemetry-collector", containers["otel-collector"]["image"])
        import yaml
        collector = yaml.safe_load(kinds["ConfigMap"]["data"]["collector.yaml"])
        self.assertIn("127.0.0.1:4318", collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"])
        for pipeline in collector["service"]["pipelines"].values():
            self.assertEqual(pipeline["processors"][0], "memory_limiter")

    def test_the_collector_pipeline(self):
        (config,) = load_yaml(os.path.join(RECIPES, "otel-collector.yaml"))
        pipelines = config["service"]["pipelines"]
        for name in ("metrics", "traces"):
            self.assertEqual(pipelines[name]["processors"], ["memory_limiter", "batch"])
            self.assertEqual(pipelines[name]["receivers"], ["otlp"])
            for part in ("receivers", "processors", "exporters"):
                for component in pipelines[name][part]:
                    self.assertIn(component, config[part], f"{name} {part}")
        self.assertEqual(pipelines["metrics"]["exporters"], ["prometheusremotewrite"])
        self.assertEqual(pipelines["traces"]["exporters"], ["clickhouse"])
        self.assertTrue(config["exporters"]["prometheusremotewrite"]["endpoint"].startswith("http"))

    def test_grafana_provisioning_reads_the_packaged_dashboards(self):
        (provider,) = load_yaml(os.path.join(RECIPES, "grafana", "dashboards", "argus.yaml"))
        self.assertEqual(provider["providers"][0]["options"]["path"],
                         "/usr/share/argus/dashboards")
        (sources,) = load_yaml(os.path.join(RECIPES, "grafana", "datasources", "argus.yaml"))
        self.assertEqual(sources["datasources"][0]["type"], "prometheus")

    def test_every_path_the_recipes_name_is_installed_by_the_package(self):
        installed = packaged_paths()
        self.assertIn(f"/usr/lib/{MULTIARCH}/argus/libargus_core.so", installed)
        texts = [read(HOSTING), read(os.path.join(ROOT, "README.md"))]
        texts += [read(p) for p in glob.glob(os.path.join(RECIPES, "**", "*"), recursive=True)
                  if os.path.isfile(p)]
        named = set()
        for text in texts:
            named |= set(re.findall(r"(/usr/(?:lib|bin|share)/[\w./@*-]*argus[\w./*-]*)", text))
        checked = 0
        for path in sorted(named):
            path = path.rstrip(".")
            if "/local/" in path or "aarch64" in path:
                continue  # `meson install` defaults, arm64: not this package
            if "*" in path:
                pattern = re.compile(re.escape(path).replace(r"\*", "[^/]*") + "$")
                self.assertTrue(any(pattern.match(p) for p in installed), path)
            elif path.endswith("/"):
                self.assertTrue(any(p.startswith(path) for p in installed), path)
            else:
                self.assertTrue(path in installed or any(p.startswith(path + "/")
                                                         for p in installed), path)
            checked += 1
        self.assertGreaterEqual(checked, 5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
