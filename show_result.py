"""Leaderboard from pairwise judgments: Bradley-Terry ratings, bootstrap intervals, win rates.

Usage: python show_result.py [--setting-file config/judge_config.yaml] [--bench-name B] [--judge-name J]
           [--baseline M] [--num-rounds 100] [--style-control] [--output] [--plot FILE.png]
           [--quality [--reference-ranking FILE.csv]]

Upstream's battles, estimators (unpenalised Bradley-Terry; L2-penalised, C = 1, with style
features) and bootstrap draws for a given --seed. Differences from upstream: README.

--full-stats adds each model's game counts and the judge's tokens on its judgments (from the usage
stored with them). --quality adds the benchmark-quality figures of the Arena-Hard paper (section 3): separability
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
from typing import Any, TypedDict

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
    USAGE_KEY,
    V2_SAME_LABEL,
    ConfigError,
    DataError,
    Game,
    InterruptGuard,
    Judgment,
    Usage,
    add_common_flags,
    answer_dir,
    style_metadata,
    bench_dir,
    check_bench_name,
    count_games,
    game_counts,
    game_outcome,
    gc_paused,
    has_game,
    is_complete_judgment,
    is_v2,
    iter_jsonl,
    judgment_dir,
    load_yaml,
    model_from_filename,
    played_games,
    plural,
    record_usage,
    run_script,
    safe_name,
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
            judgment = Judgment(question_id=qid, model=model, judge=str(record.get("judge", "")), games=kept)
            if USAGE_KEY in record:  # the judge's tokens, for --full-stats
                judgment[USAGE_KEY] = record[USAGE_KEY]  # type: ignore[literal-required]
            judgments.append(judgment)
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


def style_vector(meta: dict, where: str, keys: Sequence[str] = STYLE_FEATURES,
                 field: str = "conv_metadata") -> np.ndarray:
    """(token_len, header_count, list_count, bold_count) of a conv_metadata (v2.0: `field`
    metadata), read under `keys` (a battle's conv_metadata names them per side); counts may be
    dicts of numbers. A value that is not a count (NaN, infinite, negative, absurdly large) is an
    error: it would poison the fit."""
    values = []
    for key in keys:
        if key not in meta:
            raise DataError(f"{where}: {field} has no {key!r}")
        v = meta[key]
        numbers = list(v.values()) if isinstance(v, dict) else [v]
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in numbers):
            raise DataError(f"{where}: {field} {key!r} must be a number or a dict of numbers, got {v!r}")
        if not all(is_count(x) for x in numbers) or not is_count(sum(numbers)):
            raise DataError(f"{where}: {field} {key!r} holds {v!r}, not a count from 0 to {MAX_COUNT}")
        values.append(float(sum(numbers)))
    return np.array(values)


def annotate_hint(directory: Path) -> str:
    """How to (re)count the markdown of a folder of answers made elsewhere."""
    return f"run add_markdown_info.py --dir {directory} --output-dir {directory} first"


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
                    info.style_error = info.style_error or f"{e}; {annotate_hint(path.parent)}"
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
                          bench_name: str = "", judge_name: str = "", name_suffix: str = "") -> Path:
    """leaderboard/arena_hard_leaderboard_YYYYMMDD<name_suffix>.csv with upstream's columns, then the
    bench and judge it was made from (qa_browser shows the one of its bench and judge); atomic."""
    today = today or datetime.date.today()
    path = directory / f"arena_hard_leaderboard_{today.strftime('%Y%m%d')}{name_suffix}.csv"
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
    chart = io.BytesIO()  # then written atomically: a full disk leaves the chart already there whole
    fig.savefig(chart, format=path.suffix.lstrip(".").lower(), dpi=120, metadata={"Title": title})
    plt.close(fig)
    write_atomic(path, [chart.getvalue()])


def format_full_stats(counts: dict[str, dict[str, int]], order: list[str]) -> list[str]:
    """Per model game counts, in leaderboard order (models without judgments are skipped)."""
    lines = [f"{'model' : <30} | " + " | ".join(f"{c : >13}" for c in FULL_STATS_COLUMNS)]
    for model in order + sorted(set(counts) - set(order)):
        if model in counts:
            lines.append(f"{model : <30} | " + " | ".join(f"{counts[model][c] : >13}" for c in FULL_STATS_COLUMNS))
    return lines


@dataclass
class JudgeTokens:
    """The judge's tokens on one model's judgments, from the usage stored with them."""

    usage: Usage = field(default_factory=Usage)
    metered: int = 0  # judgments with a usage
    judgments: int = 0


def judge_tokens(judgments: Iterable[Judgment]) -> dict[str, JudgeTokens]:
    """Per model (the judgments' "model"), the judge's tokens summed over the judgments that kept
    their usage (records written before usage was kept, or by upstream, have none)."""
    totals: dict[str, JudgeTokens] = {}
    for judgment in judgments:
        total = totals.setdefault(judgment["model"], JudgeTokens())
        total.judgments += 1
        usage = record_usage(judgment)
        if usage is not None:
            total.usage += usage
            total.metered += 1
    return totals


def format_judge_tokens(totals: dict[str, JudgeTokens], order: list[str]) -> list[str]:
    """--full-stats: the judge's input and output tokens per model, in leaderboard order; blank for
    a model none of whose judgments kept its usage, and a note when only some did."""
    lines = [f"{'model' : <30} | {'judge input tokens' : >18} | {'judge output tokens' : >19}"]
    for model in order + sorted(set(totals) - set(order)):
        if model not in totals:
            continue
        total = totals[model]
        cells = (f"{total.usage.input_tokens:,}", f"{total.usage.output_tokens:,}") if total.metered else ("", "")
        lines.append(f"{model : <30} | {cells[0] : >18} | {cells[1] : >19}".rstrip())
    metered, judged = sum(t.metered for t in totals.values()), sum(t.judgments for t in totals.values())
    if 0 < metered < judged:
        lines.append(f"(from the usage stored with {metered:,} of {plural(judged, 'judgment')}: records written before "
                     "usage was kept have none)")
    return lines


def print_full_stats(judgments: list[Judgment], order: list[str], first_game_only: bool = False) -> None:
    """--full-stats: each model's game counts, then the judge's tokens on its judgments (when any
    judgment kept its usage)."""
    for line in format_full_stats(game_counts(judgments, first_game_only), order):
        print(line)
    totals = judge_tokens(judgments)
    if any(total.metered for total in totals.values()):
        print()
        for line in format_judge_tokens(totals, order):
            print(line)


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

    Over the n(n-1)/2 pairs of models, the share whose bootstrap intervals (95% on v0.1, 90% on
    v2.0) do not overlap:
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
    ours, theirs = [ratings[m] for m in models], [reference[m][0] for m in models]
    if len(set(ours)) < 2 or len(set(theirs)) < 2:  # no ranking on one side (also fewer than 2 models)
        return math.nan
    return float(spearmanr(ours, theirs).statistic)


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
                   boot: np.ndarray | None = None, *, ratings: dict[str, float] | None = None,
                   no_ratings: str | None = None) -> dict:
    """All quality figures as one JSON-ready dict (NaN becomes None).

    intervals: (score, lower, upper) per model; boot: (rounds, boot_models) of bootstrap scores.
    The win-probability Brier score needs Bradley-Terry ratings (Elo scale): `ratings`, by default
    the interval scores (v0.1's are ratings); a leaderboard without any passes `no_ratings`, the
    reason, which the report gives in place of that figure.
    """
    sep, n_pairs = separability(intervals)
    report: dict = {"separability": {"value": sep, "pairs": n_pairs, "models": len(intervals)}}
    if reference is not None:
        scores = {m: v[0] for m, v in intervals.items()}
        agreement, n_agree = agreement_with_confidence(intervals, reference)
        if no_ratings is None:
            brier, n_brier = pair_rank_brier(win_probabilities(ratings or scores), intervals, reference)
            win_brier: dict = {"value": brier, "pairs": n_brier}
        else:
            win_brier = {"value": None, "pairs": 0, "unavailable": no_ratings}
        report["reference"] = {
            "models_in_both": sorted(set(intervals) & set(reference)),
            "missing_from_reference": sorted(set(intervals) - set(reference)),
            "missing_from_benchmark": sorted(set(reference) - set(intervals)),
            "agreement_with_confidence": {"value": agreement, "pairs": n_agree},
            "pair_rank_brier": win_brier,
            "pair_rank_brier_bootstrap": {"value": None, "pairs": 0},
            "spearman": spearman_correlation(scores, reference),
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


def format_quality(report: dict, order: list[str], interval_percent: int = 95) -> list[str]:
    """The quality figures as printed after the table (intervals of `interval_percent`)."""
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    sep = report["separability"]
    lines = [f"Separability with confidence: {pct(sep['value'])} of {sep['pairs']} model pairs "
             f"have disjoint {interval_percent}% intervals"]
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
        boot_brier = ref["pair_rank_brier_bootstrap"]
        if "unavailable" in brier:
            lines.append(f"Pair rank Brier score: n/a with win probabilities ({brier['unavailable']}); "
                         f"{num(boot_brier['value'])} over {boot_brier['pairs']} pairs (bootstrap rank probabilities)")
        else:
            lines.append(f"Pair rank Brier score: {num(brier['value'])} over {brier['pairs']} pairs "
                         f"(win probabilities); {num(boot_brier['value'])} (bootstrap rank probabilities)")
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
# Arena-Hard v2.0 (REFERENCE-v2.md, "show_result.py"): one table per category, of the mean score
# against the category's baseline (plain) or of Bradley-Terry win rates with style features
# --------------------------------------------------------------------------------------------

V2_BENCH = "arena-hard-v2.0"
V2_JUDGE = "gpt-4.1"
V2_CATEGORY = "hard_prompt"
# Upstream's baseline of each category (its utils/judge_utils.py); a judgment's `baseline` field wins.
V2_BASELINES = {"hard_prompt": "o3-mini-2025-01-31", "coding": "o3-mini-2025-01-31", "math": "o3-mini-2025-01-31",
                "creative_writing": "gemini-2.0-flash-001", "arena-hard-v0.1": "gpt-4-0314"}
V2_PERCENTILES = (5.0, 95.0)  # upstream's 90% interval
V2_INTERVAL_PERCENT = 90
# --control-features: which of the style columns (length, header, list, bold density) each name selects
V2_FEATURE_COLUMNS = {"length": (0,), "markdown": (1, 2, 3)}
V2_FEATURE_NAMES = ("length", "header", "list", "bold")
V2_TABLE_COLUMNS = ("Model", "Scores (%)", "CI (%)", "Avg Tokens")


def v2_label_scores(weight: int = 3) -> dict[str, tuple[float, ...]]:
    """Upstream's label map: Assistant A's score for each verdict, a strong one repeated `weight` times."""
    win, loss = (1.0,), (0.0,)
    return {"A>B": win, "A>>B": win * weight, "A=B": (0.5,), "A<<B": loss * weight, "A<B": loss,
            "B>A": loss, "B>>A": loss * weight, "B=A": (0.5,), "B<<A": win * weight, "B<A": win}


def v2_record_scores(weight: int = 3) -> dict[tuple[str, str], tuple[float, ...]]:
    """The model's score rows of a record per (game 1 label, game 2 label): map(game 2) followed by
    [1 - s for s in map(game 1)] (game 1 shows the baseline as A, game 2 the model)."""
    scores = v2_label_scores(weight)
    return {(g1, g2): scores[g2] + tuple(1.0 - s for s in scores[g1]) for g1 in scores for g2 in scores}


def first_record(path: Path) -> dict | None:
    """The first non-blank line of a JSONL file if it is a JSON object, else None."""
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    return record if isinstance(record, dict) else None
    except (OSError, ValueError, RecursionError):
        return None
    return None


def is_v2_bench(bench: Path) -> bool:
    """Whether a bench folder holds v2.0 records (keyed by `uid`): the first record of its
    judgments, else of its answers, else of question.jsonl decides."""
    for pattern in ("model_judgment/*/*.jsonl", "model_answer/*.jsonl", "question.jsonl"):
        for path in sorted(bench.glob(pattern)):
            record = first_record(path)
            if record is not None:
                return is_v2(record)
    return False


def model_tail(model: str) -> str:
    """Upstream's table name of a model: the text after its last "/"."""
    return model.rsplit("/", 1)[-1]


@dataclass
class V2Judgments:
    """v2.0 judgment records in upstream's order (judges as given, files by name, records in file
    order) and the score rows of those upstream keeps (both games with a label), in order."""

    model: list[str] = field(default_factory=list)  # the record's `model`, unstripped
    uid: list[str] = field(default_factory=list)
    category: list[str] = field(default_factory=list)
    baseline: list[str | None] = field(default_factory=list)
    # per record, each game's label: None for a null game, "" for a game without a verdict
    labels: list[tuple[str | None, str | None]] = field(default_factory=list)
    rows_per_record: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # each 0, 0.5 or 1
    usage: list[Any] = field(default_factory=list)  # per record, its stored usage (utils.USAGE_KEY) or None
    _codes: dict[str, tuple[list, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def kept(self) -> np.ndarray:
        return np.array(self.rows_per_record, dtype=np.int64) > 0

    @property
    def null_count(self) -> int:
        """Records upstream drops: a null game or a null score."""
        return int((~self.kept).sum())

    def row_record(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.uid)), self.rows_per_record)

    def codes(self, column: str) -> tuple[list, np.ndarray]:
        """The distinct values of a column ("model", "uid", "category" or "baseline"), in order of
        first appearance, and each record's index into them; computed once, after reading."""
        if column not in self._codes:
            values = getattr(self, column)
            distinct = list(dict.fromkeys(values))
            index = {value: i for i, value in enumerate(distinct)}
            self._codes[column] = (distinct, np.fromiter(map(index.__getitem__, values), np.int64, len(values)))
        return self._codes[column]


def check_v2_judgment(record: dict, where: str, labels: dict) -> tuple[str | None, str | None]:
    """The labels of a judgment's two games (None: null game, "": null score); DataError naming
    `where` for a record that is not a v2.0 judgment."""
    for key in ("uid", "model", "category", "games"):
        if key not in record:
            raise DataError(f"{where}: missing key {key!r}")
    model, category, games = record["model"], record["category"], record["games"]
    if not isinstance(model, str) or not model:
        raise DataError(f"{where}: 'model' must be a non-empty string, got {model!r}")
    if not isinstance(category, str):
        raise DataError(f"{where}: 'category' must be a string, got {category!r}")
    if not isinstance(games, list) or len(games) != 2:
        raise DataError(f"{where}: 'games' must be a list of two games (each an object or null)")
    pair: list[str | None] = []
    for g, game in enumerate(games):
        if game is not None and not isinstance(game, dict):
            raise DataError(f"{where}: games[{g}] must be an object or null, got {game!r}")
        score = None if game is None else game.get("score")
        if score is not None and (not isinstance(score, str) or score not in labels):
            raise DataError(f"{where}: games[{g}].score {score!r} is not a verdict label "
                            f"({', '.join(labels)}) or null")
        pair.append(None if game is None else score or "")
    return pair[0], pair[1]


def read_v2_judgments(directory: Path, into: V2Judgments, weight: int = 3) -> None:
    """Append the records of every *.jsonl in `directory` (sorted by name) to `into`; the judge's
    texts are dropped while reading. A bad record is an error naming file and line."""
    record_scores = v2_record_scores(weight)
    labels = v2_label_scores(weight)
    models, uids, categories, baselines = into.model, into.uid, into.category, into.baseline
    pairs, rows_per_record, scores, usages = into.labels, into.rows_per_record, into.scores, into.usage
    for path in sorted(directory.glob("*.jsonl")):
        for lineno, record in iter_jsonl(path):
            try:  # the common case, checked quickly; check_v2_judgment decides the others
                model, category, uid, games = record["model"], record["category"], record["uid"], record["games"]
                game1, game2 = games
                score1 = None if game1 is None else game1["score"]
                score2 = None if game2 is None else game2["score"]
                valid = (type(model) is str and model != "" and type(category) is str and type(games) is list
                         and (game1 is None or type(game1) is dict) and (game2 is None or type(game2) is dict)
                         and (score1 is None or score1 in labels) and (score2 is None or score2 in labels))
                label1 = None if game1 is None else score1 or ""
                label2 = None if game2 is None else score2 or ""
            except (KeyError, TypeError, ValueError):
                valid = False
            if not valid:
                label1, label2 = check_v2_judgment(record, f"{path}:{lineno}", labels)
                model, category, uid = record["model"], record["category"], record["uid"]
            baseline = record.get("baseline")
            models.append(model)
            uids.append(uid if type(uid) is str else str(uid))
            categories.append(category)
            baselines.append(baseline if type(baseline) is str and baseline else None)
            pairs.append((label1, label2))
            usages.append(record.get(USAGE_KEY))
            if label1 and label2:
                these = record_scores[(label1, label2)]
                rows_per_record.append(len(these))
                scores.extend(these)
            else:
                rows_per_record.append(0)


def plain_style_vector(meta: dict) -> np.ndarray | None:
    """style_vector of the usual metadata (an int token_len, dicts of ints for the counts, all
    counts) quickly; None for anything else, which style_vector then reads or refuses."""
    try:
        values = [meta["token_len"]]
        for key in STYLE_FEATURES[1:]:
            counts = list(meta[key].values())
            if not all(type(x) is int and 0 <= x <= MAX_COUNT for x in counts):
                return None
            values.append(sum(counts))
    except (KeyError, TypeError, AttributeError):
        return None
    if not all(type(x) is int and 0 <= x <= MAX_COUNT for x in values):
        return None
    return np.array(values, dtype=float)


def read_v2_answers(directory: Path, with_style: bool = False) -> dict[str, AnswerInfo]:
    """{model: AnswerInfo keyed by uid} of every *.jsonl in `directory`; the model is the first
    record's `model` (as upstream), else the file name's. token_len and style come from `metadata`
    (v0.1's `conv_metadata` also read); a duplicated uid keeps its last line."""
    infos: dict[str, AnswerInfo] = {}
    if not directory.is_dir():
        return infos
    for path in sorted(directory.glob("*.jsonl")):
        info = AnswerInfo(path, with_style=with_style)
        model = None
        uids: set[str] = set()
        token_lens = info.token_lens
        for lineno, record in iter_jsonl(path):
            if "uid" not in record:
                raise DataError(f"{path}:{lineno}: missing key 'uid'")
            uid = record["uid"]
            if type(uid) is not str:
                uid = str(uid)
            uids.add(uid)
            name = record.get("model")
            if type(name) is str:
                info.model_ids.add(name)
            if model is None:
                model = name if type(name) is str else model_from_filename(path)
            meta = style_metadata(record)
            length = None if meta is None else meta.get("token_len")
            token_lens.pop(uid, None)  # a repeated uid: its last line counts
            if (type(length) is int and 0 <= length <= MAX_COUNT) or is_count(length):
                token_lens[uid] = length
            if with_style:
                info.style.pop(uid, None)
            if with_style and meta is not None:
                vector = plain_style_vector(meta)
                if vector is not None:
                    info.style[uid] = vector
                    continue
                try:
                    info.style[uid] = style_vector(meta, f"{path}:{lineno}",
                                                   field="metadata" if is_v2(record) else "conv_metadata")
                except DataError as e:
                    info.style_error = info.style_error or f"{e}; {annotate_hint(path.parent)}"
        info.without_metadata = len(uids) - len(info.style) if with_style else 0
        if model is not None:
            if model in infos:
                log.warning("%s: model %r already read from %s; this file is used", path, model, infos[model].path)
            infos[model] = info
    return infos


def v2_category_baseline(judgments: V2Judgments, records: np.ndarray, category: str) -> str:
    """The baseline of a category: its judgments' `baseline` field, else upstream's table."""
    baselines, code = judgments.codes("baseline")
    named = {baselines[c] for c in np.unique(code[records])} - {None}
    if len(named) > 1:
        raise DataError(f"judgments of category {category!r} name several baselines: {', '.join(sorted(named))}")
    if named:
        return named.pop()
    if category not in V2_BASELINES:
        raise DataError(f"judgments of category {category!r} name no baseline, and upstream has none for it")
    return V2_BASELINES[category]


@dataclass
class V2Category:
    """The score rows of one category, models by their table names (after the last "/")."""

    category: str
    baseline: str
    records: np.ndarray  # indices of the kept records of the category (the baseline's own excluded)
    row_record: np.ndarray  # per row, its record
    row_score: np.ndarray
    models: list[str]  # sorted table names, baseline excluded
    row_model: np.ndarray  # per row, index into models


def v2_category(judgments: V2Judgments, category: str) -> V2Category:
    """Upstream's rows of `category` in order; rows of the baseline judged against itself are left
    out with a warning (upstream listed it twice)."""
    categories, category_code = judgments.codes("category")
    in_category = judgments.kept & (category_code == (categories.index(category) if category in categories else -1))
    records = np.flatnonzero(in_category)
    baseline = v2_category_baseline(judgments, records, category)
    names, name_code = judgments.codes("model")
    tails = [model_tail(m) for m in names]
    own = np.array([t == baseline for t in tails], dtype=bool)[name_code[records]]
    if own.any():
        log.warning("category %s: %d judgments of the baseline %s against itself are left out", category,
                    int(own.sum()), baseline)
        records = records[~own]
    present = np.unique(name_code[records])
    full_names: dict[str, set[str]] = {}
    for c in present:
        full_names.setdefault(tails[c], set()).add(names[c])
    for tail, these in full_names.items():
        if len(these) > 1:
            log.warning("category %s: models %s share the table name %r and are counted as one (as upstream)",
                        category, ", ".join(sorted(these)), tail)
    models = sorted(full_names)
    table_code = {m: j for j, m in enumerate(models)}
    model_of_name = np.full(len(names), -1, dtype=np.int64)
    model_of_name[present] = [table_code[tails[c]] for c in present]
    row_record_all = judgments.row_record()
    keep_record = np.zeros(len(judgments.uid), dtype=bool)
    keep_record[records] = True
    rows = keep_record[row_record_all]
    row_record = row_record_all[rows]
    record_model = np.full(len(judgments.uid), -1, dtype=np.int64)
    record_model[records] = model_of_name[name_code[records]]
    return V2Category(category=category, baseline=baseline, records=records, row_record=row_record,
                      row_score=np.asarray(judgments.scores, dtype=float)[rows], models=models,
                      row_model=record_model[row_record])


def v2_bootstrap_means(groups: Sequence[np.ndarray], num_rounds: int, rng: np.random.RandomState) -> np.ndarray:
    """(rounds, models): each round, each model's mean over its rows drawn with replacement.

    Drawn as upstream's groupby("model").sample(frac=1, replace=True) on the global RNG does:
    models in order (sorted names), randint(0, n, n) over each model's n rows.
    """
    means = np.empty((num_rounds, len(groups)))
    randint, add = rng.randint, np.add.reduce
    sizes = [len(scores) for scores in groups]
    for r in range(num_rounds):
        row = means[r]
        for j, scores in enumerate(groups):
            n = sizes[j]
            row[j] = add(scores.take(randint(0, n, n))) / n
    return means


def pandas_group_mean(values: np.ndarray) -> np.ndarray:
    """Column means of (rounds, models) as upstream's groupby("model").mean() of the stacked
    rounds computes them (the last digit decides some roundings of the printed table): added in
    row order with Kahan compensation; with one model the rows are already sorted by group, and
    pandas (since 3.1) sums them with np.add.reduceat instead."""
    if values.shape[1] == 1:
        return np.add.reduceat(values[:, 0], [0]) / len(values)
    total = np.zeros(values.shape[1])
    compensation = np.zeros(values.shape[1])
    for row in values:
        y = row - compensation
        t = total + y
        compensation = t - total - y
        total = t
    return total / len(values)


def pandas_group_quantile(values: np.ndarray, q: float) -> np.ndarray:
    """Column quantiles (linear) of (rounds, models) with pandas' groupby().quantile() arithmetic."""
    ordered = np.sort(values, axis=0)
    position = q * (len(values) - 1)
    low = int(position)
    frac = position % 1
    if frac == 0.0:
        return ordered[low].copy()
    return ordered[low] + (ordered[low + 1] - ordered[low]) * frac


@dataclass
class V2Leaderboard:
    """One category's scores (fractions), models in upstream's order before sorting."""

    category: str
    baseline: str
    models: list[str]
    score: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rounds: np.ndarray | None = None  # (rounds, models): each bootstrap round's score (the baseline's 0.5 too)
    feature_coefs: np.ndarray | None = None  # style control: median coefficient of each chosen feature
    ratings: np.ndarray | None = None  # style control: Bradley-Terry ratings (Elo scale, baseline 1000)


def v2_plain_leaderboard(rows: V2Category, num_rounds: int, rng: np.random.RandomState) -> V2Leaderboard:
    """Upstream's plain table: the bootstrap mean of each model's score, its 5% and 95% quantiles;
    the baseline's row (50%) added last."""
    order = np.argsort(rows.row_model, kind="stable")
    bounds = np.cumsum(np.bincount(rows.row_model, minlength=len(rows.models)))[:-1]
    groups = np.split(rows.row_score[order], bounds)
    means = v2_bootstrap_means(groups, num_rounds, rng)
    half = np.array([0.5])
    return V2Leaderboard(rows.category, rows.baseline, rows.models + [rows.baseline],
                         np.concatenate([pandas_group_mean(means), half]),
                         np.concatenate([pandas_group_quantile(means, V2_PERCENTILES[0] / 100), half]),
                         np.concatenate([pandas_group_quantile(means, V2_PERCENTILES[1] / 100), half]),
                         rounds=np.column_stack([means, np.full(num_rounds, 0.5)]))


def v2_descending_order(values: Sequence[float]) -> np.ndarray:
    """The order of pandas' sort_values(ascending=False) (nargsort with numpy's quicksort), ties
    included: reverse, argsort ascending, reverse back."""
    values = np.asarray(values, dtype=float)
    reversed_index = np.arange(len(values))[::-1]
    return reversed_index[values[::-1].argsort(kind="quicksort")][::-1]


def v2_table_rows(board: V2Leaderboard, avg_tokens: dict[str, int]) -> list[dict]:
    """The printed rows, upstream's order: Scores (%) = round(100 * score, 1), CI (%) as
    "(-{round(100 (score - lower), 1)} / +{round(100 (upper - score), 1)})", best first."""
    rows = []
    for model, score, lower, upper in zip(board.models, board.score, board.lower, board.upper):
        score, lower, upper = float(score), float(lower), float(upper)
        rows.append({"Model": model, "Scores (%)": round(score * 100, 1),
                     "CI (%)": f"(-{round((score - lower) * 100, 1)} / +{round((upper - score) * 100, 1)})",
                     "Avg Tokens": int(avg_tokens.get(model, 0)),
                     "score": 100 * score, "lower": 100 * lower, "upper": 100 * upper})
    return [rows[i] for i in v2_descending_order([r["Scores (%)"] for r in rows])]


def format_v2_table(rows: list[dict], columns: Sequence[str] = V2_TABLE_COLUMNS) -> str:
    """The rows as pandas' DataFrame.to_string() prints them: index 0..n-1 left-aligned; each
    cell a space then its value (floats with one decimal), right-aligned to the column's widest
    cell or header (a space before the header of a numeric column); columns one space apart."""
    def cell(value: object) -> str:
        return " " + (f"{value:.1f}" if isinstance(value, float) else str(value))

    cells = [[cell(row[c]) for c in columns] for row in rows]
    numeric = [bool(rows) and all(isinstance(row[c], (int, float)) for row in rows) for c in columns]
    headers = [" " + c if num else c for c, num in zip(columns, numeric)]
    index = [str(i) for i in range(len(rows))]
    index_width = max((len(s) for s in index), default=0)
    widths = [max([len(h)] + [len(r[j]) for r in cells]) for j, h in enumerate(headers)]
    lines = [" " * index_width + "".join(f" {h:>{w}}" for h, w in zip(headers, widths))]
    for i, r in zip(index, cells):
        lines.append(f"{i:<{index_width}}" + "".join(f" {v:>{w}}" for v, w in zip(r, widths)))
    return "\n".join(lines)


def format_torch_vector(values: Sequence[float]) -> str:
    """A 1-D float tensor as torch prints it (4 decimals, or scientific notation when the values
    span more than 1000x or fall below 1e-4), e.g. tensor([0.7465, 0.8617])."""
    values = [float(v) for v in values]
    finite = [abs(v) for v in values if math.isfinite(v) and v != 0]
    if all(v == math.floor(v) for v in finite):  # torch's integer mode (all zeros included)
        sci = bool(finite) and (max(finite) / min(finite) > 1000 or max(finite) > 1e8)
        text = [f"{v:.4e}" if sci else f"{v:.0f}." for v in values]
    else:
        sci = bool(finite) and (max(finite) / min(finite) > 1000 or max(finite) > 1e8 or min(finite) < 1e-4)
        text = [f"{v:.4e}" if sci else f"{v:.4f}" for v in values]
    text = ["nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else t
            for v, t in zip(values, text)]
    width = max((len(t) for t in text), default=0)
    return "tensor([" + ", ".join(t.rjust(width) for t in text) + "])"


@dataclass
class V2StyleDesign:
    """Style control on one category: units (distinct model answer and question, sorted by model)
    with their standardised style columns, and each score row's unit."""

    unit_model: np.ndarray  # per unit, index into the category's models
    features: np.ndarray  # (units, chosen columns), standardised over the rows
    row_unit: np.ndarray
    row_score: np.ndarray
    columns: tuple[int, ...]  # the chosen style columns (0 length, 1 header, 2 list, 3 bold)
    constant: tuple[int, ...] = ()  # chosen columns left out: the same in every row


def v2_style_columns(model_style: np.ndarray, baseline_style: np.ndarray) -> np.ndarray:
    """Upstream's style columns from (token_len, header, list, bold) of the model's and the
    baseline's answer: length (Lm - Lb) / (Lm + Lb); markdown densities d = count / (L + 1) as
    (dm - db) / (dm + db + 1)."""
    lm, lb = model_style[:, 0], baseline_style[:, 0]
    out = np.empty_like(model_style, dtype=float)
    out[:, 0] = (lm - lb) / (lm + lb)
    dm = model_style[:, 1:] / (lm[:, None] + 1.0)
    db = baseline_style[:, 1:] / (lb[:, None] + 1.0)
    out[:, 1:] = (dm - db) / (dm + db + 1.0)
    return out


def v2_style_design(judgments: V2Judgments, rows: V2Category, answers: dict[str, AnswerInfo],
                    columns: Sequence[int], answers_path: Path) -> V2StyleDesign:
    """The style design of a category: style vectors looked up by each judgment's (unstripped)
    `model` and the category's baseline; columns standardised over all its rows with the unbiased
    standard deviation."""
    record_unit = np.full(len(judgments.uid), -1, dtype=np.int64)
    keys: dict[tuple[str, str], int] = {}
    unit_records = []
    for i in rows.records:
        key = (judgments.model[i], judgments.uid[i])
        if key not in keys:
            keys[key] = len(keys)
            unit_records.append(i)
        record_unit[i] = keys[key]
    unit_records = np.array(unit_records, dtype=np.int64)
    record_model = np.full(len(judgments.uid), -1, dtype=np.int64)
    record_model[rows.row_record] = rows.row_model
    # units sorted by model (stable), so per-model sums are contiguous
    unit_model = record_model[unit_records]
    order = np.argsort(unit_model, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    unit_records, unit_model = unit_records[order], unit_model[order]
    row_unit = rank[record_unit[rows.row_record]]

    def vectors(model_of: Callable[[int], str]) -> np.ndarray:
        out = np.empty((len(unit_records), len(STYLE_FEATURES)))
        for u, i in enumerate(unit_records):
            model, uid = model_of(i), judgments.uid[i]
            info = answers.get(model)
            if info is None:
                raise ConfigError(f"{answers_path}: no answers of model {model!r}, needed for --control-features")
            vector = info.style.get(uid)
            if vector is None:
                if info.style_error:
                    raise DataError(info.style_error)
                raise DataError(f"{info.path}: no answer with metadata to question {uid} (needed for "
                                f"--control-features); {annotate_hint(info.path.parent)}")
            out[u] = vector
        return out

    model_style = vectors(lambda i: judgments.model[i])
    baseline_style = vectors(lambda i: rows.baseline)
    empty = (model_style[:, 0] + baseline_style[:, 0]) == 0
    if empty.any():
        i = unit_records[np.flatnonzero(empty)[0]]
        raise DataError(f"question {judgments.uid[i]}: the answers of {judgments.model[i]!r} and of the baseline "
                        f"{rows.baseline!r} both have token_len 0: the length feature is undefined")
    raw = v2_style_columns(model_style, baseline_style)[:, list(columns)]
    per_unit = np.bincount(row_unit, minlength=len(unit_records)).astype(float)
    n = per_unit.sum()
    mean = per_unit @ raw / n
    std = np.sqrt(per_unit @ (raw - mean) ** 2 / (n - 1)) if n > 1 else np.zeros(len(columns))
    constant = tuple(c for c, s in zip(columns, std) if not s > 0)
    for c in constant:
        log.warning("category %s: style feature %s is the same in every row; left out of the fit (coefficient 0)",
                    rows.category, V2_FEATURE_NAMES[c])
    keep = [j for j, c in enumerate(columns) if c not in constant]
    features = (raw[:, keep] - mean[keep]) / std[keep]
    return V2StyleDesign(unit_model=unit_model, features=features, row_unit=row_unit, row_score=rows.row_score,
                         columns=tuple(columns), constant=constant)


def fit_v2_style(unit_model: np.ndarray, features: np.ndarray, w1: np.ndarray, wn: np.ndarray, n_models: int,
                 init: tuple[np.ndarray, np.ndarray] | None = None, tol: float = 1e-7,
                 max_iter: int = 100) -> tuple[np.ndarray, np.ndarray, bool]:
    """Upstream's style-control Bradley-Terry fit for several bootstrap rounds at once, solved to
    its optimum.

    Each round r (a column of w1 and wn, shape (units, rounds)) minimises the soft-target
    logistic loss without penalty, sum_u wn_u softplus(eta_u) - w1_u eta_u, where
    eta_u = theta[model_u] + features_u . beta, wn_u = rows of unit u drawn and w1_u their summed
    scores: upstream's BCE over the drawn rows, with the baseline's coefficient at 0 (only the
    difference theta_m - theta_baseline is identified). Newton's method with backtracking; the
    Hessian is an arrow matrix (diagonal in theta), solved through its k x k Schur complement.
    unit_model must be sorted; init: (theta, beta) to start from (e.g. the fit on all rows), else
    0. It stops after a step below `tol` (Newton's error after it is of the order of its square).
    A model whose drawn rows all score 1 (0) has no finite optimum:
    theta is +inf (-inf) and its rows leave the fit (their loss tends to 0 whatever beta is); a
    model without drawn rows gets NaN. Returns (theta (models, rounds), beta (k, rounds), converged).
    """
    units, rounds = wn.shape
    k = features.shape[1]
    starts = np.flatnonzero(np.r_[True, unit_model[1:] != unit_model[:-1]])
    present = np.zeros(n_models, dtype=bool)
    present[unit_model[starts]] = True
    if not present.all():
        raise ValueError("every model needs a unit")

    def per_model(x: np.ndarray) -> np.ndarray:
        return np.add.reduceat(x, starts, axis=0)

    total1, total = per_model(w1), per_model(wn)
    absent = total == 0
    wins_all = (total1 == total) & ~absent
    loses_all = (total1 == 0) & ~absent
    out = (absent | wins_all | loses_all)[unit_model]
    w1 = np.where(out, 0.0, w1)
    wn = np.where(out, 0.0, wn)
    pairs = [(j, l) for j in range(k) for l in range(j, k)]
    products = [features[:, j] * features[:, l] for j, l in pairs]

    def objective(eta: np.ndarray) -> np.ndarray:
        return (wn * np.logaddexp(0.0, eta) - w1 * eta).sum(axis=0)

    theta = np.zeros((n_models, rounds))
    beta = np.zeros((k, rounds))
    if init is not None:
        theta += np.where(np.isfinite(init[0]), init[0], 0.0)[:, None]
        beta += np.asarray(init[1], dtype=float).reshape(k, 1)
    eta = theta[unit_model] + features @ beta
    value = objective(eta)
    converged = False
    for _ in range(max_iter):
        p = expit(eta)
        resid = wn * p - w1
        h = wn * p * (1.0 - p)
        grad_theta = per_model(resid)
        grad_beta = features.T @ resid
        diag = per_model(h)
        diag = np.where(diag > 0, diag, 1.0)  # models out of the fit: zero gradient, no step
        cross = np.stack([per_model(h * features[:, j : j + 1]) for j in range(k)]) if k else np.zeros((0, n_models, rounds))
        if k:
            schur = np.empty((k, k, rounds))
            for (j, l), prod in zip(pairs, products):
                schur[j, l] = schur[l, j] = prod @ h
            scaled = cross / diag
            schur -= np.einsum("jmr,lmr->jlr", scaled, cross)
            rhs = grad_beta - np.einsum("jmr,mr->jr", scaled, grad_theta)
            try:
                step_beta = np.linalg.solve(schur.transpose(2, 0, 1), rhs.T[..., None])[..., 0].T
            except np.linalg.LinAlgError:
                step_beta = np.einsum("rjl,lr->jr", np.linalg.pinv(schur.transpose(2, 0, 1)), rhs)
            step_theta = (grad_theta - np.einsum("jmr,jr->mr", cross, step_beta)) / diag
        else:
            step_beta = np.zeros((0, rounds))
            step_theta = grad_theta / diag
        t = np.ones(rounds)
        for _halving in range(50):
            new_theta, new_beta = theta - t * step_theta, beta - t * step_beta
            new_eta = new_theta[unit_model] + features @ new_beta
            new_value = objective(new_eta)
            better = new_value <= value + 1e-12 * np.abs(value)
            if better.all():
                break
            t = np.where(better, t, t / 2)
        theta, beta, eta, value = new_theta, new_beta, new_eta, new_value
        size = max(np.abs(t * step_theta).max(initial=0.0), np.abs(t * step_beta).max(initial=0.0))
        if size < tol:
            converged = True
            break
    theta = np.where(wins_all, np.inf, np.where(loses_all, -np.inf, np.where(absent, np.nan, theta)))
    return theta, beta, converged


def v2_bootstrap_weights(design: V2StyleDesign, num_rounds: int,
                         rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """(w1, wn) of shape (units, rounds): per round, the rows drawn as upstream's
    np.random.randint(0, N, size=(rounds, N)) (the same draws, made one round at a time) summed
    per unit: their scores and their number."""
    n = len(design.row_unit)
    units = len(design.unit_model)
    w1 = np.empty((units, num_rounds))
    wn = np.empty((units, num_rounds))
    for r in range(num_rounds):
        counts = np.bincount(rng.randint(0, n, n), minlength=n).astype(float)
        wn[:, r] = np.bincount(design.row_unit, counts, units)
        w1[:, r] = np.bincount(design.row_unit, counts * design.row_score, units)
    return w1, wn


V2_CELLS_PER_CHUNK = 2_000_000  # units x rounds fitted at once (memory: about 10 arrays of this size)


def v2_style_leaderboard(rows: V2Category, design: V2StyleDesign, num_rounds: int,
                         rng: np.random.RandomState) -> V2Leaderboard:
    """Upstream's style-controlled table: per round the fit's win rate against the baseline,
    e^theta_m / (e^theta_m + e^theta_baseline); score = median over rounds, 5% and 95% quantiles;
    feature coefficients = their medians; ratings: the median theta on the Elo scale."""
    n_models = len(rows.models)
    units = len(design.unit_model)
    chunk = max(1, V2_CELLS_PER_CHUNK // max(1, units))
    thetas, betas = [], []
    not_converged = 0
    with single_threaded_blas():
        # the fit on all rows: where each round's fit starts (bootstrap fits lie close to it)
        all_w1 = np.bincount(design.row_unit, design.row_score, units)[:, None]
        all_wn = np.bincount(design.row_unit, minlength=units).astype(float)[:, None]
        theta, beta, _ = fit_v2_style(design.unit_model, design.features, all_w1, all_wn, n_models)
        start_from = (theta[:, 0], beta[:, 0])
        for start in range(0, num_rounds, chunk):
            w1, wn = v2_bootstrap_weights(design, min(chunk, num_rounds - start), rng)
            theta, beta, converged = fit_v2_style(design.unit_model, design.features, w1, wn, n_models, start_from)
            thetas.append(theta)
            betas.append(beta)
            not_converged += not converged
    if not_converged:
        log.warning("category %s: the style-control fit did not converge in some bootstrap rounds", rows.category)
    theta = np.concatenate(thetas, axis=1)
    beta = np.concatenate(betas, axis=1)
    _warn_v2_separated(rows, theta)
    names = sorted(rows.models + [rows.baseline])
    win = np.full((num_rounds, len(names)), 0.5)
    ratings = np.full(len(names), INIT_RATING)
    for j, model in enumerate(rows.models):
        win[:, names.index(model)] = expit(theta[j])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a model absent from every round: NaN
        lower, score, upper = np.nanpercentile(win, [V2_PERCENTILES[0], 50.0, V2_PERCENTILES[1]], axis=0)
        for j, model in enumerate(rows.models):
            ratings[names.index(model)] += SCALE / LN10 * np.nanmedian(theta[j])
    coefs = np.zeros(len(design.columns))
    fitted = [j for j, c in enumerate(design.columns) if c not in design.constant]
    if fitted and num_rounds:
        coefs[fitted] = np.percentile(beta, 50.0, axis=1)
    return V2Leaderboard(rows.category, rows.baseline, names, score, lower, upper, rounds=win, feature_coefs=coefs,
                         ratings=ratings)


def _warn_v2_separated(rows: V2Category, theta: np.ndarray) -> None:
    rounds = theta.shape[1]
    for j, model in enumerate(rows.models):
        infinite = int(np.isinf(theta[j]).sum())
        if infinite:
            log.warning("category %s: model %r won or lost every drawn row in %d of %d bootstrap rounds (win rate "
                        "1 or 0 there, the fit's limit)", rows.category, model, infinite, rounds)


def v2_avg_tokens(judgments: V2Judgments, rows: V2Category, answers: dict[str, AnswerInfo]) -> dict[str, int]:
    """Per table name, the mean token_len (truncated) of the model's answers to the category's
    questions it was judged on; for the baseline, of its answers to all of them."""
    names, name_code = judgments.codes("model")
    uids, uid_code = judgments.codes("uid")
    judged = np.unique(name_code[rows.records] * len(uids) + uid_code[rows.records])  # (model, question) pairs
    judged_name, judged_uid = np.divmod(judged, len(uids))
    # per model's full name, the questions it was judged on (indices into uids)
    questions = {names[c]: judged_uid[judged_name == c] for c in np.unique(judged_name)}
    questions[rows.baseline] = np.union1d(questions.get(rows.baseline, []), uid_code[rows.records]).astype(np.int64)
    lengths: dict[str, list[float]] = {}
    for model, these in questions.items():
        info = answers.get(model)
        if info is None:
            continue
        found = [length for length in map(info.token_lens.get, (uids[u] for u in these)) if length is not None]
        if found:
            lengths.setdefault(model_tail(model) if model != rows.baseline else model, []).extend(found)
    return {name: int(sum(values) / len(values)) for name, values in lengths.items()}


def v2_category_judgments(judgments: V2Judgments, category: str, baseline: str) -> list[Judgment]:
    """The category's records as v0.1 judgments (labels of the same meaning, table names), null
    ones included, for --full-stats and the judge diagnostics of --quality."""
    out = []
    for i, c in enumerate(judgments.category):
        tail = model_tail(judgments.model[i])
        if c != category or tail == baseline:
            continue
        games = [None if label is None else Game(user_prompt="", judgment="", score=V2_SAME_LABEL.get(label))
                 for label in judgments.labels[i]]
        judgment = Judgment(question_id=judgments.uid[i], model=tail, judge="", games=games)
        if judgments.usage[i] is not None:
            judgment[USAGE_KEY] = judgments.usage[i]  # type: ignore[literal-required]
        out.append(judgment)
    return out


def v2_judges(args: argparse.Namespace, given: argparse.Namespace) -> list[str]:
    """-j/--judge-names, else --judge-name, else judge_model of a judge config for this bench
    (--setting-file, or config/judge_config.yaml), else upstream v2.0's gpt-4.1."""
    if args.judge_names:
        if given.judge_name is not None:
            raise ConfigError("give --judge-name or -j/--judge-names, not both")
        return list(args.judge_names)
    if given.judge_name is not None:
        return [given.judge_name]
    path = args.setting_file or (DEFAULT_SETTING_FILE if DEFAULT_SETTING_FILE.is_file() else None)
    configured = judge_config_defaults(path) if path is not None else {}
    if configured.get("bench_name") == args.bench_name and configured.get("judge_name"):
        return [configured["judge_name"]]
    return [V2_JUDGE]


V01_STYLE_FLAGS = {"style_control": ["length", "markdown"], "length_control_only": ["length"],
                   "markdown_control_only": ["markdown"]}


def v2_control_features(args: argparse.Namespace) -> list[str]:
    """-f/--control-features as given, or what v0.1's style flag means."""
    style_flags = [flag for flag in V01_STYLE_FLAGS if getattr(args, flag)]
    if args.control_features and style_flags:
        raise ConfigError(f"give --control-features or --{style_flags[0].replace('_', '-')}, not both")
    if style_flags:
        return list(V01_STYLE_FLAGS[style_flags[0]])
    return list(args.control_features or [])


def v2_unsupported_flags(args: argparse.Namespace, given: argparse.Namespace) -> list[str]:
    flags = [("--show-elo", args.show_elo), ("--load-battles", args.load_battles),
             ("--load-bootstrap", args.load_bootstrap), ("--first-game-only", args.first_game_only),
             ("--baseline", given.baseline is not None)]
    return [flag for flag, on in flags if on]


# Why a v0.1 flag is refused on a v2.0 bench, where it is not only that upstream v2.0 has no such flag.
V2_REFUSED_BECAUSE = {"--baseline": "each category's baseline comes from its judgments"}


V2_NO_RATINGS = "v2.0's plain score is a mean score, not a Bradley-Terry rating"


def v2_ratings(board: V2Leaderboard) -> dict:
    """quality_report's `ratings` of a v2.0 table (style control: its Bradley-Terry ratings), or
    its `no_ratings` (plain: why there are none)."""
    if board.ratings is None:
        return {"no_ratings": V2_NO_RATINGS}
    return {"ratings": dict(zip(board.models, map(float, board.ratings)))}


def write_v2_outputs(args: argparse.Namespace, judges: list[str], category: str, board: V2Leaderboard,
                     rows: list[Row], features: list[str], several: bool, report: dict | None) -> None:
    """--output: leaderboard/arena_hard_leaderboard_DATE_<category>.csv (and, with --quality,
    arena_hard_quality_DATE_<category>.json); --plot: the chart (the category added to its file
    name when there are several)."""
    judge_name = "+".join(judges)
    if args.output:
        path = write_leaderboard_csv(rows, args.leaderboard_dir, bench_name=args.bench_name, judge_name=judge_name,
                                     name_suffix="_" + safe_name(category))
        log.info("wrote %s", path)
        if report is not None:
            report.update(bench_name=args.bench_name, judge_name=judge_name, category=category,
                          baseline=board.baseline, control_features=features, interval_percent=V2_INTERVAL_PERCENT,
                          reference_ranking=str(args.reference_ranking or "") or None)
            write_quality_json(path, report)
    if args.plot:
        path = args.plot.with_name(f"{args.plot.stem}_{safe_name(category)}{args.plot.suffix}") if several else args.plot
        mode = f"style-controlled ({' and '.join(features)})" if features else "plain"
        title = f"{args.bench_name} {category}, judge {judge_name}, {mode} (90% bootstrap intervals)"
        plot_leaderboard(rows, path, title)
        log.info("wrote %s", path)


def run_v2(args: argparse.Namespace, given: argparse.Namespace) -> int:
    """The v2.0 leaderboard: one table per category, judges pooled."""
    unsupported = v2_unsupported_flags(args, given)
    if unsupported:
        flags = ", ".join(f"{flag} ({V2_REFUSED_BECAUSE.get(flag, 'v0.1 only')})" for flag in unsupported)
        raise ConfigError(f"{flags}: not available on a v2.0 bench ({args.bench_name})")
    judges = v2_judges(args, given)
    features = v2_control_features(args)
    columns = tuple(sorted({c for name in features for c in V2_FEATURE_COLUMNS[name]}))
    categories = list(args.category or [V2_CATEGORY])
    reference = read_reference_ranking(args.reference_ranking) if args.reference_ranking else None
    judgments = V2Judgments()
    for judge in judges:
        directory = judgment_dir(args.bench_name, judge, args.data_dir)
        if not directory.is_dir():
            raise ConfigError(f"{directory}: judgment folder not found (judge {judge!r}, bench {args.bench_name!r}; "
                              "run gen_judgment.py first)")
        print(f"Loading {judge} judgments...")
        read_v2_judgments(directory, judgments, args.weight)
    if not judgments.uid:
        raise ConfigError(f"no judgments found for {', '.join(judges)} in bench {args.bench_name!r}")
    print(f"Number of null judgments found: {judgments.null_count}")
    kept = judgments.kept
    found = sorted({c for c, k in zip(judgments.category, kept) if k})
    for category in categories:
        if category not in found:
            raise ConfigError(f"category {category!r}: no judgment with two verdicts (categories: {', '.join(found)})")
    answers_path = answer_dir(args.bench_name, args.data_dir)
    answers = read_v2_answers(answers_path, with_style=bool(features))
    rng = np.random.RandomState(args.seed)  # upstream draws from the global RNG, one run, category after category
    for category in categories:
        rows = v2_category(judgments, category)
        if not rows.models:
            raise ConfigError(f"category {category!r}: no judged model besides the baseline {rows.baseline!r}")
        if features:
            print(f"INFO: Control features: {features}")
            design = v2_style_design(judgments, rows, answers, columns, answers_path)
            board = v2_style_leaderboard(rows, design, args.num_rounds, rng)
        else:
            board = v2_plain_leaderboard(rows, args.num_rounds, rng)
        table = v2_table_rows(board, v2_avg_tokens(judgments, rows, answers))
        print(f"##### Category: {category} #####")
        print(format_v2_table(table))
        if features:
            print(f"Feature Coefs: {format_torch_vector(board.feature_coefs)}")
        leaderboard = [Row(model=r["Model"], score=r["score"], lower=r["lower"], upper=r["upper"],
                           avg_tokens=r["Avg Tokens"]) for r in table]
        category_judgments = (v2_category_judgments(judgments, category, rows.baseline)
                              if args.full_stats or args.quality else None)
        intervals = {r["model"]: (r["score"], r["lower"], r["upper"]) for r in leaderboard}
        report = print_stats(args, leaderboard, category_judgments, bench_dir(args.bench_name, args.data_dir),
                             intervals, reference, board.models, board.rounds, interval_percent=V2_INTERVAL_PERCENT,
                             **v2_ratings(board))
        write_v2_outputs(args, judges, category, board, leaderboard, features, len(categories) > 1, report)
    return 0


def v2_flags_on_v01(args: argparse.Namespace, given: argparse.Namespace) -> None:
    """Read upstream v2.0's flags on a v0.1 bench: one judge of -j as --judge-name, -f as the
    style flag of the same meaning; --category and several judges are v2.0 only."""
    bench = bench_dir(args.bench_name, args.data_dir)
    if (args.category or args.judge_names or args.control_features) and not bench.is_dir():
        raise ConfigError(f"{bench}: bench folder not found")
    if args.category:
        raise ConfigError(f"--category works on v2.0 benches; {args.bench_name} holds v0.1 records")
    if args.judge_names:
        if len(args.judge_names) > 1 or given.judge_name is not None:
            raise ConfigError(f"several judges (-j) work on v2.0 benches; {args.bench_name} holds v0.1 records")
        args.judge_name = args.judge_names[0]
    if args.control_features:
        if style_mode(args):
            raise ConfigError("give --control-features or a style flag, not both")
        chosen = set(args.control_features)
        flag = "style_control" if chosen == {"length", "markdown"} else f"{chosen.pop()}_control_only"
        setattr(args, flag, True)


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
    parser.add_argument("--bench-name", "--benchmark", "-b", type=str, default=None,
                        help="default: bench_name of --setting-file, else arena-hard-v0.1 (arena-hard-v2.0 with "
                             "-j, -c or -f)")
    parser.add_argument("--judge-name", type=str, default=None,
                        help="default: judge_model of --setting-file, else gpt-4-1106-preview (gpt-4.1 on v2.0)")
    parser.add_argument("--judge-names", "-j", nargs="+", default=None, metavar="JUDGE",
                        help="v2.0: judges whose judgments are pooled into one leaderboard (default gpt-4.1)")
    parser.add_argument("--category", "-c", nargs="+", default=None, metavar="CATEGORY",
                        help=f"v2.0: categories, each its own table (default {V2_CATEGORY})")
    parser.add_argument("--control-features", "-f", nargs="+", default=None, choices=tuple(V2_FEATURE_COLUMNS),
                        help="style features to control for (v2.0's way of saying --style-control and co.)")
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
                              f"conv_metadata; {annotate_hint(info.path.parent)}")
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
        print_full_stats(judgments, [], first_game_only)
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
                boot: np.ndarray, *, interval_percent: int = 95, ratings: dict[str, float] | None = None,
                no_ratings: str | None = None) -> dict | None:
    """--full-stats and --quality after the table; returns the quality report (None without
    --quality). ratings and no_ratings: as quality_report's."""
    order = [r["model"] for r in rows]
    if args.full_stats:
        if judgments is None:
            log.warning("--full-stats needs the judgments in %s; not found", judges_path)
        else:
            print()
            print_full_stats(judgments, order, args.first_game_only)
    if not args.quality:
        return None
    if judgments is None:
        log.warning("judge diagnostics need the judgments in %s; not found", judges_path)
    report = quality_report(intervals, judgments, reference, boot_models, boot, ratings=ratings, no_ratings=no_ratings)
    print()
    for line in format_quality(report, order, interval_percent):
        print(line)
    return report


def write_quality_json(leaderboard_csv: Path, report: dict) -> None:
    """The quality report beside its leaderboard CSV: arena_hard_quality_<the CSV's suffix>.json; atomic."""
    path = leaderboard_csv.with_name(leaderboard_csv.name.replace("arena_hard_leaderboard_", "arena_hard_quality_"))
    path = path.with_suffix(".json")
    write_atomic(path, [(json.dumps(report, indent=2) + "\n").encode("utf-8")])
    log.info("wrote %s", path)


def write_outputs(args: argparse.Namespace, rows: list[Row], report: dict | None, mode: str | None) -> None:
    """--output: the leaderboard CSV (and the quality JSON with --quality); --plot: the chart."""
    if args.output:
        path = write_leaderboard_csv(rows, args.leaderboard_dir, bench_name=args.bench_name,
                                     judge_name=args.judge_name)
        log.info("wrote %s", path)
        if report is not None:
            report.update(bench_name=args.bench_name, judge_name=args.judge_name, baseline=args.baseline,
                          style_control=mode, reference_ranking=str(args.reference_ranking or "") or None)
            write_quality_json(path, report)
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
    # Ctrl-C: the battles, bootstrap, CSV and quality files and the chart are written atomically
    return run_script(functools.partial(show, args))


def show(args: argparse.Namespace) -> int:
    """apply_defaults, then run; a file or folder that cannot be read or written raises DataError."""
    try:
        with InterruptGuard():  # as gen_answer and gen_judgment
            given = argparse.Namespace(**vars(args))
            if (args.bench_name is None and args.setting_file is None
                    and (args.judge_names or args.category or args.control_features)):
                args.bench_name = V2_BENCH  # upstream v2.0's command line
            apply_defaults(args)
            if is_v2_bench(bench_dir(args.bench_name, args.data_dir)):
                with gc_paused():
                    return run_v2(args, given)
            v2_flags_on_v01(args, given)
            return run(args)
    except OSError as e:  # e.g. a read-only data/ or leaderboard/, a file where a folder should be
        raise DataError(f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)) from None


if __name__ == "__main__":
    sys.exit(main())
