"""Build and install gnnpart with its compiled extension ``gnnpart._C``.

The extension is built from ``csrc/`` with ``torch.utils.cpp_extension``:

* C++ sources (``csrc/**/*.cpp``) are always compiled, with OpenMP.
* CUDA sources (``csrc/**/cuda/*.cu``) are compiled only when CUDA is usable
  (``torch.cuda.is_available()`` and ``CUDA_HOME`` set) or when ``FORCE_CUDA=1``.
* ``DEBUG=1`` builds without optimisation and with debug symbols.
* ``csrc/common/torch_ops.h`` (the PyTorch headers, included first by every C++ source) is precompiled once with
  the sources' flags, then the sources are compiled in parallel with ninja: parsing ATen and the op registry was
  most of each source's compile time (a clean build took 124 s on 2 cores without it, 56 s with it and ``-g0``).
  The ``.gch`` is removed after the build. ``GNNPART_PCH=0`` skips the precompiled header.

torch must be installed first; build without isolation so that the extension
links against that torch::

    pip install torch==2.13.0
    pip install --no-build-isolation -e .
"""
import glob
import os
import subprocess
import time

from setuptools import find_packages, setup

try:
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
except ImportError as exc:  # pragma: no cover - only hit on a misconfigured install
    raise SystemExit(
        "gnnpart needs torch installed before it is built: run `pip install torch==2.13.0` "
        "(or another torch), then `pip install --no-build-isolation -e .`"
    ) from exc

HERE = os.path.dirname(os.path.abspath(__file__))


def _has_ninja() -> bool:
    """Compile the sources in parallel with ninja when it is installed (MAX_JOBS caps the jobs)."""
    try:
        from torch.utils.cpp_extension import is_ninja_available
    except ImportError:  # pragma: no cover
        return False
    return is_ninja_available()


def _flag(name: str, default: str = "0") -> bool:
    return os.environ.get(name, default).lower() in ("1", "true", "yes", "on")


PCH_HEADER = os.path.join("csrc", "common", "torch_ops.h")


def _is_gcc(exe: str) -> bool:
    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "Free Software Foundation" in version


class BuildWithPCH(BuildExtension.with_options(use_ninja=_has_ninja())):
    """BuildExtension that first precompiles ``csrc/common/torch_ops.h`` with the flags of the C++ sources.

    GCC uses ``torch_ops.h.gch`` for ``#include "common/torch_ops.h"`` only when the flags match; otherwise (or with
    another compiler) it reads the header itself, so a failed or skipped precompilation only costs time.
    """

    def build_extension(self, ext):
        # BuildExtension.build_extensions has added torch's own flags to ext.extra_compile_args by now
        stale = os.path.join(HERE, PCH_HEADER) + ".gch"
        if os.path.exists(stale):  # left by a killed build: GCC would use it even against other torch headers
            os.remove(stale)
        compiler = self._cxx()
        pch = _flag("GNNPART_PCH", "1") and _is_gcc(compiler) and self._precompile(ext, compiler)
        try:
            super().build_extension(ext)
        finally:
            if pch and os.path.exists(pch):
                os.remove(pch)  # about 400 MB, and only the build reads it

    def _cxx(self) -> str:
        """The compiler that compiles the sources: ninja runs ``$CXX`` (torch's rule), setuptools ``compiler_so``."""
        if getattr(self, "use_ninja", False):
            from torch.utils.cpp_extension import get_cxx_compiler

            return get_cxx_compiler()
        return self.compiler.compiler_so[0]

    def _precompile(self, ext, compiler: str) -> str | None:
        """Compile the header; returns the ``.gch`` path, or None when it could not be built."""
        header = os.path.join(HERE, PCH_HEADER)
        out = header + ".gch"
        tmp = f"{out}.{os.getpid()}.tmp"
        cxx = ext.extra_compile_args["cxx"] if isinstance(ext.extra_compile_args, dict) else ext.extra_compile_args
        cmd = ([compiler] + list(self.compiler.compiler_so[1:])
               + [f"-I{d}" for d in list(ext.include_dirs) + list(self.include_dirs)]
               + [f"-D{name}" if value is None else f"-D{name}={value}" for name, value in ext.define_macros]
               + ["-x", "c++-header", header, "-o", tmp] + list(cxx))
        start = time.time()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode == 0:
            os.replace(tmp, out)
            print(f"[gnnpart] precompiled {PCH_HEADER} in {time.time() - start:.0f} s")
            return out
        else:  # the sources then parse the header themselves
            print(f"[gnnpart] could not precompile {PCH_HEADER} (building without it):\n{done.stderr[-2000:]}")
            for path in (out, tmp):
                if os.path.exists(path):
                    os.remove(path)
            return None


def extensions():
    debug = _flag("DEBUG")
    with_cuda = CUDA_HOME is not None and (torch.cuda.is_available() or _flag("FORCE_CUDA"))
    cpp = sorted(glob.glob(os.path.join("csrc", "**", "*.cpp"), recursive=True))
    cuda = sorted(glob.glob(os.path.join("csrc", "**", "cuda", "*.cu"), recursive=True))
    opt = ["-O0", "-g"] if debug else ["-O3"]
    # -fno-wrapv undoes the -fwrapv of Python's CFLAGS, which blocks loop unrolling and vectorisation
    # of the kernels (the dropout kernel ran 4x slower with it); no kernel relies on signed overflow.
    # -g0 undoes the -g of Python's CFLAGS in a release build: debug info of the PyTorch headers is most of the
    # precompiled header's size and a good part of each source's compile time.
    cxx = opt + ["-fopenmp", "-std=c++17", "-fno-wrapv"] + ([] if debug else ["-g0"])
    extra = {"cxx": cxx}
    kind = CppExtension
    sources = cpp
    define_macros = []
    if with_cuda:
        kind = CUDAExtension
        sources = cpp + cuda
        extra["nvcc"] = opt + ["-std=c++17"]
        define_macros.append(("WITH_CUDA", None))
    return [
        kind(
            name="gnnpart._C",
            sources=sources,
            include_dirs=[os.path.join(HERE, "csrc")],
            extra_compile_args=extra,
            extra_link_args=["-fopenmp"] + (["-g"] if debug else []),
            define_macros=define_macros,
        )
    ]


with open(os.path.join(HERE, "README.md"), encoding="utf-8") as fh:
    long_description = fh.read()

setup(
    name="gnnpart",
    version="0.1.0",
    description="Full-graph distributed GNN training on partitioned graphs with MPI",
    long_description=long_description,
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["gnnpart", "gnnpart.*"]),
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildWithPCH},
    install_requires=["torch>=2.3", "numpy>=1.24", "mpi4py>=3.1", "torch-geometric>=2.5", "scipy>=1.8"],
    extras_require={"test": ["pytest>=7", "psutil>=5"]},
    entry_points={"console_scripts": ["gnnpart=gnnpart.cli.main:main"]},
)
