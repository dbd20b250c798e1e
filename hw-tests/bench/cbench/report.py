"""Aggregation and the written results: raw.csv (one row per cell and
repetition), summary.csv and results.md (one row per configuration and
cell), goal verdicts, plots."""

from __future__ import annotations

import csv
import math
import subprocess
from pathlib import Path

from . import stats
from .configs import parse_cell_id, strip_tag, workload

SPREAD_GOAL = 10.0  # percent, (max - min) / median

RAW_FIELDS = ["config", "cell", "rep", "mbps", "tps", "bytes", "secs", "guest_cpu", "host_cpu",
              "host_vcpu_s", "host_io_s", "host_ns_per_byte", "vcpu_ns_per_byte", "io_ns_per_byte", "samples", "emulator_pct", "model_pct",
              "xlate_pct", "as_pct", "lock_pct", "guest_pct", "kernel_pct", "other_pct"]


def raw_rows(boots: dict[str, list], profiles: dict[tuple, dict]) -> list[dict]:
    rows = []
    for n, bl in boots.items():
        for rep, b in enumerate(bl):
            for r in b.results:
                cell = strip_tag(r["id"])
                nbytes = int(r.get("bytes", 0) or 0)
                hs = r.get("host_vcpu_s", 0.0) + r.get("host_io_s", 0.0)
                row = dict(config=n, cell=cell, rep=rep, mbps=float(r.get("mbps", "nan")),
                           tps=float(r.get("tps", "nan")), bytes=nbytes, secs=float(r.get("secs", "nan")),
                           guest_cpu=float(r.get("cpu", "nan")), host_cpu=r.get("host_cpu", float("nan")),
                           host_vcpu_s=r.get("host_vcpu_s"), host_io_s=r.get("host_io_s"),
                           host_ns_per_byte=hs * 1e9 / nbytes if nbytes else float("nan"),
                           vcpu_ns_per_byte=r.get("host_vcpu_s", 0.0) * 1e9 / nbytes if nbytes else float("nan"),
                           io_ns_per_byte=r.get("host_io_s", 0.0) * 1e9 / nbytes if nbytes else float("nan"))
                row.update({k: v for k, v in profiles.get((b.name, r["id"]), {}).items() if k in RAW_FIELDS})
                rows.append(row)
    return rows


def _col(rows, key):
    return [r.get(key, float("nan")) for r in rows]


def summarize(raw: list[dict], allc: dict, twins: dict[tuple, dict]) -> list[dict]:
    """One row per (config, cell): medians, spread, CI, paired ratios to the
    baseline, the twin's columns and the profile's shares (pooled over reps)."""
    by: dict[tuple, list[dict]] = {}
    for r in raw:
        by.setdefault((r["config"], r["cell"]), []).append(r)
    out = []
    for (n, cell), rows in sorted(by.items()):
        mb = _col(rows, "mbps")
        m, lo_ci, hi_ci = stats.ci95(mb)
        row = dict(config=n, base=allc[n]["base"] or "", cell=cell, workload=workload(parse_cell_id(cell)),
                   size=parse_cell_id(cell)[3], reps=len(rows), mbps_median=stats.median(mb),
                   mbps_min=min(stats.finite(mb), default=float("nan")),
                   mbps_max=max(stats.finite(mb), default=float("nan")),
                   spread_pct=stats.spread(mb) * 100, ci95_pct=stats.ci_halfwidth_pct(mb),
                   host_spread_pct=stats.spread(_col(rows, "host_ns_per_byte")) * 100,
                   guest_cpu=stats.median(_col(rows, "guest_cpu")), host_cpu=stats.median(_col(rows, "host_cpu")),
                   host_ns_per_byte=stats.median(_col(rows, "host_ns_per_byte")),
                   vcpu_ns_per_byte=stats.median(_col(rows, "vcpu_ns_per_byte")),
                   io_ns_per_byte=stats.median(_col(rows, "io_ns_per_byte")),
                   host_vcpu_frac=stats.median([(r["host_vcpu_s"] or 0) / ((r["host_vcpu_s"] or 0) + (r["host_io_s"] or 0) or 1)
                                                for r in rows]))
        # profile shares pooled (sample-weighted) over repetitions
        tot = sum(r.get("samples", 0) or 0 for r in rows)
        row["samples"] = tot
        for k in ("emulator_pct", "model_pct", "xlate_pct", "as_pct", "lock_pct", "guest_pct", "kernel_pct"):
            row[k] = (sum((r.get(k) or 0) * (r.get("samples") or 0) for r in rows if r.get("samples")) / tot
                      if tot else float("nan"))
        base = allc[n]["base"]
        brows = by.get((base, cell), []) if base else []
        if base and brows:
            xs = {r["rep"]: r["mbps"] for r in rows}
            bs = {r["rep"]: r["mbps"] for r in brows}
            pr = stats.paired_ratios(xs, bs)
            rm, rlo, rhi = stats.ci95(pr)
            row.update(tput_ratio=stats.median(pr), ratio_ci_lo=rlo, ratio_ci_hi=rhi)
            hb = stats.median(_col(brows, "host_ns_per_byte"))
            row["host_per_byte_ratio"] = row["host_ns_per_byte"] / hb if hb else float("nan")
        else:
            row.update(tput_ratio=1.0 if not base else float("nan"), ratio_ci_lo=float("nan"),
                       ratio_ci_hi=float("nan"), host_per_byte_ratio=1.0 if not base else float("nan"))
        t = twins.get((n, cell))
        for k in ("insn_per_byte", "kernel_insn_per_byte", "dma_insn_per_byte", "flushes_per_mb", "maps_per_mb",
                  "translations_per_kb", "tce_fetches_per_kb", "cache_miss_pct"):
            row[k] = t.get(k, float("nan")) if t else float("nan")
        bt = twins.get((base, cell)) if base else None
        row["insn_ratio"] = (t["insn_per_byte"] / bt["insn_per_byte"]
                             if t and bt and bt.get("insn_per_byte") else (1.0 if not base and t else float("nan")))
        out.append(row)
    return out


