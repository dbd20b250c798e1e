/*
 * IBM Calgary / CalIOC2 IOMMU for QEMU - the C shim.
 *
 * QOM glue only: the `calgary` machine (an i440FX PC plus Calgary chips),
 * each chip's big-endian 1 MiB register window, one PCI root bus and
 * host-bridge object per PHB (made the way pxb makes its extra root buses),
 * one IOMMU address space per device, firmware hooks (Rio table option ROM,
 * E820), vmstate. Every Calgary semantic lives in the Rust core behind
 * calgary-ffi.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/units.h"
#include "qom/object.h"
#include "hw/boards.h"
#include "hw/sysbus.h"
#include "hw/qdev-properties.h"
#include "hw/resettable.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pci_host.h"
#include "hw/pci/pci_ids.h"
#include "hw/i386/pc.h"
#include "hw/i386/x86.h"
#include "hw/i386/e820_memory_layout.h"
#include "hw/pci-host/i440fx.h"
#include "hw/pci/pci_bridge.h"
#include "system/system.h"
#include "hw/nvram/fw_cfg.h"
#include "exec/address-spaces.h"
#include "exec/memory.h"
#include "migration/vmstate.h"
#include "monitor/monitor.h"
#include "monitor/hmp-target.h"
#include "trace/trace-hw_pci_host.h"
#include "calgary-ffi.h"

#define TYPE_CALGARY_MACHINE   MACHINE_TYPE_NAME("calgary")
#define TYPE_CALGARY_PARENT    MACHINE_TYPE_NAME("pc-i440fx-10.0")
#define TYPE_CALGARY_CHIP      "calgary-chip"
#define TYPE_CALGARY_PHB_HOST  "calgary-phb-host"
#define TYPE_CALGARY_PHB_BUS   "calgary-phb-bus"
#define TYPE_CALGARY_PHB_FUNC  "calgary-phb"
#define TYPE_CALGARY_IOMMU_MR  "calgary-iommu-memory-region"

#define CALGARY_MSI_BASE       0xfee00000ULL
#define CALGARY_MSI_SIZE       0x100000ULL

/*
 * bus0-phb=on: the 82441 moves from 00.0 to this slot, so that chip 0 PHB
 * 0's function can be 00:00.0 as on x366 (every Linux version reads devfn
 * 0 of a bus to decide whether it is a Calgary bus). The last slot keeps
 * every automatically placed device where it was.
 */
#define CALGARY_NB_SLOT        "31"

OBJECT_DECLARE_SIMPLE_TYPE(CalgaryChipState, CALGARY_CHIP)
OBJECT_DECLARE_SIMPLE_TYPE(CalgaryPhbHost, CALGARY_PHB_HOST)
OBJECT_DECLARE_SIMPLE_TYPE(CalgaryMachineState, CALGARY_MACHINE)

typedef struct CalgaryDevAS {
    IOMMUMemoryRegion iommu;
    MemoryRegion root;
    MemoryRegion msi;
    AddressSpace as;
    CalgaryPhbHost *phb;
    uint8_t devfn;
} CalgaryDevAS;

struct CalgaryPhbHost {
    PCIHostState parent_obj;
    CalgaryChipState *chip;
    PCIBus *bus0;
    uint32_t chip_index;
    uint32_t phb_index;
    uint8_t bus_nr;
    bool on_bus0;            /* bus0-phb=on: this PHB's bus is bus 0 */
    char bus_name[16];
    char bus_path[8];
    int32_t irq_level[PCI_NUM_PINS];
    CalgaryDevAS *das[256];
};

struct CalgaryChipState {
    SysBusDevice parent_obj;
    MemoryRegion mmio;
    CalgaryChip *model;
    uint32_t index;
    uint32_t bbar;
    uint32_t variant;
    uint32_t cache_policy;
    uint32_t cache_entries;
    uint32_t cache_ways;
    uint32_t cache_line;
    uint64_t mem1_start;
    uint8_t phb_bus[CALGARY_PHBS_PER_CHIP];   /* set by the machine */
    /* migration: the core's snapshot bytes */
    uint8_t *mig_buf;
    uint32_t mig_len;
};

struct CalgaryMachineState {
    PCMachineState parent_obj;
    uint32_t chips;
    bool bus0_phb;
    uint32_t layout;
    CalgaryPlatform plat;
    Notifier machine_done;
    uint32_t variant;
    uint32_t cache_policy;
    uint32_t cache_entries;
    uint32_t cache_ways;
    uint32_t cache_line;
    CalgaryChipState *chip[CALGARY_MAX_CHIPS];
};

static void (*calgary_parent_init)(MachineState *ms);

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

/* --------------------------------------------------------- IOMMU regions */

