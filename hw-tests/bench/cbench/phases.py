"""The untimed phases of a run: the twin (plugin boots), the SMP profile
and the translation trace."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from . import configs as C, guest as G, host as H, profile as P, twin as T
from .boot import Boot

TWIN_SECS, TWIN_WARMUP = 1.5, 0.5


def run_twins(a, allc, names, cells, guest, initrd, jobs_for, net_ok, outdir, progress, log):
    """One plugin boot per configuration; returns ({(config, cell): twin
    columns}, markdown)."""
    twins: dict[tuple, dict] = {}
    rows, notes = [], []
    nomap: dict[str, list[str]] = {}
    jobs = jobs_for(cells, TWIN_SECS, TWIN_WARMUP, "t")
    rd = initrd("twin", jobs)
    for n in names:
        cfg = allc[n]
        kernel = cfg.get("kernel") or guest["KERNEL"]
        env_map = os.environ.get("CALGARY_GUEST_SYSTEM_MAP")
        smap = Path(env_map) if cfg.get("kernel") and env_map else G.system_map(kernel)
        if not T.usable_map(smap):
            nomap.setdefault(f"`{Path(kernel).name}` ({smap or 'none found'})", []).append(n)
        out = outdir / f"twin-{n}.json"
        b = Boot(f"twin-{n}", cfg, a.qemu, a.accel, guest["KERNEL"], rd, jobs, net_ok, outdir, progress,
                 plugin=T.plugin_arg(G.PLUGIN, out, smap, a.twin_extra.split(",") if a.twin_extra else None),
                 cell_stats=C.is_calgary(cfg))
        b.run()
        try:
            doc = T.load(out)
            pairs = T.pair_marks(doc)
        except (OSError, ValueError, KeyError) as e:
            notes.append(f"- {n}: plugin output unusable: {e}")
            continue
        if len(pairs) != len(b.results):
            notes.append(f"- {n}: {len(pairs)} mark pairs for {len(b.results)} windows: twin not matched")
            continue
        for r, d in zip(b.results, pairs):
            cell = C.strip_tag(r["id"])
            nbytes = int(r.get("bytes", 0) or 0)
            t = T.per_byte(d, nbytes)
            cs = r.get("cell_stats") or {}
            kb = max(nbytes / 1024, 1e-9)
            if cs:
                t["translations_per_kb"] = cs.get("translations", 0) / kb
                t["tce_fetches_per_kb"] = cs.get("tce-fetches", 0) / kb
                hm = cs.get("cache-hits", 0) + cs.get("cache-misses", 0)
                t["cache_miss_pct"] = cs.get("cache-misses", 0) / hm * 100 if hm else float("nan")
                t["phb_flushes_per_mb"] = cs.get("flushes", 0) / (nbytes / 1e6) if nbytes else float("nan")
            if not T.usable_map(smap):
                t["dma_insn_per_byte"] = t["flushes_per_mb"] = t["maps_per_mb"] = float("nan")
            t["top"] = ", ".join(f"{k} {v / max(nbytes, 1):.3f}" for k, v in d["top"])
            if d["top_extra"]:
                t["top_extra"] = ", ".join(f"{k} {v / max(nbytes, 1):.4f}" for k, v in d["top_extra"])
            twins[(n, cell)] = t
            rows.append(dict(config=n, cell=cell, bytes=nbytes, insns=d["total"], kernel=d["kernel"], dma=d["dma"],
                             map_calls=d["map_calls"], flush_calls=d["flush_calls"], **{k: v for k, v in t.items()}))
        (outdir / f"twin-{n}.json").write_text(json.dumps(json.loads(out.read_text())))  # compact
    if rows:
        from .report import write_csv
        write_csv(outdir / "twin.csv", rows)
    md = ["## The twin in detail (TCG plugin, one untimed boot per configuration)", "",
          f"Each cell {TWIN_WARMUP:g} s warm-up + {TWIN_SECS:g} s between the plugin's marks. Instructions "
          "per byte do not depend on how fast the host ran (a slower host moves fewer bytes in the window "
          "and executes proportionally fewer instructions). twin.csv has the raw counts.", "",
          "| config | cell | insn/B | kernel insn/B | DMA-fn insn/B | maps/MB | flushes/MB | Calgary translations/KB "
          "| TCE fetches/KB | TCE-cache miss % | top DMA functions (insn/B) |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    fmt = lambda v, f=".3f": "–" if v is None or v != v else format(v, f)  # noqa: E731
    for r in rows:
        md.append(f"| {r['config']} | {r['cell']} | {fmt(r['insn_per_byte'], '.2f')} | "
                  f"{fmt(r['kernel_insn_per_byte'], '.2f')} | {fmt(r['dma_insn_per_byte'])} | "
                  f"{fmt(r['maps_per_mb'], '.1f')} | {fmt(r['flushes_per_mb'], '.2f')} | "
                  f"{fmt(r.get('translations_per_kb'), '.2f')} | {fmt(r.get('tce_fetches_per_kb'), '.3f')} | "
                  f"{fmt(r.get('cache_miss_pct'), '.1f')} | {r['top']} |")
    notes += [f"- {', '.join(ns)}: no usable System.map for {k}: instructions in total and in the kernel "
              "only, no DMA-function column" for k, ns in nomap.items()]
    return twins, md + [""] + notes + [""]


def run_smp(a, allc, user_kernel, guest, initrd, jobs_for, host_tool, net_ok, peer, pin, outdir, progress, log,
            perf_why):
    """4 vCPUs, 4 virtio-net queues, nvme queues per CPU, 4 threads per cell;
    perf with call graphs and context switches: does the chip lock show?"""
    if perf_why:
        return ["## SMP (4 vCPUs)", "", f"- not measured: {perf_why}", ""]
    names = (a.smp_configs.split(",") if a.smp_configs else
             (["user-calgary"] if user_kernel else []) + ["premap-faithful"])
    names = [n for n in names if n in allc]
    cells = list(C.CELLS["smp"])
    new_peer = None
    if net_ok:
        H.teardown_netns(peer)
        ok, why, new_peer = H.setup_netns(host_tool, pin[1] if pin else None, multiqueue=True)
        if not ok:
            log(f"bench: SMP network: {why}")
            cells = [c for c in cells if c[0] != "net"]
            net_ok = False
    jobs = jobs_for(cells, 4.0, 1.0, "s")
    rd = initrd("smp", jobs)
    md = ["## SMP: 4 vCPUs, multi-queue virtio-net and nvme (does the chip lock show?)", "",
          "4 vCPU threads on the 2 host CPUs (no pinning), `-netdev tap,queues=4` + `virtio-net-pci,mq=on`, "
          "nvme with its default queue count (the guest makes one I/O queue per CPU), 4 guest threads per cell; "
          "perf with DWARF call chains on cpu-clock (where CPU goes) and on every sched_switch (where threads "
          "block: a contended Rust mutex is the Calgary chip lock, the only Rust mutex in QEMU).", ""]
    try:
        for n in names:
            b = Boot(f"smp-{n}", allc[n], a.qemu, a.accel, guest["KERNEL"], rd, jobs, net_ok, outdir, progress,
                     smp=4, queues=4, pin=None, perf_freq=199, callgraph=True)
            b.run()
            if b.error:
                md.append(f"- {n}: {b.error}")
            qinfo = " ".join(l.strip() for l in b.console if l.startswith(("BENCH-NIC", "BENCH-NVME", "BENCH-INIT")))
            md += [f"### {n}", "", f"Guest: `{qinfo}`", ""]
            if not b.perf_data:
                md += ["- no profile", ""]
                continue
            samples = P.parse_samples(P.perf_script(b.perf_data))
            blocks = P.split_blocks(P.perf_script_chains(b.perf_data))
            md += ["| cell | Mb/s | samples | emulator % | lock % | AS path % | guest code % | context switches by "
                   "reason (vCPU / I/O threads) |", "|---|---|---|---|---|---|---|---|"]
            for r in b.results:
                sh = P.window_shares(samples, r["t0"], r["t1"])
                br = P.block_reasons(blocks, r["t0"], r["t1"])
                brs = "; ".join(f"{k}: {v['vCPU']} / {v['I/O']}" + (f" (callers {v['callers']})" if v["callers"] else "")
                                for k, v in sorted(br.items(), key=lambda kv: -(kv[1]["vCPU"] + kv[1]["I/O"])))
                md.append(f"| {r['id']} | {float(r['mbps']):.1f} | {sh['samples']} | {sh['emulator_pct']:.2f} | "
                          f"{sh['lock_pct']:.2f} | {sh['as_pct']:.2f} | {sh['guest_pct']:.1f} | {brs} |")
                md.append(f"| | | | top: {', '.join(f'{s} {c}' for s, c in sh['top'])} | | | | |")
            md.append("")
            if not a.keep_perf:
                b.perf_data.unlink(missing_ok=True)
    finally:
        if new_peer is not None:
            H.teardown_netns(new_peer)
    return md


def run_trace(a, allc, user_kernel, guest, initrd, jobs_for, cells, net_ok, host_tool, outdir, progress):
    """A short calgary_translate trace of one run, replayed through
    `calgary-bench-host replay` (TCE-cache design space)."""
    tr = outdir / "trace-premap.log"
    jobs = jobs_for(cells, 1.0, 0.0, "x")
    cfgname = "user-calgary" if user_kernel else "premap-faithful"
    b = Boot(f"trace-{cfgname}", allc[cfgname], a.qemu, a.accel, guest["KERNEL"], initrd("trace", jobs), jobs,
             net_ok, outdir, progress, trace=tr)
    b.run()
    p = subprocess.run(["nice", str(host_tool), "replay", "--trace", str(tr), "--out", str(outdir / "replay")],
                       capture_output=True, text=True)
    (outdir / "replay.txt").write_text(p.stdout + p.stderr)
    note = "\n".join(l for l in p.stdout.splitlines() if l.startswith(("workload:", "verdict:")))
    if not a.keep_trace:
        tr.unlink(missing_ok=True)
    return ["## TCE-cache design space (replay of a recorded run)", "", "```", note, "```", "",
            "Full table: replay/replay.csv, plot: replay/replay-hitrate.png", ""]
