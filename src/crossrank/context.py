"""The context an LLM reads: reranked hits made into cited passages within a token budget.

:class:`ContextBuilder` takes hits best first (from :meth:`crossrank.Pipeline.search`, or a
framework's reranked documents) and fills a token budget with them:

- text already in the context is not repeated: the overlap of neighbouring chunks is
  kept once, and a chunk that is contained in the context, or whose word 5-grams are
  mostly there already (a near-duplicate), is left out;
- chunks of one document that overlap or follow each other (same section) become one
  passage;
- with ``expand``, each hit brings its neighbouring chunks of the same section while the
  budget allows;
- a hit that does not fit whole contributes its evidence (the reranker's best window) if
  that fits; otherwise the next hit is tried;
- passages are numbered ``[1]``, ``[2]``... in the order the LLM reads them, each under a
  citation line: source, page(s), section.

Chunk positions come from the chunk schema (``source``, ``start_char``, ``end_char``,
``chunk_index``, ``section``, ``page``), or LangChain's ``start_index``. Hits without
positions are still deduplicated, by their text.

Example:
    >>> context = ContextBuilder(budget=512).build(pipeline.search("how do I install it?"))
    >>> print(context.text)
    [1] docs/install.md, Guide > Install
    Run pip install crossrank ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from . import _models, tracing
from ._extras import require
from .hit import CHUNK_INDEX, END_CHAR, PAGE, SECTION, SOURCE, START_CHAR, Hit
from .settings import ContextSettings

if TYPE_CHECKING:
    from .store import Store

_WORDS = re.compile(r"\w+|[^\w\s]")
_LETTERS = re.compile(r"\w+")
_SHINGLE = 5  # words per shingle in the near-duplicate test
NEAR_DUPLICATE = 0.8  # share of a chunk's shingles already in the context that drops it
SOURCE_KEYS = (SOURCE, "file_path", "file_name", "url")  # crossrank, LlamaIndex, web loaders


def approximate_tokens(text: str) -> int:
    """One token per word and one per punctuation mark: the default token count.

    Close to LLM tokenizers on English prose (they split rare words further, so real
    counts run somewhat higher: measured in docs/how-to/context.md); no model is loaded.
    """
    return len(_WORDS.findall(text))


def token_counter(tokenizer: Any = None) -> Callable[[str], int]:
    """A function counting the tokens of a text, by ``tokenizer``.

    Args:
        tokenizer: None (:func:`approximate_tokens`); ``"tiktoken:ENCODING"``; a Hugging
            Face tokenizer's name or folder; a tokenizer object (Hugging Face's, or
            anything with ``encode(text)``, such as a ``tiktoken.Encoding``); or a
            function from text to a count.
    """
    if tokenizer is None:
        return approximate_tokens
    if isinstance(tokenizer, str):
        tokenizer = _load_tokenizer(tokenizer)
    if hasattr(tokenizer, "num_special_tokens_to_add"):  # Hugging Face: no [CLS]/[SEP]
        return lambda text: len(
            tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        )
    if type(tokenizer).__module__.startswith("tiktoken"):  # text naming <|endoftext|> too
        return lambda text: len(tokenizer.encode(text, disallowed_special=()))
    if hasattr(tokenizer, "encode"):
        return lambda text: len(tokenizer.encode(text))
    if callable(tokenizer):
        return lambda text: int(tokenizer(text))
    raise TypeError(f"tokenizer {tokenizer!r}: expected a name, a tokenizer or a function")


def _load_tokenizer(name: str) -> Any:
    if name.startswith("tiktoken:"):
        tiktoken = require("tiktoken", "tiktoken")
        try:
            return tiktoken.get_encoding(name.removeprefix("tiktoken:"))
        except Exception as error:  # noqa: BLE001 - unknown name, or its file is not cached
            raise _models.load_error("tokenizer", name, error) from error
    from transformers import AutoTokenizer

    target, local_only = _models.resolve(name, "tokenizer")
    try:
        return AutoTokenizer.from_pretrained(target, local_files_only=local_only)
    except (OSError, ValueError) as error:
        raise _models.load_error("tokenizer", name, error) from error


@dataclass(frozen=True)
class Passage:
    """One numbered passage of a context: one or more merged chunks of one document.

    Attributes:
        label: Its number: the LLM cites it as ``[label]``.
        text: The passage's text, as the LLM reads it.
        source: The document it comes from, where known.
        section: The heading path, "" when unknown.
        pages: The pages it lies on (PDFs), first to last; empty when unknown.
        score: The best score of the hits in it (rerank score, else retrieval score).
        ids: The ids of the chunks in it, in document order.
        spans: The ``(start, end)`` offsets in the source document of each stretch of
            text it holds (one, unless merged chunks left a gap), where known.
        evidence: The ``(start, end)`` span of ``text`` that won the best hit's rerank
            score, where known.
    """

    label: int
    text: str
    source: str | None
    section: str = ""
    pages: tuple[int, ...] = ()
    score: float | None = None
    ids: tuple[str, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()
    evidence: tuple[int, int] | None = None

    @property
    def start_char(self) -> int | None:
        """Offset of the passage's start in its source document, where known."""
        return self.spans[0][0] if self.spans else None

    @property
    def end_char(self) -> int | None:
        """Offset one past the passage's end in its source document, where known."""
        return self.spans[-1][1] if self.spans else None

    @property
    def citation(self) -> str:
        """``source, p. 3, Section > Subsection``: what the passage's label stands for."""
        parts = [self.source or "unknown source"]
        if self.pages:
            first, last = self.pages[0], self.pages[-1]
            parts.append(f"p. {first}" if first == last else f"pp. {first}-{last}")
        if self.section:
            parts.append(self.section)
        return ", ".join(parts)

    @property
    def source_evidence(self) -> tuple[int, int] | None:
        """``evidence`` as offsets in the source document, where known."""
        if self.evidence is None or not self.spans:
            return None
        start, end = self.evidence
        for first, last in self.spans:  # each stretch, then the "\n" joining the next
            if start < last - first:
                return first + start, first + min(end, last - first)
            start, end = start - (last - first) - 1, end - (last - first) - 1
        return None

    @property
    def metadata(self) -> dict[str, Any]:
        """The framework adapters' metadata of the passage: :meth:`to_dict` less its text."""
        return {key: value for key, value in self.to_dict().items() if key != "text"}

    def render(self) -> str:
        """The passage as the prompt shows it: the citation line, then the text."""
        return f"[{self.label}] {self.citation}\n{self.text}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``crossrank ask --context N --json``)."""
        return {
            "label": self.label,
            "citation": self.citation,
            "text": self.text,
            "source": self.source,
            "section": self.section,
            "pages": list(self.pages),
            "score": self.score,
            "ids": list(self.ids),
            "start_char": self.start_char,
            "end_char": self.end_char,
            "spans": [list(span) for span in self.spans],
            "evidence": list(self.evidence) if self.evidence else None,
            "source_evidence": list(span) if (span := self.source_evidence) else None,
        }


