"""Benchmark of show_result.py --quality: separability and agreement as the question count grows.

Usage: python tests/bench_quality.py [--models 20] [--questions 25 50 100 200 500] [--seeds 3]

For each question count, generates benches with the same known model strengths (one per seed),
runs `show_result.main([... "--quality", "--reference-ranking", truth.csv, "--output"])` and reads
the JSON it writes. The reference is the truth itself (ratings 1000 + 400 * strength, zero-width
intervals), so it separates every pair: separability with confidence should rise with the number
of questions, agreement with confidence and Spearman towards 1. The pair rank Brier score on win
probabilities settles at the floor the true head-to-head probabilities set; on bootstrap rank
probabilities it falls towards 0.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import show_result  # noqa: E402
from synthetic_bench import write_bench  # noqa: E402


def quality_for(tmp: Path, n_models: int, n_questions: int, seed: int, rounds: int) -> dict:
    """The quality JSON of one generated bench, judged against its true strengths."""
    root = tmp / f"q{n_questions}_s{seed}"
    truth = write_bench(root / "data", n_models=n_models, n_questions=n_questions, seed=seed, spread=0.3)
    reference = root / "truth.csv"
    with open(reference, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "score", "lower", "upper"])
        for model in truth.models:
            rating = 1000 + 400 * truth.strength[model]
            writer.writerow([model, rating, rating, rating])
    with redirect_stdout(io.StringIO()):
        code = show_result.main(["--data-dir", str(root / "data"), "--leaderboard-dir", str(root / "lb"),
                                 "--num-rounds", str(rounds), "--output", "--reference-ranking", str(reference)])
    if code != 0:
        raise SystemExit(f"show_result.main returned {code}")
    [path] = (root / "lb").glob("arena_hard_quality_*.json")
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--questions", type=int, nargs="+", default=[25, 50, 100, 200, 500])
    parser.add_argument("--seeds", type=int, default=3, help="benches per question count (same strengths)")
    parser.add_argument("--num-rounds", type=int, default=100)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    print(f"{args.models} judged models + baseline, strengths ~ N(0, 0.3) log10-odds, reference = truth")
    print(f"{'questions':>9} {'separability':>13} {'agreement':>10} {'Brier':>7} {'Brier(rank)':>12} "
          f"{'Spearman':>9} {'seconds':>8}")
    with tempfile.TemporaryDirectory(prefix="bench_quality_") as tmp:
        for n_questions in args.questions:
            start = time.perf_counter()
            reports = [quality_for(Path(tmp), args.models, n_questions, seed, args.num_rounds)
                       for seed in range(args.seeds)]

            def mean(get) -> float:
                return sum(get(r) for r in reports) / len(reports)

            sep = mean(lambda r: r["separability"]["value"])
            agree = mean(lambda r: r["reference"]["agreement_with_confidence"]["value"])
            brier = mean(lambda r: r["reference"]["pair_rank_brier"]["value"])
            rank_brier = mean(lambda r: r["reference"]["pair_rank_brier_bootstrap"]["value"])
            rho = mean(lambda r: r["reference"]["spearman"])
            seconds = (time.perf_counter() - start) / len(reports)
            print(f"{n_questions:>9} {100 * sep:>12.1f}% {agree:>10.3f} {brier:>7.3f} {rank_brier:>12.3f} "
                  f"{rho:>9.3f} {seconds:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
