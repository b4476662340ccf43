"""Tests of the benchmark-quality metrics of show_result.py (--quality), on hand-computed cases.

Usage: python -m pytest tests/test_quality.py
"""
from __future__ import annotations

import csv
import json
import logging
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import show_result as sr  # noqa: E402
from synthetic_bench import write_bench  # noqa: E402
from utils import ConfigError, DataError, Game, Judgment  # noqa: E402

# Reference: A clearly above B and C; B and C overlap (so that pair is not scored).
REFERENCE = {"A": (1200.0, 1190.0, 1210.0), "B": (1100.0, 1090.0, 1110.0), "C": (1105.0, 1095.0, 1115.0)}


@pytest.mark.parametrize("x, y, expected", [
    ((60, 55, 65), (40, 35, 45), 1),
    ((40, 35, 45), (60, 55, 65), -1),
    ((52, 45, 58), (50, 44, 56), 0),
    ((55, 50, 60), (45, 40, 50), 0),  # touching intervals overlap
    ((50, 50, 50), (52, 45, 58), 0),  # the baseline's zero-width interval inside another
])
def test_confidently_separated(x, y, expected):
    assert sr.confidently_separated(x, y) == expected
    assert sr.confidently_separated(y, x) == -expected


def test_separability_hand_computed():
    # A-B disjoint; A-C overlap (55 < 58); B-C overlap (50 inside [45, 58]) -> 1 of 3 pairs.
    intervals = {"A": (60.0, 55.0, 65.0), "B": (50.0, 50.0, 50.0), "C": (52.0, 45.0, 58.0)}
    assert sr.separability(intervals) == (pytest.approx(1 / 3), 3)
    far = {"A": (60.0, 55.0, 65.0), "B": (30.0, 25.0, 35.0)}
    assert sr.separability(far) == (1.0, 1)
    value, pairs = sr.separability({"A": (1.0, 0.0, 2.0)})
    assert math.isnan(value) and pairs == 0


@pytest.mark.parametrize("bench, expected", [
    # clearly separated, same order as the reference: +1 on A-B and A-C
    ({"A": (60, 55, 65), "B": (40, 35, 45), "C": (45, 41, 49)}, 1.0),
    # overlapping everywhere: 0 on both scored pairs
    ({"A": (52, 45, 58), "B": (50, 44, 56), "C": (51, 46, 57)}, 0.0),
    # reversed against the reference: -1 on both
    ({"A": (40, 35, 45), "B": (60, 55, 65), "C": (58, 52, 64)}, -1.0),
    # A-B right and confident (+1), A-C overlapping (0)
    ({"A": (60, 55, 65), "B": (40, 35, 45), "C": (57, 50, 62)}, 0.5),
])
def test_agreement_with_confidence_hand_computed(bench, expected):
    assert sr.agreement_with_confidence(bench, REFERENCE) == (expected, 2)


def test_agreement_only_on_models_in_both_and_nan_without_separated_pairs():
    bench = {"A": (60, 55, 65), "B": (40, 35, 45), "Z": (10, 5, 15)}
    assert sr.agreement_with_confidence(bench, REFERENCE) == (1.0, 1)
    value, pairs = sr.agreement_with_confidence(bench, {"A": (1, 0, 2), "B": (1.5, 0.5, 2.5)})
    assert math.isnan(value) and pairs == 0


def test_pair_rank_brier_hand_computed():
    p = 1 / (1 + 10 ** (-200 / 400))  # 1200 vs 1000: 0.7597

    def brier(ratings, reference):
        return sr.pair_rank_brier(sr.win_probabilities(ratings), ratings, reference)

    ratings = {"A": 1200.0, "B": 1000.0}
    assert brier(ratings, {"A": (2, 2, 2), "B": (1, 1, 1)}) == (pytest.approx((1 - p) ** 2), 1)
    assert brier(ratings, {"A": (1, 1, 1), "B": (2, 2, 2)}) == (pytest.approx(p ** 2), 1)
    assert brier({"A": 1000.0, "B": 1000.0}, {"A": (2, 2, 2), "B": (1, 1, 1)}) == (0.25, 1)
    # A reference tie is not a pair the reference orders.
    value, pairs = brier(ratings, {"A": (1, 0, 2), "B": (1, 0, 2)})
    assert math.isnan(value) and pairs == 0
    three = {"A": 1200.0, "B": 1000.0, "C": 1000.0}
    assert brier(three, REFERENCE) == (pytest.approx(((1 - p) ** 2 * 2 + 0.25) / 3), 3)


