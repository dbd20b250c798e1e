"""Fault injection against the kernel's own Calgary driver (boot.py --suite inject).

One boot per kernel and variant (kernels 2.6.23+, whose message formats are
the ones below), the matrix's machine and devices, `calgary=64k` so that the
IO space wraps and the driver flushes, no kdump. The guest runs the kernel
suite (calgary-guest); the runner injects faults over QMP (`qom-set` on the
PHB objects) at the suite's sync points, and once at start-up through the
machine property `inject=`, then reads the driver's reaction in the console:

  wrap-begin  latch CSR/PLSSR now on calgary0.2 (virtio-net's PHB, its
              checks are done): the watchdog prints "DMA error on <chip> PHB
              0x28, 0x<csr>@CSR 0x<plssr>@PLSSR", clears CSR and sets
              SLOT_DISABLE (the runner waits for that over QMP), then arms
              split-busy=150 on calgary1.1 (the nvme that drives the wrap):
              the first flush polls 100 times and says "PCI bus not
              quiesced, continuing anyway", the next one drains after 51
              reads and says nothing. CalIOC2 also gets softstop-fault=102:
              the first blast retries 99 times and gives up ("too many
              SoftStopFaults, aborting TCE cache flush sequence!"), the next
              one retries 3 times and flushes. Meanwhile the nvme on another
              PHB keeps reading (dma-wrap verifies its data).
  inject-fetch (calgary.inject=1, after the wrap) tce-fetch-fail=1 on the
              translated e1000's PHB (calgary0.1); the guest then sends a
              few datagrams through it: the first fresh TCE fetch fails, the
              DMA is blocked, and the watchdog prints CSR reason 3 (TCE
              fetch failed) with the e1000 as requester and disables the
              slot.
  start-up    CalIOC2: inject=calgary0.2/error-regs=...: the CalIOC2 dump
              prints CSMR, MCK and the seven error registers with them.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import guestcommon as B
import kernels

# Values chosen to be recognisable in the driver's dump.
LATCH_PHB = "calgary0.2"            # virtio-net's PHB, bus 0x28
LATCH_BUS = 0x28
LATCH_CSR, LATCH_PLSSR = 0xC0DE0042, 0x1BADB002
WRAP_PHB = "calgary1.1"             # nvme, bus 0x34: drives the IO-space wrap
SPLIT_BUSY = 150                    # > 100: one warning, then 50 drained quietly
SOFTSTOP = 102                      # 99: the first blast gives up; 3: the next retries and flushes
FETCH_PHB, FETCH_BUS = "calgary0.1", 0x24  # the translated e1000 (guest step inject-fetch)
ERROR_REGS = [0x11110290, 0x22220800, 0x33330810, 0x44440820, 0x55550830, 0x66660840, 0x77770850,
              0x88880860, 0x99990870]  # CSMR, MCK, 0x810..0x870
SLOT_DISABLE = 0x1C000000
INJECT_STATS = ["stat-inject-armed", "stat-inject-split-busy-reads", "stat-inject-softstop-faults",
                "stat-inject-tce-fetch-failures", "stat-inject-errors-latched", "stat-inject-error-regs-set"]


def qom_path(phb: str) -> str:
    c, p = phb[len("calgary"):].split(".")
    return f"/machine/calgary{c}/phb{p}"


def error_regs_text() -> str:
    return ":".join(f"{v:#010x}" for v in ERROR_REGS)


def wanted(r: Any, k: Any, pl: Any) -> tuple[bool, str]:
    if not k.version or k.version < (2, 6, 23):
        return False, "needs 2.6.23+ (watchdog and flush message formats; CalIOC2)"
    if not pl.calgary[0]:
        return False, pl.calgary[1]
    if "inject" not in r.props:
        return False, "this QEMU's calgary machine has no inject= property"
    beyond = [f"{p}={v}" for p, v in pl.machine if B.MATRIX_LAYOUT.get(p, v) != v]
    if beyond:
        # The matrix boots these eras (matrix.matrix_layout); the injection
        # plan does not: it latches on virtio-net's PHB and wraps through
        # nvme, which kernels before 4.8 / 3.3 do not drive, and names the
        # default layout's buses (LATCH_BUS, FETCH_BUS).
        return False, (f"this era needs {', '.join(beyond)}; the injection plan is written for the default "
                       f"layout's buses ({LATCH_PHB} = {LATCH_BUS:#x}, {FETCH_PHB} = {FETCH_BUS:#x}) and relies on "
                       f"virtio-net and nvme DMA, which this era lacks")
    if not pl.nvme_required:
        # The split-queue and fetch-failure checks wrap the IO space through
        # nvme, and the other-PHBs check reads from it (2.6.27.57 ran the
        # plan without nvme: no wrap, no flush, 5 checks failed for want of traffic).
        return False, "the injection plan wraps and reads through nvme, which this kernel does not drive (before 3.3)"
    return True, ""


class Injector:
    """The runner's side of one inject boot: called at every sync point."""

    def __init__(self, variant: str):
        self.variant = variant
        self.notes: list[str] = []
        self.errors: list[str] = []
        self.stats: dict[str, dict[str, int]] = {}
        self.slot_disabled_at: float | None = None
        self.phb_config_after: int | None = None

    def get(self, qmp: Any, phb: str, prop: str) -> int | None:
        v = qmp.cmd("qom-get", path=qom_path(phb), property=prop).get("return")
        return v if isinstance(v, int) else None

    def set(self, qmp: Any, phb: str, prop: str, value: Any) -> None:
        rep = qmp.cmd("qom-set", path=qom_path(phb), property=prop, value=value)
        if "error" in rep:
            self.errors.append(f"qom-set {phb} {prop}={value}: {rep['error'].get('desc')}")
        else:
            self.notes.append(f"qom-set {qom_path(phb)} {prop} {value}")

    def snap(self, qmp: Any, tag: str) -> None:
        for phb in (LATCH_PHB, WRAP_PHB, FETCH_PHB):
            row = {p: self.get(qmp, phb, p) for p in INJECT_STATS + ["stat-flushes", "stat-translations",
                                                                     "csr", "phb-config"]}
            self.stats[f"{tag}:{phb}"] = {k: v for k, v in row.items() if v is not None}

    def on_sync(self, tag: str, qmp: Any, boot: Any) -> None:
        try:
            self._on_sync(tag, qmp)
        except Exception as e:  # noqa: BLE001  (never kill boot.py's console reader)
            self.errors.append(f"at sync {tag}: {type(e).__name__}: {e}")

    def _on_sync(self, tag: str, qmp: Any) -> None:
        if tag == "wrap-begin":
            self.snap(qmp, "begin")
            self.set(qmp, LATCH_PHB, "inject-error", f"{LATCH_CSR:#010x}:{LATCH_PLSSR:#010x}")
            t0 = time.monotonic()
            # The watchdog polls every 2 s: wait until it cleared CSR and
            # disabled the slot, so that the wrap below runs after it.
            while time.monotonic() - t0 < 12:
                cfg = self.get(qmp, LATCH_PHB, "phb-config") or 0
                if cfg & SLOT_DISABLE and self.get(qmp, LATCH_PHB, "csr") == 0:
                    self.slot_disabled_at = time.monotonic() - t0
                    self.phb_config_after = cfg
                    break
                time.sleep(0.2)
            self.set(qmp, WRAP_PHB, "inject-split-busy", SPLIT_BUSY)
            if self.variant == "calioc2":
                self.set(qmp, WRAP_PHB, "inject-softstop-fault", SOFTSTOP)
        elif tag == "wrap-end":
            self.snap(qmp, "end")
        elif tag == "inject-fetch":
            self.snap(qmp, "fetch")
            self.set(qmp, FETCH_PHB, "inject-tce-fetch-fail", 1)
        elif tag == "end":  # the guest powered off (boot.py's last QMP look)
            self.snap(qmp, "final")


