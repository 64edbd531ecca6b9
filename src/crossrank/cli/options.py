"""Options that several commands share, and the objects they describe."""

from __future__ import annotations

import os
from typing import Any

import click

from ..encoder import Encoder
from ..errors import ModelNotFoundError
from ..pipeline import Pipeline
from ..reranker import Reranker
from ..settings import (
    DEFAULT_COLLECTION,
    DEFAULT_DB,
    DEFAULT_ENCODER,
    FUSIONS,
    PRECISIONS,
    RETRIEVALS,
    Connection,
    ContextSettings,
    RerankerSettings,
    RetrievalSettings,
    ServerLimits,
)
from ..store import Store

RERANKER = RerankerSettings()  # the defaults the options show
RETRIEVAL = RetrievalSettings()
CONTEXT = ContextSettings()
LIMITS = ServerLimits()


def store_options(db: str | None = DEFAULT_DB) -> Any:
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
    return all_options(options)


def all_options(options: list[Any]) -> Any:
    """One decorator applying several click options, in the order listed."""

    def decorate(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def open_store(
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


reranker_options = all_options(
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


def retrieval_options(modes: tuple[str, ...]) -> Any:
    """How the first stage retrieves; ``ask`` takes one mode, ``eval`` several."""
    weights = ",".join(f"{value:g}" for value in RETRIEVAL.weights.values())
    return all_options(
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


def make_pipeline(
    store: Store,
    retrieval: str,
    fusion: str,
    weights: str,
    mmr: float | None,
    k: int,
    reranker: Reranker | None = None,
    **cutoffs: Any,
) -> Pipeline:
    settings = retrieval_settings(retrieval, fusion, weights, mmr, k)
    return Pipeline(store, reranker, settings=settings, **cutoffs)


def retrieval_settings(
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


def new_reranker(
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


def load_reranker(
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
        return new_reranker(
            name, device, precision, batch_size, max_length, retrieval_weight
        ).load()
    except ModelNotFoundError as error:
        click.echo(
            f"crossrank: no reranking ({error}); set --reranker or CROSSRANK_RERANKER to a "
            "local cross-encoder folder. Showing retrieval order.",
            err=True,
        )
        return None
