"""Check that each installed kernel module really holds the vector instructions its name
promises: objdump the block loop (``_block``, where the per-element math is inlined) and
count the instructions that use 512-bit (zmm) and 256-bit (ymm) registers.

    python tools/check_isa.py        # exits 1 and says why when a module does not qualify

The avx512 module must use zmm registers in its hot loop, the avx2 module ymm (and no zmm),
the baseline none of either (it runs on any x86-64). Needs binutils' objdump; x86-64 only.
"""

import glob
import os
import re
import subprocess
import sys

import fastbce


def block_counts(path):
    """(zmm, ymm) instruction counts over every function named like the block loop."""
    asm = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", path], capture_output=True, text=True, check=True
    ).stdout
    zmm = ymm = 0
    inside = False
    for line in asm.splitlines():
        head = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if head:
            inside = "_block" in head.group(1)
            continue
        if inside:
            zmm += "%zmm" in line
            ymm += "%ymm" in line
    return zmm, ymm


def main():
    pkg = os.path.dirname(fastbce.__file__)
    rules = {
        "avx512": lambda z, y: z >= 100,
        "avx2": lambda z, y: z == 0 and y >= 100,
        "baseline": lambda z, y: z == 0 and y == 0,
    }
    ok = True
    for name in fastbce.show_config()["kernels_built"]:
        (path,) = glob.glob(os.path.join(pkg, f"_kernels_{name}*.so"))
        zmm, ymm = block_counts(path)
        good = rules[name](zmm, ymm)
        ok &= good
        print(f"{name:9s} zmm={zmm:5d} ymm={ymm:5d} {'ok' if good else 'WRONG'}  {os.path.basename(path)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
