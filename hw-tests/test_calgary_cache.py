"""Hardware tests of the TCE cache (shared spec calgary-hardware.md §5):
the three cache policies, CalIOC2's flush, TCE line fill and translation
blocks. Same harness as test_calgary_hw.py: QEMU under TCG with qtest,
DMA from the `edu` test device behind a PHB.
"""

import unittest

from machine import CSR, phb_reg
from test_calgary_hw import LINUX_ERROR_BITS, CalgaryMachine, needs_qemu, pattern, tce


@needs_qemu
class CacheContract(unittest.TestCase):
    """§5: new TCEs visible at once; freed TCEs stale until a flush (faithful)."""

    def run_case(self, policy):
        m = CalgaryMachine(phb=0, machine_opts="tce-cache=%s" % policy)
        try:
            m.edu_setup()
            m.program_tar(0)
            m.set_tce(0x210, tce(0x03100000, read=True, write=False))
            m.memwrite(0x03100000, pattern(9))
            m.enable()
            m.ram_to_edu(0x210000)
            # a new TCE is used without any flush
            m.set_tce(0x220, tce(0x03300000))
            m.memset(0x03300000, 4096, 0)
            m.edu_to_ram(0x220000)
            self.assertEqual(m.memread(0x03300000, 4096), pattern(9))
            # free it (Linux writes 0) and DMA again without a flush
            m.set_tce(0x220, 0)
            m.memset(0x03300000, 4096, 0)
            m.edu_to_ram(0x220000)
            stale = m.memread(0x03300000, 4096) == pattern(9)
            latched = m.csr() & LINUX_ERROR_BITS != 0
            m.reg_write(0, phb_reg(0, CSR), 0)
            # flush: Calgary rewrites TAR with the same value
            m.program_tar(0)
            m.memset(0x03300000, 4096, 0)
            m.edu_to_ram(0x220000)
            after_flush_blocked = m.csr() & LINUX_ERROR_BITS != 0
            self.assertEqual(m.memread(0x03300000, 4096), bytes(4096))
            return stale, latched, after_flush_blocked, m.stat("stat-stale-hits")
        finally:
            m.close()

    def test_faithful_keeps_freed_tce_until_tar_write(self):
        stale, latched, blocked, _ = self.run_case("faithful")
        self.assertTrue(stale, "faithful: freed TCE still translates before the flush")
        self.assertFalse(latched)
        self.assertTrue(blocked, "faithful: after the TAR write the freed TCE faults")

    def test_off_faults_at_once(self):
        stale, latched, blocked, _ = self.run_case("off")
        self.assertFalse(stale)
        self.assertTrue(latched)
        self.assertTrue(blocked)

    def test_coherent_faults_at_once_and_counts_stale_hit(self):
        stale, latched, blocked, stale_hits = self.run_case("coherent")
        self.assertFalse(stale)
        self.assertTrue(latched)
        self.assertGreaterEqual(stale_hits, 1)


@needs_qemu
class CalIoc2Flush(unittest.TestCase):
    """§5: the CalIOC2 SoftStop/HardStop sequence flushes in faithful mode."""

    def test_stop_sequence_then_tar_write_flushes(self):
        m = CalgaryMachine(phb=0, machine_opts="variant=calioc2")
        try:
            self.assertEqual(m.cfg_read(0x20, 0, 0), 0x03081014)
            m.edu_setup()
            m.program_tar(0)
            m.set_tce(0x210, tce(0x03100000, read=True, write=False))
            m.set_tce(0x220, tce(0x03300000))
            m.memwrite(0x03100000, pattern(5))
            m.enable()
            m.ram_to_edu(0x210000)
            m.edu_to_ram(0x220000)
            m.set_tce(0x220, 0)
            pmcr, pmdr = phb_reg(0, 0xDA8), phb_reg(0, 0xDA0)
            m.reg_write(0, pmcr, 0x80000000)                      # SoftStop
            self.assertEqual(m.reg_read(0, 0x4870, 8) >> 56, 0xFF)  # quiesced
            self.assertEqual(m.reg_read(0, pmdr) & 0x40000000, 0, "no SoftStopFault")
            m.reg_read(0, pmcr)                                    # this read moves to HardStop
            self.assertEqual(m.reg_read(0, pmcr) & 0x20000000, 0x20000000, "HardStop")
            m.program_tar(0)                                       # flush
            m.reg_write(0, pmcr, 0)
            self.assertEqual(m.reg_read(0, pmcr), 0)
            m.memset(0x03300000, 4096, 0)
            m.edu_to_ram(0x220000)
            self.assertNotEqual(m.csr() & LINUX_ERROR_BITS, 0)
            self.assertEqual(m.memread(0x03300000, 4096), bytes(4096))
        finally:
            m.close()


