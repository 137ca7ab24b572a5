"""Checks that a partition directory is a faithful split of its graph."""
from __future__ import annotations

import numpy as np

from gnnpart.data.csr import csr_rows
from gnnpart.partition import load_partition, read_meta


def check_partition(graph, out_dir, num_parts):
    """Reassemble ``out_dir`` and compare it with ``graph``; return the loaded parts and owners."""
    n = graph.num_nodes
    parts = [load_partition(out_dir, p) for p in range(num_parts)]
    owner = np.full(n, -1, dtype=np.int64)
    for p in parts:
        inner = p.global_ids[: p.num_inner]
        assert (owner[inner] == -1).all(), "a node is inner in two parts"
        owner[inner] = p.part_id
        assert np.all(np.diff(inner) > 0), "inner nodes must be in ascending global order"
    assert (owner >= 0).all(), "a node is inner in no part"

    keys = []
    in_deg, out_deg = graph.in_degree(), graph.out_degree()
    for p in parts:
        dst = p.global_ids[csr_rows(p.indptr)]
        src = p.global_ids[p.indices]
        keys.append(dst * n + src)
        halo = p.global_ids[p.num_inner :]
        assert len(np.unique(p.global_ids)) == p.num_local
        remote = np.unique(src[owner[src] != p.part_id])
        np.testing.assert_array_equal(np.sort(halo), remote)  # halo = distinct remote in-neighbours
        np.testing.assert_array_equal(p.halo_owner, owner[halo])
        assert np.all(np.diff(p.halo_owner) >= 0), "halo must be grouped by owner"
        np.testing.assert_array_equal(p.in_degree, in_deg[p.global_ids])
        np.testing.assert_array_equal(p.out_degree, out_deg[p.global_ids])
        inner = p.global_ids[: p.num_inner]
        np.testing.assert_array_equal(p.x, graph.x[inner])
        np.testing.assert_array_equal(p.y, graph.y[inner])  # NaN entries compare equal
        if graph.edge_attr is None:
            assert p.edge_attr is None
        else:  # each local edge carries the row of the same (source, target) edge of the graph
            attr_of = {k: i for i, k in enumerate((graph.edges()[1] * n + graph.edges()[0]).tolist())}
            rows = [attr_of[k] for k in (dst * n + src).tolist()]
            np.testing.assert_array_equal(p.edge_attr, graph.edge_attr[rows])
        for key in ("train_mask", "val_mask", "test_mask"):
            np.testing.assert_array_equal(getattr(p, key), getattr(graph, key)[inner])
        for q, (slots, remote_ids) in p.recv.items():
            assert q != p.part_id
            peer = parts[q]
            assert (remote_ids < peer.num_inner).all()
            np.testing.assert_array_equal(peer.global_ids[remote_ids], p.global_ids[slots])
            np.testing.assert_array_equal(peer.send[p.part_id], remote_ids)
        assert set(p.send) == {q.part_id for q in parts if p.part_id in q.recv}
        assert sum(len(s) for s, _ in p.recv.values()) == p.num_halo

    got = np.sort(np.concatenate(keys))
    src, dst = graph.edges()
    np.testing.assert_array_equal(got, np.sort(dst * n + src))  # exactly the original edge set

    stats = read_meta(out_dir)["stats"]
    assert stats["edge_cut"] == int((owner[src] != owner[dst]).sum())
    assert stats["halo_rows_total"] == sum(p.num_halo for p in parts)
    assert [d["inner"] for d in stats["parts"]] == [p.num_inner for p in parts]
    assert [d["train"] for d in stats["parts"]] == [int(p.train_mask.sum()) for p in parts]
    return parts, owner
