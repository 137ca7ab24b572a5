"""``gnnpart convert EDGELIST -n P``: P ranks, each parsing a byte range of the file, write the same graph directory
as one process, byte for byte; a bad line is named as one process names it, and nothing is left."""
import gzip
import shutil

import numpy as np
import pytest

from gnnpart.data.edge_slices import byte_range, count_lines, edge_list_source
from gnnpart.errors import DataError
from tests.mpi import gnnpart_cli


@pytest.fixture(scope="module")
def edge_list(tmp_path_factory):
    root = tmp_path_factory.mktemp("edges")
    rng = np.random.default_rng(3)
    n = 3000
    src, dst = rng.integers(0, n, 20000), rng.integers(0, n, 20000)
    with open(root / "el.txt", "w") as fh:
        fh.write("# a comment\n")
        for i, (a, b) in enumerate(zip(src, dst)):
            fh.write(f"{a} {b}\n" if i % 3 else f"{a},{b}\n")
            if i == 777:
                fh.write("\n")  # a blank line
    np.save(root / "x.npy", rng.normal(size=(n, 6)).astype(np.float32))
    y = rng.integers(0, 3, n)
    y[::5] = -1
    np.save(root / "y.npy", y)
    np.save(root / "train.npy", np.flatnonzero(y >= 0)[:700])
    return root


def same_files(a, b) -> list[str]:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    return [name for name in names if (a / name).read_bytes() != (b / name).read_bytes()]


@pytest.mark.parametrize("undirected", [True, False])
def test_slices_write_one_process_files(edge_list, tmp_path, undirected):
    root = edge_list
    spec = (f"edgelist:{root / 'el.txt'},x={root / 'x.npy'},y={root / 'y.npy'},train={root / 'train.npy'},"
            f"undirected={'true' if undirected else 'false'}")
    one = gnnpart_cli("-q", "convert", spec, "-o", tmp_path / "one")
    assert one.returncode == 0, one.stderr
    for n in (1, 3):  # -n 1: in this process, in slices; -n 3: three ranks under mpiexec
        proc = gnnpart_cli("-q", "convert", spec, "-o", tmp_path / f"n{n}", "-n", str(n), timeout=240)
        assert proc.returncode == 0, proc.stderr
        assert same_files(tmp_path / "one", tmp_path / f"n{n}") == []


def test_more_ranks_than_lines(tmp_path):
    (tmp_path / "tiny.txt").write_text("0 1\n1 2")  # no newline at the end
    one = gnnpart_cli("-q", "convert", tmp_path / "tiny.txt", "-o", tmp_path / "one")
    many = gnnpart_cli("-q", "convert", tmp_path / "tiny.txt", "-o", tmp_path / "many", "-n", "4", timeout=240)
    assert one.returncode == 0 and many.returncode == 0, many.stderr
    assert same_files(tmp_path / "one", tmp_path / "many") == []


def test_byte_ranges_cover_every_line_once(edge_list):
    path = edge_list / "el.txt"
    text = path.read_bytes()
    for size in (1, 2, 3, 7):
        ranges = [byte_range(path, r, size) for r in range(size)]
        assert ranges[0][0] == 0 and ranges[-1][1] == len(text)
        assert all(ranges[r][1] == ranges[r + 1][0] for r in range(size - 1))
        assert all(s == 0 or text[s - 1:s] == b"\n" for s, _ in ranges)
        assert sum(count_lines(path, s, e) for s, e in ranges) == text.count(b"\n")


def test_a_bad_line_is_named_as_one_process_names_it(edge_list, tmp_path):
    lines = (edge_list / "el.txt").read_text().splitlines(True)
    lines[15000] = "12 x\n"
    bad = tmp_path / "bad.txt"
    bad.write_text("".join(lines))
    one = gnnpart_cli("convert", bad, "-o", tmp_path / "one")
    assert one.returncode == 1 and "bad.txt, line 15001: node ids must be integers (got '12 x')" in one.stderr
    proc = gnnpart_cli("convert", bad, "-o", tmp_path / "out", "-n", "3", timeout=240)
    assert proc.returncode != 0
    assert ("converting in slices failed while parsing the lines on 1 of 3 ranks: rank 2: DataError: "
            f"{bad}, line 15001: node ids must be integers (got '12 x')") in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]  # no output, no temporary folder


def test_what_is_not_read_in_slices_is_refused(edge_list, tmp_path):
    with pytest.raises(DataError, match=r"`convert -n` reads text edge lists in slices .*got 'cora'\): convert other "
                                        r"datasets without -n"):
        edge_list_source("cora", tmp_path)
    packed = tmp_path / "el.txt.gz"
    with gzip.open(packed, "wb") as fh:
        fh.write((edge_list / "el.txt").read_bytes())
    with pytest.raises(DataError, match=r"reads byte ranges, which a gzip file .*el\.txt\.gz has not"):
        edge_list_source(f"edgelist:{packed}", tmp_path)
    proc = gnnpart_cli("convert", "cora", "-o", tmp_path / "out", "-n", "2")
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