@needs_qemu
class LineFill(unittest.TestCase):
    """tce-cache-line=8: one 64-byte TCE read per miss serves the line."""

    def test_line_fill_stats_and_new_tce_visible(self):
        m = CalgaryMachine(phb=1, machine_opts="tce-cache-line=8")
        try:
            m.edu_setup()
            m.program_tar(0)
            for i in range(4):
                m.set_tce(0x100 + i, tce(0x03000000 + 0x1000 * i))
            m.enable()
            for i in range(4):
                m.ram_to_edu(0x100000 + 0x1000 * i)
            self.assertEqual(m.stat("stat-cache-misses"), 1)
            self.assertEqual(m.stat("stat-cache-hits"), 3)
            self.assertEqual(m.stat("stat-tce-fetches"), 1)
            # 0x104 was invalid when its line was read: mapped now, no flush
            m.set_tce(0x104, tce(0x03300000))
            m.memwrite(0x03000000, pattern(21))
            m.ram_to_edu(0x100000)
            m.memset(0x03300000, 4096, 0)
            m.edu_to_ram(0x104000)
            self.assertEqual(m.memread(0x03300000, 4096), pattern(21))
            self.assertEqual(m.stat("stat-blocked"), 0)
        finally:
            m.close()


@needs_qemu
class TranslationBlocks(unittest.TestCase):
    """tce-block (default on): a translation covers a wholly cached,
    contiguous 64 KiB block; QEMU then maps a DMA across pages with one call."""

    def machine(self, opts):
        m = CalgaryMachine(phb=1, machine_opts=opts)
        m.edu_setup()
        m.program_tar(0)
        # IO pages 0x110..0x11f -> 0x03000000.. (a 64 KiB aligned block)
        for i in range(16):
            m.set_tce(0x110 + i, tce(0x03000000 + 0x1000 * i))
        m.enable()
        for i in range(16):        # warm the cache: one miss per page
            m.ram_to_edu(0x110000 + 0x1000 * i)
        return m

    def calls_for_straddling_dma(self, opts):
        m = self.machine(opts)
        try:
            m.memwrite(0x03004800, pattern(5))
            before = m.stat("stat-translations")
            m.ram_to_edu(0x114800)            # pages 0x114 and 0x115
            calls = m.stat("stat-translations") - before
            m.memset(0x0300a800, 4096, 0)
            m.edu_to_ram(0x11a800)            # pages 0x11a and 0x11b
            self.assertEqual(m.memread(0x0300a800, 4096), pattern(5))
            self.assertEqual(m.stat("stat-blocked"), 0)
            return calls
        finally:
            m.close()

    def test_one_call_per_block_and_one_per_page_when_off(self):
        self.assertEqual(self.calls_for_straddling_dma(""), 1)
        self.assertEqual(self.calls_for_straddling_dma("tce-block=off"), 2)

    def test_a_read_only_page_splits_the_block_and_stays_untouched(self):
        m = self.machine("")
        try:
            m.set_tce(0x11f, tce(0x0300f000, read=True, write=False))
            m.program_tar(0)                  # flush: the new TCE counts
            for i in range(16):
                m.ram_to_edu(0x110000 + 0x1000 * i)
            m.memset(0x0300e000, 0x2000, 0xAA)
            m.memwrite(0x40000, pattern(9))
            m.ram_to_edu(0x40000)             # untranslated window: EDU_BUF <- pattern
            m.edu_to_ram(0x11e800)            # second half hits the read-only page
            self.assertEqual(m.memread(0x0300f000, 0x1000), b"\xaa" * 0x1000)
            self.assertGreater(m.stat("stat-blocked"), 0)
        finally:
            m.close()


if __name__ == "__main__":
    unittest.main()
