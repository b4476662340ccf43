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
                    u = rng.random()
                    if u < null_share:
                        score = None
                    elif u < null_share + tie_share:
                        score = "A=B"
                    else:
                        model_won = rng.random() < p_model
                        strong = rng.random() < strong_share
                        # Game 1: baseline is A; game 2: the model is A.
                        model_is_a = g == 1
                        if model_won == model_is_a:
                            score = "A>>B" if strong else "A>B"
                        else:
                            score = "B>>A" if strong else "B>A"
                    start = int(rng.integers(0, 20000))
                    games.append({"user_prompt": filler[start:start + text_chars],
                                  "judgment": filler[start + text_chars:start + 2 * text_chars] + f" [[{score}]]",
                                  "score": score})
                f.write(json.dumps({"question_id": qid, "model": model, "judge": judge, "games": games}) + "\n")
    return Truth(models=[baseline] + models, strength=strength, data_dir=data_dir)
