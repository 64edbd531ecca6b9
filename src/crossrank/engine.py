"""Engines: what runs a loaded model's transformer on a CPU, torch or OpenVINO.

crossrank loads its models with sentence-transformers and torch. :func:`accelerate` swaps
the forward pass of a loaded model for an OpenVINO graph of the same weights, in place; the
tokenizer, batching, pooling and score head stay as they are. In fp32 the scores stay
within 1e-5 of torch's (measured: 1.4e-8 on the benchmark cross-encoder). Whether it is
faster depends on the CPU: see ``docs/explanation/hardware.md``.

The choice is :data:`Engine`: ``"torch"`` (as loaded), ``"openvino"`` (needs the
``openvino`` package, a dependency on x86-64), or ``"auto"``, which picks OpenVINO only for
a CPU kind, stage and precision where it won through crossrank (:data:`WINS`), for a model
family whose conversion is tested (:data:`FAMILIES`), and only when ``openvino`` is
installed. The ``CROSSRANK_ENGINE`` environment variable sets the engine for every model a
process loads (default ``"auto"``).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Literal, cast, get_args

from . import _extras, _models

logger = logging.getLogger(__name__)

Engine = Literal["auto", "torch", "openvino"]
Kind = Literal["encoder", "reranker"]
CpuKind = Literal["amx", "avx512_bf16", "avx512", "avx2", "other"]
ENVIRONMENT = "CROSSRANK_ENGINE"
_FORMAT = 1  # bump when the converted graph changes

# (CPU kind, stage, precision) where OpenVINO beat torch under crossrank's own batching
# (benchmarks/engines.py, docs: Hardware); "auto" picks OpenVINO there and nowhere else.
# AVX-512 BF16 without AMX (Zen 4), 2 cores, quiet: reranking 1.19x torch in fp32 and 1.46x
# in bf16, indexing 1.25x; with other processes busy on the cores, reranking 1.10-1.12x and
# 1.27-1.29x. AMX: OpenVINO's bf16 tied torch's (benchmarks/int8.py). AVX2-only: not measured.
WINS: frozenset[tuple[CpuKind, Kind, str]] = frozenset(
    {
        ("avx512_bf16", "reranker", "fp32"),
        ("avx512_bf16", "reranker", "bf16"),
        ("avx512_bf16", "encoder", "fp32"),
    }
)
# The model types whose conversion the tests check against torch (scores within 1e-5):
# encoder-only transformers. "auto" leaves every other model on torch (a causal-LM reranker
# has no score head to keep apart); "openvino" tries any and raises if it cannot.
FAMILIES = frozenset({"bert", "roberta", "xlm-roberta", "modernbert"})


def check_engine(engine: str) -> Engine:
    """Return ``engine`` if it is one of :data:`Engine`, else raise ``ValueError``."""
    if engine not in get_args(Engine):
        raise ValueError(
            f"unknown engine {engine!r}: use one of {', '.join(get_args(Engine))} "
            f"(set by the {ENVIRONMENT} environment variable or the engine argument)"
        )
    return cast(Engine, engine)


@functools.cache
def cpu_kind() -> CpuKind:
    """This CPU's kind, as far as the engines' speed goes."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    if torch.cpu._is_amx_tile_supported():
        return "amx"
    if capability.startswith("AVX512"):
        return "avx512_bf16" if _models.cpu_has_bf16() else "avx512"
    if capability == "AVX2":
        return "avx2"
    return "other"


def _openvino_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def choose(
    engine: str | None, *, kind: Kind, precision: str, device: str, family: str | None = None
) -> Engine:
    """The engine :func:`accelerate` applies: ``engine`` (None: ``$CROSSRANK_ENGINE``, else
    ``"auto"``), with ``"auto"`` resolved for this CPU, stage, precision and model family
    (a ``model_type`` of transformers; None: any).

    Example:
        >>> choose("auto", kind="reranker", precision="fp32", device="cuda")
        'torch'
    """
    chosen = check_engine(engine or os.environ.get(ENVIRONMENT) or "auto")
    if chosen != "auto":
        return chosen
    if device != "cpu" or (family is not None and family not in FAMILIES):
        return "torch"
    if (cpu_kind(), kind, precision) not in WINS or not _openvino_installed():
        return "torch"
    return "openvino"


