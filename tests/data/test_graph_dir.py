"""Graph directories: written in blocks, read memory-mapped, equal to the graph they came from; the chunked CSR
build, `gnnpart convert` and `gnnpart generate`."""
import json

import numpy as np
import pytest

from gnnpart.data import load
from gnnpart.data.convert import convert
from gnnpart.data.csr import coo_to_csr, csr_from_chunks
from gnnpart.data.graph_dir import GraphDirWriter, open_graph, write_graph
from gnnpart.data.synthetic import SyntheticSpec, generate, generate_to_dir
from gnnpart.errors import DataError
from tests.data.test_ogb import make_ogb
from tests.mpi import gnnpart_in_process

FIELDS = ("indptr", "indices", "x", "y", "train_mask", "val_mask", "test_mask", "edge_attr")


def assert_same_graph(a, b):
    for field in FIELDS:
        got, want = getattr(b, field), getattr(a, field)
        assert (got is None) == (want is None), field
        if want is not None:
            assert got.dtype == want.dtype and got.shape == want.shape, field
            np.testing.assert_array_equal(got, want, err_msg=field)
    assert a.undirected == b.undirected and a.task == b.task


def mapped(array) -> bool:
    while array is not None and not isinstance(array, np.memmap):
        array = array.base
    return isinstance(array, np.memmap)


@pytest.mark.parametrize("spec", ["synthetic:nodes=3000,edge_features=3,task=regression:2",
                                  "synthetic:nodes=500,features=7,task=multilabel:3"])
def test_write_then_open_gives_the_same_graph_memory_mapped(spec, tmp_path):
    graph = load(spec)
    meta = write_graph(graph, tmp_path / "g")
    opened = open_graph(tmp_path / "g")
    assert_same_graph(graph, opened)
    assert mapped(opened.x) and mapped(opened.indices)  # read from the files, not into memory
    assert meta["num_nodes"] == graph.num_nodes and meta["fields"]["x"]["shape"] == list(graph.x.shape)
    assert load(str(tmp_path / "g")).num_edges == graph.num_edges  # a bare path is a dataset spec
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"]  # no temporary left


def test_an_interrupted_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="disk gone"):
        with GraphDirWriter(tmp_path / "g") as w:
            w.save("indptr", np.zeros(3, dtype=np.int64))
            raise RuntimeError("disk gone")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def stored(tmp_path):
    write_graph(load("synthetic:nodes=400,features=6"), tmp_path / "g")
    return tmp_path / "g"


def test_damaged_directories_are_refused_naming_the_file(stored):
    meta = json.loads((stored / "meta.json").read_text())
    x = np.load(stored / "x.npy")
    x[123, 4] = np.nan
    np.save(stored / "x.npy", x)
    with pytest.raises(DataError, match=r"`x` must be finite \(got nan at node 123, feature 4\)"):
        open_graph(stored)
    np.save(stored / "x.npy", x[:100])
    with pytest.raises(DataError, match=r"x.npy has shape \[100, 6\], expected \[400, 6\]"):
        open_graph(stored)
    np.save(stored / "x.npy", x.astype(np.float64))
    with pytest.raises(DataError, match=r"x.npy has dtype float64, expected float32"):
        open_graph(stored)
    (stored / "meta.json").write_text(json.dumps(dict(meta, format="other")))
    with pytest.raises(DataError, match="is not a gnnpart graph description"):
        open_graph(stored)
    (stored / "meta.json").unlink()
    with pytest.raises(DataError, match="meta.json is missing"):
        open_graph(stored)