static IOMMUTLBEntry calgary_iommu_translate(IOMMUMemoryRegion *iommu,
                                             hwaddr addr,
                                             IOMMUAccessFlags flag,
                                             int iommu_idx)
{
    CalgaryDevAS *das = container_of(iommu, CalgaryDevAS, iommu);
    CalgaryPhbHost *h = das->phb;
    CalgaryXlate x;
    uint32_t access;
    IOMMUTLBEntry e = {
        .target_as = &address_space_memory,
        .iova = addr & ~0xfffULL,
        .translated_addr = 0,
        .addr_mask = 0xfff,
        .perm = IOMMU_NONE,
    };

    switch (flag) {
    case IOMMU_RO:
        access = CALGARY_ACCESS_READ;
        break;
    case IOMMU_WO:
        access = CALGARY_ACCESS_WRITE;
        break;
    case IOMMU_RW:
        access = CALGARY_ACCESS_READ | CALGARY_ACCESS_WRITE;
        break;
    default:
        access = CALGARY_ACCESS_PROBE;
        break;
    }
    if (calgary_translate(h->chip->model, h->phb_index, addr, access,
                          h->bus_nr, das->devfn, &x)) {
        e.addr_mask = x.addr_mask;
        e.iova = addr & ~x.addr_mask;
        e.translated_addr = x.phys & ~x.addr_mask;
        e.perm = (x.read ? IOMMU_RO : 0) | (x.write ? IOMMU_WO : 0);
        trace_calgary_translate(h->bus_name, das->devfn, addr, flag,
                                x.phys, e.perm);
    } else {
        const char *why = calgary_fault_reason_str(x.fault_reason);
        const char *dir = (access & CALGARY_ACCESS_WRITE) ? "write" : "read";

        /* -d guest_errors: the model logs the DMA that latched CSR. */
        trace_calgary_fault(h->bus_name, das->devfn, addr, dir, why);
    }
    return e;
}

static int calgary_iommu_notify_flag_changed(IOMMUMemoryRegion *iommu,
                                             IOMMUNotifierFlag old_flags,
                                             IOMMUNotifierFlag new_flags,
                                             Error **errp)
{
    if (new_flags != IOMMU_NOTIFIER_NONE) {
        error_setg(errp, "calgary: IOMMU notifiers are not supported "
                   "(vhost and vfio cannot be used behind a Calgary PHB)");
        return -EINVAL;
    }
    return 0;
}

static void calgary_iommu_mr_class_init(ObjectClass *klass, void *data)
{
    IOMMUMemoryRegionClass *imrc = IOMMU_MEMORY_REGION_CLASS(klass);

    imrc->translate = calgary_iommu_translate;
    imrc->notify_flag_changed = calgary_iommu_notify_flag_changed;
}

static AddressSpace *calgary_get_address_space(PCIBus *bus, void *opaque,
                                               int devfn)
{
    CalgaryPhbHost *h = opaque;
    CalgaryDevAS *das = h->das[devfn & 0xff];
    char name[64];

    if (das) {
        return &das->as;
    }
    das = g_new0(CalgaryDevAS, 1);
    das->phb = h;
    das->devfn = devfn;
    h->das[devfn & 0xff] = das;

    snprintf(name, sizeof(name), "%s-%02x.%x-dma", h->bus_name,
             PCI_SLOT(devfn), PCI_FUNC(devfn));
    memory_region_init(&das->root, OBJECT(h), name, UINT64_MAX);
    snprintf(name, sizeof(name), "%s-%02x.%x-iommu", h->bus_name,
             PCI_SLOT(devfn), PCI_FUNC(devfn));
    memory_region_init_iommu(&das->iommu, sizeof(das->iommu),
                             TYPE_CALGARY_IOMMU_MR, OBJECT(h), name,
                             UINT64_MAX);
    memory_region_add_subregion_overlap(&das->root, 0,
                                        MEMORY_REGION(&das->iommu), 0);
    /* MSI writes reach the interrupt controller untranslated. */
    snprintf(name, sizeof(name), "%s-%02x.%x-msi", h->bus_name,
             PCI_SLOT(devfn), PCI_FUNC(devfn));
    memory_region_init_alias(&das->msi, OBJECT(h), name, get_system_memory(),
                             CALGARY_MSI_BASE, CALGARY_MSI_SIZE);
    memory_region_add_subregion_overlap(&das->root, CALGARY_MSI_BASE,
                                        &das->msi, 1);
    snprintf(name, sizeof(name), "%s-%02x.%x", h->bus_name, PCI_SLOT(devfn),
             PCI_FUNC(devfn));
    address_space_init(&das->as, &das->root, name);
    return &das->as;
}

static const PCIIOMMUOps calgary_iommu_ops = {
    .get_address_space = calgary_get_address_space,
};

/* ------------------------------------------------------------ PHB bus */

static int calgary_phb_bus_num(PCIBus *bus)
{
    return CALGARY_PHB_HOST(BUS(bus)->parent)->bus_nr;
}

static void calgary_phb_bus_uid_get(Object *obj, Visitor *v, const char *name,
                                    void *opaque, Error **errp)
{
    uint32_t uid = pci_bus_num(PCI_BUS(obj));

    visit_type_uint32(v, name, &uid, errp);
}

