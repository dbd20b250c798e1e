"""The Calgary migration format (vmstate "calgary-chip" version 2) against a
stream saved by an earlier build: hw-tests/data/calgary-migration-v2.bin.gz
(saved before fault injection existed: its absent subsection must load),
made with `migrate file:` by `python3 hw-tests/test_calgary_migration.py
--regenerate` (keep the committed one: a later build must still load it).

The saved machine (calgary, -m 64M, edu at calgary0.0 slot 1): PHB 0 has a
1024-entry TCE table at 16 MiB, translation on; TCE 0x220 was cached and
then cleared in memory without a flush (stale in the faithful cache); a
write to IO page 0x300 was blocked (CSR latched); the PHB function's
command register has SERR# enable set. TCG, qtest protocol.
"""

import gzip
import os
import shutil
import struct
import sys
import tempfile
import time
import unittest

from machine import CSR, PHB_CONFIG, TCE_ENABLE, Machine, bus_of, phb_reg, qemu_available, tar_off

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "data", "calgary-migration-v2.bin.gz")
MEM = "64M"
EDU = ["-device", "edu,bus=calgary0.0,addr=1,dma_mask=0xffffffff"]
TABLE = 0x01000000
EDU_BUF = 0x40000
BUS = bus_of(0, 0)
EDU_DEVFN = 0x08
DATA = bytes((i * 7 + 3) & 0xFF for i in range(4096))
SERR = 0x100


def tce(phys, read=True, write=True):
    return (phys & 0x0000FFFFFFFFF000) | (1 if read else 0) | (2 if write else 0)


def wait_migration(m, timeout=60):
    deadline = time.time() + timeout
    while True:
        st = m.qmp_cmd("query-migrate")
        if st.get("status") in ("completed", "failed"):
            return st
        if time.time() > deadline:
            raise AssertionError("migration did not finish: %r" % st)
        time.sleep(0.2)


def edu_dma(m, bar, src, dst, to_ram):
    m.writeq(bar + 0x80, src)
    m.writeq(bar + 0x88, dst)
    m.writeq(bar + 0x90, 4096)
    m.writeq(bar + 0x98, 0x1 | (0x2 if to_ram else 0))
    deadline = time.time() + 10
    while m.readq(bar + 0x98) & 1:
        if time.time() > deadline:
            raise AssertionError("edu DMA did not complete")
        time.sleep(0.02)


def regenerate(path):
    """Builds the fixture with the current build (see the module text)."""
    m = Machine(machine="calgary", memory=MEM, args=EDU)
    try:
        deadline = time.time() + 60
        while True:
            bar = m.cfg_read(BUS, EDU_DEVFN, 0x10) & ~0xF
            if bar and m.cfg_read(BUS, EDU_DEVFN, 0x04) & 2:
                break
            if time.time() > deadline:
                raise AssertionError("SeaBIOS did not set up edu")
            time.sleep(0.3)
        time.sleep(2)
        m.qmp_cmd("stop")
        m.cfg_write(BUS, EDU_DEVFN, 0x04, 0x6)
        m.cfg_write(BUS, 0, 0x04, SERR)
        m.memset(TABLE, 0x2000, 0)
        m.memwrite(TABLE + 8 * 0x210, struct.pack(">Q", tce(0x03100000, write=False)))
        m.memwrite(TABLE + 8 * 0x220, struct.pack(">Q", tce(0x03300000)))
        m.memwrite(0x03100000, DATA)
        m.reg_write(0, tar_off(0), TABLE, size=8)
        m.reg_write(0, phb_reg(0, PHB_CONFIG), m.reg_read(0, phb_reg(0, PHB_CONFIG)) | TCE_ENABLE)
        edu_dma(m, bar, 0x210000, EDU_BUF, to_ram=False)
        edu_dma(m, bar, EDU_BUF, 0x220000, to_ram=True)     # caches TCE 0x220
        m.memwrite(TABLE + 8 * 0x220, bytes(8))              # stale from now on
        edu_dma(m, bar, EDU_BUF, 0x300000, to_ram=True)     # blocked: latches CSR
        raw = path + ".raw"
        m.qmp_cmd("migrate", uri="file:" + raw)
        st = wait_migration(m)
        if st["status"] != "completed":
            raise AssertionError("save failed: %r %s" % (st, m.output()))
    finally:
        m.close()
    with open(raw, "rb") as f, gzip.open(path, "wb", 9) as g:
        shutil.copyfileobj(f, g)
    os.unlink(raw)


