"""Tests of show_result.py: battles, fits against scikit-learn fitted the upstream way, the CLI.

Usage: python -m pytest tests/test_show_result.py
"""
from __future__ import annotations

import csv
import json
import logging
import math
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import show_result as sr  # noqa: E402
from conftest import write_jsonl  # noqa: E402
from synthetic_bench import BASELINE, BENCH, JUDGE, write_bench  # noqa: E402
from upstream_reference import (  # noqa: E402
    STYLE_A, STYLE_B, to_win_rate, upstream_bootstrap, upstream_fit_bt, upstream_mle_elo, upstream_style_bootstrap,
    upstream_style_matrix)
import utils  # noqa: E402
from utils import Game, Judgment  # noqa: E402

# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


def judgment(model: str, qid: str, score1: str | None, score2: str | None = None) -> Judgment:
    games = [Game(user_prompt="", judgment="", score=score1), Game(user_prompt="", judgment="", score=score2)]
    return Judgment(question_id=qid, model=model, judge=JUDGE, games=games)


@pytest.fixture(scope="module")
def small_bench(tmp_path_factory) -> Path:
    """6 judged models x 60 questions with ties, strong verdicts, nulls and a length effect."""
    data = tmp_path_factory.mktemp("bench") / "data"
    write_bench(data, n_models=6, n_questions=60, seed=3, length_effect=1.5)
    return data


@pytest.fixture(scope="module")
def small_battles(small_bench) -> tuple[sr.Battles, pd.DataFrame]:
    """Our battles (with style) and the same battles as upstream's DataFrame, same order."""
    judgments = sr.read_judgments(small_bench / BENCH / "model_judgment" / JUDGE)
    battles = sr.battles_from_judgments(judgments, BASELINE)
    answers = sr.read_answers(small_bench / BENCH / "model_answer", with_style=True)
    sr.attach_style(battles, sr.style_by_model(answers, battles.models), "answers")
    return battles, pd.DataFrame(list(battles.records()))


def run_main(args: list[str], capsys) -> tuple[int, str]:
    code = sr.main(args)
    return code, capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# Battles
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("game, label, winner, count", [
    (0, "A>>B", "model_a", 3), (0, "A>B", "model_a", 1), (0, "A=B", "tie", 1),
    (0, "B>A", "model_b", 1), (0, "B>>A", "model_b", 3),
    (1, "A>>B", "model_b", 3), (1, "A>B", "model_b", 1), (1, "A=B", "tie", 1),
    (1, "B>A", "model_a", 1), (1, "B>>A", "model_a", 3),
    (0, None, None, 0), (1, None, None, 0), (0, "A>>>B", None, 0), (1, "garbage", None, 0),
])
def test_battle_labels(game, label, winner, count):
    scores = [None, None]
    scores[game] = label
    battles = sr.battles_from_judgments([judgment("m", "q1", *scores)], "base")
    records = list(battles.records())
    assert len(records) == count
    for r in records:
        assert r == {"question_id": "q1", "model_a": "base", "model_b": "m", "winner": winner}


def test_battle_order_weight_and_first_game_only():
    judgments = [judgment("m1", "q1", "B>>A", "A=B"), judgment("m2", "q2", "A>B", "A>>B")]
    battles = list(sr.battles_from_judgments(judgments, "base", weight=2).records())
    assert [(b["model_b"], b["winner"]) for b in battles] == [
        ("m1", "model_b"), ("m1", "model_b"), ("m1", "tie"),
        ("m2", "model_a"), ("m2", "model_b"), ("m2", "model_b")]
    first = list(sr.battles_from_judgments(judgments, "base", weight=5, first_game_only=True).records())
    assert [(b["model_b"], b["winner"]) for b in first] == [("m1", "model_b")] * 5 + [("m2", "model_a")]
    # weight 0 drops strong verdicts, like upstream's `if weight:`
    assert len(sr.battles_from_judgments(judgments, "base", weight=0)) == 2


def test_missing_second_game_gives_no_battle():
    j = Judgment(question_id="q", model="m", judge=JUDGE, games=[Game(user_prompt="", judgment="", score="B>A")])
    assert [b["winner"] for b in sr.battles_from_judgments([j], "base").records()] == ["model_b"]


def test_models_in_order_of_first_appearance():
    battles = sr.battles_from_judgments([judgment("z", "q", "A>B"), judgment("a", "q", "B>A")], "base")
    assert battles.models == ["base", "z", "a"]


def test_game_counts_from_the_model_side():
    judgments = [judgment("m", "q1", "B>>A", "A>>B"), judgment("m", "q2", "A>B", "A=B"),
                 judgment("m", "q3", None, "B>>A"), judgment("n", "q1", "B>A", "weird")]
    counts = utils.game_counts(judgments)
    assert counts["m"] == {"strong_wins": 2, "wins": 0, "ties": 1, "losses": 1, "strong_losses": 1, "unparsable": 1}
    assert counts["n"] == {"strong_wins": 0, "wins": 1, "ties": 0, "losses": 0, "strong_losses": 0, "unparsable": 1}
    assert utils.game_counts(judgments, first_game_only=True)["m"]["unparsable"] == 1


# --------------------------------------------------------------------------------------------
# Fits against scikit-learn
# --------------------------------------------------------------------------------------------


def test_bootstrap_draws_are_pandas_sample_draws():
    df = pd.DataFrame({"i": np.arange(257)})
    np.random.seed(7)
    upstream = [df.sample(frac=1.0, replace=True)["i"].to_numpy() for _ in range(3)]
    ours = list(sr.bootstrap_cell_counts(np.arange(257), 257, 3, seed=7))
    for drawn, counts in zip(upstream, ours):
        assert np.array_equal(np.bincount(drawn, minlength=257), counts)


def test_plain_fit_and_bootstrap_match_sklearn(small_battles):
    battles, df = small_battles
    ratings = sr.compute_ratings(battles, BASELINE, num_rounds=15, seed=42)
    point = upstream_mle_elo(df, BASELINE)
    boot = upstream_bootstrap(df, BASELINE, 15)
    for i, model in enumerate(ratings.models):
        assert to_win_rate(ratings.point[i], 1000) == pytest.approx(to_win_rate(point[model], 1000), abs=0.05)
        for q in (2.5, 97.5):
            ours = to_win_rate(np.percentile(ratings.bootstrap[:, i], q), 1000)
            theirs = to_win_rate(np.percentile(boot[model], q), 1000)
            assert ours == pytest.approx(theirs, abs=0.05)
    # Identical draws: each round's ratings agree, not only the percentiles.
    assert np.abs(ratings.bootstrap - boot[ratings.models].to_numpy()).max() < 0.05


