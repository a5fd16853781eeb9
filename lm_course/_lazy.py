"""Lazy re-exports for the ``lm_course.viz`` and ``lm_course.widgets``
namespaces: a name is imported from its module the first time it is used,
so ``import lm_course.viz`` stays fast and pulls in no heavy dependencies.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str]) -> tuple[list[str], Callable[[str], Any],
                                                                  Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for a package whose public names
    live in the modules given by ``where`` (``{name: module}``)."""
    names = sorted(where)

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return list(names)

    return names, __getattr__, __dir__
