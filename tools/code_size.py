#!/usr/bin/env python
"""How costly the package is to read: lines per module and per function.

Prints every module of ``lm_course`` over ``--max-module`` lines and every
function (or method) over ``--max-function`` lines, longest first, and exits
1 if there is any. A module's lines are its physical lines; a function's are
from its ``def`` (decorators excluded) to its last line, docstring included.
``tests/test_code_size.py`` runs it; CONTRIBUTING.md ("Map of the house")
states the limits.

    python tools/code_size.py            # the limits: 400 and 60
    python tools/code_size.py --all      # every module and the 15 longest functions
    python tools/code_size.py --path lm_course.__main__:_make_reference   # the reading path of a command

The reading path of a function is every package function it calls, and
they call, that a reader can find by its name (a plain call of a function
defined or imported in the module, or ``module.function``), with their
lines: what one reads to follow the command to its loop. Calls of methods
on objects (``model(x)``, ``recipe.build_model``) are not followed; the
model is read on its own.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lm_course"
MAX_MODULE = 400
MAX_FUNCTION = 60


def module_lines(package: Path = PACKAGE) -> dict[str, int]:
    """``{path relative to the package: physical lines}`` for every ``.py`` file."""
    return {str(p.relative_to(package)): len(p.read_text(encoding="utf-8").splitlines())
            for p in sorted(package.rglob("*.py"))}


def function_lines(package: Path = PACKAGE) -> list[tuple[int, str]]:
    """``[(lines, "module.py:qualified.name"), ...]`` for every function, longest first."""
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def visit(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    name = f"{prefix}{child.name}"
                    found.append((child.end_lineno - child.lineno + 1,
                                  f"{path.relative_to(package)}:{name}"))
                    visit(child, name + ".")
                elif isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")
        visit(tree, "")
    return sorted(found, reverse=True)


def _functions_of(module: str, package: Path = PACKAGE) -> tuple[dict[str, ast.AST], dict[str, str]]:
    """A module's top-level functions and the names it imports from the package (``name -> "mod:attr"``
    or ``name -> "mod"`` for an imported module)."""
    rel = module.split(".")[1:]
    path = package.joinpath(*rel).with_suffix(".py")
    if not path.exists():
        path = package.joinpath(*rel, "__init__.py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lm_course"):
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{node.module}:{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lm_course"):
                    imported[alias.asname or alias.name.split(".")[-1]] = alias.name
    return functions, imported


def reading_path(start: str, package: Path = PACKAGE, leaves: tuple[str, ...] = ()) -> list[tuple[int, str]]:
    """``[(lines, "module:function"), ...]`` of every package function reached from ``start``
    (``"lm_course.__main__:_make_reference"``) by calls a reader can resolve by name, in reading order.
    Functions of the modules in ``leaves`` (e.g. ``"lm_course.fileio"``) are counted but not followed:
    a reader trusts ``atomic_write`` without opening it."""
    seen: dict[str, int] = {}
    todo = [start]
    while todo:
        target = todo.pop(0)
        if target in seen:
            continue
        module, name = target.split(":")
        try:
            functions, imported = _functions_of(module, package)
        except (FileNotFoundError, SyntaxError):
            continue
        if name not in functions:
            if name in imported and ":" in imported[name]:  # re-exported: follow it
                todo.insert(0, imported[name])
            continue
        node = functions[name]
        seen[target] = node.end_lineno - node.lineno + 1
        if module in leaves:
            continue
        for call in ast.walk(node):
            if not isinstance(call, ast.Call):
                continue
            f = call.func
            if isinstance(f, ast.Name):
                if f.id in functions:
                    todo.append(f"{module}:{f.id}")
                elif f.id in imported and ":" in imported[f.id]:
                    todo.append(imported[f.id])
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in imported:
                source = imported[f.value.id]
                if ":" not in source:
                    todo.append(f"{source}:{f.attr}")
    return [(n, t) for t, n in seen.items()]


def over_limits(max_module: int = MAX_MODULE, max_function: int = MAX_FUNCTION,
                package: Path = PACKAGE) -> tuple[dict[str, int], list[tuple[int, str]]]:
    """The modules and functions over the limits."""
    modules = {m: n for m, n in module_lines(package).items() if n > max_module}
    functions = [(n, f) for n, f in function_lines(package) if n > max_function]
    return modules, functions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-module", type=int, default=MAX_MODULE)
    parser.add_argument("--max-function", type=int, default=MAX_FUNCTION)
    parser.add_argument("--all", action="store_true", help="print every module and the 15 longest functions")
    parser.add_argument("--path", metavar="MODULE:FUNCTION", help="print the reading path from a function")
    parser.add_argument("--leaves", nargs="*", default=[], metavar="MODULE",
                        help="with --path: modules whose functions are counted but not followed")
    args = parser.parse_args(argv)
    if args.path:
        path = reading_path(args.path, leaves=tuple(args.leaves))
        for n, target in path:
            print(f"{n:5d}  {target}")
        modules = sorted({t.split(":")[0] for _, t in path})
        print(f"{sum(n for n, _ in path):5d}  lines in {len(path)} functions of {len(modules)} modules "
              f"({', '.join(m.removeprefix('lm_course.') for m in modules)})")
        return 0
    if args.all:
        lines = module_lines()
        for m, n in sorted(lines.items(), key=lambda kv: -kv[1]):
            print(f"{n:5d}  {m}")
        print(f"{sum(lines.values()):5d}  in {len(lines)} modules\n")
        for n, f in function_lines()[:15]:
            print(f"{n:5d}  {f}")
        return 0
    modules, functions = over_limits(args.max_module, args.max_function)
    for m, n in sorted(modules.items(), key=lambda kv: -kv[1]):
        print(f"module over {args.max_module} lines: {m} ({n})")
    for n, f in functions:
        print(f"function over {args.max_function} lines: {f} ({n})")
    if not modules and not functions:
        print(f"every module has at most {args.max_module} lines, every function at most {args.max_function}")
    return 1 if modules or functions else 0


if __name__ == "__main__":
    sys.exit(main())