@pytest.mark.parametrize("mode", ["style", "length", "markdown"])
def test_style_fit_matches_sklearn(small_battles, mode):
    battles, df = small_battles
    columns = sr.STYLE_MODES[mode]
    ratings = sr.compute_ratings(battles, BASELINE, num_rounds=8, seed=42, style_columns=columns)
    X, Y, models = upstream_style_matrix(df, columns)
    base = 1114.0
    point, coef = upstream_fit_bt(X, Y, models, BASELINE)  # upstream's defaults (tol 1e-4)
    exact, exact_coef = upstream_fit_bt(X, Y, models, BASELINE, tol=1e-12, max_iter=10000)
    for i, model in enumerate(ratings.models):
        assert to_win_rate(ratings.point[i], base) == pytest.approx(to_win_rate(point[model], base), abs=0.05)
        assert ratings.point[i] == pytest.approx(exact[model], abs=1e-3)
    assert np.allclose(ratings.style_coef, exact_coef, atol=1e-6)
    assert np.allclose(ratings.style_coef, coef, atol=2e-3)
    # Bootstrap: same draws; compared with sklearn run to convergence, since with upstream's
    # tol=1e-4 lbfgs stops several Elo short in some rounds (measured up to ~8 Elo).
    boot = upstream_style_bootstrap(X, Y, df, models, BASELINE, 8, tol=1e-12, max_iter=10000)
    assert np.abs(ratings.bootstrap - boot[ratings.models].to_numpy()).max() < 0.01


def test_fit_recovers_known_strengths():
    rng = np.random.default_rng(11)
    strengths = np.array([0.0, -0.8, -0.3, 0.2, 0.5, 1.0])  # log10 odds against model 0
    n = 3000
    model_b = np.repeat(np.arange(1, 6), n)
    p_b = 1 / (1 + 10 ** -(strengths[model_b] - strengths[0]))
    winner = np.where(rng.random(len(model_b)) < p_b, sr.MODEL_B, sr.MODEL_A)
    battles = sr.Battles(question_id=[str(i) for i in range(len(model_b))], model_a=np.zeros(len(model_b), int),
                         model_b=model_b, winner=winner.astype(np.int8), models=[f"m{i}" for i in range(6)])
    ratings = sr.compute_ratings(battles, "m0", num_rounds=50, seed=1)
    fitted = (ratings.point - 1000) / 400
    assert np.abs(fitted - strengths).max() < 0.08  # about 4 standard errors
    lower, upper = np.percentile(ratings.bootstrap, [2.5, 97.5], axis=0)
    assert ((lower - 1000) / 400 <= strengths + 0.02).all() and ((upper - 1000) / 400 >= strengths - 0.02).all()


def random_star_battles(seed: int, n_models: int = 6, flipped: bool = False) -> pd.DataFrame:
    """Battles of "base" against each model (some as model_a if flipped), every model winning and losing."""
    rng = np.random.default_rng(seed)
    records = []
    for m in range(1, n_models):
        outcomes = ["model_a", "model_b", "tie"] + list(rng.choice(["model_a", "model_b", "tie"], rng.integers(1, 40)))
        for i, winner in enumerate(outcomes):
            if flipped and (i + m) % 3 == 0:
                winner = {"model_a": "model_b", "model_b": "model_a"}.get(winner, winner)
                records.append({"question_id": str(i), "model_a": f"m{m}", "model_b": "base", "winner": winner})
            else:
                records.append({"question_id": str(i), "model_a": "base", "model_b": f"m{m}", "winner": winner})
    return pd.DataFrame(records)


def battles_from_frame(df: pd.DataFrame) -> sr.Battles:
    return sr._battles_from_columns(df["question_id"].tolist(), df["model_a"].tolist(), df["model_b"].tolist(),
                                    [sr.WINNER_CODES[w] for w in df["winner"]])


@pytest.mark.parametrize("seed, flipped", [(0, False), (1, False), (2, True), (3, True), (4, False)])
def test_closed_form_equals_sklearn_on_star_designs(seed, flipped):
    df = random_star_battles(seed, n_models=3 + seed, flipped=flipped)
    battles = battles_from_frame(df)
    design = sr.build_design(battles)
    w1, w0 = design.label_weights(np.bincount(design.cell, minlength=3 * design.n_rows))
    coef, pseudo = sr.fit_star_bt(design.a, design.b, w1, w0, len(battles.models), anchor=0)
    exact = upstream_mle_elo(df, "base", tol=1e-12, max_iter=10000)
    assert not pseudo.any()
    assert np.abs(sr.ratings_from_coef(coef, 0) - exact[battles.models].to_numpy()).max() < 1e-4
    # The general solver, on the same star, finds the same optimum.
    general, _ = sr.fit_general_bt(design.a, design.b, w1, w0, len(battles.models), anchor=0)
    assert np.abs(general - coef).max() < 1e-9


def test_general_fit_on_a_non_star_graph():
    rng = np.random.default_rng(5)
    p, rows = 5, 40
    a = rng.integers(0, p, rows)
    b = (a + rng.integers(1, p, rows)) % p
    w1 = rng.integers(0, 6, (3, rows)).astype(float)
    w0 = rng.integers(0, 6, (3, rows)).astype(float)
    batched, _ = sr.fit_general_bt(a, b, w1, w0, p, anchor=2)
    for r in range(3):
        single, pseudo = sr.fit_general_bt(a, b, w1[r], w0[r], p, anchor=2)
        assert np.array_equal(batched[r], single) and not pseudo.any()
        assert single[2] == 0.0
        # Gradient of the log-likelihood vanishes at the optimum.
        d = math.log(10) * (single[a] - single[b])
        resid = w1[r] - (w1[r] + w0[r]) / (1 + np.exp(-d))
        assert np.abs(np.bincount(a, resid, p) - np.bincount(b, resid, p)).max() < 1e-6


def test_loaded_battles_off_the_star_are_fitted(tmp_path, capsys):
    df = random_star_battles(7, n_models=4)
    df = pd.concat([df, pd.DataFrame([{"question_id": "x", "model_a": "m1", "model_b": "m2", "winner": w}
                                      for w in ("model_a", "model_a", "model_b", "tie")])])
    data = tmp_path / "data"
    data.mkdir()
    (data / sr.BATTLES_FILE).write_text("".join(json.dumps(r) + "\n" for r in df.to_dict("records")))
    code, out = run_main(["--data-dir", str(data), "--load-battles", "--baseline", "base", "--show-elo",
                          "--num-rounds", "3"], capsys)
    exact = upstream_mle_elo(df, "base", tol=1e-12, max_iter=10000)
    assert code == 0
    for model in ("m1", "m2", "m3"):
        line = next(x for x in out.splitlines() if x.startswith(f"{model} "))
        assert exact[model] - 1 < int(line.split("score:")[1].split("|")[0]) <= exact[model] + 1e-6  # int()


def test_separated_models_on_a_general_graph():
    # 0 <-> 1 both ways; 1 beats 2 only; 3 and 2 tie (both ways).
    a = np.array([0, 1, 2])
    b = np.array([1, 2, 3])
    w1 = np.array([1.0, 2.0, 1.0])
    w0 = np.array([1.0, 0.0, 1.0])
    assert sr.separated_models(a, b, w1, w0, 4, anchor=0).tolist() == [False, False, True, True]
    assert sr.separated_models(a, b, w1, w0, 4, anchor=2).tolist() == [True, True, False, False]


