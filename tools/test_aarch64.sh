#!/usr/bin/env bash
# Build fastbce for linux/aarch64 and run its test suite there, under QEMU user-mode
# emulation, on an x86-64 Debian host without a container runtime (run as root):
#
#     bash tools/test_aarch64.sh                 # the whole suite; ends with pytest's summary
#     bash tools/test_aarch64.sh tests/test_logits.py tests/test_probabilities.py   # a subset
#
# The route is the one /work/shared/PLATFORMS.md measured (about 45 minutes on 2 cores):
#   1. Debian's qemu-user-static + binfmt-support: the qemu-aarch64 handler (flags PF) makes
#      arm64 binaries run transparently (binfmt_misc is mounted first where it is not)
#   2. debootstrap an arm64 Debian 12 root (minbase) from the mirror apt uses here
#   3. inside it: python3, gcc, libgomp1, binutils; the root is cached as a tarball
#      (FASTBCE_AARCH64_WORK, default /var/tmp/fastbce-aarch64) and reused by later runs
#   4. the aarch64 wheels of the build and test requirements are downloaded natively on the
#      host (pip download --platform), so pip inside the root never resolves anything online;
#      torch 2.13.0 goes in without its CUDA dependencies (--no-deps), falling back to the
#      full install if that import fails
#   5. the checkout's tracked files (with uncommitted edits) are copied in, built with
#      pip install --no-build-isolation (only the baseline kernel module exists off x86)
#   6. tools/check_isa.py: the block loops are NEON-vectorised and call no scalar math
#   7. the test suite (pytest -ra), its summary line printed last
# FASTBCE_AARCH64_KEEP_ROOT=1 reuses the last run's root as it stands (its packages, torch
# included, already installed): a rerun then costs the build and the suite, ~20 minutes.
# Emulated timings mean nothing; the point is correctness. Each step prints its wall time.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${FASTBCE_AARCH64_WORK:-/var/tmp/fastbce-aarch64}"
root="$work/root"
cache="$work/root-bookworm-arm64.tar.gz"
wheels="$work/wheels"
pyver=3.11   # Debian 12's python3: the aarch64 wheels are downloaded for this one
t0=$SECONDS
tstep=$SECONDS
step() {
    echo "==== ($(( SECONDS - tstep )) s) done"
    tstep=$SECONDS
    echo; echo "==== $1 (at $(( SECONDS - t0 )) s)"
}
[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap, chroot, mount)"; exit 1; }
[ "$(uname -m)" = x86_64 ] || echo "note: host is $(uname -m), not x86_64"

umount_all() {
    for m in "$root/proc" "$root/dev/pts" "$root/dev"; do
        if mountpoint -q "$m" 2>/dev/null; then umount -l "$m" || true; fi
    done
}
trap umount_all EXIT

# run a command inside the root with a clean environment (nothing of the host's leaks in)
in_root() {
    chroot "$root" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
        PIP_DEFAULT_TIMEOUT=180 bash -euo pipefail -c "$1"
}

