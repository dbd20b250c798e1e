#!/usr/bin/env python3
"""The benchmark's method without QEMU: statistics, the interleaved
schedule, pairing of the plugin's marks, perf sample classification,
pinning plan, cell ids and the summary (hw-tests/bench/cbench).

    python3 -m unittest hw-tests/bench/test_bench_method.py
"""

from __future__ import annotations

import math
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cbench import configs as C, host as H, profile as P, report as R, stats, twin as T  # noqa: E402


class Stats(unittest.TestCase):
    def test_spread_and_ci(self):
        v = [100.0, 104.0, 96.0, 102.0, 98.0]
        self.assertAlmostEqual(stats.spread(v), 8 / 100)
        m, lo, hi = stats.ci95(v)
        self.assertAlmostEqual(m, 100.0)
        # s = sqrt(10) = 3.162, t(4) = 2.776: half-width 2.776 * 3.162 / sqrt(5) = 3.926
        self.assertAlmostEqual(hi - m, 3.926, places=3)
        self.assertAlmostEqual(m - lo, hi - m)
        self.assertAlmostEqual(stats.ci_halfwidth_pct(v), 3.926, places=3)
        self.assertTrue(math.isnan(stats.spread([5.0])))
        self.assertTrue(math.isnan(stats.ci95([5.0])[1]))
        self.assertEqual(stats.median([3.0, float("nan"), 1.0, 2.0]), 2.0, "non-finite values are left out")

    def test_t_quantiles(self):
        self.assertAlmostEqual(stats.t95(1), 12.706)
        self.assertAlmostEqual(stats.t95(9), 2.262)
        self.assertAlmostEqual(stats.t95(200), 1.96)
        self.assertTrue(math.isnan(stats.t95(0)))

    def test_paired_ratios_only_for_common_reps(self):
        self.assertEqual(stats.paired_ratios({0: 90.0, 1: 45.0, 2: 10.0}, {0: 100.0, 1: 50.0}), [0.9, 0.9])
        self.assertEqual(stats.paired_ratios({0: 1.0}, {0: 0.0}), [], "a zero baseline gives no ratio")

    def test_schedule_interleaves_and_rotates(self):
        names = ["a", "b", "c"]
        s = stats.schedule(names, 4)
        self.assertEqual(len(s), 12)
        for r in range(4):
            self.assertEqual(sorted(n for rep, n in s if rep == r), names, "every config once per rep")
        firsts = [n for rep, n in s[::3]]
        self.assertEqual(firsts, ["a", "b", "c", "a"], "the first slot rotates")
        self.assertEqual([rep for rep, _ in s], sorted(rep for rep, _ in s), "reps run in order")


class Twin(unittest.TestCase):
    def doc(self, marks):
        return {"ranges": [{"name": "calgary_map_page"}, {"name": "calgary_tce_cache_blast"}, {"name": "nvme_irq"}],
                "marks": marks}

    def mark(self, kind, total, kernel, insns, calls):
        return {"kind": kind, "vcpu": 0, "total": total, "kernel": kernel, "nonkernel": total - kernel,
                "insns": insns, "calls": calls}

    def test_pairs_give_window_counts(self):
        d = self.doc([self.mark("begin", 1000, 600, [10, 5, 0], [1, 0, 0]),
                      self.mark("end", 5000, 3600, [410, 45, 99], [41, 2, 7]),
                      self.mark("begin", 6000, 4000, [500, 50, 99], [50, 2, 7]),
                      self.mark("end", 6100, 4050, [505, 50, 99], [51, 2, 7])])
        p = T.pair_marks(d)
        self.assertEqual(len(p), 2)
        self.assertEqual((p[0]["total"], p[0]["kernel"], p[0]["nonkernel"], p[0]["dma"]), (4000, 3000, 1000, 440))
        self.assertEqual((p[0]["map_calls"], p[0]["flush_calls"]), (40, 2))
        self.assertEqual(p[0]["top"][0], ("calgary_map_page", 400))
        self.assertEqual(p[0]["top_extra"], [("nvme_irq", 99)], "an extra range is listed, not summed")
        self.assertEqual((p[1]["total"], p[1]["flush_calls"]), (100, 0))
        pb = T.per_byte(p[0], 2000)
        self.assertEqual((pb["insn_per_byte"], pb["kernel_insn_per_byte"], pb["dma_insn_per_byte"]), (2.0, 1.5, 0.22))
        self.assertEqual(pb["flushes_per_mb"], 1000.0)

    def test_unpaired_marks_are_refused(self):
        b, e = self.mark("begin", 1, 1, [0, 0, 0], [0, 0, 0]), self.mark("end", 2, 2, [0, 0, 0], [0, 0, 0])
        for marks in ([b], [e], [b, b, e], [b, e, e]):
            with self.assertRaises(ValueError, msg=[m["kind"] for m in marks]):
                T.pair_marks(self.doc(marks))


