"""What an agent's tools answer: cited context for a query, a chunk with its neighbours,
the indexed sources. The MCP server and the framework tools are faces of this.

Example:
    >>> tools = AgentTools(Pipeline(store, reranker), store)
    >>> answer = tools.search("how do I leave a loop early?")
    >>> print(answer.context)  # "[1] docs/loops.md > Loops\\n..."
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .client import RemotePipeline
from .collection import WRITTEN_KEY
from .context import ContextBuilder
from .hit import CHUNK_INDEX, SOURCE
from .pipeline import Pipeline
from .settings import ContextSettings, check_cutoffs, check_query
from .store import Store

SEARCH_TOOL = (  # a framework tool's description
    "Search the indexed documents for passages that answer a question. Returns the best "
    "passages as a cited context: each passage under a line [n] source (p. N) > section, "
    "best first, within a token budget. Cite passages by their [n]."
)
SEARCH = (  # the MCP tool's, beside fetch and list_sources
    f"{SEARCH_TOOL} Use fetch with a result's id to read around a passage, and list_sources "
    "to see what is indexed."
)
FETCH = (
    "Read one indexed chunk by its id (from search's results), with up to `neighbours` "
    "chunks before and after it from the same source, in document order."
)
LIST_SOURCES = (
    "List the indexed sources (files): each with its number of chunks and when it was last "
    "indexed (ISO time, UTC)."
)
INDEX = (
    "Index files or folders (text, Markdown, PDF, Word) so that search finds them. Only "
    "paths under the folders this server allows are read; unchanged files are skipped."
)


@dataclass(frozen=True)
class Answer:
    """A search's answer: the context an LLM reads and the results behind it."""

    query: str
    context: str
    results: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "context": self.context, "results": self.results}


class AgentTools:
    """Search, fetch and list the sources of a store, for agents.

    Args:
        pipeline: Retrieval and reranking (a :class:`Pipeline`, or a server's
            :class:`~crossrank.client.RemotePipeline`).
        store: The store, for ``fetch``, ``list_sources``, ``index`` and neighbours in the
            context (None with a server: those need the store).
        context: How the cited context is built (its token budget, ...).
        allow_index: Folders ``index`` may read; empty: indexing is off.
    """

    def __init__(
        self,
        pipeline: Pipeline | RemotePipeline,
        store: Store | None = None,
        *,
        context: ContextSettings | None = None,
        allow_index: tuple[Path, ...] = (),
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.builder = ContextBuilder(context or ContextSettings(), store=store)
        self.allow_index = tuple(Path(folder).resolve() for folder in allow_index)

    def search(
        self, query: str, top_n: int | None = None, where: Mapping[str, Any] | None = None
    ) -> Answer:
        """The cited context for ``query`` from the best ``top_n`` hits, and the hits."""
        check_query(query)
        check_cutoffs(top_n, None)
        if self.store is not None and not self.store.collection.exists():
            raise LookupError(
                f"{self.store.connection.describe()} does not exist: index documents first "
                "(crossrank index PATH)"
            )
        hits = self.pipeline.search(query, top_n=top_n, where=where)
        context = self.builder.build(hits)
        labels = {chunk: p.label for p in context.passages for chunk in p.ids}
        results = [
            {
                "id": hit.id,
                "passage": labels.get(hit.id),
                "score": hit.score,
                "source": hit.metadata.get(SOURCE),
                "metadata": dict(hit.metadata),
                "evidence": list(hit.evidence) if hit.evidence else None,
            }
            for hit in hits
        ]
        return Answer(query, context.text, results)

    def fetch(self, id: str, neighbours: int = 0) -> dict[str, Any]:  # noqa: A002 (the tool's word)
        """Chunk ``id`` and up to ``neighbours`` chunks a side of the same source."""
        store = self._store("fetch")
        if neighbours < 0:
            raise ValueError(f"neighbours must be 0 or more, got {neighbours}")
        found = store.collection.get(ids=[id])
        if not found["ids"]:
            raise KeyError(f"no chunk {id!r} in {store.connection.describe()}")
        metadata = found["metadatas"][0] or {}
        chunks = [(id, found["documents"][0] or "", metadata)]
        index, source = metadata.get(CHUNK_INDEX), metadata.get(SOURCE)
        if neighbours and isinstance(index, int) and source is not None:
            wanted = [i for i in range(index - neighbours, index + neighbours + 1) if i >= 0]
            around = store.collection.get(
                where={"$and": [{SOURCE: source}, {CHUNK_INDEX: {"$in": wanted}}]}
            )
            chunks = sorted(
                zip(around["ids"], around["documents"], around["metadatas"], strict=True),
                key=lambda chunk: (chunk[2] or {}).get(CHUNK_INDEX, 0),
            )
        return {
            "id": id,
            "source": source,
            "text": "\n".join(text or "" for _, text, _ in chunks),
            "chunks": [
                {"id": chunk_id, "text": text or "", "metadata": dict(meta or {})}
                for chunk_id, text, meta in chunks
            ],
        }

    def list_sources(self) -> list[dict[str, Any]]:
        """Each source: its chunks and when it was last indexed, by source name."""
        store = self._store("list_sources")
        found = store.collection.get(include=["metadatas"], decode=False)  # with write times
        sources: dict[str, dict[str, Any]] = {}
        for metadata in found["metadatas"]:
            name = str((metadata or {}).get(SOURCE, "(no source)"))
            entry = sources.setdefault(name, {"source": name, "chunks": 0, "written": 0})
            entry["chunks"] += 1
            entry["written"] = max(entry["written"], int((metadata or {}).get(WRITTEN_KEY, 0)))
        return [_with_time(entry) for _, entry in sorted(sources.items())]

    def index(self, paths: list[str]) -> dict[str, Any]:
        """Index ``paths``, each under an allowed folder; what was added, skipped, removed."""
        store = self._store("index")
        if not self.allow_index:
            raise PermissionError("indexing is off: start the server with --allow-index DIR")
        if not paths:
            raise ValueError("paths is empty: name files or folders to index")
        resolved = []
        for path in paths:
            target = Path(path).expanduser().resolve()
            if not any(target.is_relative_to(folder) for folder in self.allow_index):
                allowed = ", ".join(str(folder) for folder in self.allow_index)
                raise PermissionError(f"{path} is outside the folders allowed: {allowed}")
            resolved.append(target)
        return asdict(store.index(resolved))

    def _store(self, tool: str) -> Store:
        if self.store is None:
            raise ValueError(f"{tool} needs the store, which the server holds")
        return self.store


def _with_time(entry: dict[str, Any]) -> dict[str, Any]:
    from datetime import datetime, timezone

    written = entry.pop("written")
    entry["last_indexed"] = (
        datetime.fromtimestamp(written / 1e9, tz=timezone.utc).isoformat() if written else None
    )
    return entry


__all__ = ["FETCH", "INDEX", "LIST_SOURCES", "SEARCH", "SEARCH_TOOL", "AgentTools", "Answer"]
