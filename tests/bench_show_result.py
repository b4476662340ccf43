"""Benchmark of show_result.py against the targets of its issue, and of the upstream-style fit.

Usage: python tests/bench_show_result.py [--questions 500] [--text-chars 3000] [--skip-200] [--check]

Generates benches in a temporary folder (answers with conv_metadata, judgments from a
Bradley-Terry model with ties, strong verdicts and nulls; each game's texts are --text-chars
long, real ones are several KB), then runs `show_result.main([...])` once per target in a fresh
process and prints its wall time (loading, battles, fits, bootstrap and writing included) and
that process's peak RSS. Last, it times upstream's way of fitting (scikit-learn on duplicated
rows, pandas resampling) on a smaller case and extrapolates it to 100 rounds. Targets: 70 models
in under 5 s for 100 rounds and 15 s for 1000, style control 100 rounds in 20 s; 200 models
under 1 GB peak. --check exits 1 when one is missed.

v2.0 cases (--skip-v2 to leave them out): 100 models x 750 questions x 2 judges (gpt-4.1 and
gemini-2.5 pooled), hard_prompt, 100 rounds; plain under 2 s, --control-features length markdown
under 10 s. Each judgment's texts are --v2-text-chars long (about 7 of them a record): reading
the JSON is most of the plain case's time, so its figure grows with them.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from synthetic_bench import BASELINE, BENCH_V2, JUDGES_V2, write_bench, write_bench_v2  # noqa: E402
from targets import add_check_flag, check_targets  # noqa: E402

# (label, models, rounds, extra flags, target seconds, target peak MB)
CASES = [
    ("70 models, 100 rounds", 70, 100, [], 5.0, None),
    ("70 models, 1000 rounds", 70, 1000, [], 15.0, None),
    ("70 models, style control, 100 rounds", 70, 100, ["--style-control"], 20.0, None),
    ("200 models, 100 rounds", 200, 100, [], None, 1024.0),
    ("200 models, style control, 100 rounds", 200, 100, ["--style-control"], None, 1024.0),
]

V2_FLAGS = ["-b", BENCH_V2, "-j", *JUDGES_V2, "-c", "hard_prompt"]
# (label, models, questions, rounds, extra flags, target seconds)
V2_CASES = [
    ("v2.0 100 models x 750 q x 2 judges, plain", 100, 750, 100, V2_FLAGS, 2.0),
    ("v2.0 100 models x 750 q x 2 judges, style", 100, 750, 100, V2_FLAGS + ["-f", "length", "markdown"], 10.0),
]


def run_case(data_dir: str, rounds: int, flags: list[str]) -> None:
    """In this (fresh) process: time main() and print 'seconds peak_mb'."""
    import io
    from contextlib import redirect_stdout

    import show_result

    start = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        code = show_result.main(["--data-dir", data_dir, "--num-rounds", str(rounds), *flags])
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"show_result.main returned {code}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.3f} {peak_mb:.1f}")


def measure(data_dir: Path, rounds: int, flags: list[str]) -> tuple[float, float]:
    out = subprocess.run([sys.executable, __file__, "--case", str(data_dir), str(rounds), *flags],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[-2]), float(out[-1])


def time_upstream(data_dir: Path, rounds: int) -> tuple[float, float]:
    """Seconds per bootstrap round of upstream's plain and style-control fits (point fit excluded)."""
    import io
    import logging
    from contextlib import redirect_stdout

    import pandas as pd

    import show_result
    from upstream_reference import upstream_bootstrap, upstream_style_bootstrap, upstream_style_matrix

    logging.getLogger("arena_hard").setLevel(logging.ERROR)
    with redirect_stdout(io.StringIO()):  # writes the battles (with conv_metadata) upstream would build
        show_result.main(["--data-dir", str(data_dir), "--num-rounds", "1", "--style-control"])
    df = pd.read_json(data_dir / show_result.BATTLES_FILE, lines=True)
    start = time.perf_counter()
    upstream_bootstrap(df, BASELINE, rounds)
    plain = (time.perf_counter() - start) / rounds
    X, Y, models = upstream_style_matrix(df, (0, 1, 2, 3))
    start = time.perf_counter()
    upstream_style_bootstrap(X, Y, df, models, BASELINE, rounds)
    style = (time.perf_counter() - start) / rounds
    return plain, style


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--case":
        run_case(argv[1], int(argv[2]), argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--text-chars", type=int, default=3000)
    parser.add_argument("--skip-200", action="store_true", help="skip the 200-model memory cases")
    parser.add_argument("--skip-v2", action="store_true", help="skip the v2.0 cases")
    parser.add_argument("--v2-text-chars", type=int, default=300,
                        help="length of each text of a v2.0 judgment (its prompt holds two)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best is reported")
    parser.add_argument("--upstream-models", type=int, default=20)
    parser.add_argument("--upstream-rounds", type=int, default=3)
    add_check_flag(parser)
    args = parser.parse_args(argv)
    figures: list[tuple[str, float, float]] = []

    with tempfile.TemporaryDirectory(prefix="bench_show_result_") as tmp:
        benches: dict[int, Path] = {}
        print(f"{'case':<42} {'seconds':>8} {'target':>7} {'peak MB':>8} {'target':>7}")
        for label, n_models, rounds, flags, target_s, target_mb in CASES:
            if n_models == 200 and args.skip_200:
                continue
            if n_models not in benches:
                start = time.perf_counter()
                benches[n_models] = Path(tmp) / f"m{n_models}" / "data"
                write_bench(benches[n_models], n_models=n_models, n_questions=args.questions, seed=n_models,
                            length_effect=1.0, text_chars=args.text_chars)
                size_mb = sum(p.stat().st_size for p in benches[n_models].rglob("*.jsonl")) / 2**20
                print(f"  (generated {n_models} models x {args.questions} questions, {size_mb:.0f} MB, "
                      f"in {time.perf_counter() - start:.1f} s)")
            seconds, peak = measure(benches[n_models], rounds, flags)
            if target_s is not None:
                figures.append((f"{label} (s)", seconds, target_s))
            if target_mb is not None:
                figures.append((f"{label} (peak MB)", peak, target_mb))
            ok_s = "" if target_s is None else ("ok" if seconds <= target_s else "MISSED")
            ok_mb = "" if target_mb is None else ("ok" if peak <= target_mb else "MISSED")
            print(f"{label:<42} {seconds:>8.2f} {'' if target_s is None else f'{target_s:.0f} s':>7} {peak:>8.0f} "
                  f"{'' if target_mb is None else f'{target_mb:.0f}':>7}  {ok_s} {ok_mb}")

        if not args.skip_v2:
            v2_benches: dict[tuple[int, int], Path] = {}
            for label, n_models, n_questions, rounds, flags, target_s in V2_CASES:
                if (n_models, n_questions) not in v2_benches:
                    start = time.perf_counter()
                    data = Path(tmp) / f"v2-m{n_models}-q{n_questions}" / "data"
                    write_bench_v2(data, n_models=n_models, n_questions=n_questions, seed=n_models,
                                   length_effect=1.0, text_chars=args.v2_text_chars)
                    v2_benches[(n_models, n_questions)] = data
                    size_mb = sum(p.stat().st_size for p in data.rglob("*.jsonl")) / 2**20
                    print(f"  (generated v2.0 {n_models} models x {n_questions} questions x {len(JUDGES_V2)} judges, "
                          f"{size_mb:.0f} MB, in {time.perf_counter() - start:.1f} s)")
                runs = [measure(v2_benches[(n_models, n_questions)], rounds, flags) for _ in range(args.repeat)]
                seconds, peak = min(runs)
                figures.append((f"{label} (s)", seconds, target_s))
                print(f"{label:<42} {seconds:>8.2f} {f'{target_s:.0f} s':>7} {peak:>8.0f} {'':>7}  "
                      f"{'ok' if seconds <= target_s else 'MISSED'}")

        n_up = args.upstream_models
        data = Path(tmp) / "upstream" / "data"
        write_bench(data, n_models=n_up, n_questions=args.questions, seed=5, length_effect=1.0, text_chars=200)
        plain, style = time_upstream(data, args.upstream_rounds)
        ours_plain, _ = measure(data, 100, [])
        ours_style, _ = measure(data, 100, ["--style-control"])
        print(f"\nupstream-style scikit-learn fit, {n_up} models x {args.questions} questions "
              f"({args.upstream_rounds} rounds timed):")
        print(f"  plain: {plain:.2f} s per round -> {100 * plain:.0f} s for 100 rounds "
              f"(show_result, everything included: {ours_plain:.2f} s)")
        print(f"  style control: {style:.2f} s per round -> {100 * style:.0f} s for 100 rounds "
              f"(show_result, everything included: {ours_style:.2f} s)")
    return check_targets(figures, args.check)


if __name__ == "__main__":
    sys.exit(main())
