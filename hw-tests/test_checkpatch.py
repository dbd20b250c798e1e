"""QEMU's own style checker, scripts/checkpatch.pl, passes on everything we
add to or change in QEMU's tree: the shim's C files and headers (as files,
`-f`) and the patches to QEMU's files (as patches, sign-off included).

checkpatch.pl comes from the QEMU tree the setup unpacked and built (the
target of build/qemu-system-x86_64), so it is the checker of the QEMU
version we build against.
"""

import os
import re
import subprocess
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHIM = REPO / "c-shim"


def qemu_tree():
    link = REPO / "build" / "qemu-system-x86_64"
    if not link.exists():
        return None
    tree = link.resolve().parent.parent          # <cache>/qemu-<key>/build/qemu-system-x86_64
    return tree if (tree / "scripts" / "checkpatch.pl").is_file() else None


TREE = qemu_tree()


def checkpatch(*args):
    r = subprocess.run(["perl", str(TREE / "scripts" / "checkpatch.pl"), "--no-tree", *args],
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    m = re.search(r"^total: (\d+) errors, (\d+) warnings", out, re.M)
    if not m:
        raise AssertionError(f"checkpatch printed no total for {args}:\n{out}")
    return int(m.group(1)), int(m.group(2)), out


def shim_sources():
    return sorted(p for p in SHIM.rglob("*") if p.suffix in (".c", ".h") and "patches" not in p.parts)


@unittest.skipUnless(TREE, "no built QEMU tree (build/qemu-system-x86_64 missing): run ./calgary setup")
class Checkpatch(unittest.TestCase):
    def test_shim_files_are_clean(self):
        files = shim_sources()
        self.assertGreaterEqual(len(files), 6, files)   # machine, chip, PHB, inject, header, FFI header
        for f in files:
            with self.subTest(file=str(f.relative_to(REPO))):
                errors, warnings, out = checkpatch("-f", str(f))
                self.assertEqual((errors, warnings), (0, 0), out)

    def test_patches_are_clean_and_signed_off(self):
        patches = sorted((SHIM / "patches").rglob("*.patch"))
        self.assertGreaterEqual(len(patches), 8, patches)
        for p in patches:
            with self.subTest(patch=str(p.relative_to(REPO))):
                errors, warnings, out = checkpatch(str(p))
                self.assertEqual(errors, 0, out)

    def test_checker_finds_errors(self):
        """The checker and the count parsing are live: a patch without a
        sign-off and with a trailing space is refused."""
        bad = ("Reason: a test\n\n--- a/x.c\n+++ b/x.c\n@@ -1,1 +1,2 @@\n int a;\n+int b; \n")
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"calgary-checkpatch-{os.getpid()}.patch"
        path.write_text(bad)
        try:
            errors, _, out = checkpatch(str(path))
        finally:
            path.unlink()
        self.assertGreaterEqual(errors, 2, out)
        self.assertIn("Signed-off-by", out)
        self.assertIn("trailing whitespace", out)


if __name__ == "__main__":
    unittest.main()