@pytest.mark.parametrize("winner", [sr.MODEL_B, sr.MODEL_A])
def test_model_winning_or_losing_everything_stays_finite(winner, caplog):
    n = 200
    model_b = np.repeat([1, 2], n)
    rng = np.random.default_rng(0)
    winners = np.where(model_b == 1, winner, rng.choice([sr.MODEL_A, sr.MODEL_B, sr.TIE], 2 * n)).astype(np.int8)
    battles = sr.Battles([str(i) for i in range(2 * n)], np.zeros(2 * n, int), model_b, winners,
                         ["base", "sweep", "mid"])
    with caplog.at_level(logging.WARNING, logger="arena_hard"):
        ratings = sr.compute_ratings(battles, "base", num_rounds=20, seed=0)
    assert np.isfinite(ratings.point).all() and np.isfinite(ratings.bootstrap).all()
    # Half a tie against 2n = 400 doubled wins: odds 801, i.e. 400*log10(801) ~ 1162 Elo.
    expected = 1000 + (1 if winner == sr.MODEL_B else -1) * 400 * math.log10(4 * n + 1)
    assert ratings.point[1] == pytest.approx(expected, abs=1e-6)
    assert "'sweep' won or lost every battle" in caplog.text
    assert "'mid'" not in caplog.text


# --------------------------------------------------------------------------------------------
# Table and output formats
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row, decimal, line", [
    ({"model": "gpt-4-0613", "score": 37.93, "lower": 35.71, "upper": 40.12, "avg_tokens": 354}, 1,
     "gpt-4-0613                     | score: 37.9  | 95% CI: (-2.2, 2.2)  | average #tokens: 354"),
    ({"model": "gpt-4-0314", "score": 50.0, "lower": 50.0, "upper": 50.0, "avg_tokens": 423}, 1,
     "gpt-4-0314                     | score: 50.0  | 95% CI:  (0.0, 0.0)  | average #tokens: 423"),
    ({"model": "m", "score": 1114, "lower": 1090, "upper": 1141, "avg_tokens": 7}, 0,
     "m                              | score: 1114  | 95% CI:  (-24, 27)   | average #tokens: 7"),
])
def test_output_line_format(row, decimal, line):
    assert sr.format_row(row, decimal) == line


def test_win_rate_and_table():
    assert sr.win_rate(1000, 1000) == 50.0
    assert sr.win_rate(1400, 1000) == round(100 / 1.1, 2)
    boot = np.array([[1000.0, 1100.0, 900.0], [1000.0, 1200.0, 950.0], [1000.0, 1150.0, 920.0]])
    intervals = sr.rating_intervals(["base", "good", "bad"], np.array([1000.0, 1150.0, 930.0]),
                                    ["bad", "base", "good"], boot[:, [2, 0, 1]])
    good = [1100, 1200, 1150]
    assert intervals["good"] == (1150.0, np.percentile(good, 2.5), np.percentile(good, 97.5))
    rows = sr.leaderboard_rows(intervals, "base", {"good": 12})
    assert [r["model"] for r in rows] == ["good", "base", "bad"]
    best = rows[0]
    assert best["score"] == sr.win_rate(1150, 1000)
    assert best["lower"] == sr.win_rate(np.percentile(good, 2.5), 1000)
    assert best["avg_tokens"] == 12 and rows[1]["avg_tokens"] == 0
    assert rows[1]["score"] == rows[1]["lower"] == rows[1]["upper"] == 50.0
    intervals = sr.rating_intervals(["base", "good", "bad"], np.array([1000.0, 1150.7, 930.2]),
                                    ["base", "good", "bad"], boot)
    elo = sr.leaderboard_rows(intervals, "base", {}, show_elo=True)
    assert [(r["model"], r["score"]) for r in elo] == [("good", 1150), ("base", 1000), ("bad", 930)]


def test_csv_columns(tmp_path):
    import datetime
    rows = [sr.Row(model="m", score=60.5, lower=58.25, upper=63.0, avg_tokens=321)]
    path = sr.write_leaderboard_csv(rows, tmp_path, datetime.date(2024, 11, 5), bench_name="b", judge_name="j")
    assert path.name == "arena_hard_leaderboard_20241105.csv"
    with open(path, newline="") as f:
        table = list(csv.DictReader(f))
    # upstream's columns first, then where the table comes from
    assert list(table[0]) == ["model", "score", "rating_q025", "rating_q975", "CI", "avg_tokens", "date",
                              "bench_name", "judge_name"]
    assert table[0] == {"model": "m", "score": "60.5", "rating_q025": "58.25", "rating_q975": "63.0",
                        "CI": "(-2.25, +2.50)", "avg_tokens": "321.0", "date": "2024-11-05",
                        "bench_name": "b", "judge_name": "j"}


