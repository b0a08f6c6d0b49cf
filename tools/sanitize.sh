#!/usr/bin/env bash
# Build the kernel modules with AddressSanitizer + UndefinedBehaviorSanitizer and run the
# test suite against that build; exit 1 on any sanitizer report (or test failure).
#
#     bash tools/sanitize.sh [pytest arguments]     # default: the whole suite
#     SANITIZE_ISAS="baseline avx512" bash tools/sanitize.sh
#
# Run it in an environment that has the test requirements (README: pip install -c
# constraints-ci.txt ".[test]") plus Cython and setuptools, with GCC (or CC=clang).
#
# How: the committed sources are copied to a scratch directory (the checkout's own build is
# never touched: a sanitized module cannot be imported without the sanitizer runtime
# preloaded), built there in place with FASTBCE_CFLAGS="-fsanitize=address,undefined ...",
# and the suite runs with that copy first on PYTHONPATH, so the tests and every
# interpreter they start import the sanitized fastbce. Python itself is not instrumented, so
# the ASan runtime is loaded first with LD_PRELOAD. Leak detection is off (CPython and torch
# keep memory until exit by design). Every report goes to a log file under the scratch
# directory as well as ending the process; the script fails when any log file exists, so a
# report from a child interpreter whose failure a test expected still counts.
# SANITIZE_ISAS picks the kernel modules to test (default: every one this CPU runs).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cc="${CC:-gcc}"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/fastbce-sanitize.XXXXXX")"
keep="${SANITIZE_KEEP:-0}"
cleanup() { if [ "$keep" != 1 ]; then rm -rf "$scratch"; fi; }
trap cleanup EXIT

# the committed files plus uncommitted changes to them (what `git stash` would save); not
# untracked files, not build outputs
src="$scratch/src"
mkdir "$src"
(cd "$here" && git ls-files -z --cached | xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$src"

flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
echo "== building the kernel modules with $cc: $flags"
if ! (cd "$src" && CC="$cc" FASTBCE_CFLAGS="$flags" python setup.py -q build_ext --inplace \
        >"$scratch/build.log" 2>&1); then
    tail -n 40 "$scratch/build.log"
    echo "== sanitizers: the build FAILED"
    exit 1
fi

# the runtime the modules were linked against (GCC: libasan.so.8; Clang: its own)
if [ "$cc" = clang ] || "$cc" --version | grep -qi clang; then
    asan_rt="$("$cc" -print-file-name=libclang_rt.asan-x86_64.so)"
else
    asan_rt="$("$cc" -print-file-name=libasan.so)"
fi
asan_rt="$(readlink -f "$asan_rt")"
test -f "$asan_rt" || { echo "no ASan runtime found for $cc ($asan_rt)"; exit 1; }
# libstdc++ preloaded too: ASan's C++ exception interceptor binds __cxa_throw when the
# runtime starts, and torch (a C++ library the tests import) throws; without libstdc++
# already loaded at that point the first C++ throw aborts with a CHECK failure
cxx_rt="$(readlink -f "$(g++ -print-file-name=libstdc++.so 2>/dev/null || gcc -print-file-name=libstdc++.so)")"

logs="$scratch/reports"
mkdir "$logs"
# detect_leaks=0: the interpreter's own allocations live until exit
asan_opts="detect_leaks=0:abort_on_error=0:halt_on_error=1"
asan_opts+=":log_path=$logs/asan"
ubsan_opts="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"

run_py() {  # python with the sanitizer runtime and the scratch build first on the path
    env LD_PRELOAD="$asan_rt $cxx_rt" ASAN_OPTIONS="$asan_opts" UBSAN_OPTIONS="$ubsan_opts" \
        PYTHONPATH="$src${PYTHONPATH:+:$PYTHONPATH}" "$@"
}

# the tests must see the sanitized modules: check where fastbce comes from
(cd "$scratch" && run_py python -c "
import fastbce, sys
cfg = fastbce.show_config()
assert fastbce.__file__.startswith('$src/'), fastbce.__file__
print('fastbce from', fastbce.__file__, '| kernels runnable:', ' '.join(cfg['kernels_runnable']))
") | tee "$scratch/where"
isas="${SANITIZE_ISAS:-$(sed -n 's/.*kernels runnable: //p' "$scratch/where")}"

status=0
for isa in $isas; do
    echo "== sanitized suite, FASTBCE_ISA=$isa"
    (cd "$src" && FASTBCE_ISA=$isa run_py python -m pytest -q -p no:cacheprovider -x "$@") || status=1
    if compgen -G "$logs/*" >/dev/null; then
        echo "== sanitizer reports (FASTBCE_ISA=$isa):"
        for f in "$logs"/*; do echo "--- $f"; cat "$f"; done
        status=1
        break
    fi
    [ "$status" = 0 ] || break
done
if [ "$status" = 0 ]; then
    echo "== sanitizers: no reports"
else
    echo "== sanitizers: FAILED (see above)"
fi
exit "$status"
