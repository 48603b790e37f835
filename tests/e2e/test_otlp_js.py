#!/usr/bin/python3
"""Issue 3, criterion 7: Argus' OTLP encoding decoded by an independent
implementation, the OpenTelemetry JS SDK's @opentelemetry/otlp-transformer.

Usage: test_otlp_js.py OTLP_DUMP OTLP_JS_CHECK_JS

Installs the pinned package (OTLP_TRANSFORMER below; 0.208.x runs on Node 18
and 20) with npm into a cache directory outside the repository, once:
$ARGUS_TEST_CACHE, else $XDG_CACHE_HOME/argus-test, else /var/cache/argus-test.
Then runs OTLP_DUMP (tests/e2e/otlp_dump.c) to write a metrics and a traces
request and has node decode both with the SDK's generated protobuf code
(otlp_js_check.js), comparing every field. A wrong field number in
export/proto/ fails it (checked by hand: HistogramDataPoint.count moved from
4 to 13 gives "histogram count: got null, want 3").

Exits 77 (skipped) when node or npm is missing or the package cannot be
installed, except under CI, where that fails (tests/ci_rule.py); 0 on
success; 1 on a mismatch.
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ci_rule import missing_exit  # noqa: E402

OTLP_TRANSFORMER = "@opentelemetry/otlp-transformer@0.208.0"


def cache_dir():
    base = os.environ.get("ARGUS_TEST_CACHE")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = os.path.join(xdg, "argus-test") if xdg else "/var/cache/argus-test"
    return os.path.join(base, "otlp-js-0.208.0")


def ensure_package(prefix):
    marker = os.path.join(prefix, "node_modules", "@opentelemetry", "otlp-transformer",
                          "build", "src", "generated", "root.js")
    if os.path.exists(marker):
        return True
    if not shutil.which("npm"):
        return False
    os.makedirs(prefix, exist_ok=True)
    pkg = os.path.join(prefix, "package.json")
    if not os.path.exists(pkg):
        with open(pkg, "w") as f:
            f.write('{"name": "argus-otlp-js-check", "private": true}\n')
    r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", prefix,
                        OTLP_TRANSFORMER], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-2000:])
    return os.path.exists(marker)


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    dump, check_js = argv[1], argv[2]
    if not shutil.which("node"):
        missing_exit("node is not installed")
    prefix = cache_dir()
    if not ensure_package(prefix):
        missing_exit("cannot install %s into %s" % (OTLP_TRANSFORMER, prefix))
    tmp = tempfile.mkdtemp(prefix="argus-otlp-js-")
    try:
        metrics, traces = os.path.join(tmp, "metrics.pb"), os.path.join(tmp, "traces.pb")
        subprocess.run([dump, metrics, traces], check=True)
        r = subprocess.run(["node", check_js, os.path.join(prefix, "node_modules"), metrics,
                            traces])
        return 0 if r.returncode == 0 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
