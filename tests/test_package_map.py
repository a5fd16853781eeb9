"""The package docstring is the complete map of lm_course: one line per public module."""

import ast
import re
from pathlib import Path

import lm_course

ROOT = Path(lm_course.__file__).resolve().parent


def test_the_package_docstring_lists_every_public_module_once():
    modules = sorted(p.stem if p.is_file() else p.name for p in ROOT.iterdir()
                     if (p.suffix == ".py" and not p.stem.startswith("_"))
                     or (p.is_dir() and (p / "__init__.py").exists() and not p.name.startswith("_")))
    lines = [line.split() for line in lm_course.__doc__.splitlines() if line.startswith("    lm_course.")]
    named = [words[0].removeprefix("lm_course.") for words in lines]
    assert sorted(named) == modules  # every module, once, and nothing that is not one
    assert all(len(re.findall(r"lm_course\.\w+", " ".join(w))) == 1 for w in lines)  # one module per line


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The package modules ``path`` imports anywhere (top level or inside a function),
    except under ``if TYPE_CHECKING:``, which never runs."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.update(m for m in [base, *(f"{base}.{a.name}" for a in node.names)] if m in known)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found - {name}


def test_no_module_imports_one_that_imports_it_back():
    """No import cycle among lm_course's modules, at import time or inside a function
    (the package itself, which re-exports, is left out: it imports every module)."""
    paths = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {name: _imports(path, name, set(paths)) - {"lm_course"} for name, path in paths.items()}

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = sorted((a, b) for a in graph if a != "lm_course" for b in graph[a] if a in reachable(b))
    assert cycles == []
