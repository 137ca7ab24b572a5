"""``gnnpart convert EDGELIST --out DIR -n P``: a text edge list converted by P MPI ranks, each parsing a byte range
of the file; the same graph directory as one process writes.

Rank ``r`` reads the bytes ``[r S / P, (r + 1) S / P)`` of the file of ``S`` bytes, moved forward to the next line
start at both ends (so every line is read by exactly one rank), after counting its lines so that an error names
the line as one process would. It parses them as :mod:`gnnpart.data.convert` does, and sends each edge (and its
reverse for an undirected graph) to the rank whose range of nodes holds its target, in bounded all-to-alls
(:mod:`gnnpart.shuffle`); each rank then sorts its rows (sources sorted and distinct in each row). Rank 0 lays out
the graph directory's arrays at their final sizes, each rank writes its rows of the structure and its rows of
``x``, ``y`` and the masks (the ``.npy`` files given are mapped), and rank 0 writes ``meta.json`` last and renames
the folder into place. Each step is agreed by the ranks: a failure on any fails all of them, naming each failing
rank, and leaves nothing. The labels and masks given (small ``[N]`` arrays) are read and checked whole by every
rank; the features and the edges only in slices. A rank holds its edges in memory (about :data:`BYTES_PER_LINE` a
line, twice for an undirected graph), where one process builds the CSR in passes: a rank that cannot is refused
before parsing, in one line.

Only uncompressed edge lists are read in slices (a gzip stream has no byte ranges); other datasets are refused in
one line (convert them without ``-n``).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gnnpart.data import files
from gnnpart.data.graph import check_features, labelled_rows, normalize_labels
from gnnpart.data.sliced import agree_slices, bounds, local_rows, ranks_on_host
from gnnpart.errors import DataError
from gnnpart.limits import require_memory
from gnnpart.processes import attempt

log = logging.getLogger(__name__)

_READ_BYTES = 64 << 20
_CHUNK_LINES = 1 << 21
BYTES_PER_LINE = 96
"""A rank's bytes per edge it parses (twice for an undirected graph): the pairs, their exchange, the sorted rows."""


def edge_list_source(spec: str, root) -> tuple[Path, dict]:
    """The edge list file and its options (``x``, ``y``, ``train``, ``val``, ``test``, ``num_nodes``,
    ``undirected``) of ``spec``, or ``DataError`` for a dataset that is not an uncompressed edge list."""
    from gnnpart.data.convert import edgelist_options
    from gnnpart.data.loading import default_root

    root = Path(root) if root is not None else default_root()
    scheme, sep, rest = spec.partition(":")
    if sep and scheme.strip().lower() == "edgelist":
        text = rest
    elif not sep and Path(spec).suffix in files.EDGELIST_SUFFIXES:
        text = spec
    else:
        raise DataError(f"`convert -n` reads text edge lists in slices (edgelist:FILE or a {', '.join(files.EDGELIST_SUFFIXES)} "
                        f"file; got '{spec}'): convert other datasets without -n")
    path, arrays, undirected, given = edgelist_options(text, root)
    if path.suffix == ".gz":
        raise DataError(f"`convert -n` reads byte ranges, which a gzip file {path} has not: decompress it, or convert "
                        "it without -n")
    if not path.is_file():
        raise DataError(f"missing data file: {path}")
    return path, {"arrays": arrays, "undirected": undirected, "num_nodes": given}


def _line_start(fh, pos: int) -> int:
    """The first line start at or after byte ``pos``."""
    if pos == 0:
        return 0
    fh.seek(pos - 1)
    fh.readline()
    return fh.tell()


