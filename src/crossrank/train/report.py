"""What a training run did: the report that the trainer writes and the model card shows."""

from __future__ import annotations

from dataclasses import dataclass, field


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
