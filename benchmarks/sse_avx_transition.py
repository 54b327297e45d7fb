"""What this CPU charges for a legacy-SSE instruction run while the upper halves of the YMM
registers are dirty (after a 256-bit AVX instruction, with no ``vzeroupper`` between).

    .venv/bin/python benchmarks/sse_avx_transition.py [--iters 20000000]

Why it matters here: fbgemm's AVX2 row-wise Adagrad kernel (JIT-generated, the one its CPU
backward runs for a table under a single lookup key) loads each row's gradient with a 256-bit
``vmovups`` and then reduces it with legacy-SSE ``movss``/``addss``/``divss``/``sqrtss``. Compiled
code avoids the mix (compilers put ``vzeroupper`` at the end of AVX code), JIT code does not.
Where the CPU (or its hypervisor) penalises the transition, every updated row pays it: on the
2-core Zen 3 VMs that run this project's CI, ``perf record`` puts the backward's samples on those
instructions and the table under several keys (fbgemm's generic loop, compiled code) runs ~4x
faster per row (``benchmarks/sparse_optimizer.py``).

Compiles a small C probe with ``cc`` (inline assembly, x86-64 only) and times three loops of the
same work: legacy SSE after a 256-bit op, VEX-encoded scalar ops after it, and legacy SSE after
``vzeroupper``. Prints ns per iteration and the first against the second.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static float row[8] __attribute__((aligned(32))) = {1, 2, 3, 4, 5, 6, 7, 8};
#define LOOP(label, body) { double t = now(); for (long i = 0; i < n; i++) __asm__ volatile(body :: "r"(row) : "xmm0", "xmm1"); \
    printf("%-34s %8.1f ns / iteration\n", label, (now() - t) / n * 1e9); }
int main(int argc, char **argv) {
  long n = atol(argv[1]);
  LOOP("legacy SSE after a 256-bit op", "vmovups (%0), %%ymm1\n vaddps %%ymm1, %%ymm1, %%ymm0\n addss %%xmm1, %%xmm0\n sqrtss %%xmm0, %%xmm0\n")
  LOOP("VEX scalar after a 256-bit op", "vmovups (%0), %%ymm1\n vaddps %%ymm1, %%ymm1, %%ymm0\n vaddss %%xmm1, %%xmm0, %%xmm0\n vsqrtss %%xmm0, %%xmm0, %%xmm0\n")
  LOOP("legacy SSE after vzeroupper", "vmovups (%0), %%ymm1\n vaddps %%ymm1, %%ymm1, %%ymm0\n vzeroupper\n addss %%xmm1, %%xmm0\n sqrtss %%xmm0, %%xmm0\n")
  return 0;
}
"""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=20_000_000)
    a = p.parse_args()
    cc = shutil.which("cc")
    if platform.machine() not in ("x86_64", "AMD64") or cc is None:
        sys.exit("needs an x86-64 CPU and a C compiler on PATH as `cc`")
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "probe.c", Path(tmp) / "probe"
        src.write_text(PROBE)
        subprocess.run([cc, "-O2", "-o", str(exe), str(src)], check=True)
        out = subprocess.run([str(exe), str(a.iters)], check=True, capture_output=True, text=True).stdout
    print(out, end="")
    ns = [float(line.split()[-4]) for line in out.strip().splitlines()]
    print(f"legacy SSE after a 256-bit op / VEX scalar: {ns[0] / ns[1]:.1f}x")


if __name__ == "__main__":
    main()