def byte_range(path: Path, rank: int, size: int) -> tuple[int, int]:
    """Rank ``rank``'s bytes ``[start, end)`` of the file: whole lines, every line in exactly one range."""
    total = path.stat().st_size
    with open(path, "rb") as fh:
        return _line_start(fh, rank * total // size), _line_start(fh, (rank + 1) * total // size)


def count_lines(path: Path, start: int, end: int) -> int:
    """Lines that begin in ``[start, end)``."""
    lines, last = 0, b"\n"
    with open(path, "rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0:
            block = fh.read(min(_READ_BYTES, left))
            if not block:
                break
            lines += block.count(b"\n")
            last = block[-1:]
            left -= len(block)
    return lines + (last != b"\n")


def parse_range(path: Path, start: int, end: int, first_line: int) -> tuple[np.ndarray, np.ndarray]:
    """``(src, dst)`` of the edges on the lines of ``[start, end)`` (line numbers from ``first_line``)."""
    from gnnpart.data.convert import _parse_chunk

    pairs = []
    with open(path, "rb") as fh:
        fh.seek(start)
        lineno = first_line
        while fh.tell() < end:
            lines = []
            while len(lines) < _CHUNK_LINES and fh.tell() < end:
                lines.append(fh.readline())
            pairs.append(_parse_chunk(lines, path, lineno))
            lineno += len(lines)
    both = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    return both[:, 0], both[:, 1]


def convert_sliced(spec: str, out, root=None, overwrite: bool = False, comm=None) -> dict:
    """Convert the edge list ``spec`` to the graph directory ``out`` on the ranks of ``comm`` (mpi4py; ``None``:
    alone), every rank calling this with the same arguments; the module's steps.

    Returns:
        dict: the ``meta.json`` written (on every rank).

    Raises:
        DataError: for a dataset that is not an uncompressed edge list, or bad input (one line, as ``load``).
        SlicesFailed: when a step fails on any rank (on every rank, naming the ranks).
    """
    from gnnpart.atomic import check_output_dir
    from gnnpart.data.graph_dir import KIND, GraphDirWriter
    from gnnpart.shuffle import exchange, holder_of

    rank, size = (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())

    def agree(error, step, writer=None):
        agree_slices(comm, error, step, writer, work="converting")

    def prepare():
        path, opts = edge_list_source(spec, root)
        if rank == 0:
            check_output_dir(out, overwrite, KIND)
        start, end = byte_range(path, rank, size)
        return path, opts, start, end, count_lines(path, start, end)

    got, error = attempt(prepare)
    agree(error, "checking the input and the output")
    path, opts, start, end, lines = got
    on_host = 1 if comm is None else ranks_on_host(comm)
    need = BYTES_PER_LINE * lines * (2 if opts["undirected"] else 1) * on_host
    _, error = attempt(require_memory, need, f"converting {lines:,} lines of {path} on a rank ({on_host} on this host)",
                       "convert on more ranks (-n), or without -n (the edges then go in passes)")
    agree(error, "planning the memory")
    before = 0 if comm is None else int(np.sum(comm.allgather(lines)[:rank]))
    parsed, error = attempt(parse_range, path, start, end, before + 1)
    agree(error, "parsing the lines")
    src, dst = parsed
    arrays = opts["arrays"]

    def sizes(src, dst):
        if len(src) and min(int(src.min()), int(dst.min())) < 0:
            name = "src" if src.min() < 0 else "dst"
            raise DataError(f"{path}: `{name}` must hold node ids >= 0 (got {min(int(src.min()), int(dst.min()))})")
        x = files.load_npy_mapped(arrays["x"], "x") if "x" in arrays else None
        y = files.load_npy(arrays["y"], "y") if "y" in arrays else None
        return x, y, max(int(src.max()) if len(src) else -1, int(dst.max()) if len(dst) else -1)

    got, error = attempt(sizes, src, dst)
    agree(error, "reading the node ids")
    x, y, top = got
    top = top if comm is None else max(comm.allgather(top))
    num_nodes = opts["num_nodes"] if opts["num_nodes"] is not None else \
        max([top + 1] + [len(a) for a in (x, y) if a is not None])
    edges = bounds(num_nodes, size)
    lo, hi = int(edges[rank]), int(edges[rank + 1])

    def inputs():
        files.check_node_count(num_nodes, path)
        require_memory(24 * (hi - lo) * on_host, f"the {hi - lo:,} nodes of a rank ({on_host} on this host) of "
                       f"{path}", "convert on more ranks (-n)")
        if top >= num_nodes:
            raise DataError(f"{path}: node id {top} is beyond `num_nodes` ({num_nodes})")
        if x is not None:
            check_features(x, num_nodes)
            step = max(1, _READ_BYTES // max(1, 4 * int(x.shape[1])))
            for at in range(lo, hi, step):  # this rank's rows, a block at a time
                block = np.asarray(x[at:min(hi, at + step)], dtype=np.float32)
                if not np.isfinite(block).all():
                    row = at + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
                    raise DataError(f"`x` must be finite (got NaN or inf at node {row})")
        # the labels given are checked whole, as one process does; without them only this rank's rows exist
        labels = np.full(hi - lo, -1, dtype=np.int64) if y is None else normalize_labels(y, num_nodes)[lo:hi]
        masks = {key: files.as_mask(files.load_npy(arrays[short], key), num_nodes, key)
                 for key, short in (("train_mask", "train"), ("val_mask", "val"), ("test_mask", "test"))
                 if short in arrays}
        known = labelled_rows(labels)
        for key, mask in masks.items():
            if mask is not None and (mask[lo:hi] & ~known).any():
                raise DataError(f"`{key}` must select labelled nodes only (got unlabelled node "
                                f"{lo + int(np.flatnonzero(mask[lo:hi] & ~known)[0])})")
        return labels, masks

    got, error = attempt(inputs)
    agree(error, "checking the features, labels and masks")
    labels, masks = got
    rows, cols = (np.concatenate([dst, src]), np.concatenate([src, dst])) if opts["undirected"] else (dst, src)
    del src, dst
    if comm is not None and size > 1:
        moved = exchange(comm, holder_of(edges, rows), np.stack([rows, cols], axis=1))
        rows, cols = moved[:, 0], moved[:, 1]
    built, error = attempt(local_rows, rows, cols, lo, hi, num_nodes)
    agree(error, "sorting the rows")
    indptr, indices = built
    del rows, cols
    counts = [len(indices)] if comm is None else comm.allgather(len(indices))
    num_edges, first_edge = int(sum(counts)), int(sum(counts[:rank]))
    width = 1 if x is None else int(x.shape[1])
    fields = {"indptr": ((num_nodes + 1,), np.int64), "indices": ((num_edges,), np.int64),
              "x": ((num_nodes, width), np.float32), "y": ((num_nodes,) + labels.shape[1:], labels.dtype),
              "train_mask": ((num_nodes,), np.bool_), "val_mask": ((num_nodes,), np.bool_),
              "test_mask": ((num_nodes,), np.bool_)}
    writer = GraphDirWriter(out, overwrite) if rank == 0 else None

    def lay_out():
        writer.__enter__()
        for name, (shape, dtype) in fields.items():
            writer.lay_out(name, shape, dtype)
        return writer.tmp

    tmp, error = attempt(lay_out) if rank == 0 else (None, None)
    agree(error, "laying out the arrays", writer)
    tmp = tmp if comm is None else comm.bcast(tmp, root=0)

    def write_rows():
        if not Path(tmp).is_dir():
            raise FileNotFoundError(f"{tmp} is not seen from this rank's host: the output must be on a file system "
                                    "every rank sees")
        a = np.lib.format.open_memmap(Path(tmp) / "indptr.npy", mode="r+")
        a[lo:hi] = first_edge + indptr[:-1]
        if rank == size - 1:
            a[num_nodes] = num_edges
        a.flush()
        a = np.lib.format.open_memmap(Path(tmp) / "indices.npy", mode="r+")
        a[first_edge:first_edge + len(indices)] = indices
        a.flush()
        a = np.lib.format.open_memmap(Path(tmp) / "x.npy", mode="r+")
        step = max(1, (64 << 20) // (4 * width))
        for at in range(lo, hi, step):
            stop = min(hi, at + step)
            a[at:stop] = 1.0 if x is None else np.asarray(x[at:stop], dtype=np.float32)
        a.flush()
        values = {"y": labels, **{key: masks.get(key) for key in ("train_mask", "val_mask", "test_mask")}}
        for name, value in values.items():
            a = np.lib.format.open_memmap(Path(tmp) / f"{name}.npy", mode="r+")
            a[lo:hi] = False if value is None else (value if name == "y" else value[lo:hi])
            a.flush()

    _, error = attempt(write_rows)
    agree(error, "writing the rows", writer)

    def finish():
        meta = writer.finish(str(path), num_nodes, num_edges, width, opts["undirected"])
        writer.__exit__(None, None, None)
        return meta

    meta, error = attempt(finish) if rank == 0 else (None, None)
    if error is not None and writer.tmp is not None and writer.tmp.exists():
        writer.__exit__(type(error), error, None)
    agree(error, "writing meta.json")
    log.info("converted %s in %d slices: %d nodes, %d edges", path, size, num_nodes, num_edges)
    return meta if comm is None else comm.bcast(meta, root=0)
