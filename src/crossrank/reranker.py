"""The cross-encoder reranker: reads query and passage together and scores the pair."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _models, engine, fusion, tracing
from ._spans import token_spans
from .batching import Batcher
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
_Scoring = tuple[list[Scored], int]  # one request's scores, and the pairs (windows) scored

_batchers: dict[tuple[Any, ...], Batcher[_Scoring]] = {}  # one per model and batch settings
_batchers_lock = threading.Lock()
# The lengths a batch is padded to (then multiples of 256), so that the model sees a bounded
# set of shapes: oneDNN and OpenVINO keep kernels (and memory) per input shape, and a server
# that sees new shapes forever grows without bound. Multiples of 16: +1.2% computed tokens
# over padding each batch to its longest, for 152 possible shapes (multiples of 32: +3.0%;
# the 12 steps before: +6.4%; benchmarks/engines.py). Empty: pad to each batch's longest.
LENGTHS = tuple(range(16, 513, 16))
# The default window of a long-context model (bge-reranker-v2-m3, gte-reranker-modernbert:
# 8k; Qwen3-Reranker: 32k+): attention is quadratic in the window, and a CPU reads a passage
# faster in windows of this length than whole. Measured (docs: Models); max_length overrides.
WINDOW_TOKENS = 512


class Reranker(_models.LazyModel["CrossEncoder"]):
    """A sentence-transformers CrossEncoder with calibrated scores and no silent truncation.

    Scores are in [0, 1]: the sigmoid of the logit for one-logit models, the positive-class
    probability for two-logit models. A passage longer than ``max_length`` is scored in
    overlapping windows and keeps its best window's score. Pairs are sorted by length and
    batched by token count, so no forward pass computes much padding. Callers in several
    threads or coroutines of one process share the model's batches (see
    :mod:`crossrank.batching`): each gets the scores it gets alone.

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
                "reranker",
                self.model_name,
                ValueError(
                    f"it has {model.num_labels} labels: a reranker scores with 1 logit (relevance)"
                    " or 2 (softmax over not relevant/relevant); a classifier of more labels is "
                    "not a reranker"
                ),
            )
        limit = model.max_seq_length
        # Tokenizers without a configured limit report a huge number; the position
        # embeddings are the real bound.
        positions = _models.position_limit(getattr(model.model, "config", None))
        if positions and (not limit or limit > positions):
            limit = positions
        wanted = self.settings.max_length
        if wanted is not None and positions and wanted > positions:
            raise _models.load_error(
                "reranker",
                self.model_name,
                ValueError(f"max_length {wanted} is more than it reads ({positions} tokens)"),
            )
        model.max_seq_length = wanted or min(limit or WINDOW_TOKENS, WINDOW_TOKENS)
        _models.to_precision(model, precision, device)
        if precision != "fp32":
            _score_head_in_fp32(model)
        engine.accelerate(model, kind="reranker", precision=precision, device=device)
        return model

    @property
    def prompt(self) -> str:
        """The instruction or prompt the model reads with each pair: ``prompt`` when set
        (a name of one of the model's saved prompts means that prompt), else the model's
        default (``""``: none; a chat template may hold its own default instruction)."""
        saved: dict[str, str] = {k: v or "" for k, v in (self.model.prompts or {}).items()}
        given = self.settings.prompt
        if given is None:
            return saved.get(self.model.default_prompt_name or "", "")
        return saved.get(given, given)

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
            return self._fitted(query, [text], self._passage_budget(query))[0][0]

    def _passage_budget(self, query: str) -> int:
        # What the model reads beside the passage: special tokens, the query, and, for
        # chat-template models, the template and its instruction.
        budget = self.max_length - self._lengths([(query, "")])[0]
        if budget < 8:
            raise ValueError(
                f"max_length {self.max_length} leaves {budget} tokens for the passage: reranker "
                f"{self.model_name!r} reads {self.max_length - budget} beside it (query, "
                "template, instruction); raise max_length"
            )
        return budget

    def _lengths(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        """Tokens the model reads for each pair, counted by its own preprocessing (template,
        instruction and special tokens included), before truncation."""
        lengths: list[int] = []
        for start in range(0, len(pairs), 256):
            features = self.model.preprocess(
                list(pairs[start : start + 256]),
                prompt=self.prompt,
                processing_kwargs={"text": {"truncation": False}},
            )
            lengths.extend(int(n) for n in features["attention_mask"].sum(dim=1).tolist())
        return lengths

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
        batcher = self.batcher
        futures = [batcher.submit(query, texts) if texts else None for query, texts in requests]
        return self._traced([future.result() if future else ([], 0) for future in futures])

    async def ascore_spans(
        self, requests: Sequence[tuple[str, Sequence[str]]]
    ) -> list[list[Scored]]:
        """:meth:`score_spans` for coroutines: the model works in its own thread, sharing
        batches with the process's other callers, and the event loop is never blocked."""
        for query, _ in requests:
            check_query(query)
        if self.settings.server:
            return await asyncio.to_thread(self.score_spans, requests)
        if not any(texts for _, texts in requests):
            return [[] for _ in requests]
        if "batcher" not in self.__dict__:
            await asyncio.to_thread(self.load)  # loading blocks: not on the event loop
        batcher = self.batcher
        futures = [
            asyncio.wrap_future(batcher.submit(query, texts)) if texts else None
            for query, texts in requests
        ]
        return self._traced([await future if future else ([], 0) for future in futures])

    @cached_property
    def batcher(self) -> Batcher[_Scoring]:
        """The batcher this reranker's scoring goes through: the process's one for this
        model (loaded here) and these batch settings."""
        settings = self.settings
        key = (
            id(self.model),
            settings.batch_size,
            settings.batch_tokens,
            settings.window_overlap,
            settings.prompt,
        )
        with _batchers_lock:
            if key not in _batchers:
                _batchers[key] = Batcher(self._score_spans)
            return _batchers[key]

    def _traced(self, scorings: list[_Scoring]) -> list[list[Scored]]:
        tracing.current().set(
            {
                "crossrank.reranker.pairs": sum(pairs for _, pairs in scorings),
                "crossrank.reranker.texts": sum(len(scored) for scored, _ in scorings),
            }
        )
        return [scored for scored, _ in scorings]

    def _score_spans(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[_Scoring]:
        """Score several requests in shared batches (the batcher's call)."""
        with self.lock:
            return self._scored(requests)

    def _scored(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[_Scoring]:
        pairs: list[tuple[str, str]] = []
        owners: list[int] = []  # the text, numbered across all requests, each pair scores
        spans: list[tuple[int, int]] = []
        windows: list[int] = []  # pairs per request
        first = 0
        lengths: list[int] = []
        for query, texts in requests:
            windows.append(-len(pairs))
            query = self._fit_query(query)
            budget = self._passage_budget(query)
            for i, (text, (cut, counted)) in enumerate(
                zip(texts, self._fitted(query, texts, budget), strict=True)
            ):
                for (start, end), length in zip(cut, counted, strict=True):
                    pairs.append((query, text[start:end]))
                    owners.append(first + i)
                    spans.append((start, end))
                    lengths.append(length)
            first += len(texts)
            windows[-1] += len(pairs)
        padded = [padded_length(length, self.max_length) for length in lengths]
        logits: list[np.ndarray] = [np.empty(0)] * len(pairs)
        for batch in token_batches(padded, self.batch_tokens, self.batch_size):
            # Padding is masked: a text's score does not depend on its batch's length.
            bucket = {"padding": "max_length", "max_length": padded[batch[0]]} if LENGTHS else {}
            scores = self.model.predict(
                [pairs[i] for i in batch],
                prompt=self.prompt,
                batch_size=len(batch),
                activation_fn=_identity,
                convert_to_numpy=True,
                show_progress_bar=False,
                processing_kwargs={"text": bucket},
            )
            for i, row in zip(batch, np.asarray(scores, dtype=np.float64), strict=True):
                logits[i] = row
        probabilities = _calibrate(np.stack(logits))
        best: list[Scored] = [(-1.0, None)] * first
        for owner, probability, span in zip(owners, probabilities, spans, strict=True):
            if probability > best[owner][0]:  # the first best window wins a tie
                best[owner] = (float(probability), span)
        split: list[_Scoring] = []
        first = 0
        for (_, texts), scored_pairs in zip(requests, windows, strict=True):
            split.append((best[first : first + len(texts)], scored_pairs))
            first += len(texts)
        return split

    def _fitted(
        self, query: str, texts: Sequence[str], budget: int
    ) -> list[tuple[list[tuple[int, int]], list[int]]]:
        """Each text's windows beside ``query``, and the tokens the model reads for each.

        A passage's tokens can merge with the template's at its edges, so a window cut to
        the budget may read a token or two more: such a text is cut again, to less.
        """
        windows = [self._windows(text, budget) for text in texts]
        pairs = [
            (query, text[a:b]) for text, cut in zip(texts, windows, strict=True) for a, b in cut
        ]
        counted = iter(self._lengths(pairs))  # all texts' windows in one call
        fitted = []
        for text, cut in zip(texts, windows, strict=True):
            lengths, less = [next(counted) for _ in cut], budget
            while max(lengths) > self.max_length and less > 1:
                less -= max(lengths) - self.max_length
                cut = self._windows(text, less)
                lengths = self._lengths([(query, text[a:b]) for a, b in cut])
            fitted.append((cut, [min(length, self.max_length) for length in lengths]))
        return fitted

    def _fit_query(self, query: str) -> str:
        # A query may use at most half the pair's tokens; the passage keeps the rest.
        tokenizer = self.model.tokenizer
        limit = max((self.max_length - self._lengths([("", "")])[0]) // 2, 1)
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

    async def arerank(
        self,
        query: str,
        hits: Sequence[Hit],
        *,
        top_n: int | None = None,
        threshold: float | None = None,
    ) -> list[Hit]:
        """:meth:`rerank` for coroutines (see :meth:`ascore_spans`)."""
        texts = [hit.text for hit in hits]
        with self._ranking(query, texts, top_n, threshold, hits) as ranking:
            (scored,) = await self.ascore_spans([(query, texts)])
            ranked = ranking.select(scored)
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
        with self._ranking(query, texts, top_n, threshold, hits) as ranking:
            (scored,) = self.score_spans([(query, texts)])
            return ranking.select(scored)

    @contextmanager
    def _ranking(
        self,
        query: str,
        texts: Sequence[str],
        top_n: int | None,
        threshold: float | None,
        hits: Sequence[Hit] | None,
    ) -> Iterator[_Ranking]:
        """The rerank span around scoring, and the selection of the scored texts in it."""
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
            yield _Ranking(self, current, texts, hits, top_n, threshold)


@dataclass
class _Ranking:
    """Picks the best of scored texts, as a reranker's settings and a call's cutoffs say,
    and records them on the rerank span."""

    reranker: Reranker
    span: tracing.Span
    texts: Sequence[str]
    hits: Sequence[Hit] | None
    top_n: int | None
    threshold: float | None

    def select(self, scored: list[Scored]) -> list[tuple[int, Scored]]:
        ranked = select(
            [score for score, _ in scored],
            top_n=self.top_n,
            threshold=self.threshold,
            retrieval_weight=self.reranker.retrieval_weight,
        )
        chosen = [self.hits[i] if self.hits else self.texts[i] for i, _ in ranked]
        scores = [scored[i][0] for i, _ in ranked]
        self.span.documents(tracing.RERANKER_OUTPUT_DOCUMENTS, chosen, scores)
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


def padded_length(length: int, limit: int) -> int:
    """The length a batch whose longest pair has ``length`` tokens is padded to: the next
    of :data:`LENGTHS` (beyond them, a multiple of 256), at most ``limit``."""
    if not LENGTHS:
        return length
    step = next((each for each in LENGTHS if each >= length), -(-length // 256) * 256)
    return min(step, limit)


def token_batches(lengths: Sequence[int], max_tokens: int, max_size: int) -> list[list[int]]:
    """Group indices into batches of similar length, longest first.

    A batch is padded to its longest member, so it costs ``len(batch) * longest`` tokens;
    each batch stays within ``max_tokens`` of that cost (a single longer item goes alone)
    and ``max_size`` members. With :data:`LENGTHS`, each batch has a power-of-two size, so
    that the model sees a few shapes: full batches hold the largest power of two that fits,
    and the last, partial one of a length goes in parts (13 left: 8, 4 and 1).
    """
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        batch = batches[-1] if batches else []
        if batch and len(batch) < _room(lengths[batch[0]], max_tokens, max_size):
            batch.append(i)
        else:
            batches.append([i])
    if not LENGTHS:
        return batches
    return [
        batch[start : start + size]
        for batch in batches
        for start, size in _powers_of_two(len(batch))
    ]


def _room(longest: int, max_tokens: int, max_size: int) -> int:
    """How many pairs a batch padded to ``longest`` tokens may hold."""
    room = max(1, min(max_size, max_tokens // max(longest, 1)))
    return 1 << (room.bit_length() - 1) if LENGTHS else room


def _powers_of_two(n: int) -> list[tuple[int, int]]:
    """``(start, size)`` parts of ``n`` items, each a power of two, largest first."""
    parts, start = [], 0
    for bit in reversed(range(n.bit_length())):
        if n & (1 << bit):
            parts.append((start, 1 << bit))
            start += 1 << bit
    return parts


def _score_head_in_fp32(model: CrossEncoder) -> None:
    """Compute the final scoring logits in fp32, so bf16/fp16 logits are not rounded into ties.

    bf16 keeps 8 bits of mantissa: a logit near 8 would move in steps of 1/32, and close
    candidates would tie. A classification head is one small matrix: sentence-transformers
    runs it in fp32. A causal LM's head is vocabulary-wide; only the rows of the tokens
    :class:`~sentence_transformers.cross_encoder.modules.LogitScore` reads (yes, no) are
    computed again in fp32.
    """
    import torch
    from sentence_transformers.cross_encoder.modules import LogitScore

    scorers = [module for module in model if isinstance(module, LogitScore)]
    if scorers:
        ids = [scorers[-1].true_token_id]
        ids += [] if scorers[-1].false_token_id is None else [scorers[-1].false_token_id]
        head = model.model.get_output_embeddings()  # type: ignore[union-attr]
        rows = head.weight[ids].float()
        bias = None if head.bias is None else head.bias[ids].float()

        def in_fp32(_: Any, inputs: tuple[Any, ...], output: Any) -> Any:
            output = output.float()
            output[..., ids] = torch.nn.functional.linear(inputs[0].float(), rows, bias)
            return output

        head.register_forward_hook(in_fp32)
        return
    names = [
        name
        for name, layer in model.named_modules()
        if isinstance(layer, torch.nn.Linear) and layer.out_features == model.num_labels
    ]
    if names:
        model.set_keep_in_fp32_modules(names[-1:])


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


__all__ = ["LENGTHS", "Reranker", "Scored", "padded_length", "select", "token_batches"]