@dataclass(frozen=True)
class Context:
    """What the builder made: the prompt text and the passages behind its ``[n]`` labels.

    Attributes:
        text: The passages rendered for a prompt, separated by blank lines.
        passages: The passages, in prompt order; ``passages[n - 1]`` is ``[n]``.
        tokens: Tokens ``text`` takes, by the builder's tokenizer.
        budget: The budget it was built for.
    """

    text: str
    passages: tuple[Passage, ...]
    tokens: int
    budget: int

    def __str__(self) -> str:
        return self.text

    def cited(self, label: int) -> Passage:
        """The passage an answer's ``[label]`` refers to."""
        if not 1 <= label <= len(self.passages):
            raise KeyError(f"no passage [{label}]: the context has {len(self.passages)}")
        return self.passages[label - 1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``crossrank ask --context N --json``)."""
        return {
            "text": self.text,
            "tokens": self.tokens,
            "budget": self.budget,
            "passages": [passage.to_dict() for passage in self.passages],
        }


@dataclass(frozen=True)
class _Piece:
    """A passage being built: chunks of one document as segments ``(start, end, text)``."""

    rank: int  # of its best hit
    source: str | None
    section: str
    score: float | None
    segments: tuple[tuple[int, int, str], ...]  # sorted, apart; offsets -1 when unplaced
    ids: tuple[str, ...]
    pages: frozenset[int] = frozenset()
    indexes: frozenset[int] = frozenset()  # chunk_index of its chunks
    evidence: tuple[int, int] | None = None  # source offsets, or text offsets if unplaced

    @property
    def placed(self) -> bool:
        """Whether the segments carry source offsets."""
        return self.segments[0][0] >= 0

    @property
    def text(self) -> str:
        # Segments are apart (touching ones merge): a line break stands for each gap.
        return "\n".join(text for _, _, text in self.segments)

    def passage_evidence(self) -> tuple[int, int] | None:
        """The evidence as offsets in :attr:`text`."""
        if self.evidence is None or not self.placed:
            return self.evidence
        offset = 0
        for start, end, text in self.segments:
            if start <= self.evidence[0] < end:
                stop = min(self.evidence[1], end)
                return offset + self.evidence[0] - start, offset + stop - start
            offset += len(text) + 1
        return None


class ContextBuilder:
    """Makes reranked hits into a cited context within a token budget.

    Args:
        settings: A :class:`~crossrank.settings.ContextSettings`, or its fields
            (``budget``, ``merge``, ``expand``, ``order``, ``relative_cut``,
            ``tokenizer``) as keyword arguments.
        store: The store the hits came from; ``expand`` reads neighbouring chunks there.
        tokenizer: A tokenizer object or counting function, instead of the settings' name
            (see :func:`token_counter`).

    Example:
        >>> builder = ContextBuilder(budget=1024, order="edges")
        >>> context = builder.build(hits)
        >>> context.cited(2).citation
        'docs/guide.pdf, p. 3, Install'
    """

    def __init__(
        self,
        settings: ContextSettings | None = None,
        *,
        store: Store | None = None,
        tokenizer: Any = None,
        **fields: Any,
    ) -> None:
        self.settings = replace(settings, **fields) if settings else ContextSettings(**fields)
        if self.settings.expand and store is None:
            raise ValueError("expand needs the store the hits come from: pass store=")
        self.store = store
        self.count = token_counter(tokenizer if tokenizer is not None else self.settings.tokenizer)
        self._counts: dict[str, int] = {}

    def build(self, hits: Sequence[Hit]) -> Context:
        """The context for ``hits``, given best first."""
        settings = self.settings
        hits = list(hits)
        attributes = {
            "crossrank.context.budget": settings.budget,
            "crossrank.context.hits": len(hits),
        }
        with tracing.span("context", tracing.CHAIN, attributes) as current:
            # Why hits were left out: a duplicate id, under the relative cut, nothing new
            # in them (covered or near-duplicate text), or over the budget.
            dropped = dict.fromkeys(("duplicate", "relative_cut", "overlap", "budget"), 0)
            best = max((hit.score for hit in hits if hit.score is not None), default=None)
            if settings.relative_cut is not None and best is not None:
                cut = settings.relative_cut * best
                kept = [hit for hit in hits if hit.score is None or hit.score >= cut]
                dropped["relative_cut"] = len(hits) - len(kept)
                hits = kept
            pieces: list[_Piece] = []
            seen: set[str] = set()
            for rank, hit in enumerate(hits):
                if hit.id in seen:
                    dropped["duplicate"] += 1
                    continue
                seen.add(hit.id)
                outcome = self._add(pieces, hit, rank)
                if outcome != "added":
                    dropped[outcome] += 1
                elif settings.expand:
                    seen.update(self._expand(pieces, hit, rank))
            context = self._context(pieces)
            current.set(
                {
                    "crossrank.context.tokens": context.tokens,
                    "crossrank.context.passages": len(context.passages),
                    **{f"crossrank.context.dropped.{why}": n for why, n in dropped.items()},
                }
            )
            current.output(context.text)
        return context

    def _add(self, pieces: list[_Piece], hit: Hit, rank: int) -> str:
        """Add ``hit`` (or else its evidence) if it fits: "added", else "overlap" (it holds
        nothing new) or "budget" (it does not fit)."""
        for candidate in self._candidates(hit):
            placed = self._place(pieces, _new_piece(candidate, rank))
            if placed is None:
                return "overlap"
            if self._fits(placed):
                pieces[:] = placed
                return "added"
        return "budget"

    def _candidates(self, hit: Hit) -> list[Hit]:
        """The hit, then (if narrower) its evidence window alone."""
        if not hit.evidence or hit.evidence == (0, len(hit.text)):
            return [hit]
        start, end = hit.evidence
        metadata = {k: v for k, v in hit.metadata.items() if k not in (CHUNK_INDEX, "start_index")}
        location = _location(hit)
        if location is not None:
            metadata[START_CHAR], metadata[END_CHAR] = location[0] + start, location[0] + end
        window = replace(
            hit, text=hit.text[start:end], metadata=metadata, evidence=(0, end - start)
        )
        return [hit, window]

    def _fits(self, pieces: list[_Piece]) -> bool:
        separators = self._separator * (len(pieces) - 1)
        return sum(map(self._cost, pieces)) + separators <= self.settings.budget

    @cached_property
    def _separator(self) -> int:
        return max(1, self.count("\n\n"))

    def _cost(self, piece: _Piece) -> int:
        # Labels are counted as two digits: a context rarely holds a hundred passages.
        text = _passage(piece, 99).render()
        if text not in self._counts:
            self._counts[text] = self.count(text)
        return self._counts[text]

    def _place(self, pieces: list[_Piece], new: _Piece) -> list[_Piece] | None:
        """``pieces`` with ``new`` added or merged in; None when it adds nothing new."""
        if not self.settings.merge:
            return [*pieces, new]
        if new.placed:
            if any(_covered(piece, new) for piece in pieces):
                return None
        elif _near_duplicate(new.text, [piece.text for piece in pieces]):
            return None
        kept = []
        for piece in pieces:
            if _joins(piece, new):
                new = _merge(piece, new)
            else:
                kept.append(piece)
        if new.placed and len(new.segments) == 1 and len(new.ids) == 1:
            # Not joined to anything: still a near-duplicate of text elsewhere?
            if _near_duplicate(new.text, [piece.text for piece in kept]):
                return None
        return [*kept, new]

    def _expand(self, pieces: list[_Piece], hit: Hit, rank: int) -> list[str]:
        """Add the hit's neighbouring chunks of its section, nearest first, while they fit."""
        index = hit.metadata.get(CHUNK_INDEX)
        source = hit.metadata.get(SOURCE)
        if not isinstance(index, int) or source is None or self.store is None:
            return []
        wanted = [
            index + step * side
            for step in range(1, self.settings.expand + 1)
            for side in (-1, 1)
            if index + step * side >= 0
        ]
        found = self.store.collection.get(
            where={"$and": [{SOURCE: source}, {CHUNK_INDEX: {"$in": wanted}}]}
        )
        section = hit.metadata.get(SECTION)
        by_index = {
            metadata.get(CHUNK_INDEX): Hit(id=id_, text=text, metadata=metadata)
            for id_, text, metadata in zip(
                found["ids"], found["documents"], found["metadatas"], strict=True
            )
            if metadata.get(SECTION) == section
        }
        added, stopped = [], set()  # a side stops at its first neighbour missing or too big
        for position in wanted:
            side = position > index
            if side in stopped:
                continue
            neighbour = by_index.get(position)
            if neighbour is not None and self._add(pieces, neighbour, rank) == "added":
                added.append(neighbour.id)
            elif neighbour is None or neighbour.id not in {i for p in pieces for i in p.ids}:
                stopped.add(side)
        return added

    def _context(self, pieces: list[_Piece]) -> Context:
        ordered = sorted(pieces, key=lambda piece: piece.rank)
        if self.settings.order == "edges":
            # Best first and second-best last, the weakest in the middle.
            ordered = ordered[0::2] + ordered[1::2][::-1]
        passages = tuple(_passage(piece, label) for label, piece in enumerate(ordered, 1))
        text = "\n\n".join(passage.render() for passage in passages)
        return Context(text, passages, self.count(text) if text else 0, self.settings.budget)


