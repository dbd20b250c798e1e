"""Hardware tests of the Calgary machine, read as the hardware contract
(shared spec calgary-hardware.md, sections in each test's docstring).

Each test boots the built QEMU under TCG with the qtest protocol; SeaBIOS
runs, so the EBDA, BAR assignment and ACPI tables are real. DMA comes from
QEMU's `edu` test device behind a PHB, driven through its BAR.
"""

import os
import random
import struct
import tempfile
import time
import unittest

from machine import (BBAR, CSR, PHB_CONFIG, PLSSR, SLOT_DISABLE, TCE_ENABLE,
                     Machine, bus_of, phb_reg, qemu_available, run_qemu,
                     stuff_off, tar_off)

EDU_DEVFN = 0x08          # slot 1, function 0
TABLE = 0x01000000        # TCE table in guest RAM (32 KiB aligned)
EDU_BUF = 0x40000         # edu's buffer as seen from its own DMA engine
LINUX_ERROR_BITS = 0xFFE0FFFF


def tce(phys, read=True, write=True):
    return (phys & 0x0000FFFFFFFFF000) | (1 if read else 0) | (2 if write else 0)


class CalgaryMachine(Machine):
    """A Calgary machine with edu on calgary0.<phb>, slot 1."""

    def __init__(self, phb=0, machine_opts="", extra=(), **kw):
        mach = "calgary" + ("," + machine_opts if machine_opts else "")
        args = ["-device", "edu,bus=calgary0.%d,addr=1,dma_mask=0xffffffff" % phb] + list(extra)
        super().__init__(machine=mach, args=args, **kw)
        self.phb = phb
        self.bus = bus_of(0, phb)
        self.edu_bar = None

    def wait_bios(self, timeout=60):
        """Wait until SeaBIOS has assigned BARs: its option ROMs run after PCI
        setup, and ours leaves the Rio table (id 0x4752) at EBDA+0x180.
        Polling guest RAM needs no pause (config cycles do)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            seg = struct.unpack("<H", self.memread(0x40E, 2))[0]
            if seg and struct.unpack("<H", self.memread((seg << 4) + 0x182, 2))[0] == 0x4752:
                break
            time.sleep(0.1)
        while time.time() < deadline:
            bar = self.cfg_read(self.bus, EDU_DEVFN, 0x10) & ~0xF
            cmd = self.cfg_read(self.bus, EDU_DEVFN, 0x04) & 0xFFFF
            if bar and (cmd & 2):
                return bar
            time.sleep(0.5)
        raise AssertionError("SeaBIOS did not enable edu's BAR within %d s" % timeout)

    def edu_setup(self):
        self.edu_bar = self.wait_bios()
        cmd = self.cfg_read(self.bus, EDU_DEVFN, 0x04) & 0xFFFF
        self.cfg_write16(self.bus, EDU_DEVFN, 0x04, cmd | 0x6)   # memory + bus master
        # Wait until the BIOS has finished POST (EBDA filled) before DMA tests.
        return self.edu_bar

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

    # Calgary programming, as a driver does it.
    def program_tar(self, size_code=0, table=TABLE):
        self.reg_write(0, tar_off(self.phb), table | size_code, size=8)

    def set_tce(self, index, value, table=TABLE):
        self.memwrite(table + 8 * index, struct.pack(">Q", value))

    def enable(self, on=True):
        cfg = self.reg_read(0, phb_reg(self.phb, PHB_CONFIG))
        cfg = (cfg | TCE_ENABLE) if on else (cfg & ~TCE_ENABLE)
        self.reg_write(0, phb_reg(self.phb, PHB_CONFIG), cfg)

    def csr(self):
        return self.reg_read(0, phb_reg(self.phb, CSR))

    def stat(self, name):
        return self.qom_get("/machine/calgary0/phb%d" % self.phb, name)


def pattern(seed, n=4096):
    rnd = random.Random(seed)
    return bytes(rnd.getrandbits(8) for _ in range(n))


def needs_qemu(cls):
    return unittest.skipUnless(qemu_available(),
                               "build/qemu-system-x86_64 is not built (run ./calgary setup)")(cls)


@needs_qemu
class FirmwareView(unittest.TestCase):
    """§1, §2: what Linux sees before it touches a register."""

    @classmethod
    def setUpClass(cls):
        cls.m = CalgaryMachine(phb=0, machine_opts="chips=2")
        cls.m.edu_setup()
        time.sleep(1.0)   # let POST run the option ROMs

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def test_rio_table_in_ebda_points_at_bbars(self):
        """§2: segment at 0x40E, chain from EBDA+0x180, id 0x4752, v3 entries."""
        m = self.m
        seg = struct.unpack("<H", m.memread(0x40E, 2))[0]
        ebda = seg << 4
        self.assertGreaterEqual(ebda, 0x80000)
        off, prev, hdr = 0x180, 0, None
        while off > prev:
            nxt, ident = struct.unpack("<HH", m.memread(ebda + off, 4))
            if ident == 0x4752:
                hdr = ebda + off + 4
                break
            prev, off = off, nxt
        self.assertIsNotNone(hdr, "no Rio Grande table in the EBDA chain")
        version, nscal, nrio = m.memread(hdr, 3)
        self.assertEqual(version, 3)
        self.assertEqual(nscal, 1, "exactly one scalability entry")
        self.assertEqual(nrio, 2)
        p = hdr + 3 + 12 * nscal
        bbars = []
        for _ in range(nrio):
            e = m.memread(p, 15)
            node, bbar, typ = struct.unpack("<BIB", e[:6])
            self.assertEqual(typ, 4, "COMPAT_CALGARY")
            bbars.append(bbar)
            p += 15
        self.assertEqual(sorted(bbars), BBAR[:2])

    def test_stuff_gives_each_phb_its_bus(self):
        """§2: PHB debug STUFF bits 23..16 = first bus, bits 15..8 = last bus,
        and a single-bus PHB reports last = first (2.6.20-2.6.22 walk
        start..=end and oops on an end byte of 0)."""
        for chip in range(2):
            for phb in range(4):
                v = self.m.reg_read(chip, stuff_off(phb))
                self.assertEqual((v >> 16) & 0xFF, bus_of(chip, phb))
                self.assertEqual((v >> 8) & 0xFF, bus_of(chip, phb), "last = first: 0x%08x" % v)
                self.assertEqual(v & 0xFF0000FF, 0, "only the two bus bytes: 0x%08x" % v)

    def test_early_config_cycles_find_phb_function_only_on_phb_buses(self):
        """§1: type-1 config cycles on buses 0..255 see 1014:02a1 exactly on PHB buses."""
        found = []
        with self.m.paused():
            for bus in range(256):
                v = self.m.cfg_read(bus, 0, 0)
                if v == 0x02A11014:
                    found.append(bus)
                    cls = self.m.cfg_read(bus, 0, 8) >> 16
                    self.assertEqual(cls, 0x0600, "host bridge class")
        self.assertEqual(found, [bus_of(c, p) for c in range(2) for p in range(4)])

    def test_bbar_is_e820_reserved(self):
        """§2 model decision: each BBAR window is an E820 reserved range."""
        e820 = self.m_fw_cfg_file("etc/e820")
        entries = [struct.unpack("<QQI", e820[i:i + 20]) for i in range(0, len(e820), 20)]
        for bbar in BBAR[:2]:
            self.assertTrue(any(a <= bbar and bbar + 0x100000 <= a + l and t == 2
                                for a, l, t in entries), "BBAR 0x%x not reserved: %r" % (bbar, entries))
            self.assertFalse(any(t == 1 and a < bbar + 0x100000 and bbar < a + l
                                 for a, l, t in entries), "BBAR overlaps RAM")

    def test_dsdt_has_a_host_bridge_per_phb(self):
        """§1: each PHB bus is a PNP0A03 host bridge with _BBN in the DSDT."""
        dsdt = self.find_dsdt()
        for c in range(2):
            for p in range(4):
                name = b"PC%02X" % bus_of(c, p)
                self.assertIn(name, dsdt, "no \\_SB.%s in the DSDT" % name.decode())
        self.assertIn(b"_BBN", dsdt)
        self.assertIn(b"_PRT", dsdt)
        self.assertIn(b"_CRS", dsdt)

    # -- helpers -------------------------------------------------------
    def m_fw_cfg_file(self, name):
        m = self.m
        m.outw(0x510, 0x19)
        raw = bytes(int(m.cmd_("inb 0x511"), 16) for _ in range(4))
        count = struct.unpack(">I", raw)[0]
        for _ in range(count):
            ent = bytes(int(m.cmd_("inb 0x511"), 16) for _ in range(64))
            size, sel = struct.unpack(">IH", ent[:6])
            fname = ent[8:].split(b"\0")[0].decode()
            if fname == name:
                m.outw(0x510, sel)
                return bytes(int(m.cmd_("inb 0x511"), 16) for _ in range(size))
        self.fail("fw_cfg has no %s" % name)

    def find_dsdt(self):
        m = self.m
        area = m.memread(0xE0000, 0x20000)
        i = area.find(b"RSD PTR ")
        while i >= 0 and i % 16:
            i = area.find(b"RSD PTR ", i + 1)
        self.assertGreaterEqual(i, 0, "no RSDP")
        rsdt = struct.unpack("<I", area[i + 16:i + 20])[0]
        hdr = m.memread(rsdt, 36)
        length = struct.unpack("<I", hdr[4:8])[0]
        body = m.memread(rsdt, length)
        for k in range(36, length, 4):
            t = struct.unpack("<I", body[k:k + 4])[0]
            if m.memread(t, 4) == b"FACP":
                facp = m.memread(t, 44)
                dsdt = struct.unpack("<I", facp[40:44])[0]
                dlen = struct.unpack("<I", m.memread(dsdt + 4, 4))[0]
                return m.memread(dsdt, dlen)
        self.fail("no FADT")


@needs_qemu
class FourChips(unittest.TestCase):
    """§1: up to 4 chips, 16 PHB buses below 0x80, 4 RIO entries."""

    def test_four_chips_sixteen_phbs(self):
        with Machine(machine="calgary,chips=4,variant=calioc2") as m:
            deadline = time.time() + 60
            while time.time() < deadline:
                seg = struct.unpack("<H", m.memread(0x40E, 2))[0]
                if seg and m.memread((seg << 4) + 0x182, 2) == b"\x52\x47":
                    break
                time.sleep(0.1)
            hdr = (struct.unpack("<H", m.memread(0x40E, 2))[0] << 4) + 0x184
            self.assertEqual(m.memread(hdr, 3), bytes([3, 1, 4]))
            with m.paused():
                found = [b for b in range(256) if m.cfg_read(b, 0, 0) == 0x03081014]
            expect = [bus_of(c, p) for c in range(4) for p in range(4)]
            self.assertEqual(found, expect)
            self.assertLess(max(found), 0x80)
            for c in range(4):
                for p in range(4):
                    v = m.reg_read(c, stuff_off(p))
                    self.assertEqual((v >> 16) & 0xFF, bus_of(c, p))
                    self.assertEqual((v >> 8) & 0xFF, bus_of(c, p), "last = first")


# The 32-bit PCI hole as the firmware opens it and the RAM split as QEMU's
# i440fx makes it: written here from SeaBIOS (pci_setup, i440fx_mem_addr_setup)
# and QEMU (pc_piix.c), on purpose not taken from the model's code.
GIB = 1 << 30


def seabios_pci_hole_start(below_4g):
    if below_4g <= 2 * GIB:
        return 2 * GIB
    if below_4g <= 3 * GIB:
        return 3 * GIB
    return below_4g


def i440fx_below_4g(ram):
    return 3 * GIB if ram >= 0xE0000000 else ram


@needs_qemu
class PeripheralWindows(unittest.TestCase):
    """§3 model decision: MEM_1 of every PHB covers the 32-bit PCI hole from
    where the firmware really starts it up to 0xFFFFFFFF, for every -m, so
    no window straddles a RAM-sized TCE table's IO span."""

    SIZES = [("384M", 384 << 20), ("1536M", 1536 << 20), ("2048M", 2 * GIB),
             ("2049M", 2049 << 20), ("3072M", 3 * GIB), ("3200M", 3200 << 20),
             ("4G", 4 * GIB)]

    def mem1(self, m, chip, phb):
        low = m.reg_read(chip, phb_reg(phb, 0x190))
        high = m.reg_read(chip, phb_reg(phb, 0x1A0))
        limit = m.reg_read(chip, phb_reg(phb, 0x1C0))
        return (high << 32) | low, limit | 0xFFFFF

    def test_mem1_starts_at_the_firmware_pci_hole_for_each_ram_size(self):
        for mem, ram in self.SIZES:
            with self.subTest(m=mem):
                start = seabios_pci_hole_start(i440fx_below_4g(ram))
                with Machine(machine="calgary,chips=2", memory=mem) as m:
                    for c in range(2):
                        for p in range(4):
                            self.assertEqual(self.mem1(m, c, p), (start, 0xFFFFFFFF),
                                             "calgary%d.%d" % (c, p))
                    # MEM_2 (the legacy first MiB) stays enabled at reset.
                    self.assertTrue(m.reg_read(0, phb_reg(0, PHB_CONFIG)) & 0x00400000)

    def test_firmware_bars_lie_inside_mem1_and_no_ram_does(self):
        for mem, ram in (("384M", 384 << 20), ("2049M", 2049 << 20), ("3200M", 3200 << 20)):
            with self.subTest(m=mem):
                m = CalgaryMachine(phb=1, memory=mem)
                try:
                    bar = m.edu_setup()
                    start, last = self.mem1(m, 0, 1)
                    self.assertGreaterEqual(start, i440fx_below_4g(ram), "MEM_1 covers RAM")
                    self.assertTrue(start <= bar and bar + 0xFFFFF <= last,
                                    "edu BAR 0x%x outside MEM_1 [0x%x, 0x%x]" % (bar, start, last))
                finally:
                    m.close()


