/*
 * IBM Calgary / CalIOC2 IOMMU for QEMU - the PHBs.
 *
 * One PCI root bus and host-bridge object per PHB (made the way pxb makes
 * its extra root buses), the PHB's own PCI function at devfn 0, one IOMMU
 * address space per device behind it, and the HMP `info calgary` command.
 * Every Calgary semantic lives in the Rust core behind calgary-ffi.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qom/object.h"
#include "hw/qdev-properties.h"
#include "hw/resettable.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pci_host.h"
#include "hw/pci/pci_ids.h"
#include "exec/address-spaces.h"
#include "exec/memory.h"
#include "migration/vmstate.h"
#include "monitor/monitor.h"
#include "monitor/hmp-target.h"
#include "trace/trace-hw_pci_host.h"
#include "hw/pci-host/calgary.h"

#define CALGARY_MSI_BASE       0xfee00000ULL
#define CALGARY_MSI_SIZE       0x100000ULL

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
        const char *dir = (access & CALGARY_ACCESS_WRITE) ? "write" : "read";
        const char *why;

        /* CalgaryXlate.fault_reason is a uint8_t holding these codes. */
        QEMU_BUILD_BUG_ON(CALGARY_FAULT_BROKEN > UINT8_MAX);
        why = calgary_fault_reason_str(x.fault_reason);

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
            error_setg(errp, "calgary: bus 0x%02x is already in use",
                       h->bus_nr);
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

static const TypeInfo calgary_phb_types[] = {
    {
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

DEFINE_TYPES(calgary_phb_types)
