"""Build and install gnnpart with its compiled extension ``gnnpart._C``.

The extension is built from ``csrc/`` with ``torch.utils.cpp_extension``:

* C++ sources (``csrc/**/*.cpp``) are always compiled, with OpenMP.
* CUDA sources (``csrc/**/cuda/*.cu``) are compiled only when CUDA is usable
  (``torch.cuda.is_available()`` and ``CUDA_HOME`` set) or when ``FORCE_CUDA=1``.
* ``DEBUG=1`` builds without optimisation and with debug symbols.

torch must be installed first; build without isolation so that the extension
links against that torch::

    pip install torch==2.13.0
    pip install --no-build-isolation -e .
"""
import glob
import os

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


def _flag(name: str) -> bool:
    return os.environ.get(name, "0").lower() in ("1", "true", "yes", "on")


def extensions():
    debug = _flag("DEBUG")
    with_cuda = CUDA_HOME is not None and (torch.cuda.is_available() or _flag("FORCE_CUDA"))
    cpp = sorted(glob.glob(os.path.join("csrc", "**", "*.cpp"), recursive=True))
    cuda = sorted(glob.glob(os.path.join("csrc", "**", "cuda", "*.cu"), recursive=True))
    opt = ["-O0", "-g"] if debug else ["-O3"]
    # -fno-wrapv undoes the -fwrapv of Python's CFLAGS, which blocks loop unrolling and vectorisation
    # of the kernels (the dropout kernel ran 4x slower with it); no kernel relies on signed overflow.
    cxx = opt + ["-fopenmp", "-std=c++17", "-fno-wrapv"]
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
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=_has_ninja())},
    install_requires=["torch>=2.3", "numpy>=1.24", "mpi4py>=3.1", "torch-geometric>=2.5"],
    extras_require={"test": ["pytest>=7", "psutil>=5", "scipy"]},
    entry_points={"console_scripts": ["gnnpart=gnnpart.cli.main:main"]},
)
