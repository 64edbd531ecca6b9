"""Would int8 (OpenVINO + NNCF static quantization) beat crossrank's bf16 on this CPU?

The MiniLM-L6-sized cross-encoder scores 100 passages of 50-400 words beside one query,
in crossrank's batches (length-sorted, padded to ``crossrank.reranker.LENGTHS``, at most
4,096 tokens each), five ways: torch fp32 and bf16 (crossrank's exact and fast modes),
OpenVINO fp32 and its default precision (bf16 where the CPU has AMX), and OpenVINO int8
quantized by NNCF, calibrated on other passages. Prints the median time of each, its speed
against torch bf16 (the best existing mode), and its top-5 agreement with torch fp32 (with
the untrained benchmark head the scores are nearly flat: judge agreement on a trained
reranker, ``--model``; the logits' largest difference from torch fp32 is printed too).
crossrank would keep an int8 mode only at >= 1.5x bf16's speed.

OpenVINO and NNCF pin their own dependencies: run it in a venv of its own, e.g.
    python -m venv .cache/ov && .cache/ov/bin/pip install torch==2.13.0 \
        "transformers==5.24.*" "openvino==2026.4.*" "nncf==3.4.*"
    .cache/ov/bin/python int8.py [--model FOLDER] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common import CACHE, passages

QUERY = "How do I catch an exception and re-raise it with more context?"
LENGTHS = (32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 448, 512)


def batches(lengths: list[int], max_tokens: int = 4096, max_size: int = 32) -> list[list[int]]:
    """crossrank's batches (``crossrank.reranker.token_batches`` with ``LENGTHS``, copied:
    this script's venv cannot import crossrank): longest first, padded to a length of
    LENGTHS, full batches of the largest power of two that fits the token budget, and a
    length's last batch in power-of-two parts."""
    padded = [next(step for step in LENGTHS if step >= n) for n in lengths]
    out: list[list[int]] = []
    for i in sorted(range(len(padded)), key=lambda i: -padded[i]):
        batch = out[-1] if out else []
        room = max(1, min(max_size, max_tokens // padded[batch[0]])) if batch else 1
        if batch and len(batch) < 1 << (room.bit_length() - 1):
            batch.append(i)
        else:
            out.append([i])
    split = []
    for batch in out:
        while batch:
            size = 1 << (len(batch).bit_length() - 1)
            split.append(batch[:size])
            batch = batch[size:]
    return split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=CACHE / "minilm-l6-cross-encoder")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import nncf
    import openvino as ov
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    texts = passages(100)
    encoded = tokenizer([QUERY] * len(texts), texts, truncation=True, max_length=512)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    groups = batches(lengths)
    keys = ("input_ids", "attention_mask", "token_type_ids")

    def inputs(group: list[int]) -> dict[str, np.ndarray]:
        width = next(step for step in LENGTHS if step >= max(lengths[i] for i in group))
        rows = [{k: encoded[k][i] for k in keys} for i in group]
        padded = tokenizer.pad(rows, padding="max_length", max_length=width, return_tensors="np")
        return {key: value.astype(np.int64) for key, value in padded.items()}

    feeds = [(group, inputs(group)) for group in groups]

    def torch_run(dtype: torch.dtype) -> Callable[[], np.ndarray]:
        copy = AutoModelForSequenceClassification.from_pretrained(args.model).eval().to(dtype)

        def run() -> np.ndarray:
            out = np.empty(len(texts))
            with torch.inference_mode():
                for group, feed in feeds:
                    logits = copy(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits
                    out[group] = logits.float()[:, 0].numpy()
            return out

        return run

    example = {k: torch.from_numpy(v) for k, v in feeds[0][1].items()}
    converted = ov.convert_model(model, example_input=example)
    core = ov.Core()

    def ov_run(compiled: ov.CompiledModel) -> Callable[[], np.ndarray]:
        request = compiled.create_infer_request()

        def run() -> np.ndarray:
            out = np.empty(len(texts))
            for group, feed in feeds:
                result = request.infer(feed)
                out[group] = np.asarray(next(iter(result.values())))[:, 0]
            return out

        return run

    calibration = passages(200, seed=7)  # other passages: the user's data, not the test's
    calibration_encoded = tokenizer(
        [QUERY] * len(calibration), calibration, truncation=True, max_length=512
    )
    calibration_feeds = []
    for start in range(0, len(calibration), 8):
        ends = range(start, min(start + 8, len(calibration)))
        rows = [{k: calibration_encoded[k][i] for k in keys} for i in ends]
        padded = tokenizer.pad(rows, padding="longest", return_tensors="np")
        calibration_feeds.append({k: v.astype(np.int64) for k, v in padded.items()})
    quantized = nncf.quantize(
        converted,
        nncf.Dataset(calibration_feeds),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(calibration_feeds),
    )
    runs = {
        "torch fp32 (crossrank exact)": torch_run(torch.float32),
        "torch bf16 (crossrank fast)": torch_run(torch.bfloat16),
        "OpenVINO fp32": ov_run(
            core.compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        ),
        "OpenVINO default precision": ov_run(core.compile_model(converted, "CPU")),
        "OpenVINO int8 (NNCF)": ov_run(core.compile_model(quantized, "CPU")),
    }
    times, scores = {}, {}
    for name, run in runs.items():
        scores[name] = run()  # warm-up, and the scores
        taken = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            run()
            taken.append(time.perf_counter() - started)
        times[name] = statistics.median(taken)
    print(f"{len(texts)} passages, {len(groups)} batches, median of {args.repeats} runs")
    best = times["torch bf16 (crossrank fast)"]
    exact = scores["torch fp32 (crossrank exact)"]
    truth = set(np.argsort(-exact)[:5])
    for name, taken in times.items():
        agree = len(truth & set(np.argsort(-scores[name])[:5]))
        off = np.abs(scores[name] - exact).max()
        print(
            f"{name:30s} {taken:6.2f} s  {best / taken:5.2f}x torch bf16  top-5 {agree}/5  "
            f"max logit difference from torch fp32 {off:.1e}"
        )


if __name__ == "__main__":
    main()
