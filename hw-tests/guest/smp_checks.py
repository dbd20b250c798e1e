"""The -smp 4 boot of the guest runner (boot.py --suite smp): one kernel with
its own Calgary driver on a one-chip machine with a device on every PHB
(edu calgary0.0, e1000 calgary0.1, virtio-net calgary0.2 with
iommu_platform, nvme calgary0.3), four vCPUs. The in-guest `smp` suite runs
the kernel suite, then drives all four PHBs at once from four pinned
threads (nvme O_DIRECT write+read, TFTP through both NICs, edu DMA through
TCEs it places in the kernel's table of edu's PHB), each checking its data.
The runner reads the PHB counters at the guest's `smp-begin` / `smp-end`
sync points and requires every PHB's translations to have grown in that
window and no DMA to have been blocked, and verifies the nvme data from the
host side. Under TCG this is multi-threaded TCG (one host thread per vCPU).
"""

from __future__ import annotations

from guestcommon import DISK_OFF, DISK_SEED, Boot, BootSpec, Check, base_append, log, num
import kernels

SMP = 4
ROLES = {"calgary0.0": "edu", "calgary0.1": "e1000", "calgary0.2": "virtio-net", "calgary0.3": "nvme"}


def window_checks(b: Boot) -> None:
    """Every PHB translated during the concurrent phase; nothing blocked."""
    s0, s1 = b.snapshots.get("smp-begin"), b.snapshots.get("smp-end")
    if not s0 or not s1:
        b.checks.append(Check("FAIL", f"{b.name}:smp-counters",
                              "no counter snapshots around the concurrent phase (sync failed or the suite stopped)"))
        return
    parts, bad = [], []
    for phb, role in ROLES.items():
        t0, t1 = num(s0, phb, "stat-translations"), num(s1, phb, "stat-translations")
        b0, b1 = num(s0, phb, "stat-blocked"), num(s1, phb, "stat-blocked")
        if None in (t0, t1, b0, b1):
            bad.append(f"{phb}: counters n/a")
            continue
        dt, db = t1 - t0, b1 - b0
        parts.append(f"{role} on {phb}: +{dt} translations, +{db} blocked")
        if dt <= 0:
            bad.append(f"{phb} ({role}) did not translate during the window")
        if db:
            bad.append(f"{phb} ({role}) blocked {db} DMAs during the window")
    if bad:
        b.checks.append(Check("FAIL", f"{b.name}:smp-counters", "; ".join(bad + parts)))
    else:
        b.checks.append(Check("PASS", f"{b.name}:smp-counters", "; ".join(parts)))


def run(r, paths: list[str], timeout: float, checks: list[Check], boots: list[Boot]) -> None:
    if not paths:
        checks.append(Check("SKIP", "smp", "no --kernel / CALGARY_GUEST_KERNEL given: the -smp 4 boot needs a "
                                           "kernel with the Calgary driver"))
        return
    if not r.calgary:
        checks.append(Check("SKIP", "smp", "no calgary machine in this QEMU"))
        return
    k = kernels.identify(paths[0])
    pl = kernels.plan(k)
    if not pl.calgary[0]:
        checks.append(Check("FAIL", "smp", pl.calgary[1]))
        return
    machine, devices = r.default_machine(True)
    machine = f"calgary,chips=1,variant=calgary,tce-cache={r.args.cache}"
    machine += "".join(f",{p}={v}" for p, v in pl.machine)
    optional = [n for n, req in (("virtio", pl.virtio_required), ("nvme", pl.nvme_required)) if not req]
    append = (f"loglevel=7 log_buf_len=1M {' '.join(pl.append)} iommu=calgary calgary.suite=smp "
              f"calgary.cache={r.args.cache} calgary.blob_md5={r.blob_md5} calgary.sync=1 "
              f"calgary.expect=translate calgary.errant=0 calgary.smp_cpus={SMP}"
              + (f" calgary.optional={','.join(optional)}" if optional else ""))
    spec = BootSpec(f"smp/{k.version_string.split()[0] if k.version_string else 'kernel'}", k.path,
                    base_append(f"{append} {r.args.append}"), r.env["INITRD"], machine, devices,
                    timeout * 2, mem="1024M", smp=SMP, ram_only_direct_map=pl.ram_only_direct_map)
    log(f"smp: booting {spec.name} ({machine}, -smp {SMP}, accel {r.accel})")
    # QEMU 10.0.2's multi-threaded TCG here sometimes dies with SIGSEGV while
    # the kernel sizes PCI BARs (a vCPU's TLB fill reads the CPU address
    # space's dispatch while another vCPU's BAR write rebuilds it:
    # address_space_translate_for_iotlb); seen with -machine pc and with the
    # model before per-PHB locking too. Such a boot is retried and reported.
    crashes = 0
    for _ in range(3):
        b = r.boot(spec)
        if not (b.returncode is not None and b.returncode < 0 and b.userspace_at is None):
            break
        crashes += 1
        log(f"smp: QEMU died with signal {-b.returncode} before userspace; retrying")
    if crashes:
        checks.append(Check("SKIP", "smp-qemu-crash",
                            f"{crashes} boot(s) before this one: QEMU died with signal 11 before userspace "
                            "(multi-threaded TCG during PCI enumeration, also without Calgary); retried"))
    r.verify_disk(b, "nvme-rw", DISK_SEED, DISK_OFF, "nvme-host-verify")
    window_checks(b)
    boots.append(b)
    checks.extend(b.checks)