def _source(hit: Hit) -> str | None:
    for key in SOURCE_KEYS:
        value = hit.metadata.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def _location(hit: Hit) -> tuple[int, int] | None:
    """The hit's ``(start, end)`` in its source document, when the metadata says."""
    start, end = hit.metadata.get(START_CHAR), hit.metadata.get(END_CHAR)
    if isinstance(start, int) and isinstance(end, int) and end - start == len(hit.text):
        return start, end
    start = hit.metadata.get("start_index")  # LangChain splitters' add_start_index=True
    if isinstance(start, int) and start >= 0:
        return start, start + len(hit.text)
    return None


def _new_piece(hit: Hit, rank: int) -> _Piece:
    location = _location(hit)
    start, end = location if location is not None else (-1, -1)
    evidence = hit.evidence
    if evidence is not None and location is not None:
        evidence = (start + evidence[0], start + evidence[1])
    page, index = hit.metadata.get(PAGE), hit.metadata.get(CHUNK_INDEX)
    return _Piece(
        rank=rank,
        source=_source(hit),
        section=str(hit.metadata.get(SECTION) or ""),
        score=hit.score,
        segments=((start, end, hit.text),),
        ids=(hit.id,),
        pages=frozenset([page] if isinstance(page, int) else []),
        indexes=frozenset([index] if isinstance(index, int) else []),
        evidence=evidence,
    )


