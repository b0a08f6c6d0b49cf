"""Build script: declares the extensions and decides on OpenMP. Metadata lives in pyproject.toml.

``fastbce/_kernels.pyx`` is compiled once per x86-64 level into its own module --
``_kernels_baseline`` (any x86-64), ``_kernels_avx2`` (``-march=x86-64-v3``: AVX2, FMA) and
``_kernels_avx512`` (``-march=x86-64-v4``: AVX-512 F/BW/DQ/VL) -- and only as the baseline on
other architectures; ``fastbce._config`` imports the best module the CPU runs.
``fastbce/_bce.pyx``, the Python layer's route to the kernels, is compiled once, against
NumPy's C API.

The extension modules compile in parallel, one job per CPU this process may use
(setuptools' parallel build_ext), and the build prints how long cythonizing and compiling
took (``pip install -v .`` shows it; pip hides a build's output otherwise).

Every compiler flag beyond the source itself is GCC/Clang syntax, and each is probed before
use: a flag the compiler rejects is dropped with a warning, an ISA module whose -march the
compiler rejects is not built (the baseline always is), and a compiler without OpenMP gives
serial modules. A compiler that is not Unix-style (MSVC) gets none of these flags: the
baseline module alone, serial, with a warning.

Environment switches:
  FASTBCE_OPENMP=1|0   force the OpenMP build on or off (default: probe the compiler)
  FASTBCE_BUILD_JOBS=n parallel compile jobs (default: the CPUs this process may use; 1: serial)
  FASTBCE_DEBUG=1      Cython bounds checks on and optimisation down, for debugging
  FASTBCE_ISAS=a,b     build only these modules (default: every one the platform has)
  FASTBCE_CFLAGS=...   extra compiler flags for every module (sanitizers, say)
"""

import os
import platform
import shutil
import tempfile
import time
import warnings

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError, LinkError

