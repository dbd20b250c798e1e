/*
 * IBM Calgary / CalIOC2 IOMMU for QEMU - the chip.
 *
 * One sysbus device per chip: its big-endian 1 MiB register window (BBAR),
 * reset, migration, and the route from the model's diagnostics to QEMU's
 * log and trace events. The chip's PHBs are in calgary-phb.c, the machine
 * in hw/i386/calgary-machine.c. Every Calgary semantic lives in the Rust
 * core behind calgary-ffi.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "hw/sysbus.h"
#include "hw/qdev-properties.h"
#include "hw/resettable.h"
#include "exec/address-spaces.h"
#include "exec/memory.h"
#include "migration/vmstate.h"
#include "trace/trace-hw_pci_host.h"
#include "hw/pci-host/calgary.h"

/* ---------------------------------------------------------------- events */

static void calgary_report_event(CalgaryChipState *s, const CalgaryEvent *ev)
{
    switch (ev->kind) {
    case CALGARY_EVENT_GUEST_ERROR:
        /* -d guest_errors gets it from the model's log record (below). */
        trace_calgary_event(s->index, ev->text);
        break;
    case CALGARY_EVENT_FLUSH:
        trace_calgary_flush(s->index, ev->phb);
        break;
    case CALGARY_EVENT_INFO:
        trace_calgary_event(s->index, ev->text);
        break;
    default:
        break;
    }
}

/*
 * The model's diagnostics (calgary_log_init): guest errors and unemulated
 * functions go where QEMU's -d sends them, the rest to a trace event.
 * Called from any thread, possibly with a chip or PHB lock held.
 */
static bool calgary_log_enabled(uint32_t cls)
{
    switch (cls) {
    case CALGARY_LOG_ERROR:
        return true;
    case CALGARY_LOG_GUEST_ERROR:
        return qemu_loglevel_mask(LOG_GUEST_ERROR);
    case CALGARY_LOG_UNIMP:
        return qemu_loglevel_mask(LOG_UNIMP);
    default:
        return trace_event_get_state_backends(TRACE_CALGARY_EVENT);
    }
}

static void calgary_log_line(uint32_t cls, const char *msg)
{
    switch (cls) {
    case CALGARY_LOG_ERROR:
        error_report("%s", msg);
        break;
    case CALGARY_LOG_GUEST_ERROR:
        qemu_log_mask(LOG_GUEST_ERROR, "%s\n", msg);
        break;
    case CALGARY_LOG_UNIMP:
        qemu_log_mask(LOG_UNIMP, "%s\n", msg);
        break;
    default:
        trace_calgary_event(-1, msg);
        break;
    }
}

/* ------------------------------------------------------------ chip MMIO */

static uint64_t calgary_mmio_read_cb(void *opaque, hwaddr addr, unsigned size)
{
    CalgaryChipState *s = opaque;
    CalgaryEvent ev = { 0 };
    uint64_t val = calgary_mmio_read(s->model, addr, size, &ev);

    trace_calgary_mmio_read(s->index, addr, size, val);
    calgary_report_event(s, &ev);
    return val;
}

static void calgary_mmio_write_cb(void *opaque, hwaddr addr, uint64_t val,
                                  unsigned size)
{
    CalgaryChipState *s = opaque;
    CalgaryEvent ev = { 0 };

    trace_calgary_mmio_write(s->index, addr, size, val);
    calgary_mmio_write(s->model, addr, size, val, &ev);
    calgary_report_event(s, &ev);
}

static const MemoryRegionOps calgary_mmio_ops = {
    .read = calgary_mmio_read_cb,
    .write = calgary_mmio_write_cb,
    .endianness = DEVICE_BIG_ENDIAN,
    /* every width reaches the core, which reports the ones a register lacks */
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 1, .max_access_size = 8 },
};

/*
 * Guest RAM only: a TCE table pointed at MMIO is a failed fetch. Runs with
 * one PHB's lock held, concurrently for different PHBs (RCU only).
 */
