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
    args = parser.parse_args(argv)
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