def test_average_tokens_of_upstream_answers(shared_data):
    answers = sr.read_answers(shared_data / "arena-hard-v0.1" / "model_answer")
    assert {m: answers[m].avg_tokens for m in ("gpt-4-0314", "gpt-4-0613", "gpt-3.5-turbo-0125")} == {
        "gpt-4-0314": 423, "gpt-4-0613": 354, "gpt-3.5-turbo-0125": 329}


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def test_main_prints_table_writes_files_and_reloads(small_bench, tmp_path, capsys):
    lb = tmp_path / "lb"
    common = ["--data-dir", str(small_bench), "--leaderboard-dir", str(lb), "--num-rounds", "20"]
    code, out = run_main(common + ["--output"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 7 and all(" | score: " in line and "| average #tokens: " in line for line in lines)
    assert any(line.startswith(f"{BASELINE : <30} | score: 50.0") for line in lines)
    battles = [json.loads(x) for x in (small_bench / "arena_hard_battles.jsonl").read_text().splitlines()]
    assert set(battles[0]) == {"question_id", "model_a", "model_b", "winner"}
    boot = [json.loads(x) for x in (small_bench / "bootstrapping_results.jsonl").read_text().splitlines()]
    assert len(boot) == 20 and len(boot[0]) == 7
    medians = [np.median([r[m] for r in boot]) for m in boot[0]]
    assert medians == sorted(medians, reverse=True)
    [csv_path] = lb.glob("arena_hard_leaderboard_*.csv")
    with open(csv_path, newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["model"] for r in table] == [line.split(" | ")[0].strip() for line in lines]
    assert {(r["bench_name"], r["judge_name"]) for r in table} == {(BENCH, JUDGE)}

    # Same seed, same table; reloading battles and bootstrap gives the same table too.
    assert run_main(common, capsys) == (0, out)
    assert run_main(common + ["--load-battles", "--load-bootstrap"], capsys) == (0, out)
    assert run_main(common + ["--load-battles"], capsys) == (0, out)
    # --load-bootstrap alone (as upstream): battles rebuilt from the judgments, intervals from the
    # saved rounds, so another seed changes nothing.
    (small_bench / "arena_hard_battles.jsonl").unlink()
    assert run_main(common + ["--load-bootstrap", "--seed", "7"], capsys) == (0, out)
    assert [json.loads(x) for x in (small_bench / "arena_hard_battles.jsonl").read_text().splitlines()] == battles
    code, other_seed = run_main(common + ["--seed", "7"], capsys)
    assert code == 0 and other_seed != out


def test_main_style_control_and_reload(small_bench, capsys):
    common = ["--data-dir", str(small_bench), "--num-rounds", "5", "--style-control"]
    code, out = run_main(common, capsys)
    assert code == 0
    assert out.startswith("Style Coefficients: {'sum_assistant_a_tokens': ")
    assert f"{BASELINE : <30} | score: 50.0" in out
    battle = json.loads((small_bench / "arena_hard_battles.jsonl").read_text().splitlines()[0])
    assert set(battle["conv_metadata"]) == set(STYLE_A + STYLE_B)
    assert run_main(common + ["--load-battles"], capsys) == (0, out)
    code, out = run_main(["--data-dir", str(small_bench), "--num-rounds", "5", "--length-control-only"], capsys)
    assert code == 0 and out.startswith("Style Coefficients: {'sum_assistant_a_tokens': ") and "header" not in out


def test_main_show_elo_full_stats_first_game_and_plot(small_bench, tmp_path, capsys):
    plot = tmp_path / "chart.png"
    code, out = run_main(["--data-dir", str(small_bench), "--num-rounds", "5", "--show-elo", "--full-stats",
                          "--first-game-only", "--weight", "1", "--plot", str(plot)], capsys)
    assert code == 0
    assert f"{BASELINE : <30} | score: 1000  | 95% CI:    (0, 0)    |" in out
    assert "strong_wins" in out and "unparsable" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Title\x00{BENCH}, judge {JUDGE}, plain (95% bootstrap intervals)".encode() in plot.read_bytes()
    code, out = run_main(["--data-dir", str(small_bench), "--num-rounds", "2", "--style-control", "--plot", str(plot)],
                         capsys)
    assert code == 0
    assert f"{BENCH}, judge {JUDGE}, style-controlled (length and markdown)".encode() in plot.read_bytes()


def test_a_chart_that_cannot_be_written_leaves_the_old_one_whole(tmp_path):
    """The disk fills up while --plot saves the chart (here the file size limit: the kernel's EFBIG at
    the write): the chart there before stays as it was, and no partial file is left."""
    data = tmp_path / "data"
    write_bench(data, n_models=3, n_questions=30, seed=1)
    plot = tmp_path / "chart.png"
    plot.write_bytes(b"the chart of an earlier run")

    def small_files() -> None:  # in the child: a write beyond 4 KiB fails (EFBIG) instead of killing it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    proc = subprocess.run([sys.executable, str(Path(sr.__file__)), "--data-dir", str(data), "--num-rounds", "2",
                           "--plot", str(plot)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          preexec_fn=small_files)
    assert plot.read_bytes() == b"the chart of an earlier run"
    assert proc.returncode == 2, proc.stderr
    assert f"ERROR {plot}: File too large\n" in proc.stderr  # one line naming the file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.png", "data"]


def test_main_hard_cases(tmp_path, capsys, caplog):
    data = tmp_path / "data"
    write_bench(data, n_models=3, n_questions=30, seed=1, null_share=0.0)
    judges = data / BENCH / "model_judgment" / JUDGE
    # model-000 only null verdicts; model-001 wins every game; model-002's file has another name.
    rows = [json.loads(x) for x in (judges / "model-000.jsonl").read_text().splitlines()]
    for r in rows:
        for g in r["games"]:
            g["score"] = None
    write_jsonl(judges / "model-000.jsonl", rows)
    rows = [json.loads(x) for x in (judges / "model-001.jsonl").read_text().splitlines()]
    for r in rows:
        r["games"][0]["score"], r["games"][1]["score"] = "B>A", "A>>B"
    write_jsonl(judges / "model-001.jsonl", rows)
    (judges / "model-002.jsonl").rename(judges / "renamed.jsonl")
    with caplog.at_level(logging.INFO, logger="arena_hard"):
        code, out = run_main(["--data-dir", str(data), "--num-rounds", "10"], capsys)
    assert code == 0
    assert "model-000                      | no valid battles" in out
    line = next(x for x in out.splitlines() if x.startswith("model-001"))
    assert float(line.split("score:")[1].split("|")[0]) > 99
    assert "won or lost every battle" in caplog.text
    assert "renamed.jsonl: 30 rows name another model (model-002)" in caplog.text


@pytest.mark.parametrize("setup, args, message", [
    ("judge", ["--judge-name", "nobody"], "judgment folder not found"),
    ("baseline", ["--baseline", "gpt-9"], "no answers of the baseline 'gpt-9'"),
    ("metadata", ["--style-control"], "run add_markdown_info.py"),
    ("battles", ["--load-battles"], "battles file not found"),
])
def test_main_one_line_errors(tmp_path, capsys, caplog, setup, args, message):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=5, with_metadata=setup != "metadata")
    with caplog.at_level(logging.ERROR, logger="arena_hard"):
        code, out = run_main(["--data-dir", str(data), "--num-rounds", "2"] + args, capsys)
    assert code == 2 and out == ""
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert message in record.getMessage() and "\n" not in record.getMessage()


def test_style_control_on_battles_without_metadata(small_bench, tmp_path, capsys, caplog):
    data = tmp_path / "data"
    data.mkdir()
    lines = (small_bench / "arena_hard_battles.jsonl").read_text().splitlines()
    plain = [{k: v for k, v in json.loads(x).items() if k != "conv_metadata"} for x in lines]
    write_jsonl(data / "arena_hard_battles.jsonl", plain)
    with caplog.at_level(logging.ERROR, logger="arena_hard"):
        code, _ = run_main(["--data-dir", str(data), "--load-battles", "--style-control", "--num-rounds", "2"],
                           capsys)
    assert code == 2 and "battle has no conv_metadata" in caplog.text


def test_judged_model_without_answers_is_reported(tmp_path, capsys, caplog):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=10)
    (data / BENCH / "model_answer" / "model-001.jsonl").unlink()
    with caplog.at_level(logging.WARNING, logger="arena_hard"):
        code, out = run_main(["--data-dir", str(data), "--num-rounds", "3"], capsys)
    assert code == 0
    assert "judged models without an answer file" in caplog.text and "model-001" in caplog.text
    assert "average #tokens: 0" in next(x for x in out.splitlines() if x.startswith("model-001"))


@pytest.mark.parametrize("flags", [["--style-control", "--length-control-only"], ["--num-rounds", "0"]])
def test_bad_flag_combinations(flags):
    with pytest.raises(SystemExit):
        sr.parse_args(flags)


def test_load_bootstrap_alone_is_accepted():
    args = sr.parse_args(["--load-bootstrap"])
    assert args.load_bootstrap and not args.load_battles


# --------------------------------------------------------------------------------------------
# Malformed and partial input
# --------------------------------------------------------------------------------------------