static bool calgary_read_tce(void *opaque, uint64_t addr, uint64_t *values,
                             uint32_t count)
{
    MemoryRegion *mr;
    hwaddr xlat, len = 8ULL * count;
    const uint8_t *p;
    uint32_t i;

    RCU_READ_LOCK_GUARD();
    mr = address_space_translate(&address_space_memory, addr, &xlat, &len,
                                 false, MEMTXATTRS_UNSPECIFIED);
    if (count == 0 || len < 8ULL * count || !memory_region_is_ram(mr) ||
        memory_region_is_ram_device(mr)) {
        return false;
    }
    p = (const uint8_t *)memory_region_get_ram_ptr(mr) + xlat;
    for (i = 0; i < count; i++) {
        values[i] = ldq_be_p(p + 8 * i);
    }
    return true;
}

/* ------------------------------------------------------------ migration */

/*
 * Field-level: every register of every PHB is its own field, named as in
 * the core's register table, so a register added later goes into a new
 * subsection and older streams still load. The core checks the fields as
 * a whole on load (CSR against the latched fault, cache lines against the
 * geometry) and refuses inconsistent ones. Configuration that must match
 * on both sides is compared with _EQUAL fields.
 */
#define VMSTATE_CALGARY_REG(_name, _idx) {                              \
    .name = (_name),                                                    \
    .info = &vmstate_info_uint64,                                       \
    .size = sizeof(uint64_t),                                           \
    .flags = VMS_SINGLE,                                                \
    .offset = offsetof(CalgaryPhbMig, img.regs) +                       \
              (_idx) * sizeof(uint64_t),                                \
}

static const VMStateDescription vmstate_calgary_fault = {
    .name = "calgary-fault-record",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(io_addr, CalgaryFaultRecord),
        VMSTATE_UINT8(present, CalgaryFaultRecord),
        VMSTATE_UINT8(write, CalgaryFaultRecord),
        VMSTATE_UINT8(bus, CalgaryFaultRecord),
        VMSTATE_UINT8(devfn, CalgaryFaultRecord),
        VMSTATE_UINT8(reason, CalgaryFaultRecord),
        VMSTATE_END_OF_LIST()
    },
};

static void calgary_mig_free(CalgaryChipState *s)
{
    int p;

    for (p = 0; p < CALGARY_PHBS_PER_CHIP; p++) {
        g_free(s->mig[p].img.lines);
        s->mig[p].img.lines = NULL;
        s->mig[p].img.n_lines = 0;
        s->mig[p].line_room = 0;
    }
}

/* Buffers for the valid cache lines: at most the cache's entries. */
static void calgary_mig_alloc(CalgaryChipState *s)
{
    uint32_t room = s->cache_policy == CALGARY_CACHE_OFF ? 0 :
                    s->cache_entries;
    int p;

    calgary_mig_free(s);
    for (p = 0; p < CALGARY_PHBS_PER_CHIP; p++) {
        s->mig[p].chip = s;
        s->mig[p].line_room = room;
        s->mig[p].img.lines = room ? g_new0(CalgaryCacheLine, room) : NULL;
        s->mig[p].img.n_lines = room;
    }
}

/* The core reads and writes the four images as one contiguous array. */
static bool calgary_mig_export(CalgaryChipState *s, char *err, size_t len)
{
    CalgaryPhbImage img[CALGARY_PHBS_PER_CHIP];
    int p;

    for (p = 0; p < CALGARY_PHBS_PER_CHIP; p++) {
        img[p] = s->mig[p].img;
    }
    if (!calgary_state_export(s->model, img, err, len)) {
        return false;
    }
    for (p = 0; p < CALGARY_PHBS_PER_CHIP; p++) {
        s->mig[p].img = img[p];
    }
    return true;
}

static int calgary_chip_pre_save(void *opaque)
{
    CalgaryChipState *s = opaque;
    char err[256] = "";

    calgary_mig_alloc(s);
    if (!calgary_mig_export(s, err, sizeof(err))) {
        error_report("calgary%u: cannot save state: %s", s->index, err);
        calgary_mig_free(s);
        return -EINVAL;
    }
    return 0;
}

static int calgary_chip_post_save(void *opaque)
{
    calgary_mig_free(opaque);
    return 0;
}

