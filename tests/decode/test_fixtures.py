#!/usr/bin/python3
"""Recorded captures decode to what the simulator says happened (issue 6).

Each folder in fixtures/ holds one run of a real bot against scripts/sim
(tests/e2e/run_scenario.py with the record core, see README.md there):
the plaintext streams as Argus captured them and truth.json, the
simulator's ground truth for that run. The replay tool decodes the streams
through the same stream table the core uses; this test requires:

  - every dispatch type counted exactly as the simulator sent it;
  - every REST exchange, by method, route template and status, exactly as
    the simulator served it (the simulator names all ids {id}; ours keeps
    {channel_id}/{guild_id}/{webhook_id}, mapped back for the comparison);
  - no decode error;
  - no route template with '?', '%' or six digits in a row, and neither the
    bot token nor any interaction token in any decoded event (the replay
    tool checks both and fails otherwise).

    test_fixtures.py <replay-binary> <fixtures-dir>
"""

import collections
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "sim"))

import fake_secrets  # noqa: E402

MAJOR = re.compile(r"\{(channel_id|guild_id|webhook_id)\}")


def replay(binary, folder):
    p = subprocess.run([binary, folder, fake_secrets.BOT_TOKEN], capture_output=True, text=True,
                       timeout=120)
    if p.returncode != 0:
        raise AssertionError("replay of %s failed (%d): %s" % (folder, p.returncode, p.stderr))
    return json.loads(p.stdout)


def check(binary, folder):
    seen = replay(binary, folder)
    with open(os.path.join(folder, "truth.json")) as f:
        truth = json.load(f)
    problems = []

    dispatches = {k.split(" ", 1)[1]: v for k, v in seen.items() if k.startswith("dispatch ")}
    if dispatches != truth["dispatches"]:
        problems.append("dispatches: decoded %s, simulator sent %s"
                        % (sorted(dispatches.items()), sorted(truth["dispatches"].items())))

    rest = collections.Counter()
    for key, n in seen.items():
        if key.startswith("rest "):
            _, method, route, status = key.split(" ")
            rest[(method, MAJOR.sub("{id}", route), int(status))] += n
    expected = collections.Counter()
    for r in truth["rest_requests"]:
        expected[(r["method"], r["route"], r["status"])] += r["count"]
    if rest != expected:
        problems.append("REST: decoded %s, simulator served %s"
                        % (sorted(rest.items()), sorted(expected.items())))

    errors = {k: v for k, v in seen.items() if k.startswith("decode_error")}
    if errors:
        problems.append("decode errors: %s" % errors)

    gateways = len(truth["gateway"])
    if seen.get("conn_kind 2", 0) != gateways:
        problems.append("gateway connections: decoded %s, simulator had %d"
                        % (seen.get("conn_kind 2", 0), gateways))
    closes = collections.Counter("ws_close out %d" % g["client_close_code"]
                                 for g in truth["gateway"] if g["client_close_code"])
    for key, n in closes.items():
        if seen.get(key, 0) < n:
            problems.append("%s: decoded %d, simulator saw %d" % (key, seen.get(key, 0), n))
    return problems


def main():
    binary, fixtures = sys.argv[1], sys.argv[2]
    failed = 0
    folders = sorted(n for n in os.listdir(fixtures) if os.path.isdir(os.path.join(fixtures, n)))
    if not folders:
        print("no fixtures in %s" % fixtures)
        return 1
    for name in folders:
        problems = check(binary, os.path.join(fixtures, name))
        print("%s: %s" % (name, "ok" if not problems else "FAILED"))
        for p in problems:
            print("  " + p)
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
