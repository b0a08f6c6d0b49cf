#!/usr/bin/env bash
# Build the kernel modules with AddressSanitizer + UndefinedBehaviorSanitizer and run the
# test suite against that build; exit 1 on any sanitizer report or test failure.
#
#     bash tools/sanitize.sh [pytest arguments]         # GCC, every module this CPU runs
#     SANITIZE_ISAS="baseline avx512" bash tools/sanitize.sh tests/core/test_logits.py
#     CC=clang bash tools/sanitize.sh
#
# Run it in an environment with the test requirements (README: pip install -c
# constraints-ci.txt ".[test]") plus Cython and setuptools. SANITIZE_KEEP=1 keeps the
# scratch directory (build log, pytest logs, reports).
#
# How: the checkout's tracked files (with any uncommitted edits to them) are copied to a
# scratch directory -- the checkout's own build is never touched: a sanitized module cannot
# be imported without the sanitizer runtime preloaded -- and built there in place with
# FASTBCE_CFLAGS set to the flags below. The suite runs with the copy first on PYTHONPATH, so
# the tests and the interpreters they start import the sanitized fastbce (checked before
# the run). Python is not instrumented, so the ASan runtime is loaded first with LD_PRELOAD.
#
# What counts as a report: ASan writes its reports to files under the scratch directory
# (log_path), so one from a child interpreter counts even when the test around it expected
# that child to fail. UBSan ignores log_path when it runs beside GCC's ASan runtime, so its
# reports go to stderr: pytest runs with --capture=sys (C-level stderr reaches the terminal
# and the log) and the log is searched for them; every UBSan check aborts
# (-fno-sanitize-recover), so one in a child interpreter also makes that child fail.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cc="${CC:-gcc}"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/fastbce-sanitize.XXXXXX")"
cleanup() { if [ "${SANITIZE_KEEP:-0}" != 1 ]; then rm -rf "$scratch"; fi; }
trap cleanup EXIT

src="$scratch/src"
mkdir "$src"
(cd "$here" && git ls-files -z --cached | xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$src"

# -fno-wrapv: Python's own CFLAGS carry -fwrapv, which defines signed overflow as wrapping
# and so hides it from UBSan; here an overflowing int (a 32-bit index, say) is reported
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-wrapv"
flags+=" -fno-omit-frame-pointer -g"
if "$cc" --version | grep -qi clang; then
    flags+=" -shared-libsan"   # link the runtime the preload provides, not a static copy
    asan_rt="$("$cc" -print-file-name=libclang_rt.asan-x86_64.so)"
else
    asan_rt="$("$cc" -print-file-name=libasan.so)"
fi
asan_rt="$(readlink -f "$asan_rt")"
test -f "$asan_rt" || { echo "no ASan runtime found for $cc ($asan_rt)"; exit 1; }
# libstdc++ preloaded too: ASan's interceptor of C++ throws looks up __cxa_throw when the
# runtime starts; torch (C++) throws, and without libstdc++ loaded by then its first throw
# ends the process with "CHECK failed: ... real___cxa_throw"
cxx_rt="$(readlink -f "$(gcc -print-file-name=libstdc++.so)")"

echo "== building the kernel modules with $cc: $flags"
if ! (cd "$src" && CC="$cc" FASTBCE_CFLAGS="$flags" python setup.py -q build_ext --inplace \
        >"$scratch/build.log" 2>&1); then
    tail -n 40 "$scratch/build.log"
    echo "== sanitizers: the build FAILED"
    exit 1
fi

reports="$scratch/reports"
mkdir "$reports"
# detect_leaks=0: the interpreter's own allocations live until exit
asan_opts="detect_leaks=0:halt_on_error=1:log_path=$reports/asan"
ubsan_opts="halt_on_error=1:print_stacktrace=1"
run_py() {  # python with the sanitizer runtime preloaded and the scratch build on the path
    env LD_PRELOAD="$asan_rt $cxx_rt" ASAN_OPTIONS="$asan_opts" UBSAN_OPTIONS="$ubsan_opts" \
        PYTHONPATH="$src${PYTHONPATH:+:$PYTHONPATH}" "$@"
}

# the tests must see the sanitized modules: where does fastbce come from, and do the
# modules call into the sanitizer runtimes?
(cd "$scratch" && run_py python -c "
import fastbce
assert fastbce.__file__.startswith('$src/'), fastbce.__file__
print('fastbce from', fastbce.__file__)
print('kernels runnable:', ' '.join(fastbce.show_config()['kernels_runnable']))
") | tee "$scratch/where"
for so in "$src"/fastbce/_kernels_*.so; do
    # (nm into a file, not a pipe: grep -q stops reading at the first match, nm then dies of
    # SIGPIPE, and pipefail turned that into "not instrumented" once nm's output outgrew the
    # pipe's buffer)
    nm -D "$so" > "$scratch/nm.txt"
    grep -q "__asan_report" "$scratch/nm.txt" || { echo "$so: not instrumented"; exit 1; }
done
isas="${SANITIZE_ISAS:-$(sed -n 's/^kernels runnable: //p' "$scratch/where")}"

status=0
for isa in $isas; do
    echo "== sanitized suite ($cc), FASTBCE_ISA=$isa"
    log="$scratch/pytest-$isa.log"
    set +e
    (cd "$src" && FASTBCE_ISA=$isa run_py python -m pytest -q -p no:cacheprovider \
        --capture=sys -x "$@") 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" = 0 ] || status=1
    if compgen -G "$reports/*" >/dev/null; then
        echo "== ASan reports (FASTBCE_ISA=$isa):"
        for f in "$reports"/*; do echo "--- $f"; cat "$f"; done
        status=1
    fi
    # a report's own lines (not any mention of a sanitizer, a skip reason say)
    pattern='runtime error:|ERROR: [A-Za-z]*Sanitizer|SUMMARY: [A-Za-z]*Sanitizer|Sanitizer: CHECK failed'
    if grep -qE "$pattern" "$log"; then
        echo "== sanitizer output in the test log (FASTBCE_ISA=$isa):"
        grep -A3 -E "$pattern" "$log" | head -n 40
        status=1
    fi
    [ "$status" = 0 ] || break
done
if [ "$status" = 0 ]; then
    echo "== sanitizers ($cc): no reports, the suite passed for: $isas"
else
    echo "== sanitizers ($cc): FAILED (see above)"
fi
exit "$status"
