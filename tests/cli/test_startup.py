"""Start-up is a feature: the command line's parser, ``--help`` and the launcher of ``gnnpart train -n N`` (which only
starts mpiexec) import neither torch nor torch_geometric; the rank processes and the commands that compute do."""
import json
import subprocess
import sys

import pytest

from tests.mpi import ROOT

HEAVY = ("torch", "torch_geometric")
REPORT = "import sys, json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))" % (HEAVY,)


def heavy_modules_after(code: str) -> list[str]:
    """The heavy packages a fresh interpreter has imported after running ``code``."""
    proc = subprocess.run([sys.executable, "-c", code + "\n" + REPORT], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_loading_the_parser_imports_no_torch():
    assert heavy_modules_after("from gnnpart.cli.main import build_parser\nbuild_parser()") == []


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["predict", "--help"], ["partition", "--help"]])
def test_help_imports_no_torch(argv):
    code = (f"from gnnpart.cli.main import main\ntry:\n    main({argv!r})\nexcept SystemExit as exc:\n"
            "    assert exc.code == 0, exc.code")
    assert heavy_modules_after(code) == []


def test_the_launcher_of_train_imports_no_torch(tmp_path, odd):
    from gnnpart import partition_graph

    partition_graph(odd, 2, tmp_path / "p")
    code = (
        "from gnnpart.cli import launcher\n"
        "started = []\n"
        "launcher.run_job = lambda cmd, env=None: started.append(cmd) or 0  # mpiexec itself is not the point here\n"
        "from gnnpart.cli.main import main\n"
        f"assert main(['train', {str(tmp_path / 'p')!r}, '-n', '2', '--epochs', '1', '--halo', 'int8']) == 0\n"
        "cmd = started[0]\n"
        "rank_argv = cmd[cmd.index('mpi4py') + 1:]\n"
        "assert rank_argv[:3] == ['-m', 'gnnpart', 'train'] and rank_argv[-4:] == ['--epochs', '1', '--halo', 'int8'], cmd\n"
        "assert '-n' not in rank_argv and cmd[cmd.index('-n') + 1] == '2', cmd\n"
    )
    assert heavy_modules_after(code) == []


def test_a_refusal_before_the_ranks_imports_no_torch(tmp_path):
    code = ("from gnnpart.cli.main import main\n"
            "assert main(['train', '/nowhere', '--lr', '-1']) == 1\n"
            "assert main(['train', '/nowhere', '--halo', 'sample:5']) == 1\n")
    assert heavy_modules_after(code) == []
