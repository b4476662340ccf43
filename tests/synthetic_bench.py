"""Generated Arena-Hard benches with known model strengths, for tests and benchmark scripts.

Usage: from synthetic_bench import write_bench; truth = write_bench(tmp_path / "data", n_models=10)

A bench is data/<bench>/model_answer/*.jsonl (answers with conv_metadata) and
data/<bench>/model_judgment/<judge>/*.jsonl (two games per question). Verdicts follow a
Bradley-Terry model: the model beats the baseline with probability
1 / (1 + exp(-(ln(10) * (strength[model] - strength[baseline]) + length_effect * length_diff))),
where length_diff = (L_model - L_baseline) / (L_model + L_baseline + 1) in tokens; a share of
games are ties, a share of decisive games are strong, a few are null.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH = "arena-hard-v0.1"
JUDGE = "gpt-4-1106-preview"
BASELINE = "gpt-4-0314"


@dataclass
class Truth:
    """What generated the bench: strengths in log10-odds (rating = 400 * strength)."""

    models: list[str]
    strength: dict[str, float]
    data_dir: Path


def _filler(rng: np.random.Generator, n: int) -> str:
    words = np.array(["the", "answer", "assistant", "is", "correct", "helpful", "concise", "code",
                      "missing", "relevant", "because", "python", "function", "error", "both"])
    return " ".join(rng.choice(words, size=n // 6))


def conv_metadata(rng: np.random.Generator, mean_tokens: float, markdown: float) -> dict:
    """A conv_metadata record as add_markdown_info.py writes it."""
    return {
        "token_len": int(rng.poisson(mean_tokens)) + 1,
        "header_count": {f"h{i}": int(rng.poisson(markdown / i)) for i in range(1, 7)},
        "list_count": {"ordered": int(rng.poisson(markdown)), "unordered": int(rng.poisson(markdown))},
        "bold_count": {"**": int(rng.poisson(markdown)), "__": 0},
    }


def draw_label(rng: np.random.Generator, u: float, g: int, p_model: float, null_share: float, tie_share: float,
               strong_share: float) -> str | None:
    """Game g's (0 or 1) v0.1 label given its uniform draw u: null below null_share, a tie below
    null_share + tie_share, else the model wins with probability p_model, strongly with
    probability strong_share (two more draws). Game 1 shows the baseline as A, game 2 the model."""
    if u < null_share:
        return None
    if u < null_share + tie_share:
        return "A=B"
    model_won = rng.random() < p_model
    strong = rng.random() < strong_share
    a_won = model_won == (g == 1)
    return ("A>>B" if a_won else "B>>A") if strong else ("A>B" if a_won else "B>A")


def write_bench(data_dir: Path, n_models: int = 10, n_questions: int = 50, seed: int = 0,
                tie_share: float = 0.15, strong_share: float = 0.3, null_share: float = 0.02,
                length_effect: float = 0.0, text_chars: int = 200, spread: float = 0.5,
                baseline: str = BASELINE, judge: str = JUDGE, bench: str = BENCH,
                with_metadata: bool = True) -> Truth:
    """Write a bench of `n_models` judged models plus the baseline; return the true strengths.

    text_chars: length of each game's user_prompt and judgment text (real ones: several KB).
    """
    rng = np.random.default_rng(seed)
    models = [f"model-{i:03d}" for i in range(n_models)]
    strength = {baseline: 0.0}
    strength.update({m: float(rng.normal(0.0, spread)) for m in models})
    qids = [f"{rng.integers(1 << 62):016x}{i:06d}" for i in range(n_questions)]
    filler = _filler(rng, 20000 + 4 * text_chars)

    answers_path = data_dir / bench / "model_answer"
    judgments_path = data_dir / bench / "model_judgment" / judge
    answers_path.mkdir(parents=True, exist_ok=True)
    judgments_path.mkdir(parents=True, exist_ok=True)

    lengths: dict[str, dict[str, int]] = {}
    for model in [baseline] + models:
        mean_tokens = float(rng.uniform(250, 700))
        markdown = float(rng.uniform(0.2, 3.0))
        lengths[model] = {}
        with open(answers_path / f"{model}.jsonl", "w", encoding="utf-8") as f:
            for qid in qids:
                meta = conv_metadata(rng, mean_tokens, markdown)
                lengths[model][qid] = meta["token_len"]
                start = int(rng.integers(0, 20000))
                record = {"question_id": qid, "answer_id": f"a{qid}", "model_id": model,
                          "choices": [{"index": 0, "turns": [{"content": filler[start:start + text_chars],
                                                              "token_len": meta["token_len"]}]}],
                          "tstamp": 1.7e9}
                if with_metadata:
                    record["conv_metadata"] = meta
                f.write(json.dumps(record) + "\n")

    for model in models:
        with open(judgments_path / f"{model}.jsonl", "w", encoding="utf-8") as f:
            for qid in qids:
                la, lb = lengths[baseline][qid], lengths[model][qid]
                logit = (math.log(10) * (strength[model] - strength[baseline])
                         + length_effect * (lb - la) / (la + lb + 1))
                p_model = 1.0 / (1.0 + math.exp(-logit))
                games = []
                for g in range(2):
                    score = draw_label(rng, rng.random(), g, p_model, null_share, tie_share, strong_share)
                    start = int(rng.integers(0, 20000))
                    games.append({"user_prompt": filler[start:start + text_chars],
                                  "judgment": filler[start + text_chars:start + 2 * text_chars] + f" [[{score}]]",
                                  "score": score})
                f.write(json.dumps({"question_id": qid, "model": model, "judge": judge, "games": games}) + "\n")
    return Truth(models=[baseline] + models, strength=strength, data_dir=data_dir)


# --------------------------------------------------------------------------------------------
# Arena-Hard v2.0 benches (REFERENCE-v2.md records)
# --------------------------------------------------------------------------------------------

BENCH_V2 = "arena-hard-v2.0"
JUDGES_V2 = ("gpt-4.1", "gemini-2.5")
BASELINES_V2 = {"hard_prompt": "o3-mini-2025-01-31", "creative_writing": "gemini-2.0-flash-001"}
# Each v0.1 label and the v2.0 labels of the same meaning (v2.0 judges may write either)
SAME_LABELS_V2 = {"A>>B": ("A>>B", "B<<A"), "A>B": ("A>B", "B<A"), "A=B": ("A=B", "B=A"),
                  "B>A": ("B>A", "A<B"), "B>>A": ("B>>A", "A<<B")}


def write_bench_v2(data_dir: Path, n_models: int = 10, n_questions: int = 60, seed: int = 0,
                   judges: tuple[str, ...] = JUDGES_V2, tie_share: float = 0.15, strong_share: float = 0.3,
                   null_share: float = 0.03, length_effect: float = 0.0, text_chars: int = 200,
                   spread: float = 0.5, bench: str = BENCH_V2, questions: list[dict] | None = None,
                   model_names: list[str] | None = None) -> Truth:
    """Write a v2.0 bench: question.jsonl, answers (with `metadata`) of the judged models and of
    both baselines, and per judge one judgment file per model, each record judged against its
    category's baseline (games null or with a null score at null_share, labels in either v2.0
    spelling). questions: [{uid, category}, ...] to use (default: generated, 2/3 hard_prompt);
    model_names may hold "org/name" names (files named with utils.model_to_filename)."""
    from utils import model_to_filename

    rng = np.random.default_rng(seed)
    models = model_names or [f"model-{i:03d}" for i in range(n_models)]
    strength = {b: 0.0 for b in BASELINES_V2.values()}
    strength.update({m: float(rng.normal(0.0, spread)) for m in models})
    if questions is None:
        questions = [{"uid": f"{rng.integers(1 << 60):015x}{i % 10}",
                      "category": "creative_writing" if i % 3 == 2 else "hard_prompt"} for i in range(n_questions)]
    filler = _filler(rng, 20000 + 4 * text_chars)
    root = data_dir / bench
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "question.jsonl", "w", encoding="utf-8") as f:
        for q in questions:
            f.write(json.dumps({"uid": q["uid"], "category": q["category"],
                                "subcategory": "coding" if q["category"] == "hard_prompt" else q["category"],
                                "prompt": filler[:50]}) + "\n")
    answers_path = root / "model_answer"
    answers_path.mkdir(parents=True, exist_ok=True)
    lengths: dict[str, dict[str, int]] = {}
    for model in dict.fromkeys(sorted(set(BASELINES_V2.values())) + models):
        mean_tokens = float(rng.uniform(250, 700))
        markdown = float(rng.uniform(0.2, 3.0))
        lengths[model] = {}
        path = answers_path / model_to_filename(model)
        if path.exists():  # a real answer file put there by the caller
            continue
        with open(path, "w", encoding="utf-8") as f:
            for q in questions:
                meta = conv_metadata(rng, mean_tokens, markdown)
                lengths[model][q["uid"]] = meta["token_len"]
                start = int(rng.integers(0, 20000))
                f.write(json.dumps({"uid": q["uid"], "ans_id": f"a{q['uid']}", "model": model,
                                    "messages": [{"role": "user", "content": filler[:50]},
                                                 {"role": "assistant",
                                                  "content": {"answer": filler[start:start + text_chars]}}],
                                    "tstamp": 1.7e9, "metadata": meta}) + "\n")
    for judge in judges:
        path = root / "model_judgment" / judge
        path.mkdir(parents=True, exist_ok=True)
        for model in models:
            with open(path / model_to_filename(model), "w", encoding="utf-8") as f:
                for q in questions:
                    baseline = BASELINES_V2[q["category"]]
                    la, lb = lengths[baseline].get(q["uid"], 500), lengths[model][q["uid"]]
                    logit = (math.log(10) * (strength[model] - strength[baseline])
                             + length_effect * (lb - la) / (la + lb + 1))
                    p_model = 1.0 / (1.0 + math.exp(-logit))
                    games: list[dict | None] = []
                    for g in range(2):
                        u = rng.random()
                        if u < null_share / 2:
                            games.append(None)
                            continue
                        score = draw_label(rng, u, g, p_model, null_share, tie_share, strong_share)
                        if score is not None:
                            score = SAME_LABELS_V2[score][int(rng.random() < 0.2)]
                        start = int(rng.integers(0, 20000))
                        games.append({"score": score,
                                      "judgment": {"answer": filler[start:start + text_chars] + f" [[{score}]]"},
                                      "prompt": [{"role": "system", "content": filler[:100]},
                                                 {"role": "user", "content": filler[start:start + 2 * text_chars]}]})
                    f.write(json.dumps({"uid": q["uid"], "category": q["category"], "judge": judge, "model": model,
                                        "baseline": baseline, "games": games}) + "\n")
    return Truth(models=models, strength=strength, data_dir=data_dir)
