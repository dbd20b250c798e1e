"""Boot a Linux guest on the Calgary machine and require a report without FAIL.

Runs with pytest or `python3 -m unittest hw-tests/guest/test_guest_boot.py`.
- default suite: always (Debian kernel, tool plays the driver);
- kernel matrix: only when CALGARY_GUEST_KERNEL names kernel images
  (colon-separated); every kernel on both variants, plus kdump.
Skips with a reason when the QEMU build (build/qemu-system-x86_64 under the
repository root) is absent, or when the Debian packages cannot be fetched.
Environment: CALGARY_QEMU overrides the QEMU path; CALGARY_GUEST_ARGS adds
boot.py arguments (e.g. "--cache off --variant calioc2").
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
QEMU = Path(os.environ.get("CALGARY_QEMU", REPO / "build" / "qemu-system-x86_64"))
BOOT = HERE / "boot.py"


def run_suite(suite: str, *extra: str, timeout: int = 900) -> tuple[int, str]:
    cmd = [sys.executable, str(BOOT), "--qemu", str(QEMU), "--suite", suite, *extra,
           *shlex.split(os.environ.get("CALGARY_GUEST_ARGS", ""))]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = p.stdout + ("\n--- stderr ---\n" + p.stderr if p.stderr else "")
    print(out)  # shown by pytest on failure / with -s
    return p.returncode, p.stdout


def fails(report: str) -> list[str]:
    return [l for l in report.splitlines() if l.startswith("FAIL ")]


@unittest.skipUnless(QEMU.exists(), f"QEMU build not found at {QEMU} (build QEMU first)")
class GuestBoot(unittest.TestCase):
    def check(self, rc: int, report: str) -> None:
        if "FAIL assemble" in report and ("apt-get" in report or "download" in report):
            self.skipTest("guest packages unavailable: " + fails(report)[0])
        self.assertTrue(any(l.startswith("PASS ") for l in report.splitlines()), "no check passed:\n" + report)
        self.assertEqual(fails(report), [], "report has FAIL lines:\n" + report)
        self.assertEqual(rc, 0, report)

    def test_default_suite(self) -> None:
        rc, report = run_suite("default")
        self.check(rc, report)

    @unittest.skipUnless(os.environ.get("CALGARY_GUEST_KERNEL"),
                         "CALGARY_GUEST_KERNEL not set: no kernel with a Calgary driver to validate "
                         "(set it to one or more bzImage paths, colon-separated, for the kernel matrix)")
    def test_kernel_matrix(self) -> None:
        paths = [p for p in os.environ["CALGARY_GUEST_KERNEL"].split(":") if p]
        args = [a for p in paths for a in ("--kernel", p)]
        rc, report = run_suite("kernel", *args, timeout=1800 * len(paths))
        self.check(rc, report)
        self.assertIn("# Kernel matrix", report)


if __name__ == "__main__":
    unittest.main()
