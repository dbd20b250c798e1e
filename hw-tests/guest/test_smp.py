"""The -smp 4 boot (boot.py --suite smp, smp_checks.py): the first kernel of
CALGARY_GUEST_KERNEL with its own Calgary driver drives all four PHBs at once
(nvme, e1000, virtio-net, edu) from four vCPUs; the report must have no FAIL
and the counter check around the concurrent phase must pass.

Skips without CALGARY_GUEST_KERNEL (a kernel with the Calgary driver is
needed) or without the QEMU build. Under TCG the boot is multi-threaded TCG.
"""

from __future__ import annotations

import os
import unittest

from test_guest_boot import QEMU, fails, run_suite


@unittest.skipUnless(QEMU.exists(), f"QEMU build not found at {QEMU} (build QEMU first)")
@unittest.skipUnless(os.environ.get("CALGARY_GUEST_KERNEL"),
                     "CALGARY_GUEST_KERNEL not set: the -smp 4 boot needs a kernel with the Calgary driver")
class SmpBoot(unittest.TestCase):
    def test_four_phbs_at_once(self) -> None:
        kernel = next(p for p in os.environ["CALGARY_GUEST_KERNEL"].split(":") if p)
        rc, report = run_suite("smp", "--kernel", kernel, timeout=1800)
        if "FAIL assemble" in report and ("apt-get" in report or "download" in report):
            self.skipTest("guest packages unavailable: " + fails(report)[0])
        self.assertEqual(fails(report), [], "report has FAIL lines:\n" + report)
        self.assertRegex(report, r"(?m)^PASS \S*:smp-four-phbs ", report)
        self.assertRegex(report, r"(?m)^PASS \S*:smp-counters ", report)
        self.assertEqual(rc, 0, report)


if __name__ == "__main__":
    unittest.main()