@needs_qemu
class Dma(unittest.TestCase):
    """§4: every DMA of a device behind a PHB is translated or blocked."""

    def setUp(self):
        self.m = CalgaryMachine(phb=0)
        self.m.edu_setup()
        self.m.program_tar(size_code=0)          # 8 K entries: IO space 0..32 MiB

    def tearDown(self):
        self.m.close()

    def test_mapped_read_and_write_move_the_right_bytes(self):
        m = self.m
        src, dst = 0x03000000, 0x03002000
        m.set_tce(0x200, tce(src, read=True, write=False))
        m.set_tce(0x202, tce(dst))
        m.enable()
        data = pattern(1)
        m.memwrite(src, data)
        m.memset(dst, 4096, 0)
        m.ram_to_edu(0x200000)
        m.edu_to_ram(0x202000)
        self.assertEqual(m.memread(dst, 4096), data)
        self.assertEqual(m.csr() & LINUX_ERROR_BITS, 0)
        self.assertEqual(m.stat("stat-translations"), 2)
        self.assertEqual(m.stat("stat-blocked"), 0)

    def _blocked_write(self, io_addr, victims):
        """A device write at io_addr must not touch any victim range."""
        m = self.m
        before = {}
        for i, a in enumerate(victims):
            before[a] = pattern(100 + i)
            m.memwrite(a, before[a])
        m.memwrite(0x03100000, pattern(7))
        m.ram_to_edu(0x210000)                   # fill edu's buffer first
        m.edu_to_ram(io_addr)
        for a in victims:
            self.assertEqual(m.memread(a, 4096), before[a], "memory at 0x%x changed" % a)
        csr = m.csr()
        self.assertNotEqual(csr & LINUX_ERROR_BITS, 0, "CSR 0x%08x not latched" % csr)
        plssr = m.reg_read(0, phb_reg(0, PLSSR))
        m.reg_write(0, phb_reg(0, CSR), 0)
        self.assertEqual(m.csr() & LINUX_ERROR_BITS, 0, "CSR write of 0 clears")
        self.assertGreaterEqual(m.stat("stat-blocked"), 1)
        return csr, plssr

    def _map_source(self):
        self.m.set_tce(0x210, tce(0x03100000, read=True, write=False))

    def test_unmapped_page_is_blocked_memory_intact(self):
        self._map_source()
        self.m.enable()
        csr, plssr = self._blocked_write(0x300000, [0x300000])
        self.assertEqual(plssr, 0x300000, "PLSSR holds the faulting IO address")
        self.assertIn("blocked DMA", self.m.guest_log())

    def test_beyond_table_is_blocked(self):
        self._map_source()
        self.m.enable()
        self._blocked_write(0x2000000, [0x2000000])   # index 8192 >= 8192 entries

    def test_read_only_tce_blocks_device_write(self):
        self._map_source()
        self.m.set_tce(0x201, tce(0x03001000, read=True, write=False))
        self.m.enable()
        self._blocked_write(0x201000, [0x03001000, 0x201000])

    def test_slot_disable_blocks_mapped_dma(self):
        m = self.m
        self._map_source()
        m.set_tce(0x202, tce(0x03002000))
        m.enable()
        m.ram_to_edu(0x210000)
        cfg = m.reg_read(0, phb_reg(0, PHB_CONFIG))
        m.reg_write(0, phb_reg(0, PHB_CONFIG), cfg | SLOT_DISABLE)
        self._blocked_write(0x202000, [0x03002000, 0x202000])

    def test_bypass_when_translation_off(self):
        m = self.m
        data = pattern(3)
        m.memwrite(0x03200000, data)
        m.memset(0x03201000, 4096, 0)
        m.ram_to_edu(0x03200000)
        m.edu_to_ram(0x03201000)
        self.assertEqual(m.memread(0x03201000, 4096), data)
        self.assertEqual(m.stat("stat-bypassed"), 2)
        self.assertEqual(m.stat("stat-translations"), 0)

    def test_first_error_wins_until_cleared(self):
        m = self.m
        self._map_source()
        m.enable()
        m.ram_to_edu(0x210000)
        m.edu_to_ram(0x300000)
        first = (m.csr(), m.reg_read(0, phb_reg(0, PLSSR)))
        m.edu_to_ram(0x400000)
        self.assertEqual((m.csr(), m.reg_read(0, phb_reg(0, PLSSR))), first)
        self.assertEqual(m.guest_log().count("blocked DMA"), 1, "reported once per error")


