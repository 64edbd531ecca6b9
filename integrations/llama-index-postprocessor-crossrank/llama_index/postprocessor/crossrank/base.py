"""A LlamaIndex node postprocessor that reranks with a crossrank cross-encoder."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from crossrank import Hit, Reranker, RerankerSettings
from crossrank.hit import EVIDENCE_END, EVIDENCE_START, RETRIEVAL_SCORE
from crossrank.settings import check_cutoffs, refuse_unknown, take

dispatcher = get_dispatcher(__name__)


class CrossEncoderRerank(BaseNodePostprocessor):
    """Rerank nodes with a cross-encoder: a drop-in for ``SentenceTransformerRerank``.

    Scores are calibrated to [0, 1] and are plain floats; long nodes are scored in windows
    instead of being truncated, and ``metadata["evidence_start"]``/``["evidence_end"]``
    give the span of the node's text that won; input nodes are never modified.

    Args:
        model: A cross-encoder name or local folder, or a crossrank ``Reranker``.
        top_n: Nodes returned.
        threshold: Drop nodes scoring below this value in [0, 1].
        keep_retrieval_score: Keep the incoming score in ``metadata["retrieval_score"]``.
        settings: The model's :class:`crossrank.RerankerSettings`, or its fields
            (``device``, ``precision``, ``batch_size``, ``max_length``,
            ``retrieval_weight``...) as keyword arguments.

    Example:
        >>> rerank = CrossEncoderRerank("cross-encoder/ms-marco-MiniLM-L-6-v2", top_n=3)
        >>> engine = index.as_query_engine(similarity_top_k=50, node_postprocessors=[rerank])
    """

    top_n: int = Field(default=2, description="Number of nodes to return.")
    threshold: float | None = Field(default=None, description="Minimum score in [0, 1].")
    keep_retrieval_score: bool = Field(
        default=False, description="Keep the retrieval score in node metadata."
    )
    settings: RerankerSettings = Field(
        default_factory=RerankerSettings, description="How the cross-encoder runs."
    )
    _reranker: Reranker = PrivateAttr()

    def __init__(
        self,
        model: str | Reranker | None = None,
        top_n: int = 2,
        *,
        threshold: float | None = None,
        keep_retrieval_score: bool = False,
        settings: RerankerSettings | Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        check_cutoffs(top_n, threshold)
        if not isinstance(model, Reranker):
            if isinstance(settings, Mapping):  # from to_dict()
                settings = RerankerSettings(**settings)
            named = {"model": model} if model else {}
            model = Reranker(settings or take(RerankerSettings, kwargs), **named)
        known = {*type(self).model_fields, "model", *RerankerSettings.__dataclass_fields__}
        refuse_unknown(type(self).__name__, kwargs, known)
        super().__init__(
            top_n=top_n,
            threshold=threshold,
            keep_retrieval_score=keep_retrieval_score,
            settings=model.settings,
            **kwargs,
        )
        self._reranker = model

    @property
    def model(self) -> str:
        """The cross-encoder's name or folder."""
        return self.settings.model

    @classmethod
    def class_name(cls) -> str:
        return "CrossEncoderRerank"

    def _postprocess_nodes(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None = None,
    ) -> list[NodeWithScore]:
        query = _query(query_bundle)
        if not nodes:
            return []
        with self._reranking(nodes, query) as (hits, finish):
            return finish(
                self._reranker.rerank(
                    query.query_str, hits, top_n=self.top_n, threshold=self.threshold
                )
            )

    async def _apostprocess_nodes(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None = None,
    ) -> list[NodeWithScore]:
        # The model works in its own thread, in batches shared with concurrent callers.
        query = _query(query_bundle)
        if not nodes:
            return []
        with self._reranking(nodes, query) as (hits, finish):
            return finish(
                await self._reranker.arerank(
                    query.query_str, hits, top_n=self.top_n, threshold=self.threshold
                )
            )

    @contextmanager
    def _reranking(
        self, nodes: list[NodeWithScore], query: QueryBundle
    ) -> Iterator[tuple[list[Hit], Callable[[list[Hit]], list[NodeWithScore]]]]:
        """LlamaIndex's rerank events around a reranking: yields the nodes as hits, and
        what makes the ranked hits into the reranked nodes."""
        dispatcher.event(
            ReRankStartEvent(query=query, nodes=nodes, top_n=self.top_n, model_name=self.model)
        )
        payload: dict[str, Any] = {
            EventPayload.NODES: nodes,
            EventPayload.MODEL_NAME: self.model,
            EventPayload.QUERY_STR: query.query_str,
            EventPayload.TOP_K: self.top_n,
        }
        with self.callback_manager.event(CBEventType.RERANKING, payload=payload) as event:

            def finish(ranked: list[Hit]) -> list[NodeWithScore]:
                reranked = [self._scored(nodes[int(hit.id)], hit) for hit in ranked]
                event.on_end(payload={EventPayload.NODES: reranked})
                dispatcher.event(ReRankEndEvent(nodes=reranked))
                return reranked

            hits = [
                Hit(str(i), node.node.get_content(metadata_mode=MetadataMode.EMBED))
                for i, node in enumerate(nodes)
            ]
            yield hits, finish

    def _scored(self, node: NodeWithScore, hit: Hit) -> NodeWithScore:
        # A shallow copy: the caller's node keeps its metadata and score untouched.
        inner = node.node
        added: dict[str, Any] = {}
        if self.keep_retrieval_score:
            added[RETRIEVAL_SCORE] = node.score
        if hit.evidence is not None:
            # The span of the node's own text that won (the scored text led with metadata).
            offset = hit.text.rfind(inner.get_content(metadata_mode=MetadataMode.NONE))
            start, end = (max(0, bound - max(offset, 0)) for bound in hit.evidence)
            added[EVIDENCE_START], added[EVIDENCE_END] = start, end
        update: dict[str, Any] = {"metadata": {**inner.metadata, **added}}
        for field in ("excluded_embed_metadata_keys", "excluded_llm_metadata_keys"):
            update[field] = [*getattr(inner, field), *added]
        return NodeWithScore(node=inner.model_copy(update=update), score=hit.rerank_score)


def _query(query_bundle: QueryBundle | None) -> QueryBundle:
    if query_bundle is None:
        raise ValueError("CrossEncoderRerank needs the query: pass query_bundle or query_str")
    return query_bundle