step "1. host packages: qemu-user-static, binfmt-support, debootstrap"
if [ -d /proc/sys/fs/binfmt_misc ] && [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends qemu-user-static binfmt-support debootstrap \
    ca-certificates python3-venv >/dev/null
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64 || update-binfmts --import qemu-aarch64
fi
grep -E '^(enabled|interpreter|flags)' /proc/sys/fs/binfmt_misc/qemu-aarch64
qemu-aarch64-static --version | head -1

step "2. arm64 Debian 12 root (debootstrap, cached)"
mkdir -p "$work"
umount_all
if [ "${FASTBCE_AARCH64_KEEP_ROOT:-0}" = 1 ] && [ -x "$root/venv/bin/python" ]; then
    echo "reusing the root of the last run as it is (FASTBCE_AARCH64_KEEP_ROOT=1)"
elif [ -f "$cache" ]; then
    rm -rf "$root"
    echo "reusing $cache"
    mkdir -p "$root" && tar -xzf "$cache" -C "$root"
else
    rm -rf "$root"
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources \
             2>/dev/null | head -1)
    mirror=${mirror:-http://deb.debian.org/debian}
    echo "mirror: $mirror"
    debootstrap --arch=arm64 --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" \
        || { tail -30 "$work/debootstrap.log"; exit 1; }
fi
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# import torch under QEMU reads the CPU's MIDR from sysfs and segfaults without it; the
# host's /sys is never bound in: these few files stand in for it (a Neoverse-N1-like MIDR)
for c in 0 1; do
    mkdir -p "$root/sys/devices/system/cpu/cpu$c/regs/identification"
    echo 0x00000000413fd0c1 > "$root/sys/devices/system/cpu/cpu$c/regs/identification/midr_el1"
done
for f in online possible present; do echo 0-1 > "$root/sys/devices/system/cpu/$f"; done
in_root "uname -m; cat /etc/debian_version"

if [ ! -f "$cache" ]; then
    step "3. packages inside the root (python3, gcc, libgomp1, binutils); cached"
    in_root "apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 \
        python3-venv python3-dev gcc g++ git ca-certificates libgomp1 binutils >/dev/null"
    # this workplace's TLS proxy: its CA certificates, so that pip inside can reach PyPI
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
    in_root "update-ca-certificates >/dev/null"
    in_root "python3 -m venv /venv && /venv/bin/python -m pip install -q --upgrade pip"
    umount_all
    tar -czf "$cache.tmp" -C "$root" . && mv "$cache.tmp" "$cache"
    mount -t proc proc "$root/proc"
    mount --bind /dev "$root/dev"
    echo "cached the root as $cache ($(du -h "$cache" | cut -f1))"
fi
in_root "/venv/bin/python --version; gcc --version | head -1"

step "4. aarch64 wheels of the build and test requirements (downloaded on the host)"
# the requirements, read from pyproject.toml: the build system's and the test extra's,
# torch held back (its aarch64 wheel on PyPI names ~20 CUDA packages, 4.7 GB)
reqs=$(python3 - "$repo/pyproject.toml" <<'EOF'
import re, sys, tomllib
meta = tomllib.load(open(sys.argv[1], "rb"))
reqs = meta["build-system"]["requires"] + meta["project"]["dependencies"]
reqs += meta["project"]["optional-dependencies"]["test"]
print("\n".join(r for r in reqs if re.split(r"[<>=!\[ ]", r)[0].lower() != "torch"))
EOF
)
echo "$reqs" > "$work/requirements.txt"
mkdir -p "$wheels"
plat=(--only-binary=:all: --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64
      --platform manylinux2014_aarch64 --platform linux_aarch64 --python-version "$pyver"
      --implementation cp --abi "cp${pyver/./}" --abi abi3 --abi none)
hostpip=(env PIP_FIND_LINKS= python3 -m pip download --quiet --no-cache-dir -d "$wheels" "${plat[@]}")
"${hostpip[@]}" -r "$work/requirements.txt" wheel
"${hostpip[@]}" -c "$repo/constraints-ci.txt" --no-deps torch
# torch's own small dependencies (no CUDA packages)
"${hostpip[@]}" filelock typing-extensions sympy networkx jinja2 fsspec
ls "$wheels" | wc -l | xargs echo "wheels:"
du -sh "$wheels"
rm -rf "$root/wheels" && cp -r "$wheels" "$root/wheels"
cp "$work/requirements.txt" "$root/requirements.txt"
in_root "/venv/bin/pip install -q --no-index --find-links /wheels -r /requirements.txt wheel \
    filelock typing-extensions sympy networkx jinja2 fsspec"
in_root "/venv/bin/pip install -q --no-index --find-links /wheels --no-deps torch==2.13.0"
if ! in_root "/venv/bin/python -c 'import torch; print(\"torch\", torch.__version__, torch.ones(3).sum().item())'"; then
    echo "import torch failed without its CUDA dependencies: installing the full torch from PyPI"
    in_root "/venv/bin/pip install -q torch==2.13.0"
    in_root "/venv/bin/python -c 'import torch; print(\"torch\", torch.__version__)'"
fi

step "5. fastbce built inside the root (pip install --no-build-isolation)"
rm -rf "$root/src" && mkdir "$root/src"
(cd "$repo" && git ls-files -z --cached | xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$root/src"
echo "source: $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- . || echo ' + uncommitted edits')"
in_root "cd /src && /venv/bin/pip install --no-build-isolation --no-deps --no-index . 2>&1 | tail -3"
in_root "cd / && /venv/bin/python -c 'import fastbce, platform; print(platform.machine()); fastbce.show_config(print_=True)'"

step "6. NEON: the block loops are vectorised (tools/check_isa.py)"
isa_rc=0
in_root "cd /src && /venv/bin/python tools/check_isa.py" || isa_rc=$?
in_root "cd / && objdump -d --no-show-raw-insn \$(/venv/bin/python -c 'import glob, os, fastbce; \
    print(glob.glob(os.path.dirname(fastbce.__file__) + \"/_kernels_baseline*.so\")[0])') \
    | grep -oE '^\s+[0-9a-f]+:\s+(fmla|fmul|fadd|fsub|fdiv|fmax|fmin|fcm[a-z]+|ldr|ldp|str|stp)\s+[qv][0-9]+[^,]*' \
    | awk '{print \$2, \$3}' | sed 's/[0-9]\+\././; s/q[0-9]\+/q/' | sort | uniq -c | sort -rn | head -12" || true

step "7. the test suite under emulation"
args="${*:--q}"
set +e
# (the pytest script, not python -m pytest: that would put /src first on sys.path and import
# the source tree's fastbce, which has no compiled modules)
in_root "cd /src && /venv/bin/pytest -p no:cacheprovider -ra $args" 2>&1 \
    | tee "$work/pytest.log"
rc=${PIPESTATUS[0]}
set -e
step "end"
echo "aarch64 ($(qemu-aarch64-static --version | head -1 | grep -oE 'version [0-9.]+' | sed 's/version/QEMU/')), Python $pyver:"
grep -E '[0-9]+ (passed|failed|errors?)\b.* in [0-9.]+s' "$work/pytest.log" | tail -1
echo "total: $(( SECONDS - t0 )) s; log: $work/pytest.log"
[ "$isa_rc" = 0 ] || { echo "tools/check_isa.py failed (exit $isa_rc)"; exit 1; }
exit "$rc"
