"""``crossrank mcp``: the store as Model Context Protocol tools, for agents and assistants."""

from __future__ import annotations

from pathlib import Path

import click

from .._auth import is_loopback
from ..client import RemotePipeline
from ..settings import ContextSettings
from .options import (
    CONTEXT,
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
@store_options()
@reranker_options
@retrieval_options((RETRIEVAL.retrieval,))
@click.option(
    "--top-n",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Hits a search offers the context (a call's top_n overrides it).",
)
@click.option(
    "--budget",
    type=click.IntRange(min=16),
    default=CONTEXT.budget,
    show_default=True,
    help="Tokens of context a search answers with.",
)
@click.option(
    "--server",
    default=None,
    envvar="CROSSRANK_SERVER",
    metavar="URL",
    help="Search a `crossrank serve` server (its store and models) instead of loading any "
    "here (fetch, list_sources and index then need the store: they answer an error).",
)
@click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    show_default=True,
    help="stdio (what desktop assistants launch) or streamable HTTP at http://HOST:PORT/mcp.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="With --transport http.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@api_key_option("every HTTP request (with --transport http)")
@click.option(
    "--insecure",
    is_flag=True,
    help="Serve HTTP on an address other machines reach without an API key (refused "
    "otherwise: anyone who reaches the port could search, and index with --allow-index).",
)
@click.option(
    "--allow-index",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    multiple=True,
    metavar="DIR",
    help="Offer an index tool that reads paths under DIR only (repeatable; default: none).",
)
def mcp(
    store: StoreOptions,
    rerank: RerankerOptions,
    first: RetrievalOptions,
    top_n: int,
    budget: int,
    server: str | None,
    transport: str,
    host: str,
    port: int,
    api_key: str | None,
    insecure: bool,
    allow_index: tuple[Path, ...],
) -> None:
    """Serve the store to agents over the Model Context Protocol: search (cited context),
    fetch (a chunk and its neighbours) and list_sources tools. Logs go to stderr; on stdio,
    stdout carries only the protocol.
    """
    if transport == "http" and not api_key and not is_loopback(host):
        if not insecure:
            raise click.UsageError(
                f"refusing to serve MCP on {host} without an API key: anyone who reaches the "
                "port could search the store (and index, with --allow-index). Set --api-key "
                "(or CROSSRANK_API_KEY), bind 127.0.0.1, or pass --insecure on a network you "
                "trust."
            )
        click.echo(f"crossrank: serving MCP on {host} without an API key (--insecure)", err=True)
    from ..agent import AgentTools
    from ..mcp_server import mcp_server  # names the extra to install when mcp is missing
    from ..pipeline import Pipeline

    settings = first.settings(rerank.k)
    context = ContextSettings(budget=budget)
    if server:
        if allow_index:
            raise click.BadParameter("the server holds the store", param_hint="--allow-index")
        try:
            remote = RemotePipeline(
                server, top_n=top_n, rerank=not rerank.no_rerank, settings=settings
            )
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--server") from None
        tools = AgentTools(remote, context=context)
    else:
        opened = store.open()
        pipeline = Pipeline(opened, rerank.load(store), settings=settings, top_n=top_n)
        opened.encoder.embed(["warm up"])  # load the models before the first call
        tools = AgentTools(pipeline, opened, context=context, allow_index=allow_index)
    key = api_key if transport == "http" else None  # stdio has no network to guard
    mcp_server(tools, host=host, port=port, api_key=key).run(
        "stdio" if transport == "stdio" else "streamable-http"
    )
