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
 * Called from any thread, possibly with a chip lock held.
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

/* Guest RAM only: a TCE table pointed at MMIO is a failed fetch. */
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

static void calgary_chip_unrealize(DeviceState *dev)
{
    CalgaryChipState *s = CALGARY_CHIP(dev);

    calgary_chip_free(s->model);
    s->model = NULL;
    g_free(s->mig_buf);
    s->mig_buf = NULL;
}

static void calgary_chip_dev_reset(DeviceState *dev)
{
    CalgaryChipState *s = CALGARY_CHIP(dev);

    if (s->model) {
        calgary_chip_reset(s->model);
    }
}

static int calgary_chip_pre_save(void *opaque)
{
    CalgaryChipState *s = opaque;
    size_t need = calgary_state_save(s->model, NULL, 0);

    g_free(s->mig_buf);
    s->mig_buf = g_malloc(need);
    s->mig_len = calgary_state_save(s->model, s->mig_buf, need);
    return s->mig_len == need ? 0 : -EINVAL;
}

static int calgary_chip_post_load(void *opaque, int version_id)
{
    CalgaryChipState *s = opaque;
    char err[256] = "";

    if (!calgary_state_load(s->model, s->mig_buf, s->mig_len, err,
                            sizeof(err))) {
        error_report("calgary%u: cannot restore state: %s", s->index, err);
        return -EINVAL;
    }
    return 0;
}

static const VMStateDescription vmstate_calgary_chip = {
    .name = TYPE_CALGARY_CHIP,
    .version_id = 1,
    .minimum_version_id = 1,
    .pre_save = calgary_chip_pre_save,
    .post_load = calgary_chip_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(mig_len, CalgaryChipState),
        VMSTATE_VBUFFER_ALLOC_UINT32(mig_buf, CalgaryChipState, 1, NULL,
                                     mig_len),
        VMSTATE_END_OF_LIST()
    },
};

static const Property calgary_chip_props[] = {
    DEFINE_PROP_UINT32("index", CalgaryChipState, index, 0),
    DEFINE_PROP_UINT32("bbar", CalgaryChipState, bbar, 0xfef00000),
    DEFINE_PROP_UINT32("variant", CalgaryChipState, variant, 0),
    DEFINE_PROP_UINT32("cache-policy", CalgaryChipState, cache_policy,
                       CALGARY_CACHE_FAITHFUL),
    DEFINE_PROP_UINT32("cache-entries", CalgaryChipState, cache_entries, 256),
    DEFINE_PROP_UINT32("cache-ways", CalgaryChipState, cache_ways, 4),
    DEFINE_PROP_UINT32("cache-line", CalgaryChipState, cache_line, 1),
    DEFINE_PROP_UINT64("mem1-start", CalgaryChipState, mem1_start,
                       0xe0000000),
};

static void calgary_chip_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);

    dc->desc = "IBM Calgary/CalIOC2 chip register window";
    /* Before any chip exists: the model's log records go to QEMU's log. */
    calgary_log_init(calgary_log_enabled, calgary_log_line);
    dc->realize = calgary_chip_realize;
    dc->unrealize = calgary_chip_unrealize;
    dc->vmsd = &vmstate_calgary_chip;
    dc->user_creatable = false;
    device_class_set_legacy_reset(dc, calgary_chip_dev_reset);
    device_class_set_props(dc, calgary_chip_props);
}

static const TypeInfo calgary_chip_types[] = {
    {
        .name = TYPE_CALGARY_CHIP,
        .parent = TYPE_SYS_BUS_DEVICE,
        .instance_size = sizeof(CalgaryChipState),
        .class_init = calgary_chip_class_init,
    },
};

DEFINE_TYPES(calgary_chip_types)
