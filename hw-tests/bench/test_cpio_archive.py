"""The benchmark's appended initramfs archive, made by the cpio tool:
contents, modes, ownership and reproducibility."""

import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from cbench.guest import cpio_archive

FILES = {"bench-init": (0o755, b"#!/bin/sh\necho hi\n"),
         "bench-jobs": (0o644, b"net virtio stream 64 2\n"),
         "bin/calgary-bench": (0o755, bytes(range(256)) * 40)}


@unittest.skipUnless(shutil.which("cpio"), "cpio not installed (./calgary setup installs it)")
class CpioArchive(unittest.TestCase):
    def test_listing_is_sorted_root_owned_epoch(self):
        a = cpio_archive(FILES)
        self.assertEqual(a[:6], b"070701", "newc format")
        p = subprocess.run(["cpio", "-itv", "--quiet"], input=a, capture_output=True, check=True)
        rows = [l.split() for l in p.stdout.decode().splitlines()]
        self.assertEqual([r[-1] for r in rows], ["bench-init", "bench-jobs", "bin", "bin/calgary-bench"])
        self.assertEqual([r[0] for r in rows], ["-rwxr-xr-x", "-rw-r--r--", "drwxr-xr-x", "-rwxr-xr-x"])
        for r in rows:
            self.assertEqual((r[2], r[3]), ("root", "root"), r)
            self.assertIn("1970", r, r)

    def test_contents_round_trip_and_reproducible(self):
        a = cpio_archive(FILES)
        self.assertEqual(a, cpio_archive(dict(reversed(list(FILES.items())))))
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["cpio", "-idm", "--quiet"], input=a, cwd=d, check=True)
            for name, (_, data) in FILES.items():
                self.assertEqual((Path(d) / name).read_bytes(), data, name)


if __name__ == "__main__":
    unittest.main()
