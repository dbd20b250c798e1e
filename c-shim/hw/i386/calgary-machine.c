/*
 * IBM Calgary / CalIOC2 IOMMU for QEMU - the `calgary` machine.
 *
 * An i440FX PC plus Calgary chips: it computes the platform (BBARs, PHB
 * buses) from its properties, creates each chip and its four PHBs
 * (hw/pci-host/calgary.c, calgary-phb.c), reserves the register windows in
 * E820, hands SeaBIOS the option ROM that puts the Rio table in the EBDA,
 * and checks at machine-done that every device fits the platform. Every
 * Calgary semantic lives in the Rust core behind calgary-ffi.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qom/object.h"
#include "hw/boards.h"
#include "hw/sysbus.h"
#include "hw/qdev-properties.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_bus.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pci_bridge.h"
#include "hw/i386/pc.h"
#include "hw/i386/x86.h"
#include "hw/i386/e820_memory_layout.h"
#include "hw/pci-host/i440fx.h"
#include "hw/nvram/fw_cfg.h"
#include "system/system.h"
#include "hw/pci-host/calgary.h"

#define TYPE_CALGARY_MACHINE   MACHINE_TYPE_NAME("calgary")
#define TYPE_CALGARY_PARENT    MACHINE_TYPE_NAME("pc-i440fx-10.0")

/*
 * bus0-phb=on: the 82441 moves from 00.0 to this slot, so that chip 0 PHB
 * 0's function can be 00:00.0 as on x366 (every Linux version reads devfn
 * 0 of a bus to decide whether it is a Calgary bus). The last slot keeps
 * every automatically placed device where it was.
 */
#define CALGARY_NB_SLOT        "31"

OBJECT_DECLARE_SIMPLE_TYPE(CalgaryMachineState, CALGARY_MACHINE)

struct CalgaryMachineState {
    PCMachineState parent_obj;
    uint32_t chips;
    bool bus0_phb;
    bool tce_block;
    uint32_t layout;
    CalgaryPlatform plat;
    Notifier machine_done;
    uint32_t variant;
    uint32_t cache_policy;
    uint32_t cache_entries;
    uint32_t cache_ways;
    uint32_t cache_line;
    char *inject;            /* fault injection list, armed at every reset */
    CalgaryChipState *chip[CALGARY_MAX_CHIPS];
};

static void (*calgary_parent_init)(MachineState *ms);

/*
 * The machine's string-valued choices: each is a uint32_t field holding the
 * index of its value, which is also the FFI's enum value
 * (CALGARY_VARIANT_*, CALGARY_LAYOUT_*, CALGARY_CACHE_*).
 */
typedef struct CalgaryChoiceProp {
    const char *name;
    const char *const *values;      /* NULL-terminated, in enum order */
    size_t offset;                  /* uint32_t field of the machine */
    const char *desc;
} CalgaryChoiceProp;

static const char *const calgary_variant_names[] = { "calgary", "calioc2",
                                                     NULL };
static const char *const calgary_layout_names[] = { "rio", "legacy", NULL };
static const char *const calgary_cache_names[] = { "off", "coherent",
                                                   "faithful", NULL };

static const CalgaryChoiceProp calgary_choice_props[] = {
    { "layout", calgary_layout_names,
      offsetof(CalgaryMachineState, layout),
      "rio (default): PHB buses 0x20.., BBARs 0xfef00000..; legacy: PHB "
      "functions at devfn 0 of buses 1..4 (0..3 with bus0-phb) and BBAR "
      "0xfda00000, where Linux 2.6.18/2.6.19 compute them; the Rio table "
      "describes both" },
    { "variant", calgary_variant_names,
      offsetof(CalgaryMachineState, variant),
      "chip variant: calgary (PCI-X, default) or calioc2 (PCIe)" },
    { "tce-cache", calgary_cache_names,
      offsetof(CalgaryMachineState, cache_policy),
      "TCE cache policy: off, coherent or faithful (default)" },
};

static uint32_t *calgary_choice_field(Object *obj, const CalgaryChoiceProp *p)
{
    return (uint32_t *)((uint8_t *)obj + p->offset);
}

static void calgary_machine_get_choice(Object *obj, Visitor *v,
                                       const char *name, void *opaque,
                                       Error **errp)
{
    const CalgaryChoiceProp *p = opaque;
    char *value = g_strdup(p->values[*calgary_choice_field(obj, p)]);

    visit_type_str(v, name, &value, errp);
    g_free(value);
}

