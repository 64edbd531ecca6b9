"""The ``crossrank`` command: ``index`` files, ``ask`` questions, ``eval`` and ``train``."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from typing import Any

import click

from .client import RemotePipeline
from .context import ContextBuilder
from .encoder import Encoder
from .errors import CrossRankError, ModelNotFoundError
from .hit import SOURCE, Hit
from .ingest import MAX_FILE_MB
from .pipeline import Pipeline
from .reranker import Reranker
from .settings import (
    DEFAULT_COLLECTION,
    DEFAULT_DB,
    DEFAULT_ENCODER,
    FUSIONS,
    ORDERS,
    PRECISIONS,
    RETRIEVALS,
    Connection,
    ContextSettings,
    RerankerSettings,
    RetrievalSettings,
    ServerLimits,
)
from .store import Store

RERANKER = RerankerSettings()  # the defaults the options show
RETRIEVAL = RetrievalSettings()
CONTEXT = ContextSettings()
LIMITS = ServerLimits()


def _store_options(db: str | None = DEFAULT_DB) -> Any:
    """The options naming a store; ``db=None`` means a scratch store unless --db is given."""
    options = [
        click.option(
            "--db",
            default=db,
            envvar="CROSSRANK_DB" if db else None,
            show_default=True,
            help="Directory of the embedded Chroma database.",
        ),
        click.option(
            "--chroma",
            "chroma_url",
            default=None,
            envvar="CROSSRANK_CHROMA",
            metavar="URL",
            help="A Chroma server (http://HOST:PORT) instead of --db. "
            "A bearer token comes from CROSSRANK_CHROMA_TOKEN.",
        ),
        click.option(
            "--collection",
            default=DEFAULT_COLLECTION,
            show_default=True,
            help="Chroma collection name.",
        ),
        click.option(
            "--model",
            default=None,
            envvar="CROSSRANK_MODEL",
            help=f"Bi-encoder name or local folder [default: {DEFAULT_ENCODER}]. Name it to "
            "open a collection another library (langchain-chroma, LlamaIndex) built.",
        ),
        click.option("--device", default=None, help="cpu, cuda, mps... (default: best found)."),
        click.option(
            "--precision",
            type=click.Choice(PRECISIONS),
            default="auto",
            show_default=True,
            help="Model precision: fp32 is exact, bf16/fp16 fast; auto is bf16/fp16 on a GPU, "
            "and on a CPU bf16 for the reranker where the CPU does bf16 natively, else fp32.",
        ),
    ]
    return _all(options)


def _all(options: list[Any]) -> Any:
    """One decorator applying several click options, in the order listed."""

    def decorate(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _store(
    db: str,
    chroma_url: str | None,
    collection: str,
    model: str | None,
    device: str | None,
    precision: str,
) -> Store:
    token = os.environ.get("CROSSRANK_CHROMA_TOKEN")
    try:
        if chroma_url:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            connection = Connection.from_url(chroma_url, collection=collection, headers=headers)
        else:
            connection = Connection(db, collection)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--chroma/--collection") from None
    encoder = Encoder(model or DEFAULT_ENCODER, device=device, precision=precision)
    store = Store(encoder=encoder, connection=connection)
    store.collection.named = model is not None  # only a named model opens a foreign collection
    return store


@click.group()
@click.version_option(package_name="crossrank")
@click.option("--verbose", is_flag=True, help="Show the libraries' log messages too.")
def cli(verbose: bool) -> None:
    """Bi-encoder retrieval over Chroma, then cross-encoder reranking."""
    _logging(verbose)


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


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_store_options()
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
    db: str,
    chroma_url: str | None,
    collection: str,
    model: str | None,
    device: str | None,
    precision: str,
    chunk_size: int | None,
    chunk_overlap: int,
    max_file_mb: float,
    quiet: bool,
) -> None:
    """Index files and folders of .txt, .md, .rst and .html."""
    store = _store(db, chroma_url, collection, model, device, precision)
    report = store.index(
        paths,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        max_file_mb=max_file_mb,
        progress=not quiet,
    )
    click.echo(
        f"indexed {report.files} files: {report.chunks} chunks, {report.embedded} embedded, "
        f"{report.removed} stale removed; {store.count()} chunks in {store.connection.describe()}"
    )


_reranker_options = _all(
    [
        click.option(
            "--k",
            "k",
            type=click.IntRange(min=1),
            default=RETRIEVAL.fetch_k,
            show_default=True,
            help="Candidates retrieved for the reranker.",
        ),
        click.option("--no-rerank", is_flag=True, help="Retrieval order only; no cross-encoder."),
        click.option(
            "--reranker",
            default=RERANKER.model,
            envvar="CROSSRANK_RERANKER",
            show_default=True,
            help="Cross-encoder name or local folder.",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            default=RERANKER.batch_size,
            show_default=True,
            help="Pairs per cross-encoder forward pass.",
        ),
        click.option(
            "--max-length",
            type=click.IntRange(min=16),
            default=None,
            help="Cross-encoder tokens per pair (default: the model's).",
        ),
        click.option(
            "--retrieval-weight",
            type=click.FloatRange(0.0, 1.0),
            default=RERANKER.retrieval_weight,
            show_default=True,
            help="Order by reciprocal-rank fusion of the rerank order with the retrieval "
            "order, giving retrieval this weight (0: rerank order alone).",
        ),
    ]
)


def _retrieval_options(modes: tuple[str, ...]) -> Any:
    """How the first stage retrieves; ``ask`` takes one mode, ``eval`` several."""
    weights = ",".join(f"{value:g}" for value in RETRIEVAL.weights.values())
    return _all(
        [
            click.option(
                "--retrieval",
                type=click.Choice(RETRIEVALS),
                multiple=len(modes) > 1,
                default=modes if len(modes) > 1 else modes[0],
                show_default=True,
                help="dense (bi-encoder; paraphrases), bm25 (exact words: names, error "
                "messages), or hybrid (both, fused)."
                + (" Repeat to evaluate several." if len(modes) > 1 else ""),
            ),
            click.option(
                "--fusion",
                type=click.Choice(FUSIONS),
                default=RETRIEVAL.fusion,
                show_default=True,
                help="Hybrid fusion: weighted reciprocal rank, or weighted normalized scores.",
            ),
            click.option(
                "--weights",
                default=weights,
                show_default=True,
                help="Hybrid weights of dense and bm25, as DENSE,BM25.",
            ),
            click.option(
                "--mmr",
                type=click.FloatRange(0.0, 1.0),
                default=None,
                help="Diversify candidates by MMR with this lambda (1: relevance only).",
            ),
        ]
    )


def _pipeline(
    store: Store,
    retrieval: str,
    fusion: str,
    weights: str,
    mmr: float | None,
    k: int,
    reranker: Reranker | None = None,
    **cutoffs: Any,
) -> Pipeline:
    settings = _retrieval_settings(retrieval, fusion, weights, mmr, k)
    return Pipeline(store, reranker, settings=settings, **cutoffs)


def _retrieval_settings(
    retrieval: str, fusion: str, weights: str, mmr: float | None, k: int
) -> RetrievalSettings:
    try:
        dense, bm25 = (float(value) for value in weights.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{weights!r}: expected two numbers, DENSE,BM25 (e.g. 0.7,0.3)", param_hint="--weights"
        ) from None
    try:
        settings = RetrievalSettings(
            retrieval,  # type: ignore[arg-type]  # click.Choice checked it
            fusion,  # type: ignore[arg-type]
            {"dense": dense, "bm25": bm25},
            k,
            mmr,
        )
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--weights") from None
    return settings


def _new_reranker(
    name: str,
    device: str | None,
    precision: str,
    batch_size: int,
    max_length: int | None,
    retrieval_weight: float,
) -> Reranker:
    """The cross-encoder the reranker options describe (not loaded yet)."""
    return Reranker(
        name,
        device=device,
        precision=precision,
        batch_size=batch_size,
        max_length=max_length,
        retrieval_weight=retrieval_weight,
    )


def _reranker(
    no_rerank: bool,
    name: str,
    device: str | None,
    precision: str,
    batch_size: int,
    max_length: int | None,
    retrieval_weight: float = 0.0,
) -> Reranker | None:
    """The loaded cross-encoder, or None (said in one line) when it cannot be loaded."""
    if no_rerank:
        return None
    try:
        return _new_reranker(
            name, device, precision, batch_size, max_length, retrieval_weight
        ).load()
    except ModelNotFoundError as error:
        click.echo(
            f"crossrank: no reranking ({error}); set --reranker or CROSSRANK_RERANKER to a "
            "local cross-encoder folder. Showing retrieval order.",
            err=True,
        )
        return None


@cli.command()
@click.argument("question")
@_store_options()
@_reranker_options
@_retrieval_options((RETRIEVAL.retrieval,))
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def ask(
    question: str,
    db: str,
    chroma_url: str | None,
    collection: str,
    model: str | None,
    device: str | None,
    precision: str,
    k: int,
    no_rerank: bool,
    reranker: str,
    batch_size: int,
    max_length: int | None,
    retrieval_weight: float,
    retrieval: str,
    fusion: str,
    weights: str,
    mmr: float | None,
    top_n: int | None,
    threshold: float | None,
    context_tokens: int | None,
    expand: int,
    order: str,
    relative_cut: float | None,
    tokenizer: str | None,
    server: str | None,
    as_json: bool,
) -> None:
    """Answer QUESTION with the best passages: retrieve K, rerank, show TOP_N.

    With --context TOKENS, print them as an LLM's context instead: cited passages that
    fit TOKENS (see the README, "Context for the LLM").
    """
    if not question.strip():
        raise click.BadParameter("the question is empty", param_hint="QUESTION")
    if top_n is None:
        top_n = k if context_tokens else 5
    store: Store | None = None
    if server:
        if context_tokens and expand:
            raise click.BadParameter(
                "--expand reads the store, which the server holds: use --expand 0",
                param_hint="--expand",
            )
        settings = _retrieval_settings(retrieval, fusion, weights, mmr, k)
        try:
            remote = RemotePipeline(
                server, top_n=top_n, threshold=threshold, rerank=not no_rerank, settings=settings
            )
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--server") from None
        try:
            hits = remote.search(question)
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        reranked = any(hit.rerank_score is not None for hit in hits)
    else:
        store = _store(db, chroma_url, collection, model, device, precision)
        if store.count() == 0:
            raise click.ClickException(
                f"{store.connection.describe()} is empty or missing: run `crossrank index PATH` "
                "first"
            )
        cross = _reranker(
            no_rerank, reranker, device, precision, batch_size, max_length, retrieval_weight
        )
        pipeline = _pipeline(
            store, retrieval, fusion, weights, mmr, k, cross, top_n=top_n, threshold=threshold
        )
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
                store=store,
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
        click.echo(json.dumps(payload, ensure_ascii=False))
    elif context is not None:
        click.echo(context.text)
    else:
        _print_table(question, hits)


@cli.command(name="eval")
@click.option(
    "--dataset",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="A BEIR-format folder: corpus.jsonl, queries.jsonl, qrels/test.tsv.",
)
@_store_options(db=None)
@_reranker_options
@_retrieval_options(RETRIEVALS)
@click.option("--split", default="test", show_default=True, help="Which qrels/<split>.tsv.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    default=None,
    help="Save recall@k and nDCG@10 charts per stage to this image file.",
)
def evaluate_command(
    dataset: str,
    db: str | None,
    chroma_url: str | None,
    collection: str,
    model: str | None,
    device: str | None,
    precision: str,
    k: int,
    no_rerank: bool,
    reranker: str,
    batch_size: int,
    max_length: int | None,
    retrieval_weight: float,
    retrieval: tuple[str, ...],
    fusion: str,
    weights: str,
    mmr: float | None,
    split: str,
    as_json: bool,
    plot: str | None,
) -> None:
    """Measure nDCG@10, Recall@10/100 and MRR@10 of each stage on a BEIR-format dataset.

    The corpus is indexed into a fresh store (kept with --db; an unchanged corpus is not
    embedded again). Each --retrieval mode is a stage; its +rerank stage reorders its top K.
    """
    from . import evaluate as ev

    data = ev.load_beir(dataset, split)
    cross = _reranker(
        no_rerank, reranker, device, precision, batch_size, max_length, retrieval_weight
    )
    with tempfile.TemporaryDirectory() as scratch:
        store = _store(db or scratch, chroma_url, collection, model, device, precision)
        ev.index_corpus(store, data, progress=not as_json)
        retrievers = {
            mode + ("+mmr" if mmr is not None else ""): _pipeline(
                store, mode, fusion, weights, mmr, k
            )
            for mode in retrieval
        }
        results = ev.evaluate(store, data, reranker=cross, k=k, retrievers=retrievers)
    if plot:
        ev.plot(data.qrels, results, plot)
    if as_json:
        stages = {
            name: {**result.metrics, "queries_per_second": result.queries_per_second}
            for name, result in results.items()
        }
        click.echo(json.dumps({"dataset": dataset, "queries": len(data.qrels), "stages": stages}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{dataset}: {len(data.qrels)} judged queries, {len(data.corpus)} docs")
    for column in ("stage", *ev.METRICS, "queries/s"):
        table.add_column(column, justify="right")
    for name, result in results.items():
        cells = [f"{result.metrics[metric]:.4f}" for metric in ev.METRICS]
        table.add_row(name, *cells, f"{result.queries_per_second:.1f}")
    Console().print(table)


@cli.command()
@click.argument("out", type=click.Path(file_okay=False))
@_store_options()
@click.option(
    "--base",
    default=DEFAULT_ENCODER,
    show_default=True,
    help="Start from this cross-encoder, or bi-encoder (its encoder gets a fresh score head).",
)
@click.option(
    "--pairs",
    multiple=True,
    type=click.Path(dir_okay=False),
    help='Labelled pairs: JSON lines {"query": ..., "passage": ...}. Repeatable.',
)
@click.option(
    "--qrels",
    "qrels_dataset",
    type=click.Path(exists=True, file_okay=False),
    help="A BEIR folder whose qrels/train.tsv labels its corpus (indexed into --db).",
)
@click.option("--no-pseudo", is_flag=True, help="No pseudo-queries from the index's headings.")
@click.option(
    "--max-examples",
    type=click.IntRange(min=1),
    default=None,
    help="Use at most this many pseudo-queries (a random, seeded sample).",
)
@click.option("--negatives", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=1.0)
@click.option("--batch-size", type=click.IntRange(min=2), default=16, show_default=True)
@click.option(
    "--learning-rate", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True
)
@click.option(
    "--max-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop training (and save the model) after this many minutes.",
)
@click.option("--resume", is_flag=True, help="Continue from OUT's last checkpoint.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(
    out: str,
    db: str,
    chroma_url: str | None,
    collection: str,
    model: str | None,
    device: str | None,
    precision: str,
    base: str,
    pairs: tuple[str, ...],
    qrels_dataset: str | None,
    no_pseudo: bool,
    max_examples: int | None,
    negatives: int,
    epochs: float,
    batch_size: int,
    learning_rate: float,
    max_minutes: float | None,
    resume: bool,
    seed: int,
    quiet: bool,
) -> None:
    """Train a reranker for the indexed corpus and save it to OUT; no hand labels needed.

    Pseudo-queries are the heading paths of the indexed Markdown/reST sections, each with
    its section's first chunk as the answer; --pairs and --qrels add labelled ones. Hard
    negatives are mined with hybrid retrieval. Use the result with --reranker OUT.
    """
    from . import train as tr
    from .beir import load_beir

    store = _store(db, chroma_url, collection, model, device, precision)
    if store.count() == 0:
        raise click.ClickException(f"{store.connection.describe()} is empty: index first")
    examples, data = tr.gather(
        store,
        pseudo=not no_pseudo,
        max_examples=max_examples,
        pairs=pairs,
        qrels=load_beir(qrels_dataset, "train") if qrels_dataset else None,
        seed=seed,
        progress=not quiet,
    )
    rows = tr.mine(Pipeline(store), examples, negatives=negatives, seed=seed, progress=not quiet)
    report = tr.train(
        rows,
        out,
        base=base,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        max_minutes=max_minutes,
        resume=resume,
        seed=seed,
        precision=precision,
        device=device,
        progress=not quiet,
        data=data,
    )
    click.echo(
        f"trained {out}: {report.examples} rows, {report.steps} steps in "
        f"{report.seconds / 60:.1f} min ({report.pairs_per_second} pairs/s); "
        f"use it with --reranker {out}"
    )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@_store_options()
@_reranker_options
@_retrieval_options((RETRIEVAL.retrieval,))
@click.option(
    "--api-key",
    default=None,
    envvar="CROSSRANK_API_KEY",
    help="Require Authorization: Bearer KEY on every endpoint but /health [env CROSSRANK_API_KEY].",
)
@click.option(
    "--max-documents",
    type=click.IntRange(min=1),
    default=LIMITS.max_documents,
    show_default=True,
    help="Documents (or texts to index) per request.",
)
@click.option(
    "--max-document-chars",
    type=click.IntRange(min=1),
    default=LIMITS.max_document_chars,
    show_default=True,
    help="Characters per document.",
)
@click.option(
    "--max-body-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=LIMITS.max_body_bytes / 2**20,
    show_default=True,
    help="Size of a request body.",
)
def serve(
    host: str,
    port: int,
    db: str,
    chroma_url: str | None,
    collection: str,
    model: str | None,
    device: str | None,
    precision: str,
    k: int,
    no_rerank: bool,
    reranker: str,
    batch_size: int,
    max_length: int | None,
    retrieval_weight: float,
    retrieval: str,
    fusion: str,
    weights: str,
    mmr: float | None,
    api_key: str | None,
    max_documents: int,
    max_document_chars: int,
    max_body_mb: float,
) -> None:
    """Serve the reranker and the store over HTTP: Cohere's, Jina's and TEI's rerank APIs,
    /v1/search and /v1/index, /health and /metrics. Models load once, before the port opens.
    """
    from ._extras import require

    uvicorn = require("uvicorn", "serve")
    server = require("crossrank.server", "serve")
    settings = _retrieval_settings(retrieval, fusion, weights, mmr, k)
    store = _store(db, chroma_url, collection, model, device, precision)
    limits = ServerLimits(max_documents, max_document_chars, int(max_body_mb * 2**20))
    # Load here, so that a model that cannot load is one clear error before any port opens
    # (ask falls back to retrieval order instead; a server must not).
    cross = None
    if not no_rerank:
        options = (device, precision, batch_size, max_length, retrieval_weight)
        cross = _new_reranker(reranker, *options).load()
    store.encoder.embed(["warm up"])
    app = server.create_app(cross, store, retrieval=settings, api_key=api_key, limits=limits)
    if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        click.echo(f"crossrank: serving on {host} without an API key (set --api-key)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


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


def main() -> None:
    """Entry point of the ``crossrank`` console script."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        cli.main(standalone_mode=True)
    except CrossRankError as error:
        click.echo(f"crossrank: error: {error}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