static void calgary_phb_bus_class_init(ObjectClass *klass, void *data)
{
    PCIBusClass *pbc = PCI_BUS_CLASS(klass);

    pbc->bus_num = calgary_phb_bus_num;
    object_class_property_add(klass, "acpi_uid", "uint32",
                              calgary_phb_bus_uid_get, NULL, NULL, NULL);
}

/*
 * INTx: QEMU's _PRT for an extra root bus maps slot S pin P to PIIX link
 * (S + P - 1) & 3, as on bus 0. PIIX keeps one level per link, so our levels
 * are added into bus 0's per-link counts (what pci_bus_change_irq_level does
 * for bus 0's own devices) instead of overwriting them.
 */
static int calgary_phb_map_irq(PCIDevice *dev, int pin)
{
    return (PCI_SLOT(dev->devfn) + pin - 1) & 3;
}

static void calgary_phb_bus0_change(PCIBus *bus0, int pirq, int change)
{
    bus0->irq_count[pirq] += change;
    bus0->set_irq(bus0->irq_opaque, pirq, bus0->irq_count[pirq] != 0);
}

static void calgary_phb_set_irq(void *opaque, int pirq, int level)
{
    CalgaryPhbHost *h = opaque;

    level = !!level;
    if (pirq < 0 || pirq >= PCI_NUM_PINS || h->irq_level[pirq] == level) {
        return;
    }
    h->irq_level[pirq] = level;
    calgary_phb_bus0_change(h->bus0, pirq, level ? 1 : -1);
}

/* Reset: withdraw our share of bus 0's link levels before bus 0 checks them. */
static void calgary_phb_reset_enter(Object *obj, ResetType type)
{
    CalgaryPhbHost *h = CALGARY_PHB_HOST(obj);
    int i;

    for (i = 0; i < PCI_NUM_PINS; i++) {
        if (h->irq_level[i]) {
            h->irq_level[i] = 0;
            calgary_phb_bus0_change(h->bus0, i, -1);
        }
    }
}

/* ------------------------------------------------------------ PHB host */

static const char *calgary_phb_root_bus_path(PCIHostState *host,
                                             PCIBus *rootbus)
{
    CalgaryPhbHost *h = CALGARY_PHB_HOST(host);

    snprintf(h->bus_path, sizeof(h->bus_path), "0000:%02x", h->bus_nr);
    return h->bus_path;
}

static void calgary_phb_host_realize(DeviceState *dev, Error **errp)
{
    CalgaryPhbHost *h = CALGARY_PHB_HOST(dev);
    PCIHostState *phs = PCI_HOST_BRIDGE(dev);
    PCIBus *bus, *b;
    PCIDevice *func;

    if (!h->chip || !h->bus0) {
        error_setg(errp, "calgary-phb-host is created by the calgary machine");
        return;
    }
    h->bus_nr = h->chip->phb_bus[h->phb_index];
    snprintf(h->bus_name, sizeof(h->bus_name), "calgary%u.%u",
             h->chip_index, h->phb_index);

    if (h->on_bus0) {
        /*
         * bus0-phb=on: bus 0 is this PHB's bus. Its devices (the PIIX
         * functions and anything added there) DMA through this PHB, its
         * function is 00:00.0 (slot 0 was kept free by the i440FX), and no
         * root bus of its own is made. INTx of bus 0 stays the PIIX's.
         */
        pci_setup_iommu(h->bus0, &calgary_iommu_ops, h);
        pci_bus_clear_slot_reserved_mask(h->bus0, 1u << 0);
        func = pci_new(PCI_DEVFN(0, 0), TYPE_CALGARY_PHB_FUNC);
        qdev_prop_set_uint32(DEVICE(func), "variant", h->chip->variant);
        pci_realize_and_unref(func, h->bus0, errp);
        return;
    }
    QLIST_FOREACH(b, &h->bus0->child, sibling) {
        if (pci_bus_num(b) == h->bus_nr) {
            error_setg(errp, "calgary: bus 0x%02x is already in use", h->bus_nr);
            return;
        }
    }

    bus = pci_root_bus_new(dev, h->bus_name, get_system_memory(),
                           get_system_io(), 0, TYPE_CALGARY_PHB_BUS);
    phs->bus = bus;
    pci_bus_irqs(bus, calgary_phb_set_irq, h, PCI_NUM_PINS);
    pci_bus_map_irqs(bus, calgary_phb_map_irq);
    pci_setup_iommu(bus, &calgary_iommu_ops, h);

    /* The PHB's own function at 00.0; user devices go to slots 1..7. */
    func = pci_new(PCI_DEVFN(0, 0), TYPE_CALGARY_PHB_FUNC);
    qdev_prop_set_uint32(DEVICE(func), "variant", h->chip->variant);
    if (!pci_realize_and_unref(func, bus, errp)) {
        return;
    }
    pci_bus_set_slot_reserved_mask(bus, 0xffffff01u);

    /* Linked under bus 0 so config cycles, SeaBIOS and the DSDT find it. */
    QLIST_INSERT_HEAD(&h->bus0->child, bus, sibling);
}

