"""Check that each installed kernel module really holds the vector instructions its name
promises: objdump the block loop (``_block``, where the per-element math is inlined) and
count the instructions that use 512-bit (zmm) and 256-bit (ymm) registers.

    python tools/check_isa.py        # exits 1 and says why when a module does not qualify

The avx512 module must use zmm registers in its hot loop, the avx2 module ymm (and no zmm),
the baseline none of either (it runs on any x86-64). And no block loop may call a scalar
math function of ``_math.pxd``: a compiler that stops inlining one (GCC does past its growth
limits for large functions) leaves that loop scalar, 10x slower. (The one allowed call is
``prob_loss_f64`` from the float64 product path's loop over its rare left-over elements.)

On aarch64 only the baseline module is built, and NEON (128-bit, part of every ARMv8-A) is its
vector unit: its block loops must hold at least 100 instructions on vector arrangements
(``v0.4s``, ``v1.2d``: ``fmla``, ``fmul``, ...) and 128-bit ``ldr q`` loads, and call neither
the scalar math nor libm (``log``, ``exp``, ...). Needs binutils' objdump (x86-64 or aarch64). It checks the fastbce that ``import fastbce`` finds
from ``tools/``: the installed one (CI's case); ``PYTHONPATH=. python tools/check_isa.py``
checks an in-place build.
"""

import glob
import os
import platform
import re
import subprocess
import sys

import fastbce


def block_lines(path):
    """The disassembly lines of every function named like the block loop."""
    asm = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", path], capture_output=True, text=True, check=True
    ).stdout
    inside = False
    for line in asm.splitlines():
        head = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if head:
            inside = "_block" in head.group(1)
        elif inside:
            yield line


def block_counts(path):
    """(zmm, ymm) instruction counts over every function named like the block loop, and the
    calls to out-of-line math there."""
    zmm = ymm = 0
    calls = []
    for line in block_lines(path):
        zmm += "%zmm" in line
        ymm += "%ymm" in line
        call = re.search(r"\bcall\s+\S+\s+<(\S+)>", line)
        if call and "_math_" in call.group(1) and "prob_loss_f64" not in call.group(1):
            calls.append(call.group(1))
    return zmm, ymm, calls


def neon_counts(path):
    """(vector-arrangement instructions, 128-bit q-register loads, calls) over every
    aarch64 function named like the block loop."""
    vec = qload = 0
    calls = []
    for line in block_lines(path):
        vec += bool(re.search(r"\bv[0-9]+\.(4s|2d)\b", line))
        qload += bool(re.search(r"\bld(r|p|1)\s+.*\bq[0-9]+\b|\bld1\s+\{v[0-9]+\.(4s|2d)", line))
        call = re.search(r"\bblr?\s+\S+\s+<(\S+)>", line)
        if call and (("_math_" in call.group(1) and "prob_loss_f64" not in call.group(1))
                     or re.match(r"(log|exp|expm1|log1p)f?(@plt)?$", call.group(1))):
            calls.append(call.group(1))
    return vec, qload, calls


def main_aarch64(pkg):
    ok = True
    for name in fastbce.show_config()["kernels_built"]:
        (path,) = glob.glob(os.path.join(pkg, f"_kernels_{name}*.so"))
        vec, qload, calls = neon_counts(path)
        good = vec >= 100 and qload >= 1 and not calls
        ok &= good
        print(f"{name:9s} neon={vec:5d} ldr-q={qload:5d} math/libm calls={len(calls)} "
              f"{'ok' if good else 'WRONG'}  {os.path.basename(path)}")
        for call in sorted(set(calls)):
            print(f"    not inlined: {call}")
    sys.exit(0 if ok else 1)


def main():
    pkg = os.path.dirname(fastbce.__file__)
    if platform.machine().lower() in ("aarch64", "arm64"):
        main_aarch64(pkg)
    rules = {
        "avx512": lambda z, y: z >= 100,
        "avx2": lambda z, y: z == 0 and y >= 100,
        "baseline": lambda z, y: z == 0 and y == 0,
    }
    ok = True
    for name in fastbce.show_config()["kernels_built"]:
        (path,) = glob.glob(os.path.join(pkg, f"_kernels_{name}*.so"))
        zmm, ymm, calls = block_counts(path)
        good = rules[name](zmm, ymm) and not calls
        ok &= good
        print(f"{name:9s} zmm={zmm:5d} ymm={ymm:5d} math calls={len(calls)} "
              f"{'ok' if good else 'WRONG'}  {os.path.basename(path)}")
        for call in sorted(set(calls)):
            print(f"    not inlined: {call}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
