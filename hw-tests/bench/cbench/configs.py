"""Configurations (machine + kernel + IOMMU) and cells (workload x size)."""

from __future__ import annotations

from .host import TAPS


def configs(user_kernel: str | None) -> dict[str, dict]:
    """name -> machine, device placement, kernel, command line, baseline."""
    c = {
        "nommu": dict(machine="calgary,chips=0", place="pc", base=None),
        "bypass": dict(machine="calgary,tce-cache=faithful", place="calgary", base="nommu"),
        "premap-off": dict(machine="calgary,tce-cache=off", place="calgary", premap=True, base="nommu"),
        "premap-coherent": dict(machine="calgary,tce-cache=coherent", place="calgary", premap=True, base="nommu"),
        "premap-faithful": dict(machine="calgary,tce-cache=faithful", place="calgary", premap=True, base="nommu"),
        "premap-pages": dict(machine="calgary,tce-cache=faithful,tce-block=off", place="calgary", premap=True,
                             base="nommu"),
        "q35": dict(machine="q35", place="q35", base=None),
        "intel-lazy": dict(machine="q35", place="q35", intel=True, append="intel_iommu=on iommu.strict=0", base="q35"),
        "intel-strict": dict(machine="q35", place="q35", intel=True, append="intel_iommu=on iommu.strict=1", base="q35"),
    }
    if user_kernel:
        c["user-nommu"] = dict(machine="calgary,chips=0", place="pc", kernel=user_kernel, append="iommu=off", base=None)
        c["user-calgary"] = dict(machine="calgary,tce-cache=faithful", place="calgary", kernel=user_kernel,
                                 append="iommu=calgary", base="user-nommu")
        c["user-calgary-line8"] = dict(machine="calgary,tce-cache=faithful,tce-cache-line=8", place="calgary",
                                       kernel=user_kernel, append="iommu=calgary", base="user-nommu")
        c["user-q35"] = dict(machine="q35", place="q35", kernel=user_kernel, append="intel_iommu=off", base=None)
        c["user-intel-lazy"] = dict(machine="q35", place="q35", intel=True, kernel=user_kernel,
                                    append="intel_iommu=on iommu.strict=0", base="user-q35")
    return c


def is_calgary(cfg: dict) -> bool:
    return cfg["place"] == "calgary"


def device_args(place: str, net: bool, blk: bool, queues: int = 1) -> list[str]:
    bus = {"pc": {}, "q35": {},
           "calgary": {"e1000": "calgary0.1", "virtio": "calgary0.2", "nvme": "calgary0.3"}}[place]

    def where(dev: str) -> str:
        return f",bus={bus[dev]},addr=1" if dev in bus else ""

    a = []
    if net:
        mq = f",queues={queues}" if queues > 1 else ""
        vmq = f",mq=on,vectors={2 * queues + 2}" if queues > 1 else ""
        a += ["-netdev", f"tap,id=ne,ifname={TAPS['e1000'][0]},script=no,downscript=no",
              "-device", f"e1000,netdev=ne{where('e1000')}",
              "-netdev", f"tap,id=nv,ifname={TAPS['virtio'][0]},script=no,downscript=no{mq}",
              "-device", f"virtio-net-pci,netdev=nv,iommu_platform=on,disable-legacy=on{vmq}{where('virtio')}"]
    if blk:
        a += ["-drive", "driver=null-co,id=d0,if=none,size=8G,read-zeroes=on",
              "-device", f"nvme,drive=d0,serial=cbench{where('nvme')}"]
    return a


# A cell: (kind, nic, mode, size, threads). Its id: kind-nic-mode-size[-tN].
def cell_id(c: tuple) -> str:
    kind, nic, mode, size, thr = c
    return f"{kind}-{nic}-{mode}-{size}" + (f"-t{thr}" if thr > 1 else "")


def strip_tag(job_id: str) -> str:
    """The cell id of a job id (`<cell id>-<phase tag>`)."""
    return job_id.rsplit("-", 1)[0]


def parse_cell_id(s: str) -> tuple:
    f = s.split("-")
    thr = int(f[4][1:]) if len(f) > 4 and f[4].startswith("t") else 1
    return f[0], f[1], f[2], int(f[3]), thr


def workload(c: tuple) -> str:
    return f"{c[0]}-{c[1]}-{c[2]}" + (f"-t{c[4]}" if c[4] > 1 else "")


# The cell sets. "full": what the committed results measure in about 30 min
# on 2 cores (see README); "all": every workload and size of the old sweep.
CELLS = {
    "quick": [("net", "virtio", "stream", 64, 1), ("net", "virtio", "stream", 65536, 1),
              ("net", "virtio", "rr", 64, 1), ("net", "virtio", "rr", 65536, 1),
              ("blk", "nvme", "read", 524288, 1)],
    "full": [("blk", "nvme", "read", 4096, 1), ("blk", "nvme", "read", 65536, 1),
             ("blk", "nvme", "read", 524288, 1), ("blk", "nvme", "readhuge", 524288, 1),
             ("net", "virtio", "stream", 1024, 1), ("net", "virtio", "stream", 65536, 1),
             ("net", "virtio", "rr", 1024, 1)],
    "smp": [("blk", "nvme", "read", 65536, 4), ("net", "virtio", "stream", 65536, 4)],
    "all": ([("net", "virtio", m, s, 1) for m in ("stream", "rr") for s in (64, 256, 1024, 4096, 16384, 65536)]
            + [("net", "e1000", m, s, 1) for m in ("stream", "rr") for s in (64, 1024, 65536)]
            + [("blk", "nvme", "read", s, 1) for s in (4096, 65536, 524288)]),
}
NAMES = {
    "quick": ["nommu", "premap-faithful", "q35", "intel-lazy"],
    "full": ["nommu", "premap-faithful", "q35", "intel-lazy",
             "user-nommu", "user-calgary", "user-q35", "user-intel-lazy"],
}
