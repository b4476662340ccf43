"""Tests of show_result.py on Arena-Hard v2.0 benches: upstream's numbers (an independent pandas
reference written from REFERENCE-v2.md), the style-control fit against scikit-learn, the table
format against pandas, the flags.

Usage: python -m pytest tests/test_show_result_v2.py
"""
from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import expit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import show_result as sr  # noqa: E402
from synthetic_bench import BASELINES_V2, BENCH_V2, JUDGES_V2, write_bench, write_bench_v2  # noqa: E402

MODELS = ["org/alpha", "beta", "gamma", "x/y/delta", "eps"]

# --------------------------------------------------------------------------------------------
# Upstream v2.0's show_result.py, written from REFERENCE-v2.md with pandas as upstream does
# (files in sorted order, several categories in one run with the category bug fixed)
# --------------------------------------------------------------------------------------------

LABEL_TO_SCORE = {"A>B": [1], "A>>B": [1] * 3, "A=B": [0.5], "A<<B": [0] * 3, "A<B": [0],
                  "B>A": [0], "B>>A": [0] * 3, "B=A": [0.5], "B<<A": [1] * 3, "B<A": [1]}


def upstream_battles(data: Path, judges: list[str], out: io.StringIO) -> pd.DataFrame:
    dfs = []
    for judge in judges:
        print(f"Loading {judge} judgments...", file=out)
        dfs.extend(pd.read_json(f, lines=True) for f in sorted((data / BENCH_V2 / "model_judgment" / judge).glob("*.jsonl")))
    frame = pd.concat(dfs).reset_index(drop=True)
    null = frame.games.map(lambda x: x[0] is None or x[1] is None or x[0]["score"] is None or x[1]["score"] is None)
    kept = frame[~null].reset_index(drop=True)
    print(f"Number of null judgments found: {len(frame) - len(kept)}", file=out)
    kept["scores"] = kept.games.map(
        lambda x: LABEL_TO_SCORE[x[1]["score"]] + [1 - s for s in LABEL_TO_SCORE[x[0]["score"]]])
    return kept[["uid", "model", "category", "scores"]].explode("scores").reset_index(drop=True)


def answers_metadata(data: Path) -> dict[str, dict[str, dict]]:
    """Upstream's get_model_style_metadata: {first record's model: {uid: metadata}}."""
    out = {}
    for f in sorted((data / BENCH_V2 / "model_answer").glob("*.jsonl")):
        df = pd.read_json(f, lines=True, dtype=False)
        out[df.iloc[0]["model"]] = df.set_index("uid")["metadata"].to_dict()
    return out


def average_tokens(battles: pd.DataFrame, metadata: dict, baseline: str) -> dict[str, int]:
    """Our addition, computed independently: per table name, the mean token_len of the model's
    answers to the questions it was judged on (each answer once); the baseline's over them all."""
    pairs = battles[["model", "uid"]].drop_duplicates()
    lengths: dict[str, list[int]] = {}
    for model, uid in pairs.itertuples(index=False):
        lengths.setdefault(model.split("/")[-1], []).append(metadata[model][uid]["token_len"])
    lengths[baseline] = [metadata[baseline][uid]["token_len"] for uid in battles.uid.unique()]
    return {m: int(sum(v) / len(v)) for m, v in lengths.items()}


def format_confidence_interval(mean_scores, lower_scores, upper_scores, baseline=None) -> pd.DataFrame:
    board = pd.merge(mean_scores, lower_scores, on="model").merge(upper_scores, on="model")
    board["Scores (%)"] = board["scores"].map(lambda x: round(x * 100, 1))
    board["CI (%)"] = board.apply(
        lambda row: f"(-{round((row['scores'] - row['lower']) * 100, 1)} / +{round((row['upper'] - row['scores']) * 100, 1)})",
        axis=1)
    board = board.rename(columns={"model": "Model"}).drop(columns=["lower", "upper", "scores"])
    if baseline:
        board = pd.concat([board, pd.DataFrame({"Model": baseline, "Scores (%)": 50.0, "CI (%)": "(-0.0 / +0.0)"},
                                               index=[0])])
    return board.sort_values(by="Scores (%)", ascending=False).reset_index(drop=True)


def upstream_plain_bootstraps(battles: pd.DataFrame, rounds: int) -> pd.DataFrame:
    """The per-round means of each table name's rows, the rounds stacked (index: model)."""
    rows = battles[["model", "scores"]].copy()
    rows["model"] = rows["model"].map(lambda x: x.split("/")[-1])
    rows["scores"] = rows["scores"].astype(float)  # exact: 0, 0.5, 1 (pandas 3 averages no object column)
    return pd.concat([rows.groupby("model").sample(frac=1.0, replace=True).groupby("model").mean()
                      for _ in range(rounds)])


