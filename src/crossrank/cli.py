"""The ``crossrank`` command: ``index`` files, ``ask`` questions."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import click

from ._models import DEFAULT_ENCODER, DEFAULT_RERANKER
from .encoder import Encoder
from .errors import CrossRankError, ModelNotFoundError
from .reranker import Reranker
from .store import DEFAULT_COLLECTION, DEFAULT_DB, Store


def _store_options(command: Any) -> Any:
    options = [
        click.option(
            "--db",
            default=DEFAULT_DB,
            envvar="CROSSRANK_DB",
            show_default=True,
            help="Directory of the embedded Chroma database.",
        ),
        click.option(
            "--collection",
            default=DEFAULT_COLLECTION,
            show_default=True,
            help="Chroma collection name.",
        ),
        click.option(
            "--model",
            default=DEFAULT_ENCODER,
            envvar="CROSSRANK_MODEL",
            show_default=True,
            help="Bi-encoder name or local folder.",
        ),
        click.option("--device", default=None, help="cpu, cuda, mps... (default: best found)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _store(db: str, collection: str, model: str, device: str | None) -> Store:
    return Store(db, collection, Encoder(model, device=device))


@click.group()
@click.version_option(package_name="crossrank")
def cli() -> None:
    """Bi-encoder retrieval over Chroma, then cross-encoder reranking."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_store_options
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
@click.option("--quiet", is_flag=True, help="No progress bar.")
def index(
    paths: tuple[str, ...],
    db: str,
    collection: str,
    model: str,
    device: str | None,
    chunk_size: int | None,
    chunk_overlap: int,
    quiet: bool,
) -> None:
    """Index files and folders of .txt, .md, .rst and .html."""
    store = _store(db, collection, model, device)
    report = store.index(
        paths, chunk_size=chunk_size, chunk_overlap=chunk_overlap, progress=not quiet
    )
    click.echo(
        f"indexed {report.files} files: {report.chunks} chunks, {report.embedded} embedded, "
        f"{report.removed} stale removed; {store.count()} chunks in {collection!r} at {db}"
    )


@cli.command()
@click.argument("question")
@_store_options
@click.option(
    "--k",
    "k",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Candidates retrieved for the reranker.",
)
@click.option(
    "--top-n", type=click.IntRange(min=1), default=5, show_default=True, help="Hits shown."
)
@click.option("--no-rerank", is_flag=True, help="Show retrieval order; load no cross-encoder.")
@click.option(
    "--reranker",
    default=DEFAULT_RERANKER,
    envvar="CROSSRANK_RERANKER",
    show_default=True,
    help="Cross-encoder name or local folder.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Drop reranked hits scoring below this (scores are in [0, 1]).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Pairs per cross-encoder forward pass.",
)
@click.option(
    "--max-length",
    type=click.IntRange(min=16),
    default=None,
    help="Cross-encoder tokens per pair (default: the model's).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def ask(
    question: str,
    db: str,
    collection: str,
    model: str,
    device: str | None,
    k: int,
    top_n: int,
    no_rerank: bool,
    reranker: str,
    threshold: float | None,
    batch_size: int,
    max_length: int | None,
    as_json: bool,
) -> None:
    """Answer QUESTION with the best passages: retrieve K, rerank, show TOP_N."""
    if not question.strip():
        raise click.BadParameter("the question is empty", param_hint="QUESTION")
    store = _store(db, collection, model, device)
    if store.count() == 0:
        raise click.ClickException(
            f"collection {collection!r} at {db} is empty: run `crossrank index PATH` first"
        )
    hits = store.search(question, max(k, top_n))
    reranked = False
    if not no_rerank:
        cross = Reranker(reranker, device=device, batch_size=batch_size, max_length=max_length)
        try:
            hits = cross.rerank(question, hits, threshold=threshold)
            reranked = True
        except ModelNotFoundError as error:
            click.echo(
                f"crossrank: no reranking ({error}); set --reranker or CROSSRANK_RERANKER to a "
                "local cross-encoder folder. Showing retrieval order.",
                err=True,
            )
    hits = hits[:top_n]
    if as_json:
        payload = {
            "query": question,
            "reranked": reranked,
            "hits": [
                {key: value for key, value in hit.to_dict().items() if key != "metadata"}
                for hit in hits
            ],
        }
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    _print_table(question, hits)


def _print_table(question: str, hits: list) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=question, show_lines=True)
    for column in ("#", "rerank", "retrieval", "source", "text"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, 1):
        rerank = "-" if hit.rerank_score is None else f"{hit.rerank_score:.3f}"
        text = " ".join(hit.text.split())
        table.add_row(
            str(rank),
            rerank,
            f"{hit.retrieval_score:.3f}",
            os.path.basename(str(hit.metadata.get("source", ""))),
            text[:300] + ("…" if len(text) > 300 else ""),
        )
    Console().print(table)


def main() -> None:
    """Entry point of the ``crossrank`` console script."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cli.main(standalone_mode=True)
    except CrossRankError as error:
        click.echo(f"crossrank: error: {error}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
