"""The no-skip rule, shared by the Python suites.

Outside CI a test whose real parts are missing (prometheus, node, npm,
patchelf, root) skips, so a developer without them can still run the rest.
Under CI (CI=true, which .ci/run sets) it fails: a gate must not pass because
what it checks was absent.
"""

import os
import sys
import unittest

SKIP_STATUS = 77  # meson's "skipped" exit status


def under_ci():
    return os.environ.get("CI", "").lower() == "true"


def missing(reason):
    """For a unittest case or setUpClass: skip, or fail under CI."""
    if under_ci():
        raise AssertionError(f"{reason} (CI=true: a missing dependency is a failure)")
    raise unittest.SkipTest(reason)


def missing_exit(reason):
    """For a script run by meson: exit as skipped, or as failed under CI."""
    print(("FAIL: " if under_ci() else "SKIP: ") + reason + (
        " (CI=true: a missing dependency is a failure)" if under_ci() else ""), file=sys.stderr)
    sys.exit(1 if under_ci() else SKIP_STATUS)