class Profile(unittest.TestCase):
    def test_classify(self):
        cases = {("calgary_iommu_translate", "qemu-system-x86_64"): "model",
                 ("calgary_core::phb::Phb::translate", "qemu-system-x86_64"): "model",
                 ("vtd_iommu_translate", "qemu-system-x86_64"): "model",
                 ("std::sys::sync::mutex::futex::Mutex::lock_contended", "qemu-system-x86_64"): "lock",
                 ("futex_wake", "[kernel.kallsyms]"): "lock",
                 ("address_space_translate_iommu", "qemu-system-x86_64"): "xlate",
                 ("flatview_do_translate", "qemu-system-x86_64"): "as",
                 ("[unknown]", "[unknown]"): "guest",
                 ("[unknown]", "/tmp/perf-13505.map"): "guest",
                 ("tun_get_user", "[kernel.kallsyms]"): "kernel",
                 ("cpu_exec", "qemu-system-x86_64"): "other",
                 ("[unknown]", "/usr/lib/x86_64-linux-gnu/libc.so.6"): "other"}
        for (sym, dso), want in cases.items():
            self.assertEqual(P.classify(sym, dso), want, sym)

    def test_samples_fall_into_windows(self):
        text = "\n".join([
            "       CPU 0/TCG  4242 100.000100000:      7f00 [unknown] ([unknown])",
            "       CPU 0/TCG  4242 100.500000000:      55aa calgary_translate+0x12 (/w/qemu-system-x86_64)",
            "  qemu-system-x86  4240 100.600000000:      55ab address_space_translate_iommu (/w/qemu)",
            "  qemu-system-x86  4240 100.700000000:  ffffffff81 tun_get_user ([kernel.kallsyms])",
            "       CPU 0/TCG  4242 102.000000000:      55aa calgary_translate (/w/qemu-system-x86_64)",
            "  qemu-system-x86  4240 100.800000000: sched:sched_switch:  ffffffff82 __schedule ([kernel.kallsyms])",
            "  qemu-system-x86  4240 100.900000000: cpu-clock/period=5025125/:  55ab vtd_iommu_translate (/w/q)",
            "garbage line"])
        s = P.parse_samples(text)
        self.assertEqual(len(s), 6, "the context switch is not a CPU sample")
        self.assertEqual(s[1][1:4], (4242, "CPU 0/TCG", "model"))
        w = P.window_shares(s, 100.0, 101.0)
        self.assertEqual(w["samples"], 5)
        self.assertEqual((w["model_pct"], w["xlate_pct"], w["guest_pct"], w["kernel_pct"]), (40.0, 20.0, 20.0, 20.0))
        self.assertEqual(w["emulator_pct"], 60.0)
        self.assertEqual(w["vcpu_pct"], 40.0)
        self.assertTrue(math.isnan(P.window_shares(s, 200, 300)["emulator_pct"]))
        self.assertEqual(w["syms"], {"calgary_translate": 1, "address_space_translate_iommu": 1,
                                     "vtd_iommu_translate": 1})
        md = "\n".join(P.detail({"premap-faithful": (w["samples"], w["syms"])}, ["nommu", "premap-faithful"]))
        self.assertIn("| premap-faithful | 5 | 60.00 | `calgary_translate` 20.00, `address_space_translate_iommu` 20.00, "
                      "`vtd_iommu_translate` 20.00 |", md)
        self.assertNotIn("| nommu |", md, "a configuration without samples has no row")

    def test_block_reasons(self):
        text = "\n".join([
            "       CPU 1/TCG  4243 100.100000000: sched:sched_switch:",
            "\t    ffff __schedule",
            "\t    55aa std::sys::sync::mutex::futex::Mutex::lock_contended",
            "\t    55ab calgary_translate",
            "\t    55ac calgary_iommu_translate",
            "",
            "  qemu-system-x86  4240 100.200000000: sched:sched_switch:",
            "\t    ffff __schedule",
            "\t    55ad qemu_poll_ns",
            "",
            "       CPU 0/TCG  4242 100.300000000: cpu-clock:",
            "\t    55aa calgary_translate",
            ""])
        r = P.block_reasons(P.split_blocks(text), 100.0, 101.0)
        self.assertEqual(r["Calgary chip lock"]["vCPU"], 1)
        self.assertEqual(r["Calgary chip lock"]["callers"], {"calgary_translate": 1})
        self.assertEqual(r["main loop poll"]["I/O"], 1)
        self.assertNotIn("other", r, "cpu-clock samples are not context switches")