def machine_extra(variant: str) -> str:
    if variant == "calioc2":
        return f",inject={LATCH_PHB}/error-regs={error_regs_text()}"
    return ""


def strip(line: str) -> str:
    line = line[len("CALGARY-INFO dmesg: "):] if line.startswith("CALGARY-INFO dmesg: ") else line
    return re.sub(r"^\[\s*[\d.]+\]\s*", "", line).strip()


def index_of(lines: list[str], pat: str, start: int = 0) -> int | None:
    return next((i for i in range(start, len(lines)) if pat in lines[i]), None)


def judge(b: Any, inj: Injector, variant: str) -> list[Any]:
    Check = B.Check
    name = b.name
    out: list[Any] = []
    lines = b.lines
    chipname = "CalIOC2" if variant == "calioc2" else "Calgary"
    w0 = index_of(lines, "CALGARY-SYNC wrap-begin")
    w1 = index_of(lines, "CALGARY-SYNC wrap-end")
    for e in inj.errors:
        out.append(Check("FAIL", f"{name}:inject-qmp", e))
    if w0 is None or w1 is None:
        out.append(Check("FAIL", f"{name}:inject", "the suite never reached the wrap sync points "
                         f"(wrap-begin {'seen' if w0 is not None else 'missing'}, wrap-end "
                         f"{'seen' if w1 is not None else 'missing'}); nothing was injected"))
        return out
    s = inj.stats

    def stat(tag: str, phb: str, prop: str) -> int:
        return s.get(f"{tag}:{phb}", {}).get(prop, 0)

    # --- latched CSR/PLSSR: watchdog dump, clear, slot disable
    want = f"DMA error on {chipname} PHB {LATCH_BUS:#x}"
    i = index_of(lines, want, w0)
    if variant == "calgary":
        full = f"{want}, {LATCH_CSR:#010x}@CSR {LATCH_PLSSR:#010x}@PLSSR"
        ok = i is not None and full in lines[i]
        quoted = strip(lines[i]) if i is not None else ""
    else:
        regs = f"{LATCH_CSR:#010x}@CSR {LATCH_PLSSR:#010x}@PLSSR {ERROR_REGS[0]:#010x}@CSMR {ERROR_REGS[1]:#010x}@MCK"
        j = index_of(lines, f"{LATCH_CSR:#010x}@CSR", i or w0)
        ok = i is not None and j is not None and regs in lines[j]
        quoted = " / ".join(strip(lines[x]) for x in (i, j) if x is not None)
    if ok:
        out.append(Check("PASS", f"{name}:inject-error-latch",
                         f"qom-set {qom_path(LATCH_PHB)} inject-error {LATCH_CSR:#010x}:{LATCH_PLSSR:#010x} -> "
                         f"driver: '{quoted}'"))
    else:
        out.append(Check("FAIL", f"{name}:inject-error-latch",
                         f"no '{want}' with the injected {LATCH_CSR:#010x}@CSR {LATCH_PLSSR:#010x}@PLSSR after "
                         f"wrap-begin; seen: '{quoted or '(nothing)'}'"))
    cfg = inj.phb_config_after
    if cfg is not None and cfg & SLOT_DISABLE == SLOT_DISABLE:
        out.append(Check("PASS", f"{name}:inject-slot-disabled",
                         f"{LATCH_PHB}: the watchdog cleared CSR and set SLOT_DISABLE {inj.slot_disabled_at:.1f}s "
                         f"after the injection (phb-config {cfg:#010x}, csr 0)"))
    else:
        out.append(Check("FAIL", f"{name}:inject-slot-disabled",
                         f"{LATCH_PHB}: no SLOT_DISABLE with CSR cleared within 12 s (phb-config "
                         f"{'n/a' if cfg is None else hex(cfg)})"))
    # --- CalIOC2 error registers (set at start-up by the machine property)
    if variant == "calioc2":
        errline = " ".join(f"{ERROR_REGS[2 + k]:#010x}@{0x810 + 0x10 * k:#x}" for k in range(7))
        j = index_of(lines, f"{ERROR_REGS[2]:#010x}@0x810", w0)
        if j is not None and errline in lines[j]:
            out.append(Check("PASS", f"{name}:inject-error-regs",
                             f"-machine ...,inject={LATCH_PHB}/error-regs=... (armed at every reset) -> "
                             f"CSMR/MCK above and '{strip(lines[j])}'"))
        else:
            out.append(Check("FAIL", f"{name}:inject-error-regs",
                             f"no error-register dump line '{errline}' (seen: "
                             f"'{strip(lines[j]) if j is not None else 'nothing'}')"))
    # --- split queue busy: "not quiesced" once, then a quiet flush
    pat = "CalIOC2: PCI bus not quiesced, continuing anyway" if variant == "calioc2" \
        else "PCI bus not quiesced, continuing anyway"
    nq = [x for x in range(w0, w1) if pat in lines[x]]
    reads = stat("end", WRAP_PHB, "stat-inject-split-busy-reads") - stat("begin", WRAP_PHB, "stat-inject-split-busy-reads")
    flushes = stat("end", WRAP_PHB, "stat-flushes") - stat("begin", WRAP_PHB, "stat-flushes")
    if len(nq) == 1 and reads in (100, SPLIT_BUSY) and flushes >= 1:
        if reads != SPLIT_BUSY:
            rest = f"{SPLIT_BUSY - 100} left armed: no second flush in the wrap"
        elif variant == "calioc2":
            rest = (f"the other {SPLIT_BUSY - 100} busy reads went to the SoftStopFault retries, one poll each "
                    "(Linux does not reset its poll counter when it starts over), without a second warning")
        else:
            rest = f"the other {SPLIT_BUSY - 100} busy reads drained in the next flush without a warning"
        out.append(Check("PASS", f"{name}:inject-split-busy",
                         f"inject-split-busy {SPLIT_BUSY} on {WRAP_PHB} -> driver after 100 polls: "
                         f"'{strip(lines[nq[0]])}' once; {rest}; {flushes} flushes during the wrap"))
    else:
        out.append(Check("FAIL", f"{name}:inject-split-busy",
                         f"'{pat}' seen {len(nq)} times during the wrap (want 1), busy reads {reads} "
                         f"(want {SPLIT_BUSY}), flushes +{flushes}"))
    # --- CalIOC2 SoftStopFault: give up once, then retry and flush
    if variant == "calioc2":
        pat = "CalIOC2: too many SoftStopFaults, aborting TCE cache flush sequence!"
        ab = [x for x in range(w0, w1) if pat in lines[x]]
        fired = stat("end", WRAP_PHB, "stat-inject-softstop-faults") - stat("begin", WRAP_PHB, "stat-inject-softstop-faults")
        retry = [strip(lines[x]) for x in range(w0, w1)
                 if re.search(r"entering tce cache blast sequence - count (\d+)", lines[x])]
        counts = [int(m.group(1)) for l in retry for m in [re.search(r"count (\d+)", l)] if m]
        runs: list[int] = []  # the highest count of each blast (a blast starts at count 1)
        for c in counts:
            if c == 1 or not runs:
                runs.append(c)
            else:
                runs[-1] = max(runs[-1], c)
        shown = (f"; the driver's debug lines: blasts reached 'count {', '.join(map(str, runs))}'"
                 if runs else "")
        if len(ab) == 1 and fired == SOFTSTOP and flushes >= 1:
            out.append(Check("PASS", f"{name}:inject-softstop-fault",
                             f"inject-softstop-fault {SOFTSTOP} on {WRAP_PHB} -> driver retried 99 times then: "
                             f"'{strip(lines[ab[0]])}'; the next blast retried {SOFTSTOP - 99} times and flushed "
                             f"({fired} faults reported, flushes +{flushes}){shown}"))
        else:
            out.append(Check("FAIL", f"{name}:inject-softstop-fault",
                             f"'{pat}' seen {len(ab)} times (want 1), SoftStopFaults reported {fired} (want "
                             f"{SOFTSTOP}), flushes +{flushes}"))
    # --- other PHBs keep working after the slot disable
    if b.passed("dma-wrap") and inj.slot_disabled_at is not None:
        t = stat("end", WRAP_PHB, "stat-translations") - stat("begin", WRAP_PHB, "stat-translations")
        out.append(Check("PASS" if t > 0 else "FAIL", f"{name}:inject-other-phbs",
                         f"after {LATCH_PHB}'s slot was disabled, nvme on {WRAP_PHB} read the IO space round "
                         f"with verified data (dma-wrap PASS): +{t} translations"))
    else:
        out.append(Check("FAIL", f"{name}:inject-other-phbs",
                         f"dma-wrap {'PASS' if b.passed('dma-wrap') else 'not passed'}, slot disable "
                         f"{'seen' if inj.slot_disabled_at is not None else 'not seen'}"))
    # --- TCE fetch failure on the e1000's next DMA (guest step inject-fetch)
    want = f"DMA error on {chipname} PHB {FETCH_BUS:#x}"
    f0 = index_of(lines, "CALGARY-SYNC inject-fetch", w1)
    i = index_of(lines, want, f0) if f0 is not None else None
    csr = None
    if i is not None:
        m = re.search(r"0x([0-9a-f]{8})@CSR", lines[i])
        if m is None:
            k = index_of(lines, "@CSR", i)
            m = re.search(r"0x([0-9a-f]{8})@CSR", lines[k]) if k is not None else None
        csr = int(m.group(1), 16) if m else None
    failures = stat("final", FETCH_PHB, "stat-inject-tce-fetch-failures")
    g = b.guest("inject-fetch")
    if f0 is None:
        out.append(Check("FAIL", f"{name}:inject-tce-fetch-fail",
                         "the guest never reached the inject-fetch sync point (calgary.inject=1)"
                         + (f": {g.status} {g.reason}" if g else "")))
    elif csr is not None and (csr >> 27) & 0xF == 3 and failures >= 1 and g is not None and g.status == "PASS":
        out.append(Check("PASS", f"{name}:inject-tce-fetch-fail",
                         f"inject-tce-fetch-fail 1 on {FETCH_PHB}, then e1000 traffic -> driver: '{strip(lines[i])}'"
                         f"{'' if variant == 'calgary' else ' ' + f'{csr:#010x}@CSR'}: CSR reason 3 (TCE fetch "
                         f"failed), requester {csr >> 8 & 0xFF:02x}:{csr >> 3 & 0x1F:02x}.{csr & 7}, slot disabled; "
                         f"{failures} injected fetch failure"))
    else:
        out.append(Check("FAIL", f"{name}:inject-tce-fetch-fail",
                         f"watchdog line {'found' if i is not None else 'missing'}, CSR "
                         f"{'n/a' if csr is None else hex(csr)} (want reason 3 in bits 30..27), injected failures "
                         f"{failures}, guest inject-fetch {g.status + ' ' + g.reason if g else 'missing'}"))
    return out


