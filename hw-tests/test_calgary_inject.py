"""Fault injection on the Calgary machine (docs/calgary.rst "Fault
injection"): one test per kind, through QMP `qom-set` on the PHB objects,
HMP, and the machine property `inject=`; plus reset and migration.

Each test boots the built QEMU under TCG with the qtest protocol; DMA comes
from QEMU's `edu` device behind a PHB, driven through its BAR.
"""

import os
import tempfile
import time
import unittest

from machine import CSR, PHB_CONFIG, PLSSR, SLOT_DISABLE, Machine, phb_reg, run_qemu, tar_off
from test_calgary_hw import (EDU_DEVFN, LINUX_ERROR_BITS, TABLE, CalgaryMachine, needs_qemu,
                             pattern, tce)

SPLIT_IDLE = 0xFF000000000000FF
PMDR, PMCR = 0xDA0, 0xDA8
SOFTSTOP, SOFTSTOPFAULT = 0x80000000, 0x40000000
ERR_OFFS = [0x290, 0x800] + [0x810 + 0x10 * i for i in range(7)]


def split_off(phb):
    return 0x4870 + 0x1000 * phb


class InjectMachine(CalgaryMachine):
    def path(self, phb=None):
        return "/machine/calgary0/phb%d" % (self.phb if phb is None else phb)

    def inject(self, prop, value, phb=None):
        return self.qmp_cmd("qom-set", path=self.path(phb), property="inject-" + prop, value=value)

    def get(self, prop, phb=None):
        return self.qom_get(self.path(phb), prop)


@needs_qemu
class SplitQueueBusy(unittest.TestCase):
    def test_busy_n_reads_then_quiesced_and_counted(self):
        with InjectMachine(phb=1) as m:
            self.assertEqual(m.reg_read(0, split_off(1), 8), SPLIT_IDLE)
            m.inject("split-busy", 3)
            self.assertEqual(m.get("inject-split-busy"), 3)
            reads = [m.reg_read(0, split_off(1), 8) for _ in range(4)]
            self.assertEqual(reads, [0, 0, 0, SPLIT_IDLE])
            self.assertEqual(m.get("inject-split-busy"), 0)
            self.assertEqual(m.get("stat-inject-split-busy-reads"), 3)
            self.assertEqual(m.get("stat-inject-armed"), 1)
            # Another PHB was never busy.
            self.assertEqual(m.reg_read(0, split_off(0), 8), SPLIT_IDLE)
            self.assertEqual(m.get("stat-inject-split-busy-reads", phb=0), 0)

    def test_linux_flush_gives_up_after_100_polls_and_flushes_anyway(self):
        with InjectMachine(phb=2) as m:
            m.inject("split-busy", 150)
            flushes = m.get("stat-flushes")
            # calgary_tce_cache_blast: poll at most 100 times, then write TAR.
            polls = 0
            while polls < 100:
                polls += 1
                if m.reg_read(0, split_off(2), 8) >> 56 == 0xFF:
                    break
            self.assertEqual(polls, 100)
            m.reg_write(0, tar_off(2), 0, size=8)
            self.assertEqual(m.get("stat-flushes"), flushes + 1)
            self.assertEqual(m.get("inject-split-busy"), 50)

    def test_injection_is_traced(self):
        with InjectMachine(phb=1, extra=["-trace", "calgary_event"]) as m:
            m.inject("split-busy", 1)
            m.reg_read(0, split_off(1), 8)
            deadline = time.time() + 5
            while "injected SPLIT_QUEUE_STATUS" not in m.guest_log() and time.time() < deadline:
                time.sleep(0.1)
            log = m.guest_log()
            self.assertIn("PHB 1 inject split-busy: split queue busy for the next 1 status reads", log)
            self.assertIn("PHB 1 injected SPLIT_QUEUE_STATUS read 0x0", log)

    def test_hmp_qom_set_and_info_calgary(self):
        with InjectMachine(phb=1) as m:
            out = m.hmp("qom-set /machine/calgary0/phb1 inject-split-busy 5")
            self.assertEqual(out.strip(), "")
            self.assertEqual(m.get("inject-split-busy"), 5)
            m.reg_read(0, split_off(1), 8)
            info = m.hmp("info calgary")
            line = next(l for l in info.splitlines() if "calgary0.1" in l or "bus=0x24" in l)
            self.assertIn("inject=[armed split-busy=4", line)
            self.assertIn("fired split-busy=1", line)


