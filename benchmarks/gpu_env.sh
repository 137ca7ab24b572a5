# Sourced by benchmarks/gpu_check.sh: prepare a bare GPU machine whose python3 already holds a CUDA torch.
#
# * Python wheels in .whl/ (MPICH and mpi4py, when the machine has no MPI) are installed into python3's prefix,
#   and .whl/libmetis.so.5 (METIS) is used through GNNPART_METIS_LIB when the machine has no libmetis.
# * gnnpart._C is compiled in place with its CUDA kernels (ninja, every core).
PY=${PYTHON:-python3}
PREFIX=$("$PY" -c 'import sys; print(sys.prefix)')
if ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade .whl/*.whl 2>&1 | tail -2
fi
export PATH="$PREFIX/bin:$PATH"
export LD_LIBRARY_PATH="$PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ! ldconfig -p 2>/dev/null | grep 'libmetis\.so' >/dev/null && [ -f .whl/libmetis.so.5 ]; then
  export GNNPART_METIS_LIB="$PWD/.whl/libmetis.so.5"
fi
# Build with the system compiler where there is one: an extension built by another GCC than the one whose
# libstdc++ the process loads can crash when it throws (a TORCH_CHECK error), as seen on one GPU image.
export IMAGE_CC=${IMAGE_CC:-${CC:-gcc}} IMAGE_CXX=${IMAGE_CXX:-${CXX:-g++}}
if [ -x /usr/bin/g++ ] && [ -x /usr/bin/gcc ]; then export CC=/usr/bin/gcc CXX=/usr/bin/g++; fi
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
gpu_build() {  # compile gnnpart._C in place, CUDA kernels included (with the image's own compiler if the system's fails)
  rm -f gnnpart/_C*.so
  if ! FORCE_CUDA=1 "$PY" setup.py -q build_ext --inplace; then
    echo "build with $CXX failed; again with the image's compiler (${IMAGE_CXX:-default})"
    CC=$IMAGE_CC CXX=$IMAGE_CXX FORCE_CUDA=1 "$PY" setup.py -q build_ext --inplace || return 1
  fi
  "$PY" -c "import gnnpart, torch; print('built for', torch.cuda.get_arch_list())"
}