def run(r: Any, paths: list[str], timeout: float, checks: list[Any], boots: list[Any]) -> None:
    """Boot every kernel on each variant with injections; add the checks."""
    variants = [v for v in (r.args.variant or ["calgary", "calioc2"]) if v in ("calgary", "calioc2")]
    for path in paths:
        if not Path(path).is_file():
            continue
        k = kernels.identify(path)
        pl = kernels.plan(k)
        label = k.label if k.version else Path(path).name
        ok, why = wanted(r, k, pl)
        for v in variants:
            tag = f"inject/{label}/{v}"
            if not ok:
                checks.append(B.Check("SKIP", tag, why))
                continue
            if v == "calioc2" and not pl.calioc2[0]:
                checks.append(B.Check("SKIP", tag, pl.calioc2[1]))
                continue
            inj = Injector(v)
            machine = (f"calgary,chips={B.MATRIX_CHIPS},variant={v},tce-cache={r.args.cache}"
                       + "".join(f",{p}={val}" for p, val in pl.machine) + machine_extra(v))
            optional = [n for n, req in (("virtio", pl.virtio_required), ("nvme", pl.nvme_required)) if not req]
            # loglevel=8: the CalIOC2 blast's KERN_DEBUG lines (its retry count) reach the console.
            append = (f"loglevel={8 if v == 'calioc2' else 7} log_buf_len=1M {' '.join(pl.append)} "
                      f"calgary.suite=kernel calgary.cache={r.args.cache} calgary.blob_md5={r.blob_md5} "
                      f"calgary.sync=1" + (f" calgary.optional={','.join(optional)}" if optional else "")
                      + f" iommu=calgary calgary={B.MATRIX_TABLE},disable={B.MATRIX_DISABLE_BUS:#x} "
                        f"calgary.expect=translate calgary.disable={B.MATRIX_DISABLE_BUS:#x} calgary.wrap=1 "
                        f"calgary.inject=1")
            spec = B.BootSpec(tag, k.path, B.base_append(append), r.env["INITRD"], machine, r.matrix_devices(),
                              timeout, mem=B.MATRIX_MEM, chips=B.MATRIX_CHIPS)
            spec.on_sync = inj.on_sync
            B.log(f"inject: booting {tag} ({machine})")
            b = r.boot(spec)
            boots.append(b)
            if b.unsupported:
                checks.append(B.Check("SKIP", tag, f"unsupported: {b.unsupported}"))
                continue
            # The suite's own checks of this boot are the matrix's business:
            # keep boot/sync/QMP and what the injections rely on.
            keep = ("boot", "done", "qmp", "dma-wrap", "kernel-errant-dma", "inject-fetch")
            checks.extend(c for c in b.checks
                          if c.name.split(":", 1)[-1] in keep or c.name.split(":", 1)[-1].startswith("qmp-"))
            if b.passed("boot"):
                checks.extend(judge(b, inj, v))