@needs_qemu
class SoftStopFault(unittest.TestCase):
    def test_pmdr_reports_softstop_fault_n_blast_attempts(self):
        with InjectMachine(phb=0, machine_opts="variant=calioc2") as m:
            pmcr, pmdr = phb_reg(3, PMCR), phb_reg(3, PMDR)
            m.inject("softstop-fault", 2, phb=3)
            self.assertEqual(m.reg_read(0, pmdr), 0, "not in a blast: nothing fires")
            seen = []
            for _ in range(3):
                m.reg_write(0, pmcr, m.reg_read(0, pmcr) | SOFTSTOP)
                seen.append(m.reg_read(0, pmdr) & SOFTSTOPFAULT)
            self.assertEqual(seen, [SOFTSTOPFAULT, SOFTSTOPFAULT, 0])
            m.reg_write(0, pmcr, 0)
            self.assertEqual(m.get("stat-inject-softstop-faults", phb=3), 2)
            self.assertEqual(m.get("inject-softstop-fault", phb=3), 0)

    def test_refused_on_calgary(self):
        with InjectMachine(phb=0) as m:
            with self.assertRaises(Exception) as cm:
                m.inject("softstop-fault", 1)
            self.assertIn("Calgary", str(cm.exception))
            self.assertEqual(m.get("stat-inject-armed"), 0)


@needs_qemu
class TceFetchFail(unittest.TestCase):
    def test_blocked_dma_never_touches_memory_and_latches_reason_3(self):
        with InjectMachine(phb=0) as m:
            m.edu_setup()
            m.program_tar(0)
            m.set_tce(0x210, tce(0x03100000))
            m.memwrite(0x03100000, pattern(7))
            m.memwrite(0x03200000, pattern(8))
            m.set_tce(0x220, tce(0x03200000))
            m.enable()
            m.ram_to_edu(0x210000)            # edu's buffer := pattern(7)
            blocked = m.get("stat-blocked")
            m.inject("tce-fetch-fail", 1)
            m.edu_to_ram(0x220000)            # would overwrite pattern(8)
            self.assertEqual(m.memread(0x03200000, 4096), pattern(8), "memory untouched")
            csr = m.csr()
            self.assertNotEqual(csr & LINUX_ERROR_BITS, 0)
            self.assertEqual(csr >> 27 & 0xF, 3, "reason 3: TCE read failed (%#x)" % csr)
            self.assertEqual(csr & 0xFFFF, m.bus << 8 | EDU_DEVFN)
            self.assertEqual(m.reg_read(0, phb_reg(0, PLSSR)), 0x220000)
            self.assertEqual(m.get("stat-inject-tce-fetch-failures"), 1)
            self.assertEqual(m.get("inject-tce-fetch-fail"), 0)
            self.assertGreater(m.get("stat-blocked"), blocked)
            # The count is used up: after the guest clears CSR the same DMA works.
            m.reg_write(0, phb_reg(0, CSR), 0)
            m.edu_to_ram(0x220000)
            self.assertEqual(m.memread(0x03200000, 4096), pattern(7))
            self.assertEqual(m.csr(), 0)


@needs_qemu
class LatchedError(unittest.TestCase):
    def test_latch_now_clear_by_guest_and_first_error_wins(self):
        with InjectMachine(phb=1) as m:
            m.inject("error", "0xc0de0042:0x1badb002")
            self.assertEqual(m.reg_read(0, phb_reg(1, CSR)), 0xC0DE0042)
            self.assertEqual(m.reg_read(0, phb_reg(1, PLSSR)), 0x1BADB002)
            self.assertEqual(m.get("csr"), 0xC0DE0042)
            self.assertEqual(m.get("inject-error"), "0xc0de0042:0x1badb002")
            self.assertEqual(m.get("stat-inject-errors-latched"), 1)
            with self.assertRaises(Exception) as cm:
                m.inject("error", "0x80000000")
            self.assertIn("already latched", str(cm.exception))
            with self.assertRaises(Exception):
                m.inject("error", "nonsense")
            # Linux's watchdog: dump, write 0, disable the slot.
            m.reg_write(0, phb_reg(1, CSR), 0)
            self.assertEqual(m.reg_read(0, phb_reg(1, PLSSR)), 0)
            self.assertEqual(m.get("inject-error"), "")
            cfg = m.reg_read(0, phb_reg(1, PHB_CONFIG))
            m.reg_write(0, phb_reg(1, PHB_CONFIG), cfg | SLOT_DISABLE)
            self.assertEqual(m.get("phb-config") & SLOT_DISABLE, SLOT_DISABLE)
            self.assertEqual(m.get("csr", phb=0), 0, "other PHBs untouched")