@needs_qemu
class Inspect(unittest.TestCase):
    """What a user inspects: QOM statistics match the DMAs done; HMP sees them."""

    def test_stats_match_dmas(self):
        m = CalgaryMachine(phb=1)
        try:
            m.edu_setup()
            m.program_tar(0)
            for i in range(4):
                m.set_tce(0x100 + i, tce(0x03000000 + 0x1000 * i))
            m.enable()
            for i in range(4):
                m.ram_to_edu(0x100000 + 0x1000 * i)
            for i in range(4):                 # second round: cache hits
                m.ram_to_edu(0x100000 + 0x1000 * i)
            self.assertEqual(m.stat("stat-translations"), 8)
            self.assertEqual(m.stat("stat-cache-misses"), 4)
            self.assertEqual(m.stat("stat-cache-hits"), 4)
            self.assertEqual(m.stat("stat-tce-fetches"), 4)
            self.assertEqual(m.stat("stat-blocked"), 0)
            self.assertEqual(m.stat("bus-nr"), 0x24)
            line = m.hmp("qom-get /machine/calgary0/phb1 stats")
            self.assertIn("translations=8", line)
            self.assertIn("hits=4", line)
        finally:
            m.close()


@needs_qemu
class Trace(unittest.TestCase):
    """Trace events: off by default, switchable at run time, one per step."""

    def test_trace_events_translate_fault_flush(self):
        m = CalgaryMachine(phb=0)
        try:
            m.edu_setup()
            m.program_tar(0)
            m.set_tce(0x210, tce(0x03100000, read=True, write=False))
            m.enable()
            m.ram_to_edu(0x210000)
            self.assertNotIn("calgary_translate", m.guest_log(), "off by default")
            m.qmp_cmd("trace-event-set-state", name="calgary_*", enable=True)
            m.ram_to_edu(0x210000)
            m.edu_to_ram(0x300000)
            m.program_tar(0)
            log = m.guest_log()
            self.assertRegex(log, r"calgary_translate calgary0\.0 devfn 0x08 io 0x210000 flag 1 -> 0x3100000")
            self.assertRegex(log, r"calgary_fault calgary0\.0 devfn 0x08 io 0x300000 write blocked")
            self.assertIn("calgary_flush chip 0 phb 0", log)
            self.assertIn("calgary_mmio_write", log)
        finally:
            m.close()