/*
 * Fields of absent subsections keep what is set here: the chip's own
 * (reset) registers, an empty cache, zero statistics, no last fault.
 */
static int calgary_chip_pre_load(void *opaque)
{
    CalgaryChipState *s = opaque;
    char err[256] = "";
    int p;

    calgary_mig_alloc(s);
    if (!calgary_mig_export(s, err, sizeof(err))) {
        error_report("calgary%u: cannot load state: %s", s->index, err);
        calgary_mig_free(s);
        return -EINVAL;
    }
    for (p = 0; p < CALGARY_PHBS_PER_CHIP; p++) {
        CalgaryPhbImage *img = &s->mig[p].img;

        img->n_lines = 0;
        img->cache_clock = 0;
        memset(img->stats, 0, sizeof(img->stats));
        memset(&img->last, 0, sizeof(img->last));
        img->inject_split_busy = 0;
        img->inject_softstop_faults = 0;
        img->inject_tce_fetch_fail = 0;
        img->inject_error_latched = 0;
        memset(img->inject_stats, 0, sizeof(img->inject_stats));
    }
    return 0;
}

static int calgary_chip_post_load(void *opaque, int version_id)
{
    CalgaryChipState *s = opaque;
    CalgaryPhbImage img[CALGARY_PHBS_PER_CHIP];
    char err[256] = "";
    bool ok;
    int p;

    for (p = 0; p < CALGARY_PHBS_PER_CHIP; p++) {
        img[p] = s->mig[p].img;
    }
    ok = calgary_state_import(s->model, img, err, sizeof(err));
    calgary_mig_free(s);
    if (!ok) {
        error_report("calgary%u: cannot restore state: %s", s->index, err);
        return -EINVAL;
    }
    return 0;
}

static bool calgary_phb_calioc2_needed(void *opaque)
{
    CalgaryPhbMig *m = opaque;

    return m->chip->variant == CALGARY_VARIANT_CALIOC2;
}

/* CalIOC2's own registers, with the page-migration (stop) state in PMCR. */
static const VMStateDescription vmstate_calgary_phb_calioc2 = {
    .name = "calgary-phb/calioc2",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = calgary_phb_calioc2_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_CALGARY_REG("ROOT_COMPLEX_STATUS", 32),
        VMSTATE_CALGARY_REG("PAGE_MIG_DEBUG", 33),
        VMSTATE_CALGARY_REG("PAGE_MIG_CTRL", 34),
        VMSTATE_CALGARY_REG("SAVIOR_L2", 35),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_calgary_cache_line = {
    .name = "calgary-tce-cache-line",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(slot, CalgaryCacheLine),
        VMSTATE_UINT32(tag, CalgaryCacheLine),
        VMSTATE_UINT64(stamp, CalgaryCacheLine),
        VMSTATE_UINT64(tce, CalgaryCacheLine),
        VMSTATE_END_OF_LIST()
    },
};

static bool calgary_phb_cache_needed(void *opaque)
{
    CalgaryPhbMig *m = opaque;

    return m->img.n_lines || m->img.cache_clock;
}

/* A stream's line count must fit the buffer before the lines are read. */
static bool calgary_phb_lines_fit(void *opaque, int version_id)
{
    CalgaryPhbMig *m = opaque;

    return m->img.n_lines <= m->line_room;
}

/* The TCE cache's contents: a faithful cache may hold stale TCEs. */
static const VMStateDescription vmstate_calgary_phb_cache = {
    .name = "calgary-phb/tce-cache",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = calgary_phb_cache_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(img.cache_clock, CalgaryPhbMig),
        VMSTATE_UINT32(img.n_lines, CalgaryPhbMig),
        VMSTATE_VALIDATE("lines fit the cache", calgary_phb_lines_fit),
        VMSTATE_STRUCT_VARRAY_POINTER_UINT32(img.lines, CalgaryPhbMig,
                                             img.n_lines,
                                             vmstate_calgary_cache_line,
                                             CalgaryCacheLine),
        VMSTATE_END_OF_LIST()
    },
};

