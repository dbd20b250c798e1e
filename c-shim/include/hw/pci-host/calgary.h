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

/* One device's DMA address space behind a PHB. */
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

/* The PHB's own PCI function at devfn 0 of its bus. */
struct CalgaryPhbFunc {
    PCIDevice parent_obj;
    uint32_t variant;
};

#endif
