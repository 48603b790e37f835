"""Shared helpers for the Prometheus and argus-run end-to-end tests.

The OTLP-to-Prometheus name translation here is written from the
specification and prometheus/otlptranslator (metric_namer.go, unit_namer.go,
label_namer.go, strategy UnderscoreEscapingWithSuffixes), independently of
export/prom.c, so a test can derive the names a Collector would give Argus'
OTLP metrics and compare them with what Argus' own /metrics serves.
"""

import gzip
import os
import re
import socket
import subprocess
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("ARGUS_BUILD", os.path.join(ROOT, "build"))
PRELOAD = os.path.join(BUILD, "libargus_preload.so")
ARGUS_RUN = os.path.join(BUILD, "scripts", "argus-run")
RECEIVER = os.path.join(ROOT, "scripts", "otlp_receiver.py")
PYTHON = "/usr/bin/python3"

# ---- the translation -------------------------------------------------------

UNIT_WORDS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes",
    "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tebibytes", "KBy": "kilobytes",
    "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes", "m": "meters", "V": "volts",
    "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius", "Hz": "hertz",
    "1": "", "%": "percent",
}
PER_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week",
                  "mo": "month", "y": "year"}


def _clean_unit(u):
    return re.sub(r"__+", "_", re.sub(r"[^a-zA-Z0-9:]", "_", u)).removeprefix("_")


def prometheus_name(name, unit, kind):
    """kind: 'counter' (monotonic cumulative sum), 'gauge', 'histogram', 'updown'."""
    tokens = [t for t in re.split(r"[^a-zA-Z0-9:]", name) if t]
    main, _, per = (unit or "").partition("/")
    main = main.strip()
    main = "" if (not main or "{" in main or "}" in main) else UNIT_WORDS.get(main, main)
    per_word = ""
    if "/" in (unit or "") and per:
        per = per.strip()
        if per and "{" not in per and "}" not in per:
            per_word = "per_" + PER_UNIT_WORDS.get(per, per)
    main, per_word = _clean_unit(main), _clean_unit(per_word)
    if main in tokens:
        main = ""
    if per_word == "per_":
        per_word = ""
    else:
        per_word = per_word.removesuffix("_")
        if per_word in tokens:
            per_word = ""
    if per_word:
        main = main.removesuffix("_")
    tokens += [t for t in (main, per_word) if t]
    if kind == "counter":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    out = "_".join(tokens)
    return "_" + out if out[:1].isdigit() else out


def label_name(key):
    out = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    if out[:1].isdigit():
        return "key_" + out
    if out.startswith("_") and not out.startswith("__"):
        return "key" + out
    return out


# ---- exposition parsing ----------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_text(body):
    """{'types': {family: type}, 'samples': [(name, {label: value}, value)]}"""
    types, samples = {}, []
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, fam, typ = line.split(" ", 3)
            types[fam] = typ
        elif line and not line.startswith("#"):
            m = SAMPLE.match(line)
            assert m, f"unparsable sample line: {line!r}"
            labels = dict(LABEL.findall(m.group(3) or ""))
            samples.append((m.group(1), labels, m.group(4)))
    return {"types": types, "samples": samples}


# ---- processes and sockets -------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, headers=None, timeout=5):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = resp.read()
        if resp.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return resp.status, dict(resp.headers), body.decode()


def wait_for(what, predicate, timeout=20.0, interval=0.1):
    """Polls predicate() until it returns something true; fails with what."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as e:  # the thing waited for is not up yet
            last_error = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error})")


def preload_env(**extra):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith(("OTEL_", "ARGUS_")):
            del env[k]
    env["LD_PRELOAD"] = PRELOAD
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_receiver(out_dir):
    port = free_port()
    proc = subprocess.Popen([PYTHON, RECEIVER, "--port", str(port), "--out", out_dir],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening"), f"receiver did not start: {line!r}"
    return proc, port


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
