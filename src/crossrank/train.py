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

import json
import logging
import random
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from . import _models
from ._extras import require
from ._headings import SEPARATOR, strip_headings
from .errors import IngestError, ModelNotFoundError
from .evaluate import Dataset
from .hit import Hit
from .pipeline import Pipeline
from .store import Store

logger = logging.getLogger(__name__)

CARD_HEADING = "## crossrank training"
STATE_FILE = "crossrank_training.json"


@dataclass(frozen=True)
class Example:
    """A query and one relevant passage, before negatives are mined for it.

    Attributes:
        query: The query text.
        positive: A relevant passage's text.
        section: The positive's heading path; chunks of this section and its subsections
            are never used as the query's negatives.
        sources: Chunk sources (documents) never used as negatives (all relevant ones).
    """

    query: str
    positive: str
    section: str = ""
    sources: frozenset[str] = frozenset()

    def excludes(self, hit: Hit) -> bool:
        """Whether ``hit`` may be relevant to the query, so must not be a negative."""
        if hit.text == self.positive or hit.metadata.get("source") in self.sources:
            return True
        section = str(hit.metadata.get("section", ""))
        own = self.section
        return bool(own) and (section == own or section.startswith(own + SEPARATOR))


def pseudo_queries(store: Store, *, positives: int = 1) -> list[Example]:
    """One example per section of the indexed documents: heading path -> first chunk(s).

    Uses the ``section`` metadata that indexing gives Markdown and reStructuredText chunks
    (and BEIR corpora with ``metadata.section``); chunks without one are only negatives, and
    a section with no text of its own (only subsections) gives no example.
    """
    found = store.collection.get(include=["documents", "metadatas"])
    sections: dict[str, list[tuple[list[Any], int, str]]] = {}
    for text, metadata in zip(found["documents"], found["metadatas"], strict=True):
        section = str((metadata or {}).get("section", ""))
        if section:
            order = _natural(str(metadata.get("source", "")))
            sections.setdefault(section, []).append((order, int(metadata["chunk_index"]), text))
    examples = []
    for section in sorted(sections):
        chunks = sorted(sections[section], key=lambda chunk: (chunk[0], chunk[1]))
        first = [chunk for chunk in chunks if chunk[0] == chunks[0][0]]  # its first document
        kept = [text for _, _, text in first[:positives] if strip_headings(text)]
        examples += [Example(section, text, section) for text in kept]
    return examples


def _natural(text: str) -> list[Any]:
    """Sort key putting "a#2" before "a#10"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def read_pairs(path: str | Path) -> list[Example]:
    """Labelled examples from JSON lines, each ``{"query": ..., "passage": ...}``."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise IngestError(f"{path}: cannot read the training pairs ({error})") from error
    examples = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            query, passage = str(row["query"]).strip(), str(row["passage"]).strip()
        except (ValueError, TypeError, KeyError) as error:
            raise IngestError(
                f'{path}:{number}: expected a JSON object with "query" and "passage" ({error})'
            ) from error
        if not query or not passage:
            raise IngestError(f"{path}:{number}: empty query or passage")
        examples.append(Example(query, passage))
    if not examples:
        raise IngestError(f"{path}: no training pairs in it")
    return examples


def qrels_examples(
    store: Store, dataset: Dataset, query_ids: Iterable[str] | None = None
) -> list[Example]:
    """Labelled examples from a BEIR dataset's qrels, over its corpus indexed in ``store``.

    Each judged-relevant document gives one example whose positive is the document's
    first chunk; no relevant document of the query is used as its negative.
    """
    wanted = set(dataset.qrels if query_ids is None else query_ids)
    judged = {
        qid: sorted(doc for doc, grade in dataset.qrels[qid].items() if grade > 0)
        for qid in sorted(wanted & dataset.qrels.keys() & dataset.queries.keys())
    }
    documents = sorted({doc for relevant in judged.values() for doc in relevant})
    if not documents:
        return []
    found = store.collection.get(  # each document's first chunk, in one query
        where={"$and": [{"source": {"$in": documents}}, {"chunk_index": 0}]},
        include=["documents", "metadatas"],
    )
    first = {
        str(meta["source"]): text
        for text, meta in zip(found["documents"], found["metadatas"], strict=True)
    }
    return [
        Example(dataset.queries[qid], first[doc], sources=frozenset(relevant))
        for qid, relevant in judged.items()
        for doc in relevant
        if doc in first
    ]


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


