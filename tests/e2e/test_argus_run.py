#!/usr/bin/python3
"""End-to-end tests of argus-run (issue 8): --help, LD_PRELOAD appended,
options mapped to their variables, and --check's diagnoses as a new user
would meet them (a static-OpenSSL Node, Debian's Python, a collector that
does not answer, a taken Prometheus port).

Needs ARGUS_BUILD (the build directory); run through `meson test --suite prom`.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ci_rule import missing  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from prom_helpers import ARGUS_RUN, PRELOAD, free_port, start_receiver, stop

# Parsed from the script itself, so a new option without its variable in
# --help fails here.
with open(ARGUS_RUN) as f:
    SOURCE = f.read()
OPTION_TABLE = re.findall(r'\("(--[a-z-]+)", "((?:OTEL|ARGUS)_[A-Z_]+)"', SOURCE)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ARGUS_"))}
    env.pop("LD_PRELOAD", None)
    env.update(extra)
    return env


def argus_run(*args, env=None, timeout=60):
    return subprocess.run([ARGUS_RUN, *args], capture_output=True, text=True,
                          env=env or clean_env(), timeout=timeout)


def env_of(output):
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


class Launcher(unittest.TestCase):
    def test_help_lists_every_option_with_its_variable_and_default(self):
        self.assertGreater(len(OPTION_TABLE), 20)
        out = argus_run("--help").stdout
        flat = " ".join(out.split())  # argparse wraps lines
        for opt, var in OPTION_TABLE:
            self.assertIn(opt, flat)
            self.assertIn(var, flat)
        for needle in ("OTEL_EXPORTER_PROMETHEUS_PORT (default 9464)",
                       "OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318)",
                       "OTEL_METRICS_EXPORTER (default otlp)", "ARGUS_CLUSTER_ID (default default)",
                       "ARGUS_EAGER=1", "--check"):
            self.assertIn(needle, flat)

    def test_help_names_the_library_this_copy_preloads(self):
        # The build tree's argus-run preloads the build's library, and says so.
        out = " ".join(argus_run("--help").stdout.split())
        self.assertIn(f"default here: {PRELOAD} (the build tree, not installed)", out)
        self.assertNotIn("/usr/local/lib", out)
        printed = env_of(argus_run("--print-env").stdout)
        self.assertEqual(printed["LD_PRELOAD"], PRELOAD)

    def test_the_checkout_wrapper_runs_the_built_launcher(self):
        # scripts/argus-run in a checkout runs <checkout>/build/scripts/argus-run.
        tmp = tempfile.mkdtemp(prefix="argus-run-checkout-")
        try:
            wrapper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                   "scripts", "argus-run")
            for name, built in (("built", True), ("fresh", False)):
                os.makedirs(os.path.join(tmp, name, "scripts"))
                shutil.copy(wrapper, os.path.join(tmp, name, "scripts", "argus-run"))
                if built:
                    os.makedirs(os.path.join(tmp, name, "build", "scripts"))
                    os.symlink(ARGUS_RUN, os.path.join(tmp, name, "build", "scripts", "argus-run"))
            r = subprocess.run([os.path.join(tmp, "built", "scripts", "argus-run"), "--print-env"],
                               capture_output=True, text=True, env=clean_env())
            self.assertEqual(env_of(r.stdout)["LD_PRELOAD"], PRELOAD, r.stderr)
            r = subprocess.run([os.path.join(tmp, "fresh", "scripts", "argus-run"), "--help"],
                               capture_output=True, text=True, env=clean_env())
            self.assertEqual(r.returncode, 127)
            self.assertIn("meson setup build && ninja -C build", r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_ld_preload_is_appended_never_replaced(self):
        other = "/lib/x86_64-linux-gnu/libm.so.6"
        r = argus_run("--", "/usr/bin/env", env=clean_env(LD_PRELOAD=other))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(env_of(r.stdout)["LD_PRELOAD"], f"{other}:{PRELOAD}")
        r = argus_run("--", "/usr/bin/env")
        self.assertEqual(env_of(r.stdout)["LD_PRELOAD"], PRELOAD)
        # Already there: not added twice.
        r = argus_run("--", "/usr/bin/env", env=clean_env(LD_PRELOAD=PRELOAD))
        self.assertEqual(env_of(r.stdout)["LD_PRELOAD"], PRELOAD)

    def test_every_option_sets_its_variable(self):
        args, want = [], {}
        for i, (opt, var) in enumerate(OPTION_TABLE):
            value = f"v{i}"
            if opt in ("--eager", "--per-guild", "--disabled"):
                args.append(opt)
                continue
            args += [opt, value]
            want[var] = value
        args += ["--eager", "--per-guild"]
        want.update(ARGUS_EAGER="1", ARGUS_ENABLE_PER_GUILD="true")
        r = argus_run(*args, "--print-env")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = env_of(r.stdout)
        for var, value in want.items():
            if var == "OTEL_EXPORTER_OTLP_HEADERS":
                continue  # --print-env elides it; checked below through a real run
            self.assertEqual(got.get(var), value, var)
        # And in the environment the command really gets (values not elided).
        r = argus_run("--service-name", "mybot", "--headers", "Authorization=Bearer%20x",
                      "--prometheus-port", "9555", "--cluster", "c1", "--",
                      "/usr/bin/env")
        got = env_of(r.stdout)
        self.assertEqual(got["OTEL_SERVICE_NAME"], "mybot")
        self.assertEqual(got["OTEL_EXPORTER_OTLP_HEADERS"], "Authorization=Bearer%20x")
        self.assertEqual(got["OTEL_EXPORTER_PROMETHEUS_PORT"], "9555")
        self.assertEqual(got["ARGUS_CLUSTER_ID"], "c1")

    def test_an_option_not_given_leaves_the_environment_alone(self):
        r = argus_run("--", "/usr/bin/env", env=clean_env(OTEL_SERVICE_NAME="from-env"))
        self.assertEqual(env_of(r.stdout)["OTEL_SERVICE_NAME"], "from-env")

    def test_no_command_is_a_usage_error(self):
        r = argus_run("--service-name", "x")
        self.assertEqual(r.returncode, 2)
        self.assertIn("give the bot's command after --", r.stderr)


class Check(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="argus-run-")
        self.receiver, self.otlp_port = start_receiver(self.tmp)
        self.endpoint = f"http://127.0.0.1:{self.otlp_port}"

    def tearDown(self):
        stop(self.receiver)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def problems(self, r):
        return [l for l in r.stdout.splitlines() if l.startswith("argus-run: problem:")]

    def test_debian_python_is_visible_and_nothing_is_wrong(self):
        r = argus_run("--check", "--endpoint", self.endpoint, "--", "/usr/bin/python3", "bot.py")
        self.assertEqual(self.problems(r), [], r.stdout)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertRegex(r.stdout, r"ok: /usr/bin/python3: its ssl module .* links \S*libssl\.so")
        self.assertIn(f"the collector at {self.endpoint}/v1/metrics answers", r.stdout)
        self.assertRegex(r.stdout, r"config: .*OTEL_EXPORTER_OTLP_ENDPOINT=" + re.escape(self.endpoint))

    def test_a_script_is_judged_by_its_interpreter(self):
        bot = os.path.join(self.tmp, "bot.py")
        with open(bot, "w") as f:
            f.write("#!/usr/bin/env /usr/bin/python3\nprint('hi')\n")
        os.chmod(bot, 0o755)
        r = argus_run("--check", "--endpoint", self.endpoint, "--", bot)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("ok: /usr/bin/python3: its ssl module", r.stdout)

    def shim(self, name, text):
        """A shell-script shim in a folder of its own, which goes first on PATH."""
        shims = os.path.join(self.tmp, "shims")
        os.makedirs(shims, exist_ok=True)
        path = os.path.join(shims, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
        return shims, path

    def test_a_pyenv_style_shim_is_followed_to_the_real_python(self):
        # What pyenv writes into ~/.pyenv/shims: a bash script that picks the
        # version when it runs. Its own ldd says nothing about Python's TLS.
        shims, path = self.shim("python3", '#!/usr/bin/env bash\nset -e\n'
                                           'program="${0##*/}"\nexec /usr/bin/"$program" "$@"\n')
        env = clean_env(PATH=shims + ":/usr/bin:/bin")
        r = argus_run("--check", "--endpoint", self.endpoint, "--", "python3", "bot.py", env=env)
        self.assertEqual(self.problems(r), [], r.stdout)
        self.assertRegex(r.stdout, rf"note: {re.escape(path)} is a shell script standing for "
                                   rf"python3 .*followed it to /usr/bin/python3")
        self.assertRegex(r.stdout, r"ok: /usr/bin/python3[0-9.]*: its ssl module")
        self.assertNotRegex(r.stdout, r"ok: \S*bash")

    def test_an_asdf_style_shim_behind_a_shebang_script_is_followed(self):
        # asdf's shims are `#!/usr/bin/env bash` + `exec asdf exec ...`; here the
        # bot is itself a #! script naming the shim through env.
        shims, path = self.shim("python3", "#!/usr/bin/env bash\nexec /usr/bin/python3 \"$@\"\n")
        bot = os.path.join(self.tmp, "bot.py")
        with open(bot, "w") as f:
            f.write("#!/usr/bin/env python3\nprint('hi')\n")
        os.chmod(bot, 0o755)
        env = clean_env(PATH=shims + ":/usr/bin:/bin")
        r = argus_run("--check", "--endpoint", self.endpoint, "--", bot, env=env)
        self.assertEqual(self.problems(r), [], r.stdout)
        self.assertIn(f"note: {bot} is a #! script; judging its interpreter, {path}", r.stdout)
        self.assertIn(f"note: {path} is a shell script standing for python3", r.stdout)
        self.assertRegex(r.stdout, r"ok: /usr/bin/python3[0-9.]*: its ssl module")

    def test_a_shell_script_that_is_no_interpreter_is_judged_as_it_is(self):
        shims, path = self.shim("start-bot", "#!/bin/sh\nexec /usr/bin/python3 bot.py\n")
        env = clean_env(PATH=shims + ":/usr/bin:/bin")
        r = argus_run("--check", "--endpoint", self.endpoint, "--", "start-bot", env=env)
        self.assertNotIn("standing for", r.stdout)
        self.assertIn(f"{path} does not link libssl itself", r.stdout)

    def test_official_node_is_patched(self):
        """An official Node build (OpenSSL built in, issue 12): --check says
        Argus will patch it, and names the OpenSSL it found."""
        p = subprocess.run([os.path.join(ROOT, "scripts", "setup-node-official"), "22"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            missing("no official Node 22 (registry unreachable): %s" % p.stderr)
        node = p.stdout.split()[-1]
        r = argus_run("--check", "--endpoint", self.endpoint, "--", node, "bot.js")
        self.assertEqual(self.problems(r), [], r.stdout)
        self.assertRegex(r.stdout, r"ok: .*has OpenSSL built in: Argus will patch it \(patched "
                                   r"the OpenSSL built into .*\(OpenSSL 3\.")

    def test_java_and_go_are_named_out_of_reach(self):
        fake_go = os.path.join(self.tmp, "gobot")
        with open(fake_go, "wb") as f:
            f.write(b"\x7fELF" + b"\0" * 64 + b"\xff Go buildinf:" + b"\0" * 64)
        os.chmod(fake_go, 0o755)
        r = argus_run("--check", "--endpoint", self.endpoint, "--", fake_go)
        self.assertEqual(r.returncode, 1)
        problems = self.problems(r)
        self.assertEqual(len(problems), 1, r.stdout)
        self.assertIn("Go program", problems[0])
        self.assertIn("rustls", problems[0])

    def test_unreachable_collector_gets_one_line_and_the_fix(self):
        dead = f"http://127.0.0.1:{free_port()}"
        r = argus_run("--check", "--endpoint", dead, "--", "/usr/bin/python3", "bot.py")
        self.assertEqual(r.returncode, 1)
        problems = self.problems(r)
        self.assertEqual(len(problems), 1, r.stdout)
        self.assertIn(f"the collector at {dead}/v1/metrics does not answer", problems[0])
        self.assertIn("--endpoint", problems[0])

    def test_taken_prometheus_port_gets_one_line_and_the_fix(self):
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen(1)
            port = holder.getsockname()[1]
            r = argus_run("--check", "--metrics-exporter", "prometheus", "--prometheus-host",
                          "127.0.0.1", "--prometheus-port", str(port), "--",
                          "/usr/bin/python3", "bot.py")
        problems = self.problems(r)
        self.assertEqual(len(problems), 1, r.stdout)
        self.assertIn(f"OTEL_EXPORTER_PROMETHEUS_PORT={port} is already in use", problems[0])
        self.assertIn("--prometheus-port", problems[0])

    def test_secrets_are_not_shown(self):
        r = argus_run("--check", "--endpoint", self.endpoint, "--headers",
                      "Authorization=Bearer%20sekrit", "--", "/usr/bin/python3", "bot.py")
        self.assertNotIn("sekrit", r.stdout + r.stderr)
        self.assertIn("OTEL_EXPORTER_OTLP_HEADERS=Authorization=<elided>", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
