"""Platform layouts of the Calgary machine (shared spec calgary-hardware.md
§1, §2; linux-driver-history.md), as firmware and each kernel era see them:

* bus0-phb=on: bus 0 is chip 0 PHB 0, its function 00:00.0, bus-0 DMA goes
  through that PHB (what Linux 2.6.18-2.6.23 assume for every device,
  and what 2.6.27 needs for coherent DMA on bus 0);
* layout=legacy: PHB functions at devfn 0 of buses 1..4 and the registers
  where Linux 2.6.18/2.6.19 compute them from the bus number.

Each test boots the built QEMU under TCG with the qtest protocol, so
SeaBIOS really runs: it assigns BARs, fills the EBDA and must cope with the
layout.
"""

import os
import struct
import tempfile
import time
import unittest

from machine import (CSR, PHB_CONFIG, PLSSR, TCE_ENABLE, Machine, phb_reg,
                     qemu_available, run_qemu, stuff_off, tar_off)

TABLE = 0x01000000        # TCE table in guest RAM (32 KiB aligned)
EDU_BUF = 0x40000         # edu's buffer as seen from its own DMA engine
LINUX_ERROR_BITS = 0xFFE0FFFF
IBM_CALGARY = 0x02A11014
I440FX = 0x12378086
PIIX3_ISA = 0x70008086
NB_DEVFN = 0xF8           # 00:1f.0, where the 82441 goes with bus0-phb=on
LEGACY_BBAR = 0xFDA00000
WINDOW = 0x100000


def tce(phys, read=True, write=True):
    return (phys & 0x0000FFFFFFFFF000) | (1 if read else 0) | (2 if write else 0)


def pattern(seed, n=4096):
    return bytes((seed * 131 + i * 7 + (i >> 8)) & 0xFF for i in range(n))