@needs_qemu
class Lifecycle(unittest.TestCase):
    """Reset returns every register to reset values; migration keeps state."""

    def test_reset_clears_mapping_and_latched_error(self):
        m = CalgaryMachine(phb=0)
        try:
            m.edu_setup()
            m.program_tar(3)
            m.enable()
            m.edu_to_ram(0x300000)
            self.assertNotEqual(m.csr() & LINUX_ERROR_BITS, 0)
            m.qmp_cmd("system_reset")
            time.sleep(0.5)
            self.assertEqual(m.csr(), 0)
            self.assertEqual(m.reg_read(0, tar_off(0), 8), 0)
            self.assertEqual(m.reg_read(0, phb_reg(0, PHB_CONFIG)) & TCE_ENABLE, 0)
            self.assertEqual(m.reg_read(0, 0x4870, 8) >> 56, 0xFF)
        finally:
            m.close()

    def test_migration_keeps_mapping_and_latched_error(self):
        d = tempfile.mkdtemp(prefix="calgary-mig-")
        path = os.path.join(d, "state")
        m = CalgaryMachine(phb=0)
        try:
            m.edu_setup()
            m.program_tar(0)
            m.set_tce(0x210, tce(0x03100000, read=True, write=False))
            m.set_tce(0x220, tce(0x03300000))
            m.memwrite(0x03100000, pattern(11))
            m.enable()
            m.ram_to_edu(0x210000)
            m.edu_to_ram(0x220000)       # caches TCE 0x220
            m.set_tce(0x220, 0)          # freed but cached (faithful): must survive
            m.edu_to_ram(0x300000)       # latch an error
            csr = m.csr()
            bar = m.edu_bar
            self.assertNotEqual(csr & LINUX_ERROR_BITS, 0)
            m.qmp_cmd("migrate", uri="file:" + path)
            deadline = time.time() + 30
            while m.qmp_cmd("query-migrate").get("status") != "completed":
                self.assertLess(time.time(), deadline, "migration did not complete")
                time.sleep(0.2)
        finally:
            m.close()
        n = CalgaryMachine(phb=0, extra=["-incoming", "file:" + path])
        try:
            deadline = time.time() + 30
            while n.qmp_cmd("query-status").get("status") != "running":
                self.assertLess(time.time(), deadline, "incoming VM did not run")
                time.sleep(0.2)
            # edu itself has no vmstate: give it its BAR and bus mastering again
            n.cfg_write(n.bus, EDU_DEVFN, 0x10, bar)
            n.cfg_write16(n.bus, EDU_DEVFN, 0x04, 0x6)
            n.edu_bar = bar
            self.assertEqual(n.csr(), csr, "latched error survives")
            self.assertEqual(n.reg_read(0, tar_off(0), 8), TABLE)
            # the freed-but-cached TCE still translates: cache contents migrated
            n.memset(0x03300000, 4096, 0)
            n.ram_to_edu(0x210000)       # edu's buffer is not migrated: refill it
            n.edu_to_ram(0x220000)
            self.assertEqual(n.memread(0x03300000, 4096), pattern(11))
        finally:
            n.close()
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))
            os.rmdir(d)


