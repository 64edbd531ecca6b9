"""Options that several commands share, and the objects they describe."""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from typing import Any

import click

from ..encoder import Encoder
from ..errors import ModelNotFoundError
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


def _grouped(name: str, group: type, options: list[Any]) -> Any:
    """Click options whose values reach the command as one ``group`` object, ``name``."""
    fields = [field.name for field in dataclasses.fields(group)]

    def decorate(command: Any) -> Any:
        @functools.wraps(command)
        def gathered(**values: Any) -> Any:
            values[name] = group(**{field: values.pop(field) for field in fields})
            return command(**values)

        return all_options(options)(gathered)

    return decorate


@dataclass(frozen=True)
class StoreOptions:
    """The store options' values; their device and precision serve the reranker too."""

    db: str | None
    chroma_url: str | None
    collection: str
    model: str | None
    device: str | None
    precision: str
    keyword_dir: str | None
    query_prompt: str | None
    document_prompt: str | None

    def open(self, db: str | None = None) -> Store:
        """The store they name (``db``: the folder when --db was not given)."""
        token = os.environ.get("CROSSRANK_CHROMA_TOKEN")
        try:
            if self.chroma_url:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                connection = Connection.from_url(
                    self.chroma_url, collection=self.collection, headers=headers
                )
            else:
                connection = Connection(self.db or db or DEFAULT_DB, self.collection)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--chroma/--collection") from None
        encoder = Encoder(
            self.model or DEFAULT_ENCODER,
            device=self.device,
            precision=self.precision,
            query_prompt=self.query_prompt,
            document_prompt=self.document_prompt,
        )
        store = Store(encoder=encoder, connection=connection, keyword_dir=self.keyword_dir)
        # Only a named model opens a collection another library built.
        store.collection.named = self.model is not None
        return store


@dataclass(frozen=True)
class RerankerOptions:
    """The reranker options' values (and --k, the candidates it reranks)."""

    k: int
    no_rerank: bool
    reranker: str
    batch_size: int
    max_length: int | None
    retrieval_weight: float
    reranker_prompt: str | None

    def new(self, store: StoreOptions) -> Reranker:
        """The cross-encoder they describe (not loaded yet), on the store's device."""
        return Reranker(
            self.reranker,
            device=store.device,
            precision=store.precision,
            batch_size=self.batch_size,
            max_length=self.max_length,
            retrieval_weight=self.retrieval_weight,
            prompt=self.reranker_prompt,
        )

    def load(self, store: StoreOptions) -> Reranker | None:
        """The loaded cross-encoder, or None (said in one line) when it cannot be loaded."""
        if self.no_rerank:
            return None
        try:
            return self.new(store).load()
        except ModelNotFoundError as error:
            click.echo(
                f"crossrank: no reranking ({error}); set --reranker or CROSSRANK_RERANKER to a "
                "local cross-encoder folder. Showing retrieval order.",
                err=True,
            )
            return None


@dataclass(frozen=True)
class RetrievalOptions:
    """The retrieval options' values (``retrieval``: one mode, or several for eval)."""

    retrieval: Any
    fusion: str
    weights: str
    mmr: float | None

    def settings(self, k: int, mode: str | None = None) -> RetrievalSettings:
        """The first stage's settings: ``k`` candidates, by ``mode`` (default: the one)."""
        try:
            dense, bm25 = (float(value) for value in self.weights.split(","))
        except ValueError:
            raise click.BadParameter(
                f"{self.weights!r}: expected two numbers, DENSE,BM25 (e.g. 0.7,0.3)",
                param_hint="--weights",
            ) from None
        try:
            return RetrievalSettings(
                mode or self.retrieval,  # type: ignore[arg-type]  # click.Choice checked it
                self.fusion,  # type: ignore[arg-type]
                {"dense": dense, "bm25": bm25},
                k,
                self.mmr,
            )
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--weights") from None


def store_options(db: str | None = DEFAULT_DB) -> Any:
    """The options naming a store, given to the command as ``store`` (:class:`StoreOptions`);
    ``db=None`` means a scratch store unless --db is given."""
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
        click.option(
            "--keyword-dir",
            default=None,
            envvar="CROSSRANK_KEYWORD_DIR",
            metavar="DIR",
            help="Keep the keyword (BM25) index in DIR, so a restart reads only what changed "
            "(for --chroma; an embedded store keeps it beside --db).",
        ),
        click.option(
            "--query-prompt",
            default=None,
            metavar="TEXT",
            help="Text put before each query, or the name of one of the model's prompts "
            "(default: the model's own query prompt; '' for none).",
        ),
        click.option(
            "--document-prompt",
            default=None,
            metavar="TEXT",
            help="Text put before each passage, or the name of one of the model's prompts "
            "(default: the model's own document prompt; '' for none).",
        ),
    ]
    return _grouped("store", StoreOptions, options)


def all_options(options: list[Any]) -> Any:
    """One decorator applying several click options, in the order listed."""

    def decorate(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


reranker_options = _grouped(
    "rerank",
    RerankerOptions,
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
            help="Cross-encoder tokens per pair, template and instruction included "
            "(default: the model's, at most 512; longer passages are read in windows).",
        ),
        click.option(
            "--reranker-prompt",
            default=None,
            metavar="TEXT",
            help="The instruction the cross-encoder reads with each pair, or the name of one "
            "of its prompts (default: the model's own; '' for none).",
        ),
        click.option(
            "--retrieval-weight",
            type=click.FloatRange(0.0, 1.0),
            default=RERANKER.retrieval_weight,
            show_default=True,
            help="Order by reciprocal-rank fusion of the rerank order with the retrieval "
            "order, giving retrieval this weight (0: rerank order alone).",
        ),
    ],
)


def retrieval_options(modes: tuple[str, ...]) -> Any:
    """How the first stage retrieves; ``ask`` takes one mode, ``eval`` several."""
    weights = ",".join(f"{value:g}" for value in RETRIEVAL.weights.values())
    return _grouped(
        "first",
        RetrievalOptions,
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
        ],
    )


def api_key_option(guards: str) -> Any:
    """``--api-key`` / ``CROSSRANK_API_KEY``: the key a server asks of ``guards``."""
    return click.option(
        "--api-key",
        default=None,
        envvar="CROSSRANK_API_KEY",
        help=f"Require Authorization: Bearer KEY on {guards} [env CROSSRANK_API_KEY].",
    )
