"""Benchmark: qa_browser startup and first selection on a 100-model x 500-question bench.

Usage: python tests/bench_qa_browser.py [--models 100] [--questions 500] [--check]

Writes a synthetic bench (answers ~2 KB; judgments with two games, each a ~3 KB judge text and a
~5 KB user_prompt holding the question and both answers, as real ones do) to a temporary folder,
then prints the time to load the questions and build the app (what happens before the server
answers), the time of the first and a repeated selection of a model, and the time of the verdict
counts the Leaderboard tab shows without a CSV (first, then again with unchanged files).
Targets ("starts in seconds" on 100 models x 500 questions): start-up under 3 s and a selection
under 0.5 s. --check exits 1 when one is missed.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qa_browser  # noqa: E402
from targets import add_check_flag, check_targets  # noqa: E402
from utils import answer_dir, judgment_dir, load_questions, model_file  # noqa: E402

BENCH, JUDGE, BASELINE = "bench-scale", "judge", "baseline"


def write_bench(root: Path, n_models: int, n_questions: int) -> None:
    data = root / "data"
    (data / BENCH).mkdir(parents=True)
    ids = [f"{i:032x}" for i in range(n_questions)]
    questions = {qid: f"Question {i}: " + "lorem ipsum " * 40 for i, qid in enumerate(ids)}
    with open(data / BENCH / "question.jsonl", "w") as f:
        for i, qid in enumerate(ids):
            f.write(json.dumps({"question_id": qid, "category": "arena-hard-v0.1", "cluster": f"cluster {i // 2}",
                                "turns": [{"content": questions[qid]}]}) + "\n")
    body = "Answer text with `code`.\n\n```python\nprint('x')\n```\n" + "word " * 400
    game = "The judge's reasoning. " * 150
    for m in range(n_models + 1):
        model = BASELINE if m == 0 else f"org/model-{m:03d}"
        path = model_file(answer_dir(BENCH, data), model)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            for qid in ids:
                f.write(json.dumps({"question_id": qid, "answer_id": qid, "model_id": model, "tstamp": 0.0,
                                    "choices": [{"index": 0, "turns": [{"content": body, "token_len": 420}]}]}) + "\n")
        if m:
            path = model_file(judgment_dir(BENCH, JUDGE, data), model)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w") as f:
                for qid in ids:
                    prompt = (f"<|User Prompt|>\n{questions[qid]}\n\n"
                              f"<|The Start of Assistant A's Answer|>\n{body}\n<|The End of Assistant A's Answer|>\n\n"
                              f"<|The Start of Assistant B's Answer|>\n{body}\n<|The End of Assistant B's Answer|>")
                    f.write(json.dumps({"question_id": qid, "model": model, "judge": JUDGE, "games": [
                        {"user_prompt": prompt, "judgment": game + "[[A>B]]", "score": "A>B"},
                        {"user_prompt": prompt, "judgment": game + "[[B>A]]", "score": "B>A"}]}) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--questions", type=int, default=500)
    add_check_flag(parser)
    args = parser.parse_args(argv)
    figures: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        write_bench(root, args.models, args.questions)
        size = sum(p.stat().st_size for p in root.rglob("*.jsonl")) / 1e6
        print(f"bench written: {args.models} models x {args.questions} questions, {size:.0f} MB, "
              f"{time.perf_counter() - t0:.1f} s")

        import gradio  # noqa: F401  (its import time is not ours)

        data = root / "data"
        t0 = time.perf_counter()
        questions = load_questions(data / BENCH / "question.jsonl")
        answers = qa_browser.ModelRecords(answer_dir(BENCH, data), ("question_id", "choices"))
        judgments = qa_browser.judgment_records(judgment_dir(BENCH, JUDGE, data))
        qa_browser.build_app(questions, answers, judgments, bench_name=BENCH, judge_model=JUDGE,
                             baseline_model=BASELINE)
        startup = time.perf_counter() - t0
        print(f"startup (questions + app, before launch): {startup:.2f} s")
        figures.append(("start-up (s)", startup, 3.0))

        qid = str(questions[0]["question_id"])
        for label in ("first selection of a model", "same model again"):
            t0 = time.perf_counter()
            answers.get(BASELINE).get(qid)
            answers.get("org/model-001").get(qid)
            judgments.get("org/model-001").get(qid)
            selection = time.perf_counter() - t0
            print(f"{label}: {1000 * selection:.0f} ms")
            figures.append((f"{label} (s)", selection, 0.5))

        counts = qa_browser.VerdictCounts(judgments.directory)
        for label in ("first", "again, files unchanged"):
            t0 = time.perf_counter()
            table = qa_browser.verdict_table(counts)
            print(f"verdict counts over {len(table)} models (leaderboard tab without CSV), {label}: "
                  f"{time.perf_counter() - t0:.2f} s")
    return check_targets(figures, args.check)


if __name__ == "__main__":
    sys.exit(main())
