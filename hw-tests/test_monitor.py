"""What a QEMU user sees of the Calgary machine: HMP `info calgary`, the
machine options' help text, and the `-d guest_errors` / `-d unimp` lines
(docs: c-shim/docs/calgary.rst)."""

import re
import subprocess
import unittest

from machine import QEMU, bus_of, phb_reg, qemu_available, run_qemu, PHB_CONFIG
from test_calgary_hw import CalgaryMachine, tce

# One `info calgary` line: bus name, chip, PHB, bus number, then the
# model's summary (translation state, TAR, CSR, counters).
INFO_LINE = re.compile(
    r"calgary(\d+)\.(\d+): chip (\d+) \((calgary|calioc2), BBAR 0x([0-9a-f]{8})\) "
    r"PHB (\d+) bus 0x([0-9a-f]{2}) translation=(on|off|slot-disabled) "
    r"tar=0x[0-9a-f]+ csr=0x([0-9a-f]{8}) plssr=0x[0-9a-f]{8} "
    r"translations=(\d+) hits=\d+ misses=\d+ stale-hits=\d+ tce-fetches=\d+ "
    r"flushes=\d+ blocked=(\d+) bypassed=\d+ window=\d+")

BBARS = [0xFEF00000, 0xFF000000, 0xFF100000, 0xFF200000]


def needs_qemu(cls):
    return unittest.skipUnless(qemu_available(),
                               "build/qemu-system-x86_64 is not built (run ./calgary setup)")(cls)


