#!/usr/bin/env bash
# A separate environment with DGL 2.1.0, the reference of benchmarks/bench_dgl.py (issue 29).
#
# DGL 2.1.0 imports only beside torch <= 2.2.1, so it cannot live in gnnpart's environment (torch 2.13). This makes a
# venv with torch 2.2.1 (the PyPI wheel, with its CUDA libraries: about 5 GB), DGL 2.1.0 and what DGL imports, and
# checks that `import dgl` works. Usage: bash benchmarks/dgl_env.sh [DIR]  (default ~/.cache/gnnpart-dgl-env)
set -euo pipefail
DIR="${1:-$HOME/.cache/gnnpart-dgl-env}"
if [ -x "$DIR/bin/python" ] && "$DIR/bin/python" -c "import dgl, torch; assert dgl.__version__ == '2.1.0'" 2>/dev/null; then
    echo "[dgl_env] $DIR is ready"; exit 0
fi
echo "[dgl_env] making $DIR (torch 2.2.1 and DGL 2.1.0; about 5 GB, several minutes)"
python3 -m venv "$DIR"
"$DIR/bin/pip" install -q --upgrade pip
"$DIR/bin/pip" install -q torch==2.2.1 dgl==2.1.0 torchdata==0.7.1 "numpy<2" "pandas<2.3" pydantic pyyaml scipy
"$DIR/bin/python" -c "import dgl, torch; print(f'[dgl_env] DGL {dgl.__version__} on torch {torch.__version__} ready in $DIR')"
