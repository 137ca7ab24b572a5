"""``gnnpart inspect``: statistics of a partition directory."""
from __future__ import annotations

import argparse
import json
import sys

FLOAT_BYTES = 4


def add_parser(sub) -> None:
    p = sub.add_parser(
        "inspect",
        help="print the statistics of a partition directory",
        description="Print a partition directory's statistics and the exact halo-exchange lower bound.",
    )
    p.add_argument("dir", metavar="DIR", help="partition directory")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--verify", action="store_true", help="also check every file's size and checksum, and the contents a checksum cannot vouch for")
    p.add_argument("--pairs", action="store_true",
                   help="also report, per pair of parts, the cut edges, the rows today's exact exchange sends and the "
                        "rows of a minimum cover (rows and partial sums: the least a sum-like layer needs)")
    hosts = p.add_mutually_exclusive_group()
    hosts.add_argument("--ranks-per-host", type=int, metavar="R",
                       help="also estimate what crosses the network with R consecutive parts (ranks) on each host, "
                            "as mpiexec and srun place them: the halo rows between hosts, and once per destination host")
    hosts.add_argument("--hosts", type=int, metavar="H",
                       help="the same with the parts spread over H hosts (ceil(P / H) consecutive parts a host)")
    p.set_defaults(handler=run_cli)


def summary(meta: dict) -> dict:
    """The JSON view of a partition's statistics (keys documented in the README)."""
    stats = meta["stats"]
    return {
        "num_parts": meta["num_parts"],
        "num_nodes": meta["num_nodes"],
        "num_edges": meta["num_edges"],
        "edge_cut": stats["edge_cut"],
        "halo_rows_total": stats["halo_rows_total"],
        "imbalance": stats["imbalance"],
        "parts": stats["parts"],
        "halo_bytes_per_channel": stats["halo_rows_total"] * FLOAT_BYTES,
        "dataset": meta["dataset"],
        "method": meta["method"],
        "balance": meta["balance"],
        "seed": meta["seed"],
        "num_features": meta["num_features"],
        "num_classes": meta["num_classes"],
        "task": meta["task"],
        "num_outputs": meta["num_outputs"],
        "num_edge_features": meta["num_edge_features"],
        "format_version": meta["version"],
        **({"node_types": meta["node_types"], "relations": meta["relations"], "type_widths": meta["type_widths"],
            "target_types": meta["target_types"], "by_type": stats.get("by_type", {}),
            "by_relation": stats.get("by_relation", {})} if meta.get("node_types") else {}),
    }


def format_summary(meta: dict, where: str) -> str:
    s = summary(meta)
    edges = max(s["num_edges"], 1)
    balance = f" (balance {','.join(s['balance'])})" if s["balance"] else ""
    lines = [
        f"partition {where}: {s['dataset']}, {s['method']}{balance}, seed {s['seed']}, format v{s['format_version']}",
        f"{s['num_nodes']:,} nodes, {s['num_edges']:,} edges, {s['num_features']} features, "
        + (f"{s['num_edge_features']} edge features, " if s["num_edge_features"] else "")
        + (f"{s['num_classes']} classes" if s["task"] == "multiclass" else f"{s['num_outputs']} {s['task']} targets")
        + f", {s['num_parts']} parts",
        f"{'part':>6} {'inner':>12} {'halo':>12} {'edges':>14} {'train':>10}",
    ]
    for i, p in enumerate(s["parts"]):
        lines.append(f"{i:>6} {p['inner']:>12,} {p['halo']:>12,} {p['edges']:>14,} {p['train']:>10,}")
    imb = s["imbalance"]
    lines += [
        f"imbalance (max/mean): nodes {imb['nodes']:.3f}, edges {imb['edges']:.3f}, train {imb['train']:.3f}",
        f"edge cut: {s['edge_cut']:,} of {s['num_edges']:,} stored edges ({100 * s['edge_cut'] / edges:.2f}%)",
        f"halo rows: {s['halo_rows_total']:,} in all; one exact halo exchange of a layer of width W moves "
        f"{s['halo_rows_total']:,} x 4 B x W = {s['halo_bytes_per_channel']:,} B x W "
        f"({s['halo_bytes_per_channel'] * 256 / 2**20:.2f} MiB at W=256)",
    ]
    if "node_types" in s:
        lines += _typed_lines(s)
    return "\n".join(lines)


