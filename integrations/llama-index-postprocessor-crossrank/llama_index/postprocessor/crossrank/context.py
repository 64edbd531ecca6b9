"""A LlamaIndex node postprocessor that makes the context an LLM reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

from crossrank import Context, ContextBuilder, ContextSettings, Store
from crossrank.hit import END_CHAR, START_CHAR, from_framework
from crossrank.settings import refuse_unknown, take


class CrossRankContext(BaseNodePostprocessor):
    """Make reranked nodes into a cited context within a token budget.

    Returns one node per passage, in prompt order: overlaps dropped, neighbouring chunks
    merged, each text led by its ``[n]`` citation line, so that a query engine's answer
    cites ``[n]``. Each node's metadata (hidden from the LLM) gives ``label``,
    ``citation``, ``source``, ``pages``, ``section``, ``score``, the chunk ``ids`` and the
    evidence span. Put it after the reranker; input nodes are never modified.

    Args:
        settings: A :class:`crossrank.ContextSettings`, or its fields (``budget``,
            ``merge``, ``expand``, ``order``, ``relative_cut``, ``tokenizer``) as keyword
            arguments.
        store: The crossrank ``Store`` the nodes came from (needed by ``expand``).

    Example:
        >>> steps = [CrossEncoderRerank("models/ce", top_n=20), CrossRankContext(budget=1024)]
        >>> engine = RetrieverQueryEngine.from_args(retriever, node_postprocessors=steps)
    """

    settings: ContextSettings = Field(
        default_factory=ContextSettings, description="How the context is built."
    )
    _builder: ContextBuilder = PrivateAttr()

    def __init__(
        self,
        settings: ContextSettings | Mapping[str, Any] | None = None,
        *,
        store: Store | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(settings, Mapping):  # from to_dict()
            settings = ContextSettings(**settings)
        settings = settings or take(ContextSettings, kwargs)
        known = {*type(self).model_fields, "store", *ContextSettings.__dataclass_fields__}
        refuse_unknown(type(self).__name__, kwargs, known)
        super().__init__(settings=settings, **kwargs)
        self._builder = ContextBuilder(settings, store=store)

    @classmethod
    def class_name(cls) -> str:
        return "CrossRankContext"

    def build(self, nodes: list[NodeWithScore]) -> Context:
        """The core :class:`crossrank.Context` of ``nodes``: prompt text and passages."""
        hits = []
        for scored in nodes:
            node = scored.node
            metadata = dict(node.metadata)
            start, end = getattr(node, "start_char_idx", None), getattr(node, "end_char_idx", None)
            if START_CHAR not in metadata and start is not None and end is not None:
                metadata[START_CHAR], metadata[END_CHAR] = start, end
            text = node.get_content(metadata_mode=MetadataMode.NONE)
            hits.append(from_framework(node.node_id, text, metadata, scored.score))
        return self._builder.build(hits)

    def _postprocess_nodes(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None = None,
    ) -> list[NodeWithScore]:
        return [
            NodeWithScore(
                node=TextNode(
                    text=passage.render(),
                    metadata=passage.metadata,
                    excluded_llm_metadata_keys=list(passage.metadata),
                    excluded_embed_metadata_keys=list(passage.metadata),
                ),
                score=passage.score,
            )
            for passage in self.build(nodes).passages
        ]