@needs_qemu
class Robustness(unittest.TestCase):
    """Guest input never crashes QEMU: every register at every width, then
    thousands of random accesses across the window interleaved with DMA."""

    REGS = ([0x108] + [0x580 + 8 * p for p in range(4)] + [0x4870 + 0x1000 * p for p in range(4)]
            + [0x4020 + 0x1000 * p for p in range(4)]
            + [0x8000 + 0x1000 * p + o for p in range(4) for o in
               (0x110, 0x120, 0x160, 0x170, 0x180, 0x190, 0x1A0, 0x1B0, 0x1C0, 0x1D0, 0x200,
                0x220, 0x230, 0x240, 0x290, 0x2B0, 0x2C0, 0x2D0, 0x2E0, 0x800, 0x810, 0x820,
                0x830, 0x840, 0x850, 0x860, 0x870, 0x8E0, 0xCB0, 0xDA0, 0xDA8, 0xDB0)])

    def test_every_register_every_width_and_random_offsets(self):
        for variant in ("calgary", "calioc2"):
            with self.subTest(variant=variant):
                m = CalgaryMachine(phb=0, machine_opts="variant=%s,tce-cache=faithful" % variant)
                try:
                    m.edu_setup()
                    rnd = random.Random(42)
                    for off in self.REGS:
                        for size in (1, 2, 4, 8):
                            for o in range(0, 8, size):
                                m.reg_read(0, off + o, size)
                                m.reg_write(0, off + o, rnd.getrandbits(8 * size), size)
                    for i in range(3000):
                        size = rnd.choice((1, 2, 4, 8))
                        off = rnd.randrange(0, 0x100000 - 8)
                        if rnd.random() < 0.5:
                            m.reg_read(0, off, size)
                        else:
                            m.reg_write(0, off, rnd.getrandbits(8 * size), size)
                        if i % 300 == 0:
                            m.edu_to_ram(rnd.randrange(0, 1 << 32) & ~0xFFF)
                    self.assertTrue(m.alive())
                    self.assertEqual(m.qmp_cmd("query-status")["status"], "running")
                    self.assertIn("calgary0", m.guest_log(), "bad accesses reported as guest errors")
                finally:
                    m.close()


