"""Every public class and function of gnnpart.comm has a docstring; those that take arguments say what each is
(``Args:``) and those that take or return tensors give their shapes (``Shapes:``, or shapes written in the
argument descriptions as ``[N, F]``). Read with `ast`, so the rule covers what the code defines, not what it
imports."""
import ast
import re
from pathlib import Path

import pytest

COMM = Path(__file__).resolve().parent.parent.parent / "gnnpart" / "comm"
SHAPE = re.compile(r"Shapes:|\[[A-Za-z0-9_, +*]+\]")


def public_defs(path: Path):
    """``(qualified name, node)`` of the public functions and classes (and their public methods) of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            yield node.name, node
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and not item.name.startswith("_"):
                        yield f"{node.name}.{item.name}", item


def arguments(node: ast.FunctionDef) -> list[ast.arg]:
    args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
    return [a for a in args if a.arg not in ("self", "cls", "ctx")]


def mentions_tensor(node: ast.FunctionDef) -> bool:
    annotations = [a.annotation for a in arguments(node)] + [node.returns]
    return any(a is not None and "Tensor" in ast.unparse(a) for a in annotations)


def inherits_doc(name: str, defs: dict) -> bool:
    """A method that implements an interface method documented in the same module (e.g. RowChoice.choose)."""
    method = name.split(".")[-1]
    return any(other.endswith(f".{method}") and ast.get_docstring(node) for other, node in defs.items())


CASES = [(path, name) for path in sorted(COMM.rglob("*.py")) for name, _ in public_defs(path)]


@pytest.mark.parametrize("path,name", CASES, ids=[f"{p.relative_to(COMM).with_suffix('')}.{n}" for p, n in CASES])
def test_documented(path, name):
    defs = dict(public_defs(path))
    node = defs[name]
    doc = ast.get_docstring(node)
    if isinstance(node, ast.ClassDef):
        assert doc, f"{path.name}: class {name} has no docstring"
        return
    if doc is None and "." in name and inherits_doc(name, defs):
        return  # documented once, on the interface it implements
    assert doc, f"{path.name}: {name} has no docstring"
    args = arguments(node)
    described = "Args:" in doc or "same arguments" in doc or all(f"``{a.arg}``" in doc for a in args)
    assert not args or described, f"{path.name}: {name} does not describe its arguments (Args:)"
    if mentions_tensor(node):
        assert SHAPE.search(doc), f"{path.name}: {name} takes or returns tensors but gives no shapes"
