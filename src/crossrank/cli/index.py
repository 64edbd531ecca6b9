"""``crossrank index``: files and folders into a store."""

from __future__ import annotations

import click

from ..ingest import MAX_FILE_MB
from .options import StoreOptions, store_options


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@store_options()
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=None,
    help="Tokens per chunk (default: the bi-encoder's max_seq_length).",
)
@click.option(
    "--chunk-overlap",
    type=click.IntRange(min=0),
    default=32,
    show_default=True,
    help="Tokens shared by consecutive chunks.",
)
@click.option(
    "--max-file-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=MAX_FILE_MB,
    show_default=True,
    help="Larger files are skipped with a warning.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def index(
    paths: tuple[str, ...],
    store: StoreOptions,
    chunk_size: int | None,
    chunk_overlap: int,
    max_file_mb: float,
    quiet: bool,
) -> None:
    """Index files and folders of .txt, .md, .rst and .html."""
    opened = store.open()
    report = opened.index(
        paths,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        max_file_mb=max_file_mb,
        progress=not quiet,
    )
    click.echo(
        f"indexed {report.files} files: {report.chunks} chunks, {report.embedded} embedded, "
        f"{report.removed} stale removed; {opened.count()} chunks in {opened.connection.describe()}"
    )
