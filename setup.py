"""Build script: declares the extension and decides on OpenMP. Metadata lives in pyproject.toml.

Environment switches:
  FASTBCE_OPENMP=1|0   force the OpenMP build on or off (default: probe the compiler)
  FASTBCE_DEBUG=1      turn Cython bounds checks on and optimisation down, for debugging
"""

import os
import shutil
import tempfile
import warnings

import numpy as np
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


def _compiler_supports_openmp(compiler):
    """Compile and link a tiny OpenMP program; True if it works."""
    tmp = tempfile.mkdtemp(prefix="fastbce-omp-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")
        objs = compiler.compile([src], output_dir=tmp, extra_postargs=["-fopenmp"])
        compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=["-fopenmp"])
        return True
    except (CompileError, LinkError):
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    def build_extensions(self):
        forced = os.environ.get("FASTBCE_OPENMP")
        if forced is not None:
            use_omp = forced == "1"
        else:
            use_omp = _compiler_supports_openmp(self.compiler)
            if not use_omp:
                warnings.warn(
                    "fastbce: the C compiler does not support OpenMP; building a serial module "
                    "(set FASTBCE_OPENMP=1 to force OpenMP on)",
                    stacklevel=1,
                )
        for ext in self.extensions:
            # -Wno-psabi: 32-byte vectors pass only between static inline functions
            ext.extra_compile_args = ["-O1" if DEBUG else "-O3", "-Wno-psabi"]
            ext.extra_link_args = []
            if use_omp:
                ext.extra_compile_args.append("-fopenmp")
                ext.extra_link_args.append("-fopenmp")
        super().build_extensions()


extensions = [
    Extension(
        "fastbce._kernels",
        ["fastbce/_kernels.pyx"],
        depends=["fastbce/_omp.h", "fastbce/_simd.h", "fastbce/_simd_body.h"],
        include_dirs=[np.get_include(), "fastbce"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
]

setup(
    ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES),
    cmdclass={"build_ext": BuildExt},
)