@dataclass(frozen=True)
class TrainReport:
    """What a training run did: written to the model folder and its model card."""

    model: str
    base: str
    examples: int
    steps: int
    epochs: float
    pairs_per_step: int
    seconds: float
    pairs_per_second: float
    stopped_by_time: bool
    precision: str
    seed: int
    data: dict[str, int] = field(default_factory=dict)


def train(
    rows: Sequence[Mapping[str, str]],
    out: str | Path,
    *,
    base: str = _models.DEFAULT_ENCODER,
    epochs: float = 1.0,
    batch_size: int = 16,
    learning_rate: float = 1e-4,
    head_learning_rate: float | None = None,
    in_batch_negatives: int = 1,
    max_minutes: float | None = None,
    max_length: int | None = 192,
    save_steps: int = 200,
    resume: bool = False,
    seed: int = 0,
    precision: str = "auto",
    device: str | None = None,
    progress: bool = True,
    data: Mapping[str, int] | None = None,
) -> TrainReport:
    """Fine-tune a cross-encoder on ``rows`` (from :func:`mine`) and save it to ``out``.

    Args:
        rows: ``{"query", "positive", "negative_1", ...}`` dicts, all with the same keys.
        out: Folder for the trained model; checkpoints go to ``out/checkpoints``.
        base: A cross-encoder, or a bi-encoder (the default: the bundled all-MiniLM-L6-v2)
            whose encoder gets a fresh one-logit score head.
        epochs: Passes over the rows.
        batch_size: Queries per step; each is scored against its positive, its mined
            negatives and ``in_batch_negatives`` other queries' passages.
        learning_rate: For the encoder. The defaults (1e-4, ``max_length`` 192) trained
            better on the dev set than 5e-5 and 320 (README, *Training a reranker*).
        head_learning_rate: For the score head; None is 10x ``learning_rate`` (a fresh head
            starts from random weights).
        max_minutes: Stop (and save) after this much training time.
        max_length: Tokens per query-passage pair while training (longer passages are
            truncated for training only; the trained reranker still reads them whole).
        save_steps: Save a checkpoint every this many steps (the last two are kept).
        resume: Continue from the last checkpoint in ``out/checkpoints``.
        seed: Seeds initialization, shuffling and in-batch sampling.
        precision: ``"auto"`` (bf16 where the hardware has it), ``"bf16"`` or ``"fp32"``.
        data: Counts describing where ``rows`` came from, for the model card.
    """
    require("datasets", "train")
    require("accelerate", "train")
    from datasets import Dataset as HFDataset
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import MultipleNegativesRankingLoss
    from transformers import set_seed

    if not rows:
        raise ValueError("no training rows: nothing to train on")
    columns = list(rows[0])
    if columns[:2] != ["query", "positive"] or any(list(row) != columns for row in rows):
        raise ValueError('every row needs the same keys, starting with "query", "positive"')
    out = Path(out)
    device = _models.auto_device(device)
    precision = _models.auto_precision(precision, device)
    if precision == "fp16" and device == "cpu":
        raise ValueError("fp16 training needs a GPU; use bf16 or fp32 on a CPU")
    set_seed(seed)
    target, local_only = _models.resolve(base, "base")
    try:
        model = CrossEncoder(target, num_labels=1, device=device, local_files_only=local_only)
    except (OSError, ValueError) as error:
        raise _models.load_error("base", base, error) from error
    if model.num_labels != 1:
        raise ModelNotFoundError(f"base model {base!r} has {model.num_labels} labels; need 1")
    if max_length:
        model.max_seq_length = max_length
    checkpoints = out / "checkpoints"
    args = CrossEncoderTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        learning_rate_mapping={r"\.classifier\.": head_learning_rate or 10 * learning_rate},
        warmup_steps=0.1,  # a fraction of the steps
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=device == "cpu",
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=2,
        logging_strategy="steps" if progress else "no",
        logging_steps=max(1, save_steps // 4),
        seed=seed,
        data_seed=seed,
        report_to="none",
        disable_tqdm=not progress,
        dataloader_num_workers=0,
    )
    clock = _Clock(max_minutes)
    trainer = CrossEncoderTrainer(
        model=model,
        args=args,
        train_dataset=HFDataset.from_list([dict(row) for row in rows]),
        loss=MultipleNegativesRankingLoss(model, num_negatives=in_batch_negatives),
        callbacks=[clock],
    )
    started = time.perf_counter()
    resume_from = resume and any(checkpoints.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if resume_from else None)
    seconds = time.perf_counter() - started
    model.save_pretrained(str(out))
    state = trainer.state
    pairs_per_step = batch_size * (len(columns) - 1 + in_batch_negatives)
    steps = int(state.global_step) - clock.first_step
    report = TrainReport(
        model=str(out),
        base=base,
        examples=len(rows),
        steps=int(state.global_step),
        epochs=float(state.epoch or 0.0),
        pairs_per_step=pairs_per_step,
        seconds=round(seconds, 1),
        pairs_per_second=round(steps * pairs_per_step / seconds, 2) if seconds else 0.0,
        stopped_by_time=clock.stopped,
        precision=precision,
        seed=seed,
        data=dict(data or {}),
    )
    (out / STATE_FILE).write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
    add_to_card(out, _card_section(report))
    return report


