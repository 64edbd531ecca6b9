"""crossrank as a Model Context Protocol server: search, fetch and list_sources tools.

Built on the official MCP SDK's ``FastMCP`` (``pip install "crossrank[mcp]"``). Each tool
answers for an LLM to read (the cited context, as text) and for clients that read
structured output (ids, scores, sources, evidence spans). A bad call (an unknown
argument, an empty query, a filter Chroma refuses, a path outside the allowed folders)
is a tool error with a message; the server keeps serving.

Example:
    >>> server = mcp_server(AgentTools(Pipeline(store, reranker), store))
    >>> server.run("stdio")
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import BaseModel, Field

from . import agent
from ._auth import REFUSED, authorized
from ._extras import require

require("mcp", "mcp")
from mcp.server.fastmcp import FastMCP  # noqa: E402 (after the check naming the extra)
from mcp.server.fastmcp.exceptions import ToolError  # noqa: E402
from mcp.types import CallToolResult, TextContent  # noqa: E402
from starlette.applications import Starlette  # noqa: E402 (an mcp dependency)
from starlette.responses import JSONResponse  # noqa: E402
from starlette.types import ASGIApp, Receive, Scope, Send  # noqa: E402


class Result(BaseModel):
    """One hit behind the context."""

    id: str = Field(description="The chunk's id: pass it to fetch to read around it.")
    passage: int | None = Field(description="The [n] of the passage holding it, if placed.")
    score: float | None = Field(description="Rerank score in [0, 1] (else retrieval score).")
    source: str | None = Field(description="The file it comes from.")
    metadata: dict[str, Any] = Field(description="The chunk's metadata (page, section...).")
    evidence: list[int] | None = Field(description="[start, end) of the text that won.")


class Searched(BaseModel):
    """What search answers: the cited context, and the hits behind it."""

    query: str
    context: str = Field(description="The passages, each under [n] source > section.")
    results: list[Result]


class Chunk(BaseModel):
    id: str
    text: str
    metadata: dict[str, Any]


class Fetched(BaseModel):
    """A chunk and its neighbours, in document order."""

    id: str
    source: str | None
    text: str = Field(description="The chunks' texts, joined in document order.")
    chunks: list[Chunk]


class Source(BaseModel):
    source: str
    chunks: int
    last_indexed: str | None


class Sources(BaseModel):
    sources: list[Source]


class Indexed(BaseModel):
    files: int
    chunks: int
    embedded: int
    removed: int


def mcp_server(
    tools: agent.AgentTools,
    *,
    name: str = "crossrank",
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
) -> FastMCP:
    """The MCP server of ``tools`` (``index`` only when ``tools.allow_index`` is set).

    ``host``/``port`` serve the streamable HTTP transport (``run("streamable-http")``),
    at ``/mcp``; with ``api_key``, every HTTP request needs ``Authorization: Bearer KEY``
    (401 otherwise), the check ``crossrank serve`` makes.
    """

    class Server(FastMCP):
        def streamable_http_app(self) -> Starlette:
            app = super().streamable_http_app()
            if api_key:
                app.add_middleware(_KeyRequired, api_key=api_key)
            return app

        async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
            tool = self._tool_manager.get_tool(name)
            known = set((tool.parameters.get("properties") or {}) if tool else ())
            unknown = sorted(set(arguments or {}) - known)
            if tool and unknown:
                raise ToolError(
                    f"{name} takes no argument {', '.join(unknown)}: it takes "
                    f"{', '.join(sorted(known))}"
                )
            return await super().call_tool(name, arguments)

    server = Server(name, host=host, port=port, log_level="WARNING")

    @server.tool(description=agent.SEARCH)
    async def search(
        query: Annotated[str, Field(description="The question or search text.")],
        top_n: Annotated[
            int | None, Field(description="Hits to consider (default: the server's).", ge=1)
        ] = None,
        where: Annotated[
            dict[str, Any] | None,
            Field(description='A Chroma metadata filter, e.g. {"source": "docs/faq.md"}.'),
        ] = None,
    ) -> Annotated[CallToolResult, Searched]:
        answer = await asyncio.to_thread(tools.search, query, top_n, where)
        return CallToolResult(
            content=[TextContent(type="text", text=answer.context or "(nothing found)")],
            structuredContent=answer.to_dict(),
        )

    @server.tool(description=agent.FETCH)
    async def fetch(
        id: Annotated[str, Field(description="A chunk id from search's results.")],  # noqa: A002
        neighbours: Annotated[
            int, Field(description="Chunks to add before and after it.", ge=0, le=20)
        ] = 1,
    ) -> Fetched:
        return Fetched.model_validate(await asyncio.to_thread(tools.fetch, id, neighbours))

    @server.tool(description=agent.LIST_SOURCES)
    async def list_sources() -> Sources:
        return Sources(sources=await asyncio.to_thread(tools.list_sources))  # type: ignore[arg-type]

    if tools.allow_index:

        @server.tool(description=agent.INDEX)
        async def index(
            paths: Annotated[list[str], Field(description="Files or folders to index.")],
        ) -> Indexed:
            return Indexed.model_validate(await asyncio.to_thread(tools.index, paths))

    return server


class _KeyRequired:
    """Answer 401 to an HTTP request without ``Authorization: Bearer <api_key>``."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if not authorized(header, self.api_key):
                refused = JSONResponse(
                    {"message": REFUSED}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


__all__ = ["mcp_server"]