/* The model's one-line description of a PHB (calgary_phb_summary). */
static char *calgary_phb_line(CalgaryPhbHost *h)
{
    CalgaryChip *model = h->chip ? h->chip->model : NULL;
    size_t len = model ? calgary_phb_summary(model, h->phb_index, NULL, 0) : 0;
    char *line;

    if (len == 0) {
        return g_strdup("unavailable");
    }
    line = g_malloc(len + 1);
    calgary_phb_summary(model, h->phb_index, line, len + 1);
    return line;
}

static void calgary_phb_stats_get(Object *obj, Visitor *v, const char *name,
                                  void *opaque, Error **errp)
{
    CalgaryPhbHost *h = CALGARY_PHB_HOST(obj);
    CalgaryPhbStats st;
    uint64_t val = 0;
    uintptr_t off = (uintptr_t)opaque;

    if (h->chip && h->chip->model &&
        calgary_phb_stats(h->chip->model, h->phb_index, &st)) {
        if (off == offsetof(CalgaryPhbStats, csr)) {
            val = st.csr;
        } else if (off == offsetof(CalgaryPhbStats, plssr)) {
            val = st.plssr;
        } else if (off == offsetof(CalgaryPhbStats, phb_config)) {
            val = st.phb_config;
        } else {
            memcpy(&val, (uint8_t *)&st + off, sizeof(val));
        }
    }
    visit_type_uint64(v, name, &val, errp);
}

static char *calgary_phb_stats_summary(Object *obj, Error **errp)
{
    CalgaryPhbHost *h = CALGARY_PHB_HOST(obj);
    g_autofree char *line = calgary_phb_line(h);

    return g_strdup_printf("bus=0x%02x %s", h->bus_nr, line);
}

static void calgary_phb_bus_nr_get(Object *obj, Visitor *v, const char *name,
                                   void *opaque, Error **errp)
{
    uint8_t nr = CALGARY_PHB_HOST(obj)->bus_nr;

    visit_type_uint8(v, name, &nr, errp);
}

static const struct {
    const char *name;
    size_t offset;
    const char *desc;
} calgary_phb_stat_props[] = {
    { "stat-translations", offsetof(CalgaryPhbStats, translations),
      "DMA accesses translated through a TCE" },
    { "stat-cache-hits", offsetof(CalgaryPhbStats, cache_hits),
      "TCE cache hits" },
    { "stat-cache-misses", offsetof(CalgaryPhbStats, cache_misses),
      "TCE cache misses" },
    { "stat-stale-hits", offsetof(CalgaryPhbStats, stale_hits),
      "cache hits whose TCE had changed in memory" },
    { "stat-tce-fetches", offsetof(CalgaryPhbStats, tce_fetches),
      "TCEs read from guest memory" },
    { "stat-flushes", offsetof(CalgaryPhbStats, flushes),
      "TCE cache flushes" },
    { "stat-blocked", offsetof(CalgaryPhbStats, blocked),
      "DMA accesses blocked" },
    { "stat-bypassed", offsetof(CalgaryPhbStats, bypassed),
      "DMA accesses with translation off" },
    { "stat-window", offsetof(CalgaryPhbStats, window),
      "DMA accesses in an untranslated window" },
    { "csr", offsetof(CalgaryPhbStats, csr),
      "channel status register (latched error)" },
    { "plssr", offsetof(CalgaryPhbStats, plssr), "PLSSR register" },
    { "phb-config", offsetof(CalgaryPhbStats, phb_config),
      "PHB_CONFIG_RW register" },
    { "tar", offsetof(CalgaryPhbStats, tar), "TCE table address register" },
};

static const VMStateDescription vmstate_calgary_phb_host = {
    .name = TYPE_CALGARY_PHB_HOST,
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_INT32_ARRAY(irq_level, CalgaryPhbHost, PCI_NUM_PINS),
        VMSTATE_END_OF_LIST()
    },
};

static void calgary_phb_host_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIHostBridgeClass *hc = PCI_HOST_BRIDGE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);
    size_t i;

    dc->desc = "IBM Calgary PHB (PCI host bridge)";
    dc->realize = calgary_phb_host_realize;
    dc->user_creatable = false;
    dc->fw_name = "pci";
    hc->root_bus_path = calgary_phb_root_bus_path;
    dc->vmsd = &vmstate_calgary_phb_host;
    rc->phases.enter = calgary_phb_reset_enter;

    for (i = 0; i < ARRAY_SIZE(calgary_phb_stat_props); i++) {
        object_class_property_add(klass, calgary_phb_stat_props[i].name,
                                  "uint64", calgary_phb_stats_get, NULL, NULL,
                                  (void *)(uintptr_t)
                                  calgary_phb_stat_props[i].offset);
        object_class_property_set_description(klass,
                                              calgary_phb_stat_props[i].name,
                                              calgary_phb_stat_props[i].desc);
    }
    object_class_property_add_str(klass, "stats", calgary_phb_stats_summary,
                                  NULL);
    object_class_property_set_description(klass, "stats",
                                          "all statistics of this PHB, one line");
    object_class_property_add(klass, "bus-nr", "uint8", calgary_phb_bus_nr_get,
                              NULL, NULL, NULL);
}