class Plan(unittest.TestCase):
    def test_pin_plan(self):
        self.assertEqual(H.pin_plan(2), ({1}, {0}))
        self.assertEqual(H.pin_plan(4), ({3}, {0, 1, 2}))
        self.assertEqual(H.pin_plan(1), ({0}, {0}))
        self.assertTrue(H.is_vcpu("CPU 0/TCG") and H.is_vcpu("CPU 3/KVM"))
        self.assertFalse(H.is_vcpu("qemu-system-x86") or H.is_vcpu("worker"))

    def test_timed_boots_preallocate_guest_ram(self):
        from cbench.boot import Boot
        cfg = C.configs(None)["premap-faithful"]
        jobs = [("blk-nvme-read-4096", "blk", "nvme", "read", 4096, 1.0, 3.0)]
        mk = lambda **kw: Boot("x", cfg, Path("/q"), "tcg", "/k", Path("/i"), jobs, False, Path("/tmp"),  # noqa: E731
                               None, **kw).command("/tmp/q.sock")
        self.assertIn("-mem-prealloc", mk())
        self.assertNotIn("-mem-prealloc", mk(prealloc=False))

    def test_cell_ids_round_trip(self):
        for c in C.CELLS["all"] + C.CELLS["smp"]:
            self.assertEqual(C.parse_cell_id(C.cell_id(c)), c)
        self.assertEqual(C.strip_tag("net-virtio-rr-64-t4-s"), "net-virtio-rr-64-t4")
        self.assertEqual(C.workload(("net", "virtio", "stream", 64, 4)), "net-virtio-stream-t4")

    def test_every_full_config_has_its_baseline(self):
        allc = C.configs("/k/bzImage")
        for n in C.NAMES["full"]:
            b = allc[n]["base"]
            self.assertTrue(b is None or b in C.NAMES["full"], n)

    def test_summary_pairs_reps_and_flags_spread(self):
        class B:  # a finished boot, as report.raw_rows reads it
            def __init__(self, name, mbps, hs):
                self.name = name
                self.results = [{"id": "blk-nvme-read-4096-r", "mbps": str(mbps), "bytes": str(int(mbps * 1e6 / 8)),
                                 "secs": "1", "cpu": "0.5", "host_cpu": 1.0, "host_vcpu_s": hs, "host_io_s": hs / 4}]
        allc = C.configs(None)
        boots = {"nommu": [B("nommu-r0", 100, 1.0), B("nommu-r1", 120, 1.0)],
                 "premap-faithful": [B("premap-faithful-r0", 90, 1.0), B("premap-faithful-r1", 114, 1.0)]}
        raw = R.raw_rows(boots, {("premap-faithful-r0", "blk-nvme-read-4096-r"): {"samples": 100, "emulator_pct": 1.0},
                                 ("premap-faithful-r1", "blk-nvme-read-4096-r"): {"samples": 300, "emulator_pct": 3.0}})
        s = R.summarize(raw, allc, {})
        pm = next(r for r in s if r["config"] == "premap-faithful")
        self.assertAlmostEqual(pm["tput_ratio"], (0.9 + 0.95) / 2)
        self.assertAlmostEqual(pm["emulator_pct"], 2.5, msg="pooled by sample count")
        nm = next(r for r in s if r["config"] == "nommu")
        self.assertAlmostEqual(nm["spread_pct"], 20 / 110 * 100)
        self.assertAlmostEqual(nm["host_vcpu_frac"], 0.8)
        g = "\n".join(R.goals(s))
        self.assertIn("NOT met in 2 of 2", g)
        self.assertAlmostEqual(nm["vcpu_ns_per_byte"], (1e9 / 12.5e6 + 1e9 / 15e6) / 2, msg="median of 80 and 66.7 ns/B")

    def test_spread_reason_tells_host_from_guest(self):
        self.assertEqual(R.spread_reason(dict(spread_pct=8.0, host_spread_pct=30.0)), "")
        self.assertEqual(R.spread_reason(dict(spread_pct=30.0, host_spread_pct=28.0)),
                         "host speed (host ns/B spread 28 %)")
        self.assertEqual(R.spread_reason(dict(spread_pct=30.0, host_spread_pct=5.0)),
                         "guest work varied (host ns/B spread 5 %)")
        self.assertEqual(R.spread_reason(dict(spread_pct=float("nan"))), "")

    def test_floor_line_needs_two_windows(self):
        self.assertIn("not measured", R.floor_line([100.0], 3))
        self.assertIn("varied by 20.0 %", R.floor_line([90.0, 100.0, 110.0, float("nan")], 3))

    def test_versus_subtracts_each_baseline(self):
        nan = float("nan")

        def row(cfg, base, tput, insn, vcpu):
            return dict(config=cfg, base=base, cell="c", tput_ratio=tput, insn_per_byte=insn, dma_insn_per_byte=nan,
                        vcpu_ns_per_byte=vcpu, io_ns_per_byte=1.0, emulator_pct=1.0)
        s = [row("user-nommu", "", 1.0, 0.2, 2.0), row("user-q35", "", 1.0, 0.3, 3.0),
             row("user-calgary", "user-nommu", 0.9, 0.25, 2.5), row("user-intel-lazy", "user-q35", 0.8, 0.4, 3.1)]
        md = "\n".join(R.versus(s, "user-calgary", "user-intel-lazy"))
        self.assertIn("| c | 0.900 / 0.800 | 0.0500 / 0.1000 | – / – | 0.500 / 0.100 | 0.000 / 0.000 |", md)


if __name__ == "__main__":
    unittest.main()
