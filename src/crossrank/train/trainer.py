"""Fine-tuning a cross-encoder with sentence-transformers' ``CrossEncoderTrainer``."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from .. import _models
from .._extras import require
from ..errors import ModelNotFoundError
from ..settings import DEFAULT_ENCODER
from .card import add_to_card, card_section
from .report import TrainReport

logger = logging.getLogger(__name__)

STATE_FILE = "crossrank_training.json"


def train(
    rows: Sequence[Mapping[str, str]],
    out: str | Path,
    *,
    base: str = DEFAULT_ENCODER,
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
            better on the dev set than 5e-5 and 320 (docs/explanation/benchmarks.md).
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
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import MultipleNegativesRankingLoss
    from transformers import set_seed

    columns = _columns(rows)
    out = Path(out)
    device = _models.auto_device(device)
    precision = _models.auto_precision(precision, device)
    if precision == "fp16" and device == "cpu":
        raise ValueError("fp16 training needs a GPU; use bf16 or fp32 on a CPU")
    set_seed(seed)
    model = _base_model(base, device, max_length)
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
    add_to_card(out, card_section(report))
    return report


def _columns(rows: Sequence[Mapping[str, str]]) -> list[str]:
    """The rows' keys, checked: the same in every row, starting with query and positive."""
    if not rows:
        raise ValueError("no training rows: nothing to train on")
    columns = list(rows[0])
    if columns[:2] != ["query", "positive"] or any(list(row) != columns for row in rows):
        raise ValueError('every row needs the same keys, starting with "query", "positive"')
    return columns


def _base_model(base: str, device: str, max_length: int | None) -> Any:
    """The model to train: a cross-encoder, or a bi-encoder's encoder with a fresh head."""
    from sentence_transformers.cross_encoder import CrossEncoder

    target, local_only = _models.resolve(base, "base")
    try:
        model = CrossEncoder(target, num_labels=1, device=device, local_files_only=local_only)
    except (OSError, ValueError) as error:
        raise _models.load_error("base", base, error) from error
    if model.num_labels != 1:
        raise ModelNotFoundError(f"base model {base!r} has {model.num_labels} labels; need 1")
    if max_length:
        model.max_seq_length = max_length
    return model


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
