"""Package attributes imported from their submodule on first use (PEP 562).

Importing ``conveyor.data`` or ``conveyor.bundle`` must not import Polars, numpy or
scikit-learn: a cached run, the CLI's start and ``--help`` never need them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose names live in submodules.

    Args:
        package: the package's ``__name__``.
        homes: public name -> submodule (relative to ``package``) that defines it.

    Example:
        >>> __getattr__, __dir__ = lazy_exports(__name__, {"clean": "_clean"})  # doctest: +SKIP
    """

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(homes))

    return __getattr__, __dir__
