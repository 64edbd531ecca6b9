"""``crossrank.__version__``: read from the installed distribution's metadata, so that
``pyproject.toml``'s ``version`` stays the one place a release sets it."""

from importlib.metadata import version

__version__ = version("crossrank")
