#!/usr/bin/env python3
"""Run the hardware tests, the default guest boot and a migration against the
sanitizer build of QEMU (`CALGARY_QEMU_FLAVOR=asan`: --enable-asan
--enable-ubsan), and fail on any sanitizer report.

    ./calgary sanitize            # everything below
    ./calgary sanitize hw         # only the qtest hardware tests (they include
                                  # the migration test: save, load, compare)
    ./calgary sanitize guest      # only the default guest boot

Every QEMU process writes its AddressSanitizer / UndefinedBehaviorSanitizer
reports into one directory (ASAN_OPTIONS / UBSAN_OPTIONS log_path), so a
report is found even when a test kills QEMU or QEMU's stderr goes elsewhere.
The run ends with one line: suites passed/failed, and the number of reports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ASAN_QEMU = REPO / "build" / "qemu-system-x86_64-asan"


def sanitizer_env(logdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["CALGARY_QEMU"] = str(ASAN_QEMU)
    # halt_on_error: the first report ends QEMU, so a test cannot pass over it.
    # detect_leaks: on, QEMU's exit path (quit over QMP/qtest) runs LSan.
    env["ASAN_OPTIONS"] = f"log_path={logdir}/asan:halt_on_error=1:detect_leaks=1:abort_on_error=0"
    env["UBSAN_OPTIONS"] = f"log_path={logdir}/ubsan:halt_on_error=1:print_stacktrace=1"
    # The sanitized QEMU runs two to three times slower: give boots room.
    env.setdefault("CALGARY_TIMEOUT_SCALE", "3")
    return env


# What makes a log file a report. ASan also writes a one-line warning for
# every process that switches coroutine stacks ("doesn't fully support
# makecontext/swapcontext"): QEMU's coroutines do, so that line alone is not
# a finding.
REPORT = re.compile(r"ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:|^SUMMARY: ", re.M)


def reports(logdir: Path) -> tuple[list[Path], int]:
    """(log files holding a sanitizer report, number of processes that logged only warnings)."""
    found, warned = [], 0
    for p in sorted(logdir.iterdir()):
        if not p.is_file() or p.stat().st_size == 0:
            continue
        if REPORT.search(p.read_text(errors="replace")):
            found.append(p)
        else:
            warned += 1
    return found, warned


def main(argv: list[str]) -> int:
    want = set(argv) or {"hw", "guest"}
    unknown = want - {"hw", "guest"}
    if unknown:
        print(f"sanitize: unknown suite(s) {sorted(unknown)} (accepted: hw, guest)", file=sys.stderr)
        return 2
    if not ASAN_QEMU.exists():
        print(f"sanitize: {ASAN_QEMU} is missing; run it through ./calgary sanitize", file=sys.stderr)
        return 2
    logdir = Path(tempfile.mkdtemp(prefix="calgary-sanitize-"))
    env = sanitizer_env(logdir)
    results: list[tuple[str, int, float]] = []
    if "hw" in want:
        t0 = time.time()
        rc = subprocess.call([sys.executable, str(HERE / "run_all.py"), "hw"], env=env, cwd=REPO)
        results.append(("hardware tests (incl. migration)", rc, time.time() - t0))
    if "guest" in want:
        t0 = time.time()
        rc = subprocess.call([sys.executable, str(HERE / "guest" / "boot.py"), "--qemu", str(ASAN_QEMU),
                              "--accel", "tcg", "--timeout", "900"], env=env, cwd=REPO)
        results.append(("default guest boot (TCG)", rc, time.time() - t0))
    found, warned = reports(logdir)
    print("\n== sanitizer summary (QEMU built with --enable-asan --enable-ubsan)")
    for name, rc, secs in results:
        print(f"  {name}: {'PASS' if rc == 0 else 'FAIL (exit %d)' % rc} in {secs:.0f} s")
    for p in found:
        print(f"  report {p}:")
        for line in p.read_text(errors="replace").splitlines()[:40]:
            print("    " + line)
    print(f"  {len(found)} sanitizer report(s); {warned} process(es) logged only ASan's coroutine-stack "
          f"warning; logs in {logdir}")
    return 0 if not found and all(rc == 0 for _, rc, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
