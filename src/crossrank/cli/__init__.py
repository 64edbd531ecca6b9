"""The ``crossrank`` command: ``index`` files, ``ask`` questions, ``eval``, ``train`` and ``serve``.

One module per command; the options several commands share live in :mod:`.options`.
"""

from .main import cli, main

__all__ = ["cli", "main"]