def one_game(model: str, qid: str, score: str | None) -> Judgment:
    """A judgment made with pairwise off: one game."""
    return Judgment(question_id=qid, model=model, judge=JUDGE, games=[Game(user_prompt="", judgment="", score=score)])


@pytest.mark.parametrize("score", [["A>B"], {"A": "B"}, 3])
def test_game_outcome_of_a_non_string_score_is_no_verdict(score):
    # Raw records (qa_browser reads them unchecked) must not raise TypeError: unhashable label.
    raw = {"question_id": "q", "model": "m", "games": [{"score": score}, {"score": "A>B"}]}
    assert utils.game_outcome(raw, 0) is None
    assert utils.game_column(raw, 0) == "unparsable"
    assert utils.game_outcome(raw, 1) == (utils.MODEL_B, False)


def test_game_counts_skip_games_not_played():
    judgments = [one_game("m", "q1", "B>A"), one_game("m", "q2", None), one_game("m", "q3", "A>>>B"),
                 judgment("m", "q4", "A>>B", "A>>B"),
                 Judgment(question_id="q5", model="m", judge=JUDGE, games=[])]
    assert utils.game_counts(judgments)["m"] == {"strong_wins": 1, "wins": 1, "ties": 0, "losses": 0,
                                              "strong_losses": 1, "unparsable": 2}
    assert utils.game_counts(judgments, first_game_only=True)["m"]["unparsable"] == 2
    assert utils.game_column(one_game("m", "q", "A=B"), 1) is None
    # Raw records (qa_browser): a null game or a "games" that is not a list is a game not played.
    assert utils.count_games([{"games": [None, {"score": "A>B"}]}, {"games": None}, {"games": "x"}]) == {
        "strong_wins": 0, "wins": 1, "ties": 0, "losses": 0, "strong_losses": 0, "unparsable": 0}
    # Battles of one-game judgments: game 1 only, as --first-game-only gives.
    battles = [(b["question_id"], b["winner"]) for b in sr.battles_from_judgments(judgments, "base").records()]
    assert battles == [("q1", "model_b")] + [("q4", "model_a")] * 3 + [("q4", "model_b")] * 3
    assert battles[:4] == [(b["question_id"], b["winner"]) for b in
                           sr.battles_from_judgments(judgments, "base", first_game_only=True).records()]


@pytest.mark.parametrize("record, message", [
    ({"question_id": "q2", "model": "m", "games": [{"score": ["A>B"]}, {"score": "A>B"}]},
     "games[0].score must be a label string or null, got ['A>B']"),
    ({"question_id": "q2", "model": "m", "games": [{"score": "A>B"}, {"score": {"x": 1}}]},
     "games[1].score must be a label string or null"),
    ({"question_id": "q2", "model": "m", "games": [{"score": "A>B"}, {"score": 2}]},
     "games[1].score must be a label string or null, got 2"),
    ({"question_id": "q2", "model": None, "games": [{"score": "A>B"}]}, "'model' must be a non-empty string, got None"),
    ({"question_id": "q2", "model": "", "games": [{"score": "A>B"}]}, "'model' must be a non-empty string"),
    ({"question_id": "q2", "model": 7, "games": [{"score": "A>B"}]}, "'model' must be a non-empty string, got 7"),
    ({"question_id": "q2", "model": "m", "games": ["A>B"]}, "games[0] must be an object"),
])
def test_read_judgments_rejects_malformed_rows_with_file_and_line(tmp_path, record, message):
    good = {"question_id": "q1", "model": "m", "games": [{"score": "A>B"}, {"score": "B>A"}]}
    (tmp_path / "m.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(sr.DataError) as e:
        sr.read_judgments(tmp_path)
    assert str(e.value).startswith(f"{tmp_path / 'm.jsonl'}:2: ") and message in str(e.value)


def test_unknown_labels_are_unparsable_not_errors(tmp_path):
    rows = [{"question_id": "q1", "model": "m", "games": [{"score": "A>>>B"}, {"score": "B>A"}]},
            {"question_id": "q2", "model": "m", "games": [{"score": "garbage"}]}]
    write_jsonl(tmp_path / "m.jsonl", rows)
    judgments = sr.read_judgments(tmp_path)
    assert utils.game_counts(judgments)["m"] == {"strong_wins": 0, "wins": 0, "ties": 0, "losses": 1,
                                              "strong_losses": 0, "unparsable": 2}
    assert [b["winner"] for b in sr.battles_from_judgments(judgments, "base").records()] == ["model_a"]


def test_main_malformed_judgment_is_a_one_line_error(tmp_path, capsys, caplog):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=5)
    path = data / BENCH / "model_judgment" / JUDGE / "model-001.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows[2]["model"] = None
    write_jsonl(path, rows)
    with caplog.at_level(logging.ERROR, logger="arena_hard"):
        code, out = run_main(["--data-dir", str(data), "--num-rounds", "2"], capsys)
    assert code == 2 and out == ""
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == f"{path}:3: 'model' must be a non-empty string, got None"


def test_plain_leaderboard_needs_no_style_metadata(tmp_path, capsys, caplog):
    data = tmp_path / "data"
    write_bench(data, n_models=3, n_questions=20, seed=2)
    answers = data / BENCH / "model_answer"

    def rewrite(model: str, change) -> None:
        rows = [json.loads(x) for x in (answers / f"{model}.jsonl").read_text().splitlines()]
        for r in rows:
            change(r)
        write_jsonl(answers / f"{model}.jsonl", rows)

    def only_token_len(r):  # token_len in conv_metadata only, as upstream's answers may have
        r["conv_metadata"] = {"token_len": r["choices"][0]["turns"][0].pop("token_len")}

    rewrite("model-000", only_token_len)
    rewrite("model-001", lambda r: r.pop("conv_metadata"))
    expected = {m: int(np.mean([json.loads(x)["conv_metadata"]["token_len"] if m == "model-000"
                                else json.loads(x)["choices"][0]["turns"][0]["token_len"]
                                for x in (answers / f"{m}.jsonl").read_text().splitlines()]))
                for m in ("model-000", "model-001")}
    code, out = run_main(["--data-dir", str(data), "--num-rounds", "3", "--full-stats"], capsys)
    assert code == 0
    for model, tokens in expected.items():
        assert next(x for x in out.splitlines() if x.startswith(model)).endswith(f"| average #tokens: {tokens}")
    # A style mode still needs all four features of the models in its battles, and says where.
    with caplog.at_level(logging.ERROR, logger="arena_hard"):
        code, out = run_main(["--data-dir", str(data), "--num-rounds", "2", "--markdown-control-only"], capsys)
    assert code == 2 and out == ""
    assert f"{answers / 'model-000.jsonl'}:1: conv_metadata has no 'header_count'" in caplog.text