def _passage(piece: _Piece, label: int) -> Passage:
    return Passage(
        label=label,
        text=piece.text,
        source=piece.source,
        section=piece.section,
        pages=tuple(sorted(piece.pages)),
        score=piece.score,
        ids=piece.ids,
        spans=tuple((start, end) for start, end, _ in piece.segments) if piece.placed else (),
        evidence=piece.passage_evidence(),
    )


def _covered(piece: _Piece, new: _Piece) -> bool:
    """Whether all of ``new`` (one placed segment) is in ``piece`` already."""
    start, end, _ = new.segments[0]
    return (
        piece.placed
        and piece.source == new.source
        and any(a <= start and end <= b for a, b, _ in piece.segments)
    )


def _joins(piece: _Piece, new: _Piece) -> bool:
    """Whether two placed pieces of one document overlap, or follow each other in a section."""
    if not (piece.placed and new.placed and piece.source == new.source):
        return False
    if any(a < d and c < b for a, b, _ in piece.segments for c, d, _ in new.segments):
        return True
    if piece.section != new.section:
        return False
    if any(abs(i - j) == 1 for i in piece.indexes for j in new.indexes):
        return True
    # Without chunk numbers: pieces that touch, or are apart by whitespace at most.
    return any(
        0 <= c - b <= 2 or 0 <= a - d <= 2 for a, b, _ in piece.segments for c, d, _ in new.segments
    )