/* ------------------------------------------------------- HMP info calgary */

static int calgary_collect_phb(Object *obj, void *opaque)
{
    if (object_dynamic_cast(obj, TYPE_CALGARY_PHB_HOST)) {
        g_ptr_array_add(opaque, obj);
    }
    return 0;
}

static gint calgary_phb_order(gconstpointer a, gconstpointer b)
{
    const CalgaryPhbHost *x = *(CalgaryPhbHost *const *)a;
    const CalgaryPhbHost *y = *(CalgaryPhbHost *const *)b;

    if (x->chip_index != y->chip_index) {
        return x->chip_index < y->chip_index ? -1 : 1;
    }
    return x->phb_index < y->phb_index ? -1 : x->phb_index > y->phb_index;
}

/* `info calgary`: one line per PHB, in chip and PHB order. */
void hmp_info_calgary(Monitor *mon, const QDict *qdict)
{
    g_autoptr(GPtrArray) phbs = g_ptr_array_new();
    guint i;

    object_child_foreach_recursive(object_get_root(), calgary_collect_phb,
                                   phbs);
    if (phbs->len == 0) {
        monitor_printf(mon, "No Calgary PHBs (machine is not 'calgary', "
                       "or chips=0)\n");
        return;
    }
    g_ptr_array_sort(phbs, calgary_phb_order);
    for (i = 0; i < phbs->len; i++) {
        CalgaryPhbHost *h = g_ptr_array_index(phbs, i);
        g_autofree char *line = NULL;

        if (!h->chip) {
            continue;
        }
        line = calgary_phb_line(h);
        monitor_printf(mon, "%s: chip %u (%s, BBAR 0x%08x) PHB %u bus 0x%02x "
                       "%s\n", h->bus_name, h->chip_index,
                       h->chip->variant == CALGARY_VARIANT_CALIOC2 ?
                       "calioc2" : "calgary", h->chip->bbar, h->phb_index,
                       h->bus_nr, line);
    }
}

/* ------------------------------------------------------ PHB PCI function */

typedef struct CalgaryPhbFunc {
    PCIDevice parent_obj;
    uint32_t variant;
} CalgaryPhbFunc;

OBJECT_DECLARE_SIMPLE_TYPE(CalgaryPhbFunc, CALGARY_PHB_FUNC)

static void calgary_phb_func_realize(PCIDevice *d, Error **errp)
{
    CalgaryPhbFunc *f = CALGARY_PHB_FUNC(d);

    pci_config_set_vendor_id(d->config, PCI_VENDOR_ID_IBM);
    pci_config_set_device_id(d->config,
                             f->variant == CALGARY_VARIANT_CALIOC2 ?
                             0x0308 : 0x02a1);
    pci_config_set_class(d->config, PCI_CLASS_BRIDGE_HOST);
}

static const Property calgary_phb_func_props[] = {
    DEFINE_PROP_UINT32("variant", CalgaryPhbFunc, variant, 0),
};

static void calgary_phb_func_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);

    k->realize = calgary_phb_func_realize;
    k->vendor_id = PCI_VENDOR_ID_IBM;
    k->device_id = 0x02a1;
    k->class_id = PCI_CLASS_BRIDGE_HOST;
    dc->desc = "IBM Calgary/CalIOC2 PHB function";
    dc->user_creatable = false;
    dc->hotpluggable = false;
    device_class_set_props(dc, calgary_phb_func_props);
}

/* ------------------------------------------------------------- machine */

static const char *const calgary_variant_names[] = { "calgary", "calioc2" };
static const char *const calgary_layout_names[] = { "rio", "legacy" };
static const char *const calgary_cache_names[] = { "off", "coherent",
                                                   "faithful" };

static int calgary_lookup(const char *const *names, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!strcmp(names[i], s)) {
            return i;
        }
    }
    return -1;
}

static char *calgary_machine_get_variant(Object *obj, Error **errp)
{
    return g_strdup(calgary_variant_names[CALGARY_MACHINE(obj)->variant]);
}

static void calgary_machine_set_variant(Object *obj, const char *value,
                                        Error **errp)
{
    int v = calgary_lookup(calgary_variant_names,
                           ARRAY_SIZE(calgary_variant_names), value);

    if (v < 0) {
        error_setg(errp, "calgary: invalid variant '%s' "
                   "(accepted: calgary, calioc2)", value);
        return;
    }
    CALGARY_MACHINE(obj)->variant = v;
}

static char *calgary_machine_get_layout(Object *obj, Error **errp)
{
    return g_strdup(calgary_layout_names[CALGARY_MACHINE(obj)->layout]);
}

