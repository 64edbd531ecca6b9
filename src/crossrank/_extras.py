"""Imports of optional extras, with an error that says what to install."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ``ImportError`` naming ``pip install "crossrank[extra]"``."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f'{module} is needed for this; install it with: pip install "crossrank[{extra}]"'
        ) from error
