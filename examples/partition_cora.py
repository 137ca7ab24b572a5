"""Partition Cora into 4 parts with METIS and look at what one rank would load.

    python examples/partition_cora.py [OUT_DIR]
"""
import sys
import tempfile

import gnnpart


def main(out_dir: str) -> None:
    graph = gnnpart.load("cora")  # raw Planetoid files under $GNNPART_DATA or ../shared/datasets
    print(graph)
    meta = gnnpart.partition_graph(graph, num_parts=4, out_dir=out_dir, method="metis", balance="nodes,train", overwrite=True)
    stats = meta["stats"]
    print(f"edge cut {stats['edge_cut']} of {meta['num_edges']} edges, {stats['halo_rows_total']} halo rows")

    part = gnnpart.load_partition(out_dir, 1)  # what rank 1 of 4 loads, and nothing more
    print(f"part 1: {part.num_inner} inner nodes, {part.num_halo} halo nodes, {len(part.indices)} local edges")
    for peer, (slots, remote_ids) in part.recv.items():
        print(f"  receives {len(slots)} rows from part {peer}; sends {len(part.send.get(peer, []))} rows to it")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="gnnpart-cora-"))
