"""Hard negatives for training examples, mined with crossrank's own retrieval."""

from __future__ import annotations

import random
from collections.abc import Sequence

from .._headings import strip_headings
from ..pipeline import Pipeline
from .examples import Example


def mine(
    pipeline: Pipeline,
    examples: Sequence[Example],
    *,
    negatives: int = 3,
    depth: int = 20,
    seed: int = 0,
    progress: bool = False,
) -> list[dict[str, str]]:
    """Training rows ``{"query", "positive", "negative_1", ...}`` with mined hard negatives.

    Negatives are drawn at random from the top ``depth`` chunks the pipeline's retrieval
    finds for the query, leaving out chunks that may be relevant (see
    :meth:`Example.excludes`). Heading lines are stripped from every passage, so that a
    heading cannot give its section away. An example with too few candidates is dropped.
    """
    from tqdm.auto import tqdm

    if negatives < 1 or depth < negatives:
        raise ValueError(f"need 1 <= negatives <= depth, got {negatives} and {depth}")
    rng = random.Random(seed)
    rows = []
    for example in tqdm(examples, desc="mining negatives", disable=not progress):
        hits = pipeline.retrieve(example.query, depth)
        texts = (strip_headings(hit.text) for hit in hits if not example.excludes(hit))
        pool = list(dict.fromkeys(text for text in texts if text))  # not a bare heading
        if len(pool) < negatives:
            continue
        row = {
            "query": example.query,
            "positive": strip_headings(example.positive) or example.positive,
        }
        for i, text in enumerate(rng.sample(pool, negatives), 1):
            row[f"negative_{i}"] = text
        rows.append(row)
    return rows
