"""Keep freed memory in the process, so that a training step reuses the last step's pages.

glibc's malloc serves every request above its mmap threshold (at most 32 MiB) with fresh pages
from the kernel and hands them back on free. A training step frees and reallocates tensors that
large every step: SmolLM2's tied embedding gradient alone is 49,152 x 576 floats (113 MB), made
once by the embedding's backward, once by the LM head's, and once more for their sum. Each time,
the kernel maps and zeroes those pages again, one page fault per 4 KiB. Taking every block from
the heap and never trimming the heap's top makes the next step reuse them: a SmolLM2 training
step ran about 1.2x faster here (bench/bench_malloc.py prints the ratio, the page faults per
step and the peak memory, policy on vs off). PyTorch's CPU tuning guide suggests jemalloc or
tcmalloc for the same reason; this needs no preloaded library.

Only where bytes live changes, never the arithmetic (torch aligns its own blocks to 64 bytes
either way), so results are bit-identical. A process keeps its peak memory until it exits,
which a stage process soon does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt(3) parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
# The largest trim threshold mallopt takes (an int): the heap's top is then never given back.
NEVER_TRIM = 2**31 - 1


@functools.cache
def reuse_freed_memory() -> bool:
    """Ask the C library to keep freed memory for reuse (no mmap per block, no trimming).

    True where it took effect (glibc); False elsewhere (macOS, musl: nothing changes)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
