"""The package's imports, read with `ast` (nothing is executed): no import circle anywhere, deferred imports and
the lazy export tables of the packages (gnnpart.lazy) included; one module per name; and every lazy export names
what its module defines."""
import ast
import importlib
from pathlib import Path

import pytest

from tests.test_layering import PACKAGE, imports_in

MODULES = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
           for p in sorted(PACKAGE.rglob("*.py"))}
EXTENSIONS = {".".join(p.relative_to(PACKAGE.parent).parts[:-1] + (p.name.split(".")[0],))
              for p in PACKAGE.rglob("*.so")}  # gnnpart._C: `from gnnpart import _C` imports it, not the package


def lazy_targets(source: str) -> list[str]:
    """The modules named by ``lazy_exports(__name__, {...})`` tables in ``source`` (string constants)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_exports":
            table = node.args[1]
            assert isinstance(table, ast.Dict), "lazy_exports takes a dict literal (the cycle test reads it)"
            for value in table.values:
                if isinstance(value, ast.Constant):
                    found.append(value.value)
                elif isinstance(value, ast.Name):  # a module-level constant naming the module
                    found += [n.value.value for n in ast.parse(source).body if isinstance(n, ast.Assign)
                              and any(getattr(t, "id", None) == value.id for t in n.targets)]
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the gnnpart modules it imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    graph = {}
    for name, path in MODULES.items():
        source = path.read_text(encoding="utf-8")
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = set()
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = imports_in(ast.unparse(node), package)
                for _, module in base:
                    subs = [f"{module}.{a.name}" for a in node.names
                            if f"{module}.{a.name}" in MODULES or f"{module}.{a.name}" in EXTENSIONS]
                    edges.update(subs or [module])
            elif isinstance(node, ast.Import):
                edges.update(m for _, m in imports_in(ast.unparse(node), package))
        edges.update(lazy_targets(source))
        graph[name] = {e for e in edges if e in MODULES and e != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    graph = import_graph()
    assert graph["gnnpart.train.trainer"] and graph["gnnpart.comm"]  # the graph sees imports and lazy tables
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_circle_through_a_deferred_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    source = "def f():\n    from gnnpart.train import trainer\n"
    assert ("gnnpart.train" in {m for _, m in imports_in(source, "gnnpart.cli")})


def test_one_module_per_name():
    """No two modules share a name, and no module is named as a package (``cli/train.py`` beside ``train/``)."""
    stems = [p.stem for p in PACKAGE.rglob("*.py") if p.stem not in ("__init__", "__main__")]
    packages = [p.name for p in PACKAGE.rglob("*") if p.is_dir() and (p / "__init__.py").exists()]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    assert repeated == [], f"modules sharing a name: {repeated}"
    assert sorted(set(stems) & set(packages)) == []


def test_no_package_exports_a_name_that_is_also_its_submodule():
    """Importing ``pkg.name`` sets the attribute ``pkg.name`` to the module: an export of that name would be
    shadowed (as ``gnnpart.data.load`` was)."""
    for name, path in MODULES.items():
        if path.name != "__init__.py":
            continue
        exported = set()
        for table in lazy_targets_tables(path.read_text(encoding="utf-8")):
            exported |= table
        submodules = {p.stem for p in path.parent.glob("*.py")} | {p.name for p in path.parent.iterdir() if p.is_dir()}
        assert exported & submodules == set(), f"{name} exports {sorted(exported & submodules)}, also submodules"


def lazy_targets_tables(source: str) -> list[set]:
    """The exported names (the keys) of each ``lazy_exports(__name__, {...})`` table in ``source``."""
    return [{k.value for k in node.args[1].keys} for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_exports"]


@pytest.mark.parametrize("package", sorted(n for n, p in MODULES.items() if p.name == "__init__.py"))
def test_lazy_exports_name_what_their_modules_define(package):
    module = importlib.import_module(package)
    for name in getattr(module, "__all__", []):
        value = getattr(module, name)
        assert not isinstance(value, type(module)), f"{package}.{name} is a module, not the name it exports"
        assert name in dir(module)
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        getattr(module, "nothing_here")


def test_packages_import_nothing_until_a_name_is_used():
    import subprocess
    import sys

    code = ("import sys, gnnpart, gnnpart.comm, gnnpart.nn, gnnpart.train, gnnpart.rank, gnnpart.infer, gnnpart.data; "
            "print(sorted(m for m in sys.modules if m.startswith(('torch', 'torch_geometric', 'mpi4py'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent).stdout
    assert out.strip() == "[]"


def test_a_missing_extension_is_an_import_error_that_says_how_to_build_it():
    import subprocess
    import sys

    code = ("import sys\n"
            "class NoExtension:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'gnnpart._C':\n"
            "            raise ImportError('No module named gnnpart._C')\n"
            "sys.meta_path.insert(0, NoExtension())\n"
            "import gnnpart  # costs nothing, needs nothing\n"
            "try:\n"
            "    gnnpart.load\n"
            "except ImportError as exc:\n"
            "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent).stdout
    assert "gnnpart's compiled extension gnnpart._C could not be imported" in out
    assert "pip install --no-build-isolation -e ." in out