def _typed_lines(s: dict) -> list[str]:
    """Per node type (its width, nodes per part, imbalance) and per relation (edges per part, imbalance)."""
    widths = dict(zip(s["node_types"], s["type_widths"]))
    targets = set(s["target_types"])
    lines = [f"{len(s['node_types'])} node types (nodes per part; imbalance):"]
    for name, row in s["by_type"].items():
        what = f"{widths[name]} features" if widths[name] else "featureless"
        mark = ", target" if name in targets else ""
        lines.append(f"  {name} ({what}{mark}): {' / '.join(f'{c:,}' for c in row['parts'])}; {row['imbalance']:.3f}")
    lines.append(f"{len(s['relations'])} relations (edges per part; imbalance):")
    for name, row in s["by_relation"].items():
        src, rel, dst = name.split("__")
        lines.append(f"  ({src}, {rel}, {dst}): {' / '.join(f'{c:,}' for c in row['parts'])}; {row['imbalance']:.3f}")
    return lines


def format_pairs(pairs: list[dict]) -> str:
    """The ``--pairs`` table, and its totals."""
    lines = [f"{'from':>5} {'to':>5} {'cut edges':>12} {'rows':>10} {'cover':>10} {'as rows':>10} {'as sums':>10}"]
    for d in pairs:
        cover = d["cover_rows"] + d["cover_sums"]
        lines.append(f"{d['from']:>5} {d['to']:>5} {d['cut_edges']:>12,} {d['rows']:>10,} {cover:>10,} "
                     f"{d['cover_rows']:>10,} {d['cover_sums']:>10,}")
    rows = sum(d["rows"] for d in pairs)
    cover = sum(d["cover_rows"] + d["cover_sums"] for d in pairs)
    lines.append(f"exact halo rows: {rows:,} today; a minimum cover of each pair's cut edges needs {cover:,} "
                 f"({cover / max(rows, 1):.3f}x), as rows or partial sums")
    return "\n".join(lines)


def format_hosts(traffic: dict) -> str:
    """The ``--ranks-per-host`` lines."""
    rows, cross, once = traffic["rows"], traffic["rows_internode"], traffic["rows_internode_once"]
    return (f"{traffic['hosts']} hosts, {traffic['ranks_per_host']} ranks each (consecutive parts): of the "
            f"{rows:,} halo rows of an exchange, {cross:,} cross hosts ({cross / max(rows, 1):.1%}; "
            f"{cross * FLOAT_BYTES:,} B x W at width W); sent once per (row, destination host): {once:,} "
            f"({once / max(cross, 1):.3f}x)")


def ranks_per_host(args, num_parts: int) -> int | None:
    """``--ranks-per-host``, or what ``--hosts`` makes of it; checked against the parts."""
    if args.ranks_per_host is None and args.hosts is None:
        return None
    if args.hosts is not None:
        if not 1 <= args.hosts <= num_parts:
            raise ValueError(f"--hosts must be between 1 and the number of parts ({num_parts}) (got {args.hosts})")
        return -(-num_parts // args.hosts)
    if args.ranks_per_host < 1:
        raise ValueError(f"--ranks-per-host must be >= 1 (got {args.ranks_per_host})")
    return args.ranks_per_host


def _progress(part: int, num_parts: int) -> None:
    print(f"gnnpart inspect: covering the cut edges into part {part + 1} of {num_parts}", file=sys.stderr, flush=True)


def run_cli(args: argparse.Namespace) -> int:
    from gnnpart.partition import read_meta
    from gnnpart.partition.verify import verify_partition

    meta = read_meta(args.dir)
    report = verify_partition(args.dir) if args.verify else None
    pairs = None
    if args.pairs:
        from gnnpart.partition.cover import cover_report

        pairs = cover_report(args.dir, progress=_progress if meta["num_parts"] > 4 else None)
    per_host, traffic = ranks_per_host(args, meta["num_parts"]), None
    if per_host is not None:
        from gnnpart.partition.hosts import host_traffic

        traffic = host_traffic(args.dir, per_host)
    if args.json:
        extra = {**({"verify": report} if report else {}), **({"pairs": pairs} if pairs is not None else {}),
                 **({"hosts": traffic} if traffic is not None else {})}
        print(json.dumps({**summary(meta), **extra}, indent=2))
    else:
        print(format_summary(meta, args.dir))
        if pairs is not None:
            print(format_pairs(pairs))
        if traffic is not None:
            print(format_hosts(traffic))
        if report:
            print(f"verified: {report['files']} files match their sizes and checksums; the contents are consistent "
                  "(indices in range, every node owned once, send and receive lists agree)")
    if report and report["unchecked"]:
        print(f"gnnpart inspect: could not check {len(report['unchecked'])} entries of meta.json that belong to no "
              f"part: {', '.join(report['unchecked'])}", file=sys.stderr)
        return 1
    return 0