static void calgary_machine_set_choice(Object *obj, Visitor *v,
                                       const char *name, void *opaque,
                                       Error **errp)
{
    const CalgaryChoiceProp *p = opaque;
    g_autofree char *value = NULL;
    g_autofree char *accepted = NULL;
    uint32_t i;

    if (!visit_type_str(v, name, &value, errp)) {
        return;
    }
    for (i = 0; p->values[i]; i++) {
        if (!strcmp(p->values[i], value)) {
            *calgary_choice_field(obj, p) = i;
            return;
        }
    }
    accepted = g_strjoinv(", ", (char **)p->values);
    error_setg(errp, "calgary: invalid %s '%s' (accepted: %s)", p->name,
               value, accepted);
}

static char *calgary_machine_get_inject(Object *obj, Error **errp)
{
    CalgaryMachineState *cms = CALGARY_MACHINE(obj);

    return g_strdup(cms->inject ? cms->inject : "");
}

static void calgary_machine_set_inject(Object *obj, const char *value,
                                       Error **errp)
{
    CalgaryMachineState *cms = CALGARY_MACHINE(obj);

    g_free(cms->inject);
    cms->inject = *value ? g_strdup(value) : NULL;
}

static bool calgary_machine_get_bus0_phb(Object *obj, Error **errp)
{
    return CALGARY_MACHINE(obj)->bus0_phb;
}

static void calgary_machine_set_bus0_phb(Object *obj, bool value, Error **errp)
{
    CALGARY_MACHINE(obj)->bus0_phb = value;
}

static bool calgary_machine_get_tce_block(Object *obj, Error **errp)
{
    return CALGARY_MACHINE(obj)->tce_block;
}

static void calgary_machine_set_tce_block(Object *obj, bool value, Error **errp)
{
    CALGARY_MACHINE(obj)->tce_block = value;
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
        if (cms->inject && *cms->inject) {
            error_report("calgary: invalid inject: chips=0 has no PHB to "
                         "inject into");
            exit(1);
        }
        return;
    }
    bus0 = PC_MACHINE(ms)->pcibus;
    /* MEM_1 describes the 32-bit PCI hole from where the firmware starts it. */
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
        qdev_prop_set_bit(dev, "tce-block", cms->tce_block);
        qdev_prop_set_uint64(dev, "mem1-start", mem1_start);
        if (cms->inject) {
            qdev_prop_set_string(dev, "inject", cms->inject);
        }
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

    /* The chips apply their part of it at every reset; check it now. */
    if (cms->inject) {
        CalgaryChip *models[CALGARY_MAX_CHIPS] = { NULL };

        for (c = 0; c < cms->chips; c++) {
            models[c] = cms->chip[c]->model;
        }
        if (!calgary_inject_spec_apply(models, cms->chips, cms->inject, err,
                                       sizeof(err))) {
            error_report("calgary: invalid inject: %s", err);
            exit(1);
        }
    }

    /* SeaBIOS runs genroms/ at POST; this one puts the Rio table in EBDA. */
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
    cms->tce_block = true;
}

static void calgary_machine_class_init(ObjectClass *oc, void *data)
{
    MachineClass *mc = MACHINE_CLASS(oc);
    MachineClass *parent = MACHINE_CLASS(object_class_by_name(
                                             TYPE_CALGARY_PARENT));
    size_t i;

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
    for (i = 0; i < ARRAY_SIZE(calgary_choice_props); i++) {
        const CalgaryChoiceProp *p = &calgary_choice_props[i];

        object_class_property_add(oc, p->name, "string",
                                  calgary_machine_get_choice,
                                  calgary_machine_set_choice, NULL,
                                  (void *)p);
        object_class_property_set_description(oc, p->name, p->desc);
    }
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
    object_class_property_add_bool(oc, "tce-block",
                                   calgary_machine_get_tce_block,
                                   calgary_machine_set_tce_block);
    object_class_property_set_description(oc, "tce-block",
        "on (default): a DMA translation covers the aligned 64 KiB block in "
        "bypass, and with the faithful cache when all its TCEs are cached, "
        "contiguous and of one permission (fewer IOMMU calls, same "
        "addresses); off: one page");
    object_class_property_add_str(oc, "inject", calgary_machine_get_inject,
                                  calgary_machine_set_inject);
    object_class_property_set_description(oc, "inject",
        "fault injection armed at every reset: items calgaryC.P/KIND=VALUE "
        "separated by ';', KIND split-busy, softstop-fault, tce-fetch-fail "
        "(VALUE a count N), error (CSR[:PLSSR]) or error-regs "
        "(CSMR:MCK:E810:..:E870); the PHB objects' inject-* properties "
        "change them at run time");
}

static const TypeInfo calgary_machine_types[] = {
    {
        .name = TYPE_CALGARY_MACHINE,
        .parent = TYPE_CALGARY_PARENT,
        .instance_size = sizeof(CalgaryMachineState),
        .instance_init = calgary_machine_instance_init,
        .class_init = calgary_machine_class_init,
    },
};

DEFINE_TYPES(calgary_machine_types)
