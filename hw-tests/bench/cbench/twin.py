"""The deterministic twin of a cell: what the TCG plugin (rust/calgary-plugin)
counted between the marks `calgary-bench` executes around each measured
window — guest instructions in total, in the kernel, and inside the
DMA-mapping functions, and calls of the flush functions."""

from __future__ import annotations

import json
from pathlib import Path

# DMA-mapping functions counted by the plugin (System.map of the guest
# kernel; `*` = prefix). Calgary (Linux <= 5.6), intel-iommu 5.4 (own
# dma_ops) and 6.1 (dma-iommu), the DMA API entry points and dma-direct.
DMA_SYMS = [
    "calgary_*", "iommu_range_alloc", "iommu_free", "tce_build", "tce_free",
    "calgary_tce_cache_blast", "calioc2_tce_cache_blast",
    "intel_map_page", "intel_unmap_page", "intel_map_sg", "intel_unmap_sg", "intel_unmap",
    "__intel_map_single", "intel_iommu_*", "domain_mapping", "__domain_mapping",
    "alloc_iova_fast", "free_iova_fast", "queue_iova", "iommu_flush_iova", "fq_flush_timeout",
    "qi_submit_sync", "qi_flush_iotlb", "iommu_flush_iotlb_psi", "dma_pte_clear_range",
    "iommu_dma_*", "__iommu_dma_*", "iommu_map", "iommu_unmap", "__iommu_map", "__iommu_unmap",
    "dma_map_page_attrs", "dma_unmap_page_attrs", "dma_map_sg_attrs", "dma_unmap_sg_attrs",
    "__dma_map_sg_attrs", "dma_direct_*", "swiotlb_map",
    # the IO-space allocators' bitmap helpers (Calgary's iommu_range_alloc calls them)
    "bitmap_find_next_zero_area_off", "__bitmap_set", "__bitmap_clear",
]
# Functions whose calls count IOTLB / TCE-cache flushes the guest asks for.
FLUSH_SYMS = ("qi_submit_sync", "iommu_flush_iotlb_psi", "iommu_flush_iova", "fq_flush_timeout",
              "calgary_tce_cache_blast", "calioc2_tce_cache_blast")


def usable_map(path: Path | None) -> bool:
    """A real System.map (Debian ships a one-line placeholder: the real one
    is in its -dbg package)."""
    if not path or not Path(path).exists():
        return False
    with open(path, errors="replace") as f:
        return sum(1 for _, _ in zip(range(100), f)) >= 100


def plugin_arg(lib: Path, out: Path, system_map: Path | None, extra: list[str] | None = None) -> str:
    """Without a usable System.map the twin has totals only (no DMA-function
    column). `extra`: more symbols (globs) counted and listed, not part of
    the DMA-function sum (to find where other instructions go)."""
    if not usable_map(system_map):
        return f"{lib},out={out}"
    return f"{lib},out={out},map={system_map},syms={':'.join(DMA_SYMS + (extra or []))}"


def is_dma_fn(name: str) -> bool:
    """Whether a range the plugin reports is one of DMA_SYMS."""
    return any(name.startswith(p[:-1]) if p.endswith("*") else name == p for p in DMA_SYMS)


def pair_marks(doc: dict) -> list[dict]:
    """Per measured window (in order): the counts between a BEGIN and the
    following END mark. Raises ValueError when the marks do not pair."""
    names = [r["name"] for r in doc.get("ranges", [])]
    out = []
    begin = None
    for m in doc.get("marks", []):
        if m["kind"] == "begin":
            if begin is not None:
                raise ValueError("two BEGIN marks without an END")
            begin = m
        elif m["kind"] == "end":
            if begin is None:
                raise ValueError("an END mark without a BEGIN")
            d = {k: m[k] - begin[k] for k in ("total", "kernel", "nonkernel")}
            d["dma"] = sum(e - b for n, e, b in zip(names, m["insns"], begin["insns"]) if is_dma_fn(n))
            d["flush_calls"] = sum(e - b for n, e, b in zip(names, m["calls"], begin["calls"])
                                   if n in FLUSH_SYMS)
            d["map_calls"] = sum(e - b for n, e, b in zip(names, m["calls"], begin["calls"])
                                 if ("map_page" in n or "map_sg" in n or n.endswith("_map")
                                     or n.endswith("map_pages")) and "unmap" not in n)
            by_fn = {n: e - b for n, e, b in zip(names, m["insns"], begin["insns"]) if e - b}
            d["top"] = sorted(((n, v) for n, v in by_fn.items() if is_dma_fn(n)), key=lambda kv: -kv[1])[:4]
            d["top_extra"] = sorted(((n, v) for n, v in by_fn.items() if not is_dma_fn(n)), key=lambda kv: -kv[1])[:12]
            out.append(d)
            begin = None
    if begin is not None:
        raise ValueError("a BEGIN mark without an END")
    return out


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def per_byte(d: dict, nbytes: int) -> dict:
    """Instructions per byte moved (total, kernel, DMA functions) and flushes per MB."""
    b = max(nbytes, 1)
    return dict(insn_per_byte=d["total"] / b, kernel_insn_per_byte=d["kernel"] / b,
                dma_insn_per_byte=d["dma"] / b, flushes_per_mb=d["flush_calls"] / (b / 1e6),
                maps_per_mb=d["map_calls"] / (b / 1e6))
