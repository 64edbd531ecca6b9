"""Memory and speed of reranking under ever-changing batch shapes, bucketed vs not.

Each run is a fresh process scoring ``--calls`` calls of 1-4 requests of 1-20 passages of
5-300 words (a server's mix) with the MiniLM-L6-sized cross-encoder, and prints its RSS
every 40 calls and the time spent scoring. "bucketed" is crossrank's way (batches padded
to one of ``crossrank.reranker.LENGTHS``, in power-of-two sizes); "unbucketed" pads each
batch to its longest pair, as before. oneDNN keeps kernels per input shape, so there the
RSS grows with every new shape.
Usage: python shape_memory.py [--calls 160] [--precisions fp32,bf16]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path

from common import benchmark_cross_encoder, passages


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_run(precision: str, bucketed: bool, calls: int) -> None:
    """In this process: the calls, then one line: ``RSS r0 r40 ... | seconds``."""
    import crossrank.reranker
    from crossrank import Reranker

    if not bucketed:
        crossrank.reranker.LENGTHS = ()
    reranker = Reranker(benchmark_cross_encoder(), device="cpu", precision=precision).load()
    texts = passages(400, 5, 300, seed=1)
    rng = random.Random(0)
    curve, busy = [], 0.0
    for call in range(calls + 1):
        if call % 40 == 0 or call == calls:
            curve.append(f"{rss_mib():.0f}")
        if call == calls:
            break
        requests = [
            ("how do I leave a loop early", rng.sample(texts, rng.randint(1, 20)))
            for _ in range(rng.randint(1, 4))
        ]
        started = time.perf_counter()
        reranker.score_many(requests)
        busy += time.perf_counter() - started
    print("RSS", " ".join(curve), "|", f"{busy:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=160)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--one", nargs=2, metavar=("PRECISION", "BUCKETED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_run(args.one[0], args.one[1] == "1", args.calls)
        return
    marks = ", ".join(str(c) for c in range(0, args.calls, 40)) + f", {args.calls}"
    print(f"RSS (MiB) after calls {marks}; scoring time")
    print("| precision | batches | RSS curve | growth after call 40 | scoring time | time x |")
    print("|---|---|---|---|---|---|")
    for precision in args.precisions.split(","):
        results = {}
        for bucketed in (False, True):
            command = [sys.executable, __file__, "--calls", str(args.calls), "--one", precision]
            done = subprocess.run(
                [*command, "1" if bucketed else "0"], capture_output=True, text=True, check=True
            )
            line = next(x for x in done.stdout.splitlines() if x.startswith("RSS"))
            curve, seconds = line[4:].split(" | ")
            results[bucketed] = ([float(x) for x in curve.split()], float(seconds))
        for bucketed, (curve, seconds) in results.items():
            growth = (curve[-1] / curve[min(1, len(curve) - 1)] - 1) * 100
            ratio = seconds / results[False][1]
            print(
                f"| {precision} | {'bucketed' if bucketed else 'unbucketed'} | "
                f"{' → '.join(f'{x:.0f}' for x in curve)} | {growth:+.1f}% | {seconds:.1f} s | "
                f"{ratio:.2f} |"
            )


if __name__ == "__main__":
    main()
