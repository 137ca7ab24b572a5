"""Data flows one way: raw files -> Graph (data) -> partition -> comm -> nn -> tasks -> rank -> sample -> checkpoint ->
infer -> train -> cli. No module imports from a floor after its own; the communication layer knows neither models,
nor training, nor the partition format, and the layers know no partition format either (a rank passes them
arrays). Imports are read with `ast` (nothing is executed)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gnnpart"

FLOORS = ("data", "partition", "comm", "nn", "tasks", "rank", "sample", "checkpoint", "infer", "train", "cli")
"""The floors, bottom first: each may import the floors below it, never one above."""
UTILITIES = ("hashing", "limits", "processes", "atomic", "lazy", "meta_file", "errors", "capabilities", "block_cache",
             "shuffle")
"""Modules every floor may use; they import no floor."""

# package -> the gnnpart packages it must not import
FORBIDDEN = {floor: FLOORS[i + 1:] for i, floor in enumerate(FLOORS)}
FORBIDDEN["comm"] += ("data", "partition")  # comm knows no partition format: it is given arrays
FORBIDDEN["nn"] += ("partition",)  # nor do the layers: a rank gives the local graph its arrays
FORBIDDEN.update({name: FLOORS for name in UTILITIES})


def gnnpart_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``gnnpart...`` import in a file, relative imports resolved."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    return imports_in(path.read_text(encoding="utf-8"), package)


def imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``gnnpart...`` import in ``source``, a module of ``package``."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return [(line, m) for line, m in found if m == "gnnpart" or m.startswith("gnnpart.")]


def modules_of(name: str) -> list[Path]:
    target = PACKAGE / name
    return sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_reaches_back_up_the_chain(package):
    files = modules_of(package)
    assert files and all(f.exists() for f in files)
    bad = [f"{f.relative_to(PACKAGE.parent)}:{line} imports {module}"
           for f in files for line, module in gnnpart_imports(f)
           if any(module == f"gnnpart.{other}" or module.startswith(f"gnnpart.{other}.") for other in FORBIDDEN[package])]
    assert not bad, "\n".join(bad)


def test_every_module_has_a_floor():
    top = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
           if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())) and p.name != "__init__.py"}
    assert top - {"__main__"} == set(FLOORS) | set(UTILITIES)


def test_comm_reads_no_partition_store():
    # the case the exchange redesign was about: comm imported the on-disk Partition type and nn's dropout op
    imports = {m for f in modules_of("comm") for _, m in gnnpart_imports(f)}
    assert "gnnpart.partition.store" not in imports and "gnnpart.nn.kernels" not in imports
    assert "gnnpart.hashing" in imports  # the hash that sampling shares with dropout, imported openly


def test_the_checker_sees_every_form_of_import():
    source = ("import numpy\nimport gnnpart.nn.models\nfrom gnnpart.train import Trainer\n"
              "def f():\n    from ..partition import store\n    from . import plan\n")
    assert imports_in(source, "gnnpart.comm") == [
        (2, "gnnpart.nn.models"), (3, "gnnpart.train"), (5, "gnnpart.partition"), (6, "gnnpart.comm")]
