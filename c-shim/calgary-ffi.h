/*
 * calgary-ffi.h - the one contract between QEMU's Calgary shim (C) and the
 * Calgary model core (Rust, rust/calgary-ffi).
 *
 * The Rust crate's build.rs runs bindgen on this header and the crate
 * asserts, at compile time, that its `extern "C"` functions have exactly
 * these types: change one side without the other and the build fails.
 *
 * Rust owns every CalgaryChip (create/free). All functions are safe to call
 * from several threads at once: each PHB's state has its own lock inside
 * the Rust side, so translation and MMIO on one PHB do not wait for another
 * PHB (whole-chip calls such as save/load and reset take them all). No
 * function aborts on guest-controlled input; a panic inside Rust is caught,
 * fails closed (DMA blocked, accesses read 0) and marks the chip broken.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef CALGARY_FFI_H
#define CALGARY_FFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CALGARY_WINDOW_SIZE      0x100000u   /* BBAR register window, bytes */
#define CALGARY_PHBS_PER_CHIP    4
#define CALGARY_MAX_CHIPS        4
#define CALGARY_EVENT_TEXT_LEN   160

/*
 * Rio layout of the `calgary` machine (README.md): bus(c, p) = BASE +
 * STRIDE * (4c + p), all < 0x80. calgary_platform_layout() gives the buses
 * and BBARs of every layout.
 */
#define CALGARY_BUS_BASE         0x20        /* bus of chip 0 PHB 0 */
#define CALGARY_BUS_STRIDE       0x04

typedef struct CalgaryChip CalgaryChip;   /* opaque, owned by Rust */

typedef enum CalgaryVariant {
    CALGARY_VARIANT_CALGARY = 0,          /* PCI-X Calgary, 1014:02a1 */
    CALGARY_VARIANT_CALIOC2 = 1,          /* PCIe CalIOC2, 1014:0308 */
} CalgaryVariant;

typedef enum CalgaryCachePolicy {
    CALGARY_CACHE_OFF = 0,       /* every DMA reads its TCE from memory */
    CALGARY_CACHE_COHERENT = 1,  /* set-associative, re-validated on hit */
    CALGARY_CACHE_FAITHFUL = 2,  /* set-associative, stale until flush */
} CalgaryCachePolicy;

typedef struct CalgaryPhbConfig {
    uint8_t first_bus;
    uint8_t last_bus;
    uint64_t mem1_start;         /* reset value of the MEM_1 window */
    uint64_t mem1_limit;         /* last byte of the MEM_1 window */
} CalgaryPhbConfig;

typedef struct CalgaryChipConfig {
    uint32_t variant;            /* CalgaryVariant */
    uint32_t bbar;
    uint8_t chassis;
    uint32_t cache_policy;       /* CalgaryCachePolicy */
    uint32_t cache_entries;
    uint32_t cache_ways;
    uint32_t cache_line;         /* TCEs read per faithful-cache miss: 1 or 8 */
    uint32_t tce_block;          /* 1: translation blocks (tce-block), 0: off */
    CalgaryPhbConfig phb[CALGARY_PHBS_PER_CHIP];
} CalgaryChipConfig;

/*
 * Host service: read @count consecutive 8-byte big-endian TCEs at guest
 * physical @addr from guest RAM into @values (decoded to host order).
 * Returns false when the range is not wholly RAM. Called with one PHB's lock
 * held, concurrently for different PHBs: it must be thread-safe and must
 * not take any lock that an MMIO access to a Calgary window takes.
 */
typedef bool (*CalgaryReadTceFn)(void *opaque, uint64_t addr,
                                 uint64_t *values, uint32_t count);

/* What the shim should log or trace after an MMIO access. */
typedef enum CalgaryEventKind {
    CALGARY_EVENT_NONE = 0,
    CALGARY_EVENT_GUEST_ERROR = 1,   /* trace; -d guest_errors: the log */
    CALGARY_EVENT_FLUSH = 2,         /* TCE cache of @phb flushed */
    CALGARY_EVENT_INFO = 3,          /* other state change, trace only */
} CalgaryEventKind;