def upstream_plain(battles: pd.DataFrame, category: str, metadata: dict, rounds: int, out: io.StringIO) -> None:
    baseline = BASELINES_V2[category]
    bootstraps = upstream_plain_bootstraps(battles, rounds)
    mean_scores = bootstraps.groupby("model").mean().reset_index()
    lower = bootstraps.groupby("model").quantile(0.05).reset_index().rename(columns={"scores": "lower"})
    upper = bootstraps.groupby("model").quantile(0.95).reset_index().rename(columns={"scores": "upper"})
    board = format_confidence_interval(mean_scores, lower, upper, baseline)
    board["Avg Tokens"] = board["Model"].map(average_tokens(battles, metadata, baseline))
    print(f"##### Category: {category} #####", file=out)
    print(board.to_string(), file=out)


def upstream_style(battles: pd.DataFrame, category: str, metadata: dict, features: list[str], rounds: int,
                   out: io.StringIO) -> np.ndarray:
    """REFERENCE-v2.md's style control with the -f column choice fixed and the fit converged
    (scipy, all one-hot columns kept as upstream); returns the median feature coefficients."""
    baseline = BASELINES_V2[category]
    avg = average_tokens(battles, metadata, baseline)

    def vector(meta: dict) -> list[float]:
        return [v if isinstance(v, int) else sum(v.values()) for v in meta.values()]

    vm = np.array([vector(metadata[m][u]) for m, u in zip(battles.model, battles.uid)], dtype=float)
    vb = np.array([vector(metadata[baseline][u]) for u in battles.uid], dtype=float)
    f = np.zeros_like(vm)
    f[:, 0] = (vm[:, 0] - vb[:, 0]) / (vm[:, 0] + vb[:, 0])
    dm, db = vm[:, 1:] / (vm[:, :1] + 1), vb[:, 1:] / (vb[:, :1] + 1)
    f[:, 1:] = (dm - db) / (dm + db + 1)
    z = (f - f.mean(axis=0)) / f.std(axis=0, ddof=1)
    names = battles.model.map(lambda x: x.split("/")[-1]).tolist()
    unique = sorted(set(names + [baseline]))
    onehot = np.zeros((len(names), len(unique)))
    onehot[np.arange(len(names)), [unique.index(n) for n in names]] = 1
    onehot[:, unique.index(baseline)] = -1
    chosen = sorted({c for name in features for c in {"length": [0], "markdown": [1, 2, 3]}[name]})
    X = np.hstack([onehot, z[:, chosen]])
    y = battles.scores.astype(float).to_numpy()
    boot = np.random.randint(0, len(y), size=(rounds, len(y)))
    coefs = []
    for r in range(rounds):
        Xr, yr = X[boot[r]], y[boot[r]]

        def loss(w):
            eta = Xr @ w
            return float(np.sum(np.logaddexp(0, eta) - yr * eta)), Xr.T @ (expit(eta) - yr)

        res = minimize(loss, np.full(X.shape[1], 0.5), jac=True, method="L-BFGS-B",
                       options={"gtol": 1e-11, "ftol": 0, "maxiter": 10000})
        coefs.append(res.x)
    coefs = np.array(coefs)
    theta = coefs[:, :len(unique)]
    b = unique.index(baseline)
    table = pd.DataFrame(columns=unique, data=np.exp(theta) / (np.exp(theta) + np.exp(theta[:, [b]])))
    board = format_confidence_interval(
        table.quantile(0.5).to_frame("scores").reset_index().rename(columns={"index": "model"}),
        table.quantile(0.05).to_frame("lower").reset_index().rename(columns={"index": "model"}),
        table.quantile(0.95).to_frame("upper").reset_index().rename(columns={"index": "model"}))
    board["Avg Tokens"] = board["Model"].map(avg)
    print(f"INFO: Control features: {features}", file=out)
    print(f"##### Category: {category} #####", file=out)
    print(board.to_string(), file=out)
    return np.median(coefs[:, len(unique):], axis=0)


