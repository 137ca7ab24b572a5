import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from gnnpart.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_partition_then_inspect_json(capsys, tmp_path, data_root):
    out = tmp_path / "cora4"
    code, text, err = run(capsys, "partition", "cora", "--num-parts", "4", "--out", str(out), "--root", str(data_root))
    assert code == 0, err
    assert "part 4/4 written" in err and "METIS" in err  # progress on stderr
    assert "halo rows" in text
    code, text, _ = run(capsys, "inspect", str(out), "--json", "--verify")
    assert code == 0
    info = json.loads(text)
    for key in ("num_parts", "num_nodes", "num_edges", "edge_cut", "halo_rows_total", "imbalance", "parts"):
        assert key in info
    assert info["num_parts"] == 4 and info["num_nodes"] == 2708 and info["num_edges"] == 10556
    assert set(info["imbalance"]) == {"nodes", "edges", "train"}
    assert [set(p) for p in info["parts"]] == [{"inner", "halo", "edges", "train"}] * 4
    assert sum(p["inner"] for p in info["parts"]) == 2708
    assert sum(p["halo"] for p in info["parts"]) == info["halo_rows_total"]
    assert sum(p["edges"] for p in info["parts"]) == 10556
    code, text, _ = run(capsys, "inspect", str(out))
    assert code == 0 and "edge cut" in text and f"{info['halo_rows_total']:,} x 4 B x W" in text
    code, text, _ = run(capsys, "inspect", str(out), "--json", "--pairs")
    pairs = json.loads(text)["pairs"]
    assert code == 0 and sum(d["rows"] for d in pairs) == info["halo_rows_total"]
    assert sum(d["cut_edges"] for d in pairs) == info["edge_cut"]
    assert all(0 < d["cover_rows"] + d["cover_sums"] <= d["rows"] for d in pairs) and len(pairs) <= 12
    cover = sum(d["cover_rows"] + d["cover_sums"] for d in pairs)
    code, text, _ = run(capsys, "inspect", str(out), "--pairs")
    assert code == 0 and f"exact halo rows: {info['halo_rows_total']:,} today; a minimum cover of each pair's cut " \
                         f"edges needs {cover:,}" in text


