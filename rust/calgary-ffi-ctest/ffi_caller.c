/*
 * A C caller of the Calgary FFI, compiled by build.rs with the same header
 * the QEMU shim uses and driven from tests/c_caller.rs: the boundary seen
 * from C. Test only: never part of libcalgary_ffi.a.
 */
#include <string.h>
#include "calgary-ffi.h"

/* Guest memory for the test: one TCE table of 8192 entries at 0x100000. */
static uint64_t test_tces[8192];

static bool test_read_tce(void *opaque, uint64_t addr, uint64_t *values,
                          uint32_t count)
{
    uint32_t i;

    (void)opaque;
    if (addr < 0x100000 || (addr & 7) ||
        addr + 8ULL * count > 0x100000 + sizeof(test_tces)) {
        return false;
    }
    for (i = 0; i < count; i++) {
        values[i] = test_tces[(addr - 0x100000) / 8 + i];
    }
    return true;
}

/*
 * Creates a chip from C, programs TAR and TCE_ENABLE through MMIO, maps IO
 * page 5 to 0x12345000 read/write, and translates. Returns 0 on success or
 * the number of the first failed step.
 */
int calgary_ffi_c_selftest(uint32_t *stuff_out, uint64_t *phys_out, uint32_t *csr_out)
{
    CalgaryChipConfig cfg;
    CalgaryChip *chip;
    CalgaryXlate x;
    CalgaryEvent ev;
    CalgaryPhbStats st;
    char err[128];
    int p;

    memset(&cfg, 0, sizeof(cfg));
    cfg.variant = CALGARY_VARIANT_CALGARY;
    cfg.bbar = 0xfef00000u;
    cfg.cache_policy = CALGARY_CACHE_FAITHFUL;
    cfg.cache_entries = 64;
    cfg.cache_ways = 4;
    cfg.cache_line = 8;
    cfg.tce_block = 1;
    for (p = 0; p < CALGARY_PHBS_PER_CHIP; p++) {
        cfg.phb[p].first_bus = CALGARY_BUS_BASE + CALGARY_BUS_STRIDE * p;
        cfg.phb[p].last_bus = cfg.phb[p].first_bus;
        cfg.phb[p].mem1_start = calgary_mem1_start(384u << 20);
        cfg.phb[p].mem1_limit = 0xffffffffu;
    }
    chip = calgary_chip_new(&cfg, test_read_tce, NULL, err, sizeof(err));
    if (!chip) {
        return 1;
    }
    *stuff_out = (uint32_t)calgary_mmio_read(chip, 0x4000 + 0x1000 * 1 + 0x20, 4, &ev);
    /* MEM_1 of -m 384M starts where SeaBIOS starts the PCI hole. */
    if (calgary_mmio_read(chip, 0x8000 + 0x1000 * 1 + 0x190, 4, &ev) != 0x80000000u ||
        calgary_mmio_read(chip, 0x8000 + 0x1000 * 1 + 0x1a0, 4, &ev) != 0) {
        calgary_chip_free(chip);
        return 6;
    }

    memset(test_tces, 0, sizeof(test_tces));
    test_tces[5] = 0x12345000u | 3u;
    calgary_mmio_write(chip, 0x580 + 8 * 1, 8, 0x100000u, &ev);        /* TAR, size 0 */
    calgary_mmio_write(chip, 0x8000 + 0x1000 * 1 + 0x160, 4, 0x20000000u, &ev);
    if (!calgary_translate(chip, 1, 0x5abc, CALGARY_ACCESS_WRITE, 0x24, 8, &x)) {
        calgary_chip_free(chip);
        return 2;
    }
    *phys_out = x.phys;
    /* IO page 6 is unmapped: blocked, latched, and reported once. */
    if (calgary_translate(chip, 1, 0x6000, CALGARY_ACCESS_READ, 0x24, 8, &x) ||
        !x.newly_latched) {
        calgary_chip_free(chip);
        return 3;
    }
    if (!calgary_phb_stats(chip, 1, &st) || st.blocked != 1) {
        calgary_chip_free(chip);
        return 4;
    }
    *csr_out = st.csr;
    if (strcmp(calgary_fault_reason_str(x.fault_reason), "unknown") == 0) {
        calgary_chip_free(chip);
        return 5;
    }
    calgary_chip_free(chip);
    return 0;
}
