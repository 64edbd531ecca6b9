"""Token-bounded windows over text: the one splitter behind chunking and reranker windows."""

from __future__ import annotations

from typing import Any


def token_spans(text: str, tokenizer: Any, size: int, overlap: int) -> list[tuple[int, int]]:
    """Cut ``text`` into character spans of at most ``size`` tokens each.

    Consecutive spans share about ``overlap`` tokens; cuts fall between words (unless one
    word is longer than a whole window), and prefer the end of a sentence or paragraph in
    the last quarter of a window. Leading and trailing whitespace is left out.
    """
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need chunk size >= 1 and 0 <= overlap < size, got {size}, {overlap}")
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = encoding["offset_mapping"]
    words = encoding.word_ids()
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(offsets):
        end = min(start + size, len(offsets))
        if end < len(offsets):
            end = _best_cut(text, offsets, words, start, end)
        spans.append((offsets[start][0], offsets[end - 1][1]))
        if end >= len(offsets):
            break
        start = _word_start(words, max(end - overlap, start + 1), start + 1)
    return spans


def _best_cut(text: str, offsets: list, words: list, start: int, end: int) -> int:
    floor = start + max(1, (end - start) * 3 // 4)
    for cut in range(end, floor, -1):
        gap = text[offsets[cut - 1][1] : offsets[cut][0]]
        if "\n" in gap or (gap and text[offsets[cut - 1][1] - 1] in ".!?"):
            return cut
    return _word_start(words, end, start + 2)


def _word_start(words: list, index: int, floor: int) -> int:
    """Move ``index`` back to the start of its word, but not below ``floor``.

    A word reaching below ``floor`` is longer than a window: it is cut inside, since
    otherwise windows would shrink to one token each.
    """
    cut = index
    while cut > floor and words[cut] == words[cut - 1]:
        cut -= 1
    return cut if cut > floor or words[cut] != words[cut - 1] else index
