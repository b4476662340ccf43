"""Leaderboard from pairwise judgments: Bradley-Terry ratings, bootstrap intervals, win rates.

Usage: python show_result.py [--setting-file config/judge_config.yaml] [--bench-name B] [--judge-name J]
           [--baseline M] [--num-rounds 100] [--style-control] [--output] [--plot FILE.png]
           [--quality [--reference-ranking FILE.csv]]

Upstream's battles, estimators (unpenalised Bradley-Terry; L2-penalised, C = 1, with style
features) and bootstrap draws for a given --seed. Differences from upstream: README.

--quality adds the benchmark-quality figures of the Arena-Hard paper (section 3): separability
with confidence, and with --reference-ranking agreement with confidence, the pair rank Brier score
and Spearman's correlation, plus judge diagnostics (position consistency, null and strong shares).

Exit status: 0 done, 2 bad configuration or data, or a file or folder that cannot be read or
written (one-line error; also bad flags), 130 Ctrl-C.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import functools
import io
import json
import logging
import math
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components
from scipy.special import expit

from utils import (
    FULL_STATS_COLUMNS,
    LEADERBOARD_SOURCE_COLUMNS,
    MODEL_A,
    MODEL_B,
    TIE,
    ConfigError,
    DataError,
    Game,
    InterruptGuard,
    Judgment,
    add_common_flags,
    answer_dir,
    check_bench_name,
    count_games,
    game_counts,
    game_outcome,
    has_game,
    iter_jsonl,
    is_complete_judgment,
    judgment_dir,
    load_yaml,
    model_from_filename,
    played_games,
    plural,
    run_script,
    setup_logging,
    write_atomic,
    write_jsonl_atomic,
)

log = logging.getLogger("arena_hard")

LN10 = math.log(10.0)
SCALE = 400.0
INIT_RATING = 1000.0
STYLE_ANCHOR = 1114.0  # upstream anchors the style-controlled ratings of the baseline here

BATTLES_FILE = "arena_hard_battles.jsonl"
BOOTSTRAP_FILE = "bootstrapping_results.jsonl"

# Battle winners by outcome code (MODEL_A, MODEL_B, TIE of utils); a battle's regression cell
# is row * 3 + outcome.
WINNER_NAMES = ("model_a", "model_b", "tie")
WINNER_CODES = {"model_a": MODEL_A, "model_b": MODEL_B, "tie": TIE, "tie (bothbad)": TIE}

# Style features (conv_metadata keys) and upstream's names for them in battles and printouts.
STYLE_FEATURES = ("token_len", "header_count", "list_count", "bold_count")
STYLE_NAMES_A = ("sum_assistant_a_tokens", "header_count_a", "list_count_a", "bold_count_a")
STYLE_NAMES_B = ("sum_assistant_b_tokens", "header_count_b", "list_count_b", "bold_count_b")
STYLE_MODES = {"style": (0, 1, 2, 3), "length": (0,), "markdown": (1, 2, 3)}

# No answer is longer, and no answer holds more markdown elements: a larger (or negative, NaN,
# infinite) token_len or count in conv_metadata is a broken record.
MAX_COUNT = 10_000_000


# --------------------------------------------------------------------------------------------
# Battles
# --------------------------------------------------------------------------------------------


@dataclass
class Battles:
    """Battles as parallel arrays, one entry per battle, in upstream order.

    models: names in order of first appearance (model_a column, then model_b), as upstream's
    pd.concat([df.model_a, df.model_b]).unique(). style_a / style_b: per battle, the answer's
    (token_len, header_count, list_count, bold_count) of model_a / model_b, when known.
    """

    question_id: list[str]
    model_a: np.ndarray
    model_b: np.ndarray
    winner: np.ndarray
    models: list[str]
    style_a: np.ndarray | None = None
    style_b: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.question_id)

    def records(self) -> Iterator[dict]:
        """Upstream's battle records (with conv_metadata when style features are attached)."""
        for i, qid in enumerate(self.question_id):
            record = {"question_id": qid, "model_a": self.models[self.model_a[i]],
                      "model_b": self.models[self.model_b[i]], "winner": WINNER_NAMES[self.winner[i]]}
            if self.style_a is not None and self.style_b is not None:
                meta = {}
                for j in range(len(STYLE_FEATURES)):
                    meta[STYLE_NAMES_A[j]] = int(self.style_a[i, j])
                    meta[STYLE_NAMES_B[j]] = int(self.style_b[i, j])
                record["conv_metadata"] = meta
            yield record


def _battles_from_columns(qids: list[str], names_a: list[str], names_b: list[str],
                          winners: list[int]) -> Battles:
    models = list(dict.fromkeys(names_a + names_b))
    code = {m: i for i, m in enumerate(models)}
    return Battles(
        question_id=qids,
        model_a=np.fromiter((code[m] for m in names_a), dtype=np.int64, count=len(names_a)),
        model_b=np.fromiter((code[m] for m in names_b), dtype=np.int64, count=len(names_b)),
        winner=np.asarray(winners, dtype=np.int8),
        models=models,
    )


def battles_from_judgments(judgments: Iterable[Judgment], baseline: str, weight: int = 3,
                           first_game_only: bool = False) -> Battles:
    """Upstream's battles: per judgment, game 1 then (unless first_game_only) mirrored game 2.

    model_a is the baseline, model_b the judgment's "model"; a strong verdict gives `weight`
    identical battles, a null or unknown label none.
    """
    qids: list[str] = []
    names_b: list[str] = []
    winners: list[int] = []
    n_games = 1 if first_game_only else 2
    for judgment in judgments:
        for g in range(n_games):
            outcome = game_outcome(judgment, g)
            if outcome is None:
                continue
            winner, strong = outcome
            repeat = weight if strong else 1
            qids.extend([judgment["question_id"]] * repeat)
            names_b.extend([judgment["model"]] * repeat)
            winners.extend([winner] * repeat)
    return _battles_from_columns(qids, [baseline] * len(qids), names_b, winners)


def attach_style(battles: Battles, style: dict[str, dict[str, np.ndarray]], where: str | Path) -> None:
    """Set style_a / style_b from each model's per-question style vectors (from its answers)."""
    n = len(battles)
    for side in ("a", "b"):
        codes = battles.model_a if side == "a" else battles.model_b
        out = np.empty((n, len(STYLE_FEATURES)))
        for i in range(n):
            model = battles.models[codes[i]]
            qid = battles.question_id[i]
            per_question = style.get(model)
            if per_question is None:
                raise DataError(f"{where}: no answers of model {model!r}, needed for style control")
            vector = per_question.get(qid)
            if vector is None:
                raise DataError(f"{where}: model {model!r} has no answer to question {qid}, needed for style control")
            out[i] = vector
        if side == "a":
            battles.style_a = out
        else:
            battles.style_b = out


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------


def read_judgments(directory: Path, first_game_only: bool = False) -> list[Judgment]:
    """Every row of every *.jsonl in `directory` (files sorted, rows in file order).

    The judge's texts are dropped while reading (games keep only their score), so memory stays
    small however long the judgments are. Like upstream, every row counts, duplicates included
    (reported); a file whose name differs from its rows' "model" field is reported. Upstream's
    failed games ("$ERROR$", see played_games) become games not played (None), and a row left
    without any game (or with none to begin with) is skipped, as missing (reported).
    With first_game_only only game 1 is checked, as upstream reads no other: a later game that is
    not an object (e.g. null) counts as not played.
    """
    judgments: list[Judgment] = []
    for path in sorted(directory.glob("*.jsonl")):
        file_model = model_from_filename(path)
        seen: set[str] = set()
        duplicates = 0
        failed = skipped = 0
        others: Counter[str] = Counter()
        for lineno, record in iter_jsonl(path):
            for key in ("question_id", "model", "games"):
                if key not in record:
                    raise DataError(f"{path}:{lineno}: missing key {key!r}")
            if not isinstance(record["games"], list):
                raise DataError(f"{path}:{lineno}: 'games' must be a list")
            model = record["model"]
            if not isinstance(model, str) or not model:
                raise DataError(f"{path}:{lineno}: 'model' must be a non-empty string, got {model!r}")
            games = record["games"]
            if first_game_only:
                games = games[:1] + [game if isinstance(game, dict) else None for game in games[1:]]
            for g, game in enumerate(games[:1] if first_game_only else games):
                if not isinstance(game, dict):
                    raise DataError(f"{path}:{lineno}: games[{g}] must be an object, got {game!r}")
                score = game.get("score")
                if score is not None and not isinstance(score, str):
                    raise DataError(f"{path}:{lineno}: games[{g}].score must be a label string or null, "
                                    f"got {score!r}")
            # checked while the judge's texts are still there
            if not is_complete_judgment({"games": [game for game in games if game is not None]}):
                failed += 1
                games = played_games(games)
                if all(game is None for game in games):
                    skipped += 1
                    continue
            qid = str(record["question_id"])
            if qid in seen:
                duplicates += 1
            seen.add(qid)
            if model != file_model:
                others[model] += 1
            kept = [None if g is None else Game(user_prompt="", judgment="", score=g.get("score")) for g in games]
            judgments.append(Judgment(question_id=qid, model=model, judge=str(record.get("judge", "")), games=kept))
        if failed:
            log.warning("%s: %d judgments are upstream's failures (\"$ERROR$\" games) or have no games: those "
                        "games count as missing, not unparsable (%d rows left without a game are skipped); "
                        "gen_judgment.py redoes them", path, failed, skipped)
        if others:
            log.warning("%s: %d rows name another model (%s) than the file name (%s); using the rows' "
                        "'model' field as upstream does", path, sum(others.values()),
                        ", ".join(sorted(others)), file_model)
        if duplicates:
            log.warning("%s: %d duplicated question_id rows; each counts, as upstream", path, duplicates)
    return judgments


