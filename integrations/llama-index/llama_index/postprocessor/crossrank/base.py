"""A LlamaIndex node postprocessor that reranks with a crossrank cross-encoder."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from crossrank import Reranker
from crossrank._models import DEFAULT_RERANKER
from crossrank.reranker import check_cutoffs

dispatcher = get_dispatcher(__name__)


class CrossEncoderRerank(BaseNodePostprocessor):
    """Rerank nodes with a cross-encoder: a drop-in for ``SentenceTransformerRerank``.

    Scores are calibrated to [0, 1] and are plain floats; long nodes are scored in windows
    instead of being truncated; input nodes are never modified.

    Args:
        model: A cross-encoder name or local folder, or a crossrank ``Reranker``.
        top_n: Nodes returned.
        threshold: Drop nodes scoring below this value in [0, 1].
        batch_size: Query-node pairs per forward pass.
        max_length: Tokens per pair (default: the model's own).
        device: ``"cpu"``, ``"cuda"``...; None picks the best available.
        precision: ``"fp32"`` (exact), ``"bf16"``/``"fp16"`` (fast) or ``"auto"``.
        keep_retrieval_score: Keep the incoming score in ``metadata["retrieval_score"]``.
        retrieval_weight: Above 0, order by reciprocal-rank fusion of the rerank order with
            the nodes' incoming (retrieval) order, this being the retrieval's weight.

    Example:
        >>> rerank = CrossEncoderRerank("cross-encoder/ms-marco-MiniLM-L-6-v2", top_n=3)
        >>> engine = index.as_query_engine(similarity_top_k=50, node_postprocessors=[rerank])
    """

    model: str = Field(default=DEFAULT_RERANKER, description="Cross-encoder name or folder.")
    top_n: int = Field(default=2, description="Number of nodes to return.")
    threshold: float | None = Field(default=None, description="Minimum score in [0, 1].")
    batch_size: int = Field(default=32, description="Pairs per forward pass.")
    max_length: int | None = Field(default=None, description="Tokens per pair.")
    device: str | None = Field(default=None, description="Device for the model.")
    precision: str = Field(default="auto", description="fp32, bf16, fp16 or auto.")
    keep_retrieval_score: bool = Field(
        default=False, description="Keep the retrieval score in node metadata."
    )
    retrieval_weight: float = Field(
        default=0.0, description="Weight of the retrieval order fused with the rerank order."
    )
    _reranker: Reranker = PrivateAttr()

    def __init__(
        self,
        model: str | Reranker = DEFAULT_RERANKER,
        top_n: int = 2,
        *,
        threshold: float | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        device: str | None = None,
        precision: str = "auto",
        keep_retrieval_score: bool = False,
        retrieval_weight: float = 0.0,
        **kwargs: Any,
    ) -> None:
        check_cutoffs(top_n, threshold)
        if not isinstance(model, Reranker):
            model = Reranker(
                model,
                device=device,
                precision=precision,
                batch_size=batch_size,
                max_length=max_length,
                retrieval_weight=retrieval_weight,
            )
        super().__init__(
            model=model.model_name,
            top_n=top_n,
            threshold=threshold,
            batch_size=model.batch_size,
            max_length=max_length,
            device=model.device,
            precision=model.precision,
            keep_retrieval_score=keep_retrieval_score,
            retrieval_weight=model.retrieval_weight,
            **kwargs,
        )
        self._reranker = model

    @classmethod
    def class_name(cls) -> str:
        return "CrossEncoderRerank"

    def _postprocess_nodes(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None = None,
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("CrossEncoderRerank needs the query: pass query_bundle or query_str")
        if not nodes:
            return []
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle, nodes=nodes, top_n=self.top_n, model_name=self.model
            )
        )
        payload: dict[str, Any] = {
            EventPayload.NODES: nodes,
            EventPayload.MODEL_NAME: self.model,
            EventPayload.QUERY_STR: query_bundle.query_str,
            EventPayload.TOP_K: self.top_n,
        }
        with self.callback_manager.event(CBEventType.RERANKING, payload=payload) as event:
            texts = [node.node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
            ranked = self._reranker.rank(
                query_bundle.query_str, texts, top_n=self.top_n, threshold=self.threshold
            )
            reranked = [self._scored(nodes[i], score) for i, score in ranked]
            event.on_end(payload={EventPayload.NODES: reranked})
        dispatcher.event(ReRankEndEvent(nodes=reranked))
        return reranked

    def _scored(self, node: NodeWithScore, score: float) -> NodeWithScore:
        # A shallow copy: the caller's node keeps its metadata and score untouched.
        update: dict[str, Any] = {}
        if self.keep_retrieval_score:
            inner = node.node
            update["metadata"] = {**inner.metadata, "retrieval_score": node.score}
            for field in ("excluded_embed_metadata_keys", "excluded_llm_metadata_keys"):
                update[field] = [*getattr(inner, field), "retrieval_score"]
        return NodeWithScore(node=node.node.model_copy(update=update), score=score)
