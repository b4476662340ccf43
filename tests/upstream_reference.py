"""Upstream's estimators written out the way upstream's show_result.py and utils build them.

Usage: from upstream_reference import upstream_mle_elo, upstream_bootstrap, ...

pandas sample under np.random.seed, duplicated rows, scikit-learn LogisticRegression: the
reference that tests compare show_result.py with and that bench_show_result.py times.
penalty=None is spelled C=np.inf (the same fit; penalty= is deprecated since scikit-learn 1.8).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

STYLE_A = ["sum_assistant_a_tokens", "header_count_a", "list_count_a", "bold_count_a"]
STYLE_B = ["sum_assistant_b_tokens", "header_count_b", "list_count_b", "bold_count_b"]


def upstream_matrix(df: pd.DataFrame, k: int = 0) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Upstream X (+-ln10 model columns, k zero style columns) and Y on the duplicated battles."""
    models = pd.concat([df["model_a"], df["model_b"]]).unique()
    models = pd.Series(np.arange(len(models)), index=models)
    df = pd.concat([df, df], ignore_index=True)
    p, n = len(models), len(df)
    X = np.zeros([n, p + k])
    X[np.arange(n), models[df["model_a"]].values] = +math.log(10)
    X[np.arange(n), models[df["model_b"]].values] = -math.log(10)
    Y = np.zeros(n)
    Y[(df["winner"] == "model_a").values] = 1.0
    tie_idx = ((df["winner"] == "tie") | (df["winner"] == "tie (bothbad)")).to_numpy(copy=True)
    tie_idx[len(tie_idx) // 2:] = False
    Y[tie_idx] = 1.0
    return X, Y, models


def upstream_mle_elo(df: pd.DataFrame, baseline: str, tol: float = 1e-8, max_iter: int = 100) -> pd.Series:
    """Upstream compute_mle_elo: unpenalised fit, tol 1e-8, baseline at 1000."""
    X, Y, models = upstream_matrix(df)
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=tol, max_iter=max_iter).fit(X, Y)
    elo = 400 * lr.coef_[0] + 1000
    elo += 1000 - elo[models[baseline]]
    return pd.Series(elo, index=models.index)


def upstream_bootstrap(df: pd.DataFrame, baseline: str, rounds: int, seed: int = 42) -> pd.DataFrame:
    """Upstream get_bootstrap_result after np.random.seed(seed): refit on battles.sample(frac=1, replace=True)."""
    np.random.seed(seed)
    return pd.DataFrame([upstream_mle_elo(df.sample(frac=1.0, replace=True), baseline) for _ in range(rounds)])


def upstream_style_matrix(df: pd.DataFrame, columns: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Upstream construct_style_matrices for the style columns given (0 token_len .. 3 bold_count)."""
    k = len(columns)
    X, Y, models = upstream_matrix(df, k)
    dup = pd.concat([df, df], ignore_index=True)
    elements = [STYLE_A[c] for c in columns] + [STYLE_B[c] for c in columns]
    vec = np.array([dup.conv_metadata.map(lambda x: x[e] if type(x[e]) is int else sum(x[e].values())).tolist()
                    for e in elements])
    diff = (vec[:k] - vec[k:]).astype(float) / ((vec[:k] + vec[k:]).astype(float) + 1)
    X[:, -k:] = ((diff - diff.mean(axis=1)[:, None]) / diff.std(axis=1)[:, None]).T
    return X, Y, models


def upstream_fit_bt(X, Y, models, baseline, tol=1e-4, max_iter=100):
    """Upstream fit_bt: LogisticRegression defaults (L2, C=1, tol 1e-4), baseline at 1114."""
    p = len(models)
    lr = LogisticRegression(fit_intercept=False, tol=tol, max_iter=max_iter).fit(X, Y)
    elo = 400 * lr.coef_[0] + 1000
    elo += 1114 - elo[models[baseline]]
    return pd.Series(elo[:p], index=models.index), lr.coef_[0][p:]


def upstream_style_bootstrap(X, Y, df, models, baseline, rounds, seed=42, tol=1e-4, max_iter=100):
    """Upstream get_bootstrap_result_style_control: battles drawn, a tie keeps its two rows."""
    np.random.seed(seed)
    k = X.shape[0] // 2
    tie = ((df["winner"] == "tie") | (df["winner"] == "tie (bothbad)")).values
    elos = []
    for _ in range(rounds):
        indices = np.random.choice(list(range(k)), size=k, replace=True)
        nontie = indices[~tie[indices]]
        ties = np.concatenate([indices[tie[indices]], indices[tie[indices]] + k])
        _X = np.concatenate([X[nontie], X[nontie], X[ties]])
        _Y = np.concatenate([Y[nontie], Y[nontie], Y[ties]])
        elos.append(upstream_fit_bt(_X, _Y, models, baseline, tol, max_iter)[0])
    return pd.DataFrame(elos)


def to_win_rate(rating, base_rating):
    """Win rate (percent) against a player rated base_rating."""
    return 100.0 / (1.0 + 10.0 ** ((base_rating - np.asarray(rating)) / 400.0))