static bool calgary_phb_stats_needed(void *opaque)
{
    CalgaryPhbMig *m = opaque;
    int i;

    for (i = 0; i < CALGARY_STAT_COUNT; i++) {
        if (m->img.stats[i]) {
            return true;
        }
    }
    return m->img.last.present;
}

/* Statistics and the last blocked DMA: what `info calgary` shows. */
static const VMStateDescription vmstate_calgary_phb_stats = {
    .name = "calgary-phb/stats",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = calgary_phb_stats_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64_ARRAY(img.stats, CalgaryPhbMig, CALGARY_STAT_COUNT),
        VMSTATE_STRUCT(img.last, CalgaryPhbMig, 1, vmstate_calgary_fault,
                       CalgaryFaultRecord),
        VMSTATE_END_OF_LIST()
    },
};

static bool calgary_phb_inject_needed(void *opaque)
{
    CalgaryPhbImage *img = &((CalgaryPhbMig *)opaque)->img;
    int i;

    for (i = 0; i < CALGARY_INJECT_STAT_COUNT; i++) {
        if (img->inject_stats[i]) {
            return true;
        }
    }
    return img->inject_split_busy || img->inject_softstop_faults ||
           img->inject_tce_fetch_fail || img->inject_error_latched;
}

/* Armed fault injections (calgary-inject.c) and what they did. */
static const VMStateDescription vmstate_calgary_phb_inject = {
    .name = "calgary-phb/inject",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = calgary_phb_inject_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(img.inject_split_busy, CalgaryPhbMig),
        VMSTATE_UINT32(img.inject_softstop_faults, CalgaryPhbMig),
        VMSTATE_UINT32(img.inject_tce_fetch_fail, CalgaryPhbMig),
        VMSTATE_UINT8(img.inject_error_latched, CalgaryPhbMig),
        VMSTATE_UINT64_ARRAY(img.inject_stats, CalgaryPhbMig,
                             CALGARY_INJECT_STAT_COUNT),
        VMSTATE_END_OF_LIST()
    },
};

static const VMStateDescription vmstate_calgary_phb = {
    .name = "calgary-phb",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_CALGARY_REG("CALGARY_CONFIG", 0),
        VMSTATE_CALGARY_REG("TAR", 1),
        VMSTATE_CALGARY_REG("SPLIT_QUEUE_STATUS", 2),
        VMSTATE_CALGARY_REG("PHB_DEBUG_STUFF", 3),
        VMSTATE_CALGARY_REG("CSR", 4),
        VMSTATE_CALGARY_REG("PLSSR", 5),
        VMSTATE_CALGARY_REG("PHB_CONFIG_RW", 6),
        VMSTATE_CALGARY_REG("IOBASE_BAR_LOW", 7),
        VMSTATE_CALGARY_REG("IOBASE_BAR_HIGH", 8),
        VMSTATE_CALGARY_REG("MEM_1_LOW", 9),
        VMSTATE_CALGARY_REG("MEM_1_HIGH", 10),
        VMSTATE_CALGARY_REG("IO_ADDR_SIZE", 11),
        VMSTATE_CALGARY_REG("MEM_1_SIZE", 12),
        VMSTATE_CALGARY_REG("MEM_ST", 13),
        VMSTATE_CALGARY_REG("AER", 14),
        VMSTATE_CALGARY_REG("CONFIG_0_HIGH", 15),
        VMSTATE_CALGARY_REG("CONFIG_0_LOW", 16),
        VMSTATE_CALGARY_REG("CONFIG_0_END", 17),
        VMSTATE_CALGARY_REG("CSMR", 18),
        VMSTATE_CALGARY_REG("MEM_2_LOW", 19),
        VMSTATE_CALGARY_REG("MEM_2_HIGH", 20),
        VMSTATE_CALGARY_REG("MEM_2_SIZE_HIGH", 21),
        VMSTATE_CALGARY_REG("MEM_2_SIZE_LOW", 22),
        VMSTATE_CALGARY_REG("MCK", 23),
        VMSTATE_CALGARY_REG("ERR_0x810", 24),
        VMSTATE_CALGARY_REG("ERR_0x820", 25),
        VMSTATE_CALGARY_REG("ERR_0x830", 26),
        VMSTATE_CALGARY_REG("ERR_0x840", 27),
        VMSTATE_CALGARY_REG("ERR_0x850", 28),
        VMSTATE_CALGARY_REG("ERR_0x860", 29),
        VMSTATE_CALGARY_REG("ERR_0x870", 30),
        VMSTATE_CALGARY_REG("DOSHOLE", 31),
        VMSTATE_STRUCT(img.latched, CalgaryPhbMig, 1, vmstate_calgary_fault,
                       CalgaryFaultRecord),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_calgary_phb_calioc2,
        &vmstate_calgary_phb_cache,
        &vmstate_calgary_phb_stats,
        &vmstate_calgary_phb_inject,
        NULL
    },
};