class _Clock(TrainerCallback):  # type: ignore[misc]
    """Stops training (with a save) once ``max_minutes`` of training have passed."""

    def __init__(self, max_minutes: float | None) -> None:
        self.limit = max_minutes * 60 if max_minutes else None
        self.started: float | None = None
        self.first_step = 0
        self.stopped = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> Any:
        self.started, self.first_step = time.perf_counter(), state.global_step  # after a resume
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> Any:
        assert self.started is not None
        if self.limit and time.perf_counter() - self.started >= self.limit:
            logger.warning("time budget spent after step %d: stopping", state.global_step)
            control.should_training_stop = control.should_save = self.stopped = True
        return control


def _card_section(report: TrainReport) -> str:
    data = ", ".join(f"{count} {name}" for name, count in report.data.items()) or "-"
    return "\n".join(
        [
            CARD_HEADING,
            "",
            "Trained with `crossrank train` (sentence-transformers `CrossEncoderTrainer`,",
            "`MultipleNegativesRankingLoss` over mined hard and in-batch negatives).",
            "",
            "| | |",
            "|---|---|",
            f"| base model | `{report.base}` |",
            f"| training data | {data} |",
            f"| training rows | {report.examples} |",
            f"| steps / epochs | {report.steps} / {report.epochs:.2f} |",
            f"| query-passage pairs per step | {report.pairs_per_step} |",
            f"| wall time | {report.seconds / 60:.1f} min |",
            f"| pairs/s | {report.pairs_per_second} |",
            f"| precision | {report.precision} |",
            f"| stopped by --max-minutes | {'yes' if report.stopped_by_time else 'no'} |",
            f"| seed | {report.seed} |",
            "",
        ]
    )


def add_to_card(model_dir: str | Path, markdown: str) -> None:
    """Add a section to the model card (``README.md``) of a saved model.

    ``markdown`` starts with its ``## `` heading; a section already there under the same
    heading is replaced (a rerun does not stack copies), else the section is appended.
    """
    card = Path(model_dir) / "README.md"
    text = card.read_text(encoding="utf-8") if card.exists() else ""
    section = markdown.strip()
    heading = section.splitlines()[0]
    start = text.find("\n" + heading + "\n")
    if start >= 0:
        end = text.find("\n## ", start + len(heading) + 1)
        text = text[:start] + (text[end:] if end >= 0 else "")
    card.write_text(text.rstrip() + "\n\n" + section + "\n", encoding="utf-8")


__all__ = [
    "Example",
    "TrainReport",
    "add_to_card",
    "mine",
    "pseudo_queries",
    "qrels_examples",
    "read_pairs",
    "train",
]
