"""The cross-encoder reranker: reads query and passage together and scores the pair."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _models, fusion, tracing
from ._spans import token_spans
from .hit import Hit
from .settings import (
    DEFAULT_RERANKER,
    RerankerSettings,
    check_cutoffs,
    check_query,
    check_retrieval_weight,
)

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

    from .client import Client

logger = logging.getLogger(__name__)

Scored = tuple[float, tuple[int, int] | None]  # a score, and the span of text that won it


class Reranker(_models.LazyModel["CrossEncoder"]):
    """A sentence-transformers CrossEncoder with calibrated scores and no silent truncation.

    Scores are in [0, 1]: the sigmoid of the logit for one-logit models, the positive-class
    probability for two-logit models. A passage longer than ``max_length`` is scored in
    overlapping windows and keeps its best window's score. Pairs are sorted by length and
    batched by token count, so no forward pass computes much padding.

    Args:
        model_name: A CrossEncoder name or local folder, or a whole
            :class:`~crossrank.settings.RerankerSettings`.
        options: Any other field of :class:`~crossrank.settings.RerankerSettings`
            (``device``, ``batch_size``, ``batch_tokens``, ``max_length``,
            ``window_overlap``, ``precision``, ``retrieval_weight``, ``model_kwargs``),
            validated when the reranker is made.

    Example:
        >>> reranker = Reranker("path/to/cross-encoder", precision="fp32")
        >>> best = reranker.rerank("what is a cross-encoder?", hits, top_n=5)
    """

    def __init__(
        self, model_name: str | RerankerSettings = DEFAULT_RERANKER, **options: Any
    ) -> None:
        if isinstance(model_name, RerankerSettings):
            self.settings = replace(model_name, **options)
        else:
            self.settings = RerankerSettings(model_name, **options)

    def __getattr__(self, name: str) -> Any:
        # model_name, device, batch_size...: the settings, read-only.
        if name == "model_name":
            return self.settings.model
        if name != "settings" and name in RerankerSettings.__dataclass_fields__:
            return getattr(self.settings, name)
        raise AttributeError(name)

    def load(self) -> Reranker:
        """Load the model now (or, with ``server``, check that the server answers)."""
        if self.settings.server:
            self._client.health()
            return self
        return super().load()

    @cached_property
    def _client(self) -> Client:
        from .client import Client

        return Client(self.settings.server or "")

    def _key(self, device: str) -> tuple[Any, ...]:
        settings = self.settings
        precision = _models.auto_precision(settings.precision, device)
        kwargs = dict(settings.model_kwargs)
        return ("reranker", settings.model, device, precision, settings.max_length, kwargs)

    def _load(self, device: str) -> CrossEncoder:
        from sentence_transformers import CrossEncoder

        precision = _models.auto_precision(self.settings.precision, device)
        target, local_only = _models.resolve(self.model_name, "reranker")
        try:
            model = CrossEncoder(
                target, device=device, local_files_only=local_only, **self.settings.model_kwargs
            )
        except (OSError, ValueError) as error:
            raise _models.load_error("reranker", self.model_name, error) from error
        if model.num_labels not in (1, 2):
            raise _models.load_error(
                "reranker", self.model_name, ValueError(f"{model.num_labels} labels; need 1 or 2")
            )
        limit = self.settings.max_length or model.max_seq_length
        # Tokenizers without a configured limit report a huge number; the position
        # embeddings are the real bound.
        positions = getattr(getattr(model.model, "config", None), "max_position_embeddings", None)
        if positions and (not limit or limit > positions):
            limit = positions
        model.max_seq_length = limit
        _models.to_precision(model, precision, device)
        if precision != "fp32":
            _score_head_in_fp32(model)
        return model

    @property
    def max_length(self) -> int:
        """Tokens per query-passage pair, special tokens included."""
        return int(self.model.max_seq_length or 512)

    def windows(self, query: str, text: str) -> list[tuple[int, int]]:
        """Character spans of ``text`` that each fit the model beside ``query``.

        A passage that fits is one span covering all of it; a longer one is cut into
        windows sharing ``window_overlap`` tokens, together covering all of it.
        """
        with self.lock:
            return self._windows(text, self._passage_budget(query))

    def _passage_budget(self, query: str) -> int:
        tokenizer = self.model.tokenizer
        query_tokens = len(tokenizer(query, add_special_tokens=False)["input_ids"])
        budget = self.max_length - tokenizer.num_special_tokens_to_add(pair=True)
        return budget - min(query_tokens, budget // 2)

    def _windows(self, text: str, budget: int) -> list[tuple[int, int]]:
        spans = token_spans(
            text, self.model.tokenizer, budget, min(self.window_overlap, budget // 2)
        )
        return spans if len(spans) > 1 else [(0, len(text))]

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """Calibrated relevance of each text to ``query``, as plain floats in [0, 1]."""
        return self.score_many([(query, texts)])[0]

    def score_many(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        """Scores for several ``(query, texts)`` requests, computed in shared batches.

        The pairs of all requests are sorted by length and batched together, so many small
        requests cost about what one request of all their pairs costs. Each request gets
        the scores it gets alone (up to float rounding: a batch's shape changes the order
        of additions in its matrix products, by about 1e-7). With ``server`` set, each
        request is scored by that crossrank server instead.
        """
        return [[score for score, _ in scored] for scored in self.score_spans(requests)]

    def score_spans(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[list[Scored]]:
        """Like :meth:`score_many`, with the evidence of each score: ``(score, span)``.

        ``span`` is the ``(start, end)`` character span of the text's best window, the one
        whose score it kept: the whole text when it fits the model in one window. It is
        None when a server scored the text (rerank APIs return no spans).
        """
        for query, _ in requests:
            check_query(query)
        if self.settings.server:
            return [
                [(score, None) for score in self._client.rerank(query, texts)]
                for query, texts in requests
            ]
        if not any(texts for _, texts in requests):
            return [[] for _ in requests]
        with self.lock:
            return self._score_spans(requests)

    def _score_spans(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[list[Scored]]:
        pairs: list[tuple[str, str]] = []
        owners: list[int] = []  # the text, numbered across all requests, each pair scores
        spans: list[tuple[int, int]] = []
        first = 0
        for query, texts in requests:
            query = self._fit_query(query)
            budget = self._passage_budget(query)
            for i, text in enumerate(texts):
                for start, end in self._windows(text, budget):
                    pairs.append((query, text[start:end]))
                    owners.append(first + i)
                    spans.append((start, end))
            first += len(texts)
        encoded = self.model.tokenizer([query for query, _ in pairs], [text for _, text in pairs])
        lengths = [min(len(ids), self.max_length) for ids in encoded["input_ids"]]
        logits: list[np.ndarray] = [np.empty(0)] * len(pairs)
        for batch in token_batches(lengths, self.batch_tokens, self.batch_size):
            scores = self.model.predict(
                [pairs[i] for i in batch],
                batch_size=len(batch),
                activation_fn=_identity,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            for i, row in zip(batch, np.asarray(scores, dtype=np.float64), strict=True):
                logits[i] = row
        probabilities = _calibrate(np.stack(logits))
        tracing.current().set(
            {"crossrank.reranker.pairs": len(pairs), "crossrank.reranker.texts": first}
        )
        best: list[Scored] = [(-1.0, None)] * first
        for owner, probability, span in zip(owners, probabilities, spans, strict=True):
            if probability > best[owner][0]:  # the first best window wins a tie
                best[owner] = (float(probability), span)
        split: list[list[Scored]] = []
        first = 0
        for _, texts in requests:
            split.append(best[first : first + len(texts)])
            first += len(texts)
        return split

    def _fit_query(self, query: str) -> str:
        # A query may use at most half the pair's tokens; the passage keeps the rest.
        tokenizer = self.model.tokenizer
        limit = (self.max_length - tokenizer.num_special_tokens_to_add(pair=True)) // 2
        offsets = tokenizer(query, add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        if len(offsets) <= limit:
            return query
        logger.warning("query is %d tokens; the reranker reads its first %d", len(offsets), limit)
        return query[: offsets[limit - 1][1]]

    def rank(
        self,
        query: str,
        texts: Sequence[str],
        *,
        top_n: int | None = None,
        threshold: float | None = None,
    ) -> list[tuple[int, float]]:
        """``(index into texts, score)`` pairs, best first, cut by ``top_n`` and ``threshold``.

        Ties keep the input order. With a ``retrieval_weight``, the order fuses the rerank
        order with the input (retrieval) order. This is the one place ranking happens;
        :meth:`rerank` and the framework adapters build on it.

        Args:
            query: The question or search text.
            texts: Candidate passages.
            top_n: Keep at most this many; None keeps all.
            threshold: Drop texts scoring below this value in [0, 1].
        """
        ranked = self._ranked(query, texts, top_n=top_n, threshold=threshold)
        return [(i, score) for i, (score, _) in ranked]

    def rerank(
        self,
        query: str,
        hits: Sequence[Hit],
        *,
        top_n: int | None = None,
        threshold: float | None = None,
    ) -> list[Hit]:
        """Return new hits ordered by rerank score, best first (see :meth:`rank`).

        The hits passed in, typically from :meth:`crossrank.Store.search`, are not modified;
        each returned hit keeps its ``retrieval_score`` beside the new ``rerank_score``, and
        its ``evidence`` is the span of its text that won (see :meth:`score_spans`).
        """
        texts = [hit.text for hit in hits]
        ranked = self._ranked(query, texts, top_n=top_n, threshold=threshold, hits=hits)
        return [replace(hits[i], rerank_score=score, evidence=span) for i, (score, span) in ranked]

    def _ranked(
        self,
        query: str,
        texts: Sequence[str],
        *,
        top_n: int | None,
        threshold: float | None,
        hits: Sequence[Hit] | None = None,
    ) -> list[tuple[int, Scored]]:
        """:meth:`rank`, each score with its evidence span (``hits``: the texts' hits)."""
        check_cutoffs(top_n, threshold)
        attributes = {
            tracing.RERANKER_MODEL_NAME: self.model_name,
            tracing.RERANKER_TOP_K: top_n,
            "crossrank.reranker.threshold": threshold,
            "crossrank.reranker.retrieval_weight": self.retrieval_weight or None,
        }
        with tracing.span("rerank", tracing.RERANKER, attributes) as current:
            if current.recording and tracing.shows_inputs():
                current.set({tracing.RERANKER_QUERY: query})
            current.documents(tracing.RERANKER_INPUT_DOCUMENTS, hits or texts)
            (scored,) = self.score_spans([(query, texts)])
            ranked = select(
                [score for score, _ in scored],
                top_n=top_n,
                threshold=threshold,
                retrieval_weight=self.retrieval_weight,
            )
            chosen = [hits[i] if hits else texts[i] for i, _ in ranked]
            scores = [scored[i][0] for i, _ in ranked]
            current.documents(tracing.RERANKER_OUTPUT_DOCUMENTS, chosen, scores)
        return [(i, scored[i]) for i, _ in ranked]


def select(
    scores: Sequence[float],
    *,
    top_n: int | None = None,
    threshold: float | None = None,
    retrieval_weight: float = 0.0,
) -> list[tuple[int, float]]:
    """``(index, score)`` best first (ties keep input order), cut by threshold and top_n.

    With ``retrieval_weight`` above 0, "best" is by weighted reciprocal-rank fusion of the
    score order with the input order (see :class:`Reranker`).
    """
    check_cutoffs(top_n, threshold)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    if check_retrieval_weight(retrieval_weight):
        weights = {"rerank": 1.0 - retrieval_weight, "retrieval": retrieval_weight}
        order = list(
            fusion.reciprocal_rank({"rerank": order, "retrieval": range(len(scores))}, weights)
        )
    ranked = [(i, scores[i]) for i in order if threshold is None or scores[i] >= threshold]
    return ranked[:top_n] if top_n is not None else ranked


def token_batches(lengths: Sequence[int], max_tokens: int, max_size: int) -> list[list[int]]:
    """Group indices into batches of similar length, longest first.

    A batch is padded to its longest member, so it costs ``len(batch) * longest`` tokens;
    each batch stays within ``max_tokens`` of that cost (a single longer item goes alone)
    and ``max_size`` members.
    """
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        batch = batches[-1] if batches else []
        if batch and len(batch) < max_size and lengths[batch[0]] * (len(batch) + 1) <= max_tokens:
            batch.append(i)
        else:
            batches.append([i])
    return batches


def _score_head_in_fp32(model: CrossEncoder) -> None:
    """Run the final scoring layer in fp32, so bf16/fp16 logits are not rounded into ties.

    bf16 keeps 8 bits of mantissa: a logit near 8 would move in steps of 1/32, and close
    candidates would tie. The head is one small matrix; fp32 there costs nothing.
    """
    import torch

    layers = [
        layer
        for layer in model.modules()
        if isinstance(layer, torch.nn.Linear) and layer.out_features == model.num_labels
    ]
    if layers:
        head = layers[-1].float()
        head.register_forward_pre_hook(lambda _, inputs: tuple(x.float() for x in inputs))


def _identity(x: Any) -> Any:
    return x


def _calibrate(logits: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(logits)):
        raise FloatingPointError("the reranker produced NaN or infinite logits")
    if logits.ndim == 2 and logits.shape[1] == 2:
        logits = logits[:, 1] - logits[:, 0]  # softmax positive class == sigmoid of margin
    elif logits.ndim == 2:
        logits = logits[:, 0]
    return 1.0 / (1.0 + np.exp(-logits))


__all__ = ["Reranker", "Scored", "select", "token_batches"]