/* Every register field above carries the core's name for its index. */
static bool calgary_mig_fields_match(const VMStateDescription *vmsd,
                                     Error **errp)
{
    const VMStateField *f;
    size_t base = offsetof(CalgaryPhbMig, img.regs);
    const VMStateDescription *const *sub;

    for (f = vmsd->fields; f->name; f++) {
        size_t idx = (f->offset - base) / sizeof(uint64_t);
        const char *want;

        if (f->info != &vmstate_info_uint64 || f->offset < base ||
            idx >= CALGARY_REG_COUNT) {
            continue;
        }
        want = calgary_reg_name(idx);
        if (!want || strcmp(want, f->name)) {
            error_setg(errp, "calgary: migration field %s is register %s of "
                       "the core", f->name, want ? want : "(none)");
            return false;
        }
    }
    for (sub = vmsd->subsections; sub && *sub; sub++) {
        if (!calgary_mig_fields_match(*sub, errp)) {
            return false;
        }
    }
    return true;
}

static const VMStateDescription vmstate_calgary_chip = {
    .name = TYPE_CALGARY_CHIP,
    .version_id = 2,
    .minimum_version_id = 2,
    /* Before the devices whose DMA it translates. */
    .priority = MIG_PRI_IOMMU,
    .pre_save = calgary_chip_pre_save,
    .post_save = calgary_chip_post_save,
    .pre_load = calgary_chip_pre_load,
    .post_load = calgary_chip_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32_EQUAL(index, CalgaryChipState, NULL),
        VMSTATE_UINT32_EQUAL(variant, CalgaryChipState,
                             "the machine's variant must match"),
        VMSTATE_UINT32_EQUAL(bbar, CalgaryChipState,
                             "the machine's layout must match"),
        VMSTATE_UINT8_EQUAL(phb_bus[0], CalgaryChipState,
                            "the machine's layout must match"),
        VMSTATE_UINT8_EQUAL(phb_bus[1], CalgaryChipState, NULL),
        VMSTATE_UINT8_EQUAL(phb_bus[2], CalgaryChipState, NULL),
        VMSTATE_UINT8_EQUAL(phb_bus[3], CalgaryChipState, NULL),
        VMSTATE_UINT32_EQUAL(cache_policy, CalgaryChipState,
                             "tce-cache must match"),
        VMSTATE_UINT32_EQUAL(cache_entries, CalgaryChipState,
                             "tce-cache-entries must match"),
        VMSTATE_UINT32_EQUAL(cache_ways, CalgaryChipState,
                             "tce-cache-ways must match"),
        VMSTATE_UINT32_EQUAL(cache_line, CalgaryChipState,
                             "tce-cache-line must match"),
        VMSTATE_UINT64_EQUAL(mem1_start, CalgaryChipState,
                             "the RAM size below 4 GiB must match"),
        VMSTATE_STRUCT_ARRAY(mig, CalgaryChipState, CALGARY_PHBS_PER_CHIP, 1,
                             vmstate_calgary_phb, CalgaryPhbMig),
        VMSTATE_END_OF_LIST()
    },
};

