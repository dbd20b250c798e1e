"""The generic-fuzz configuration (c-shim/patches/fuzz/) and the fuzz
campaign's reproducers, checked on the normal build:

* the config's command line starts the Calgary machine with edu, e1000 and
  nvme each on a PHB root bus, so the fuzzer's DMA goes through TCE tables;
* the config access the patched harness uses (mechanism #1 with the bus
  number in bits 23..16) reaches those devices;
* every reproducer in hw-tests/fuzz/regressions/ (qtest commands from a
  crash the campaign found, kept after the fix) runs to the end with QEMU
  alive.
"""

import os
import re
import shlex
import unittest
from pathlib import Path

from machine import Machine, QtestError, qemu_available

HERE = Path(__file__).resolve().parent
PATCH = HERE.parent / "c-shim" / "patches" / "fuzz" / "0001-generic-fuzz-calgary.patch"
REGRESSIONS = HERE / "fuzz" / "regressions"

# chip 0's PHB buses: 0x20 + 4 * p (hardware contract, bus formula)
PHB_BUSES = {0x20, 0x24, 0x28, 0x2C}
WANTED = {"edu": (0x1234, 0x11E8), "e1000": (0x8086, 0x100E), "nvme": (0x1B36, 0x0010)}


def fuzz_config_args() -> list[str]:
    """The .args of the "calgary" entry the patch adds, as argv."""
    text = PATCH.read_text()
    m = re.search(r'\+\s*\.name = "calgary",\n((?:\+\s*(?:\.args = )?"[^"]*",?\n)+)', text)
    if not m:
        raise AssertionError("no calgary entry with .args in " + str(PATCH))
    parts = re.findall(r'"([^"]*)"', m.group(1))
    return shlex.split("".join(parts))


def split_machine(argv: list[str]) -> tuple[str, list[str]]:
    machine, rest, i = "calgary", [], 0
    while i < len(argv):
        if argv[i] in ("-machine", "-M"):
            machine = argv[i + 1]
            i += 2
            continue
        if argv[i] != "-nodefaults":      # Machine passes it already
            rest.append(argv[i])
        i += 1
    return machine, rest


def cf8(bus: int, devfn: int, reg: int) -> int:
    return 0x80000000 | bus << 16 | devfn << 8 | reg


@unittest.skipUnless(qemu_available(), "build/qemu-system-x86_64 not built (run ./calgary setup)")
class GenericFuzzConfig(unittest.TestCase):
    def test_config_puts_each_dma_device_behind_its_own_phb(self):
        machine, args = split_machine(fuzz_config_args())
        self.assertTrue(machine.startswith("calgary"), machine)
        m = Machine(machine=machine, args=args)
        try:
            found = {}
            for bus in m.qmp_cmd("query-pci"):
                for dev in bus["devices"]:
                    for name, (vid, did) in WANTED.items():
                        if (dev["id"]["vendor"], dev["id"]["device"]) == (vid, did):
                            found[name] = (dev["bus"], dev["slot"] << 3 | dev["function"])
            self.assertEqual(set(found), set(WANTED), "devices of the fuzz config")
            buses = {b for b, _ in found.values()}
            self.assertEqual(len(buses), 3, f"one PHB per device: {found}")
            self.assertLessEqual(buses, PHB_BUSES, f"devices on PHB root buses: {found}")
            # the patched harness's config access: bus in bits 23..16
            # (paused: the firmware uses 0xCF8 too; the fuzzer runs no CPU)
            with m.paused():
                for name, (bus, devfn) in found.items():
                    m.outl(0xCF8, cf8(bus, devfn, 0))
                    vid_did = m.inl(0xCFC)
                    self.assertEqual(vid_did, WANTED[name][1] << 16 | WANTED[name][0], name)
        finally:
            m.close()


def reproducers() -> list[Path]:
    return sorted(REGRESSIONS.glob("*.qtest")) if REGRESSIONS.is_dir() else []


@unittest.skipUnless(qemu_available(), "build/qemu-system-x86_64 not built (run ./calgary setup)")
class FuzzRegressions(unittest.TestCase):
    """Each file: '# args: <qemu args>' then one qtest command per line."""

    def test_reproducers_leave_qemu_alive(self):
        files = reproducers()
        if not files:
            self.skipTest("the fuzz campaign has found no crash yet (hw-tests/fuzz/regressions/ is empty)")
        for path in files:
            with self.subTest(path.name):
                lines = path.read_text().splitlines()
                args = next((shlex.split(ln.split(":", 1)[1]) for ln in lines if ln.startswith("# args:")), [])
                machine, rest = split_machine(args)
                m = Machine(machine=machine, args=rest)
                try:
                    for ln in lines:
                        if ln.strip() and not ln.startswith("#"):
                            try:
                                m.cmd_(ln.strip())
                            except QtestError as e:
                                # a command QEMU answers with FAIL is fine; a dead QEMU is not
                                if m.proc.poll() is not None:
                                    raise
                                self.assertIn("FAIL", str(e))
                    self.assertIsNone(m.proc.poll(), "QEMU exited: " + m.output())
                    self.assertEqual(m.qmp_cmd("query-status")["status"], "running")
                finally:
                    m.close()


if __name__ == "__main__":
    unittest.main()