def needs_qemu(cls):
    return unittest.skipUnless(qemu_available(),
                               "build/qemu-system-x86_64 is not built (run ./calgary setup)")(cls)


@needs_qemu
class SavedStream(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="calgary-migfix-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.raw = os.path.join(self.dir, "stream")
        with gzip.open(FIXTURE, "rb") as g, open(self.raw, "wb") as f:
            shutil.copyfileobj(g, f)

    def incoming(self, machine="calgary"):
        m = Machine(machine=machine, memory=MEM, args=EDU + ["-incoming", "defer"])
        self.addCleanup(m.close)
        m.qmp_cmd("migrate-incoming", uri="file:" + self.raw, **{"exit-on-error": False})
        return m

    def test_current_build_loads_the_committed_stream(self):
        m = self.incoming()
        st = wait_migration(m)
        self.assertEqual(st["status"], "completed", m.output())
        # Registers, field by field.
        self.assertEqual(m.reg_read(0, tar_off(0), 8), TABLE)
        self.assertTrue(m.reg_read(0, phb_reg(0, PHB_CONFIG)) & TCE_ENABLE)
        csr = m.reg_read(0, phb_reg(0, CSR))
        self.assertEqual(csr >> 31, 1, hex(csr))
        self.assertEqual((csr >> 27) & 0xF, 4, hex(csr))      # TCE not valid
        self.assertEqual(csr & 0xFFFF, BUS << 8 | EDU_DEVFN, hex(csr))
        # The PHB function's config space (VMSTATE_PCI_DEVICE).
        self.assertTrue(m.cfg_read(BUS, 0, 0x04) & SERR)
        # Statistics subsection.
        self.assertGreaterEqual(m.qom_get("/machine/calgary0/phb0", "stat-translations"), 2)
        self.assertEqual(m.qom_get("/machine/calgary0/phb0", "stat-blocked"), 1)
        # Cache subsection: the stale TCE 0x220 still translates until a flush.
        # edu has no vmstate: give it a BAR, memory and bus mastering again.
        bar = 0xE0000000
        m.cfg_write(BUS, EDU_DEVFN, 0x10, bar)
        m.cfg_write16(BUS, EDU_DEVFN, 0x04, 0x6)
        m.memset(0x03300000, 4096, 0)
        edu_dma(m, bar, 0x210000, EDU_BUF, to_ram=False)
        edu_dma(m, bar, EDU_BUF, 0x220000, to_ram=True)
        self.assertEqual(m.memread(0x03300000, 4096), DATA)
        m.reg_write(0, tar_off(0), TABLE, size=8)              # flush
        m.memset(0x03300000, 4096, 0)
        edu_dma(m, bar, EDU_BUF, 0x220000, to_ram=True)
        self.assertEqual(m.memread(0x03300000, 4096), bytes(4096))

    def test_mismatched_configuration_is_refused_by_name(self):
        m = self.incoming(machine="calgary,tce-cache=coherent")
        st = wait_migration(m)
        self.assertEqual(st["status"], "failed")
        self.assertIn("tce-cache must match", m.output())


@needs_qemu
class RoundTrip(unittest.TestCase):
    """Optional state in subsections: an armed fault injection travels in
    calgary-phb/inject and is armed on the destination, on its PHB only."""

    def test_armed_injection_survives(self):
        d = tempfile.mkdtemp(prefix="calgary-mig-inj-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "stream")
        phb1 = "/machine/calgary0/phb1"
        m = Machine(machine="calgary", memory=MEM)
        try:
            m.qmp_cmd("qom-set", path=phb1, property="inject-split-busy", value=5)
            m.qmp_cmd("migrate", uri="file:" + path)
            self.assertEqual(wait_migration(m)["status"], "completed", m.output())
        finally:
            m.close()
        n = Machine(machine="calgary", memory=MEM, args=["-incoming", "defer"])
        try:
            n.qmp_cmd("migrate-incoming", uri="file:" + path)
            self.assertEqual(wait_migration(n)["status"], "completed", n.output())
            self.assertEqual(n.qom_get(phb1, "inject-split-busy"), 5)
            self.assertEqual(n.qom_get("/machine/calgary0/phb0", "inject-split-busy"), 0)
        finally:
            n.close()
        with open(path, "rb") as f:
            stream = f.read()
        self.assertIn(b"calgary-phb/inject", stream)


if __name__ == "__main__":
    if "--regenerate" in sys.argv:
        os.makedirs(os.path.dirname(FIXTURE), exist_ok=True)
        regenerate(FIXTURE)
        print("wrote", FIXTURE, os.path.getsize(FIXTURE), "bytes")
    else:
        unittest.main()