def monitor_stdio(machine, commands, timeout=30):
    """Run QEMU stopped (-S) with the monitor on stdio, feed it HMP lines,
    return what it printed."""
    p = subprocess.run([QEMU, "-machine", machine, "-monitor", "stdio", "-display", "none",
                        "-S", "-nodefaults"],
                       input=("\n".join(commands) + "\nquit\n").encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace")


@needs_qemu
class InfoCalgary(unittest.TestCase):
    """HMP `info calgary`: one line per PHB, every PHB, in order."""

    def check_lines(self, chips, variant="calgary"):
        rc, out = monitor_stdio("calgary,chips=%d,variant=%s" % (chips, variant),
                                ["info calgary"])
        self.assertEqual(rc, 0, out)
        lines = INFO_LINE.findall(out)
        self.assertEqual(len(lines), 4 * chips, out)
        want = [(c, p) for c in range(chips) for p in range(4)]
        got = [(int(m[0]), int(m[1])) for m in lines]
        self.assertEqual(got, want, "one line per PHB, chip and PHB order")
        for (c, p), m in zip(want, lines):
            self.assertEqual(int(m[2]), c)
            self.assertEqual(m[3], variant)
            self.assertEqual(int(m[4], 16), BBARS[c])
            self.assertEqual(int(m[5]), p)
            self.assertEqual(int(m[6], 16), bus_of(c, p))
            self.assertEqual(m[7], "off", "reset state: translation off")
            self.assertEqual(m[8], "00000000", "reset state: no error latched")
            self.assertEqual((m[9], m[10]), ("0", "0"))
        return out

    def test_one_line_per_phb_one_chip(self):
        self.check_lines(1)

    def test_one_line_per_phb_two_chips(self):
        self.check_lines(2)

    def test_calioc2_shows_page_migration_state(self):
        out = self.check_lines(1, "calioc2")
        self.assertEqual(out.count("page-migration=running"), 4, out)

    def test_without_chips_says_so(self):
        rc, out = monitor_stdio("calgary,chips=0", ["info calgary"])
        self.assertEqual(rc, 0, out)
        self.assertIn("No Calgary PHBs", out)
        self.assertEqual(INFO_LINE.findall(out), [])

    def test_help_lists_the_command(self):
        rc, out = monitor_stdio("calgary", ["help info"])
        self.assertRegex(out, r"info calgary\s+-- show the Calgary IOMMU PHBs")

    def test_state_after_dma_and_fault(self):
        m = CalgaryMachine(phb=1)
        try:
            m.edu_setup()
            m.program_tar(0)
            m.set_tce(0x100, tce(0x03000000))
            m.enable()
            m.ram_to_edu(0x100000)
            m.ram_to_edu(0x100000)
            m.edu_to_ram(0x300000)                  # unmapped: blocked, latched
            out = m.hmp("info calgary")
            lines = {(int(x[0]), int(x[1])): x for x in INFO_LINE.findall(out)}
            self.assertEqual(len(lines), 4, out)
            l1 = lines[(0, 1)]
            self.assertEqual(l1[7], "on")
            self.assertEqual(int(l1[9]), 2, out)
            self.assertEqual(int(l1[10]), 1, out)
            self.assertEqual(int(l1[8], 16), m.csr())
            self.assertNotEqual(m.csr(), 0)
            self.assertIn("last-fault=[write by 24:01.0 at 0x300000: TCE not valid", out)
            self.assertEqual(lines[(0, 0)][7], "off", "other PHBs untouched")
            # The guest clears CSR (Linux's watchdog) and disables the slot:
            # the line keeps the fault and shows the slot disabled.
            m.reg_write(0, phb_reg(1, 0x110), 0)
            cfg = m.reg_read(0, phb_reg(1, PHB_CONFIG))
            m.reg_write(0, phb_reg(1, PHB_CONFIG), cfg | 0x1C000000)
            out = m.hmp("info calgary")
            l1 = [x for x in INFO_LINE.findall(out) if x[1] == "1"][0]
            self.assertEqual(l1[7], "slot-disabled")
            self.assertEqual(l1[8], "00000000")
            self.assertIn("last-fault=[write by 24:01.0 at 0x300000", out)
            # The QOM stats property is the same summary.
            stats = m.qom_get("/machine/calgary0/phb1", "stats")
            self.assertTrue(stats.startswith("bus=0x24 translation=slot-disabled "), stats)
        finally:
            m.close()


@needs_qemu
class MachineHelp(unittest.TestCase):
    """`-machine calgary,help` explains every option the calgary machine adds."""

    OPT = re.compile(r"(?m)^\s+([\w.-]+)=<[^>]*>(?:\s+- (.*))?$")

    def options(self, machine):
        rc, out = run_qemu(["-machine", machine + ",help"])
        self.assertEqual(rc, 0, out)
        opts = {name: (desc or "").strip() for name, desc in self.OPT.findall(out)}
        self.assertTrue(opts, out)
        return opts

    def test_every_calgary_option_has_a_description(self):
        ours = self.options("calgary")
        parent = self.options("pc-i440fx-10.0")
        added = sorted(set(ours) - set(parent))
        for name in ("chips", "variant", "tce-cache", "tce-cache-entries",
                     "tce-cache-ways", "tce-cache-line", "tce-block"):
            self.assertIn(name, added)
        for name in added:
            with self.subTest(option=name):
                self.assertGreaterEqual(len(ours[name]), 20,
                                        "option %s has no real description" % name)

    def test_descriptions_name_defaults_and_accepted_values(self):
        ours = self.options("calgary")
        self.assertIn("calgary", ours["variant"])
        self.assertIn("calioc2", ours["variant"])
        for word in ("off", "coherent", "faithful"):
            self.assertIn(word, ours["tce-cache"])
        self.assertIn("default", ours["chips"])


@needs_qemu
class LogLines(unittest.TestCase):
    """-d guest_errors / -d unimp: the model's records, one line each."""

    def test_guest_errors_name_chip_register_and_dma(self):
        m = CalgaryMachine(phb=0, extra=["-d", "guest_errors,unimp"])
        try:
            m.edu_setup()
            m.program_tar(0)
            m.enable()
            m.edu_to_ram(0x300000)
            m.reg_write(0, phb_reg(1, 0x290), 1)           # CSMR: read-only
            m.reg_read(0, 0x8DA8)                          # PMCR: CalIOC2 only
            m.reg_write(0, 0x108, 0xE << 40, size=8)       # CALGARY_CONFIG: stored only
            log = m.guest_log()
            self.assertRegex(log, r"(?m)^calgary0: PHB 0 blocked DMA write by 20:01\.0 at "
                                  r"IO address 0x300000: TCE not valid .*\(CSR 0x[0-9a-f]{8}\)$")
            self.assertRegex(log, r"(?m)^calgary0: write to read-only register: write of size 4 "
                                  r"at offset 0x9290 \(CSMR of PHB 1\)$")
            self.assertRegex(log, r"(?m)^calgary0: unknown register offset: read of size 4 "
                                  r"at offset 0x8da8$")
            self.assertRegex(log, r"(?m)^calgary0: CALGARY_CONFIG written \(0xe0000000000\): "
                                  r"stored only, not emulated$")
        finally:
            m.close()

    def test_only_the_classes_asked_for(self):
        # -d unimp without guest_errors: the blocked DMA and the bad register
        # access are not logged, the stored-only write is.
        m = CalgaryMachine(phb=0, extra=["-d", "unimp"])
        try:
            m.edu_setup()
            m.program_tar(0)
            m.enable()
            m.edu_to_ram(0x300000)
            m.reg_write(0, phb_reg(1, 0x290), 1)
            m.reg_write(0, 0x108, 0xE << 40, size=8)
            self.assertNotEqual(m.csr(), 0, "the DMA was blocked")
            log = m.guest_log()
            self.assertIn("calgary0: CALGARY_CONFIG written", log)
            self.assertNotIn("blocked DMA", log)
            self.assertNotIn("read-only register", log)
        finally:
            m.close()


if __name__ == "__main__":
    unittest.main()
