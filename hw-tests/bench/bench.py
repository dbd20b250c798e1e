#!/usr/bin/env python3
"""The "Price of Safety" benchmark on the emulated Calgary machine.

Usage:
  bench.py [--quick] [--out DIR] [--reps N] [--secs S] [--warmup W] [--cells SET|ids]
           [--configs a,b,..] [--no-twin] [--no-perf] [--no-pin] [--smp] [--trace]
           [--qemu PATH] [--accel tcg|kvm]

Boots the same Linux guest (Debian's kernel + the test initramfs from
guest-images/build-initramfs.sh, plus an extra cpio with the static
`calgary-bench` workload binary and /bench-init) once per configuration and
repetition and runs the same DMA-bound cells in each:

  net   TCP stream (guest sends) and request/response over virtio-net (and
        e1000 in --cells all) to `calgary-bench-host peer` in a network
        namespace, reached through a tap device (no slirp)
  blk   O_DIRECT sequential reads from an nvme on `driver=null-co`

Method (hw-tests/bench/README.md has the why):
  - every cell: W s of warm-up on its own connection/reads, then S measured s;
  - repetitions interleaved (each repetition boots every configuration, the
    order rotated per repetition); median, spread (max-min)/median, 95 % CI
    (Student's t) per cell; ratios to the baseline paired per repetition;
  - QEMU's vCPU threads pinned to one CPU, its other threads, the network
    peer, perf and this driver to the other(s);
  - host CPU time per byte of QEMU's threads (schedstat) in each window;
  - perf (cpu-clock) on QEMU during every timed boot: the emulator's share
    (Calgary shim/FFI/core or intel-iommu, plus QEMU's IOMMU translate path);
  - the twin: one extra untimed boot per configuration under the TCG plugin
    (rust/calgary-plugin), guest instructions per byte between the marks of
    each window (total, kernel, DMA-mapping functions; flush calls) and,
    on Calgary, the PHB statistics of the window (QMP);
  - --smp: a 4-vCPU guest, 4 virtio-net queues and nvme queues per CPU, 4
    threads per cell, perf with call graphs: does the chip lock show?

Configurations (ratios are to the matching no-IOMMU baseline):
  nommu            -machine calgary,chips=0 (a plain PC)            baseline
  bypass           Calgary present, translation off                 vs nommu
  premap-off|coherent|faithful  Calgary, identity TCE table, cache policy  vs nommu
  premap-pages     premap-faithful, translation blocks off (tce-block=off)  vs nommu
  q35              -machine q35, no IOMMU                            baseline
  intel-lazy|strict q35 + intel-iommu, lazy / strict flush           vs q35
  user-nommu       $CALGARY_GUEST_KERNEL on chips=0                 baseline
  user-calgary     $CALGARY_GUEST_KERNEL doing its own map/unmap    vs user-nommu
  user-calgary-line8  the same with TCE line fill (tce-cache-line=8) vs user-nommu
  user-q35         $CALGARY_GUEST_KERNEL on q35, no IOMMU           baseline
  user-intel-lazy  $CALGARY_GUEST_KERNEL with intel-iommu (lazy)    vs user-q35

Output in DIR (default hw-tests/bench/results/<timestamp>/): results.md,
raw.csv, summary.csv, twin.csv, *.png, phb-stats.txt, consoles.
Needs root for the network namespace and /dev/net/tun (else the network
cells are skipped, and the report says so).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from cbench import configs as C, guest as G, host as H, profile as P, report as R, stats  # noqa: E402
from cbench.boot import MEM_MB, Boot  # noqa: E402
from cbench.phases import run_smp, run_trace, run_twins  # noqa: E402

REPO = HERE.parents[1]
DEFAULT_QEMU = REPO / "build" / "qemu-system-x86_64"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CI size: 4 configs, 5 cells, 1 rep (~2 min)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--reps", type=int)
    ap.add_argument("--secs", type=float, help="measured seconds per cell")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per cell (not measured)")
    ap.add_argument("--cells", help=f"a cell set ({', '.join(C.CELLS)}) or a comma list of cell ids, "
                                    "e.g. blk-nvme-read-65536,net-virtio-rr-64")
    ap.add_argument("--configs", help="comma list (default: the set of --quick or the full run)")
    ap.add_argument("--no-twin", action="store_true", help="skip the plugin boots (twin columns empty)")
    ap.add_argument("--twin-extra", help="more guest-kernel symbols (globs, comma list) the twin counts and "
                                         "lists apart from the DMA functions (twin.csv column top_extra)")
    ap.add_argument("--no-perf", action="store_true", help="no perf profile (emulator share empty)")
    ap.add_argument("--perf-freq", type=int, default=499, help="perf sampling frequency (Hz)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin QEMU's threads and the peer")
    ap.add_argument("--no-prealloc", action="store_true",
                    help="timed boots without -mem-prealloc (guest RAM faulted in, and collapsed into huge "
                         "pages by khugepaged, while the cells run)")
    ap.add_argument("--smp", action="store_true", help="also the 4-vCPU multi-queue profile (chip lock)")
    ap.add_argument("--budget", type=float, help="minutes for the timed phase: no repetition is started "
                                                  "that would not finish in time (the others stay interleaved)")
    ap.add_argument("--smp-configs", help="configurations of the SMP profile (default: user-calgary, premap-faithful)")
    ap.add_argument("--trace", action="store_true", help="also record a translation trace and replay it")
    ap.add_argument("--keep-trace", action="store_true", help="keep the (large) trace log of --trace")
    ap.add_argument("--keep-perf", action="store_true", help="keep perf.data files (large)")
    ap.add_argument("--qemu", type=Path, default=Path(os.environ.get("CALGARY_QEMU", DEFAULT_QEMU)))
    ap.add_argument("--accel", default="tcg")
    return ap.parse_args(argv)


def choose(a, allc: dict, user_kernel: str | None):
    """(configuration names, cells, reps, secs, warmup) or an error string."""
    if a.quick:
        names, cells, reps, secs, warmup = list(C.NAMES["quick"]), list(C.CELLS["quick"]), 1, 2.0, 0.5
    else:
        names = [n for n in C.NAMES["full"] if n in allc]
        cells, reps, secs, warmup = list(C.CELLS["full"]), 5, 3.0, 1.0
    if a.cells:
        if a.cells in C.CELLS:
            cells = list(C.CELLS[a.cells])
        else:
            cells = [C.parse_cell_id(x) for x in a.cells.split(",")]
    if a.configs:
        names = a.configs.split(",")
        unknown = [n for n in names if n not in allc]
        if unknown:
            return f"unknown configuration(s) {unknown}; known: {list(allc)}"
    for n in list(names):  # every ratio needs its baseline
        b = allc[n]["base"]
        if b and b not in names:
            names.insert(0, b)
    names = list(dict.fromkeys(names))
    return (names, cells, a.reps if a.reps is not None else reps, a.secs or secs,
            a.warmup if a.warmup is not None else warmup)


def main(argv=None) -> int:
    a = parse_args(argv)
    user_kernel = (os.environ.get("CALGARY_GUEST_KERNEL") or "").split(":")[0] or None
    if user_kernel and not Path(user_kernel).exists():
        log(f"bench: CALGARY_GUEST_KERNEL {user_kernel} does not exist; ignored")
        user_kernel = None
    allc = C.configs(user_kernel)
    ch = choose(a, allc, user_kernel)
    if isinstance(ch, str):
        log(f"bench: {ch}")
        return 2
    names, cells, reps, secs, warmup = ch
    if not a.qemu.exists():
        log(f"bench: QEMU binary {a.qemu} not found (./calgary setup builds it)")
        return 3
    stamp = time.strftime("%Y%m%d-%H%M%S")
    outdir = a.out or (HERE / "results" / stamp)
    outdir.mkdir(parents=True, exist_ok=True)
    perf_why = "--no-perf" if a.no_perf else H.perf_usable()
    twin = not a.no_twin and not a.quick and a.accel == "tcg"
    log("bench: building the guest workload binary and the host tools, assembling the guest ...")
    try:
        tool = G.build_tool()
        host_tool = G.build_host_tools(plugin=twin or a.smp)
        guest = G.assemble_guest()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        log(f"bench: cannot prepare the guest: {e}")
        return 3
    ncpu = len(H.cpus())
    pin = None if a.no_pin else H.pin_plan(ncpu)
    if pin:
        os.sched_setaffinity(0, pin[1])  # this driver on the I/O side
    need_net = any(c[0] == "net" for c in cells)
    net_ok, net_why, peer = (H.setup_netns(host_tool, pin[1] if pin else None) if need_net
                             else (False, "no network cell selected", None))
    if not net_ok:
        log(f"bench: network cells skipped: {net_why}")
        cells = [c for c in cells if c[0] != "net"]
    base_initrd = Path(guest["INITRD"]).read_bytes()
    tool_bytes = tool.read_bytes()

    def jobs_for(cs, s, w, tag):
        return [(f"{C.cell_id(c)}-{tag}", c[0], c[1], c[2], c[3], s, w, c[4]) for c in cs]

    def initrd(name, jobs):
        return G.make_initrd(base_initrd, tool_bytes, outdir / f"initrd-{name}.img", jobs)

    plan = stats.schedule(names, reps)
    per_boot = 14 + len(cells) * (secs + warmup + 1.0)
    est = len(plan) * per_boot + (len(names) * (20 + len(cells) * 4) if twin else 0) + (150 if a.smp else 0)
    log(f"bench: {len(names)} configurations x {len(cells)} cells x {reps} reps ({warmup:g}s warm-up + {secs:g}s "
        f"each), pinning {'off' if not pin else f'vCPU->{sorted(pin[0])} rest->{sorted(pin[1])}'}, perf "
        f"{'off: ' + perf_why if perf_why else f'{a.perf_freq} Hz'}, twin {'on' if twin else 'off'}: "
        f"about {est / 60:.1f} min total; output in {outdir}")
    t_start = time.monotonic()
    total_runs = len(plan) * len(cells)
    state = {"n": 0}

    def progress(cfg: str, jid: str) -> None:
        state["n"] += 1
        el = time.monotonic() - t_start
        count = f"{state['n']:3d}/{total_runs}" if state["n"] <= total_runs else f"+{state['n'] - total_runs:3d}"
        sys.stderr.write(f"\r[{count}] {cfg:22s} {jid:34s} elapsed {el:5.0f}s ")
        sys.stderr.flush()

    boots: dict[str, list[Boot]] = {n: [] for n in names}
    profiles: dict[tuple, dict] = {}
    emu_syms: dict[str, tuple[int, dict[str, int]]] = {}
    reps_done_note: list[str] = []
    twins: dict[tuple, dict] = {}
    extra_md: list[str] = []
    cal: list[float] = []  # host calibration rate after each timed boot
    try:
        jobs = jobs_for(cells, secs, warmup, "r")
        rd = initrd("timed", jobs)
        rep_started = {}
        for rep, n in plan:
            if rep not in rep_started:
                rep_started[rep] = time.monotonic()
                if rep and a.budget:
                    per_rep = (time.monotonic() - t_start) / rep
                    if time.monotonic() - t_start + per_rep > a.budget * 60:
                        log(f"\nbench: --budget {a.budget:g} min: stopping after {rep} complete repetition(s)")
                        reps_done_note.append(f"Stopped after {rep} of {reps} repetitions (--budget {a.budget:g} min).")
                        break
            b = Boot(f"{n}-r{rep}", allc[n], a.qemu, a.accel, guest["KERNEL"], rd, jobs, net_ok, outdir, progress,
                     pin=pin, perf_freq=0 if perf_why else a.perf_freq, prealloc=not a.no_prealloc)
            b.run()
            boots[n].append(b)
            cal.append(H.calibrate(host_tool, secs, pin[0] if pin else None))
            if b.error:
                log(f"\nbench: {b.name}: {b.error}")
            if b.perf_data:
                samples = P.parse_samples(P.perf_script(b.perf_data))
                for r in b.results:
                    sh = P.window_shares(samples, r["t0"], r["t1"])
                    profiles[(b.name, r["id"])] = sh
                    tot, syms = emu_syms.setdefault(n, (0, {}))
                    for k, v in sh.pop("syms").items():
                        syms[k] = syms.get(k, 0) + v
                    emu_syms[n] = (tot + sh["samples"], syms)
                if not a.keep_perf:
                    b.perf_data.unlink(missing_ok=True)
        sys.stderr.write("\n")
        if twin:
            twins, md = run_twins(a, allc, names, cells, guest, initrd, jobs_for, net_ok, outdir, progress, log)
            extra_md += md
        if a.smp:
            extra_md += run_smp(a, allc, user_kernel, guest, initrd, jobs_for, host_tool, net_ok, peer, pin,
                                outdir, progress, log, perf_why)
        if a.trace:
            extra_md += run_trace(a, allc, user_kernel, guest, initrd, jobs_for, cells, net_ok, host_tool,
                                  outdir, progress)
    finally:
        H.teardown_netns(peer)
    sys.stderr.write("\n")

    raw = R.raw_rows(boots, profiles)
    R.write_csv(outdir / "raw.csv", raw, R.RAW_FIELDS)
    summary = R.summarize(raw, allc, twins)
    R.write_csv(outdir / "summary.csv", summary)
    md = [f"# Calgary benchmark ({'quick' if a.quick else 'method of issue 13'}), {stamp}", "",
          f"Accelerator `{a.accel}` (KVM does not run guests on this machine), {ncpu} host CPUs; guest "
          f"`{Path(guest['KERNEL']).name}`" + (f", user kernel `{Path(user_kernel).parent.name}/"
                                               f"{Path(user_kernel).name}`" if user_kernel else "")
          + f", -m {MEM_MB}M, 1 vCPU. {reps} interleaved repetition(s); per cell "
          f"{warmup:g} s warm-up + {secs:g} s measured. Pinning: "
          + (f"vCPU thread on CPU {sorted(pin[0])}, QEMU's other threads, the peer, perf and the driver on "
             f"{sorted(pin[1])}" if pin else "off")
          + ". perf: " + (f"`perf record -e cpu-clock -F {a.perf_freq}` on QEMU during every timed boot "
                          "(software clock only: this VM exposes no hardware counters)" if not perf_why
                          else f"off ({perf_why})") + ".", ""]
    if not net_ok:
        md += [f"Network cells skipped: {net_why}.", ""]
    if reps_done_note:
        md += reps_done_note + [""]
    md += ["Columns: throughput median over repetitions; spread = (max-min)/median (goal <= 10 %); 95 % CI "
           "half-width of the mean (Student's t); ratio = median of per-repetition ratios to the baseline "
           "(paired: same repetition) with its 95 % CI; host ns/B = CPU time of all QEMU threads per byte "
           "moved (ratio to baseline); vCPU thr. = the vCPU thread's part of it; the twin (one untimed plugin "
           "boot): guest instructions per byte in total (ratio to baseline), in the kernel, inside the "
           "DMA-mapping functions, and flush calls per MB; emulator % = the IOMMU model's own code (Calgary "
           "shim/FFI/core or intel-iommu's vtd_*) plus QEMU's IOMMU-only translate path, of all QEMU samples "
           "in the windows; AS path % = QEMU's address-space code every DMA uses; lock % = mutex/futex.", ""]
    for cell in [C.cell_id(c) for c in cells]:
        md += [f"## {cell}", ""] + R.cell_table(summary, names, cell)
    md += ["## Goals", ""] + R.goals(summary) + [R.floor_line(cal, secs), ""]
    (outdir / "calibration.txt").write_text("".join(f"{x:.1f}\n" for x in cal))
    md += R.versus(summary, "user-calgary", "user-intel-lazy") + R.versus(summary, "premap-faithful", "intel-lazy")
    md += P.detail(emu_syms, names)
    md += extra_md
    st = [f"{b.name:22s} {phb:11s} " + " ".join(f"{k}={v}" for k, v in row.items())
          for bl in boots.values() for b in bl for phb, row in b.stats.items() if row.get("translations")]
    (outdir / "phb-stats.txt").write_text("\n".join(st) + "\n")
    md += [f"Wall time: {(time.monotonic() - t_start) / 60:.1f} min.", ""]
    (outdir / "results.md").write_text("\n".join(md))
    R.plots(host_tool, outdir, summary, log)
    for p in outdir.glob("initrd-*.img"):
        p.unlink()
    print("\n".join(md))
    print(f"\nbench: results in {outdir}")
    failed = [n for n, bl in boots.items() if reps and not any(b.results for b in bl)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