static void calgary_chip_realize(DeviceState *dev, Error **errp)
{
    CalgaryChipState *s = CALGARY_CHIP(dev);
    CalgaryChipConfig cfg = {
        .variant = s->variant,
        .bbar = s->bbar,
        .chassis = 0,
        .cache_policy = s->cache_policy,
        .cache_entries = s->cache_entries,
        .cache_ways = s->cache_ways,
        .cache_line = s->cache_line,
        .tce_block = s->tce_block,
    };
    char err[256] = "";
    char name[32];
    int p;

    for (p = 0; p < CALGARY_PHBS_PER_CHIP; p++) {
        cfg.phb[p].first_bus = s->phb_bus[p];
        cfg.phb[p].last_bus = s->phb_bus[p];
        cfg.phb[p].mem1_start = s->mem1_start;
        cfg.phb[p].mem1_limit = 0xffffffffULL;
    }
    if (!calgary_mig_fields_match(&vmstate_calgary_phb, errp)) {
        return;
    }
    s->model = calgary_chip_new(&cfg, calgary_read_tce, s, err, sizeof(err));
    if (!s->model) {
        error_setg(errp, "calgary: %s", err);
        return;
    }
    snprintf(name, sizeof(name), "calgary%u", s->index);
    calgary_chip_set_name(s->model, name);
    snprintf(name, sizeof(name), "calgary%u-bbar", s->index);
    memory_region_init_io(&s->mmio, OBJECT(dev), &calgary_mmio_ops, s, name,
                          CALGARY_WINDOW_SIZE);
    sysbus_init_mmio(SYS_BUS_DEVICE(dev), &s->mmio);
}

/*
 * The model lives as long as the object: PHB hosts hold the chip, and their
 * IOMMU regions may translate from other threads until they are gone.
 */
static void calgary_chip_finalize(Object *obj)
{
    CalgaryChipState *s = CALGARY_CHIP(obj);

    calgary_chip_free(s->model);
    s->model = NULL;
    calgary_mig_free(s);
}

/*
 * Reset in the exit phase, as an IOMMU must (docs/devel/reset.rst,
 * intel_iommu): devices still quiescing in their enter/hold phases keep
 * their DMA translated by the tables they were given until then.
 */
static void calgary_chip_reset_exit(Object *obj, ResetType type)
{
    CalgaryChipState *s = CALGARY_CHIP(obj);

    if (s->model) {
        calgary_chip_reset(s->model);
        calgary_inject_chip_reset(s);
    }
}

static const Property calgary_chip_props[] = {
    DEFINE_PROP_UINT32("index", CalgaryChipState, index, 0),
    DEFINE_PROP_UINT32("bbar", CalgaryChipState, bbar, 0xfef00000),
    DEFINE_PROP_UINT32("variant", CalgaryChipState, variant, 0),
    DEFINE_PROP_UINT32("cache-policy", CalgaryChipState, cache_policy,
                       CALGARY_CACHE_FAITHFUL),
    DEFINE_PROP_UINT32("cache-entries", CalgaryChipState, cache_entries, 256),
    DEFINE_PROP_UINT32("cache-ways", CalgaryChipState, cache_ways, 4),
    DEFINE_PROP_UINT32("cache-line", CalgaryChipState, cache_line, 1),
    DEFINE_PROP_BOOL("tce-block", CalgaryChipState, tce_block, true),
    DEFINE_PROP_UINT64("mem1-start", CalgaryChipState, mem1_start,
                       0xe0000000),
    DEFINE_PROP_STRING("inject", CalgaryChipState, inject),
};

static void calgary_chip_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    dc->desc = "IBM Calgary/CalIOC2 chip register window";
    /* Before any chip exists: the model's log records go to QEMU's log. */
    calgary_log_init(calgary_log_enabled, calgary_log_line);
    dc->realize = calgary_chip_realize;
    dc->vmsd = &vmstate_calgary_chip;
    dc->user_creatable = false;
    rc->phases.exit = calgary_chip_reset_exit;
    device_class_set_props(dc, calgary_chip_props);
}

static const TypeInfo calgary_chip_types[] = {
    {
        .name = TYPE_CALGARY_CHIP,
        .parent = TYPE_SYS_BUS_DEVICE,
        .instance_size = sizeof(CalgaryChipState),
        .instance_finalize = calgary_chip_finalize,
        .class_init = calgary_chip_class_init,
    },
};

DEFINE_TYPES(calgary_chip_types)