def test_style_control_ignores_metadata_of_models_outside_its_battles(tmp_path, capsys):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=10, seed=5)
    answers = data / BENCH / "model_answer"
    (answers / "unjudged.jsonl").write_text(json.dumps(
        {"question_id": "x", "choices": [{"turns": [{"content": "hi"}]}], "conv_metadata": {"token_len": 1}}) + "\n")
    code, out = run_main(["--data-dir", str(data), "--num-rounds", "2", "--style-control"], capsys)
    assert code == 0 and out.startswith("Style Coefficients: ")


def test_outputs_are_atomic_and_keep_permissions(tmp_path, capsys):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=8)
    lb = tmp_path / "lb"
    argv = ["--data-dir", str(data), "--leaderboard-dir", str(lb), "--num-rounds", "2", "--output", "--quality"]
    assert run_main(argv, capsys)[0] == 0
    [csv_path] = lb.glob("arena_hard_leaderboard_*.csv")
    [json_path] = lb.glob("arena_hard_quality_*.json")
    csv_path.chmod(0o640)
    json_path.chmod(0o604)
    csv_path.write_text("stale")
    json_path.write_text("stale")
    assert run_main(argv, capsys)[0] == 0
    assert (csv_path.stat().st_mode & 0o777, json_path.stat().st_mode & 0o777) == (0o640, 0o604)
    assert csv_path.read_bytes().startswith(b"model,score,rating_q025,rating_q975,CI,avg_tokens,date,")
    assert json.loads(json_path.read_text())["separability"]["pairs"] == 3
    assert sorted(p.name for p in lb.iterdir()) == sorted([csv_path.name, json_path.name])  # no temporary left


def test_script_exit_status_and_log_format(tmp_path):
    import subprocess

    proc = subprocess.run([sys.executable, str(ROOT / "show_result.py"), "--data-dir", str(tmp_path),
                           "--judge-name", "nobody"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    folder = tmp_path / BENCH / "model_judgment" / "nobody"
    # utils.setup_logging's format ("LEVEL message"), as the other scripts log.
    assert proc.stderr.splitlines() == [f"ERROR {folder}: judgment folder not found (judge 'nobody', bench "
                                        f"'{BENCH}'; run gen_judgment.py first)"]


@pytest.mark.parametrize("meta, message", [
    ({"header_count": {"h1": None}}, "conv_metadata 'header_count' must be a number or a dict of numbers, "
                                     "got {'h1': None}"),
    ({"header_count": {"h1": "x"}}, "conv_metadata 'header_count' must be a number or a dict of numbers"),
    ({"list_count": [1, 2]}, "conv_metadata 'list_count' must be a number or a dict of numbers, got [1, 2]"),
    ({"token_len": None}, "conv_metadata 'token_len' must be a number or a dict of numbers, got None"),
])
def test_bad_style_metadata_is_a_data_error_naming_where(meta, message):
    good = {"token_len": 10, "header_count": {"h1": 1, "h2": 2}, "list_count": 3, "bold_count": {"**": 1, "__": 0}}
    assert sr.style_vector(good, "f:1").tolist() == [10.0, 3.0, 3.0, 1.0]
    with pytest.raises(sr.DataError) as e:
        sr.style_vector({**good, **meta}, "answers.jsonl:7")
    assert str(e.value).startswith("answers.jsonl:7: ") and message in str(e.value)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_bad_style_metadata_in_answers_and_battles_exits_2(small_battles, tmp_path, capsys, caplog):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=6, seed=7)
    path = data / BENCH / "model_answer" / "model-001.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows[3]["conv_metadata"]["header_count"] = {"h1": None}
    write_jsonl(path, rows)
    with caplog.at_level(logging.ERROR, logger="arena_hard"):
        code, out = run_main(["--data-dir", str(data), "--num-rounds", "2", "--style-control"], capsys)
    assert code == 2 and out == ""
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage().startswith(f"{path}:4: conv_metadata 'header_count' must be a number")

    # The same in a battles file read back with --load-battles: the battle's own key is named.
    battles = tmp_path / "battles" / "arena_hard_battles.jsonl"
    battles.parent.mkdir()
    lines = [json.dumps(r) for r in list(small_battles[0].records())[:5]]
    assert sr.read_battles(write_lines(battles, lines), with_style=True).style_a.shape == (5, 4)
    record = json.loads(lines[1])
    record["conv_metadata"]["bold_count_b"] = "x"
    with pytest.raises(sr.DataError, match=r"arena_hard_battles\.jsonl:2: conv_metadata 'bold_count_b' must be"):
        sr.read_battles(write_lines(battles, [lines[0], json.dumps(record)] + lines[2:]), with_style=True)
    del record["conv_metadata"]["header_count_a"]
    with pytest.raises(sr.DataError, match=r"arena_hard_battles\.jsonl:2: conv_metadata has no 'header_count_a'"):
        sr.read_battles(write_lines(battles, [lines[0], json.dumps(record)] + lines[2:]), with_style=True)


def test_unwritable_output_is_a_one_line_error(tmp_path, capsys, caplog):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=5)
    not_a_folder = tmp_path / "leaderboard"
    not_a_folder.write_text("a file where the leaderboard folder should be")
    with caplog.at_level(logging.ERROR, logger="arena_hard"):
        code, _ = run_main(["--data-dir", str(data), "--leaderboard-dir", str(not_a_folder), "--num-rounds", "2",
                            "--output"], capsys)
    assert code == 2
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == f"{not_a_folder}: File exists"


def test_read_only_data_folder_still_prints_the_leaderboard(tmp_path, capsys, caplog, monkeypatch):
    # Tests run as root, for whom chmod does not stop a write: the temporary file of every atomic
    # write into data/ fails instead, with the EROFS a read-only mount gives at that call.
    import errno
    import tempfile

    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=5)
    real_mkstemp = tempfile.mkstemp

    def read_only_data(*args, **kwargs):
        if Path(kwargs.get("dir", "")) == data:
            raise OSError(errno.EROFS, "Read-only file system")
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", read_only_data)
    with caplog.at_level(logging.WARNING, logger="arena_hard"):
        code, out = run_main(["--data-dir", str(data), "--num-rounds", "2"], capsys)
    assert code == 0
    assert len(out.strip().splitlines()) == 3 and all(" | score: " in line for line in out.strip().splitlines())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for name in ("arena_hard_battles.jsonl", "bootstrapping_results.jsonl"):
        assert f"{data / name}: not saved (Read-only file system)" in " ".join(warnings)
    assert sorted(p.name for p in data.iterdir()) == [BENCH]


@pytest.mark.parametrize("name, reader", [("arena_hard_battles.jsonl", lambda p: sr.read_battles(p, False)),
                                          ("bootstrapping_results.jsonl", sr.read_bootstrap)])
def test_cached_battles_and_rounds_with_a_cut_last_line_are_errors(tmp_path, name, reader):
    # show_result writes these whole (atomically): a bad unterminated last line is damage, not a
    # write interrupted by a crash, and dropping it would silently drop a battle or a round
    path = tmp_path / name
    first = ('{"question_id": "q", "model_a": "a", "model_b": "b", "winner": "tie"}' if "battles" in name
             else '{"a": 1000.0, "b": 990.0}')
    path.write_text(first + "\n" + first[:20])
    with pytest.raises(sr.DataError, match=rf"{name}:2: invalid JSON"):
        reader(path)


