"""Adapting a cross-encoder to a corpus from its own index, with no hand labels needed.

Training data comes from the index: each section's heading path is a pseudo-query and
the section's first chunk its positive (:func:`pseudo_queries`); labelled pairs can be
added (:func:`read_pairs`, :func:`qrels_examples`). Hard negatives are mined with
crossrank's own retrieval, never from the positive's own section (:func:`mine`).
:func:`train` runs sentence-transformers' ``CrossEncoderTrainer`` with a listwise loss
(``MultipleNegativesRankingLoss``: the positive against mined and in-batch negatives) and
saves a standard CrossEncoder folder, usable anywhere a reranker name is.
"""

from __future__ import annotations

from .card import CARD_HEADING, add_to_card
from .examples import Example, gather, pseudo_queries, qrels_examples, read_pairs
from .mining import mine
from .trainer import STATE_FILE, TrainReport, train

__all__ = [
    "CARD_HEADING",
    "STATE_FILE",
    "Example",
    "TrainReport",
    "add_to_card",
    "gather",
    "mine",
    "pseudo_queries",
    "qrels_examples",
    "read_pairs",
    "train",
]