def accelerate(
    model: Any, *, kind: Kind, precision: str, device: str, engine: str | None = None
) -> Engine:
    """Run a loaded SentenceTransformer (``kind="encoder"``) or CrossEncoder (``"reranker"``)
    on the engine :func:`choose` picks, in place; return that engine.

    With OpenVINO, the first module's transformer is converted from the model's own weights
    (a few seconds), and its forward pass calls the OpenVINO graph. A cross-encoder's final
    scoring layer stays in torch, in the precision it was loaded in (fp32 for crossrank's
    fast mode), so that bf16 logits are not rounded into ties.

    Args:
        model: A loaded sentence-transformers model, already cast to ``precision``.
        kind: Which stage it serves.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``, as resolved for ``device``.
        device: The device it was loaded on; only ``"cpu"`` has another engine.
        engine: ``"auto"``, ``"torch"`` or ``"openvino"``; None reads ``$CROSSRANK_ENGINE``.

    Example:
        >>> accelerate(cross_encoder, kind="reranker", precision="fp32", device="cpu")
        'openvino'
    """
    transformer = model[0]
    network: Any = getattr(transformer, "model", None)
    family = getattr(getattr(network, "config", None), "model_type", "")
    chosen = choose(engine, kind=kind, precision=precision, device=device, family=family)
    if chosen == "torch":
        return chosen
    if device != "cpu":
        raise ValueError(f"the openvino engine runs on the CPU only, not on {device!r}")
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"the openvino engine runs fp32 or bf16, not {precision}")
    if getattr(network, "_crossrank_engine", None) == chosen:
        return chosen
    try:
        if _OUTPUTS[kind] != getattr(transformer, "modality_config", {}).get("text"):
            raise ValueError(f"{type(network).__name__} is not a text transformer of {_OUTPUTS}")
        graph = _OpenVinoGraph(network, transformer.tokenizer, kind, precision)
    except Exception as error:
        if (engine or os.environ.get(ENVIRONMENT) or "auto") != "auto":
            raise
        # auto: a model family the conversion does not handle runs on torch, as before.
        logger.warning("%s stays on torch: OpenVINO could not take it (%s)", kind, error)
        return "torch"
    network.forward = graph.forward
    network._crossrank_engine = chosen
    logger.info("%s %s runs on OpenVINO (%s)", kind, type(network).__name__, precision)
    return chosen


_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# What sentence-transformers' Transformer module calls, per stage: the conversion keeps
# exactly that output (encoder-only models: BERT, RoBERTa, XLM-R and their kin).
_OUTPUTS: dict[str, dict[str, str]] = {
    "encoder": {"method": "forward", "method_output_name": "last_hidden_state"},
    "reranker": {"method": "forward", "method_output_name": "logits"},
}


def cache_dir() -> Path:
    """Where converted graphs are kept across processes: ``$CROSSRANK_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/crossrank``, else ``~/.cache/crossrank``."""
    if os.environ.get("CROSSRANK_CACHE_DIR"):
        return Path(os.environ["CROSSRANK_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crossrank"


def _graph_path(network: Any, kind: Kind, names: list[str], version: str) -> Path:
    """The cached graph of ``network``: named by a digest of its weights, class, inputs and
    the OpenVINO version, so that a changed model is never served an old graph."""
    import torch

    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((type(network).__name__, kind, names, version, _FORMAT)).encode())
    for name, tensor in sorted(network.state_dict().items()):
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().contiguous().view(torch.uint8).numpy().tobytes())
    return cache_dir() / "openvino" / f"{digest.hexdigest()}.xml"


