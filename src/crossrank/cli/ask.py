"""``crossrank ask``: the best passages for a question, as a table, JSON or an LLM's context."""

from __future__ import annotations

import json
import os
from contextlib import ExitStack
from typing import Any

import click

from .. import tracing
from ..client import RemotePipeline
from ..context import ContextBuilder
from ..errors import ModelNotFoundError
from ..hit import SOURCE, Hit
from ..pipeline import Pipeline
from ..settings import ORDERS
from ..store import Store
from .options import (
    CONTEXT,
    RETRIEVAL,
    RerankerOptions,
    RetrievalOptions,
    StoreOptions,
    reranker_options,
    retrieval_options,
    store_options,
)


@click.command()
@click.argument("question")
@store_options()
@reranker_options
@retrieval_options((RETRIEVAL.retrieval,))
@click.option(
    "--top-n",
    type=click.IntRange(min=1),
    default=None,
    help="Hits shown (default 5); with --context, hits offered to it (default all K).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Drop reranked hits scoring below this (scores are in [0, 1]).",
)
@click.option(
    "--context",
    "context_tokens",
    type=click.IntRange(min=16),
    default=None,
    metavar="TOKENS",
    help="Print the context an LLM would receive instead of a table: the best passages "
    "within TOKENS tokens, overlaps dropped, neighbours merged, numbered [n] with sources.",
)
@click.option(
    "--expand",
    type=click.IntRange(min=0),
    default=CONTEXT.expand,
    show_default=True,
    help="With --context: widen hits with up to this many neighbouring chunks a side.",
)
@click.option(
    "--order",
    type=click.Choice(ORDERS),
    default=CONTEXT.order,
    show_default=True,
    help="With --context: best first, or best at both ends (edges).",
)
@click.option(
    "--relative-cut",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=CONTEXT.relative_cut,
    help="With --context: leave out hits scoring below this share of the best score.",
)
@click.option(
    "--tokenizer",
    default=None,
    help="With --context: count tokens with tiktoken:ENCODING or a Hugging Face tokenizer "
    "(name or folder); default: one per word or punctuation mark.",
)
@click.option(
    "--server",
    default=None,
    envvar="CROSSRANK_SERVER",
    metavar="URL",
    help="Ask a `crossrank serve` server (its store and models) instead of loading any "
    "here; the store and model options are then the server's. Its API key comes from "
    "CROSSRANK_API_KEY.",
)
@click.option(
    "--trace",
    is_flag=True,
    help="Also print the stages (a tree, with timings) and each hit's rank at every stage.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def ask(
    question: str,
    store: StoreOptions,
    rerank: RerankerOptions,
    first: RetrievalOptions,
    top_n: int | None,
    threshold: float | None,
    context_tokens: int | None,
    expand: int,
    order: str,
    relative_cut: float | None,
    tokenizer: str | None,
    server: str | None,
    trace: bool,
    as_json: bool,
) -> None:
    """Answer QUESTION with the best passages: retrieve K, rerank, show TOP_N.

    With --context TOKENS, print them as an LLM's context instead: cited passages that
    fit TOKENS (see the docs, "Context for the LLM").
    """
    if not question.strip():
        raise click.BadParameter("the question is empty", param_hint="QUESTION")
    tracing.export_otlp("crossrank")  # when OTEL_EXPORTER_OTLP_* name an endpoint
    if top_n is None:
        top_n = rerank.k if context_tokens else 5
    with ExitStack() as stack:  # --trace: the stages run below, recorded as they end
        stages = stack.enter_context(tracing.recording()) if trace else []
        opened: Store | None = None
        if server:
            if context_tokens and expand:
                raise click.BadParameter(
                    "--expand reads the store, which the server holds: use --expand 0",
                    param_hint="--expand",
                )
            settings = first.settings(rerank.k)
            try:
                remote = RemotePipeline(
                    server,
                    top_n=top_n,
                    threshold=threshold,
                    rerank=not rerank.no_rerank,
                    settings=settings,
                )
            except ValueError as error:
                raise click.BadParameter(str(error), param_hint="--server") from None
            try:
                hits = remote.search(question)
            except ValueError as error:
                raise click.ClickException(str(error)) from None
            reranked = any(hit.rerank_score is not None for hit in hits)
        else:
            opened = store.open()
            if opened.count() == 0:
                raise click.ClickException(
                    f"{opened.connection.describe()} is empty or missing: run "
                    "`crossrank index PATH` first"
                )
            cross = rerank.load(store)
            settings = first.settings(rerank.k)
            pipeline = Pipeline(opened, cross, settings=settings, top_n=top_n, threshold=threshold)
            hits = pipeline.search(question)
            reranked = cross is not None
        context = None
        if context_tokens:
            try:
                builder = ContextBuilder(
                    budget=context_tokens,
                    expand=expand,
                    order=order,  # type: ignore[arg-type]
                    relative_cut=relative_cut,
                    tokenizer=tokenizer,
                    store=opened,
                )
            except ModelNotFoundError as error:
                raise click.BadParameter(str(error), param_hint="--tokenizer") from None
            context = builder.build(hits)
    if as_json:
        payload: dict[str, Any] = {
            "query": question,
            "reranked": reranked,
            "hits": [hit.to_dict() for hit in hits],
        }
        if context is not None:
            payload["context"] = context.to_dict()
        if trace:
            payload["trace"] = [
                {"stage": s.name, "depth": s.depth, "seconds": s.seconds, "ids": s.ids()}
                for s in stages
            ]
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    if context is not None:
        click.echo(context.text)
    else:
        _print_table(question, hits)
    if trace:
        _print_trace(stages, hits)


def _print_table(question: str, hits: list[Hit]) -> None:
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
            os.path.basename(str(hit.metadata.get(SOURCE, ""))),
            text[:300] + ("…" if len(text) > 300 else ""),
        )
    Console().print(table)


def _print_trace(stages: list[tracing.Stage], hits: list[Hit]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for stage in stages:
        console.print(f"{'  ' * stage.depth}{stage.name:<{24 - 2 * stage.depth}} "
                      f"{1000 * stage.seconds:9.1f} ms", highlight=False)  # fmt: skip
    ranked = tracing.ranks(stages)
    table = Table(title="rank of each hit at each stage")
    for column in ("#", *ranked, "source"):
        table.add_column(column, justify="right")
    for rank, hit in enumerate(hits, 1):
        at = [str(found[hit.id][0]) if hit.id in found else "-" for found in ranked.values()]
        table.add_row(str(rank), *at, os.path.basename(str(hit.metadata.get(SOURCE, ""))))
    console.print(table)
