"""How the Calgary machine fits QEMU's own mechanisms (issue 11, shared spec
qemu-conventions.md): INTx through QEMU's PCI routing to the PIIX links,
reset with an interrupt asserted, and a PCI-to-PCI bridge behind a PHB
(address space per requester, requester ID, slot disable).

TCG with the qtest protocol; SeaBIOS runs, so PIRQ routing, bus numbers
behind the bridge and BARs are the firmware's.
"""

import re
import struct
import time
import unittest

from machine import (CSR, PHB_CONFIG, SLOT_DISABLE, TCE_ENABLE, Machine,
                     bus_of, phb_reg, qemu_available, tar_off)

PIIX = (0, 0x08)           # 00:01.0, the PIIX PCI-to-ISA function
PIRQRC = 0x60              # PIIX PIRQ route control A..D (one byte each)
EDU_IRQ_RAISE, EDU_IRQ_ACK = 0x60, 0x64
TABLE = 0x01000000
EDU_BUF = 0x40000


def needs_qemu(cls):
    return unittest.skipUnless(qemu_available(),
                               "build/qemu-system-x86_64 is not built (run ./calgary setup)")(cls)


class Calgary(Machine):
    def wait_rio(self, timeout=60):
        """SeaBIOS has run its option ROMs (PCI set up) once ours left the
        Rio table at EBDA+0x180."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            seg = struct.unpack("<H", self.memread(0x40E, 2))[0]
            if seg and struct.unpack("<H", self.memread((seg << 4) + 0x182, 2))[0] == 0x4752:
                return
            time.sleep(0.1)
        raise AssertionError("SeaBIOS did not finish POST within %d s" % timeout)

    def bar0(self, bus, devfn, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            bar = self.cfg_read(bus, devfn, 0x10) & ~0xF
            cmd = self.cfg_read(bus, devfn, 0x04) & 0xFFFF
            if bar and (cmd & 2):
                return bar
            time.sleep(0.3)
        raise AssertionError("no BAR for %02x:%02x.%x" % (bus, devfn >> 3, devfn & 7))

    def set_pirq(self, link, irq):
        with self.paused():
            self.outl(0xCF8, 0x80000000 | PIIX[0] << 16 | PIIX[1] << 8 | PIRQRC)
            self.outb(0xCFC + link, irq)

    def pirq(self, link):
        return (self.cfg_read(PIIX[0], PIIX[1], PIRQRC) >> (8 * link)) & 0xFF

    # The IRQs the PCI links are routed to in these tests. The firmware runs
    # meanwhile (its timer raises IOAPIC input 0/2): not a link's line.
    LINK_IRQS = frozenset({5, 7, 9, 10, 11})

    def irq_sync(self):
        """Every link IRQ event QEMU sent before now, then forget them."""
        self.memread(0, 1)
        ev, self.irq_events = self.irq_events, []
        return [e for e in ev if int(e.split()[-1]) in self.LINK_IRQS]


@needs_qemu
class Intx(unittest.TestCase):
    """INTx of devices behind PHBs goes through QEMU's PCI core to bus 0's
    PIIX links (the PHB bus's parent device is the PIIX function): the
    counts are bus 0's own, so links are shared correctly with other PHBs,
    a PIRQ re-route moves asserted lines, and pci_device_route_intx_to_irq
    answers for them (the `intx-routes` property)."""

    # edu A: calgary0.0 slot 1 (link 0); B: calgary0.1 slot 2 (link 1);
    # C: calgary0.2 slot 1 (link 0, shared with A). Link = (slot + pin - 1) & 3.
    DEVS = {"A": (0, 1), "B": (1, 2), "C": (2, 1)}

    def setUp(self):
        args = []
        for name, (phb, slot) in self.DEVS.items():
            args += ["-device", "edu,id=edu%s,bus=calgary0.%d,addr=%d" % (name, phb, slot)]
        self.m = Calgary(machine="calgary", args=args)
        self.addCleanup(self.m.close)
        self.m.wait_rio()
        self.bar = {}
        for name, (phb, slot) in self.DEVS.items():
            self.bar[name] = self.m.bar0(bus_of(0, phb), slot << 3)
        # Distinct IRQs per link, so each line is told apart.
        self.irq_of_link = {0: 5, 1: 9, 2: 10, 3: 11}
        for link, irq in self.irq_of_link.items():
            self.m.set_pirq(link, irq)
        self.m.cmd_("irq_intercept_in ioapic")
        self.m.irq_sync()

    def edu_irq(self, name, raise_):
        self.m.writel(self.bar[name] + (EDU_IRQ_RAISE if raise_ else EDU_IRQ_ACK), 1)

    def test_routes_reported_by_qemus_intx_routing(self):
        for name, (phb, slot) in self.DEVS.items():
            routes = self.m.qom_get("/machine/calgary0/phb%d" % phb, "intx-routes")
            link = (slot + 0 - 1) & 3
            want = "%02x:%02x.0 INTA -> IRQ %d" % (bus_of(0, phb), slot, self.irq_of_link[link])
            self.assertIn(want, routes)
        self.m.set_pirq(0, 0x80)           # link disabled at the PIIX
        routes = self.m.qom_get("/machine/calgary0/phb0", "intx-routes")
        self.assertIn("%02x:01.0 INTA -> disabled" % bus_of(0, 0), routes)
        self.assertNotIn("Bug", self.m.output())

    def test_levels_shared_on_a_link_and_moved_by_rerouting(self):
        irq0, irq1 = self.irq_of_link[0], self.irq_of_link[1]
        self.edu_irq("A", True)
        self.assertEqual(self.m.irq_sync(), ["IRQ raise %d" % irq0])
        self.edu_irq("C", True)                      # same link: already high
        self.assertEqual(self.m.irq_sync(), [])
        self.edu_irq("A", False)                     # C still holds the link
        self.assertEqual(self.m.irq_sync(), [])
        self.edu_irq("B", True)
        self.assertEqual(self.m.irq_sync(), ["IRQ raise %d" % irq1])
        # The PIIX recomputes its outputs from bus 0's counts on re-route.
        self.m.set_pirq(0, 7)
        ev = self.m.irq_sync()
        self.assertIn("IRQ lower %d" % irq0, ev)
        self.assertIn("IRQ raise 7", ev)
        self.edu_irq("C", False)
        self.assertEqual(self.m.irq_sync(), ["IRQ lower 7"])
        self.edu_irq("B", False)
        self.assertEqual(self.m.irq_sync(), ["IRQ lower %d" % irq1])

    def test_system_reset_with_intx_asserted(self):
        """Devices behind the PHB deassert in their reset; bus 0's counts
        end at zero (QEMU asserts that in bus 0's reset), and the link works
        as before once the firmware has routed it again."""
        self.edu_irq("A", True)
        self.edu_irq("B", True)
        self.m.irq_sync()
        with self.m.paused():
            self.m.qmp_cmd("system_reset")
            deadline = time.time() + 10
            while self.m.pirq(0) != 0x80:          # the PIIX's reset value
                self.assertLess(time.time(), deadline, "no reset")
                time.sleep(0.05)
            self.assertTrue(self.m.alive(), self.m.output())
            # RAM survives a reset: forget the first boot's Rio table.
            seg = struct.unpack("<H", self.m.memread(0x40E, 2))[0]
            self.m.memset((seg << 4) + 0x180, 16, 0)
        self.m.wait_rio()
        self.m.irq_sync()
        self.m.set_pirq(0, 5)             # nothing pending: no raise
        self.m.set_pirq(1, 9)
        self.assertEqual([e for e in self.m.irq_sync() if e.endswith((" 5", " 9"))], [])
        bar = self.m.bar0(bus_of(0, 0), 1 << 3)
        # The firmware runs again: keep to the line under test.
        on5 = lambda ev: [e for e in ev if e.endswith(" 5")]
        self.m.writel(bar + EDU_IRQ_RAISE, 1)
        self.assertEqual(on5(self.m.irq_sync()), ["IRQ raise 5"])
        self.m.writel(bar + EDU_IRQ_ACK, 1)
        self.assertEqual(on5(self.m.irq_sync()), ["IRQ lower 5"])


def tce(phys, read=True, write=True):
    return (phys & 0x0000FFFFFFFFF000) | (1 if read else 0) | (2 if write else 0)


@needs_qemu
class BridgeBehindPhb(unittest.TestCase):
    """A conventional PCI-to-PCI bridge at calgary0.0 slot 2 with edu
    behind it, and edu directly at slot 1. On conventional PCI the bridge
    masters its secondary devices' DMA on the PHB's bus: their requester is
    the bridge (QEMU's pci_device_get_iommu_bus_devfn does the same), they
    use the PHB's one TCE table, and a slot disable blocks them."""

    BRIDGE_DEVFN = 2 << 3

    @classmethod
    def setUpClass(cls):
        cls.m = Calgary(machine="calgary", args=[
            "-device", "edu,bus=calgary0.0,addr=1,dma_mask=0xffffffff",
            "-device", "pci-bridge,id=br0,bus=calgary0.0,addr=2,chassis_nr=1",
            "-device", "edu,id=edubr,bus=br0,addr=3,dma_mask=0xffffffff"])
        cls.m.wait_rio()
        cls.bus = bus_of(0, 0)
        cls.sec = (cls.m.cfg_read(cls.bus, cls.BRIDGE_DEVFN, 0x18) >> 8) & 0xFF
        cls.bar = cls.m.bar0(cls.sec, 3 << 3)
        for bus, devfn in ((cls.sec, 3 << 3), (cls.bus, cls.BRIDGE_DEVFN)):
            cmd = cls.m.cfg_read(bus, devfn, 0x04) & 0xFFFF
            cls.m.cfg_write16(bus, devfn, 0x04, cmd | 0x6)

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def setUp(self):
        m = self.m
        m.reg_write(0, phb_reg(0, PHB_CONFIG), 0)
        m.reg_write(0, phb_reg(0, CSR), 0)
        m.memset(TABLE, 0x8000, 0)
        m.reg_write(0, tar_off(0), TABLE, size=8)          # 1024 entries
        m.reg_write(0, phb_reg(0, PHB_CONFIG), TCE_ENABLE)

    def dma(self, src, dst, count, to_ram):
        b = self.bar
        self.m.writeq(b + 0x80, src)
        self.m.writeq(b + 0x88, dst)
        self.m.writeq(b + 0x90, count)
        self.m.writeq(b + 0x98, 0x1 | (0x2 if to_ram else 0))
        deadline = time.time() + 10
        while self.m.readq(b + 0x98) & 1:
            self.assertLess(time.time(), deadline, "edu DMA did not complete")
            time.sleep(0.02)

    def test_secondary_bus_numbered_above_the_phb(self):
        self.assertGreater(self.sec, self.bus)

    def test_dma_translates_through_the_phbs_table(self):
        m = self.m
        data = bytes(range(256)) * 16
        m.memwrite(0x300000, data)
        m.memwrite(TABLE + 8 * 0x40, struct.pack(">Q", tce(0x300000)))
        m.memwrite(TABLE + 8 * 0x41, struct.pack(">Q", tce(0x310000)))
        self.dma(0x40000, EDU_BUF, 4096, to_ram=False)
        self.dma(EDU_BUF, 0x41000, 4096, to_ram=True)
        self.assertEqual(m.memread(0x310000, 4096), data)
        self.assertEqual(m.reg_read(0, phb_reg(0, CSR)), 0)

    def test_fault_names_the_bridge_as_requester(self):
        m = self.m
        m.memset(0x320000, 4096, 0x5A)
        self.dma(EDU_BUF, 0x50000, 4096, to_ram=True)   # TCE 0x50 not valid
        csr = m.reg_read(0, phb_reg(0, CSR))
        self.assertTrue(csr & 0x80000000, hex(csr))
        self.assertEqual(csr & 0xFFFF, self.bus << 8 | self.BRIDGE_DEVFN, hex(csr))

    def test_slot_disable_blocks_dma_behind_the_bridge(self):
        m = self.m
        m.memwrite(TABLE + 8 * 0x60, struct.pack(">Q", tce(0x330000)))
        m.memset(0x330000, 4096, 0x11)
        m.reg_write(0, phb_reg(0, PHB_CONFIG), TCE_ENABLE | SLOT_DISABLE)
        self.dma(EDU_BUF, 0x60000, 4096, to_ram=True)
        self.assertEqual(m.memread(0x330000, 4096), b"\x11" * 4096)
        csr = m.reg_read(0, phb_reg(0, CSR))
        self.assertEqual((csr >> 27) & 0xF, 1, hex(csr))          # slot disabled
        self.assertEqual(csr & 0xFFFF, self.bus << 8 | self.BRIDGE_DEVFN, hex(csr))

    def test_one_address_space_per_requester(self):
        out = self.m.hmp("info mtree")
        spaces = set(re.findall(r"address-space: (calgary0\.0-[0-9a-f]{2}\.[0-7])\b", out))
        self.assertIn("calgary0.0-01.0", spaces)               # edu on the PHB bus
        self.assertIn("calgary0.0-02.0", spaces)               # the bridge's requester
        self.assertFalse(any(n.startswith("br0") for n in
                             re.findall(r"address-space: (\S+)", out)), out[:2000])


if __name__ == "__main__":
    unittest.main()