typedef struct CalgaryEvent {
    uint32_t kind;                   /* CalgaryEventKind */
    int32_t phb;                     /* -1 when chip-wide */
    char text[CALGARY_EVENT_TEXT_LEN];   /* NUL-terminated */
} CalgaryEvent;

/*
 * The model's diagnostics (Rust `log` records, calgary_core::diag), sorted
 * by what QEMU does with them.
 */
typedef enum CalgaryLogClass {
    CALGARY_LOG_ERROR = 0,           /* the model failed -> error_report */
    CALGARY_LOG_GUEST_ERROR = 1,     /* -> qemu_log_mask(LOG_GUEST_ERROR) */
    CALGARY_LOG_UNIMP = 2,           /* -> qemu_log_mask(LOG_UNIMP) */
    CALGARY_LOG_TRACE = 3,           /* other records -> trace event */
} CalgaryLogClass;

/* Whether records of @cls would be shown now (checked before formatting). */
typedef bool (*CalgaryLogEnabledFn)(uint32_t cls);
/* Show one record: @msg is one NUL-terminated line without newline. */
typedef void (*CalgaryLogFn)(uint32_t cls, const char *msg);

/*
 * Routes the model's diagnostics to @log for every chip of the process;
 * call once at start (later calls replace the functions). Records are
 * formatted only when @enabled says their class is shown; a DMA that
 * translates never produces one. May be called from any thread; the
 * functions may be called with a chip or PHB lock held, so they must not
 * touch a Calgary chip.
 */
void calgary_log_init(CalgaryLogEnabledFn enabled, CalgaryLogFn log);

/* Access flags for calgary_translate. */
#define CALGARY_ACCESS_READ   1u     /* device reads memory (DMA to device) */
#define CALGARY_ACCESS_WRITE  2u     /* device writes memory */
#define CALGARY_ACCESS_PROBE  4u     /* QEMU's own probe: never latches */

typedef enum CalgaryXlateKind {
    CALGARY_XLATE_TRANSLATED = 0,
    CALGARY_XLATE_BYPASS = 1,        /* translation off */
    CALGARY_XLATE_WINDOW = 2,        /* untranslated window (legacy, MEM_1/2) */
} CalgaryXlateKind;

/*
 * Why a DMA was blocked (CalgaryXlate.fault_reason). The codes are the
 * core's FaultReason codes, which the model also stores in CSR bits 30..27;
 * calgary-ffi fails to compile when they differ.
 */
typedef enum CalgaryFaultReason {
    CALGARY_FAULT_SLOT_DISABLED = 1,
    CALGARY_FAULT_OUT_OF_RANGE = 2,
    CALGARY_FAULT_TCE_READ_FAILED = 3,
    CALGARY_FAULT_NOT_VALID = 4,
    CALGARY_FAULT_READ_ONLY = 5,
    CALGARY_FAULT_WRITE_ONLY = 6,
    CALGARY_FAULT_BROKEN = 7,        /* the chip model failed: DMA fenced off */
} CalgaryFaultReason;

typedef struct CalgaryXlate {
    uint64_t phys;                   /* physical address of the IO address */
    uint64_t addr_mask;              /* size - 1 of the aligned range */
    uint8_t read;                    /* device may read memory */
    uint8_t write;                   /* device may write memory */
    uint8_t kind;                    /* CalgaryXlateKind when translated */
    uint8_t fault_reason;            /* when blocked: CalgaryFaultReason */
    uint8_t newly_latched;           /* when blocked: this access latched CSR */
    uint8_t pad[3];
} CalgaryXlate;

typedef struct CalgaryPhbStats {
    uint64_t translations;
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t stale_hits;
    uint64_t tce_fetches;
    uint64_t flushes;
    uint64_t blocked;
    uint64_t bypassed;
    uint64_t window;
    uint64_t blocked_by_reason[8];   /* indexed by fault reason */
    uint32_t csr;
    uint32_t plssr;
    uint32_t phb_config;
    uint32_t pad;
    uint64_t tar;
} CalgaryPhbStats;