def test_overwrite_replaces_only_a_graph_directory(stored, tmp_path):
    with pytest.raises(FileExistsError, match="already exists"):
        write_graph(load("synthetic:nodes=300"), stored)
    write_graph(load("synthetic:nodes=300"), stored, overwrite=True)
    assert open_graph(stored).num_nodes == 300
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="neither a gnnpart graph directory"):
        write_graph(load("synthetic:nodes=300"), other, overwrite=True)
    assert (other / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("spec", ["nodes=70000,features=5,edge_features=2,task=regression:3", "nodes=300,degree=4"])
def test_generate_to_dir_is_the_in_memory_generator(spec, tmp_path):
    """The features are drawn and written in blocks (70,000 rows: two blocks), the same draws as in memory."""
    parsed = SyntheticSpec.parse(spec)
    generate_to_dir(parsed, tmp_path / "g")
    assert_same_graph(generate(parsed), open_graph(tmp_path / "g"))


def test_feature_blocks_are_one_draw(monkeypatch):
    """Features drawn a block at a time are the draws of one [N, F] draw, whatever the block size."""
    from gnnpart.data import synthetic

    spec = SyntheticSpec.parse("nodes=1000,features=24,classes=3")
    labels = np.arange(1000) % 3
    whole = np.random.default_rng(9)
    centroids = whole.standard_normal((3, 24), dtype=np.float32)
    want = whole.standard_normal((1000, 24), dtype=np.float32)
    want += (centroids * np.float32(spec.signal * synthetic._SIGNAL_SCALE / np.sqrt(24)))[labels]
    for block_bytes in (4 * 24 * 7, 4 * 24 * 1000):
        monkeypatch.setattr(synthetic, "_BLOCK_BYTES", block_bytes)
        rng = np.random.default_rng(9)
        got = np.concatenate([b for _, b in synthetic._feature_blocks(spec, rng, labels)])
        np.testing.assert_array_equal(got, want)
        state = np.random.default_rng(9)
        state.standard_normal((3, 24), dtype=np.float32), state.standard_normal((1000, 24), dtype=np.float32)
        assert rng.random() == state.random()  # the draws that follow are the same too


@pytest.mark.parametrize("chunk", [1, 2, 7, 1000])
@pytest.mark.parametrize("symmetric", [False, True])
def test_chunked_csr_build_equals_the_in_memory_build(chunk, symmetric):
    """Duplicates, self loops and unsorted input; chunks and sorting passes that split rows."""
    rng = np.random.default_rng(chunk)
    n = 50
    row, col = rng.integers(0, n, 400), rng.integers(0, n, 400)
    row = np.concatenate([row, row[:100], [3, 3, 9]])  # repeats and self loops
    col = np.concatenate([col, col[:100], [3, 3, 9]])

    def chunks():
        for i in range(0, len(row), chunk):
            yield row[i : i + chunk], col[i : i + chunk]

    for dedup in (True, False):
        got = csr_from_chunks(chunks, n, dedup=dedup, symmetric=symmetric, row_chunk_edges=max(1, chunk // 2))
        r, c = (np.concatenate([row, col]), np.concatenate([col, row])) if symmetric else (row, col)
        want = coo_to_csr(r, c, n, dedup=dedup)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    with pytest.raises(ValueError, match=r"`col` must hold node ids in \[0, 50\) \(got 50\)"):
        csr_from_chunks(lambda: iter([(np.array([1]), np.array([50]))]), n)


@pytest.fixture
def edge_list(tmp_path):
    """An edge list with comments, blank lines, three separators, repeats and self loops, unsorted; arrays."""
    rng = np.random.default_rng(0)
    n = 300
    src, dst = rng.integers(0, n - 5, 2000), rng.integers(0, n - 5, 2000)
    lines, separators, blank = ["# a comment"], (" ", ",", "\t"), "\n"
    for i, (a, b) in enumerate(zip(src, dst)):
        lines.append(f"{a}{separators[i % 3]}{b}" + ("  # note" if i % 50 == 0 else "") + (blank if i % 97 == 0 else ""))
    lines += ["7 7", "7 7", "12 40"]
    (tmp_path / "e.txt").write_text("\n".join(lines) + "\n")
    np.save(tmp_path / "x.npy", rng.standard_normal((n, 5)))  # float64: converted
    np.save(tmp_path / "y.npy", rng.integers(0, 3, n))
    np.save(tmp_path / "train.npy", np.arange(0, n, 4))
    return tmp_path


@pytest.mark.parametrize("options", ["", ",undirected=true", ",x={d}/x.npy,y={d}/y.npy,train={d}/train.npy",
                                     ",num_nodes=400,undirected=true"])
@pytest.mark.parametrize("chunk_lines", [3, 64, 100000])
def test_convert_edge_list_in_chunks_equals_load(edge_list, options, chunk_lines):
    spec = f"edgelist:{edge_list}/e.txt" + options.format(d=edge_list)
    convert(spec, edge_list / "g", chunk_lines=chunk_lines)
    assert_same_graph(load(spec), open_graph(edge_list / "g"))


@pytest.mark.parametrize("lines, bad, message", [
    ("5 x\n2 4\n", "5 x", "node ids must be integers"),
    ("3\n7\n2 4\n", "3", "expected `src dst`, two node ids"),  # fields that pair up overall, not line by line
    (",1,2\n", ",1,2", "node ids must be integers"),
    ("0 1 9\n5 x\n", "0 1 9", r"expected `src dst`, two node ids"),  # a third column is refused, not dropped
])
def test_convert_edge_list_names_the_bad_line(edge_list, lines, bad, message):
    """A chunk whose lines are not all two plain integers is read line by line, as load reads it, and the first
    bad line is named alike."""
    with open(edge_list / "e.txt", "a") as fh:
        fh.write(lines)
    with pytest.raises(DataError, match=rf"e.txt, line 2\d\d\d: {message} \(got '{bad}'\)"):
        load(f"edgelist:{edge_list}/e.txt")
    with pytest.raises(DataError, match=rf"e.txt, line 2\d\d\d: {message} \(got '{bad}'\)"):
        convert(f"edgelist:{edge_list}/e.txt", edge_list / "g", chunk_lines=64)
    assert not (edge_list / "g").exists()


def test_convert_names_an_id_beyond_num_nodes(edge_list):
    with pytest.raises(DataError, match=r"e.txt: `(src|dst)` must hold node ids in \[0, 100\) \(got \d+\) \(num_nodes = 100\)"):
        convert(f"edgelist:{edge_list}/e.txt,num_nodes=100", edge_list / "g", chunk_lines=64)


@pytest.mark.parametrize("undirected", [False, True])
def test_convert_ogb_in_chunks_equals_load(tmp_path, undirected):
    root = make_ogb(tmp_path / "ogbn_tiny")
    spec = f"ogb:{root}" + (",undirected=true" if undirected else "")
    convert(spec, tmp_path / "g", chunk_lines=2)
    assert_same_graph(load(spec), open_graph(tmp_path / "g"))


def test_convert_and_generate_commands_round_trip(capsys, tmp_path, data_root):
    proc = gnnpart_in_process(capsys, "convert", "cora", "--out", tmp_path / "cora", "--root", data_root)
    assert proc.returncode == 0 and "2,708 nodes, 10,556 edges, 1433 features" in proc.stdout, proc.stderr
    assert_same_graph(load("cora", root=data_root), load(str(tmp_path / "cora")))
    spec = "nodes=2000,features=8,edge_features=2"
    proc = gnnpart_in_process(capsys, "generate", spec, "--out", tmp_path / "syn")
    assert proc.returncode == 0 and "2,000 nodes" in proc.stdout, proc.stderr
    assert_same_graph(load("synthetic:" + spec), open_graph(tmp_path / "syn"))
    proc = gnnpart_in_process(capsys, "generate", spec, "--out", tmp_path / "syn")
    assert proc.returncode == 1 and "already exists" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