@needs_qemu
class ErrorRegisters(unittest.TestCase):
    VALUES = [0x11110290, 0x22220800, 0x33330810, 0x44440820, 0x55550830, 0x66660840,
              0x77770850, 0x88880860, 0x99990870]

    def test_runtime_values_and_reset(self):
        with InjectMachine(phb=2, machine_opts="variant=calioc2") as m:
            m.inject("error-regs", ":".join("%#x" % v for v in self.VALUES))
            self.assertEqual([m.reg_read(0, phb_reg(2, o)) for o in ERR_OFFS], self.VALUES)
            self.assertTrue(m.get("inject-error-regs").startswith("0x11110290:0x22220800:"))
            m.qmp_cmd("system_reset")
            time.sleep(0.5)
            self.assertEqual([m.reg_read(0, phb_reg(2, o)) for o in ERR_OFFS], [0] * 9)

    def test_machine_property_arms_at_every_reset(self):
        spec = ("calgary0.1/error-regs=0x11110290:0x22220800:0x33330810;"
                "calgary0.1/split-busy=2;calgary0.3/error=0x80000001:0x10")
        with InjectMachine(phb=1, machine_opts="variant=calioc2,inject=" + spec.replace(",", ",,")) as m:
            for _ in range(2):
                self.assertEqual(m.reg_read(0, phb_reg(1, 0x290)), 0x11110290)
                self.assertEqual(m.reg_read(0, phb_reg(1, 0x810)), 0x33330810)
                self.assertEqual(m.reg_read(0, phb_reg(1, 0x820)), 0)
                self.assertEqual(m.get("inject-split-busy"), 2)
                self.assertEqual(m.get("csr", phb=3), 0x80000001)
                # Runtime changes are undone by the next reset.
                m.inject("split-busy", 0)
                m.inject("error-regs", "")
                m.reg_write(0, phb_reg(3, CSR), 0)
                m.qmp_cmd("system_reset")
                time.sleep(0.5)

    def test_bad_machine_property_names_the_item(self):
        rc, out = run_qemu(["-machine", "calgary,inject=calgary0.9/split-busy=1", "-display", "none",
                            "-nodefaults", "-S"])
        self.assertNotEqual(rc, 0)
        self.assertIn("calgary0.9/split-busy=1", out)
        rc, out = run_qemu(["-machine", "calgary,chips=1,inject=calgary1.0/split-busy=1",
                            "-display", "none", "-nodefaults", "-S"])
        self.assertNotEqual(rc, 0)
        self.assertIn("no chip 1", out)

    def test_properties_have_descriptions(self):
        with InjectMachine(phb=0) as m:
            props = m.qmp_cmd("qom-list-properties", typename="calgary-phb-host")
            desc = {p["name"]: p.get("description", "") for p in props}
            for name in ("inject-split-busy", "inject-softstop-fault", "inject-tce-fetch-fail",
                         "inject-error", "inject-error-regs", "stat-inject-split-busy-reads"):
                self.assertIn(name, desc)
                self.assertTrue(desc[name], name + " has no description")
        _, out = run_qemu(["-machine", "calgary,help"])
        self.assertIn("inject=", out)


@needs_qemu
class ResetAndMigration(unittest.TestCase):
    def test_reset_disarms_runtime_injections_and_keeps_counters(self):
        with InjectMachine(phb=0) as m:
            m.inject("split-busy", 5)
            m.inject("tce-fetch-fail", 5)
            m.inject("error", "0x80000000:0x1")
            m.reg_read(0, split_off(0), 8)
            m.qmp_cmd("system_reset")
            time.sleep(0.5)
            self.assertEqual(m.get("inject-split-busy"), 0)
            self.assertEqual(m.get("inject-tce-fetch-fail"), 0)
            self.assertEqual(m.get("csr"), 0)
            self.assertEqual(m.get("stat-inject-split-busy-reads"), 1)
            self.assertEqual(m.get("stat-inject-armed"), 3)

    def test_armed_injections_survive_migration(self):
        d = tempfile.mkdtemp(prefix="calgary-inj-mig-")
        path = os.path.join(d, "state")
        m = InjectMachine(phb=1, machine_opts="variant=calioc2")
        try:
            m.inject("split-busy", 7)
            m.inject("softstop-fault", 4, phb=2)
            m.inject("tce-fetch-fail", 2, phb=3)
            m.inject("error", "0x8abc0000:0x1234")
            m.inject("error-regs", "0x5:0x6")
            m.reg_read(0, split_off(1), 8)
            m.qmp_cmd("migrate", uri="file:" + path)
            deadline = time.time() + 30
            while m.qmp_cmd("query-migrate").get("status") != "completed":
                self.assertLess(time.time(), deadline, "migration did not complete")
                time.sleep(0.2)
        finally:
            m.close()
        n = InjectMachine(phb=1, machine_opts="variant=calioc2", extra=["-incoming", "file:" + path])
        try:
            deadline = time.time() + 30
            while n.qmp_cmd("query-status").get("status") != "running":
                self.assertLess(time.time(), deadline, "incoming VM did not run")
                time.sleep(0.2)
            self.assertEqual(n.get("inject-split-busy"), 6)
            self.assertEqual(n.get("inject-softstop-fault", phb=2), 4)
            self.assertEqual(n.get("inject-tce-fetch-fail", phb=3), 2)
            self.assertEqual(n.get("inject-error"), "0x8abc0000:0x00001234")
            self.assertEqual(n.reg_read(0, phb_reg(1, 0x800)), 6)
            self.assertEqual(n.get("stat-inject-split-busy-reads"), 1)
            # and they fire on the destination
            self.assertEqual([n.reg_read(0, split_off(1), 8) for _ in range(7)], [0] * 6 + [SPLIT_IDLE])
        finally:
            n.close()
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))
            os.rmdir(d)


if __name__ == "__main__":
    unittest.main()