def upstream_failure(score: str | None = None) -> dict:
    """A game as upstream stores it when the judge's API failed: the reply "$ERROR$", no verdict."""
    return {"user_prompt": "<|User Prompt|>...", "judgment": "$ERROR$", "score": score}


def test_upstream_error_judgments_count_as_missing(tmp_path, caplog):
    ok = {"user_prompt": "...", "judgment": "Fine. [[B>A]]", "score": "B>A"}
    null = {"user_prompt": "...", "judgment": "No label here.", "score": None}
    rows = [
        {"question_id": "q1", "model": "m", "games": [ok, {**ok, "score": "A>B"}]},
        {"question_id": "q2", "model": "m", "games": [upstream_failure(), upstream_failure()]},  # missing
        {"question_id": "q3", "model": "m", "games": [upstream_failure(), {**ok, "score": "A>>B"}]},
        {"question_id": "q4", "model": "m", "games": [null, ok]},  # a real null verdict stays unparsable
        {"question_id": "q5", "model": "m", "games": []},  # no games: missing
    ]
    write_jsonl(tmp_path / "m.jsonl", rows)
    with caplog.at_level(logging.WARNING, logger="arena_hard"):
        judgments = sr.read_judgments(tmp_path)
    assert "m.jsonl: 3 judgments are upstream's failures" in caplog.text
    assert "(2 rows left without a game are skipped)" in caplog.text
    assert [j["question_id"] for j in judgments] == ["q1", "q3", "q4"]
    assert judgments[1]["games"][0] is None and judgments[1]["games"][1]["score"] == "A>>B"
    counts = utils.game_counts(judgments)["m"]
    assert counts == {"strong_wins": 1, "wins": 2, "ties": 0, "losses": 1, "strong_losses": 0, "unparsable": 1}
    assert utils.game_counts(judgments, first_game_only=True)["m"]["unparsable"] == 1
    diagnostics = sr.judge_diagnostics(judgments)["m"]
    assert diagnostics["null_share"] == 1 / 5 and diagnostics["judgments"] == 3

    # Battles are upstream's: the failed games had null scores and gave none; q3's game 2 still counts.
    as_upstream = [Judgment(question_id=r["question_id"], model="m", judge="",
                            games=[Game(user_prompt="", judgment="", score=g["score"]) for g in r["games"]])
                   for r in rows]
    ours = list(sr.battles_from_judgments(judgments, "base").records())
    assert ours == list(sr.battles_from_judgments(as_upstream, "base").records())
    assert [b["question_id"] for b in ours] == ["q1", "q1", "q3", "q3", "q3", "q4"]


def test_upstream_error_judgments_in_full_stats(tmp_path, capsys):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=10, seed=6, null_share=0.0)
    path = data / BENCH / "model_judgment" / JUDGE / "model-000.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    argv = ["--data-dir", str(data), "--num-rounds", "5", "--full-stats", "--quality"]

    def run_with(failed_game) -> str:
        rows[0]["games"] = [failed_game(), failed_game()]
        rows[1]["games"][1] = failed_game()
        write_jsonl(path, rows)
        code, out = run_main(argv, capsys)
        assert code == 0
        return out

    plain_null = run_with(lambda: {"user_prompt": "...", "judgment": "no label", "score": None})
    out = run_with(upstream_failure)

    def row_after(text: str, header: str) -> list[str]:
        lines = text.splitlines()
        start = next(i for i, x in enumerate(lines) if x.startswith(header))
        return next(x for x in lines[start:] if x.startswith("model-000")).split("|")[1:]

    stats = [int(v) for v in row_after(out, "model                          | ")]
    assert stats[-1] == 0 and sum(stats) == 2 * 10 - 3  # 3 games missing, none unparsable
    assert row_after(out, "judge diagnostics")[2].strip() == "0.0%"  # null share
    stats = [int(v) for v in row_after(plain_null, "model                          | ")]
    assert stats[-1] == 3 and sum(stats) == 2 * 10  # plain nulls are unparsable games
    assert row_after(plain_null, "judge diagnostics")[2].strip() == "15.0%"
    # The same battles as with plain null verdicts: the leaderboard is unchanged, to the digit.
    assert out.split("\n\n")[0] == plain_null.split("\n\n")[0]


# --------------------------------------------------------------------------------------------
# Hostile values and flags
# --------------------------------------------------------------------------------------------


def rewrite_rows(path: Path, change) -> None:
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    change(rows)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e308", "1e400", "-5", "true", '"12"'])
def test_absurd_token_len_is_left_out_with_a_warning_naming_file_and_line(tmp_path, capsys, caplog, bad):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=6, seed=2)
    answers = data / BENCH / "model_answer"
    judged, unjudged = answers / "model-000.jsonl", answers / "other.jsonl"
    shutil.copy(judged, unjudged)  # a model that is not judged: must not break the leaderboard either
    for path in (judged, unjudged):
        lines = path.read_text().splitlines()
        record = json.loads(lines[2])
        good_len = record["choices"][0]["turns"][0]["token_len"]
        lines[2] = lines[2].replace(f'"token_len": {good_len}}}]', f'"token_len": {bad}}}]', 1)
        assert lines[2] != json.dumps(record)
        path.write_text("\n".join(lines) + "\n")
    expected = sr.AnswerInfo(judged, {json.loads(x)["question_id"]: json.loads(x)["choices"][0]["turns"][0]["token_len"]
                                      for i, x in enumerate(judged.read_text().splitlines()) if i != 2}).avg_tokens
    with caplog.at_level(logging.WARNING, logger="arena_hard"):
        code, out = run_main(["--data-dir", str(data), "--num-rounds", "3"], capsys)
    assert code == 0
    assert f"| average #tokens: {expected}" in next(x for x in out.splitlines() if x.startswith("model-000"))
    for path in (judged, unjudged):
        assert f"{path}:3: token_len {json.loads(bad)!r} is not a token count" in caplog.text


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-3", "1e300"])
@pytest.mark.parametrize("key", ["token_len", "header_count"])
def test_absurd_style_values_are_a_one_line_error_not_a_poisoned_fit(tmp_path, capsys, caplog, key, bad):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=6, seed=2)
    path = data / BENCH / "model_answer" / "model-001.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    record["conv_metadata"][key] = "BAD" if key == "token_len" else {"h1": "BAD"}
    lines[1] = json.dumps(record).replace('"BAD"', bad)
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.ERROR, logger="arena_hard"):
        code, out = run_main(["--data-dir", str(data), "--num-rounds", "2", "--style-control"], capsys)
    assert code == 2 and out == ""
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage().startswith(f"{path}:2: conv_metadata {key!r} holds ")
    assert "not a count from 0 to 10000000" in record.getMessage()