def kernel_2_6_18_bbar(bus):
    """locate_register_space() of Linux 2.6.18 (2.6.19: 14 instead of 15)."""
    return 0xFE000000 - 0x800000 * (1 + bus // 15) + 0x100000 * (3 if bus % 15 > 4 else 2)


def kernel_2_6_19_bbar(bus):
    return 0xFE000000 - 0x800000 * (1 + bus // 14) + 0x100000 * (3 if bus % 14 > 4 else 2)


def needs_qemu(cls):
    return unittest.skipUnless(qemu_available(),
                               "build/qemu-system-x86_64 is not built (run ./calgary setup)")(cls)


class LayoutMachine(Machine):
    """A Calgary machine with edu at `edu_bus`:`edu_slot`, registers of chip
    0 at `bbar`, and the DMA of edu going through chip 0 PHB `phb`."""

    def __init__(self, machine_opts, edu_bus_name, edu_bus, edu_slot, phb, bbar, extra=(), **kw):
        args = ["-device", "edu,bus=%s,addr=%d,dma_mask=0xffffffff" % (edu_bus_name, edu_slot)]
        super().__init__(machine="calgary," + machine_opts, args=args + list(extra), **kw)
        self.bus = edu_bus
        self.devfn = edu_slot << 3
        self.phb = phb
        self.bbar = bbar
        self.edu_bar = None

    def reg_read(self, chip, off, size=4):
        assert chip == 0
        return self._swap(self.read(self.bbar + off, size), size)

    def reg_write(self, chip, off, val, size=4):
        assert chip == 0
        self.write(self.bbar + off, size, self._swap(val & ((1 << 8 * size) - 1), size))

    def ebda_rio(self, timeout=60):
        """Waits for the Rio table (our option ROM runs after PCI setup) and
        returns its BBARs, read as Linux reads it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            seg = struct.unpack("<H", self.memread(0x40E, 2))[0]
            if seg and struct.unpack("<H", self.memread((seg << 4) + 0x182, 2))[0] == 0x4752:
                hdr = (seg << 4) + 0x184
                version, nscal, nrio = self.memread(hdr, 3)
                p = hdr + 3 + 12 * nscal
                out = []
                for _ in range(nrio):
                    node, bbar, typ = struct.unpack("<BIB", self.memread(p, 6))
                    out.append((bbar, typ))
                    p += 15
                return version, out
            time.sleep(0.1)
        raise AssertionError("no Rio table in the EBDA after %d s" % timeout)

    def edu_setup(self, timeout=60):
        self.ebda_rio(timeout)
        deadline = time.time() + timeout
        while time.time() < deadline:
            bar = self.cfg_read(self.bus, self.devfn, 0x10) & ~0xF
            cmd = self.cfg_read(self.bus, self.devfn, 0x04) & 0xFFFF
            if bar and (cmd & 2):
                self.edu_bar = bar
                self.cfg_write16(self.bus, self.devfn, 0x04, cmd | 0x6)
                return bar
            time.sleep(0.5)
        raise AssertionError("SeaBIOS did not enable edu's BAR within %d s" % timeout)

    def edu_dma(self, src, dst, count, to_ram):
        b = self.edu_bar
        self.writeq(b + 0x80, src)
        self.writeq(b + 0x88, dst)
        self.writeq(b + 0x90, count)
        self.writeq(b + 0x98, 0x1 | (0x2 if to_ram else 0))
        deadline = time.time() + 10
        while self.readq(b + 0x98) & 1:
            if time.time() > deadline:
                raise AssertionError("edu DMA did not complete")
            time.sleep(0.02)

    def ram_to_edu(self, io_addr, count=4096):
        self.edu_dma(io_addr, EDU_BUF, count, to_ram=False)

    def edu_to_ram(self, io_addr, count=4096):
        self.edu_dma(EDU_BUF, io_addr, count, to_ram=True)

    def program_tar(self, phb, size_code=0, table=TABLE):
        self.reg_write(0, tar_off(phb), table | size_code, size=8)

    def set_tce(self, index, value, table=TABLE):
        self.memwrite(table + 8 * index, struct.pack(">Q", value))

    def enable(self, phb):
        cfg = self.reg_read(0, phb_reg(phb, PHB_CONFIG))
        self.reg_write(0, phb_reg(phb, PHB_CONFIG), cfg | TCE_ENABLE)

    def stat(self, phb, name):
        return self.qom_get("/machine/calgary0/phb%d" % phb, name)

    def scan_devfn0(self, buses=range(256)):
        """Linux's early scan: vendor/device at devfn 0 of every bus."""
        with self.paused():
            return {b: self.cfg_read(b, 0, 0) for b in buses}

    def fw_cfg_file(self, name):
        with self.paused():
            self.outw(0x510, 0x19)
            raw = bytes(int(self.cmd_("inb 0x511"), 16) for _ in range(4))
            count = struct.unpack(">I", raw)[0]
            for _ in range(count):
                ent = bytes(int(self.cmd_("inb 0x511"), 16) for _ in range(64))
                size, sel = struct.unpack(">IH", ent[:6])
                fname = ent[8:].split(b"\0")[0].decode()
                if fname == name:
                    self.outw(0x510, sel)
                    return bytes(int(self.cmd_("inb 0x511"), 16) for _ in range(size))
        raise AssertionError("fw_cfg has no %s" % name)

    def e820(self):
        raw = self.fw_cfg_file("etc/e820")
        return [struct.unpack("<QQI", raw[i:i + 20]) for i in range(0, len(raw), 20)]

    def memory_bars(self, buses):
        """(bus, devfn, bar, base, size) of every memory BAR SeaBIOS assigned."""
        out = []
        with self.paused():
            for bus in buses:
                for devfn in range(256):
                    if self.cfg_read(bus, devfn, 0) & 0xFFFF == 0xFFFF:
                        continue
                    regs = list(range(0x10, 0x28, 4)) + [0x30]
                    for reg in regs:
                        v = self.cfg_read(bus, devfn, reg)
                        if reg != 0x30 and v & 1:
                            continue                     # I/O BAR
                        self.cfg_write(bus, devfn, reg, 0xFFFFFFFF)
                        sz = self.cfg_read(bus, devfn, reg)
                        self.cfg_write(bus, devfn, reg, v)
                        mask = 0xFFFFF800 if reg == 0x30 else 0xFFFFFFF0
                        if sz & mask == 0:
                            continue
                        size = (~(sz & mask) & 0xFFFFFFFF) + 1
                        base = v & mask
                        if base:
                            out.append((bus, devfn, reg, base, size))
        return out


def bus0_machine(**kw):
    return LayoutMachine("bus0-phb=on", "pci.0", 0, 5, phb=0, bbar=0xFEF00000, **kw)


@needs_qemu
class Bus0Firmware(unittest.TestCase):
    """bus0-phb=on: what firmware and Linux's early scan see."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="calgary-bus0-")
        cls.bios_log = os.path.join(cls.dir, "seabios.log")
        cls.m = bus0_machine(extra=["-chardev", "file,id=dbg,path=" + cls.bios_log,
                                    "-device", "isa-debugcon,iobase=0x402,chardev=dbg"])
        cls.m.edu_setup()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        if os.path.exists(cls.bios_log):
            os.unlink(cls.bios_log)
        os.rmdir(cls.dir)

    def test_seabios_detects_qemu_and_finds_the_82441(self):
        """SeaBIOS reads 00:00.0's subsystem ID to detect QEMU and looks for
        the 82441 on the whole bus (shadow RAM, SMM, PCI hole)."""
        with open(self.bios_log, errors="replace") as f:
            log = f.read()
        self.assertIn("Running on QEMU (unknown nb: 1014:02a1)", log)
        self.assertIn("PCI: init bdf=00:1f.0 id=8086:1237", log)
        self.assertNotIn("Unable to unlock ram", log)
        self.assertNotIn("bridge not found", log)

    def test_phb_function_is_00_00_0_and_i440fx_moved(self):
        """§1: 1014:02a1, class host bridge, at devfn 0 of bus 0 (every
        kernel decides which buses get a TCE table by reading devfn 0 only);
        the 82441 answers at 00:1f.0 and the PIIX3 keeps 00:01.0."""
        m = self.m
        self.assertEqual(m.cfg_read(0, 0, 0), IBM_CALGARY)
        self.assertEqual(m.cfg_read(0, 0, 8) >> 16, 0x0600)
        self.assertEqual(m.cfg_read(0, 0, 0x2C), 0x11001AF4,
                         "subsystem 1af4:1100: SeaBIOS still detects QEMU at 00:00.0")
        self.assertEqual(m.cfg_read(0, NB_DEVFN, 0), I440FX)
        self.assertEqual(m.cfg_read(0, 0x08, 0), PIIX3_ISA)

    def test_early_scan_finds_bus0_and_other_phbs(self):
        """Linux's devfn-0 scan: PHB functions on bus 0 and on 0x24/0x28/0x2c;
        the old PHB 0 bus 0x20 is gone."""
        found = [b for b, v in self.m.scan_devfn0().items() if v == IBM_CALGARY]
        self.assertEqual(found, [0x00, 0x24, 0x28, 0x2C])

    def test_stuff_of_phb0_names_bus0(self):
        """§2: PHB 0's STUFF gives first bus 0 (and 2.6.20-2.6.22's start..=end
        walk visits exactly bus 0); PHBs 1..3 keep their buses."""
        v = self.m.reg_read(0, stuff_off(0))
        self.assertEqual((v >> 16) & 0xFF, 0)
        self.assertEqual((v >> 8) & 0xFF, 0)
        for phb, bus in ((1, 0x24), (2, 0x28), (3, 0x2C)):
            self.assertEqual((self.m.reg_read(0, stuff_off(phb)) >> 16) & 0xFF, bus)
        self.assertEqual(self.m.stat(0, "bus-nr"), 0)

    def test_rio_entry_names_the_chip(self):
        """§2: one COMPAT_CALGARY entry whose BBAR holds the STUFF above."""
        version, entries = self.m.ebda_rio()
        self.assertEqual(version, 3)
        self.assertEqual(entries, [(0xFEF00000, 4)])

    def test_firmware_assigned_bus0_bars(self):
        """SeaBIOS set up bus 0 with the PHB at 00:00.0: edu on 00:05.0 has
        its BAR and memory decoding."""
        self.assertTrue(self.m.edu_bar)
        self.assertEqual(self.m.cfg_read(0, 5 << 3, 0) & 0xFFFF, 0x1234)


@needs_qemu
class Bus0Dma(unittest.TestCase):
    """bus0-phb=on: bus-0 DMA goes through PHB 0's IOMMU address space."""

    def setUp(self):
        self.m = bus0_machine()
        self.m.edu_setup()

    def tearDown(self):
        self.m.close()

    def test_bypass_at_reset_so_firmware_dma_passes(self):
        m = self.m
        data = pattern(3)
        m.memwrite(0x03200000, data)
        m.memset(0x03201000, 4096, 0)
        m.ram_to_edu(0x03200000)
        m.edu_to_ram(0x03201000)
        self.assertEqual(m.memread(0x03201000, 4096), data)
        self.assertEqual(m.stat(0, "stat-bypassed"), 2)
        self.assertEqual(m.stat(0, "stat-translations"), 0)

    def test_translated_through_phb0_tces(self):
        m = self.m
        src, dst = 0x03000000, 0x03002000
        m.program_tar(0)
        m.set_tce(0x200, tce(src, read=True, write=False))
        m.set_tce(0x202, tce(dst))
        m.enable(0)
        m.memwrite(src, pattern(1))
        m.memset(dst, 4096, 0)
        m.ram_to_edu(0x200000)
        m.edu_to_ram(0x202000)
        self.assertEqual(m.memread(dst, 4096), pattern(1))
        self.assertEqual(m.stat(0, "stat-translations"), 2)
        self.assertEqual(m.reg_read(0, phb_reg(0, CSR)) & LINUX_ERROR_BITS, 0)
        self.assertEqual(m.stat(1, "stat-translations"), 0, "PHB 1 untouched")

    def test_unmapped_is_blocked_memory_intact_requester_bus0(self):
        m = self.m
        m.program_tar(0)
        m.set_tce(0x210, tce(0x03100000, read=True, write=False))
        m.enable(0)
        m.memwrite(0x03100000, pattern(7))
        m.ram_to_edu(0x210000)
        victim = pattern(9)
        m.memwrite(0x300000, victim)
        m.edu_to_ram(0x300000)                    # no TCE at index 0x300
        self.assertEqual(m.memread(0x300000, 4096), victim)
        csr = m.reg_read(0, phb_reg(0, CSR))
        self.assertNotEqual(csr & LINUX_ERROR_BITS, 0)
        self.assertEqual(csr & 0xFFFF, 0x0000 | (5 << 3), "requester 00:05.0")
        self.assertEqual(m.reg_read(0, phb_reg(0, PLSSR)), 0x300000)
        self.assertGreaterEqual(m.stat(0, "stat-blocked"), 1)
        self.assertRegex(m.guest_log(), r"PHB 0 blocked DMA write by 00:05\.0 at IO address 0x300000")


    def test_msi_passes_untranslated_with_translation_on(self):
        """MSI writes (0xfee00000..) from a bus-0 device reach the interrupt
        controller: with translation on and an empty table they would be
        blocked (beyond the table) if they went through the TCEs."""
        m = self.m
        m.program_tar(0)
        m.enable(0)
        cap = m.cfg_read(0, m.devfn, 0x34) & 0xFF
        while cap and m.cfg_read(0, m.devfn, cap) & 0xFF != 0x05:
            cap = (m.cfg_read(0, m.devfn, cap) >> 8) & 0xFC
        self.assertTrue(cap, "edu has an MSI capability")
        ctl = m.cfg_read(0, m.devfn, cap) >> 16
        self.assertTrue(ctl & 0x80, "edu's MSI is 64-bit capable")
        m.cfg_write(0, m.devfn, cap + 8, 0)
        m.cfg_write(0, m.devfn, cap + 12, 0x0041)
        m.cfg_write16(0, m.devfn, cap + 2, ctl | 1)
        self.assertTrue(m.cfg_read(0, m.devfn, cap) >> 16 & 1, "MSI enabled")

        def msi_to(addr):
            m.cfg_write(0, m.devfn, cap + 4, addr)
            m.writel(m.edu_bar + 0x60, 1)        # raise edu's interrupt: an MSI
            m.writel(m.edu_bar + 0x64, 1)        # and acknowledge it
            return m.reg_read(0, phb_reg(0, CSR)) & LINUX_ERROR_BITS

        # Control: an MSI aimed at an unmapped IO page is a device write
        # through PHB 0 and is blocked (so the MSI really goes out).
        self.assertNotEqual(msi_to(0x00300000), 0)
        self.assertEqual(m.reg_read(0, phb_reg(0, PLSSR)), 0x300000)
        m.reg_write(0, phb_reg(0, CSR), 0)
        blocked = m.stat(0, "stat-blocked")
        self.assertEqual(msi_to(0xFEE00000), 0, "MSI to the LAPIC range passes")
        self.assertEqual(m.stat(0, "stat-blocked"), blocked)


def legacy_machine(bus0=False, **kw):
    opts = "layout=legacy" + (",bus0-phb=on" if bus0 else "")
    # edu on the bus of PHB 1, where a 2.6.18 kernel finds it
    return LayoutMachine(opts, "calgary0.1", 1 if bus0 else 2, 1, phb=1, bbar=LEGACY_BBAR, **kw)


@needs_qemu
class LegacyLayout(unittest.TestCase):
    """layout=legacy: what Linux 2.6.18/2.6.19 compute, and the firmware."""

    @classmethod
    def setUpClass(cls):
        cls.m = legacy_machine()
        cls.m.edu_setup()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def test_phb_functions_at_devfn0_of_buses_1_to_4(self):
        scan = self.m.scan_devfn0(range(128))
        self.assertEqual([b for b, v in scan.items() if v == IBM_CALGARY], [1, 2, 3, 4])
        self.assertEqual(scan[0], I440FX, "bus 0 unchanged")

    def test_registers_where_both_formulas_land(self):
        """For each PHB bus the 2.6.18 and 2.6.19 formulas give 0xfda00000,
        and the PHB the kernel numbers by ordinal has that bus in STUFF."""
        for ordinal, bus in enumerate([1, 2, 3, 4]):
            self.assertEqual(kernel_2_6_18_bbar(bus), LEGACY_BBAR)
            self.assertEqual(kernel_2_6_19_bbar(bus), LEGACY_BBAR)
            stuff = self.m.reg_read(0, stuff_off(ordinal % 4))
            self.assertEqual((stuff >> 16) & 0xFF, bus)
        self.assertEqual(self.m.reg_read(0, 0x4870, 8) >> 56, 0xFF, "split queue idle")

    def test_window_e820_reserved_and_no_bar_on_it(self):
        entries = self.m.e820()
        self.assertTrue(any(a <= LEGACY_BBAR and LEGACY_BBAR + WINDOW <= a + l and t == 2
                            for a, l, t in entries), entries)
        self.assertFalse(any(t == 1 and a < LEGACY_BBAR + WINDOW and LEGACY_BBAR < a + l
                             for a, l, t in entries), "window overlaps RAM")
        bars = self.m.memory_bars([0, 1, 2, 3, 4])
        self.assertTrue(any(b[0] == 2 for b in bars), "edu on bus 2 has a BAR: %r" % bars)
        for bus, devfn, reg, base, size in bars:
            self.assertTrue(base + size <= LEGACY_BBAR or base >= LEGACY_BBAR + WINDOW,
                            "BAR %02x:%02x reg 0x%x at 0x%x+0x%x covers the window"
                            % (bus, devfn, reg, base, size))

    def test_rio_table_describes_the_same_window(self):
        """Legacy and Rio coexist: 2.6.20+ read the Rio table and STUFF."""
        self.assertEqual(self.m.ebda_rio()[1], [(LEGACY_BBAR, 4)])


@needs_qemu
class LegacyFourChips(unittest.TestCase):
    """layout=legacy,chips=4: every PHB where the 2.6.18 scan, ordinal and
    both formulas put it; every window E820 reserved, in the Rio table."""

    def test_four_chips(self):
        buses = [[1, 2, 3, 4], [5, 6, 7, 8], [15, 16, 17, 18], [20, 21, 22, 23]]
        m = LayoutMachine("layout=legacy,chips=4", "calgary3.3", 23, 1, phb=3,
                          bbar=0xFD300000)
        try:
            m.edu_setup()
            scan = m.scan_devfn0(range(128))
            found = [b for b, v in scan.items() if v == IBM_CALGARY]
            self.assertEqual(found, sum(buses, []))
            bbars = sorted({kernel_2_6_18_bbar(b) for b in found})
            self.assertEqual(bbars, sorted({kernel_2_6_19_bbar(b) for b in found}))
            self.assertEqual(bbars, [0xFD200000, 0xFD300000, 0xFDA00000, 0xFDB00000])
            _, rio = m.ebda_rio()
            self.assertEqual([b for b, _ in rio], [0xFDA00000, 0xFDB00000, 0xFD200000, 0xFD300000])
            e820 = m.e820()
            for i, bus in enumerate(found):
                bbar = kernel_2_6_18_bbar(bus)
                stuff = m._swap(m.read(bbar + stuff_off(i % 4), 4), 4)
                self.assertEqual((stuff >> 16) & 0xFF, bus, "bus %d: PHB %d at 0x%x" % (bus, i % 4, bbar))
                self.assertTrue(any(a <= bbar and bbar + WINDOW <= a + l and t == 2
                                    for a, l, t in e820), "0x%x not reserved" % bbar)
        finally:
            m.close()


@needs_qemu
class LegacyKernelReplay(unittest.TestCase):
    """A 2.6.18-style driver on the legacy layout, end to end: scan, ordinal,
    window from the formula, TAR, enable; edu's DMA then goes through the
    table that driver wrote."""

    def run_replay(self, bus0):
        m = legacy_machine(bus0=bus0)
        try:
            m.edu_setup()
            scan = m.scan_devfn0(range(128))
            phb_buses = [b for b, v in scan.items() if v == IBM_CALGARY]
            ordinal = {bus: i % 4 for i, bus in enumerate(phb_buses)}
            phb = ordinal[m.bus]
            self.assertEqual(phb, 1, "edu's bus is PHB 1 of the chip")
            bbar = kernel_2_6_18_bbar(m.bus)
            self.assertEqual(bbar, m.bbar)
            # calgary_setup_tar: read TAR, keep the non-software bits, add table
            tar = m.reg_read(0, tar_off(phb), 8)
            m.reg_write(0, tar_off(phb), (tar & ~0x0000FFFFFFFF800F) | TABLE | 0, size=8)
            m.set_tce(0x100, tce(0x03000000))
            m.set_tce(0x101, tce(0x03001000))
            m.enable(phb)
            m.memwrite(0x03000000, pattern(4))
            m.memset(0x03001000, 4096, 0)
            m.ram_to_edu(0x100000)
            m.edu_to_ram(0x101000)
            self.assertEqual(m.memread(0x03001000, 4096), pattern(4))
            self.assertEqual(m.stat(phb, "stat-translations"), 2)
            self.assertEqual(m.stat(phb, "bus-nr"), m.bus)
            if bus0:
                self.assertEqual(phb_buses[:4], [0, 1, 2, 3])
                self.assertEqual(m.cfg_read(0, 0, 0), IBM_CALGARY)
        finally:
            m.close()

    def test_replay_2_6_18_driver(self):
        self.run_replay(bus0=False)

    def test_replay_2_6_18_driver_with_bus0_phb(self):
        self.run_replay(bus0=True)


@needs_qemu
class Options(unittest.TestCase):
    """Properties: described in -machine calgary,help; bad values and
    impossible combinations stop QEMU with one line."""

    def check_bad(self, opts, words, extra=()):
        rc, out = run_qemu(["-machine", "calgary," + opts, "-accel", "tcg", "-display", "none",
                            "-nodefaults", "-S"] + list(extra), timeout=30)
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(len(out.strip().splitlines()), 1, out)
        for w in words:
            self.assertIn(w, out)

    def test_help_describes_both_properties(self):
        rc, out = run_qemu(["-machine", "calgary,help"], timeout=30)
        self.assertEqual(rc, 0, out)
        lines = {l.split("=")[0].strip(): l for l in out.splitlines() if "=" in l}
        self.assertIn("bus0-phb", lines)
        self.assertIn("x366", lines["bus0-phb"])
        self.assertIn("layout", lines)
        self.assertIn("legacy", lines["layout"])

    def test_bad_layout(self):
        self.check_bad("layout=x366", ["layout", "rio, legacy"])

    def test_bad_bus0_phb(self):
        self.check_bad("bus0-phb=maybe", ["bus0-phb", "on", "off"])

    def test_bus0_phb_needs_a_chip(self):
        self.check_bad("bus0-phb=on,chips=0", ["bus0-phb", "chips"])

    def test_legacy_rejects_std_vga(self):
        """The std VGA's 16 MiB framebuffer lands at 0xfd000000, over
        0xfda00000: the firmware cannot keep it off the legacy window."""
        self.check_bad("layout=legacy", ["layout=legacy", "0xfda00000"], extra=["-vga", "std"])

    def test_rio_accepts_std_vga(self):
        with Machine(machine="calgary,bus0-phb=on", args=["-vga", "std"]) as m:
            self.assertEqual(m.cfg_read(0, 0, 0), IBM_CALGARY)
            self.assertEqual(m.qmp_cmd("query-status")["status"], "running")


if __name__ == "__main__":
    unittest.main()