typedef struct CalgaryRioChip {
    uint32_t bbar;
    uint32_t variant;                /* CalgaryVariant */
    uint8_t chassis;
    uint8_t node;
} CalgaryRioChip;

typedef enum CalgaryLayout {
    CALGARY_LAYOUT_RIO = 0,      /* buses 0x20 + 4(4c + p), BBAR 0xfef00000.. */
    CALGARY_LAYOUT_LEGACY = 1,   /* 2.6.18/19: buses 1..4.., BBAR from bus */
} CalgaryLayout;

/* Where the platform puts each chip (filled for chips 0..n-1). */
typedef struct CalgaryPlatform {
    uint32_t bbar[CALGARY_MAX_CHIPS];
    uint8_t bus[CALGARY_MAX_CHIPS][CALGARY_PHBS_PER_CHIP];
} CalgaryPlatform;

/*
 * Lays out @chips chips for @layout, bus 0 behind chip 0 PHB 0 when
 * @bus0_phb. Returns false with a one-line message naming the machine
 * property in @err on a combination that cannot work.
 */
bool calgary_platform_layout(uint32_t layout, bool bus0_phb, uint32_t chips,
                             CalgaryPlatform *out, char *err, size_t err_len);

typedef enum CalgaryBarKind {
    CALGARY_BAR_IO = 0,
    CALGARY_BAR_MEM = 1,         /* non-prefetchable memory, 32- or 64-bit */
    CALGARY_BAR_PREFETCH = 2,    /* prefetchable memory, 32- or 64-bit */
    CALGARY_BAR_ROM = 3,         /* expansion ROM */
} CalgaryBarKind;

typedef struct CalgaryPciBar {
    uint64_t size;
    uint32_t kind;               /* CalgaryBarKind */
    uint32_t pad;
} CalgaryPciBar;

/*
 * At machine-done: checks that the firmware can set up the PCI devices
 * without covering a register window. @bars are the BARs of every device
 * below every root bus; @bridge_bdf is (bus << 8 | devfn) of a PCI-to-PCI
 * bridge, or -1 when there is none. Returns false with a one-line message.
 */
bool calgary_platform_check_devices(uint32_t layout, bool bus0_phb,
                                    uint32_t chips, const CalgaryPciBar *bars,
                                    size_t n_bars, int32_t bridge_bdf,
                                    char *err, size_t err_len);

/*
 * Checks a cache geometry; on failure writes a one-line message naming the
 * offending property and the accepted values into @err and returns false.
 */
bool calgary_cache_config_check(uint32_t policy, uint32_t entries,
                                uint32_t ways, char *err, size_t err_len);

/*
 * Reset start of every PHB's MEM_1 window on a machine with @below_4g_ram
 * bytes of RAM below 4 GiB: where the firmware (SeaBIOS on i440fx) starts
 * the 32-bit PCI hole. 2 GiB up to 2 GiB of RAM, 3 GiB up to 3 GiB, the
 * RAM top above that. The window ends at 0xffffffff.
 */
uint64_t calgary_mem1_start(uint64_t below_4g_ram);

/* NULL on a bad configuration, with a one-line message in @err. */
CalgaryChip *calgary_chip_new(const CalgaryChipConfig *cfg,
                              CalgaryReadTceFn read_tce, void *opaque,
                              char *err, size_t err_len);
void calgary_chip_free(CalgaryChip *chip);
/* Names the chip in the model's diagnostics (e.g. "calgary0"). */
void calgary_chip_set_name(CalgaryChip *chip, const char *name);
void calgary_chip_reset(CalgaryChip *chip);

/*
 * MMIO into the BBAR window. @offset < CALGARY_WINDOW_SIZE, @size 1/2/4/8.
 * Values are numeric register values; the big-endian byte order is the
 * memory region's (DEVICE_BIG_ENDIAN). @ev may be NULL.
 */
uint64_t calgary_mmio_read(CalgaryChip *chip, uint64_t offset, uint32_t size,
                           CalgaryEvent *ev);
void calgary_mmio_write(CalgaryChip *chip, uint64_t offset, uint32_t size,
                        uint64_t value, CalgaryEvent *ev);