@pytest.mark.parametrize("flags", [
    ["--seed", "-1"], ["--seed", str(2**32)],
    ["--weight", "1000000000"], ["--weight", "101"], ["--weight", "-1"],
    ["--num-rounds", "100000000"], ["--num-rounds", "10001"],
    ["--plot", "out.txt"], ["--plot", "chart"],
])
def test_flags_out_of_bounds_are_usage_errors_at_start(tmp_path, capsys, monkeypatch, flags):
    monkeypatch.chdir(tmp_path)  # where a chart would land
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=4)
    with pytest.raises(SystemExit) as e:
        sr.main(["--data-dir", str(data)] + flags)
    assert e.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and flags[0] in captured.err
    assert not (data / sr.BATTLES_FILE).exists() and sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_flag_bounds_are_accepted_and_documented(capsys):
    args = sr.parse_args(["--seed", str(2**32 - 1), "--weight", "100", "--num-rounds", "10000", "--plot", "c.svg"])
    assert (args.seed, args.weight, args.num_rounds) == (2**32 - 1, 100, 10000)
    assert sr.parse_args(["--seed", "0", "--weight", "0", "--num-rounds", "1"]).weight == 0
    with pytest.raises(SystemExit):
        sr.parse_args(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "0 to 100" in help_text and "1 to 10000" in help_text and "0 to 4294967295" in help_text


@pytest.mark.parametrize("verdict", ["A=B", "B>A", "A>B"])
def test_a_model_with_few_battles_is_warned_about_whatever_they_were(verdict, caplog):
    judgments = [judgment("many", f"q{i}", "B>A" if i % 3 else "A>B", "A=B") for i in range(30)]
    judgments.append(Judgment(question_id="q0", model="lone", judge=JUDGE,
                              games=[Game(user_prompt="", judgment="", score=verdict)]))
    battles = sr.battles_from_judgments(judgments, "base")
    with caplog.at_level(logging.WARNING, logger="arena_hard"):
        sr.compute_ratings(battles, "base", num_rounds=5, seed=0)
    assert "model 'lone' has only 1 battle" in caplog.text
    assert "'many' has only" not in caplog.text


def test_csv_avg_tokens_is_written_as_pandas_writes_it(tmp_path):
    import datetime
    rows = [sr.Row(model="m", score=60.5, lower=58.25, upper=63.0, avg_tokens=411)]
    path = sr.write_leaderboard_csv(rows, tmp_path, datetime.date(2024, 11, 5))
    assert path.read_text().splitlines()[1] == "m,60.5,58.25,63.0,\"(-2.25, +2.50)\",411.0,2024-11-05,,"


def test_first_game_only_accepts_a_null_second_game(tmp_path, capsys):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=8, seed=4)
    path = data / BENCH / "model_judgment" / JUDGE / "model-000.jsonl"
    argv = ["--data-dir", str(data), "--num-rounds", "3", "--first-game-only", "--full-stats"]
    code, before = run_main(argv, capsys)
    assert code == 0

    def null_second_game(rows):
        for r in rows:
            r["games"][1] = None  # never read with --first-game-only (upstream accepts it)

    rewrite_rows(path, null_second_game)
    assert run_main(argv, capsys) == (0, before)
    code, _ = run_main(argv[:-2], capsys)  # both games are read: a null game is malformed
    assert code == 2


def test_ctrl_c_exits_130_in_one_line(tmp_path, capsys, caplog, monkeypatch):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=4)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sr, "compute_ratings", interrupted)
    with caplog.at_level(logging.INFO, logger="arena_hard"):
        code, out = run_main(["--data-dir", str(data), "--num-rounds", "2"], capsys)
    assert code == 130 and out == ""
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == ["interrupted"]


def test_ctrl_c_in_a_real_run_exits_130_in_one_line(tmp_path):
    import os
    import signal
    import subprocess
    import time

    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=20, seed=5)
    proc = subprocess.Popen([sys.executable, str(ROOT / "show_result.py"), "--data-dir", str(data),
                             "--style-control", "--num-rounds", "10000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (data / sr.BATTLES_FILE).exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)  # the battles are written just before the (long) bootstrap starts
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and out == ""
    assert err.splitlines() == ["WARNING interrupted"]


def test_all_null_verdicts_explain_themselves_and_write_nothing(tmp_path, capsys, caplog):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=20, null_share=0.0)
    judges = data / BENCH / "model_judgment" / JUDGE
    for path in judges.glob("*.jsonl"):
        rows = [json.loads(x) for x in path.read_text().splitlines()]
        for r in rows:
            for g in r["games"]:
                g["score"] = None
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with caplog.at_level(logging.ERROR, logger="arena_hard"):
        code, out = run_main(["--data-dir", str(data), "--num-rounds", "2", "--full-stats", "--output",
                              "--leaderboard-dir", str(tmp_path / "lb")], capsys)
    assert code == 2
    [error] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"no usable verdict in {judges}: 80 games without a verdict, 0 with" in error
    assert "qa_browser.py" in error and "\n" not in error
    lines = out.splitlines()
    assert "strong_wins" in lines[0] and "unparsable" in lines[0]  # --full-stats
    assert any(x.startswith("model-000") and x.rstrip().endswith("40") for x in lines)
    assert any(x.startswith("judge diagnostics") for x in lines)
    assert any(x.startswith("model-001") and "100.0%" in x for x in lines)  # null share
    assert sorted(p.name for p in data.iterdir()) == [BENCH]  # no battles file, nothing else
    assert not (tmp_path / "lb").exists()


def test_defaults_follow_the_judge_config(tmp_path, capsys, caplog, monkeypatch):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=10, bench="my-bench", judge="my-judge", baseline="my-base")
    monkeypatch.chdir(tmp_path)
    # no config/judge_config.yaml here: the built-in defaults
    with caplog.at_level(logging.ERROR, logger="arena_hard"):
        code, _ = run_main(["--data-dir", str(data), "--num-rounds", "2"], capsys)
    assert code == 2 and f"(judge '{JUDGE}', bench '{BENCH}'" in caplog.text
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "judge_config.yaml").write_text(
        "bench_name: my-bench\njudge_model: my-judge\nbaseline: true\nbaseline_model: my-base\n")
    code, out = run_main(["--data-dir", str(data), "--num-rounds", "2"], capsys)
    assert code == 0 and f"{'my-base' : <30} | score: 50.0" in out
    # another file through --setting-file; flags still override
    other = tmp_path / "other.yaml"
    other.write_text("bench_name: nowhere\njudge_model: nobody\nbaseline_model: my-base\n")
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="arena_hard"):
        code, _ = run_main(["--data-dir", str(data), "--setting-file", str(other)], capsys)
    assert code == 2 and "judge 'nobody', bench 'nowhere'" in caplog.text
    code, out2 = run_main(["--data-dir", str(data), "--num-rounds", "2", "--setting-file", str(other),
                           "--bench-name", "my-bench", "--judge-name", "my-judge"], capsys)
    assert code == 0 and out2 == out
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="arena_hard"):
        code, _ = run_main(["--data-dir", str(data), "--setting-file", str(tmp_path / "missing.yaml")], capsys)
    assert code == 2 and "missing.yaml: file not found" in caplog.text
