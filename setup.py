"""Build learnsolve._C (pybind11, C++17, -O3, OpenMP) from csrc/, and ship csrc/cuda's sources.

The extension is optional: without a C++ compiler the package still installs
and learnsolve.ops falls back to numba/SciPy kernels (one warning at import).
Without OpenMP the extension is built single-threaded.  The CUDA sources are
compiled at run time by CuPy (learnsolve.ops.cuda), so a wheel carries them as
package data in learnsolve/ops/csrc_cuda/.
"""
import glob
import os
import sys
import warnings

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithCudaSources(build_py):
    """Copy csrc/cuda/*.cu into the built package (learnsolve/ops/csrc_cuda/)."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "learnsolve", "ops", "csrc_cuda")
        self.mkpath(target)
        for src in glob.glob(os.path.join(HERE, "csrc", "cuda", "*.cu")):
            self.copy_file(src, os.path.join(target, os.path.basename(src)))

try:
    from pybind11.setup_helpers import Pybind11Extension
except ImportError:  # no pybind11: pure-Python install
    Pybind11Extension = None


class OptionalBuildExt(build_ext):
    """Try OpenMP, then no OpenMP, then give up with a warning."""

    def build_extension(self, ext):
        base_args = list(ext.extra_compile_args)
        base_link = list(ext.extra_link_args)
        attempts = [("-fopenmp", "-fopenmp"), (None, None)]
        if os.environ.get("LEARNSOLVE_NO_OPENMP"):
            attempts = attempts[1:]
        for cflag, lflag in attempts:
            ext.extra_compile_args = base_args + ([cflag] if cflag else [])
            ext.extra_link_args = base_link + ([lflag] if lflag else [])
            try:
                super().build_extension(ext)
                if cflag is None:
                    warnings.warn("learnsolve: built learnsolve._C without OpenMP (single-threaded)",
                                  stacklevel=2)
                return
            except Exception as exc:  # compiler missing or flag unsupported
                last = exc
        sys.stderr.write(
            f"WARNING: learnsolve: could not build learnsolve._C ({last}); "
            "the numba/SciPy fallback kernels will be used.\n"
        )


ext_modules = []
if Pybind11Extension is not None and not os.environ.get("LEARNSOLVE_NO_EXTENSION"):
    ext_modules.append(
        Pybind11Extension(
            "learnsolve._C",
            ["csrc/learnsolve.cpp"],
            include_dirs=["csrc"],
            cxx_std=17,
            extra_compile_args=["-O3"],
        )
    )

setup(ext_modules=ext_modules,
      cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithCudaSources})
