#!/usr/bin/python3
"""The Debian package (issue 15): scripts/package builds it, `dpkg -i`
installs it, and the installed argus-run works from the installed paths.

The install must not change the machine the tests run on (other suites run
beside this one), so it happens in a private mount namespace whose /usr,
/etc, /var/lib/dpkg and /var/log are overlays on the real ones: dpkg and
ldconfig write to throwaway upper directories, and everything runs with the
machine's own Python, libssl and libcurl, as on a user's machine. Inside it:

- `dpkg -i` succeeds (its Depends are satisfied by the build's own libraries)
  and the files land where the README and docs/ say: the preload in
  /usr/lib/<multiarch>/, the core in /usr/lib/<multiarch>/argus/, argus-run,
  its man page, the dashboards and the rules in /usr/share/argus/;
- `argus-run --check` names the installed library and finds nothing wrong;
- an eager push (`argus-run --eager`) from a process that never talks to
  Discord reaches an OTLP receiver: the installed preload loaded the
  installed core;
- `dpkg -r` removes every file again.

Needs root (unshare, mount) and dpkg-dev; ARGUS_BUILD for the build folder
(the package's own meson build is kept in ARGUS_BUILD/deb between runs).
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ci_rule import missing  # noqa: E402
from prom_helpers import BUILD, PYTHON, ROOT, start_receiver, stop  # noqa: E402

PACKAGE = os.path.join(ROOT, "scripts", "package")
OVERLAID = ["/usr", "/etc", "/var/lib/dpkg", "/var/log"]


class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("dpkg-deb", "dpkg-shlibdeps", "unshare", "meson", "ninja"):
            if not shutil.which(tool):
                missing(f"{tool} (scripts/setup-deps)")
        if os.geteuid() != 0:
            missing("root (unshare -m, mount)")
        r = subprocess.run([PACKAGE, os.path.join(BUILD, "deb")], capture_output=True,
                           text=True, timeout=900)
        if r.returncode != 0:
            raise AssertionError(f"scripts/package failed:\n{r.stdout}\n{r.stderr}")
        cls.deb = r.stdout.strip().splitlines()[-1]
        cls.multiarch = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"],
                                       capture_output=True, text=True).stdout.strip()
        cls.tmp = tempfile.mkdtemp(prefix="argus-package-")
        cls.receiver, cls.port = start_receiver(os.path.join(cls.tmp, "otlp"))
        cls.result = cls.run_installed()

    @classmethod
    def tearDownClass(cls):
        stop(cls.receiver)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def run_installed(cls):
        """Installs, uses and removes the package inside the overlays; returns
        {step: (exit status, output)} read back from a JSON file."""
        report = os.path.join(cls.tmp, "report.json")
        mounts = []
        for i, path in enumerate(OVERLAID):
            up, work = os.path.join(cls.tmp, f"up{i}"), os.path.join(cls.tmp, f"work{i}")
            os.makedirs(up)
            os.makedirs(work)
            mounts.append(f"mount -t overlay overlay -o lowerdir={path},upperdir={up},"
                          f"workdir={work} {path}")
        lib = f"/usr/lib/{cls.multiarch}"
        endpoint = f"http://127.0.0.1:{cls.port}"
        steps = {
            "install": ["dpkg", "-i", cls.deb],
            "files": ["dpkg", "-L", "argus-preload"],
            "help": ["/usr/bin/argus-run", "--help"],
            "check": ["/usr/bin/argus-run", "--check", "--endpoint", endpoint, "--",
                      "/usr/bin/python3", "-c", "pass"],
            "push": ["/usr/bin/argus-run", "--eager", "--endpoint", endpoint, "--interval", "300",
                     "--service-name", "argus-package-test", "--", "/usr/bin/python3", "-c",
                     "import time; time.sleep(1.5)"],
            "man": ["zcat", "/usr/share/man/man1/argus-run.1.gz"],
            "remove": ["dpkg", "-r", "argus-preload"],
            "after_remove": ["ls", f"{lib}/libargus_preload.so", f"{lib}/argus/libargus_core.so",
                             "/usr/bin/argus-run", "/usr/share/argus"],
        }
        driver = textwrap.dedent(f"""\
            import json, subprocess
            out = {{}}
            for name, argv in {steps!r}.items():
                try:
                    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
                    out[name] = [r.returncode, r.stdout + r.stderr]
                except OSError as e:
                    out[name] = [127, str(e)]
            json.dump(out, open({report!r}, "w"))
            """)
        script = " && ".join(mounts + [f"{PYTHON} -c {shlex_quote(driver)}"])
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ARGUS_"))}
        env.pop("LD_PRELOAD", None)
        env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=300, env=env)
        if r.returncode != 0 or not os.path.exists(report):
            raise AssertionError(f"the install run failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        with open(report) as f:
            return json.load(f)

    def step(self, name, status=0):
        code, output = self.result[name]
        self.assertEqual(code, status, f"{name}:\n{output}")
        return output

    def test_dpkg_installs_it(self):
        self.step("install")

    def test_the_files_land_where_the_docs_say(self):
        files = set(self.step("files").splitlines())
        lib = f"/usr/lib/{self.multiarch}"
        for path in (f"{lib}/libargus_preload.so", f"{lib}/argus/libargus_core.so",
                     "/usr/bin/argus-run", "/usr/share/man/man1/argus-run.1.gz",
                     "/usr/share/argus/rules/argus.rules.yml",
                     "/usr/share/argus/dashboards/overview.json",
                     "/usr/share/argus/dashboards/commands.json",
                     "/usr/share/argus/dashboards/gateway.json",
                     "/usr/share/argus/dashboards/rest.json",
                     "/usr/share/argus/dashboards/argus-health.json"):
            self.assertIn(path, files)
        self.assertTrue(self.step("man").startswith(".TH ARGUS-RUN 1"))

    def test_the_installed_help_names_the_installed_library(self):
        out = " ".join(self.step("help").split())
        self.assertIn(f"default here: /usr/lib/{self.multiarch}/libargus_preload.so", out)
        self.assertNotIn(ROOT, out)

    def test_the_installed_check_finds_nothing_wrong(self):
        out = self.step("check")
        self.assertIn(f"ok: preloading /usr/lib/{self.multiarch}/libargus_preload.so", out)
        self.assertIn("nothing stands in the way", out)

    def test_an_eager_push_from_the_installed_paths_arrives(self):
        self.step("push")
        names = set()
        for path in glob.glob(os.path.join(self.tmp, "otlp", "metrics-*.json")):
            with open(path) as f:
                for rm in json.load(f).get("resource_metrics", []):
                    if rm.get("resource", {}).get("service.name") != "argus-package-test":
                        continue
                    for scope in rm.get("scopes", []):
                        names.update(m["name"] for m in scope.get("metrics", []))
        self.assertIn("argus_up", names)

    def test_dpkg_removes_every_file(self):
        self.step("remove")
        code, output = self.result["after_remove"]
        self.assertNotEqual(code, 0)
        self.assertEqual(output.count("No such file"), 4, output)


def shlex_quote(text):
    import shlex
    return shlex.quote(text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