def _merge(first: _Piece, second: _Piece) -> _Piece:
    """One piece of two pieces of one document; the better-ranked one leads."""
    lead, other = (first, second) if first.rank <= second.rank else (second, first)
    merged: list[tuple[int, int, str]] = []
    for a, b, text in sorted(first.segments + second.segments):
        if merged and a <= merged[-1][1]:
            c, d, known = merged[-1]
            if b > d:
                merged[-1] = (c, b, known + text[d - a :])
        else:
            merged.append((a, b, text))
    return _Piece(
        rank=lead.rank,
        source=lead.source,
        section=lead.section,
        score=_max(lead.score, other.score),
        segments=tuple(merged),
        ids=tuple(sorted(set(first.ids + second.ids), key=(first.ids + second.ids).index)),
        pages=first.pages | second.pages,
        indexes=first.indexes | second.indexes,
        evidence=lead.evidence if lead.evidence is not None else other.evidence,
    )


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _LETTERS.findall(text.lower())
    if len(words) < _SHINGLE:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}


def _near_duplicate(text: str, included: list[str]) -> bool:
    """Whether ``text`` is in the context already, or most of its word 5-grams are."""
    if any(text in known for known in included):
        return True
    mine = _shingles(text)
    if not mine or not included:
        return False
    known = set().union(*(_shingles(other) for other in included))
    return len(mine & known) >= NEAR_DUPLICATE * len(mine)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


__all__ = [
    "Context",
    "ContextBuilder",
    "Passage",
    "approximate_tokens",
    "token_counter",
]