def test_pair_rank_brier_with_bootstrap_rank_probabilities():
    # Rounds: A above B in 3 of 4, A equal to C once (counts half): p(A,B) = 0.75, p(A,C) = 0.875.
    boot = np.array([[3.0, 1.0, 2.0], [3.0, 1.0, 3.0], [0.0, 1.0, -1.0], [5.0, 4.0, 1.0]])
    prob = sr.rank_probabilities(["A", "B", "C"], boot)
    assert prob("A", "B") == 0.75 and prob("A", "C") == 0.875 and prob("B", "A") == 0.25
    assert prob("B", "C") == 0.5
    # Reference: A above B and C, C above B (the Brier score scores every ordered pair).
    assert sr.pair_rank_brier(prob, ["A", "B", "C"], REFERENCE) == (
        pytest.approx((0.25 ** 2 + 0.125 ** 2 + 0.5 ** 2) / 3), 3)


@pytest.mark.parametrize("ratings, expected", [
    ({"A": 3.0, "B": 1.0, "C": 2.0}, 1.0),
    ({"A": 1.0, "B": 3.0, "C": 2.0}, -1.0),
    ({"A": 3.0, "B": 2.0, "C": 1.0}, 0.5),  # B and C swapped: 1 - 6 * 2 / (3 * 8)
])
def test_spearman_hand_computed(ratings, expected):
    assert sr.spearman_correlation(ratings, REFERENCE) == pytest.approx(expected)


@pytest.mark.parametrize("ratings, reference", [
    ({"A": 50.0, "B": 50.0, "C": 50.0}, REFERENCE),  # every model rated alike: no ranking to compare
    ({"A": 3.0, "B": 1.0}, {"A": (10.0, 9.0, 11.0), "B": (10.0, 9.0, 11.0)}),
])
def test_spearman_of_a_constant_ranking_is_undefined_without_scipy_warning(ratings, reference):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's ConstantInputWarning printed its own source line
        assert math.isnan(sr.spearman_correlation(ratings, reference))


def test_judge_diagnostics_hand_computed():
    def j(model, s1, s2):
        return Judgment(question_id="q", model=model, judge="judge",
                        games=[Game(user_prompt="", judgment="", score=s1), Game(user_prompt="", judgment="", score=s2)])

    judgments = [
        j("m", "B>A", "A>B"),    # game 2 mirrored: both say the model won, same strength
        j("m", "B>>A", "A>B"),   # same winner, different strength
        j("m", "A>B", "A>B"),    # baseline won game 1, the model won game 2: inconsistent
        j("m", None, "A=B"),     # not a pair; one null game
        j("n", "A=B", "A=B"),
    ]
    d = sr.judge_diagnostics(judgments)
    assert d["m"] == {"position_consistency": pytest.approx(2 / 3),
                      "position_consistency_exact": pytest.approx(1 / 3),
                      "null_share": 1 / 8, "strong_share": pytest.approx(1 / 7), "judgments": 4}
    assert d["n"] == {"position_consistency": 1.0, "position_consistency_exact": 1.0, "null_share": 0.0,
                      "strong_share": 0.0, "judgments": 1}


