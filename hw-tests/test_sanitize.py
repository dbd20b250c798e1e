"""hw-tests/sanitize.py tells a sanitizer report from ASan's coroutine warning."""

import tempfile
import unittest
from pathlib import Path

from sanitize import reports

WARNING = ("==449==WARNING: ASan doesn't fully support makecontext/swapcontext functions and may produce "
           "false positives in some cases!\n")
ASAN = ("=================================================================\n"
        "==5==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602000000014 at pc 0x1 bp 0x2 sp 0x3\n"
        "SUMMARY: AddressSanitizer: heap-buffer-overflow hw/pci-host/calgary.c:10 in f\n")
LSAN = "==7==ERROR: LeakSanitizer: detected memory leaks\n\nDirect leak of 24 byte(s) in 1 object(s)\n"
UBSAN = "../hw/pci-host/calgary-phb.c:99:5: runtime error: shift exponent 64 is too large for 64-bit type\n"


class Reports(unittest.TestCase):
    def test_reports_and_warnings(self):
        with tempfile.TemporaryDirectory() as td:
            d = Path(td)
            (d / "asan.1").write_text(WARNING)
            (d / "asan.2").write_text(WARNING + ASAN)
            (d / "asan.3").write_text(LSAN)
            (d / "ubsan.4").write_text(UBSAN)
            (d / "asan.5").write_text("")
            found, warned = reports(d)
            self.assertEqual([p.name for p in found], ["asan.2", "asan.3", "ubsan.4"])
            self.assertEqual(warned, 1)


if __name__ == "__main__":
    unittest.main()
