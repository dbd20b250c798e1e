#!/usr/bin/env python3
"""Run every test suite of the project and print one closing line:

    N passed, N failed, N skipped

Suites: `cargo test --workspace` (Rust core, FFI, guest tool), the qtest
hardware tests (hw-tests/test_*.py), and the guest boot tests
(hw-tests/guest/test_guest_boot.py), and the benchmark in --quick mode plus the TCG
plugin check (hw-tests/bench/test_*.py). Exit status 1 when anything failed.
Pass suite names (rust, hw, guest, bench) to run a subset.
"""

import os
import re
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

totals = {"passed": 0, "failed": 0, "skipped": 0}
failures = []


def run_cargo():
    print("== rust: cargo test --workspace", flush=True)
    t0 = time.time()
    p = subprocess.run(["cargo", "test", "--workspace", "--release", "--quiet"],
                       cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.decode(errors="replace")
    seen = False
    for m in re.finditer(r"test result: (\w+)\. (\d+) passed; (\d+) failed; (\d+) ignored", out):
        seen = True
        totals["passed"] += int(m.group(2))
        totals["failed"] += int(m.group(3))
        totals["skipped"] += int(m.group(4))
    for m in re.finditer(r"(?m)^test (\S+) \.\.\. FAILED$", out):
        failures.append("rust: " + m.group(1))
    if p.returncode != 0:
        sys.stdout.write(out[-6000:])
        if not seen or not failures:
            totals["failed"] += 1
            failures.append("rust: cargo test exited %d" % p.returncode)
    print("   rust suites done in %.0f s" % (time.time() - t0), flush=True)


class Result(unittest.TextTestResult):
    def addSuccess(self, test):
        super().addSuccess(test)
        totals["passed"] += 1

    def addFailure(self, test, err):
        super().addFailure(test, err)
        totals["failed"] += 1
        failures.append(str(test))

    def addError(self, test, err):
        super().addError(test, err)
        totals["failed"] += 1
        failures.append(str(test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        totals["skipped"] += 1

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            totals["failed"] += 1
            failures.append(str(subtest))

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        totals["failed"] += 1
        failures.append(str(test))


def run_unittest(name, start_dir, pattern):
    print("== %s: %s/%s" % (name, os.path.relpath(start_dir, REPO), pattern), flush=True)
    t0 = time.time()
    sys.path.insert(0, start_dir)
    sys.path.insert(0, HERE)
    suite = unittest.defaultTestLoader.discover(start_dir, pattern=pattern, top_level_dir=start_dir)
    runner = unittest.TextTestRunner(verbosity=2, resultclass=Result, stream=sys.stdout)
    runner.run(suite)
    print("   %s done in %.0f s" % (name, time.time() - t0), flush=True)


LINTS = [
    # The core and FFI crates deny unwrap/expect/panic/indexing: keep them clean.
    ("cargo clippy (calgary-core, calgary-ffi) -D warnings",
     ["cargo", "clippy", "--quiet", "-p", "calgary-core", "-p", "calgary-ffi",
      "--all-targets", "--", "-D", "warnings"]),
    ("cargo fmt --all -- --check", ["cargo", "fmt", "--all", "--", "--check"]),
]


def run_lints():
    for name, cmd in LINTS:
        print("== lint: " + name, flush=True)
        p = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode == 0:
            totals["passed"] += 1
        else:
            sys.stdout.write(p.stdout.decode(errors="replace")[-4000:])
            totals["failed"] += 1
            failures.append("lint: " + name)


def main():
    want = set(sys.argv[1:]) or {"rust", "hw", "guest", "bench"}
    if "rust" in want:
        run_lints()
        run_cargo()
    if "hw" in want:
        run_unittest("hw", HERE, "test_*.py")
    if "guest" in want:
        run_unittest("guest", os.path.join(HERE, "guest"), "test_*.py")
    if "bench" in want:
        run_unittest("bench", os.path.join(HERE, "bench"), "test_*.py")
    if failures:
        print("\nFailed:")
        for f in failures:
            print("  " + f)
    print("\n%d passed, %d failed, %d skipped" % (totals["passed"], totals["failed"], totals["skipped"]))
    return 1 if totals["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