def _save(ov: Any, converted: Any, path: Path) -> None:
    """Save ``converted`` at ``path`` (and its .bin) atomically; a failure only logs."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as folder:
            staged = Path(folder) / path.name
            ov.save_model(converted, str(staged), compress_to_fp16=False)
            os.replace(staged.with_suffix(".bin"), path.with_suffix(".bin"))
            os.replace(staged, path)  # the .xml last: it marks the pair complete
    except OSError as error:
        logger.warning("could not cache the OpenVINO graph in %s: %s", path.parent, error)


def _score_head(network: Any) -> tuple[Any, str] | None:
    """A cross-encoder's final scoring layer and its name: the last linear layer that
    outputs one value per label."""
    import torch

    labels = network.config.num_labels
    heads = [
        (name, layer)
        for name, layer in network.named_modules()
        if isinstance(layer, torch.nn.Linear) and layer.out_features == labels
    ]
    return (heads[-1][1], heads[-1][0]) if heads else None


class _OpenVinoGraph:
    """One transformer converted to OpenVINO, called as the torch model's forward."""

    def __init__(self, network: Any, tokenizer: Any, kind: Kind, precision: str) -> None:
        import torch

        ov = _extras.require("openvino", "openvino")
        self.head: Any = None
        if kind == "reranker":
            found = _score_head(network)
            if found is None:
                raise ValueError(f"{type(network).__name__}: no score head to keep in torch")
            self.head = found[0]
            sample = tokenizer(["a query"], ["a passage"], return_tensors="pt")
        else:
            sample = tokenizer(["a passage"], return_tensors="pt")
        self.names = [name for name in _INPUTS if name in sample]
        self.kind = kind
        core = ov.Core()
        path = _graph_path(network, kind, self.names, ov.__version__)
        if path.is_file():
            converted = core.read_model(str(path))
        else:
            converted = self._convert(network, sample, kind, ov)
            _save(ov, converted, path)
        self.compiled = core.compile_model(
            converted,
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision],
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_NUM_THREADS": torch.get_num_threads(),
            },
        )
        self._requests = threading.local()

    @staticmethod
    def _convert(network: Any, sample: Any, kind: Kind, ov: Any) -> Any:
        import torch

        body = copy.deepcopy(network).float().eval()
        if kind == "reranker":
            _, name = _score_head(body) or (None, "")
            parent, _, leaf = name.rpartition(".")
            setattr(body.get_submodule(parent) if parent else body, leaf, torch.nn.Identity())
        example = {name: sample[name] for name in sample if name in _INPUTS}
        with torch.inference_mode(), warnings.catch_warnings():
            # The trace fixes Python-level checks on shapes as constants; in BERT-like
            # models they hold for every padded batch (mask length == sequence length).
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            return ov.convert_model(_one_output(body, kind), example_input=example)

    def forward(self, input_ids: Any = None, **features: Any) -> Any:
        import numpy as np
        import torch
        from transformers.modeling_outputs import BaseModelOutput, SequenceClassifierOutput

        features["input_ids"] = input_ids
        feed = {name: np.asarray(features[name], dtype=np.int64) for name in self.names}
        request = getattr(self._requests, "request", None)
        if request is None:  # an infer request is not shared between threads
            request = self._requests.request = self.compiled.create_infer_request()
        output = torch.from_numpy(np.array(request.infer(feed)[0]))
        if self.kind == "encoder":
            return BaseModelOutput(last_hidden_state=output)
        with torch.inference_mode():
            logits = self.head(output.to(self.head.weight.dtype))
        return SequenceClassifierOutput(logits=logits)


def _one_output(body: Any, kind: Kind) -> Any:
    """``body`` wrapped so that the converted graph has one output: the last hidden state
    (encoder) or the score head's input (reranker, whose head ``body`` has replaced)."""
    import torch

    class OneOutput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body

        def forward(
            self, input_ids: Any, attention_mask: Any = None, token_type_ids: Any = None
        ) -> Any:
            inputs = {"attention_mask": attention_mask, "token_type_ids": token_type_ids}
            out = self.body(
                input_ids=input_ids,
                **{name: value for name, value in inputs.items() if value is not None},
                return_dict=True,
            )
            return out.last_hidden_state if kind == "encoder" else out.logits

    return OneOutput()


__all__ = ["FAMILIES", "WINS", "Engine", "accelerate", "check_engine", "choose", "cpu_kind"]