def upstream_output(data: Path, judges: list[str], categories: list[str], seed: int, rounds: int = 100,
                    features: list[str] | None = None) -> tuple[str, list[np.ndarray]]:
    out = io.StringIO()
    battles = upstream_battles(data, judges, out)
    metadata = answers_metadata(data)
    np.random.seed(seed)
    coefs = []
    for category in categories:
        rows = battles[battles.category == category].reset_index(drop=True)
        if features:
            coefs.append(upstream_style(rows, category, metadata, features, rounds, out))
            print("Feature Coefs: <coefs>", file=out)
        else:
            upstream_plain(rows, category, metadata, rounds, out)
    return out.getvalue(), coefs


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    """5 judged models ("org/" names too) x 90 questions of both categories, two judges, nulls."""
    data = tmp_path_factory.mktemp("v2") / "data"
    write_bench_v2(data, n_questions=90, seed=11, model_names=MODELS, length_effect=1.5)
    return data


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    code = sr.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def split_coefs(text: str) -> tuple[str, list[list[float]]]:
    """The output with each Feature Coefs line's numbers taken out."""
    lines, coefs = [], []
    for line in text.splitlines():
        if line.startswith("Feature Coefs: tensor(["):
            coefs.append([float(v) for v in line[len("Feature Coefs: tensor(["):-2].split(",")])
            line = "Feature Coefs: <coefs>"
        lines.append(line)
    return "\n".join(lines) + "\n", coefs


# --------------------------------------------------------------------------------------------
# Plain path: upstream's numbers digit for digit
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("judges, categories, seed", [
    (["gpt-4.1"], ["hard_prompt"], 42),
    (list(JUDGES_V2), ["hard_prompt", "creative_writing"], 7),
    (["gemini-2.5", "gpt-4.1"], ["creative_writing", "hard_prompt"], 123),
])
def test_plain_matches_upstream(bench, capsys, judges, categories, seed):
    expected, _ = upstream_output(bench, judges, categories, seed)
    code, out, _ = run_main(["--data-dir", str(bench), "-b", BENCH_V2, "-j", *judges, "-c", *categories,
                             "--seed", str(seed)], capsys)
    assert code == 0
    assert out == expected


