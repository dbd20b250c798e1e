#!/usr/bin/env python3
"""QEMU's generic fuzzer on the Calgary machine: run, resume, reproduce.

    ./calgary fuzz                       # resume the campaign for 10 minutes
    ./calgary fuzz --minutes 60 --jobs 2 # longer, two fuzzer processes
    ./calgary fuzz --reproduce FILE      # run one input (a crash artifact)
    ./calgary fuzz --stats               # the campaign so far

The target is `generic-fuzz-calgary` (c-shim/patches/fuzz/): chip 0's
register window and PHB functions, and edu, e1000 and nvme behind PHBs 1-3,
so their DMA is translated through TCE tables the fuzzer writes into guest
memory. The binary is build/qemu-fuzz-x86_64 (clang, libFuzzer, ASan),
built by `./calgary fuzz` into its own cache tree.

State lives in the QEMU cache ($CALGARY_CACHE, default ~/.cache/calgary-qemu):
fuzz/corpus (grows; resumed on every run; starts from the committed seeds
in hw-tests/fuzz/seeds), fuzz/crashes (libFuzzer's artifacts) and
fuzz/campaign.tsv (one line per run: date, seconds, executions, crashes),
which --stats sums up. A crash becomes a fix plus a qtest reproducer in
hw-tests/fuzz/regressions/ (replayed by hw-tests/test_fuzz_regressions.py).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FUZZER = REPO / "build" / "qemu-fuzz-x86_64"
TARGET = "generic-fuzz-calgary"
SEEDS = HERE / "seeds"


def cache_dir() -> Path:
    base = os.environ.get("CALGARY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "calgary-qemu")
    d = Path(base) / "fuzz"
    for sub in ("corpus", "crashes", "logs"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    return d


def fuzz_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:halt_on_error=1")
    return env


def parse_stats(text: str) -> tuple[int, int]:
    """Executions and crashes from one libFuzzer log."""
    execs = 0
    m = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
    if m:
        execs = int(m[-1])
    else:
        done = re.findall(r"Done (\d+) runs in", text)
        if done:
            execs = int(done[-1])
        else:
            prog = re.findall(r"^#(\d+)\s", text, re.M)
            execs = int(prog[-1]) if prog else 0
    crashes = len(re.findall(r"Test unit written to", text))
    return execs, crashes


def run_campaign(minutes: float, jobs: int) -> int:
    d = cache_dir()
    seconds = int(minutes * 60)
    procs = []
    t0 = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for j in range(jobs):
        log = d / "logs" / f"{stamp}-{j}.log"
        cmd = [str(FUZZER), f"--fuzz-target={TARGET}", str(d / "corpus"), str(SEEDS),
               f"-max_total_time={seconds}", f"-artifact_prefix={d / 'crashes'}/",
               "-print_final_stats=1", "-timeout=25", "-rss_limit_mb=4096"]
        f = open(log, "w")
        print("fuzz: " + " ".join(cmd) + f"  > {log}", flush=True)
        procs.append((subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=fuzz_env(), cwd=d), f, log))
    total_execs = total_crashes = 0
    for p, f, log in procs:
        p.wait()
        f.close()
        execs, crashes = parse_stats(log.read_text(errors="replace"))
        total_execs += execs
        total_crashes += crashes
    secs = time.time() - t0
    with open(d / "campaign.tsv", "a") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{secs * jobs:.0f}\t{total_execs}\t{total_crashes}\t{jobs}\n")
    print(f"fuzz: {jobs} job(s), {secs:.0f} s wall, {total_execs} executions, {total_crashes} crash(es)")
    print_stats(d)
    return 1 if total_crashes else 0


def print_stats(d: Path) -> None:
    runs = secs = execs = crashes = 0
    path = d / "campaign.tsv"
    if path.exists():
        for line in path.read_text().splitlines():
            f = line.split("\t")
            if len(f) >= 4:
                runs += 1
                secs += float(f[1])
                execs += int(f[2])
                crashes += int(f[3])
    corpus = len(list((d / "corpus").iterdir()))
    artifacts = sorted((d / "crashes").iterdir())
    print(f"campaign: {runs} run(s), {secs / 3600:.2f} fuzzer-hours, {execs} executions, "
          f"{crashes} crash(es) reported, corpus {corpus} inputs, {len(artifacts)} artifact(s) in {d / 'crashes'}")
    for a in artifacts:
        print(f"  {a}")


def reproduce(path: str) -> int:
    env = fuzz_env()
    env["QTEST_LOG"] = "1"   # the qtest commands, to turn the input into a reproducer
    return subprocess.call([str(FUZZER), f"--fuzz-target={TARGET}", path], env=env)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="wall-clock length of this run (default 10)")
    ap.add_argument("--jobs", type=int, default=1, help="fuzzer processes in parallel (default 1)")
    ap.add_argument("--reproduce", metavar="FILE", help="run one input, printing its qtest commands")
    ap.add_argument("--stats", action="store_true", help="print the campaign so far and exit")
    a = ap.parse_args(argv)
    if a.stats:
        print_stats(cache_dir())
        return 0
    if not FUZZER.exists():
        print(f"fuzz: {FUZZER} is missing; run through ./calgary fuzz (it builds it)", file=sys.stderr)
        return 2
    if a.reproduce:
        return reproduce(a.reproduce)
    if a.minutes <= 0 or a.jobs < 1:
        ap.error("--minutes must be > 0 and --jobs >= 1")
    return run_campaign(a.minutes, a.jobs)


if __name__ == "__main__":
    sys.exit(main())