static void calgary_machine_set_layout(Object *obj, const char *value,
                                       Error **errp)
{
    int v = calgary_lookup(calgary_layout_names,
                           ARRAY_SIZE(calgary_layout_names), value);

    if (v < 0) {
        error_setg(errp, "calgary: invalid layout '%s' "
                   "(accepted: rio, legacy)", value);
        return;
    }
    CALGARY_MACHINE(obj)->layout = v;
}

static bool calgary_machine_get_bus0_phb(Object *obj, Error **errp)
{
    return CALGARY_MACHINE(obj)->bus0_phb;
}

static void calgary_machine_set_bus0_phb(Object *obj, bool value, Error **errp)
{
    CALGARY_MACHINE(obj)->bus0_phb = value;
}

/* Machine-done: every BAR below every root bus, and any PCI bridge. */
typedef struct CalgaryDevScan {
    GArray *bars;
    int32_t bridge_bdf;
} CalgaryDevScan;

static void calgary_scan_device(PCIBus *bus, PCIDevice *d, void *opaque)
{
    CalgaryDevScan *scan = opaque;
    int i;

    if (object_dynamic_cast(OBJECT(d), TYPE_PCI_BRIDGE) &&
        scan->bridge_bdf < 0) {
        scan->bridge_bdf = pci_bus_num(bus) << 8 | d->devfn;
    }
    for (i = 0; i < PCI_NUM_REGIONS; i++) {
        const PCIIORegion *r = &d->io_regions[i];
        CalgaryPciBar bar = { .size = r->size };

        if (!r->size) {
            continue;
        }
        if (i == PCI_ROM_SLOT) {
            bar.kind = CALGARY_BAR_ROM;
        } else if (r->type & PCI_BASE_ADDRESS_SPACE_IO) {
            bar.kind = CALGARY_BAR_IO;
        } else if (r->type & PCI_BASE_ADDRESS_MEM_PREFETCH) {
            bar.kind = CALGARY_BAR_PREFETCH;
        } else {
            bar.kind = CALGARY_BAR_MEM;
        }
        g_array_append_val(scan->bars, bar);
    }
}

static void calgary_scan_bus(PCIBus *bus, void *opaque)
{
    pci_for_each_device_under_bus(bus, calgary_scan_device, opaque);
}

static void calgary_machine_done(Notifier *n, void *data)
{
    CalgaryMachineState *cms = container_of(n, CalgaryMachineState,
                                            machine_done);
    CalgaryDevScan scan = {
        .bars = g_array_new(false, true, sizeof(CalgaryPciBar)),
        .bridge_bdf = -1,
    };
    char err[256] = "";
    bool ok;

    pci_for_each_bus(PC_MACHINE(cms)->pcibus, calgary_scan_bus, &scan);
    ok = calgary_platform_check_devices(cms->layout, cms->bus0_phb, cms->chips,
                                        (const CalgaryPciBar *)scan.bars->data,
                                        scan.bars->len, scan.bridge_bdf, err,
                                        sizeof(err));
    g_array_free(scan.bars, true);
    if (!ok) {
        error_report("calgary: %s", err);
        exit(1);
    }
}

static char *calgary_machine_get_cache(Object *obj, Error **errp)
{
    return g_strdup(calgary_cache_names[CALGARY_MACHINE(obj)->cache_policy]);
}

static void calgary_machine_set_cache(Object *obj, const char *value,
                                      Error **errp)
{
    int v = calgary_lookup(calgary_cache_names,
                           ARRAY_SIZE(calgary_cache_names), value);

    if (v < 0) {
        error_setg(errp, "calgary: invalid tce-cache '%s' "
                   "(accepted: off, coherent, faithful)", value);
        return;
    }
    CALGARY_MACHINE(obj)->cache_policy = v;
}

static void calgary_machine_get_u32(Object *obj, Visitor *v, const char *name,
                                    void *opaque, Error **errp)
{
    uint32_t *p = (uint32_t *)((uint8_t *)obj + (uintptr_t)opaque);

    visit_type_uint32(v, name, p, errp);
}

static void calgary_machine_set_u32(Object *obj, Visitor *v, const char *name,
                                    void *opaque, Error **errp)
{
    uint32_t *p = (uint32_t *)((uint8_t *)obj + (uintptr_t)opaque);
    uint32_t val;

    if (!visit_type_uint32(v, name, &val, errp)) {
        return;
    }
    if (!strcmp(name, "tce-cache-line") && val != 1 && val != 8) {
        error_setg(errp, "calgary: invalid tce-cache-line %u (accepted: 1, 8)",
                   val);
        return;
    }
    if (!strcmp(name, "chips") && val > CALGARY_MAX_CHIPS) {
        error_setg(errp, "calgary: invalid chips %u (accepted: 0..%d; "
                   "0 leaves the IOMMU out)", val, CALGARY_MAX_CHIPS);
        return;
    }
    *p = val;
}

