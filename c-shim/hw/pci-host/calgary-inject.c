/*
 * IBM Calgary / CalIOC2 IOMMU for QEMU - fault injection.
 *
 * QOM glue only; the model is the Rust core's inject.rs. Per PHB: the
 * inject-* properties that qom-set (QMP, HMP) arms while the guest runs and
 * the stat-inject-* counters; per chip: the machine's inject= list, applied
 * again after every reset (calgary_inject_chip_reset).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qom/object.h"
#include "hw/pci-host/calgary.h"

static const struct {
    const char *name;
    uint32_t kind;
    const char *desc;
} calgary_inject_counted[] = {
    { "inject-split-busy", CALGARY_INJECT_SPLIT_BUSY,
      "fault injection: the next N reads of this PHB's split-queue status "
      "report busy (Linux polls 100 times, then logs 'PCI bus not quiesced, "
      "continuing anyway'); reads back what is left; 0 disarms" },
    { "inject-softstop-fault", CALGARY_INJECT_SOFTSTOP_FAULT,
      "fault injection (CalIOC2): the next N PMDR reads during a TCE cache "
      "blast report SoftStopFault (Linux starts over, gives up after 99); "
      "0 disarms" },
    { "inject-tce-fetch-fail", CALGARY_INJECT_TCE_FETCH_FAIL,
      "fault injection: the next N TCE fetches of device DMA fail; the access "
      "is blocked and latches CSR (reason 3, TCE fetch failed); 0 disarms" },
};

static const struct {
    const char *name;
    uint32_t kind;
    const char *desc;
} calgary_inject_text_props[] = {
    { "inject-error", CALGARY_INJECT_ERROR,
      "fault injection: CSR[:PLSSR] to latch now, without DMA (refused while "
      "an error is latched); reads the injected error while it is latched" },
    { "inject-error-regs", CALGARY_INJECT_ERROR_REGS,
      "fault injection: CSMR:MCK:E810:E820:E830:E840:E850:E860:E870, values "
      "of the error registers the CalIOC2 driver dumps (until reset)" },
};

static const struct {
    const char *name;
    size_t offset;
    const char *desc;
} calgary_inject_stat_props[] = {
    { "stat-inject-armed", offsetof(CalgaryInjectInfo, armed),
      "fault injections accepted" },
    { "stat-inject-split-busy-reads",
      offsetof(CalgaryInjectInfo, split_busy_reads),
      "split-queue reads that reported busy by injection" },
    { "stat-inject-softstop-faults",
      offsetof(CalgaryInjectInfo, softstop_faults_fired),
      "PMDR reads that reported SoftStopFault by injection" },
    { "stat-inject-tce-fetch-failures",
      offsetof(CalgaryInjectInfo, tce_fetch_failures),
      "TCE fetches failed by injection" },
    { "stat-inject-errors-latched",
      offsetof(CalgaryInjectInfo, errors_latched),
      "errors latched into CSR/PLSSR by injection" },
    { "stat-inject-error-regs-set",
      offsetof(CalgaryInjectInfo, error_regs_set),
      "error-register values set by injection" },
};

static CalgaryChip *calgary_inject_model(Object *obj, Error **errp)
{
    CalgaryPhbHost *h = CALGARY_PHB_HOST(obj);

    if (!h->chip || !h->chip->model) {
        error_setg(errp, "calgary: PHB has no chip model");
        return NULL;
    }
    return h->chip->model;
}

static void calgary_inject_count_get(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    CalgaryPhbHost *h = CALGARY_PHB_HOST(obj);
    CalgaryChip *model = calgary_inject_model(obj, NULL);
    CalgaryInjectInfo info = { 0 };
    uint32_t n = 0;

    if (model && calgary_inject_info(model, h->phb_index, &info)) {
        switch ((uintptr_t)opaque) {
        case CALGARY_INJECT_SPLIT_BUSY:
            n = info.split_busy;
            break;
        case CALGARY_INJECT_SOFTSTOP_FAULT:
            n = info.softstop_faults;
            break;
        default:
            n = info.tce_fetch_fail;
            break;
        }
    }
    visit_type_uint32(v, name, &n, errp);
}

static void calgary_inject_count_set(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    CalgaryPhbHost *h = CALGARY_PHB_HOST(obj);
    CalgaryChip *model = calgary_inject_model(obj, errp);
    char err[256] = "";
    uint32_t n;

    if (!model || !visit_type_uint32(v, name, &n, errp)) {
        return;
    }
    if (!calgary_inject_count(model, h->phb_index, (uintptr_t)opaque, n,
                              err, sizeof(err))) {
        error_setg(errp, "calgary: %s: %s", name, err);
    }
}

static void calgary_inject_text_get(Object *obj, Visitor *v,
                                    const char *name, void *opaque,
                                    Error **errp)
{
    CalgaryPhbHost *h = CALGARY_PHB_HOST(obj);
    CalgaryChip *model = calgary_inject_model(obj, NULL);
    uint32_t kind = (uintptr_t)opaque;
    size_t len = model ? calgary_inject_get_text(model, h->phb_index, kind,
                                                 NULL, 0) : 0;
    g_autofree char *text = g_malloc0(len + 1);

    if (len) {
        calgary_inject_get_text(model, h->phb_index, kind, text, len + 1);
    }
    visit_type_str(v, name, &text, errp);
}

static void calgary_inject_text_set(Object *obj, Visitor *v,
                                    const char *name, void *opaque,
                                    Error **errp)
{
    CalgaryPhbHost *h = CALGARY_PHB_HOST(obj);
    CalgaryChip *model = calgary_inject_model(obj, errp);
    g_autofree char *text = NULL;
    char err[256] = "";

    if (!model || !visit_type_str(v, name, &text, errp)) {
        return;
    }
    if (!calgary_inject_text(model, h->phb_index, (uintptr_t)opaque, text,
                             err, sizeof(err))) {
        error_setg(errp, "calgary: %s: %s", name, err);
    }
}

static void calgary_inject_stat_get(Object *obj, Visitor *v,
                                    const char *name, void *opaque,
                                    Error **errp)
{
    CalgaryPhbHost *h = CALGARY_PHB_HOST(obj);
    CalgaryChip *model = calgary_inject_model(obj, NULL);
    CalgaryInjectInfo info = { 0 };
    uint64_t val = 0;

    if (model && calgary_inject_info(model, h->phb_index, &info)) {
        memcpy(&val, (uint8_t *)&info + (uintptr_t)opaque, sizeof(val));
    }
    visit_type_uint64(v, name, &val, errp);
}

/* The PHB host's inject-* and stat-inject-* properties. */
void calgary_inject_phb_class_init(ObjectClass *klass)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(calgary_inject_counted); i++) {
        object_class_property_add(klass, calgary_inject_counted[i].name,
                                  "uint32", calgary_inject_count_get,
                                  calgary_inject_count_set, NULL,
                                  (void *)(uintptr_t)
                                  calgary_inject_counted[i].kind);
        object_class_property_set_description(klass,
                                              calgary_inject_counted[i].name,
                                              calgary_inject_counted[i].desc);
    }
    for (i = 0; i < ARRAY_SIZE(calgary_inject_text_props); i++) {
        object_class_property_add(klass, calgary_inject_text_props[i].name,
                                  "str", calgary_inject_text_get,
                                  calgary_inject_text_set, NULL,
                                  (void *)(uintptr_t)
                                  calgary_inject_text_props[i].kind);
        object_class_property_set_description(klass,
            calgary_inject_text_props[i].name,
            calgary_inject_text_props[i].desc);
    }
    for (i = 0; i < ARRAY_SIZE(calgary_inject_stat_props); i++) {
        object_class_property_add(klass, calgary_inject_stat_props[i].name,
                                  "uint64", calgary_inject_stat_get, NULL,
                                  NULL, (void *)(uintptr_t)
                                  calgary_inject_stat_props[i].offset);
        object_class_property_set_description(klass,
            calgary_inject_stat_props[i].name,
            calgary_inject_stat_props[i].desc);
    }
}

/*
 * After the chip's reset: the machine's inject= items for this chip (the
 * list was checked when the machine was built).
 */
void calgary_inject_chip_reset(CalgaryChipState *s)
{
    CalgaryChip *only[CALGARY_MAX_CHIPS] = { NULL };
    char err[256] = "";

    if (!s->inject || !s->model || s->index >= CALGARY_MAX_CHIPS) {
        return;
    }
    only[s->index] = s->model;
    if (!calgary_inject_spec_apply(only, CALGARY_MAX_CHIPS, s->inject, err,
                                   sizeof(err))) {
        warn_report("calgary%u: inject: %s", s->index, err);
    }
}