def test_upstream_command_line_defaults(bench, capsys, monkeypatch, tmp_path):
    """`python show_result.py -c hard_prompt` run in a folder holding data/: bench arena-hard-v2.0,
    judge gpt-4.1 (upstream v2.0's defaults), seed 42."""
    shutil.copytree(bench, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    expected, _ = upstream_output(tmp_path / "data", ["gpt-4.1"], ["hard_prompt"], 42)
    code, out, _ = run_main(["-c", "hard_prompt"], capsys)
    assert code == 0
    assert out == expected
    code, out, _ = run_main(["--benchmark", BENCH_V2, "--judge-names", "gpt-4.1"], capsys)
    assert (code, out) == (0, expected)


def test_weight_changes_strong_verdicts(bench, capsys):
    _, three, _ = run_main(["--data-dir", str(bench), "-b", BENCH_V2], capsys)
    _, one, _ = run_main(["--data-dir", str(bench), "-b", BENCH_V2, "--weight", "1"], capsys)
    assert three != one


def test_randint_draws_equal_groupby_sample():
    """REFERENCE-v2.md: groupby.sample(frac=1, replace=True) on the global RNG draws randint(0, n, n)
    per model in sorted name order; one randint(0, N, (R, N)) call equals R calls of size N."""
    frame = pd.DataFrame({"model": list("bbbacccca"), "scores": np.arange(9.0)})
    np.random.seed(5)
    sampled = [frame.groupby("model").sample(frac=1.0, replace=True).index.to_numpy() for _ in range(3)]
    rng = np.random.RandomState(5)
    groups = [np.flatnonzero(frame.model.to_numpy() == m) for m in "abc"]
    drawn = [np.concatenate([g[rng.randint(0, len(g), len(g))] for g in groups]) for _ in range(3)]
    assert all(np.array_equal(a, b) for a, b in zip(sampled, drawn))
    np.random.seed(9)
    whole = np.random.randint(0, 1000, size=(4, 1000))
    rng = np.random.RandomState(9)
    assert np.array_equal(whole, np.array([rng.randint(0, 1000, 1000) for _ in range(4)]))


@pytest.mark.parametrize("models", [7, 1])  # one model: rows sorted by group, pandas' other path
def test_pandas_aggregates_exact(models):
    rng = np.random.default_rng(1)  # a seed where the two paths' sums differ in the last digit
    values = rng.random((100, models)) / 3
    frame = pd.DataFrame({"model": np.tile(np.arange(models), 100), "v": values.reshape(-1)})
    grouped = frame.groupby("model").v
    assert np.array_equal(sr.pandas_group_mean(values), grouped.mean().to_numpy())
    for q in (0.05, 0.5, 0.95):
        assert np.array_equal(sr.pandas_group_quantile(values, q), grouped.quantile(q).to_numpy())


@pytest.mark.parametrize("values", [[1.0, 2.0, 2.0, 3.0, 2.0], [50.0] * 20, list(np.round(np.random.default_rng(1).random(40) * 3, 0))])
def test_descending_order_as_pandas(values):
    frame = pd.DataFrame({"v": values})
    assert list(sr.v2_descending_order(values)) == list(frame.sort_values(by="v", ascending=False).index)


@pytest.mark.parametrize("rows", [
    [("sim-model-04", 86.1, "(-4.5 / +3.7)", 512), ("o3-mini-2025-01-31", 50.0, "(-0.0 / +0.0)", 1000)],
    [("a", 100.0, "(-0.0 / +0.0)", 3)] * 12,
    [("日本", 0.0, "(-10.5 / +13.7)", 0), ("a-very-long-model-name-indeed-and-longer", 5.5, "(-1.0 / +1.0)", 123456)],
])
def test_table_format_as_pandas(rows):
    records = [dict(zip(sr.V2_TABLE_COLUMNS, r)) for r in rows]
    assert sr.format_v2_table(records) == pd.DataFrame(records).to_string()


@pytest.mark.parametrize("values, text", [
    ([0.74650001, 0.8617, 0.9589, 0.462], "tensor([0.7465, 0.8617, 0.9589, 0.4620])"),
    ([-0.1234, 0.5678], "tensor([-0.1234,  0.5678])"),
    ([1.0, 2.0], "tensor([1., 2.])"),
    ([0.00001, 0.5], "tensor([1.0000e-05, 5.0000e-01])"),
    ([0.0], "tensor([0.])"),
])
def test_feature_coefs_as_torch(values, text):
    assert sr.format_torch_vector(values) == text


# --------------------------------------------------------------------------------------------
# Style control
# --------------------------------------------------------------------------------------------


def test_style_fit_matches_scikit_learn():
    """fit_v2_style (several rounds at once) against scikit-learn's unpenalised logistic regression on
    the same soft targets (each unit twice: label 1 weighted by its scores, label 0 by the rest)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    n_models, units, k, rounds = 4, 120, 3, 3
    unit_model = np.sort(rng.integers(0, n_models, units))
    features = rng.normal(size=(units, k))
    wn = rng.integers(1, 6, size=(units, rounds)).astype(float)
    w1 = np.round(wn * rng.random((units, rounds)) * 2) / 2
    theta, beta, converged = sr.fit_v2_style(unit_model, features, w1, wn, n_models)
    assert converged
    X = np.hstack([np.eye(n_models)[unit_model], features])
    for r in range(rounds):
        lr = LogisticRegression(C=np.inf, fit_intercept=False, solver="newton-cholesky", tol=1e-12, max_iter=200)
        lr.fit(np.vstack([X, X]), np.repeat([1, 0], units), sample_weight=np.concatenate([w1[:, r], wn[:, r] - w1[:, r]]))
        assert np.allclose(lr.coef_[0], np.concatenate([theta[:, r], beta[:, r]]), atol=1e-6)


def test_style_fit_separated_model():
    """A model whose drawn rows all score 1 (0) has no finite optimum: win rate 1 (0), the rest
    fitted as if its rows were not there."""
    rng = np.random.default_rng(4)
    unit_model = np.repeat([0, 1, 2], 30)
    features = rng.normal(size=(90, 1))
    wn = np.ones((90, 1))
    w1 = rng.integers(0, 2, size=(90, 1)).astype(float)
    w1[:30] = 1.0
    w1[60:] = 0.0
    theta, beta, converged = sr.fit_v2_style(unit_model, features, w1, wn, 3)
    assert converged and theta[0, 0] == np.inf and theta[2, 0] == -np.inf
    alone, beta_alone, _ = sr.fit_v2_style(np.zeros(30, dtype=np.int64), features[30:60], w1[30:60], wn[30:60], 1)
    assert np.allclose(theta[1], alone[0]) and np.allclose(beta, beta_alone)


@pytest.mark.parametrize("features, categories", [
    (["length", "markdown"], ["hard_prompt", "creative_writing"]),
    (["length"], ["hard_prompt"]),
    (["markdown"], ["creative_writing"]),
])
def test_style_matches_reference(bench, capsys, features, categories):
    """The table of REFERENCE-v2.md's style control (converged, columns chosen right), digit for
    digit; Feature Coefs to their 4 printed decimals."""
    rounds = 20
    expected, coefs = upstream_output(bench, ["gpt-4.1"], categories, 42, rounds, features)
    code, out, _ = run_main(["--data-dir", str(bench), "-b", BENCH_V2, "-c", *categories, "-f", *features,
                             "--num-rounds", str(rounds)], capsys)
    assert code == 0
    text, printed = split_coefs(out)
    assert text == expected
    assert [len(c) for c in printed] == [len(c) for c in coefs]
    for ours, theirs in zip(printed, coefs):
        assert np.allclose(ours, theirs, atol=1.5e-4)


def test_v01_style_flag_on_v2_is_control_features(bench, capsys):
    _, flags, _ = run_main(["--data-dir", str(bench), "-b", BENCH_V2, "--length-control-only", "--num-rounds", "5"],
                           capsys)
    _, upstream, _ = run_main(["--data-dir", str(bench), "-b", BENCH_V2, "-f", "length", "--num-rounds", "5"], capsys)
    assert flags == upstream and "INFO: Control features: ['length']" in flags


def test_v2_flags_on_v01_bench(tmp_path, capsys, caplog):
    data = tmp_path / "data"
    write_bench(data, n_models=3, n_questions=30, seed=2, length_effect=1.0)
    base = ["--data-dir", str(data), "--bench-name", "arena-hard-v0.1", "--num-rounds", "5"]
    _, v01, _ = run_main(base + ["--style-control"], capsys)
    code, v2_flags, _ = run_main(base + ["-f", "length", "markdown", "-j", "gpt-4-1106-preview"], capsys)
    assert code == 0 and v2_flags == v01
    code, _, _ = run_main(base + ["-c", "hard_prompt"], capsys)
    assert code == 2 and "--category works on v2.0 benches" in caplog.text


# --------------------------------------------------------------------------------------------
# Our additions and errors
# --------------------------------------------------------------------------------------------


def test_output_plot_full_stats(bench, tmp_path, capsys):
    board = tmp_path / "leaderboard"
    code, out, _ = run_main(["--data-dir", str(bench), "-b", BENCH_V2, "-c", "hard_prompt", "creative_writing",
                             "--output", "--leaderboard-dir", str(board), "--plot", str(tmp_path / "chart.png"),
                             "--full-stats", "--num-rounds", "10"], capsys)
    assert code == 0
    files = sorted(p.name for p in board.iterdir())
    assert [f.split("_", 4)[-1] for f in files] == ["creative_writing.csv", "hard_prompt.csv"]
    assert (tmp_path / "chart_hard_prompt.png").stat().st_size > 0
    assert (tmp_path / "chart_creative_writing.png").stat().st_size > 0
    table = [line.split() for line in out.split("##### Category: hard_prompt #####\n")[1].split("\n\n")[0].splitlines()[1:]]
    with open(board / files[1], newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == [t[1] for t in table]
    assert [round(float(r["score"]), 1) for r in rows] == [float(t[2]) for t in table]
    assert rows[0]["judge_name"] == "gpt-4.1"
    # --full-stats: counts of the category's games from the model's side, read back from the files
    stats = out.split("##### Category: hard_prompt #####\n")[1].split("\n\n")[1].splitlines()
    counts = {line.split("|")[0].strip(): [int(v) for v in line.split("|")[1:]] for line in stats[1:] if "|" in line}
    model_side = {"B>A": 0, "A<B": 0, "B>>A": 0, "A<<B": 0}
    expected = {}
    for path in sorted((bench / BENCH_V2 / "model_judgment" / "gpt-4.1").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record["category"] != "hard_prompt":
                continue
            c = expected.setdefault(record["model"].split("/")[-1], [0] * 6)
            for g, game in enumerate(record["games"]):
                if game is None:
                    continue
                label = game["score"]
                if label is None:
                    c[5] += 1
                    continue
                model_won = (label in model_side) == (g == 0)
                strong = ">>" in label or "<<" in label
                c[2 if "=" in label else (0 if strong else 1) if model_won else (4 if strong else 3)] += 1
    assert counts == expected


def write_reference(path: Path, scores: dict[str, float]) -> Path:
    """A reference ranking CSV: each model's score with an interval of +-5."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "score", "lower", "upper"])
        writer.writerows([m, v, v - 5, v + 5] for m, v in scores.items())
    return path


# a reference ranking of the bench's models (gamma and delta overlapping) and one model it lacks
REFERENCE_SCORES = {"eps": 1100.0, "beta": 1080.0, "alpha": 1060.0, "gamma": 1040.0, "delta": 1036.0,
                    "not-benchmarked": 900.0}


@pytest.mark.parametrize("judges, categories, seed", [
    (["gpt-4.1"], ["hard_prompt"], 42),
    (list(JUDGES_V2), ["creative_writing", "hard_prompt"], 5),
])
def test_quality_plain_from_the_bootstrap_means(bench, tmp_path, capsys, judges, categories, seed):
    """--quality on v2.0: per category, from that table's bootstrap (upstream's draws, computed here
    with pandas) and 90% intervals; the win-probability Brier score is said to be unavailable."""
    reference = write_reference(tmp_path / "ref.csv", REFERENCE_SCORES)
    board = tmp_path / "lb"
    rounds = 40
    code, out, _ = run_main(["--data-dir", str(bench), "-b", BENCH_V2, "-j", *judges, "-c", *categories,
                             "--seed", str(seed), "--num-rounds", str(rounds), "--reference-ranking", str(reference),
                             "--output", "--leaderboard-dir", str(board)], capsys)
    assert code == 0
    battles = upstream_battles(bench, judges, io.StringIO())
    np.random.seed(seed)
    sections = out.split("##### Category: ")[1:]
    assert [section.split(" ")[0] for section in sections] == categories
    for category, section in zip(categories, sections):
        baseline = BASELINES_V2[category]
        boot = upstream_plain_bootstraps(battles[battles.category == category], rounds)
        models = sorted(set(boot.index))
        means = boot["scores"].to_numpy().reshape(rounds, len(models))
        intervals = {m: (100 * boot.loc[m, "scores"].mean(), 100 * boot.loc[m, "scores"].quantile(0.05),
                         100 * boot.loc[m, "scores"].quantile(0.95)) for m in models}
        intervals[baseline] = (50.0, 50.0, 50.0)
        ref = sr.read_reference_ranking(reference)
        separability, pairs = sr.separability(intervals)
        agreement = sr.agreement_with_confidence(intervals, ref)
        brier = sr.pair_rank_brier(sr.rank_probabilities(models + [baseline], np.column_stack(
            [means, np.full(rounds, 0.5)])), intervals, ref)
        [path] = board.glob(f"arena_hard_quality_*_{category}.json")
        report = json.loads(path.read_text())
        assert report["separability"] == {"value": pytest.approx(separability, abs=1e-12), "pairs": pairs,
                                          "models": len(MODELS) + 1}
        assert (report["reference"]["agreement_with_confidence"]["value"],
                report["reference"]["agreement_with_confidence"]["pairs"]) == pytest.approx(agreement)
        assert (report["reference"]["pair_rank_brier_bootstrap"]["value"],
                report["reference"]["pair_rank_brier_bootstrap"]["pairs"]) == pytest.approx(brier)
        assert report["reference"]["pair_rank_brier"]["value"] is None
        assert "not a Bradley-Terry rating" in report["reference"]["pair_rank_brier"]["unavailable"]
        assert report["reference"]["spearman"] == pytest.approx(
            sr.spearman_correlation({m: v[0] for m, v in intervals.items()}, ref))
        assert report["reference"]["missing_from_reference"] == [baseline]
        assert report["reference"]["missing_from_benchmark"] == ["not-benchmarked"]
        assert {k: report[k] for k in ("category", "baseline", "judge_name", "control_features",
                                       "interval_percent")} == {
            "category": category, "baseline": baseline, "judge_name": "+".join(judges), "control_features": [],
            "interval_percent": 90}
        # judge diagnostics: every record of the category, null games included, from the model's side
        records = [json.loads(line) for judge in judges
                   for f in sorted((bench / BENCH_V2 / "model_judgment" / judge).glob("*.jsonl"))
                   for line in f.read_text().splitlines()]
        records = [r for r in records if r["category"] == category]
        assert {m: d["judgments"] for m, d in report["judge"].items()} == {
            m.split("/")[-1]: sum(r["model"] == m for r in records) for m in MODELS}
        games = [g for r in records if r["model"] == "beta" for g in r["games"] if g is not None]
        assert report["judge"]["beta"]["null_share"] == pytest.approx(
            sum(g["score"] is None for g in games) / len(games))
        # printed after the table, as on v0.1, with the 90% intervals named
        assert (f"Separability with confidence: {100 * separability:.1f}% of {pairs} model pairs have disjoint "
                "90% intervals") in section
        assert "Pair rank Brier score: n/a with win probabilities (v2.0's plain score is a mean score" in section
        assert f"{brier[0]:.3f} over {brier[1]} pairs (bootstrap rank probabilities)" in section
        assert "judge diagnostics" in section


def test_quality_style_control_win_probabilities(bench, tmp_path, capsys):
    """With style features the table is a Bradley-Terry fit: the win-probability Brier score uses its
    ratings, whose win probability against the baseline is the table's score (odd rounds: the median
    of the win rates is the win rate of the median rating)."""
    reference = write_reference(tmp_path / "ref.csv", REFERENCE_SCORES)
    board = tmp_path / "lb"
    code, out, _ = run_main(["--data-dir", str(bench), "-b", BENCH_V2, "-f", "length", "markdown", "--num-rounds",
                             "31", "--reference-ranking", str(reference), "--output", "--leaderboard-dir", str(board)],
                            capsys)
    assert code == 0
    [csv_path] = board.glob("arena_hard_leaderboard_*.csv")
    with open(csv_path, newline="") as f:
        scores = {r["model"]: float(r["score"]) / 100 for r in csv.DictReader(f)}
    odds = {m: s / (1 - s) for m, s in scores.items()}  # e^theta against the baseline
    ref = sr.read_reference_ranking(reference)
    expected = sr.pair_rank_brier(lambda a, b: odds[a] / (odds[a] + odds[b]), scores, ref)
    report = json.loads(next(board.glob("arena_hard_quality_*.json")).read_text())
    assert report["control_features"] == ["length", "markdown"]
    brier = report["reference"]["pair_rank_brier"]
    assert (brier["value"], brier["pairs"]) == (pytest.approx(expected[0], abs=1e-9), expected[1])
    assert f"Pair rank Brier score: {expected[0]:.3f} over {expected[1]} pairs (win probabilities)" in out


def test_quality_without_reference_or_output(bench, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_main(["--data-dir", str(bench), "-b", BENCH_V2, "--num-rounds", "5", "--quality",
                             "--full-stats"], capsys)
    assert code == 0
    after = out.split("##### Category: hard_prompt #####\n")[1].split("\n\n")
    assert after[1].startswith("model ") and after[2].startswith("Separability with confidence: ")
    assert "Reference ranking" not in out and "judge diagnostics" in after[2]
    assert list(tmp_path.iterdir()) == []


def test_quality_bad_reference_is_a_one_line_error(bench, tmp_path, capsys, caplog):
    code, out, _ = run_main(["--data-dir", str(bench), "-b", BENCH_V2, "--reference-ranking",
                             str(tmp_path / "none.csv")], capsys)
    assert code == 2 and out == "" and "none.csv: reference ranking not found" in caplog.text


def test_seed_reproducible(bench, capsys):
    runs = [run_main(["--data-dir", str(bench), "-b", BENCH_V2, "--seed", seed], capsys)[1] for seed in ("1", "1", "2")]
    assert runs[0] == runs[1] != runs[2]


def test_null_judgments_counted(tmp_path, capsys):
    data = tmp_path / "data"
    write_bench_v2(data, n_models=2, n_questions=30, seed=5, judges=("gpt-4.1",), null_share=0.0)
    path = data / BENCH_V2 / "model_judgment" / "gpt-4.1" / "model-000.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["games"][0] = None
    records[1]["games"][1]["score"] = None
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    _, out, _ = run_main(["--data-dir", str(data), "-b", BENCH_V2, "--num-rounds", "3"], capsys)
    assert "Number of null judgments found: 2\n" in out


def test_baseline_judged_against_itself_left_out(tmp_path, capsys, caplog):
    data = tmp_path / "data"
    write_bench_v2(data, n_models=2, n_questions=30, seed=6, judges=("gpt-4.1",),
                   model_names=["m1", "o3-mini-2025-01-31"])
    with caplog.at_level(logging.WARNING, logger="arena_hard"):
        code, out, _ = run_main(["--data-dir", str(data), "-b", BENCH_V2, "--num-rounds", "3"], capsys)
    assert code == 0
    assert out.count("o3-mini-2025-01-31") == 1
    assert "against itself" in caplog.text


@pytest.mark.parametrize("args, message", [
    (["-c", "math"], "category 'math'"),
    (["--show-elo"], "--show-elo (v0.1 only): not available on a v2.0 bench"),
    (["--first-game-only", "--baseline", "gpt-4-0314"], "--first-game-only (v0.1 only), --baseline (each category's "
     "baseline comes from its judgments): not available on a v2.0 bench"),
    (["-j", "nobody"], "judgment folder not found"),
])
def test_bad_flags_are_one_line_errors(bench, capsys, caplog, args, message):
    code, _, _ = run_main(["--data-dir", str(bench), "-b", BENCH_V2, *args], capsys)
    assert code == 2 and message in caplog.text


@pytest.mark.parametrize("label", ["A>>>B", [], 0, ""])
def test_unknown_label_names_file_and_line(tmp_path, capsys, caplog, label):
    data = tmp_path / "data"
    write_bench_v2(data, n_models=1, n_questions=10, seed=8, judges=("gpt-4.1",), null_share=0.0)
    path = data / BENCH_V2 / "model_judgment" / "gpt-4.1" / "model-000.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[2])
    record["games"][1]["score"] = label
    lines[2] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    code, _, _ = run_main(["--data-dir", str(data), "-b", BENCH_V2], capsys)
    assert code == 2 and f"{path}:3: games[1].score {label!r} is not a verdict label" in caplog.text


def test_missing_metadata_under_style_control(bench, tmp_path, capsys, caplog):
    data = tmp_path / "data"
    shutil.copytree(bench, data)
    path = data / BENCH_V2 / "model_answer" / "beta.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for r in records:
        del r["metadata"]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    code, _, _ = run_main(["--data-dir", str(data), "-b", BENCH_V2, "-f", "length"], capsys)
    assert code == 2 and str(path) in caplog.text and "metadata" in caplog.text


def test_metadata_without_markdown_counts_under_style_control(bench, tmp_path, capsys, caplog):
    """Answers made elsewhere may carry metadata with token_len only: the error names v2.0's key, not
    v0.1's conv_metadata, and says how to count the rest."""
    data = tmp_path / "data"
    shutil.copytree(bench, data)
    path = data / BENCH_V2 / "model_answer" / "beta.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for r in records:
        r["metadata"] = {"token_len": r["metadata"]["token_len"]}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    code, _, _ = run_main(["--data-dir", str(data), "-b", BENCH_V2, "-f", "length", "markdown"], capsys)
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    folder = path.parent
    assert code == 2 and message == (f"{path}:1: metadata has no 'header_count'; run add_markdown_info.py "
                                     f"--dir {folder} --output-dir {folder} first")


def test_average_tokens_of_real_o3_mini_answers(shared_data, tmp_path, capsys):
    """The baseline's Avg Tokens is the mean metadata.token_len of upstream's o3-mini answers to the
    hard_prompt questions (all of them judged here)."""
    source = shared_data / "arena-hard-v2.0"
    questions = [json.loads(line) for line in (source / "question.jsonl").read_text(encoding="utf-8").split("\n") if line]
    data = tmp_path / "data"
    (data / BENCH_V2 / "model_answer").mkdir(parents=True)
    shutil.copy(source / "model_answer" / "o3-mini-2025-01-31.jsonl", data / BENCH_V2 / "model_answer")
    write_bench_v2(data, n_models=2, seed=9, judges=("gpt-4.1",), null_share=0.0,
                   questions=[{"uid": q["uid"], "category": q["category"]} for q in questions])
    code, out, _ = run_main(["--data-dir", str(data), "-b", BENCH_V2, "--num-rounds", "3"], capsys)
    assert code == 0
    hard = {q["uid"] for q in questions if q["category"] == "hard_prompt"}
    answers = [json.loads(line) for line in
               (source / "model_answer" / "o3-mini-2025-01-31.jsonl").read_text(encoding="utf-8").split("\n") if line]
    lengths = [a["metadata"]["token_len"] for a in answers if a["uid"] in hard]
    assert len(lengths) == len(hard) > 200
    row = next(line for line in out.splitlines() if "o3-mini-2025-01-31" in line)
    assert int(row.split()[-1]) == int(sum(lengths) / len(lengths))
    # and with style control, on upstream's real metadata, with the quality figures of both tables
    reference = write_reference(tmp_path / "ref.csv", {"model-000": 1100.0, "model-001": 1000.0})
    code, out, _ = run_main(["--data-dir", str(data), "-b", BENCH_V2, "--num-rounds", "3", "-f", "length",
                             "markdown", "-c", "hard_prompt", "creative_writing", "--reference-ranking",
                             str(reference)], capsys)
    assert code == 0 and out.count("Feature Coefs: tensor([") == 2
    assert out.count("Separability with confidence: ") == 2 and out.count("judge diagnostics") == 2
    assert out.count("Reference ranking: 2 models in both") == 2 and "Pair rank Brier score: n/a" not in out


def test_deeply_nested_judgment_is_an_error_not_a_crash(tmp_path):
    """A judgment line nested 100000 objects deep: one line naming file and line, exit 2 (orjson,
    given it, overflows the stack: the process dies)."""
    data = tmp_path / "data"
    write_bench_v2(data, n_models=1, n_questions=5, seed=8, judges=("gpt-4.1",), null_share=0.0)
    path = data / BENCH_V2 / "model_judgment" / "gpt-4.1" / "model-000.jsonl"
    with open(path, "ab") as f:
        f.write(b'{"uid": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001 + b"\n")
    proc = subprocess.run([sys.executable, str(ROOT / "show_result.py"), "--data-dir", str(data), "-b", BENCH_V2],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(f"{path}:6: invalid JSON (nested too deeply)")