static void calgary_machine_init(MachineState *ms)
{
    CalgaryMachineState *cms = CALGARY_MACHINE(ms);
    X86MachineState *x86ms = X86_MACHINE(ms);
    PCIBus *bus0;
    CalgaryRioChip rio[CALGARY_MAX_CHIPS];
    char err[256] = "";
    uint64_t mem1_start;
    uint32_t c, p;
    size_t rom_len;
    uint8_t *rom;

    if (!calgary_cache_config_check(cms->cache_policy, cms->cache_entries,
                                    cms->cache_ways, err, sizeof(err)) ||
        !calgary_platform_layout(cms->layout, cms->bus0_phb, cms->chips,
                                 &cms->plat, err, sizeof(err))) {
        error_report("calgary: %s", err);
        exit(1);
    }
    if (cms->bus0_phb) {
        object_register_sugar_prop(TYPE_I440FX_PCI_HOST_BRIDGE,
                                   "x-northbridge-slot", CALGARY_NB_SLOT,
                                   false);
    }

    calgary_parent_init(ms);
    if (cms->chips == 0) {
        return;
    }
    bus0 = PC_MACHINE(ms)->pcibus;
    /* MEM_1 describes the 32-bit PCI hole, from where the firmware starts it. */
    mem1_start = calgary_mem1_start(x86ms->below_4g_mem_size);

    for (c = 0; c < cms->chips; c++) {
        DeviceState *dev = qdev_new(TYPE_CALGARY_CHIP);
        CalgaryChipState *chip = CALGARY_CHIP(dev);
        char name[16];

        qdev_prop_set_uint32(dev, "index", c);
        qdev_prop_set_uint32(dev, "bbar", cms->plat.bbar[c]);
        memcpy(chip->phb_bus, cms->plat.bus[c], sizeof(chip->phb_bus));
        qdev_prop_set_uint32(dev, "variant", cms->variant);
        qdev_prop_set_uint32(dev, "cache-policy", cms->cache_policy);
        qdev_prop_set_uint32(dev, "cache-entries", cms->cache_entries);
        qdev_prop_set_uint32(dev, "cache-ways", cms->cache_ways);
        qdev_prop_set_uint32(dev, "cache-line", cms->cache_line);
        qdev_prop_set_uint64(dev, "mem1-start", mem1_start);
        snprintf(name, sizeof(name), "calgary%u", c);
        object_property_add_child(OBJECT(ms), name, OBJECT(dev));
        sysbus_realize_and_unref(SYS_BUS_DEVICE(dev), &error_fatal);
        sysbus_mmio_map(SYS_BUS_DEVICE(dev), 0, cms->plat.bbar[c]);
        e820_add_entry(cms->plat.bbar[c], CALGARY_WINDOW_SIZE, E820_RESERVED);
        cms->chip[c] = chip;

        for (p = 0; p < CALGARY_PHBS_PER_CHIP; p++) {
            DeviceState *hd = qdev_new(TYPE_CALGARY_PHB_HOST);
            CalgaryPhbHost *h = CALGARY_PHB_HOST(hd);

            h->chip = chip;
            h->bus0 = bus0;
            h->chip_index = c;
            h->phb_index = p;
            h->on_bus0 = cms->bus0_phb && cms->plat.bus[c][p] == 0;
            snprintf(name, sizeof(name), "phb%u", p);
            object_property_add_child(OBJECT(dev), name, OBJECT(hd));
            sysbus_realize_and_unref(SYS_BUS_DEVICE(hd), &error_fatal);
        }
        rio[c] = (CalgaryRioChip) {
            .bbar = cms->plat.bbar[c], .variant = cms->variant,
            .chassis = 0, .node = 0,
        };
    }

    /* SeaBIOS runs genroms/ at POST: this one puts the Rio table in the EBDA. */
    rom_len = calgary_rio_option_rom(rio, cms->chips, NULL, 0);
    if (rom_len == 0) {
        error_report("calgary: cannot build the Rio table option ROM");
        exit(1);
    }
    rom = g_malloc0(rom_len);
    calgary_rio_option_rom(rio, cms->chips, rom, rom_len);
    fw_cfg_add_file(x86ms->fw_cfg, "genroms/calgary-rio.bin", rom, rom_len);

    cms->machine_done.notify = calgary_machine_done;
    qemu_add_machine_init_done_notifier(&cms->machine_done);
}

static void calgary_machine_instance_init(Object *obj)
{
    CalgaryMachineState *cms = CALGARY_MACHINE(obj);

    cms->chips = 1;
    cms->bus0_phb = false;
    cms->layout = CALGARY_LAYOUT_RIO;
    cms->variant = CALGARY_VARIANT_CALGARY;
    cms->cache_policy = CALGARY_CACHE_FAITHFUL;
    cms->cache_entries = 256;
    cms->cache_ways = 4;
    cms->cache_line = 1;
}