/*
 * Translate one DMA access of the device @bus:@devfn behind PHB @phb.
 * Returns true with out->phys/addr_mask/read/write, or false when blocked
 * (out->fault_reason, out->newly_latched). Fast path: no allocation.
 */
bool calgary_translate(CalgaryChip *chip, uint32_t phb, uint64_t io_addr,
                       uint32_t access, uint8_t bus, uint8_t devfn,
                       CalgaryXlate *out);
/* Static, NUL-terminated name of a fault reason ("unknown" if out of range). */
const char *calgary_fault_reason_str(uint32_t reason);

bool calgary_phb_stats(CalgaryChip *chip, uint32_t phb, CalgaryPhbStats *out);

/*
 * One line describing PHB @phb for HMP `info calgary` and the `stats` QOM
 * property: translation state, TAR, CSR/PLSSR, the counters and the last
 * latched fault. NUL-terminated, truncated to @len; returns the length the
 * whole line needs (without the NUL), 0 when @chip or @phb is invalid.
 */
size_t calgary_phb_summary(CalgaryChip *chip, uint32_t phb, char *buf,
                           size_t len);

/*
 * Snapshot of all guest-visible state. Returns the size needed; writes the
 * bytes only when @len is at least that. Load validates and returns false
 * with a message on bad bytes.
 */
size_t calgary_state_save(CalgaryChip *chip, uint8_t *buf, size_t len);
bool calgary_state_load(CalgaryChip *chip, const uint8_t *buf, size_t len,
                        char *err, size_t err_len);

/*
 * Migration, field by field (QEMU vmstate). Registers per PHB in the core's
 * register-table order: indices 0..CALGARY_REG_COMMON-1 exist on both
 * variants, the rest only on CalIOC2 (ROOT_COMPLEX_STATUS, PMDR, PMCR,
 * SAVIOR_L2). calgary_reg_name() names each index, so the shim's field
 * table can be checked against the core at realize.
 */
#define CALGARY_REG_COUNT        36
#define CALGARY_REG_COMMON       32
#define CALGARY_STAT_COUNT       17
#define CALGARY_INJECT_STAT_COUNT 6

typedef struct CalgaryFaultRecord {
    uint64_t io_addr;
    uint8_t present;             /* 0: no fault; every other field is 0 */
    uint8_t write;               /* device write to memory */
    uint8_t bus;                 /* requester */
    uint8_t devfn;
    uint8_t reason;              /* fault reason code */
    uint8_t pad[3];
} CalgaryFaultRecord;

typedef struct CalgaryCacheLine {
    uint64_t stamp;              /* LRU stamp */
    uint64_t tce;                /* the cached TCE */
    uint32_t slot;               /* set * ways + way */
    uint32_t tag;                /* TCE index */
} CalgaryCacheLine;

typedef struct CalgaryPhbImage {
    uint64_t regs[CALGARY_REG_COUNT];
    CalgaryFaultRecord latched;  /* the error in CSR/PLSSR */
    CalgaryFaultRecord last;     /* the last blocked DMA */
    uint64_t stats[CALGARY_STAT_COUNT];
    uint64_t cache_clock;
    /* in: room in @lines; out: valid lines written (export) / given (import) */
    uint32_t n_lines;
    uint32_t pad;
    CalgaryCacheLine *lines;     /* the caller's buffer */
    /* armed fault injections (calgary_inject_*) and what they did */
    uint32_t inject_split_busy;
    uint32_t inject_softstop_faults;
    uint32_t inject_tce_fetch_fail;
    uint8_t inject_error_latched;    /* CSR holds an injected error */
    uint8_t pad2[3];
    uint64_t inject_stats[CALGARY_INJECT_STAT_COUNT];
} CalgaryPhbImage;

/* Static name of register @index ("TAR", "CSR", ...), NULL past the end. */
const char *calgary_reg_name(uint32_t index);

/*
 * Fills @img[0..3] with the chip's state. False with a message when the
 * chip cannot give its state (failed model) or a PHB has more valid cache
 * lines than its @n_lines says there is room for.
 */
