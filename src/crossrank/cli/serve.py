"""``crossrank serve``: the models and the store behind HTTP rerank and search APIs."""

from __future__ import annotations

import click

from .. import tracing
from .._auth import is_loopback
from ..settings import ServerLimits
from .options import (
    LIMITS,
    RETRIEVAL,
    RerankerOptions,
    RetrievalOptions,
    StoreOptions,
    api_key_option,
    reranker_options,
    retrieval_options,
    store_options,
)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@store_options()
@reranker_options
@retrieval_options((RETRIEVAL.retrieval,))
@api_key_option("every endpoint but /health and /ready")
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
@click.option("--no-page", is_flag=True, help="Serve no page at / (a question, stage by stage).")
def serve(
    host: str,
    port: int,
    store: StoreOptions,
    rerank: RerankerOptions,
    first: RetrievalOptions,
    api_key: str | None,
    max_documents: int,
    max_document_chars: int,
    max_body_mb: float,
    no_page: bool,
) -> None:
    """Serve the reranker and the store over HTTP: Cohere's, Jina's and TEI's rerank APIs,
    /v1/search and /v1/index, /health (alive), /ready (store and keyword index) and /metrics,
    and a page at / to look at one question stage by stage. Models load once, before the port
    opens.
    """
    from .._extras import require

    uvicorn = require("uvicorn", "serve")
    server = require("crossrank.server", "serve")
    settings = first.settings(rerank.k)
    opened = store.open()
    limits = ServerLimits(max_documents, max_document_chars, int(max_body_mb * 2**20))
    # Load here, so that a model that cannot load is one clear error before any port opens
    # (ask falls back to retrieval order instead; a server must not).
    cross = None if rerank.no_rerank else rerank.new(store).load()
    opened.encoder.embed(["warm up"])
    tracing.export_otlp("crossrank-serve")  # when OTEL_EXPORTER_OTLP_* name an endpoint
    app = server.create_app(
        cross, opened, retrieval=settings, api_key=api_key, limits=limits, page=not no_page
    )
    if not is_loopback(host) and not api_key:
        click.echo(f"crossrank: serving on {host} without an API key (set --api-key)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