def write_csv(path: Path, rows: list[dict], fields: list[str] | None = None) -> None:
    fields = fields or (list(dict.fromkeys(k for r in rows for k in r)) if rows else ["config"])
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v) for k, v in r.items()})


def f(v, fmt=".2f", dash="–") -> str:
    return dash if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def fmt_size(n: int) -> str:
    return f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else str(n)


def spread_reason(r: dict) -> str:
    """Why a cell's spread exceeds the goal, from its own columns: when the
    host CPU time per byte varied about as much as the throughput, the host
    ran the same guest work at a different speed; otherwise the guest's
    work per byte itself varied (e.g. TCP batching)."""
    sp, hs = r["spread_pct"], r.get("host_spread_pct", float("nan"))
    if not math.isfinite(sp) or sp <= SPREAD_GOAL:
        return ""
    if math.isfinite(hs) and hs >= 0.5 * sp:
        return f"host speed (host ns/B spread {hs:.0f} %)"
    return f"guest work varied (host ns/B spread {f(hs, '.0f')} %)"


def cell_table(summary: list[dict], names: list[str], cell: str) -> list[str]:
    md = ["| config | Mb/s (median) | spread | 95 % CI | ratio [95 % CI] | host ns/B (ratio) | vCPU thr. | "
          "insn/B total (ratio) | kernel | DMA fns | flushes/MB | emulator % (model+xlate) | AS path % | lock % |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        r = next((x for x in summary if x["config"] == n and x["cell"] == cell), None)
        if r is None:
            continue
        why = spread_reason(r)
        ratio = ("baseline" if not r["base"] else
                 f"{f(r['tput_ratio'], '.3f')} [{f(r['ratio_ci_lo'], '.3f')}, {f(r['ratio_ci_hi'], '.3f')}]")
        md.append(f"| {n} | {f(r['mbps_median'], '.1f')} | {f(r['spread_pct'], '.1f')} %{f' **>10**: {why}' if why else ''} | "
                  f"±{f(r['ci95_pct'], '.1f')} % | {ratio} | {f(r['host_ns_per_byte'], '.2f')} "
                  f"({f(r['host_per_byte_ratio'], '.2f')}) | {f(r['host_vcpu_frac'] * 100, '.0f')} % | "
                  f"{f(r['insn_per_byte'], '.2f')} ({f(r['insn_ratio'], '.3f')}) | {f(r['kernel_insn_per_byte'], '.2f')} | "
                  f"{f(r['dma_insn_per_byte'], '.3f')} | {f(r['flushes_per_mb'], '.1f')} | "
                  f"{f(r['emulator_pct'], '.2f')} | {f(r['as_pct'], '.2f')} | {f(r['lock_pct'], '.2f')} |")
    return md + [""]


def versus(summary: list[dict], a: str, b: str) -> list[str]:
    """Cell by cell, configuration `a` next to `b` (each against its own
    baseline): throughput, guest instructions per byte beyond the baseline
    (all, and inside the DMA functions), host CPU per byte by thread kind,
    the emulator's share."""
    ra = {r["cell"]: r for r in summary if r["config"] == a}
    rb = {r["cell"]: r for r in summary if r["config"] == b}
    base = {(r["config"], r["cell"]): r for r in summary}
    cells = [c for c in ra if c in rb]
    if not cells:
        return []
    md = [f"## {a} vs {b}, cell by cell", "",
          f"Each value `{a} / {b}`. Extra insn/B = the twin's guest instructions per byte minus its baseline's; "
          "vCPU / I/O ns/B = host CPU time per byte of the vCPU thread and of QEMU's other threads, minus the "
          "baseline's.", "",
          "| cell | throughput ratio | extra guest insn/B | DMA-fn insn/B | extra vCPU ns/B | extra I/O ns/B | "
          "emulator % |", "|---|---|---|---|---|---|---|"]

    def extra(r, k):
        b = base.get((r["base"], r["cell"]))
        return r[k] - b[k] if b else float("nan")

    for c in cells:
        x, y = ra[c], rb[c]
        md.append(f"| {c} | {f(x['tput_ratio'], '.3f')} / {f(y['tput_ratio'], '.3f')} | "
                  f"{f(extra(x, 'insn_per_byte'), '.4f')} / {f(extra(y, 'insn_per_byte'), '.4f')} | "
                  f"{f(x['dma_insn_per_byte'], '.4f')} / {f(y['dma_insn_per_byte'], '.4f')} | "
                  f"{f(extra(x, 'vcpu_ns_per_byte'), '.3f')} / {f(extra(y, 'vcpu_ns_per_byte'), '.3f')} | "
                  f"{f(extra(x, 'io_ns_per_byte'), '.3f')} / {f(extra(y, 'io_ns_per_byte'), '.3f')} | "
                  f"{f(x['emulator_pct'], '.2f')} / {f(y['emulator_pct'], '.2f')} |")
    return md + [""]


def floor_line(cal: list[float], secs: float) -> str:
    """The host's own spread over the run: rates of the fixed loop
    (`calgary-bench-host calibrate`) run for one window after every boot."""
    xs = stats.finite(cal)
    if len(xs) < 2:
        return "- Host floor: not measured (fewer than 2 calibration windows)"
    return (f"- Host floor: a fixed loop of memory copies and integer work (`calgary-bench-host calibrate`, "
            f"{secs:g} s on the vCPU's CPU after each of {len(xs)} boots) varied by {stats.spread(xs) * 100:.1f} % "
            f"(max-min over median): no cell of this run can be expected to spread less")


def goals(summary: list[dict]) -> list[str]:
    g = []

    def rows(cfg, pred):
        return [r for r in summary if r["config"] == cfg and pred(r)]

    pm = rows("premap-faithful", lambda r: r["workload"].startswith("net") and r["size"] >= 1024)
    if pm:
        w = min(pm, key=lambda r: r["tput_ratio"])
        g.append(f"- Pre-mapped Calgary vs no IOMMU, messages >= 1 KiB: worst {f(w['tput_ratio'], '.3f')} "
                 f"[{f(w['ratio_ci_lo'], '.3f')}, {f(w['ratio_ci_hi'], '.3f')}] ({w['cell']}); goal >= 0.97: "
                 + ("MET" if w["tput_ratio"] >= 0.97 else
                    "not met, within the CI" if w["ratio_ci_hi"] >= 0.97 else "NOT met"))
    uc = rows("user-calgary", lambda r: r["cell"] == "blk-nvme-read-524288")
    if uc:
        r = uc[0]
        g.append(f"- Kernel's own Calgary driver, nvme 512K O_DIRECT: {f(r['tput_ratio'], '.3f')} "
                 f"[{f(r['ratio_ci_lo'], '.3f')}, {f(r['ratio_ci_hi'], '.3f')}] of no IOMMU; goal >= 0.95: "
                 + ("MET" if r["tput_ratio"] >= 0.95 else
                    "not met, within the CI" if r["ratio_ci_hi"] >= 0.95 else "NOT met"))
    for cfg, goal in (("premap-faithful", 2.0), ("user-calgary", 5.0)):
        rs = [r for r in rows(cfg, lambda r: True) if math.isfinite(r["emulator_pct"])]
        if rs:
            w = max(rs, key=lambda r: r["emulator_pct"])
            g.append(f"- Emulator share, {cfg}: at most {f(w['emulator_pct'], '.2f')} % of QEMU's CPU "
                     f"({w['cell']}); goal <= {goal:.0f} %: {'MET' if w['emulator_pct'] <= goal else 'NOT met'}")
    over = [r for r in summary if math.isfinite(r["spread_pct"]) and r["spread_pct"] > SPREAD_GOAL]
    if not summary:
        return g + ["- no cell measured"]
    unmeasured = [r for r in summary if not math.isfinite(r["spread_pct"])]
    g.append(f"- Spread <= {SPREAD_GOAL:.0f} % in every cell: "
             + (f"not measurable in {len(unmeasured)} of {len(summary)} cells (fewer than 2 repetitions)"
                if unmeasured else
                "MET" if not over else f"NOT met in {len(over)} of {len(summary)}: "
                + "; ".join(f"{r['config']} {r['cell']} ({r['spread_pct']:.1f} %, {spread_reason(r)})" for r in over)))
    return g


def plots(host_tool: Path, outdir: Path, summary: list[dict], log) -> None:
    for wl in sorted({r["workload"] for r in summary}):
        p = subprocess.run([str(host_tool), "plot", "--csv", str(outdir / "summary.csv"), "--x", "size",
                            "--y", "tput_ratio", "--series", "config", "--where", f"workload={wl}", "--log2x",
                            "--ymin", "0", "--ymax", "1.2", "--hline", "1:no IOMMU",
                            "--title", f"{wl}: throughput vs no IOMMU",
                            "--xlabel", "message / request size (bytes)", "--ylabel", "throughput ratio",
                            "--out", str(outdir / f"{wl}.png")], capture_output=True, text=True)
        if p.returncode != 0:
            log(f"bench: plot of {wl} failed: {p.stderr.strip()}")