static void calgary_machine_class_init(ObjectClass *oc, void *data)
{
    MachineClass *mc = MACHINE_CLASS(oc);
    MachineClass *parent = MACHINE_CLASS(object_class_by_name(
                                             TYPE_CALGARY_PARENT));

    calgary_parent_init = parent->init;
    mc->init = calgary_machine_init;
    mc->desc = "IBM Calgary/CalIOC2 IOMMU PC (i440FX + PIIX, Calgary PHBs)";
    mc->alias = NULL;
    mc->is_default = false;

    object_class_property_add(oc, "chips", "uint32", calgary_machine_get_u32,
                              calgary_machine_set_u32, NULL,
                              (void *)offsetof(CalgaryMachineState, chips));
    object_class_property_set_description(oc, "chips",
        "number of Calgary chips, 4 PHBs each (0..4, default 1; 0 = no IOMMU)");
    object_class_property_add_bool(oc, "bus0-phb", calgary_machine_get_bus0_phb,
                                   calgary_machine_set_bus0_phb);
    object_class_property_set_description(oc, "bus0-phb",
        "on: bus 0 (PIIX and devices added there) sits behind chip 0 PHB 0, "
        "whose function is 00:00.0, as on IBM x366 (needed by Linux "
        "2.6.18-2.6.23, and by 2.6.27 for DMA on bus 0); off (default): "
        "bus 0 outside any Calgary, PHB 0 on its own bus");
    object_class_property_add_str(oc, "layout", calgary_machine_get_layout,
                                  calgary_machine_set_layout);
    object_class_property_set_description(oc, "layout",
        "rio (default): PHB buses 0x20.., BBARs 0xfef00000..; legacy: PHB "
        "functions at devfn 0 of buses 1..4 (0..3 with bus0-phb) and BBAR "
        "0xfda00000, where Linux 2.6.18/2.6.19 compute them; the Rio table "
        "describes both");
    object_class_property_add_str(oc, "variant", calgary_machine_get_variant,
                                  calgary_machine_set_variant);
    object_class_property_set_description(oc, "variant",
        "chip variant: calgary (PCI-X, default) or calioc2 (PCIe)");
    object_class_property_add_str(oc, "tce-cache", calgary_machine_get_cache,
                                  calgary_machine_set_cache);
    object_class_property_set_description(oc, "tce-cache",
        "TCE cache policy: off, coherent or faithful (default)");
    object_class_property_add(oc, "tce-cache-entries", "uint32",
                              calgary_machine_get_u32, calgary_machine_set_u32,
                              NULL, (void *)offsetof(CalgaryMachineState,
                                                     cache_entries));
    object_class_property_set_description(oc, "tce-cache-entries",
        "TCE cache entries per PHB (power of two, default 256)");
    object_class_property_add(oc, "tce-cache-ways", "uint32",
                              calgary_machine_get_u32, calgary_machine_set_u32,
                              NULL, (void *)offsetof(CalgaryMachineState,
                                                     cache_ways));
    object_class_property_set_description(oc, "tce-cache-ways",
        "TCE cache associativity (divides the entries, default 4)");
    object_class_property_add(oc, "tce-cache-line", "uint32",
                              calgary_machine_get_u32, calgary_machine_set_u32,
                              NULL, (void *)offsetof(CalgaryMachineState,
                                                     cache_line));
    object_class_property_set_description(oc, "tce-cache-line",
        "TCEs read per faithful-cache miss: 1 (default) or 8 (line fill)");
}

static const TypeInfo calgary_types[] = {
    {
        .name = TYPE_CALGARY_MACHINE,
        .parent = TYPE_CALGARY_PARENT,
        .instance_size = sizeof(CalgaryMachineState),
        .instance_init = calgary_machine_instance_init,
        .class_init = calgary_machine_class_init,
    }, {
        .name = TYPE_CALGARY_CHIP,
        .parent = TYPE_SYS_BUS_DEVICE,
        .instance_size = sizeof(CalgaryChipState),
        .class_init = calgary_chip_class_init,
    }, {
        .name = TYPE_CALGARY_PHB_HOST,
        .parent = TYPE_PCI_HOST_BRIDGE,
        .instance_size = sizeof(CalgaryPhbHost),
        .class_init = calgary_phb_host_class_init,
    }, {
        .name = TYPE_CALGARY_PHB_BUS,
        .parent = TYPE_PCI_BUS,
        .class_init = calgary_phb_bus_class_init,
    }, {
        .name = TYPE_CALGARY_PHB_FUNC,
        .parent = TYPE_PCI_DEVICE,
        .instance_size = sizeof(CalgaryPhbFunc),
        .class_init = calgary_phb_func_class_init,
        .interfaces = (InterfaceInfo[]) {
            { INTERFACE_CONVENTIONAL_PCI_DEVICE },
            { },
        },
    }, {
        .name = TYPE_CALGARY_IOMMU_MR,
        .parent = TYPE_IOMMU_MEMORY_REGION,
        .class_init = calgary_iommu_mr_class_init,
    },
};

DEFINE_TYPES(calgary_types)