bool calgary_state_export(CalgaryChip *chip, CalgaryPhbImage *img,
                          char *err, size_t err_len);
/*
 * Takes the state from @img[0..3] after checking it all (CSR against the
 * latched fault, cache lines against the geometry, ...). On false the chip
 * is unchanged and @err says why.
 */
bool calgary_state_import(CalgaryChip *chip, const CalgaryPhbImage *img,
                          char *err, size_t err_len);

/*
 * An x86 option ROM (for SeaBIOS "genroms/") that copies the Rio Grande
 * table describing @chips to EBDA+0x180 at POST. Returns the ROM size (0 on
 * bad input); writes it only when @len is at least that.
 */
size_t calgary_rio_option_rom(const CalgaryRioChip *chips, uint32_t n,
                              uint8_t *buf, size_t len);

/* ------------------------------------------------------- fault injection */

/*
 * Faults armed per PHB by the host (QOM properties inject-*, machine
 * property inject=), never by the guest; see the core's inject.rs and
 * docs/calgary.rst. Counted kinds fire on the next N occasions; arming
 * replaces the count, 0 disarms. ERROR and ERROR_REGS apply at once.
 */
typedef enum CalgaryInjectKind {
    CALGARY_INJECT_SPLIT_BUSY = 0,     /* next N split-queue reads busy */
    CALGARY_INJECT_SOFTSTOP_FAULT = 1, /* CalIOC2: next N SoftStop PMDRs */
    CALGARY_INJECT_TCE_FETCH_FAIL = 2, /* next N device TCE fetches fail */
    CALGARY_INJECT_ERROR = 3,          /* text "CSR[:PLSSR]": latch now */
    CALGARY_INJECT_ERROR_REGS = 4,     /* text "CSMR:MCK:E810:..:E870" */
    CALGARY_INJECT_KINDS = 5,
} CalgaryInjectKind;

typedef struct CalgaryInjectInfo {
    /* still armed */
    uint32_t split_busy;
    uint32_t softstop_faults;
    uint32_t tce_fetch_fail;
    uint32_t error_latched;          /* CSR/PLSSR hold an injected error */
    /* counters (survive reset) */
    uint64_t armed;
    uint64_t split_busy_reads;
    uint64_t softstop_faults_fired;
    uint64_t tce_fetch_failures;
    uint64_t errors_latched;
    uint64_t error_regs_set;
} CalgaryInjectInfo;

/* Arms a counted kind (SPLIT_BUSY, SOFTSTOP_FAULT, TCE_FETCH_FAIL). */
bool calgary_inject_count(CalgaryChip *chip, uint32_t phb, uint32_t kind,
                          uint32_t n, char *err, size_t err_len);
/* Any kind from its text form (counts in decimal or 0x hex). */
bool calgary_inject_text(CalgaryChip *chip, uint32_t phb, uint32_t kind,
                         const char *text, char *err, size_t err_len);
/*
 * Text of a kind's current state, in the form calgary_inject_text reads:
 * the remaining count; ERROR: "CSR:PLSSR" while an injected error is
 * latched, else ""; ERROR_REGS: the nine register values. Same return
 * convention as calgary_phb_summary.
 */
size_t calgary_inject_get_text(CalgaryChip *chip, uint32_t phb, uint32_t kind,
                               char *buf, size_t len);
bool calgary_inject_info(CalgaryChip *chip, uint32_t phb,
                         CalgaryInjectInfo *out);
/*
 * The machine's inject= property: items "calgaryC.P/KIND=VALUE" separated
 * by ';', KIND one of split-busy, softstop-fault, tce-fetch-fail, error,
 * error-regs. Applied to @chips[0..n_chips-1]; items of a NULL entry are
 * checked but not applied (a chip's reset passes only itself). On the
 * first bad item returns false with a one-line message (earlier items stay
 * applied).
 */
bool calgary_inject_spec_apply(CalgaryChip *const *chips, uint32_t n_chips,
                               const char *spec, char *err, size_t err_len);

#endif /* CALGARY_FFI_H */
