"""Live migration under load (migrate_load.py): the runner's own pieces
always; the migration itself only with a kernel that carries the Calgary
driver (CALGARY_GUEST_KERNEL, colon-separated) and a built QEMU.
CALGARY_GUEST_MODULES passes modules such a kernel lacks (virtio_blk.ko).
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import migrate_load  # noqa: E402

QEMU = Path(os.environ.get("CALGARY_QEMU", HERE.parents[1] / "build" / "qemu-system-x86_64"))


class RunnerPieces(unittest.TestCase):
    def test_rounds_are_attributed_to_the_qemu_that_printed_them(self):
        rl = migrate_load.RunLog()
        rl.add("A", "CALGARY-ROUND begin seq=0")
        rl.add("A", "CALGARY-ROUND end seq=0 disk=ok fnv=1 net=ok e1000:8/0 secs=1.0")
        rl.add("A", "CALGARY-ROUND begin seq=1")
        rl.add("B", "[  3.1] x CALGARY-ROUND end seq=1 disk=ok fnv=2 net=ok e1000:8/1 secs=2.0")
        self.assertEqual(rl.ends_on("A"), 1)
        self.assertEqual(rl.ends_on("B"), 1)
        r = rl.rounds[1]
        self.assertEqual((r.begin_on, r.end_on), ("A", "B"))
        self.assertIn("e1000:8/1", r.result)
        self.assertEqual(rl.last_begin(), 1)
        self.assertFalse(rl.done)
        rl.add("B", "CALGARY-DONE pass=3 fail=0 skip=0 secs=9.0")
        self.assertTrue(rl.done)

    def test_counters_must_arrive_and_only_load_dma_may_add(self):
        src = {"phb1": {"stat-translations": 100, "stat-cache-hits": 40, "stat-flushes": 2, "csr": 0}}
        same = {"phb1": dict(src["phb1"])}
        self.assertEqual(migrate_load.stats_compare(src, same), ([], []))
        loaded = {"phb1": dict(src["phb1"], **{"stat-translations": 103, "stat-cache-hits": 43})}
        self.assertEqual(migrate_load.stats_compare(src, loaded), ([], ["3 on phb1"]))
        lost = {"phb1": dict(src["phb1"], **{"stat-translations": 0})}
        self.assertEqual(len(migrate_load.stats_compare(src, lost)[0]), 1)
        flushed = {"phb1": dict(src["phb1"], **{"stat-flushes": 3})}
        self.assertEqual(len(migrate_load.stats_compare(src, flushed)[0]), 1)
        csr = {"phb1": dict(src["phb1"], csr=0x80000000)}
        self.assertEqual(len(migrate_load.stats_compare(src, csr)[0]), 1)

    def test_modules_are_appended_as_a_second_archive(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            base = d / "base.gz"
            base.write_bytes(gzip.compress(b"base"))
            ko = d / "virtio_blk.ko"
            ko.write_bytes(b"\0ELF...\0vermagic=5.4.286 SMP mod_unload \0name=virtio_blk\0")
            self.assertEqual(migrate_load.vermagic(ko), "5.4.286 SMP mod_unload ")
            out = migrate_load.initrd_with_modules(str(base), "5.4.286", [ko], d / "out.gz")
            data = Path(out).read_bytes()
            self.assertTrue(data.startswith(base.read_bytes()))
            extra = gzip.decompress(data[len(base.read_bytes()):])
            p = subprocess.run(["cpio", "-t"], input=extra, capture_output=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            names = p.stdout.decode().split()
            self.assertIn("lib/modules/5.4.286/virtio_blk.ko", names)
            self.assertIn("lib/modules/5.4.286/calgary-modules.list", names)
            self.assertEqual(migrate_load.initrd_with_modules(str(base), "5.4.286", [], d / "x.gz"), str(base))


@unittest.skipUnless(QEMU.exists(), f"QEMU build not found at {QEMU} (build QEMU first)")
@unittest.skipUnless(os.environ.get("CALGARY_GUEST_KERNEL"),
                     "CALGARY_GUEST_KERNEL not set: live migration under load needs a kernel with its own "
                     "Calgary driver and virtio VIRTIO_F_IOMMU_PLATFORM support (bzImage paths, colon-separated)")
class MigrationUnderLoad(unittest.TestCase):
    def test_both_variants_there_and_back(self):
        paths = [p for p in os.environ["CALGARY_GUEST_KERNEL"].split(":") if p]
        cmd = [sys.executable, str(HERE / "migrate_load.py"), "--qemu", str(QEMU),
               *[a for p in paths for a in ("--kernel", p)]]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800 * len(paths))
        out = p.stdout + ("\n--- stderr ---\n" + p.stderr if p.stderr else "")
        print(out)
        if "FAIL assemble" in out and ("apt-get" in out or "download" in out):
            self.skipTest("guest packages unavailable")
        lines = p.stdout.splitlines()
        skips = [l for l in lines if l.startswith("SKIP ")]
        if skips and not any(l.startswith(("PASS ", "FAIL ")) for l in lines):
            self.skipTest("; ".join(skips))
        self.assertEqual([l for l in lines if l.startswith("FAIL ")], [], out)
        self.assertTrue(any(l.startswith("PASS ") and ":rounds-after-" in l for l in lines), out)
        self.assertEqual(p.returncode, 0, out)


if __name__ == "__main__":
    unittest.main()