@needs_qemu
class Options(unittest.TestCase):
    """Bad machine options: one line naming the property, exit non-zero."""

    def check_bad(self, opt, words):
        rc, out = run_qemu(["-machine", "calgary," + opt, "-accel", "tcg", "-display", "none",
                            "-nodefaults", "-S"], timeout=20)
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(len(out.strip().splitlines()), 1, out)
        for w in words:
            self.assertIn(w, out)

    def test_bad_variant(self):
        self.check_bad("variant=foo", ["variant", "calgary, calioc2"])

    def test_bad_cache(self):
        self.check_bad("tce-cache=lru", ["tce-cache", "off, coherent, faithful"])

    def test_bad_layout(self):
        self.check_bad("layout=x366", ["layout", "rio, legacy"])

    def test_choices_read_back(self):
        """Each string choice reads back the value it was given (QOM get)."""
        with Machine(machine="calgary,variant=calioc2,layout=legacy,tce-cache=coherent") as m:
            for prop, want in (("variant", "calioc2"), ("layout", "legacy"), ("tce-cache", "coherent")):
                self.assertEqual(m.qom_get("/machine", prop), want)

    def test_bad_chips(self):
        self.check_bad("chips=9", ["chips", "0..4"])

    def test_bad_cache_line(self):
        self.check_bad("tce-cache-line=4", ["tce-cache-line", "1, 8"])

    def test_bad_geometry(self):
        self.check_bad("tce-cache-entries=100", ["tce-cache-entries"])

    def test_chips_zero_is_a_plain_pc(self):
        with Machine(machine="calgary,chips=0") as m:
            self.assertNotEqual(m.cfg_read(0x20, 0, 0), 0x02A11014)
            self.assertEqual(m.cfg_read(0, 0, 0), 0x12378086)


if __name__ == "__main__":
    unittest.main()
