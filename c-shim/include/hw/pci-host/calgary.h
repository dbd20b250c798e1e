/*
 * IBM Calgary / CalIOC2 IOMMU - QOM types and state of the C shim.
 *
 * The chip (one big-endian 1 MiB register window, hw/pci-host/calgary.c),
 * one PCI host bridge and root bus per PHB with its PCI function and the
 * per-device IOMMU address spaces (hw/pci-host/calgary-phb.c), and the
 * `calgary` machine that creates them (hw/i386/calgary-machine.c). Every
 * Calgary semantic lives in the Rust core behind calgary-ffi.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_PCI_HOST_CALGARY_H
#define HW_PCI_HOST_CALGARY_H

#include "qom/object.h"
#include "exec/memory.h"
#include "hw/sysbus.h"
#include "hw/pci/pci.h"
#include "hw/pci/pci_device.h"
#include "hw/pci/pci_host.h"
#include "hw/pci-host/calgary-ffi.h"

#define TYPE_CALGARY_CHIP      "calgary-chip"
#define TYPE_CALGARY_PHB_HOST  "calgary-phb-host"
#define TYPE_CALGARY_PHB_BUS   "calgary-phb-bus"
#define TYPE_CALGARY_PHB_FUNC  "calgary-phb"
#define TYPE_CALGARY_IOMMU_MR  "calgary-iommu-memory-region"

OBJECT_DECLARE_SIMPLE_TYPE(CalgaryChipState, CALGARY_CHIP)
OBJECT_DECLARE_SIMPLE_TYPE(CalgaryPhbHost, CALGARY_PHB_HOST)
OBJECT_DECLARE_SIMPLE_TYPE(CalgaryPhbFunc, CALGARY_PHB_FUNC)

/*
 * One requester's DMA address space behind a PHB, keyed by the (bus, devfn)
 * that QEMU's PCI core hands get_address_space: a device's own, or for
 * devices behind a conventional PCI-to-PCI bridge the bridge's.
 */
typedef struct CalgaryDevAS {
    IOMMUMemoryRegion iommu;
    MemoryRegion root;
    MemoryRegion msi;
    AddressSpace as;
    CalgaryPhbHost *phb;
    PCIBus *bus;
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
    /*
     * INTx: the PHB root bus's parent device is the PCI interrupt router on
     * bus 0 (the PIIX function), as a pxb's root bus has the pxb; intx_pin
     * maps a PIIX link to the router pin that bus 0's map_irq sends there.
     */
    PCIDevice *intx_router;
    uint8_t intx_pin[PCI_NUM_PINS];
    GHashTable *as_by_bdf;      /* CalgaryDevAS by (PCIBus *, devfn) */
};

/* One PHB's migration fields (calgary_state_export/_import). */
typedef struct CalgaryPhbMig {
    CalgaryPhbImage img;
    CalgaryChipState *chip;      /* for the subsections' needed() */
    uint32_t line_room;          /* cache lines img.lines has room for */
} CalgaryPhbMig;

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
    bool tce_block;
    uint64_t mem1_start;
    uint8_t phb_bus[CALGARY_PHBS_PER_CHIP];   /* set by the machine */
    char *inject;            /* the machine's inject= list, applied at reset */
    /* migration: each PHB's fields, filled only around save and load */
    CalgaryPhbMig mig[CALGARY_PHBS_PER_CHIP];
};

/* The PHB's own PCI function at devfn 0 of its bus. */
struct CalgaryPhbFunc {
    PCIDevice parent_obj;
    uint32_t variant;
};

/* Fault injection (hw/pci-host/calgary-inject.c). */
void calgary_inject_phb_class_init(ObjectClass *klass);
void calgary_inject_chip_reset(CalgaryChipState *s);

#endif