DEBUG = os.environ.get("FASTBCE_DEBUG", "0") == "1"
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "initializedcheck": DEBUG,
    "cdivision": True,
}
# IEEE semantics kept (no -ffast-math: it would delete the compensation terms of the logs);
# no contraction into FMAs by the compiler: _math.pxd writes its FMAs out, so that scalar and
# vector code, and the fused and separate calls, round the same way
COMMON_FLAGS = ["-O1" if DEBUG else "-O3", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off"]
INLINE_FLAGS = ["--param=inline-unit-growth=1000", "--param=large-function-growth=10000",
                "--param=max-inline-insns-single=1000"]
X86 = platform.machine().lower() in ("x86_64", "amd64")
ISA_FLAGS = {
    "baseline": [],
    "avx2": ["-march=x86-64-v3"],
    "avx512": ["-march=x86-64-v4", "-mprefer-vector-width=512"],
}


def _probe(compiler, source, flags, link=False):
    """Compile (and link) a tiny C program with these flags; True if it works."""
    tmp = tempfile.mkdtemp(prefix="fastbce-probe-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(source)
        objs = compiler.compile([src], output_dir=tmp, extra_postargs=flags)
        if link:
            compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=flags)
        return True
    except (CompileError, LinkError):
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _compiler_supports_openmp(compiler):
    """Compile and link a tiny OpenMP program; True if it works."""
    return _probe(compiler, "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n",
                  ["-fopenmp"], link=True)


def _compiler_accepts(compiler, *flags):
    """Whether the compiler takes these flags together without a warning (Clang only warns
    about GCC's --param)."""
    return _probe(compiler, "int probe(void) { return 0; }\n", ["-Werror", *flags])


def _warn(message):
    warnings.warn(f"fastbce: {message}", stacklevel=2)


def _jobs():
    """Parallel compile jobs: FASTBCE_BUILD_JOBS, else the CPUs this process may use."""
    forced = os.environ.get("FASTBCE_BUILD_JOBS")
    if forced:
        return max(1, int(forced))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _read(path):
    """A text file's contents, or None if there is none."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        # setuptools compiles one extension per thread (ThreadPoolExecutor); a -j given on the
        # command line wins
        if not self.parallel:
            jobs = _jobs()
            self.parallel = jobs if jobs > 1 else False

    def run(self):
        start = time.perf_counter()
        super().run()
        if self.extensions:
            jobs = self.parallel if self.parallel else 1
            print(f"fastbce: compiled {len(self.extensions)} extension modules in "
                  f"{time.perf_counter() - start:.1f} s ({jobs} parallel jobs)", flush=True)

    def build_extensions(self):
        if self.compiler.compiler_type != "unix":
            # MSVC and the like: none of the GCC-style flags below, no OpenMP probe (-fopenmp
            # is not its syntax), no ISA modules (their -march neither)
            _warn(f"the {self.compiler.compiler_type!r} compiler takes no GCC-style flags; "
                  f"building the baseline kernel module alone, serial, without optimisation "
                  f"flags")
            self.extensions = [e for e in self.extensions
                               if not e.name.startswith("fastbce._kernels_")
                               or e.name == "fastbce._kernels_baseline"]
            super().build_extensions()
            return
        forced = os.environ.get("FASTBCE_OPENMP")
        if forced is not None:
            use_omp = forced == "1"
        else:
            use_omp = _compiler_supports_openmp(self.compiler)
            if not use_omp:
                _warn("the C compiler does not support OpenMP; building serial modules "
                      "(set FASTBCE_OPENMP=1 to force OpenMP on)")
        extra = os.environ.get("FASTBCE_CFLAGS", "").split()
        # flags a compiler rejects are dropped, each with a warning, rather than failing
        common = []
        for flag in COMMON_FLAGS:
            if _compiler_accepts(self.compiler, flag):
                common.append(flag)
            else:
                _warn(f"the C compiler rejects {flag}; building without it")
        isa_flags = {"baseline": []}
        for isa, flags in ISA_FLAGS.items():
            if not flags or not any(e.name == f"fastbce._kernels_{isa}" for e in self.extensions):
                continue
            if _compiler_accepts(self.compiler, *flags):
                isa_flags[isa] = flags
            else:
                _warn(f"the C compiler rejects {' '.join(flags)}; the {isa} kernel module is not "
                      f"built (the baseline module serves)")
        self.extensions = [e for e in self.extensions if not e.name.startswith("fastbce._kernels_")
                           or e.name.rsplit("_", 1)[1] in isa_flags]
        # GCC inlines the math of _math.pxd into the block loops only while the module grows
        # by less than --param inline-unit-growth (40% by default in GCC 12) and the block
        # loop itself by less than large-function-growth (100%): near those limits unrelated
        # changes left exp(-|x|) a function call in a loop, up to 6x slower
        # (tools/check_isa.py finds it). Raise both where the compiler has them.
        kernel_flags = [f for f in INLINE_FLAGS if _compiler_accepts(self.compiler, f)]
        # modules built by another compiler or with other flags are never reused
        tag = " ".join([*self.compiler.compiler_so, f"omp={use_omp}", *common, *extra, *kernel_flags])
        stamp = os.path.join(self.build_temp, "fastbce-build-tag")
        if _read(stamp) != tag:
            self.force = True
            os.makedirs(self.build_temp, exist_ok=True)
            with open(stamp, "w") as f:
                f.write(tag)
        for ext in self.extensions:
            isa = ext.name.rsplit("_", 1)[1] if ext.name.startswith("fastbce._kernels_") else None
            ext.extra_compile_args = common + isa_flags.get(isa, []) + extra
            if isa is not None:
                ext.extra_compile_args += kernel_flags
            ext.extra_link_args = list(extra)
            if use_omp and isa is not None:
                ext.extra_compile_args.append("-fopenmp")
                ext.extra_link_args.append("-fopenmp")
        super().build_extensions()


def _isas():
    names = list(ISA_FLAGS) if X86 else ["baseline"]
    chosen = os.environ.get("FASTBCE_ISAS")
    if chosen:
        names = [n for n in chosen.split(",") if n in names]
    return names


# the .pxi files _kernels.pyx includes (one per concern)
KERNEL_PARTS = ("gather", "loops", "product", "blocks", "axis")


def _extensions():
    # One copy of the .pyx per module, so that each gets its own module name; the copies
    # live under build/ and cimport fastbce._math from the source tree.
    here = os.path.dirname(os.path.abspath(__file__))
    gen = os.path.join("build", "isa-sources", "fastbce")
    os.makedirs(gen, exist_ok=True)
    with open(os.path.join(here, "fastbce", "_kernels.pyx")) as f:
        source = f.read()
    exts = []
    # widest first: the slowest compiles start first in the parallel build
    for isa in reversed(_isas()):
        path = os.path.join(gen, f"_kernels_{isa}.pyx")
        text = f"# generated by setup.py from fastbce/_kernels.pyx: do not edit\n{source}"
        if _read(path) != text:
            with open(path, "w") as f:
                f.write(text)
        exts.append(
            Extension(
                f"fastbce._kernels_{isa}",
                [path],
                depends=["fastbce/_math.pxd", "fastbce/_omp.h", "fastbce/_job.pxd",
                         *(f"fastbce/_{part}.pxi" for part in KERNEL_PARTS)],
                include_dirs=["fastbce"],
            )
        )
    import numpy

    bce = Extension(
        "fastbce._bce",
        ["fastbce/_bce.pyx"],
        depends=["fastbce/_job.pxd"],
        include_dirs=[numpy.get_include()],
        # the oldest NumPy this module must load into (pyproject.toml's dependency)
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_23_API_VERSION"),
                       ("NPY_TARGET_VERSION", "NPY_1_23_API_VERSION")],
    )
    # generated C under build/ (never in the package directory, the sdist or the wheel);
    # Cython's own processes, one per job, where there is more than one module to translate
    start = time.perf_counter()
    jobs = _jobs()
    modules = (cythonize(exts, compiler_directives=DIRECTIVES, include_path=[here],
                         nthreads=jobs if jobs > 1 else 0)
               + cythonize([bce], compiler_directives=DIRECTIVES, include_path=[here],
                           build_dir=os.path.join("build", "cython")))
    # (pip and python -m build run this file more than once: the first run translates, the
    # later ones find the C files up to date)
    print(f"fastbce: cythonized {len(modules)} modules in {time.perf_counter() - start:.1f} s "
          f"({jobs} jobs)", flush=True)
    return modules


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
