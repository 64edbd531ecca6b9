"""The ``crossrank`` command group and its entry point."""

from __future__ import annotations

import logging
import os
from typing import Any

import click

from ..errors import CrossRankError
from .ask import ask
from .evaluate import evaluate_command
from .index import index
from .mcp import mcp
from .serve import serve
from .train import train


class _Group(click.Group):
    """A crossrank error ends the command with one line and exit status 2, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CrossRankError as error:
            click.echo(f"crossrank: error: {error}", err=True)
            ctx.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="crossrank")
@click.option("--verbose", is_flag=True, help="Show the libraries' log messages too.")
def cli(verbose: bool) -> None:
    """Bi-encoder retrieval over Chroma, then cross-encoder reranking."""
    _logging(verbose)


for command in (index, ask, evaluate_command, train, serve, mcp):
    cli.add_command(command)


def _logging(verbose: bool) -> None:
    """crossrank's own warnings only; with --verbose, every library's info messages too.

    A library may set its own logger's level, so the filter sits on the handler that
    prints.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        force=True,
    )
    if not verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(logging.Filter("crossrank"))


def main() -> None:
    """Entry point of the ``crossrank`` console script."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cli.main(standalone_mode=True)
