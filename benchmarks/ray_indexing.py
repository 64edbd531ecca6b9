"""Ray indexing speed: crossrank.ray with 1, 2, 4 CPU workers vs `crossrank index`, one run.

Both index the same folder (CPython's help topics, the demo corpus) into the same Chroma
server (`chroma run`, started here) with all-MiniLM-L6-v2 in fp32, each time into a fresh
collection, so every chunk is embedded and written. `crossrank index` runs in this process
with its model already loaded (its best case); a Ray job is timed whole, from the call to
its report: scheduling, its workers starting and loading the model, reading, embedding,
writing. The local Ray cluster is started once, before the timings (`ray.init(num_cpus=N)`,
N = this machine's cores). Prints the median chunks/s of each and the ratio to
`crossrank index`.

With --gpus-per-worker G the workers embed on this machine's GPUs (precision auto:
fp16/bf16), `crossrank index` on its default device too.

Usage: python benchmarks/ray_indexing.py [--limit TOPICS] [--workers 1,2,4] [--repeats R]
           [--gpus-per-worker G]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from crossrank import Encoder, IndexReport, Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from common import start_chroma  # noqa: E402
from sample_corpus import write_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="help topics (default: all)")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="bi-encoder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0)
    args = parser.parse_args()

    import ray

    import crossrank.ray

    work = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    corpus = work / "corpus"
    write_corpus(corpus, args.limit)
    server, port = start_chroma(work / "chroma")
    precision = "auto" if args.gpus_per_worker else "fp32"  # fp16/bf16 on a GPU
    encoder = Encoder(args.model or "sentence-transformers/all-MiniLM-L6-v2", precision=precision)
    encoder.load()
    cores = os.cpu_count() or 1
    try:

        def store() -> Store:
            name = f"bench{uuid.uuid4().hex[:8]}"
            return Store(collection=name, encoder=encoder, host="127.0.0.1", port=port)

        def timed(run) -> tuple[float, IndexReport]:
            started = time.perf_counter()
            report = run(store())
            return time.perf_counter() - started, report

        def peer(target: Store) -> IndexReport:
            return target.index([corpus])

        rows: list[tuple[str, float, IndexReport]] = []
        peer_runs = [timed(peer) for _ in range(args.repeats)]
        rows.append(("crossrank index", statistics.median(t for t, _ in peer_runs),
                     peer_runs[0][1]))  # fmt: skip
        started = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)  # and its GPUs
        print(f"ray.init (local cluster, {cores} CPUs): {time.perf_counter() - started:.1f} s")
        for workers in (int(n) for n in args.workers.split(",")):

            def on_ray(target: Store, workers: int = workers) -> IndexReport:
                return crossrank.ray.index(
                    [corpus], store=target, workers=workers, gpus_per_worker=args.gpus_per_worker
                )

            runs = [timed(on_ray) for _ in range(args.repeats)]
            assert all(r.embedded == r.chunks == peer_runs[0][1].chunks for _, r in runs)
            kind = "GPU" if args.gpus_per_worker else "CPU"
            label = f"crossrank.ray, {workers} {kind} worker{'s' if workers > 1 else ''}"
            rows.append((label, statistics.median(t for t, _ in runs), runs[0][1]))
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    chunks = rows[0][2].chunks
    print(
        f"{rows[0][2].files} files, {chunks} chunks, {encoder.model_name} {precision}, "
        f"{cores} cores here, "
        f"median of {args.repeats} runs each"
    )
    print(f"{'':32}{'seconds':>9}{'chunks/s':>10}{'vs crossrank index':>20}")
    peer_rate = chunks / rows[0][1]
    for label, seconds, _ in rows:
        rate = chunks / seconds
        print(f"{label:32}{seconds:9.1f}{rate:10.1f}{rate / peer_rate:19.2f}x")


if __name__ == "__main__":
    main()
