"""The benchmark's modules (hw-tests/bench/bench.py is the entry point):

  stats    spreads, 95 % confidence intervals, paired ratios, the interleaved schedule
  configs  the configurations and the cells (workload x size)
  guest    the guest: workload binary, host tools, initramfs with /bench-init
  host     this machine: network namespace and peer, CPU pinning, per-thread CPU time, perf
  boot     one QEMU boot that runs a list of cells
  twin     the deterministic twin: guest instructions per byte from the TCG plugin's marks
  profile  perf samples -> the emulator's share per cell
  report   aggregation, results.md, CSVs, plots
"""
