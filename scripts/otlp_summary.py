#!/usr/bin/python3
"""Prints the latest value of every metric otlp_receiver.py stored.

Usage:
    otlp_summary.py DIR [--json]

Reads DIR/metrics-*.json in order and keeps, per (service.instance.id, metric,
attribute set), the newest point; prints one line per series:

    discord_commands_total{cluster="default",command="ping",status="success"} = 3
    discord_command_duration_seconds{...} count=3 sum=0.42 min=0.1 max=0.2

then the resource of the newest request and, if DIR/traces-*.json exist, the
number of spans by name. With --json the same data is printed as one JSON
object {"metrics": {name: [{"attributes":..., "value"|"count"...}]}, "resource":
{...}, "spans": {name: count}} for scripts. For delta temporality the values
printed are the newest interval's, not totals.
"""

import glob
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def label_str(attributes):
    return ",".join('%s="%s"' % (k, attributes[k]) for k in sorted(attributes))


def summarize(directory):
    latest = {}
    resource = {}
    for path in sorted(glob.glob(os.path.join(directory, "metrics-*.json"))):
        req = load(path)
        for rm in req.get("resource_metrics", []):
            resource = rm.get("resource", {})
            inst = resource.get("service.instance.id", "")
            for scope in rm.get("scopes", []):
                for m in scope.get("metrics", []):
                    for p in m.get("points", []):
                        key = (inst, m["name"], label_str(p.get("attributes", {})))
                        latest[key] = (m, p)
    metrics = {}
    for (inst, name, labels), (m, p) in sorted(latest.items()):
        entry = {"attributes": p.get("attributes", {}), "instance": inst}
        if m.get("kind") == "histogram":
            for k in ("count", "sum", "min", "max", "bucket_counts", "explicit_bounds"):
                if k in p:
                    entry[k] = p[k]
        else:
            entry["value"] = p.get("as_int", p.get("as_double", 0))
        entry["kind"] = m.get("kind")
        entry["unit"] = m.get("unit", "")
        metrics.setdefault(name, []).append(entry)
    spans = {}
    for path in sorted(glob.glob(os.path.join(directory, "traces-*.json"))):
        for rs in load(path).get("resource_spans", []):
            for scope in rs.get("scopes", []):
                for sp in scope.get("spans", []):
                    spans[sp.get("name", "")] = spans.get(sp.get("name", ""), 0) + 1
    return {"metrics": metrics, "resource": resource, "spans": spans}


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 2
    s = summarize(argv[1])
    if "--json" in argv[2:]:
        json.dump(s, sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    for name, entries in sorted(s["metrics"].items()):
        for e in entries:
            head = "%s{%s}" % (name, label_str(e["attributes"]))
            if "value" in e:
                print("%s = %s" % (head, e["value"]))
            else:
                print("%s count=%s sum=%s min=%s max=%s" % (
                    head, e.get("count", 0), e.get("sum"), e.get("min"), e.get("max")))
    if s["resource"]:
        print("resource: " + ", ".join("%s=%s" % kv for kv in sorted(s["resource"].items())))
    for name, n in sorted(s["spans"].items()):
        print("spans %s: %d" % (name, n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
