"""``crossrank index``: files and folders into a store, in this process or on a Ray cluster."""

from __future__ import annotations

from pathlib import Path

import click

from ..ingest import MAX_FILE_MB
from .options import StoreOptions, store_options


@click.command()
# Not required=True: `--ray DIR` takes DIR as the address, and a missing PATHS is then
# better told with that fix.
@click.argument("paths", nargs=-1, type=click.Path(), metavar="PATHS...")
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
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Embed and write on a Ray cluster (needs --chroma): ADDRESS, e.g. auto or "
    "ray://HEAD:10001, else RAY_ADDRESS's, else a local one. Put it after the paths, "
    "or write --ray=ADDRESS.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="With --ray: embedding workers [default: 1].",
)
@click.option(
    "--gpus-per-worker",
    type=click.FloatRange(min=0),
    default=None,
    help="With --ray: GPUs per worker [default: 0, embed on CPUs].",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def index(
    paths: tuple[str, ...],
    store: StoreOptions,
    chunk_size: int | None,
    chunk_overlap: int,
    max_file_mb: float,
    ray_address: str | None,
    workers: int | None,
    gpus_per_worker: float | None,
    quiet: bool,
) -> None:
    """Index files and folders of text, Markdown, HTML, source code, PDF and .docx."""
    if ray_address and Path(ray_address).exists():
        raise click.BadParameter(
            f"{ray_address!r} is a path, not a Ray address: put --ray after the paths, "
            "or write --ray=ADDRESS",
            param_hint="--ray",
        )
    if not paths:
        raise click.UsageError("Missing argument 'PATHS...'.")
    if ray_address is None:
        for name, value in (("--workers", workers), ("--gpus-per-worker", gpus_per_worker)):
            if value is not None:
                raise click.BadParameter("only with --ray", param_hint=name)
        opened = store.open()
        report = opened.index(
            paths,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            max_file_mb=max_file_mb,
            progress=not quiet,
        )
    else:
        if not store.chroma_url:
            raise click.BadParameter(
                "Ray workers on other machines cannot write the local folder --db: serve it "
                "with `chroma run --path DIR` and pass --chroma http://HOST:PORT",
                param_hint="--ray",
            )
        from .. import ray as on_ray
        from .._extras import require

        try:
            require("ray", "ray")
        except ImportError as error:
            raise click.ClickException(str(error)) from None
        opened = store.open()
        report = on_ray.index(
            paths,
            store=opened,
            workers=workers or 1,
            gpus_per_worker=gpus_per_worker or 0.0,
            address=ray_address or None,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            max_file_mb=max_file_mb,
            progress=not quiet,
        )
    click.echo(
        f"indexed {report.files} files: {report.chunks} chunks, {report.embedded} embedded, "
        f"{report.removed} stale removed; {opened.count()} chunks in {opened.connection.describe()}"
    )