def test_judge_diagnostics_count_only_games_played():
    def j(model, *scores):
        return Judgment(question_id="q", model=model, judge="judge",
                        games=[Game(user_prompt="", judgment="", score=s) for s in scores])

    # Pairwise off: one game per judgment; the absent game 2 is neither null nor a pair.
    d = sr.judge_diagnostics([j("m", "B>A"), j("m", "B>>A"), j("m", None), j("m", "A=B")])
    assert d["m"]["null_share"] == 1 / 4 and d["m"]["strong_share"] == 1 / 3 and d["m"]["judgments"] == 4
    assert math.isnan(d["m"]["position_consistency"]) and math.isnan(d["m"]["position_consistency_exact"])
    # Mixed: 3 games played, one of them null.
    d = sr.judge_diagnostics([j("n", "B>A", "A>B"), j("n", None)])
    assert d["n"]["null_share"] == 1 / 3 and d["n"]["position_consistency"] == 1.0 and d["n"]["judgments"] == 2


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_read_reference_ranking(tmp_path):
    path = write_csv(tmp_path / "ref.csv", ["model", "score", "lower", "upper"], [["a", 1250, 1240, 1261]])
    assert sr.read_reference_ranking(path) == {"a": (1250.0, 1240.0, 1261.0)}
    ours = write_csv(tmp_path / "lb.csv", ["model", "score", "rating_q025", "rating_q975", "CI", "avg_tokens", "date"],
                     [["a", 60.1, 58.0, 62.3, "(-2.10, +2.20)", 400, "2024-11-05"]])
    assert sr.read_reference_ranking(ours) == {"a": (60.1, 58.0, 62.3)}
    with pytest.raises(ConfigError, match="missing 'upper'"):
        sr.read_reference_ranking(write_csv(tmp_path / "bad.csv", ["model", "score", "lower"], [["a", 1, 1]]))
    with pytest.raises(DataError, match=r"bad2.csv:3: score, lower and upper must be numbers"):
        sr.read_reference_ranking(write_csv(tmp_path / "bad2.csv", ["model", "score", "lower", "upper"],
                                            [["a", 1, 1, 1], ["b", "x", 1, 1]]))
    with pytest.raises(ConfigError, match="not found"):
        sr.read_reference_ranking(tmp_path / "none.csv")


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.mkdir(), "Is a directory"),
    (lambda p: p.write_bytes(b"model,score,lower,upper\n\xe9t\xe9,1,0,2\n"), "'utf-8' codec can't decode"),
])
def test_unreadable_reference_ranking_is_a_config_error(tmp_path, make, reason):
    path = tmp_path / "ref.csv"
    make(path)
    with pytest.raises(ConfigError) as e:
        sr.read_reference_ranking(path)
    message = str(e.value)
    assert message.startswith(f"{path}: cannot read the reference ranking (") and reason in message
    assert "\n" not in message


def test_main_quality_prints_and_writes_json(tmp_path, capsys):
    data = tmp_path / "data"
    truth = write_bench(data, n_models=5, n_questions=80, seed=4, spread=0.8)
    rows = [[m, 1000 + 400 * truth.strength[m], 1000 + 400 * truth.strength[m], 1000 + 400 * truth.strength[m]]
            for m in truth.models[1:]] + [["not-benchmarked", 900, 890, 910]]
    ref = write_csv(tmp_path / "ref.csv", ["model", "score", "lower", "upper"], rows)
    lb = tmp_path / "lb"
    code = sr.main(["--data-dir", str(data), "--leaderboard-dir", str(lb), "--num-rounds", "30", "--output",
                    "--reference-ranking", str(ref)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Separability with confidence: " in out and "Agreement with confidence: " in out
    assert "not in the reference: gpt-4-0314" in out and "not in the benchmark: not-benchmarked" in out
    [csv_path] = lb.glob("arena_hard_leaderboard_*.csv")
    [json_path] = lb.glob("arena_hard_quality_*.json")
    assert json_path.stem.split("_")[-1] == csv_path.stem.split("_")[-1]
    report = json.loads(json_path.read_text())
    assert report["separability"]["pairs"] == 15 and 0 <= report["separability"]["value"] <= 1
    reference = report["reference"]
    assert reference["models_in_both"] == sorted(truth.models[1:])
    assert reference["agreement_with_confidence"]["pairs"] == 10  # truth separates every pair
    assert reference["agreement_with_confidence"]["value"] >= 0.5
    assert reference["spearman"] > 0.8 and reference["pair_rank_brier"]["value"] < 0.25
    assert set(report["judge"]) == set(truth.models[1:])
    assert all(0 <= d["null_share"] <= 0.1 for d in report["judge"].values())


def test_main_quality_with_bad_reference_is_a_one_line_error(tmp_path, capsys, caplog):
    data = tmp_path / "data"
    write_bench(data, n_models=2, n_questions=5)
    with caplog.at_level(logging.ERROR, logger="arena_hard"):
        code = sr.main(["--data-dir", str(data), "--num-rounds", "2", "--reference-ranking", str(tmp_path / "x.csv")])
    assert code == 2 and capsys.readouterr().out == ""
    assert "x.csv: reference ranking not found" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="arena_hard"):
        code = sr.main(["--data-dir", str(data), "--num-rounds", "2", "--reference-ranking", str(tmp_path)])
    assert code == 2 and capsys.readouterr().out == ""
    assert f"{tmp_path}: cannot read the reference ranking (Is a directory)" in caplog.text