def test_config_file_and_flag_override(capsys, tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text('dataset = "synthetic:nodes=500,degree=4"\nnum_parts = 3\nmethod = "random"\nseed = 3\n')
    out = tmp_path / "o"
    code, _, err = run(capsys, "partition", "--config", str(cfg), "--num-parts", "2", "--out", str(out))
    assert code == 0, err
    meta = json.loads((out / "meta.json").read_text())
    assert meta["num_parts"] == 2 and meta["method"] == "random" and meta["seed"] == 3


def test_datasets_lists_specs(capsys):
    code, text, _ = run(capsys, "datasets")
    assert code == 0
    for name in ("cora", "citeseer", "synthetic", "ogb:", "edgelist:", "npz:"):
        assert name in text


@pytest.fixture
def bad_files(tmp_path, data_root):
    """Files that the bad-input cases point at (in ``tmp_path``)."""
    d = tmp_path
    (d / "neg.txt").write_text("0 1\n-3 2\n")
    (d / "range.txt").write_text("0 1\n1 9\n")
    np.save(d / "xnan.npy", np.array([[1.0], [np.nan], [0.0]], np.float32))
    (d / "ok.txt").write_text("0 1\n1 2\n")
    np.savez(d / "mismatch.npz", src=[0, 1, 2], dst=[1, 2], x=np.ones((3, 1)))
    cora_copy = d / "cora_trunc"
    (cora_copy / "planetoid").mkdir(parents=True)
    for f in (data_root / "planetoid").glob("ind.cora.*"):
        shutil.copy(f, cora_copy / "planetoid" / f.name)
    tx = cora_copy / "planetoid" / "ind.cora.tx"
    tx.write_bytes(tx.read_bytes()[:100])
    (d / "exists").mkdir()
    (d / "blocker").write_text("")
    return d


# (id, argv with {d} = the bad files' folder, {data} = the datasets, {out} = a fresh output path, expected message)
BAD_INPUTS = [
    ("unknown dataset", "partition nosuch -k 2 -o {out}", "unknown dataset 'nosuch'"),
    ("missing file", "partition npz:{d}/missing.npz -k 2 -o {out}", "missing data file"),
    ("truncated pickle", "partition cora --root {d}/cora_trunc -k 2 -o {out}", "cannot read data file"),
    ("zero parts", "partition cora --root {data} -k 0 -o {out}", "--num-parts must be an integer >= 1 (got 0)"),
    ("too many parts", "partition cora --root {data} -k 5000 -o {out}",
     "--num-parts must be between 1 and the number of nodes (2708) (got 5000)"),
    ("negative id", "partition {d}/neg.txt -k 2 -o {out}", "`src` must hold node ids in [0, 3) (got -3)"),
    ("id out of range", "partition edgelist:{d}/range.txt,num_nodes=3 -k 2 -o {out}",
     "`dst` must hold node ids in [0, 3) (got 9)"),
    ("length mismatch", "partition {d}/mismatch.npz -k 2 -o {out}", "`src` and `dst` must have the same length (got 3 and 2)"),
    ("nan feature", "partition edgelist:{d}/ok.txt,x={d}/xnan.npy -k 2 -o {out}", "`x` must be finite (got nan at node 1"),
    ("output exists", "partition synthetic:nodes=100 -k 2 -o {d}/exists", "already exists (pass --overwrite"),
    ("output under a file", "partition synthetic:nodes=100 -k 2 -o {d}/blocker/out", "cannot create output directory"),
    ("output not writable", "partition synthetic:nodes=100 -k 2 -o /proc/gnnpart-out", "/proc is not writable"),
    ("bad balance", "partition synthetic:nodes=100 -k 2 -o {out} --balance nodes,weight", "--balance must be"),
    ("inspect no meta", "inspect {d}/exists", "meta.json is missing"),
    ("inspect nowhere", "inspect {d}/nowhere", "does not exist"),
]


@pytest.mark.parametrize("argv,message", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_gives_one_line_and_nonzero_exit(capsys, bad_files, data_root, argv, message):
    out = bad_files / "out"
    code, _, err = run(capsys, *argv.format(d=bad_files, data=data_root, out=out).split())
    lines = [ln for ln in err.splitlines() if not ln.startswith("[gnnpart")]
    assert code != 0
    assert len(lines) == 1 and message in lines[0], err
    assert not out.exists()


@pytest.mark.parametrize("launcher", [["gnnpart"], [sys.executable, "-m", "gnnpart"]])
def test_console_script_and_module(tmp_path, launcher):
    if launcher == ["gnnpart"] and shutil.which("gnnpart") is None:
        pytest.fail("the `gnnpart` console script is not installed (pip install --no-build-isolation -e .)")
    proc = subprocess.run(launcher + ["partition", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--num-parts" in proc.stdout and "--overwrite" in proc.stdout
    proc = subprocess.run(launcher + ["partition", "synthetic:nodes=-5", "-k", "2", "-o", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "synthetic `nodes` must be >= 2 (got -5)" in proc.stderr
    proc = subprocess.run(launcher + ["partition", "-k"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_train_options_come_from_the_dataclass_and_a_config_file(tmp_path):
    from gnnpart.cli import train_command as train
    from gnnpart.cli.main import build_parser

    cfg_file = tmp_path / "t.toml"
    cfg_file.write_text('part_dir = "/data/p"\nmodel = "sage"\nepochs = 7\nweight-decay = 0.001\nnorm = "batch"\n'
                        'halo = "int8"\nresidual = true\n')
    args = build_parser().parse_args(["train", "--config", str(cfg_file), "--epochs", "9"])
    job = train.config_from_args(args)
    cfg = job.config
    assert [str(p) for p in job.halo] == ["int8", "int8"]  # --halo parsed once, into policies
    assert (cfg.part_dir, cfg.model, cfg.epochs, cfg.weight_decay, cfg.norm, cfg.halo, cfg.residual) == \
        ("/data/p", "sage", 9, 0.001, "batch", "int8", True)  # the flag overrides the file
    assert cfg.hidden == train.TrainConfig.hidden == 16  # defaults: written once, on the dataclass
    assert "(default 16)" in build_parser()._subparsers._group_actions[0].choices["train"].format_help()


@pytest.mark.parametrize(
    "command,content,message",
    [
        ("partition", '{"overwrite": "false", "dataset": "synthetic:nodes=50", "num_parts": 2}',
         "`overwrite` must be true or false (got 'false')"),
        ("partition", '{"balance": 5, "dataset": "synthetic:nodes=50", "num_parts": 2}', "`balance` must be a string or null (got 5)"),
        ("partition", '{"num_parts": 2.5, "dataset": "synthetic:nodes=50"}', "`num_parts` must be an integer (got 2.5)"),
        ("partition", '{"dataset": "synthetic:nodes=50", "parts": 2}', "has unknown keys ['parts']"),
        ("train", '{"epochs": "10"}', "`epochs` must be an integer (got '10')"),
        ("train", '{"model": "mlp"}', "`model` must be one of gcn, sage, gat, gin, gine, rgcn (got 'mlp')"),
        ("train", '{"patience": 0, "part_dir": "x"}', "--patience must be >= 1 (got 0)"),
        ("train", '{"epochs": 3}', "PART_DIR is required (on the command line or in --config)"),
    ],
)
def test_config_values_are_checked_before_anything_runs(capsys, tmp_path, command, content, message):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "thesis.txt").write_text("years of work")
    cfg = tmp_path / "c.json"
    cfg.write_text(content)
    extra = ["--out", str(existing)] if command == "partition" else []
    code, _, err = run(capsys, command, "--config", str(cfg), *extra)
    assert code == 1 and message in err, err
    assert (existing / "thesis.txt").read_text() == "years of work"