def is_count(value: object) -> bool:
    """Whether value is a plausible token or markdown count: a number from 0 to MAX_COUNT."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and 0 <= value <= MAX_COUNT)


def style_vector(meta: dict, where: str, keys: Sequence[str] = STYLE_FEATURES) -> np.ndarray:
    """(token_len, header_count, list_count, bold_count) of a conv_metadata, read under `keys`
    (a battle's conv_metadata names them per side); counts may be dicts of numbers. A value that
    is not a count (NaN, infinite, negative, absurdly large) is an error: it would poison the fit."""
    values = []
    for key in keys:
        if key not in meta:
            raise DataError(f"{where}: conv_metadata has no {key!r}")
        v = meta[key]
        numbers = list(v.values()) if isinstance(v, dict) else [v]
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in numbers):
            raise DataError(f"{where}: conv_metadata {key!r} must be a number or a dict of numbers, "
                            f"got {v!r}")
        if not all(is_count(x) for x in numbers) or not is_count(sum(numbers)):
            raise DataError(f"{where}: conv_metadata {key!r} holds {v!r}, not a count from 0 to {MAX_COUNT}")
        values.append(float(sum(numbers)))
    return np.array(values)


@dataclass
class AnswerInfo:
    """What show_result needs from a model's answers: token lengths and (style modes) style vectors.

    style_error: the first answer whose conv_metadata cannot give a style vector (file:line and
    why), raised only if this model's style is needed.
    """

    path: Path
    token_lens: dict[str, float] = field(default_factory=dict)
    style: dict[str, np.ndarray] = field(default_factory=dict)
    without_metadata: int = 0
    with_style: bool = False  # whether style vectors were read
    style_error: str | None = None
    model_ids: set[str] = field(default_factory=set)

    @property
    def avg_tokens(self) -> int:
        return int(sum(self.token_lens.values()) / len(self.token_lens)) if self.token_lens else 0


def read_answers(directory: Path, with_style: bool = False) -> dict[str, AnswerInfo]:
    """{model (from the file name): AnswerInfo}; a duplicated question_id keeps its last line.

    Token length of an answer: its first turn's token_len, else conv_metadata's (upstream order);
    one that is not a count (NaN, infinite, negative, over MAX_COUNT, not a number) is left out of
    the average with a warning naming file and line. Style vectors are read only with_style (a
    style mode); the plain leaderboard needs no conv_metadata beyond an optional token_len.
    """
    infos: dict[str, AnswerInfo] = {}
    if not directory.is_dir():
        return infos
    for path in sorted(directory.glob("*.jsonl")):
        info = AnswerInfo(path, with_style=with_style)
        metadata_of: dict[str, dict | None] = {}
        bad_length_of: dict[str, tuple[int, object]] = {}  # qid: (line, token_len that is not a count)
        for lineno, record in iter_jsonl(path):
            if "question_id" not in record or "choices" not in record:
                raise DataError(f"{path}:{lineno}: missing key 'question_id' or 'choices'")
            qid = str(record["question_id"])
            if "model_id" in record:
                info.model_ids.add(str(record["model_id"]))
            meta = record.get("conv_metadata")
            metadata_of[qid] = meta if isinstance(meta, dict) else None
            try:
                turn = record["choices"][0]["turns"][0]
            except (IndexError, KeyError, TypeError):
                turn = {}
            length = turn.get("token_len") if isinstance(turn, dict) else None
            if length is None and isinstance(meta, dict):
                length = meta.get("token_len")
            bad_length_of.pop(qid, None)
            if is_count(length):
                info.token_lens[qid] = length
            else:
                info.token_lens.pop(qid, None)
                if length is not None:
                    bad_length_of[qid] = (lineno, length)
            info.style.pop(qid, None)
            if with_style and isinstance(meta, dict):
                try:
                    info.style[qid] = style_vector(meta, f"{path}:{lineno}")
                except DataError as e:
                    info.style_error = info.style_error or str(e)
        info.without_metadata = sum(m is None for m in metadata_of.values())
        if bad_length_of:
            lineno, length = min(bad_length_of.values(), key=lambda bad: bad[0])
            log.warning("%s:%d: token_len %r is not a token count (a number from 0 to %d); %d such answers "
                        "are left out of the average #tokens", path, lineno, length, MAX_COUNT, len(bad_length_of))
        missing_len = len(metadata_of) - len(info.token_lens) - len(bad_length_of)
        if missing_len:
            log.warning("%s: %d answers without token_len are left out of the average #tokens", path, missing_len)
        infos[model_from_filename(path)] = info
    return infos


def read_battles(path: Path, with_style: bool) -> Battles:
    """Battles written by an earlier run (upstream's data/arena_hard_battles.jsonl format)."""
    if not path.is_file():
        raise ConfigError(f"{path}: battles file not found (run once without --load-battles)")
    qids: list[str] = []
    names_a: list[str] = []
    names_b: list[str] = []
    winners: list[int] = []
    styles_a: list[np.ndarray] = []
    styles_b: list[np.ndarray] = []
    for lineno, record in iter_jsonl(path, allow_torn_tail=False):  # written whole, never appended to
        for key in ("question_id", "model_a", "model_b", "winner"):
            if key not in record:
                raise DataError(f"{path}:{lineno}: missing key {key!r}")
        if record["winner"] not in WINNER_CODES:
            raise DataError(f"{path}:{lineno}: unknown winner {record['winner']!r}")
        qids.append(str(record["question_id"]))
        names_a.append(str(record["model_a"]))
        names_b.append(str(record["model_b"]))
        winners.append(WINNER_CODES[record["winner"]])
        if with_style:
            meta = record.get("conv_metadata")
            if not isinstance(meta, dict):
                raise ConfigError(f"{path}:{lineno}: battle has no conv_metadata; rerun with the style flag "
                                  "and without --load-battles to rebuild the battles")
            styles_a.append(style_vector(meta, f"{path}:{lineno}", STYLE_NAMES_A))
            styles_b.append(style_vector(meta, f"{path}:{lineno}", STYLE_NAMES_B))
    battles = _battles_from_columns(qids, names_a, names_b, winners)
    if with_style and qids:
        battles.style_a = np.vstack(styles_a)
        battles.style_b = np.vstack(styles_b)
    return battles


def read_bootstrap(path: Path) -> tuple[list[str], np.ndarray]:
    """(models, ratings of shape (rounds, models)) from upstream's bootstrapping_results.jsonl."""
    if not path.is_file():
        raise ConfigError(f"{path}: bootstrap file not found (run once without --load-bootstrap)")
    rows = [record for _, record in iter_jsonl(path, allow_torn_tail=False)]  # written whole
    models = list(dict.fromkeys(m for row in rows for m in row))
    values = np.full((len(rows), len(models)), np.nan)
    for r, row in enumerate(rows):
        for j, m in enumerate(models):
            v = row.get(m)
            if v is not None:
                if not isinstance(v, (int, float)):
                    raise DataError(f"{path}:{r + 1}: rating of {m!r} is not a number")
                values[r, j] = v
    return models, values


# --------------------------------------------------------------------------------------------
# The regression: distinct rows with per-battle cells
# --------------------------------------------------------------------------------------------


@dataclass
class Design:
    """The logistic regression of upstream with identical rows merged.

    Row u has +ln(10) in column a[u], -ln(10) in column b[u] and the style values features[u].
    Each battle falls in cell = row * 3 + outcome; a cell count c gives the row the label weights
    of upstream's duplicated rows: model_a win -> (2c, 0), model_b win -> (0, 2c), tie -> (c, c)
    as (weight of label 1, weight of label 0).
    """

    a: np.ndarray
    b: np.ndarray
    features: np.ndarray
    cell: np.ndarray
    n_models: int
    pair: np.ndarray = field(init=False)  # per row, its (model_a, model_b) pair
    pair_a: np.ndarray = field(init=False)
    pair_b: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        keys, self.pair = np.unique(self.a * self.n_models + self.b, return_inverse=True)
        self.pair = self.pair.reshape(-1)
        self.pair_a, self.pair_b = keys // self.n_models, keys % self.n_models

    @property
    def n_rows(self) -> int:
        return len(self.a)

    def label_weights(self, cell_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(weight of label 1, weight of label 0) per row from counts per cell (shape (..., 3U))."""
        c = cell_counts.reshape(*cell_counts.shape[:-1], self.n_rows, 3).astype(float)
        return 2 * c[..., MODEL_A] + c[..., TIE], 2 * c[..., MODEL_B] + c[..., TIE]


def standardized_style(battles: Battles, columns: Sequence[int]) -> np.ndarray:
    """Upstream's style columns: (A - B) / (A + B + 1), minus the mean, over the population std.

    A feature constant over all battles (std 0) becomes a zero column (upstream: NaN) with a warning.
    """
    if battles.style_a is None or battles.style_b is None:
        raise ValueError("style features are not attached to these battles")
    a = battles.style_a[:, list(columns)]
    b = battles.style_b[:, list(columns)]
    diff = (a - b) / (a + b + 1.0)
    std = diff.std(axis=0)
    out = np.zeros_like(diff)
    for j, column in enumerate(columns):
        if std[j] > 0:
            out[:, j] = (diff[:, j] - diff[:, j].mean()) / std[j]
        else:
            log.warning("style feature %s is the same in every battle; its column is left at 0",
                        STYLE_FEATURES[column])
    return out


def build_design(battles: Battles, features: np.ndarray | None = None) -> Design:
    """Merge battles with identical regression rows (same models, same style values)."""
    n = len(battles)
    k = 0 if features is None else features.shape[1]
    key = np.empty((n, 2 + k))
    key[:, 0] = battles.model_a
    key[:, 1] = battles.model_b
    if k:
        key[:, 2:] = features
    rows, inverse = np.unique(key, axis=0, return_inverse=True)
    return Design(a=rows[:, 0].astype(np.int64), b=rows[:, 1].astype(np.int64), features=rows[:, 2:],
                  cell=inverse.reshape(-1) * 3 + battles.winner, n_models=len(battles.models))


# --------------------------------------------------------------------------------------------
# Fits
# --------------------------------------------------------------------------------------------


def separated_models(a: np.ndarray, b: np.ndarray, w1: np.ndarray, w0: np.ndarray, n_models: int,
                     anchor: int) -> np.ndarray:
    """Models with battles but outside the anchor's strongly connected component of "beat" edges.

    The maximum-likelihood BT rating exists only inside that component (Zermelo, Ford): a model
    that never lost (or never won) against the rest drifts to +-infinity. Returns a bool mask.
    """
    present = np.zeros(n_models, dtype=bool)
    nonzero = (w1 + w0) > 0
    present[a[nonzero]] = True
    present[b[nonzero]] = True
    beats = w1 > 0
    loses = w0 > 0
    winners = np.concatenate([a[beats], b[loses]])
    losers = np.concatenate([b[beats], a[loses]])
    graph = scipy.sparse.csr_matrix((np.ones(len(winners)), (winners, losers)), shape=(n_models, n_models))
    _, labels = connected_components(graph, directed=True, connection="strong")
    return present & (labels != labels[anchor])


def fit_star_bt(a: np.ndarray, b: np.ndarray, w1: np.ndarray, w0: np.ndarray, n_models: int, anchor: int,
                pseudo_weight: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Upstream's plain fit, exactly, when every row is the anchor against one model.

    The likelihood of upstream's unpenalised LogisticRegression (see Design) then splits into
    one problem per model m, whose optimum is 10 ** coef_m = won_m / lost_m: m's weights of
    rows won and lost (a tie counts half each way), i.e. rating 1000 + 400 log10(won / lost).
    A model that won or lost every row has no finite optimum: it gets `pseudo_weight` more of
    each, one pseudo battle against the anchor counted as half a tie. w1 / w0 may be (U,) or
    (R, U) for R bootstrap rounds. Returns (coef, pseudo): coef in log10 units with the anchor
    at 0, NaN for a model without rows (all models if the anchor has none); pseudo, the models
    that got the pseudo battle.
    """
    side_a, side_b = np.eye(n_models)[a], np.eye(n_models)[b]
    won = w1 @ side_a + w0 @ side_b
    lost = w0 @ side_a + w1 @ side_b
    present = (won + lost) > 0
    pseudo = present & ((won == 0) | (lost == 0))
    pseudo[..., anchor] = False
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = np.log10((won + pseudo_weight * pseudo) / (lost + pseudo_weight * pseudo))
    coef[..., anchor] = 0.0
    return np.where(present & present[..., anchor : anchor + 1], coef, np.nan), pseudo


def fit_general_bt(a: np.ndarray, b: np.ndarray, w1: np.ndarray, w0: np.ndarray, n_models: int, anchor: int,
                   pseudo_weight: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Upstream's plain fit on any battles (a --load-battles file not all against the baseline).

    scikit-learn's unpenalised LogisticRegression on the weighted rows, solved by Newton to
    1e-12, with the anchor's column left out (fixed at 0). Same arguments and result as
    fit_star_bt; the models outside the anchor's strongly connected component (separated_models)
    get the pseudo battle.
    """
    if w1.ndim == 2:
        fits = [fit_general_bt(a, b, w1[r], w0[r], n_models, anchor, pseudo_weight) for r in range(len(w1))]
        return np.array([coef for coef, _ in fits]), np.array([pseudo for _, pseudo in fits])
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    present = np.bincount(np.concatenate([a, b]), np.tile(w1 + w0, 2), n_models) > 0
    coef = np.where(present & present[anchor], 0.0, np.nan)
    pseudo = separated_models(a, b, w1, w0, n_models, anchor)
    free = present & present[anchor] & (np.arange(n_models) != anchor)
    if not free.any():
        return coef, pseudo
    extra = np.flatnonzero(pseudo)
    a, b = np.concatenate([a, np.full(len(extra), anchor)]), np.concatenate([b, extra])
    w1, w0 = (np.concatenate([w, np.full(len(extra), pseudo_weight)]) for w in (w1, w0))
    x = scipy.sparse.csr_matrix((np.repeat([LN10, -LN10], len(a)), (np.tile(np.arange(len(a)), 2),
                                np.concatenate([a, b]))), shape=(len(a), n_models))[:, free]
    lr = LogisticRegression(C=np.inf, fit_intercept=False, solver="newton-cholesky", tol=1e-12, max_iter=100)
    with warnings.catch_warnings():  # a line search already at the optimum warns; checked below
        warnings.simplefilter("ignore", ConvergenceWarning)
        lr.fit(scipy.sparse.vstack([x, x]), np.repeat([1, 0], len(a)), sample_weight=np.concatenate([w1, w0]))
    coef[free] = lr.coef_[0]
    gradient = x.T @ (w1 - (w1 + w0) * expit(x @ coef[free]))
    if np.abs(gradient).max() > 1e-6 * (w1 + w0).sum():
        log.warning("Bradley-Terry fit did not converge")
    return coef, pseudo


def fit_style_bt(design: Design, w1: np.ndarray, w0: np.ndarray, C: float = 1.0,
                 init: np.ndarray | None = None, tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
    """Coefficients (p model columns then k style columns) of upstream's style-control fit.

    Minimises scikit-learn's LogisticRegression(fit_intercept=False) objective with sample
    weights: 0.5 ||w||^2 + C sum_u [w1_u softplus(-z_u) + w0_u softplus(z_u)], where
    z_u = ln10 (w_a - w_b) + features_u . w_style, by Newton with backtracking (strictly convex).
    Sums over rows go first to the (model_a, model_b) pairs, then to models, so the Hessian
    costs O(rows * k) per step. A model absent from the weights gets coefficient 0, as the
    penalty alone decides it.
    """
    p, k = design.n_models, design.features.shape[1]
    keep = (w1 + w0) > 0
    a, b, f, pair = design.a[keep], design.b[keep], design.features[keep], design.pair[keep]
    w1, w0 = w1[keep], w0[keep]
    n = w1 + w0
    pa, pb = design.pair_a, design.pair_b
    g = len(pa)
    flat = np.concatenate([pa * p + pa, pb * p + pb, pa * p + pb, pb * p + pa])
    sign = np.repeat([1.0, 1.0, -1.0, -1.0], g)
    w = np.zeros(p + k) if init is None else np.array(init, dtype=float)

    def objective(vec: np.ndarray) -> float:
        z = LN10 * (vec[a] - vec[b]) + f @ vec[p:]
        return 0.5 * vec @ vec + C * float((w1 * np.logaddexp(0.0, -z) + w0 * np.logaddexp(0.0, z)).sum())

    def to_models(per_pair: np.ndarray) -> np.ndarray:
        return np.bincount(pa, per_pair, p) - np.bincount(pb, per_pair, p)

    value = objective(w)
    for _ in range(max_iter):
        z = LN10 * (w[a] - w[b]) + f @ w[p:]
        prob = expit(z)
        resid = C * (n * prob - w1)
        grad = w.copy()
        grad[:p] += LN10 * to_models(np.bincount(pair, resid, g))
        grad[p:] += f.T @ resid
        h = C * n * prob * (1.0 - prob)
        hess = np.eye(p + k)
        hess[:p, :p] += LN10**2 * np.bincount(flat, np.tile(np.bincount(pair, h, g), 4) * sign, p * p).reshape(p, p)
        hf = h[:, None] * f
        cross = LN10 * np.stack([to_models(np.bincount(pair, hf[:, j], g)) for j in range(k)], axis=1)
        hess[:p, p:] += cross
        hess[p:, :p] += cross.T
        hess[p:, p:] += f.T @ hf
        step = -np.linalg.solve(hess, grad)
        t = 1.0
        for _halving in range(40):
            trial = objective(w + t * step)
            if trial <= value + 1e-12 * abs(value):
                break
            t /= 2
        w = w + t * step
        value = trial
        if np.abs(step).max() < tol:
            break
    else:
        log.warning("style-control fit did not converge in %d Newton steps", max_iter)
    return w


def ratings_from_coef(coef: np.ndarray, anchor: int, anchor_rating: float = INIT_RATING) -> np.ndarray:
    """Upstream's scale: 400 * coef + 1000, shifted so the anchor (baseline) is anchor_rating."""
    ratings = SCALE * coef + INIT_RATING
    return ratings - ratings[..., anchor : anchor + 1] + anchor_rating


def bootstrap_cell_counts(cell: np.ndarray, n_cells: int, num_rounds: int, seed: int) -> Iterator[np.ndarray]:
    """Per round, how often each cell was drawn when resampling battles with replacement.

    The indices are exactly those of upstream: pandas' battles.sample(frac=1.0, replace=True)
    and np.random.choice(range(n), size=n, replace=True) both draw choice(n, size=n) from
    numpy's RandomState, which upstream seeds with np.random.seed(42) (here --seed).
    """
    rng = np.random.RandomState(seed)
    n = len(cell)
    for _ in range(num_rounds):
        yield np.bincount(cell[rng.choice(n, size=n, replace=True)], minlength=n_cells)


@dataclass
class Ratings:
    """Point ratings and bootstrap ratings (rounds x models), on upstream's Elo scale."""

    models: list[str]
    point: np.ndarray
    bootstrap: np.ndarray
    style_coef: np.ndarray | None = None
    style_bootstrap: np.ndarray | None = None
    style_columns: tuple[int, ...] = ()


MIN_BATTLES = 10  # a model with fewer battles is reported: its score rests on a handful of verdicts


def _warn_few_battles(battles: Battles, anchor: int) -> None:
    """Warn about each model (not the baseline) with fewer than MIN_BATTLES battles, whatever
    their outcomes: a lone tie says as little as a lone win."""
    p = len(battles.models)
    counts = np.bincount(battles.model_a, minlength=p) + np.bincount(battles.model_b, minlength=p)
    for j in np.flatnonzero(counts < MIN_BATTLES):
        if j != anchor:
            log.warning("model %r has only %d battle%s (fewer than %d): its score and interval rest on too few "
                        "verdicts to mean much", battles.models[j], counts[j], "" if counts[j] == 1 else "s",
                        MIN_BATTLES)


def _warn_separated(models: list[str], pseudo_point: np.ndarray, pseudo_rounds: np.ndarray | None) -> None:
    for j in np.flatnonzero(pseudo_point):
        log.warning("model %r won or lost every battle (no path of wins both ways to the baseline): its "
                    "rating is not identifiable; a half-tie pseudo battle against the baseline keeps it "
                    "finite, read its score as a bound", models[j])
    if pseudo_rounds is not None:
        counts = pseudo_rounds.sum(axis=0)
        for j in np.flatnonzero((counts > 0) & ~pseudo_point):
            log.warning("model %r won or lost every drawn battle in %d of %d bootstrap rounds (half-tie pseudo "
                        "battle used there); its interval is unreliable", models[j], counts[j], len(pseudo_rounds))


def single_threaded_blas() -> contextlib.AbstractContextManager:
    """BLAS limited to one thread: the style fit solves many small systems, where BLAS threads
    only contend for the cores."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def compute_ratings(battles: Battles, baseline: str, num_rounds: int, seed: int,
                    style_columns: Sequence[int] = (), bootstrap: bool = True) -> Ratings:
    """Point fit and bootstrap of upstream's plain (no style_columns) or style-control model."""
    if baseline not in battles.models:
        raise ConfigError(f"baseline {baseline!r} appears in no battle")
    anchor = battles.models.index(baseline)
    p = len(battles.models)
    _warn_few_battles(battles, anchor)
    if style_columns:
        with single_threaded_blas():
            return style_ratings(battles, anchor, num_rounds, seed, style_columns, bootstrap)
    design = build_design(battles)
    star = bool(np.all((design.a == anchor) | (design.b == anchor)))  # always, from judgments
    fit = fit_star_bt if star else fit_general_bt
    w1, w0 = design.label_weights(np.bincount(design.cell, minlength=3 * design.n_rows))
    point, pseudo = fit(design.a, design.b, w1, w0, p, anchor)
    boot, pseudo_rounds = np.empty((0, p)), None
    if bootstrap and num_rounds > 0:
        counts = np.array(list(bootstrap_cell_counts(design.cell, 3 * design.n_rows, num_rounds, seed)))
        coef, pseudo_rounds = fit(design.a, design.b, *design.label_weights(counts), p, anchor)
        boot = ratings_from_coef(coef, anchor)
    _warn_separated(battles.models, pseudo, pseudo_rounds)
    return Ratings(battles.models, ratings_from_coef(point, anchor), boot)


def style_ratings(battles: Battles, anchor: int, num_rounds: int, seed: int, style_columns: Sequence[int],
                  bootstrap: bool) -> Ratings:
    """Point fit and bootstrap of upstream's style-control model (the baseline at 1114)."""
    p = len(battles.models)
    design = build_design(battles, standardized_style(battles, style_columns))
    w1, w0 = design.label_weights(np.bincount(design.cell, minlength=3 * design.n_rows))
    coef = fit_style_bt(design, w1, w0)
    boot = np.empty((0, p))
    style_boot = np.empty((0, len(style_columns)))
    if bootstrap and num_rounds > 0:
        rows, style_rows = [], []
        for counts in bootstrap_cell_counts(design.cell, 3 * design.n_rows, num_rounds, seed):
            bw1, bw0 = design.label_weights(counts)
            c = fit_style_bt(design, bw1, bw0, init=coef)
            present = np.zeros(p, dtype=bool)
            nz = (bw1 + bw0) > 0
            present[design.a[nz]] = True
            present[design.b[nz]] = True
            rows.append(np.where(present, ratings_from_coef(c[:p], anchor, STYLE_ANCHOR), np.nan))
            style_rows.append(c[p:])
        boot = np.array(rows)
        style_boot = np.array(style_rows)
    return Ratings(battles.models, ratings_from_coef(coef[:p], anchor, STYLE_ANCHOR), boot,
                   coef[p:], style_boot, tuple(style_columns))


# --------------------------------------------------------------------------------------------
# Leaderboard
# --------------------------------------------------------------------------------------------


class Row(TypedDict):
    model: str
    score: float
    lower: float
    upper: float
    avg_tokens: int


def win_rate(rating: float, baseline_rating: float) -> float:
    """Upstream's predicted win rate against the baseline, in percent, rounded to 2 decimals."""
    return round(100.0 / (1.0 + 10.0 ** ((baseline_rating - rating) / SCALE)), 2)


def sort_bootstrap_columns(models: list[str], boot: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Columns by median rating, best first (upstream's df[df.median().sort_values(...).index])."""
    if boot.shape[0] == 0:
        return models, boot
    with np.errstate(all="ignore"):
        medians = np.nanmedian(np.where(np.isnan(boot).all(axis=0), -np.inf, boot), axis=0)
    order = np.argsort(-medians, kind="stable")
    return [models[i] for i in order], boot[:, order]


def rating_intervals(models: list[str], point: np.ndarray, boot_models: list[str],
                     boot: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """{model: (rating, 2.5th, 97.5th percentile of its bootstrap ratings)}, upstream's np.percentile."""
    column = {m: j for j, m in enumerate(boot_models)}
    missing = [m for m in models if m not in column]
    if missing:
        raise ConfigError(f"bootstrap results lack models {', '.join(map(repr, missing))}")
    intervals: dict[str, tuple[float, float, float]] = {}
    for i, model in enumerate(models):
        values = boot[:, column[model]]
        values = values[~np.isnan(values)]
        if len(values) < len(boot):
            log.warning("model %r is absent from %d bootstrap rounds", model, len(boot) - len(values))
        if len(values):
            lower, upper = np.percentile(values, 2.5), np.percentile(values, 97.5)
        else:
            lower = upper = math.nan
        intervals[model] = (float(point[i]), float(lower), float(upper))
    return intervals


def leaderboard_rows(intervals: dict[str, tuple[float, float, float]], baseline: str,
                     avg_tokens: dict[str, int], show_elo: bool = False) -> list[Row]:
    """Upstream's table from rating intervals: win rates vs the baseline unless show_elo.

    Rows are sorted by score, best first (ties by model name).
    """
    rows: list[Row] = []
    base = intervals[baseline]
    for model in sorted(intervals):
        score, lower, upper = intervals[model]
        if show_elo:
            score, lower, upper = (int(v) if math.isfinite(v) else v for v in (score, lower, upper))
        elif model == baseline:
            score = lower = upper = 50.0
        else:
            score, lower, upper = win_rate(score, base[0]), win_rate(lower, base[1]), win_rate(upper, base[2])
        rows.append(Row(model=model, score=score, lower=lower, upper=upper, avg_tokens=avg_tokens.get(model, 0)))
    rows.sort(key=lambda row: -row["score"])
    return rows


def format_row(row: Row, decimal: int) -> str:
    """One output line, exactly upstream's f-string."""
    interval = str((round(row["lower"] - row["score"], decimal), round(row["upper"] - row["score"], decimal)))
    return (f"{row['model'] : <30} | score: {round(row['score'], decimal) : ^5} | 95% CI: {interval : ^12} "
            f"| average #tokens: {int(row['avg_tokens'])}")




def write_leaderboard_csv(rows: list[Row], directory: Path, today: datetime.date | None = None, *,
                          bench_name: str = "", judge_name: str = "") -> Path:
    """leaderboard/arena_hard_leaderboard_YYYYMMDD.csv with upstream's columns, then the bench
    and judge it was made from (qa_browser shows the one of its bench and judge); atomic."""
    today = today or datetime.date.today()
    path = directory / f"arena_hard_leaderboard_{today.strftime('%Y%m%d')}.csv"
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")  # as pandas to_csv writes
    writer.writerow(["model", "score", "rating_q025", "rating_q975", "CI", "avg_tokens", "date",
                     *LEADERBOARD_SOURCE_COLUMNS])
    for row in rows:
        ci = f"(-{(row['score'] - row['lower']):.2f}, +{(row['upper'] - row['score']):.2f})"
        # avg_tokens as a float (411.0), as upstream's pandas column of floats writes it
        writer.writerow([row["model"], row["score"], row["lower"], row["upper"], ci, float(row["avg_tokens"]),
                         today.strftime("%Y-%m-%d"), bench_name, judge_name])
    write_atomic(path, [text.getvalue().encode("utf-8")])
    return path


STYLE_MODE_TITLES = {None: "plain", "style": "style-controlled (length and markdown)",
                     "length": "length-controlled", "markdown": "markdown-controlled"}


def plot_title(bench_name: str, judge_name: str, mode: str | None) -> str:
    return f"{bench_name}, judge {judge_name}, {STYLE_MODE_TITLES[mode]} (95% bootstrap intervals)"


def plot_leaderboard(rows: list[Row], path: Path, title: str, show_elo: bool = False) -> None:
    """Horizontal chart of the scores with their 95% intervals, best at the top; `title` also
    goes into the PNG's Title metadata."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = rows[::-1]
    y = np.arange(len(rows))
    scores = np.array([r["score"] for r in rows], dtype=float)
    errors = np.array([[r["score"] - r["lower"] for r in rows], [r["upper"] - r["score"] for r in rows]], dtype=float)
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.3 * len(rows) + 1)))
    ax.errorbar(scores, y, xerr=np.clip(errors, 0, None), fmt="o", capsize=3)
    ax.set_yticks(y, [r["model"] for r in rows])
    ax.set_xlabel("Elo rating" if show_elo else "win rate against the baseline (%)")
    ax.set_title(title, fontsize="medium")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata={"Title": title})
    plt.close(fig)


def format_full_stats(counts: dict[str, dict[str, int]], order: list[str]) -> list[str]:
    """Per model game counts, in leaderboard order (models without judgments are skipped)."""
    lines = [f"{'model' : <30} | " + " | ".join(f"{c : >13}" for c in FULL_STATS_COLUMNS)]
    for model in order + sorted(set(counts) - set(order)):
        if model in counts:
            lines.append(f"{model : <30} | " + " | ".join(f"{counts[model][c] : >13}" for c in FULL_STATS_COLUMNS))
    return lines


# --------------------------------------------------------------------------------------------
# Benchmark quality: Li et al., "From Crowdsourced Data to High-Quality Benchmarks: Arena-Hard
# and BenchBuilder Pipeline" (2024), section 3
# --------------------------------------------------------------------------------------------

Interval = tuple[float, float, float]  # (score, lower, upper) of one model


def confidently_separated(x: Interval, y: Interval) -> int:
    """+1 if x's interval lies wholly above y's, -1 if wholly below, 0 if they overlap (touching counts)."""
    if x[1] > y[2]:
        return 1
    if x[2] < y[1]:
        return -1
    return 0


def separability(intervals: dict[str, Interval]) -> tuple[float, int]:
    """Separability with confidence (paper, section 3): (share of pairs, number of pairs).

    Over the n(n-1)/2 pairs of models, the share whose 95% bootstrap intervals do not overlap:
    S = (1 / |P|) * sum_{(i, j) in P} 1[CI_i and CI_j are disjoint]. NaN with fewer than 2 models.
    """
    models = sorted(intervals)
    pairs = [(a, b) for i, a in enumerate(models) for b in models[i + 1:]]
    if not pairs:
        return math.nan, 0
    return sum(confidently_separated(intervals[a], intervals[b]) != 0 for a, b in pairs) / len(pairs), len(pairs)


def agreement_with_confidence(bench: dict[str, Interval], reference: dict[str, Interval]) -> tuple[float, int]:
    """Agreement with confidence (paper, section 3): (mean score, number of pairs scored).

    Over the pairs of models in both whose reference intervals do not overlap, a pair scores
    +1 when the benchmark's intervals are disjoint in the same order, -1 when disjoint in the
    opposite order, 0 when they overlap; the metric is the mean score. NaN when the reference
    separates no pair.
    """
    models = sorted(set(bench) & set(reference))
    scores = []
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            ref = confidently_separated(reference[a], reference[b])
            if ref:
                scores.append(ref * confidently_separated(bench[a], bench[b]))
    return (float(np.mean(scores)) if scores else math.nan), len(scores)


def win_probabilities(ratings: dict[str, float]) -> Callable[[str, str], float]:
    """p(i, j) = 1 / (1 + 10 ** ((R_j - R_i) / 400)): the benchmark's BT probability that i beats j."""
    return lambda a, b: 1.0 / (1.0 + 10.0 ** ((ratings[b] - ratings[a]) / SCALE))


def rank_probabilities(models: list[str], boot: np.ndarray) -> Callable[[str, str], float]:
    """p(i, j) = share of bootstrap rounds rating i above j (ties count half)."""
    column = {m: j for j, m in enumerate(models)}

    def p(a: str, b: str) -> float:
        x, y = boot[:, column[a]], boot[:, column[b]]
        keep = ~(np.isnan(x) | np.isnan(y))
        return float(np.mean((x[keep] > y[keep]) + 0.5 * (x[keep] == y[keep]))) if keep.any() else 0.5

    return p


def pair_rank_brier(probability: Callable[[str, str], float], models: Iterable[str],
                    reference: dict[str, Interval]) -> tuple[float, int]:
    """Pair rank Brier score (paper, section 3): (score, number of pairs); lower is better.

    For each pair (i, j) of models in both that the reference orders (different reference
    scores), the benchmark's predicted probability p_ij that i is better than j is scored against
    the reference outcome o_ij = 1 if the reference scores i above j, else 0:
    Brier = mean over pairs of (p_ij - o_ij) ** 2. A confident, right benchmark scores near 0,
    an uninformative one 0.25, a confident, wrong one near 1. With win_probabilities (the
    probability that i beats j) the score cannot fall below what the true head-to-head
    probabilities give; with rank_probabilities (confidence in the order) it tends to 0.
    """
    models = sorted(set(models) & set(reference))
    errors = []
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            if reference[a][0] == reference[b][0]:
                continue
            outcome = 1.0 if reference[a][0] > reference[b][0] else 0.0
            errors.append((probability(a, b) - outcome) ** 2)
    return (float(np.mean(errors)) if errors else math.nan), len(errors)


def spearman_correlation(ratings: dict[str, float], reference: dict[str, Interval]) -> float:
    """Spearman's rank correlation of benchmark ratings and reference scores on models in both."""
    from scipy.stats import spearmanr

    models = sorted(set(ratings) & set(reference))
    if len(models) < 2:
        return math.nan
    return float(spearmanr([ratings[m] for m in models], [reference[m][0] for m in models]).statistic)


def judge_diagnostics(judgments: Iterable[Judgment]) -> dict[str, dict[str, float | int]]:
    """Per model: the judge's position consistency, null share and strong share.

    - position_consistency: over questions where both games have a valid verdict, the share
      where game 1 and the mirrored game 2 name the same winner (model, baseline or tie);
      position_consistency_exact also requires the same strength (> vs >>);
    - null_share: share of the games played (two per judgment, one with pairwise off) without a
      valid verdict;
    - strong_share: share of valid verdicts that are strong (A>>B or B>>A).
    """
    stats: dict[str, Counter[str]] = {}
    for judgment in judgments:
        c = stats.setdefault(judgment["model"], Counter())
        c["judgments"] += 1
        outcomes = []
        for g in range(2):
            outcome = game_outcome(judgment, g)
            outcomes.append(outcome)
            if not has_game(judgment, g):
                continue
            c["games"] += 1
            if outcome is None:
                c["null"] += 1
            else:
                c["valid"] += 1
                c["strong"] += outcome[1]
        if outcomes[0] is not None and outcomes[1] is not None:
            c["pairs"] += 1
            c["same_winner"] += outcomes[0][0] == outcomes[1][0]
            c["same_label"] += outcomes[0] == outcomes[1]

    def share(num: int, den: int) -> float:
        return num / den if den else math.nan

    return {model: {"position_consistency": share(c["same_winner"], c["pairs"]),
                    "position_consistency_exact": share(c["same_label"], c["pairs"]),
                    "null_share": share(c["null"], c["games"]),
                    "strong_share": share(c["strong"], c["valid"]),
                    "judgments": c["judgments"]}
            for model, c in sorted(stats.items())}


def read_reference_ranking(path: Path) -> dict[str, Interval]:
    """A reference ranking CSV: columns model, score, lower, upper (or rating_q025, rating_q975)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            fields = rows[0].keys() if rows else []
    except FileNotFoundError:
        raise ConfigError(f"{path}: reference ranking not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:  # a folder, no permission, not UTF-8 text
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ConfigError(f"{path}: cannot read the reference ranking ({reason})") from None
    lower_key = "lower" if "lower" in fields else "rating_q025"
    upper_key = "upper" if "upper" in fields else "rating_q975"
    for key, wanted in (("model", "model"), ("score", "score"), (lower_key, "lower"), (upper_key, "upper")):
        if key not in fields:
            raise ConfigError(f"{path}: needs columns model, score, lower, upper (or rating_q025, rating_q975); "
                              f"missing {wanted!r}")
    reference: dict[str, Interval] = {}
    for lineno, row in enumerate(rows, start=2):
        try:
            values = (float(row["score"]), float(row[lower_key]), float(row[upper_key]))
        except (TypeError, ValueError):
            raise DataError(f"{path}:{lineno}: score, lower and upper must be numbers") from None
        reference[row["model"]] = values
    return reference


def quality_report(intervals: dict[str, Interval], judgments: list[Judgment] | None,
                   reference: dict[str, Interval] | None, boot_models: list[str] | None = None,
                   boot: np.ndarray | None = None) -> dict:
    """All quality figures as one JSON-ready dict (NaN becomes None)."""
    sep, n_pairs = separability(intervals)
    report: dict = {"separability": {"value": sep, "pairs": n_pairs, "models": len(intervals)}}
    if reference is not None:
        ratings = {m: v[0] for m, v in intervals.items()}
        agreement, n_agree = agreement_with_confidence(intervals, reference)
        brier, n_brier = pair_rank_brier(win_probabilities(ratings), intervals, reference)
        report["reference"] = {
            "models_in_both": sorted(set(intervals) & set(reference)),
            "missing_from_reference": sorted(set(intervals) - set(reference)),
            "missing_from_benchmark": sorted(set(reference) - set(intervals)),
            "agreement_with_confidence": {"value": agreement, "pairs": n_agree},
            "pair_rank_brier": {"value": brier, "pairs": n_brier},
            "pair_rank_brier_bootstrap": {"value": None, "pairs": 0},
            "spearman": spearman_correlation(ratings, reference),
        }
        if boot is not None and boot_models is not None and len(boot):
            value, pairs = pair_rank_brier(rank_probabilities(boot_models, boot), intervals, reference)
            report["reference"]["pair_rank_brier_bootstrap"] = {"value": value, "pairs": pairs}
    if judgments is not None:
        report["judge"] = judge_diagnostics(judgments)

    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return None if isinstance(x, float) and math.isnan(x) else x

    return clean(report)


def format_quality(report: dict, order: list[str]) -> list[str]:
    """The quality figures as printed after the table."""
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    sep = report["separability"]
    lines = [f"Separability with confidence: {pct(sep['value'])} of {sep['pairs']} model pairs "
             "have disjoint 95% intervals"]
    ref = report.get("reference")
    if ref is not None:
        lines.append(f"Reference ranking: {len(ref['models_in_both'])} models in both"
                     + (f"; not in the reference: {', '.join(ref['missing_from_reference'])}"
                        if ref["missing_from_reference"] else "")
                     + (f"; not in the benchmark: {', '.join(ref['missing_from_benchmark'])}"
                        if ref["missing_from_benchmark"] else ""))
        agree, brier = ref["agreement_with_confidence"], ref["pair_rank_brier"]
        lines.append(f"Agreement with confidence: {num(agree['value'])} over {agree['pairs']} pairs the reference "
                     "separates")
        lines.append(f"Pair rank Brier score: {num(brier['value'])} over {brier['pairs']} pairs (win probabilities); "
                     f"{num(ref['pair_rank_brier_bootstrap']['value'])} (bootstrap rank probabilities)")
        lines.append(f"Spearman correlation: {num(ref['spearman'])}")
    judge = report.get("judge")
    if judge:
        lines += format_judge_diagnostics(judge, order)
    return lines


def format_judge_diagnostics(judge: dict[str, dict], order: list[str]) -> list[str]:
    """The judge_diagnostics table (NaN or None shown as n/a), models in `order` first."""
    def pct(x: float | None) -> str:
        return "n/a" if x is None or math.isnan(x) else f"{100 * x:.1f}%"

    lines = [f"{'judge diagnostics' : <30} | position consistency | (exact) | null share | strong share"]
    for model in [m for m in order if m in judge] + sorted(set(judge) - set(order)):
        d = judge[model]
        lines.append(f"{model : <30} | {pct(d['position_consistency']) : >20} | "
                     f"{pct(d['position_consistency_exact']) : >7} | {pct(d['null_share']) : >10} | "
                     f"{pct(d['strong_share']) : >12}")
    return lines


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


# Bounds of the flags: upstream's work grows with --weight (battles) and --num-rounds (fits), and
# numpy's RandomState takes seeds from 0 to 2**32 - 1.
WEIGHT_RANGE = (0, 100)
ROUNDS_RANGE = (1, 10_000)
SEED_RANGE = (0, 2**32 - 1)


def plot_formats() -> list[str]:
    """File extensions matplotlib can save a chart as (png, pdf, svg, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench-name", type=str, default=None,
                        help="default: bench_name of --setting-file, else arena-hard-v0.1")
    parser.add_argument("--judge-name", type=str, default=None,
                        help="default: judge_model of --setting-file, else gpt-4-1106-preview")
    parser.add_argument("--baseline", type=str, default=None,
                        help="default: baseline_model of --setting-file, else gpt-4-0314")
    parser.add_argument("--setting-file", type=Path, default=None, metavar="FILE.yaml",
                        help=f"judge config giving the three defaults above (default {DEFAULT_SETTING_FILE} "
                             "when it exists)")
    parser.add_argument("--load-battles", action="store_true",
                        help="reuse data/arena_hard_battles.jsonl instead of building battles from the judgments")
    parser.add_argument("--load-bootstrap", action="store_true",
                        help="reuse data/bootstrapping_results.jsonl for the intervals (battles still come from "
                             "the judgments unless --load-battles)")
    parser.add_argument("--show-elo", action="store_true", help="print ratings instead of win rates")
    parser.add_argument("--weight", type=int, default=3,
                        help=f"battles per strong verdict (A>>B, B>>A), {WEIGHT_RANGE[0]} to {WEIGHT_RANGE[1]} "
                             "(default 3)")
    parser.add_argument("--num-rounds", type=int, default=100,
                        help=f"bootstrap rounds, {ROUNDS_RANGE[0]} to {ROUNDS_RANGE[1]} (default 100)")
    parser.add_argument("--output", action="store_true", help="write leaderboard/arena_hard_leaderboard_DATE.csv")
    parser.add_argument("--first-game-only", action="store_true")
    parser.add_argument("--full-stats", action="store_true", help="per model counts of each verdict")
    parser.add_argument("--style-control", action="store_true")
    parser.add_argument("--length-control-only", action="store_true")
    parser.add_argument("--markdown-control-only", action="store_true")
    parser.add_argument("--seed", type=int, default=42,
                        help=f"seed of the bootstrap draws, {SEED_RANGE[0]} to {SEED_RANGE[1]} (default 42, as upstream)")
    parser.add_argument("--plot", type=Path, default=None, metavar="FILE.png",
                        help="chart of the scores; the extension names the format (.png, .svg, .pdf, ...)")
    parser.add_argument("--quality", action="store_true",
                        help="print separability, judge diagnostics (and agreement with --reference-ranking)")
    parser.add_argument("--reference-ranking", type=Path, default=None, metavar="FILE.csv",
                        help="CSV of model, score, lower, upper (e.g. Chatbot Arena's); implies --quality")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--leaderboard-dir", type=Path, default=Path("leaderboard"))
    add_common_flags(parser)
    args = parser.parse_args(argv)
    if sum([args.style_control, args.length_control_only, args.markdown_control_only]) > 1:
        parser.error("use at most one of --style-control, --length-control-only, --markdown-control-only")
    for flag, value, (low, high) in (("--weight", args.weight, WEIGHT_RANGE),
                                     ("--num-rounds", args.num_rounds, ROUNDS_RANGE),
                                     ("--seed", args.seed, SEED_RANGE)):
        if not low <= value <= high:
            parser.error(f"{flag} must be from {low} to {high}, got {value}")
    if args.plot is not None:
        formats = plot_formats()
        if args.plot.suffix.lower().lstrip(".") not in formats:
            parser.error(f"--plot {args.plot}: the file name must end in one of "
                         f"{', '.join('.' + f for f in formats)} (the chart's format)")
    if args.reference_ranking is not None:
        args.quality = True
    return args


DEFAULT_SETTING_FILE = Path("config/judge_config.yaml")
BUILT_IN_DEFAULTS = {"bench_name": "arena-hard-v0.1", "judge_name": "gpt-4-1106-preview", "baseline": "gpt-4-0314"}


def judge_config_defaults(path: Path) -> dict[str, str]:
    """bench_name, judge_name and baseline from a judge config (the keys it sets); ConfigError
    naming the file and key for a bad value."""
    config = load_yaml(path)
    defaults = {}
    for key, name in (("bench_name", "bench_name"), ("judge_model", "judge_name"), ("baseline_model", "baseline")):
        value = config.get(key)
        if value is None or (key == "baseline_model" and config.get("baseline") is False):
            continue
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path}: {key}: expected a name, got {value!r}")
        defaults[name] = value
    if "bench_name" in defaults:
        check_bench_name(defaults["bench_name"], f"{path}: bench_name")
    return defaults


def apply_defaults(args: argparse.Namespace) -> None:
    """Fill --bench-name, --judge-name and --baseline left unset: from --setting-file (or
    config/judge_config.yaml when it exists), else the built-in defaults."""
    names = ("bench_name", "judge_name", "baseline")
    if all(getattr(args, name) is not None for name in names):
        return
    path = args.setting_file
    if path is None and DEFAULT_SETTING_FILE.is_file():
        path = DEFAULT_SETTING_FILE
    defaults = {**BUILT_IN_DEFAULTS, **(judge_config_defaults(path) if path is not None else {})}
    for name in names:
        if getattr(args, name) is None:
            setattr(args, name, defaults[name])
    log.debug("bench %s, judge %s, baseline %s (defaults from %s)", args.bench_name, args.judge_name,
              args.baseline, path or "built-in")


def style_mode(args: argparse.Namespace) -> str | None:
    if args.style_control:
        return "style"
    if args.length_control_only:
        return "length"
    if args.markdown_control_only:
        return "markdown"
    return None


def report_name_mismatches(judged: Iterable[str], answers: dict[str, AnswerInfo], baseline: str,
                           where: Path) -> None:
    """Warn about judged models without answers and answer files whose model_id differs."""
    judged = set(judged)
    without_answers = sorted(judged - set(answers))
    if without_answers:
        log.warning("judged models without an answer file in %s: %s", where, ", ".join(without_answers))
    unjudged = sorted(set(answers) - judged - {baseline})
    if unjudged:
        log.info("models with answers but no judgments: %s", ", ".join(unjudged))
    for model, info in answers.items():
        other = info.model_ids - {model}
        if other:
            log.warning("%s: model_id %s differs from the file name's model %r", info.path,
                        ", ".join(sorted(map(repr, other))), model)


def style_by_model(answers: dict[str, AnswerInfo], models: Iterable[str]) -> dict[str, dict[str, np.ndarray]]:
    """Per model, its style vectors; a model whose answers lack conv_metadata is an error."""
    out = {}
    for model in models:
        info = answers.get(model)
        if info is None:
            continue  # reported by attach_style with the question
        if not info.with_style:
            raise ValueError(f"{info.path}: answers were read without with_style")
        if info.style_error:
            raise DataError(info.style_error)
        if info.without_metadata:
            raise ConfigError(f"{info.path}: {info.without_metadata} answers of model {model!r} have no "
                              f"conv_metadata; run add_markdown_info.py --dir {info.path.parent} "
                              f"--output-dir {info.path.parent} first")
        out[model] = info.style
    return out


def save_cache(path: Path, records: Iterable[dict]) -> None:
    """Write the battles or bootstrap rounds for --load-battles / --load-bootstrap. The leaderboard
    does not need them: on a read-only or full disk, warn and go on."""
    try:
        write_jsonl_atomic(path, records)
    except OSError as e:
        log.warning("%s: not saved (%s); --load-battles / --load-bootstrap will not find it",
                    path, e.strerror or e)


def no_usable_verdict(judgments: list[Judgment], judges_path: Path, first_game_only: bool,
                      full_stats: bool) -> ConfigError:
    """Print what the judge did (--full-stats counts when asked, the judge diagnostics always)
    and return the error saying that no game gave a battle."""
    counts = count_games(judgments, first_game_only)
    without = counts["unparsable"]
    with_verdict = sum(counts.values()) - without
    if full_stats:
        for line in format_full_stats(game_counts(judgments, first_game_only), []):
            print(line)
        print()
    for line in format_judge_diagnostics(judge_diagnostics(judgments), []):
        print(line)
    return ConfigError(f"no usable verdict in {judges_path}: {plural(without, 'game')} without a verdict, "
                       f"{with_verdict} with (the judge may not follow the prompt: check its replies with "
                       "qa_browser.py)")


def load_battles(args: argparse.Namespace, answers: dict[str, AnswerInfo], answers_path: Path,
                 judges_path: Path, mode: str | None) -> tuple[Battles, list[Judgment] | None]:
    """The battles, built from the judgments (and saved) or read back (--load-battles), and the
    judgments when they were read (None with --load-battles unless --full-stats or --quality)."""
    if args.load_battles:
        battles = read_battles(args.data_dir / BATTLES_FILE, with_style=bool(mode))
        if (args.full_stats or args.quality) and judges_path.is_dir():
            return battles, read_judgments(judges_path, args.first_game_only)
        return battles, None
    if not judges_path.is_dir():
        raise ConfigError(f"{judges_path}: judgment folder not found (judge {args.judge_name!r}, "
                          f"bench {args.bench_name!r}; run gen_judgment.py first)")
    if args.baseline not in answers:
        raise ConfigError(f"{answers_path}: no answers of the baseline {args.baseline!r} "
                          "(check --baseline and --bench-name)")
    judgments = read_judgments(judges_path, args.first_game_only)
    if not judgments:
        raise ConfigError(f"{judges_path}: no judgments found")
    report_name_mismatches((j["model"] for j in judgments), answers, args.baseline, answers_path)
    battles = battles_from_judgments(judgments, args.baseline, args.weight, args.first_game_only)
    if not len(battles):
        raise no_usable_verdict(judgments, judges_path, args.first_game_only, args.full_stats)
    if mode:
        attach_style(battles, style_by_model(answers, battles.models), answers_path)
    save_cache(args.data_dir / BATTLES_FILE, battles.records())
    return battles, judgments


def bootstrap_rounds(args: argparse.Namespace, ratings: Ratings) -> tuple[list[str], np.ndarray]:
    """(models, ratings per round): read back (--load-bootstrap) or the fit's, best first, saved."""
    if args.load_bootstrap:
        return read_bootstrap(args.data_dir / BOOTSTRAP_FILE)
    boot_models, boot = sort_bootstrap_columns(ratings.models, ratings.bootstrap)
    rounds = ({m: (None if math.isnan(v) else float(v)) for m, v in zip(boot_models, row)} for row in boot)
    save_cache(args.data_dir / BOOTSTRAP_FILE, rounds)
    return boot_models, boot


def print_style_coefficients(ratings: Ratings) -> None:
    """The style-control fit's coefficients, then their bootstrap medians and intervals."""
    if ratings.style_coef is None:
        return
    names = [STYLE_NAMES_A[c] for c in ratings.style_columns]
    print(f"Style Coefficients: { {n: round(float(v), 3) for n, v in zip(names, ratings.style_coef)} }")
    if ratings.style_bootstrap is not None and len(ratings.style_bootstrap):
        med = np.median(ratings.style_bootstrap, axis=0)
        lo, hi = np.percentile(ratings.style_bootstrap, [2.5, 97.5], axis=0)
        print("Style Coefficients (bootstrap median [95% CI]): "
              + ", ".join(f"{n}: {m:.3f} [{a:.3f}, {b:.3f}]" for n, m, a, b in zip(names, med, lo, hi)))


def print_table(rows: list[Row], decimal: int, judgments: list[Judgment] | None, battles: Battles,
                avg_tokens: dict[str, int]) -> None:
    """The leaderboard, then the judged models without any valid battle."""
    for row in rows:
        print(format_row(row, decimal))
    if judgments is not None:
        without = sorted({j["model"] for j in judgments} - set(battles.models))
        for model in without:
            print(f"{model : <30} | no valid battles (no usable verdict) "
                  f"| average #tokens: {avg_tokens.get(model, 0)}")
        if without:
            log.warning("models without any valid battle: %s", ", ".join(without))


def print_stats(args: argparse.Namespace, rows: list[Row], judgments: list[Judgment] | None, judges_path: Path,
                intervals: dict[str, Interval], reference: dict[str, Interval] | None, boot_models: list[str],
                boot: np.ndarray) -> dict | None:
    """--full-stats and --quality after the table; returns the quality report (None without --quality)."""
    order = [r["model"] for r in rows]
    if args.full_stats:
        if judgments is None:
            log.warning("--full-stats needs the judgments in %s; not found", judges_path)
        else:
            print()
            for line in format_full_stats(game_counts(judgments, args.first_game_only), order):
                print(line)
    if not args.quality:
        return None
    if judgments is None:
        log.warning("judge diagnostics need the judgments in %s; not found", judges_path)
    report = quality_report(intervals, judgments, reference, boot_models, boot)
    print()
    for line in format_quality(report, order):
        print(line)
    return report


def write_outputs(args: argparse.Namespace, rows: list[Row], report: dict | None, mode: str | None) -> None:
    """--output: the leaderboard CSV (and the quality JSON with --quality); --plot: the chart."""
    if args.output:
        path = write_leaderboard_csv(rows, args.leaderboard_dir, bench_name=args.bench_name,
                                     judge_name=args.judge_name)
        log.info("wrote %s", path)
        if report is not None:
            report.update(bench_name=args.bench_name, judge_name=args.judge_name, baseline=args.baseline,
                          style_control=mode, reference_ranking=str(args.reference_ranking or "") or None)
            quality_path = path.with_name(path.name.replace("arena_hard_leaderboard_", "arena_hard_quality_"))
            quality_path = quality_path.with_suffix(".json")
            write_atomic(quality_path, [(json.dumps(report, indent=2) + "\n").encode("utf-8")])
            log.info("wrote %s", quality_path)
    if args.plot:
        plot_leaderboard(rows, args.plot, plot_title(args.bench_name, args.judge_name, mode), args.show_elo)
        log.info("wrote %s", args.plot)


def run(args: argparse.Namespace) -> int:
    mode = style_mode(args)
    answers_path = answer_dir(args.bench_name, args.data_dir)
    judges_path = judgment_dir(args.bench_name, args.judge_name, args.data_dir)
    reference = read_reference_ranking(args.reference_ranking) if args.reference_ranking else None
    answers = read_answers(answers_path, with_style=bool(mode) and not args.load_battles)
    battles, judgments = load_battles(args, answers, answers_path, judges_path, mode)
    ratings = compute_ratings(battles, args.baseline, args.num_rounds, args.seed,
                              STYLE_MODES[mode] if mode else (), bootstrap=not args.load_bootstrap)
    boot_models, boot = bootstrap_rounds(args, ratings)
    print_style_coefficients(ratings)
    avg_tokens = {m: info.avg_tokens for m, info in answers.items()}
    intervals = rating_intervals(ratings.models, ratings.point, boot_models, boot)
    rows = leaderboard_rows(intervals, args.baseline, avg_tokens, args.show_elo)
    print_table(rows, 0 if args.show_elo else 1, judgments, battles, avg_tokens)
    report = print_stats(args, rows, judgments, judges_path, intervals, reference, boot_models, boot)
    write_outputs(args, rows, report, mode)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    # Ctrl-C: the battles, bootstrap, CSV and quality files are written atomically
    return run_script(functools.partial(show, args))


def show(args: argparse.Namespace) -> int:
    """apply_defaults, then run; a file or folder that cannot be read or written raises DataError."""
    try:
        with InterruptGuard():  # as gen_answer and gen_judgment
            apply_defaults(args)
            return run(args)
    except OSError as e:  # e.g. a read-only data/ or leaderboard/, a file where a folder should be
        raise DataError(f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)) from None


if __name__ == "__main__":
    sys.exit(main())
