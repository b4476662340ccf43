"""Browse an Arena-Hard bench in a web page: questions, baseline and model answers, judgments.

Usage: python qa_browser.py [--host 127.0.0.1] [--port 7860] [--share] [--auth USER:PASS]
                            [--config-file config/judge_config.yaml] [--data-dir data]
                            [--leaderboard-dir leaderboard]
       python qa_browser.py --bench arena-hard-v2.0 [--data-dir data]   (a v2.0 bench)
       ARENA_HARD_AUTH=USER:PASS python qa_browser.py --share   (login kept out of `ps`)

The judge config (read and checked by gen_judgment.py's loader, so a file that opens here is
also valid for judging) gives bench_name, judge_model and baseline_model (none with
`baseline: false`). Questions are read at start; a model's answers and judgments are read the
first time that model is selected (and again when its file changes), so a bench with hundreds of
models opens in seconds. The Leaderboard tab shows the newest leaderboard CSV that show_result.py
made for this bench and judge each time it is selected; without one, verdict counts per model (each judgment file counted again only when it
changes).

With --bench (or a v2.0 judge config, one with a per-category `categories` table) the judge is
picked in the page among the bench's model_judgment folders, the models offered are those it
judged, and each judgment is shown against the baseline it names (v2.0 records), else the
question category's from the config. A reasoning model's thought, the judge's thought and the
prompt it saw are folded away in <details>.

Exit status: 0 when the server stops, 2 bad configuration or data (one-line error; also bad flags),
130 Ctrl-C before the server started.
"""
from __future__ import annotations

import argparse
import functools
import ipaddress
import logging
import os
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

from utils import (
    EXIT_OK,
    FULL_STATS_COLUMNS,
    LEADERBOARD_SOURCE_COLUMNS,
    Answer,
    ConfigError,
    DataError,
    Game,
    Judgment,
    Question,
    Turn,
    add_common_flags,
    answer_dir,
    answer_thought,
    answer_turns,
    bench_dir,
    check_bench_name,
    count_games,
    game_judgment_text,
    game_prompt_text,
    game_thought,
    is_v2,
    judgment_dir,
    load_judge_settings,
    load_questions,
    load_yaml,
    model_file,
    model_from_filename,
    played_games,
    question_turns,
    read_jsonl_by_id,
    record_id,
    register_secret,
    run_script,
    setup_logging,
    style_metadata,
    v01_label,
)

log = logging.getLogger("arena_hard.qa_browser")

ALL_CLUSTERS = "__all__"  # dropdown value meaning "no cluster filter"
NO_JUDGMENT = "no judgment yet"
NO_ANSWER = "no answer yet"
MALFORMED_ANSWER = "malformed answer record"
SNIPPET_CHARS = 90
WORD_JOINER = "\u2060"  # invisible, no line break: put after a "<" that could open markup
CACHED_MODELS = 16  # per folder; a model's judgments can take tens of MB
AUTH_ENV = "ARENA_HARD_AUTH"  # USER:PASS, read when --auth is not given
DEFAULT_CONFIG = "config/judge_config.yaml"
ANSWER_KEYS = ("question_id", "choices")
JUDGMENT_KEYS = ("question_id", "games")

_SCORE_WORDS = {
    "A>>B": "{a} is significantly better",
    "A>B": "{a} is slightly better",
    "A=B": "tie",
    "B>A": "{b} is slightly better",
    "B>>A": "{b} is significantly better",
}

# --------------------------------------------------------------------------------------------
# Pure helpers: labels, markdown, verdict rows (counts come from utils.count_games)
# --------------------------------------------------------------------------------------------


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The text on one line, cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def question_label(question: Question) -> str:
    """Dropdown label: the id and the start of the first turn (the search box matches both)."""
    return f"{record_id(question)} · {snippet(question_turns(question)[0])}"


def category_of(question: Question) -> str:
    return str(question.get("category") or "(no category)")


def cluster_of(question: Question) -> str:
    """v0.1's cluster, or a v2.0 question's subcategory."""
    return str(question.get("cluster") or question.get("subcategory") or "(no cluster)")


def categories(questions: Sequence[Question]) -> list[tuple[str, str]]:
    """(label with question count, category) in order of first appearance."""
    counts: dict[str, int] = {}
    for question in questions:
        counts[category_of(question)] = counts.get(category_of(question), 0) + 1
    return [(f"{name} ({n})", name) for name, n in counts.items()]


def clusters(questions: Sequence[Question], category: str) -> list[tuple[str, str]]:
    """Cluster choices of a category, sorted, after an "all clusters" entry."""
    counts: dict[str, int] = {}
    for question in questions:
        if category_of(question) == category:
            counts[cluster_of(question)] = counts.get(cluster_of(question), 0) + 1
    total = sum(counts.values())
    everything = "All subcategories" if any(is_v2(q) for q in questions) else "All clusters"
    return [(f"{everything} ({total})", ALL_CLUSTERS)] + [
        (f"{name} ({counts[name]})", name) for name in sorted(counts)
    ]


def question_choices(questions: Sequence[Question], category: str, cluster: str = ALL_CLUSTERS) -> list[tuple[str, str]]:
    """(label, question_id) for the questions of a category, optionally of one cluster."""
    return [
        (question_label(q), str(record_id(q)))
        for q in questions
        if category_of(q) == category and (cluster == ALL_CLUSTERS or cluster_of(q) == cluster)
    ]


_MARKUP_START = re.compile(r"<(?=[A-Za-z/!?])")  # a tag, end tag, comment, declaration or autolink


def inert_html(markdown: str) -> str:
    """The markdown with any raw HTML in it shown as text, never as markup.

    Answers and judgments are other people's text: a `<form>` or a `<div style="position:fixed">`
    in them must not reach the page. Every "<" that could open a tag, comment or autolink gets an
    invisible word joiner after it, so no markdown renderer and no browser sees markup there, in
    any context (Gradio's own sanitizer keeps forms, inputs and styles; its LaTeX and mermaid
    blocks insert their text as raw HTML). Escaping as &lt; would instead show "&lt;" inside
    code. Markdown itself (bold, tables, code) renders as before, and code shows "<" as written.
    Mermaid blocks are shown as code: mermaid would turn entities such as &lt;form&gt; into HTML.
    """
    text = _MARKUP_START.sub("<" + WORD_JOINER, markdown)
    return text.replace("```mermaid", "```" + WORD_JOINER + "mermaid")


def turns_markdown(turns: Sequence[Turn], what: str) -> str:
    """Each turn under its own heading when there are several, else the text alone."""
    if not turns:
        return f"_({what} has no turns)_"
    if len(turns) == 1:
        return str(turns[0].get("content", ""))
    return "\n\n".join(f"#### Turn {i}\n\n{turn.get('content', '')}" for i, turn in enumerate(turns, 1))


def question_markdown(question: Question) -> str:
    # The second line starts at column 0 so gr.Markdown's dedent (inspect.cleandoc) is a no-op.
    group = "subcategory" if is_v2(question) else "cluster"
    return (
        f"### Question `{record_id(question)}`\n"
        f"_category: {category_of(question)} · {group}: {cluster_of(question)}_\n\n"
        + turns_markdown([{"content": text} for text in question_turns(question)], "the question")
    )


def answer_markdown(answer: Answer | None, side: str, model: str, role: str) -> str:
    """An answer's first choice (the one the judge saw), each turn rendered as markdown."""
    header = f"### {side}: {model}\n_{role}"
    if answer is None:
        return f"{header}_\n\n**{NO_ANSWER}**"
    if is_v2(answer):  # one answer, the last message's content.answer (never the thought)
        try:
            [text] = answer_turns(answer)
        except ValueError as e:
            return f"{header}_\n\n**{MALFORMED_ANSWER}** ({e})"
        token_len = (style_metadata(answer) or {}).get("token_len")
        if isinstance(token_len, int):
            header += f" · {token_len} tokens"
        return f"{header}_\n\n{text}"
    choices = answer.get("choices") or []
    if not choices:
        return f"{header}_\n\n**the answer record has no choices**"
    turns = choices[0].get("turns", []) if isinstance(choices, list) and isinstance(choices[0], dict) else None
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        return (f"{header}_\n\n**{MALFORMED_ANSWER}** (expected "
                '`"choices": [{"turns": [{"content": ...}, ...]}, ...]`)')
    tokens = [t["token_len"] for t in turns if isinstance(t.get("token_len"), int)]
    if tokens:
        header += f" · {sum(tokens)} tokens"
    if len(choices) > 1:
        header += f" · choice 1 of {len(choices)}"
    return f"{header}_\n\n" + turns_markdown(turns, "the answer")


def verdict_words(score: str | None, a_name: str, b_name: str, label: str | None = None) -> str:
    """'A>B' -> 'A>B: <a> is slightly better'; None, an unknown label or a non-string -> unparsable.
    `label`: the v0.1 label of the score's meaning when it differs (a v2.0 label such as A<B)."""
    if score is None:
        return "no verdict label found (unparsable)"
    meaning = score if label is None else label
    if not isinstance(score, str) or meaning not in _SCORE_WORDS:
        return f"{score!s} (unknown label)"
    return f"{score}: " + _SCORE_WORDS[meaning].format(a=a_name, b=b_name)


def game_title(index: int, baseline: str | None, model: str) -> str:
    """Who was A and who was B in game `index` (game 2 swaps the answers)."""
    if baseline is None:  # baseline off: the judge saw the model's answer alone, as A
        return f"Game {index} (A = {model}; no baseline)"
    if index == 1:
        return f"Game 1 (A = baseline {baseline}, B = {model})"
    return f"Game {index} (A = {model}, B = baseline {baseline})"


def game_markdown(judgment: Judgment | None, index: int, baseline: str | None, model: str) -> str:
    """The judge's text and verdict for game `index` (1-based) of a judgment."""
    title = f"### {game_title(index, baseline, model)}"
    if judgment is None:
        return f"{title}\n**{NO_JUDGMENT}**"
    games = judgment.get("games")
    if is_v2(judgment) and isinstance(games, list) and len(games) >= index and games[index - 1] is None:
        return f"{title}\n**game {index} has no judgment** (null: the judge's call failed)"
    if not isinstance(games, list) or len(games) < index or games[index - 1] is None:
        return f"{title}\n**no game {index} in this judgment** (pairwise off?)"
    game: Game = games[index - 1]
    if not isinstance(game, dict):
        return f"{title}\n**malformed game record:** `{game!r}`"
    if baseline is None:
        a_name, b_name = model, "B"
    else:
        a_name, b_name = (baseline, model) if index == 1 else (model, baseline)
    verdict = verdict_words(game.get("score"), a_name, b_name, v01_label(judgment, game.get("score")))
    return f"{title}\n**Verdict: {verdict}**\n\n{game_judgment_text(game)}"


def folded(summary: str, inert_markdown: str) -> str:
    """A collapsed <details> block holding markdown already made inert (inert_html): the tags are
    ours, the text inside stays text. An unclosed code fence inside is closed first, so the block
    ends where it should."""
    if sum(line.lstrip().startswith("```") for line in inert_markdown.splitlines()) % 2:
        inert_markdown += "\n```"
    return f"\n\n<details><summary>{summary}</summary>\n\n{inert_markdown}\n\n</details>\n"


def answer_thought_text(answer: dict | None) -> str | None:
    """The thought of a reasoning model's v2.0 answer; None when there is none (or no answer)."""
    if answer is None:
        return None
    try:
        return answer_thought(answer) or None
    except ValueError:
        return None


def game_folds(judgment: dict | None, index: int) -> list[tuple[str, str]]:
    """(summary, text) of what a v2.0 game holds besides its verdict: the judge's thought and the
    prompt it was shown. Nothing for v0.1 games (their user_prompt is not kept)."""
    if judgment is None or not is_v2(judgment):
        return []
    games = judgment.get("games")
    if not isinstance(games, list) or len(games) < index or not isinstance(games[index - 1], dict):
        return []
    game = games[index - 1]
    folds = []
    thought = game_thought(game)
    if thought is not None:
        folds.append(("Judge's thinking", thought))
    prompt = game_prompt_text(game)
    if prompt:
        folds.append(("Prompt the judge saw", prompt))
    return folds


def verdict_rows(counts_by_model: dict[str, dict[str, int]]) -> list[dict[str, object]]:
    """Leaderboard rows from count_games per model, best first by
    win share = (wins + ties / 2) / games with a label."""
    rows: list[dict[str, object]] = []
    for model, counts in counts_by_model.items():
        labelled = sum(counts[c] for c in FULL_STATS_COLUMNS if c != "unparsable")
        won = counts["strong_wins"] + counts["wins"] + counts["ties"] / 2
        share = round(100 * won / labelled, 1) if labelled else None
        rows.append({"model": model, "win share %": share, "games": labelled + counts["unparsable"], **counts})
    rows.sort(key=lambda r: (r["win share %"] is None, -(r["win share %"] or 0), r["model"]))
    return rows


def leaderboard_csvs(directory: str | Path) -> list[Path]:
    """The leaderboard/arena_hard_leaderboard_YYYYMMDD.csv files, newest first (the date sorts by name)."""
    return sorted(Path(directory).glob("arena_hard_leaderboard_*.csv"), reverse=True)


def read_leaderboard(path: Path):
    """The leaderboard CSV as a DataFrame, or None (with a warning) when it cannot be read."""
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        log.warning("%s: cannot read the leaderboard (%s); showing verdict counts instead", path, e)
        return None


def latest_leaderboard(directory: Path | None, bench_name: str, judge_model: str):
    """(path, DataFrame) of the newest readable leaderboard CSV in `directory` that show_result.py
    made for this bench and judge (its bench_name and judge_name columns, left out of the table),
    or None. CSVs of other benches or judges, or without those columns (upstream's), are passed over."""
    for path in leaderboard_csvs(directory) if directory is not None else []:
        board = read_leaderboard(path)
        if board is None or not all(c in board.columns for c in LEADERBOARD_SOURCE_COLUMNS):
            continue
        made_from = board[list(LEADERBOARD_SOURCE_COLUMNS)].astype(str)
        if len(board) and (made_from == [bench_name, judge_model]).all(axis=None):
            return path, board.drop(columns=list(LEADERBOARD_SOURCE_COLUMNS))
    return None


def is_loopback(host: str) -> bool:
    """True when `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def parse_auth(value: str) -> tuple[str, str]:
    """'user:password' -> (user, password); the password may itself contain ':'."""
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise argparse.ArgumentTypeError("expected USER:PASS with a non-empty user and password")
    return user, password


# --------------------------------------------------------------------------------------------
# Lazy per-model storage
# --------------------------------------------------------------------------------------------


Stamp = tuple[int, int]  # (st_mtime_ns, st_size) of a file: a changed stamp means read it again


def file_stamp(path: Path) -> Stamp | None:
    """The file's stamp, or None when there is no such file."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


def drop_user_prompts(judgment: dict) -> dict:
    """The judgment without its games' user_prompt (the question and both answers again, most of a
    judgment file, never shown), changed in place. A v2.0 game's prompt (shown folded) keeps only
    the text of its user message: the system prompt is the same in every game of a category."""
    games = judgment.get("games")
    if isinstance(games, list):
        for game in games:
            if isinstance(game, dict):
                game.pop("user_prompt", None)
                if isinstance(game.get("prompt"), list):
                    game["prompt"] = game_prompt_text(game)
    return judgment


class ModelRecords:
    """{question_id: record} per model file of one folder, read when first asked for.

    A file is read again when its size or modification time changes (a judge run may still be
    appending); the last CACHED_MODELS files asked for stay in memory, each record passed through
    `shrink` first (e.g. drop_user_prompts) when given.
    """

    def __init__(self, directory: Path, required: tuple[str, ...], capacity: int = CACHED_MODELS,
                 shrink: Callable[[dict], dict] | None = None):
        self.directory = directory
        self.required = required
        self.capacity = capacity
        self.shrink = shrink
        self._cache: OrderedDict[str, tuple[Stamp, dict[str, dict]]] = OrderedDict()
        self._lock = threading.Lock()

    def models(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(model_from_filename(p) for p in self.directory.glob("*.jsonl"))

    def get(self, model: str) -> dict[str, dict]:
        """The model's records; {} when it has no file. Raises DataError for a malformed file."""
        path = model_file(self.directory, model)
        stamp = file_stamp(path)
        if stamp is None:
            return {}
        with self._lock:
            cached = self._cache.get(model)
            if cached is not None and cached[0] == stamp:
                self._cache.move_to_end(model)
                return cached[1]
        records = read_jsonl_by_id(path, self.required)  # outside the lock: other users keep browsing
        if self.shrink is not None:
            records = {qid: self.shrink(record) for qid, record in records.items()}
        with self._lock:
            self._cache[model] = (stamp, records)
            self._cache.move_to_end(model)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return records


def judgment_records(directory: Path, capacity: int = CACHED_MODELS) -> ModelRecords:
    """A judgment folder's ModelRecords, games kept without their user_prompt."""
    return ModelRecords(directory, JUDGMENT_KEYS, capacity, shrink=drop_user_prompts)


def file_verdict_counts(path: Path) -> dict[str, int]:
    """count_games over a judgment file: the last line of each question_id (what the browser
    shows), upstream's "$ERROR$" games as not played (played_games)."""
    judgments = read_jsonl_by_id(path, JUDGMENT_KEYS).values()
    return count_games({**j, "games": played_games(j["games"]) if isinstance(j["games"], list) else j["games"]}
                       for j in judgments)


class VerdictCounts:
    """file_verdict_counts of every judgment file in a folder, by model.

    Each model's counts (a small dict) are kept under its file's stamp and recounted only when the
    file changes; the files are read for counting alone, not through a ModelRecords cache.
    """

    def __init__(self, directory: Path):
        self.directory = directory
        self._cache: dict[str, tuple[Stamp, dict[str, int]]] = {}
        self._lock = threading.Lock()

    def by_model(self) -> dict[str, dict[str, int]]:
        """{model: counts}; a malformed file is logged and left out."""
        paths = sorted(self.directory.glob("*.jsonl")) if self.directory.is_dir() else []
        counts: dict[str, dict[str, int]] = {}
        for path in paths:
            model = model_from_filename(path)
            stamp = file_stamp(path)
            if stamp is None:  # removed meanwhile
                continue
            with self._lock:
                cached = self._cache.get(model)
            if cached is not None and cached[0] == stamp:
                counts[model] = cached[1]
                continue
            try:
                counts[model] = file_verdict_counts(path)
            except DataError as e:
                log.error("%s", e)
                continue
            with self._lock:
                self._cache[model] = (stamp, counts[model])
        with self._lock:  # forget models whose file is gone
            for model in set(self._cache) - {model_from_filename(p) for p in paths}:
                del self._cache[model]
        return counts


def verdict_table(counts: VerdictCounts):
    """The verdict-count leaderboard (verdict_rows) as a DataFrame."""
    import pandas as pd

    columns = ["model", "win share %", "games", *FULL_STATS_COLUMNS]
    return pd.DataFrame(verdict_rows(counts.by_model()), columns=columns)


def leaderboard_view(leaderboard_dir: Path | None, counts: VerdictCounts | None, bench_name: str,
                     judge_model: str):
    """(note in markdown, table) of the Leaderboard tab, read afresh: the newest leaderboard CSV
    of this bench and judge when one is readable, else verdict counts (`counts`; None with
    `baseline: false`)."""
    import pandas as pd

    latest = latest_leaderboard(leaderboard_dir, bench_name, judge_model)
    if latest is not None:
        return f"From `{latest[0]}`.", latest[1]
    none = f"No `leaderboard/arena_hard_leaderboard_*.csv` of bench `{bench_name}` and judge **{judge_model}** yet"
    if counts is None:
        return (f"{none}. Verdict counts against a baseline need one; the judge config has "
                "`baseline: false`."), pd.DataFrame()
    return (f"{none} (run show_result.py --output). "
            f"Verdict counts per model from the judgments of **{judge_model}**, each game read "
            "from the model's side (game 2 mirrored); win share = (wins + ties/2) / labelled games."
            ), verdict_table(counts)


# --------------------------------------------------------------------------------------------
# Config and the app
# --------------------------------------------------------------------------------------------


def selection_views(question: Question | None, model: str | None, answers: ModelRecords,
                    judgments: ModelRecords, baseline_model: str | None, *,
                    v2_bench: bool = False) -> tuple[str, str, str, str, str]:
    """Markdown of the question, answer A (baseline), answer B (model), game 1 and game 2, raw HTML
    in them made inert (inert_html).

    A judgment naming its baseline (v2.0 records) is shown against that baseline; otherwise
    `baseline_model` (the judge config's, or on a v2.0 bench the question category's) is used. A
    reasoning model's thought, the judge's thought and the prompt it saw are folded away."""
    if question is None:
        return ("_Pick a question._", "", "", "", "")
    question_id = str(record_id(question))
    try:
        judgment = judgments.get(model).get(question_id) if model else None
        named = judgment.get("baseline") if isinstance(judgment, dict) else None
        baseline = named if isinstance(named, str) and named else baseline_model
        baseline_answer = answers.get(baseline).get(question_id) if baseline else None
        model_answer = answers.get(model).get(question_id) if model else None
    except DataError as e:  # a malformed file is shown, not a crash
        log.error("%s", e)
        return (inert_html(question_markdown(question)), inert_html(f"**Cannot read the data:** `{e}`"), "", "", "")
    model_name = model or "(no model selected)"
    if baseline is None and v2_bench:
        answer_a = ("### A: baseline unknown\n_no judgment of this model on this question names its "
                    "baseline (and no judge config gives the category's)_")
    elif baseline is None:
        answer_a = "### A: no baseline\n_`baseline: false` in the judge config: the judge saw the model's answer alone_"
    else:
        answer_a = answer_markdown(baseline_answer, "A", baseline, "baseline")
    game_baseline = baseline if baseline is not None or not v2_bench else "(unknown)"
    views = [inert_html(view) for view in (  # every view holds other people's text
        question_markdown(question),
        answer_a,
        answer_markdown(model_answer, "B", model_name, "model"),
        game_markdown(judgment, 1, game_baseline, model_name),
        game_markdown(judgment, 2, game_baseline, model_name),
    )]
    for i, answer in ((1, baseline_answer), (2, model_answer)):
        thought = answer_thought_text(answer)
        if thought is not None:
            views[i] += folded("Thinking (reasoning model)", inert_html(thought))
    for i in (1, 2):
        for summary, text in game_folds(judgment, i):
            views[2 + i] += folded(summary, inert_html(text))
    return tuple(views)  # type: ignore[return-value]


def build_app(
    questions: Sequence[Question],
    answers: ModelRecords,
    judgments: ModelRecords,
    *,
    bench_name: str,
    judge_model: str,
    baseline_model: str | None,
    leaderboard_dir: Path | None = None,
    judge_folders: dict[str, ModelRecords] | None = None,
    category_baselines: dict[str, str] | None = None,
):
    """The Gradio Blocks of the browser; nothing is served until .launch().

    The Leaderboard tab reads leaderboard_dir's newest CSV whenever it is selected (see
    leaderboard_view); without a CSV it counts verdicts when selected, never at start.

    With `judge_folders` ({judge: its judgments}; a v2.0 bench), a Judge dropdown picks the folder,
    the models are those it judged, and each judgment is shown against the baseline it names
    (without one, the question category's in `category_baselines`).
    """
    import gradio as gr  # imported here: it takes seconds, and the pure helpers above do not need it

    v2_bench = judge_folders is not None
    by_id = {str(record_id(q)): q for q in questions}
    category_list = categories(questions)
    first_category = category_list[0][1] if category_list else None
    first_questions = question_choices(questions, first_category) if first_category else []
    judged = set(judgments.models())
    if v2_bench:
        model_list = sorted(judged)
        model_choices = [(m, m) for m in model_list]
        first_model = model_list[0] if model_list else None
    else:
        model_list = [m for m in answers.models() if m != baseline_model]
        model_choices = [(m if m in judged else f"{m} (no judgments)", m) for m in model_list]
        first_model = next((m for m in model_list if m in judged), model_list[0] if model_list else None)

    def judgments_of(judge: str | None) -> ModelRecords:
        return judge_folders.get(judge or "", judgments) if judge_folders is not None else judgments

    def on_category(category: str | None):
        choices = question_choices(questions, category) if category else []
        return (
            gr.Dropdown(choices=clusters(questions, category) if category else [], value=ALL_CLUSTERS),
            gr.Dropdown(choices=choices, value=choices[0][1] if choices else None),
        )

    def on_cluster(category: str | None, cluster: str | None):
        choices = question_choices(questions, category, cluster or ALL_CLUSTERS) if category else []
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

    def show(question_id: str | None, model: str | None, judge: str | None = None) -> tuple[str, str, str, str, str]:
        question = by_id.get(question_id or "")
        fallback = baseline_model
        if v2_bench:
            fallback = (category_baselines or {}).get(category_of(question)) if question else None
        return selection_views(question, model, answers, judgments_of(judge), fallback, v2_bench=v2_bench)

    def on_judge(judge: str | None, model: str | None):
        models = judgments_of(judge).models()
        return gr.Dropdown(choices=models, value=model if model in models else (models[0] if models else None))

    verdict_counts: dict[str, VerdictCounts] = {}  # by judge, made when the tab is first selected

    def on_leaderboard(judge: str | None = None):
        judge = judge or judge_model
        counts = None
        if baseline_model is not None or v2_bench:
            counts = verdict_counts.setdefault(judge, VerdictCounts(judgments_of(judge).directory))
        return leaderboard_view(leaderboard_dir, counts, bench_name, judge)

    with gr.Blocks(title=f"Arena-Hard browser: {bench_name}", analytics_enabled=False) as demo:
        if v2_bench:
            gr.Markdown(
                f"**Arena-Hard browser** · bench `{bench_name}` · {len(judge_folders)} judge folders · "
                f"baseline: the one each judgment names · {len(questions)} questions"
            )
        else:
            gr.Markdown(
                f"**Arena-Hard browser** · bench `{bench_name}` · judge **{judge_model}** · "
                f"baseline **{baseline_model or 'off'}** · {len(questions)} questions · {len(model_list)} models"
            )
        with gr.Tabs():
            with gr.Tab("Questions"):
                with gr.Row():
                    category = gr.Dropdown(category_list, value=first_category, label="Category",
                                           scale=1, elem_id="category")
                    cluster = gr.Dropdown(clusters(questions, first_category) if first_category else [],
                                          value=ALL_CLUSTERS, scale=1, elem_id="cluster",
                                          label="Subcategory" if any(is_v2(q) for q in questions) else "Cluster")
                    question_id = gr.Dropdown(first_questions, value=first_questions[0][1] if first_questions else None,
                                              label="Question (type to search)", filterable=True,
                                              scale=3, elem_id="question-select")
                    model = gr.Dropdown(model_choices, value=first_model,
                                        label="Model (B)", filterable=True, scale=1, elem_id="model-select")
                    judge = gr.Dropdown(sorted(judge_folders or {}), label="Judge",
                                        value=judge_model if judge_folders else None,
                                        scale=1, elem_id="judge-select", visible=v2_bench)
                # Heights in viewport units: question, both answers and both games fit one screen.
                question_view = gr.Markdown(elem_id="question", max_height="15vh", container=True, padding=True)
                with gr.Row(equal_height=True):
                    answer_a = gr.Markdown(elem_id="answer-a", max_height="31vh", container=True, padding=True)
                    answer_b = gr.Markdown(elem_id="answer-b", max_height="31vh", container=True, padding=True)
                with gr.Row(equal_height=True):
                    game_1 = gr.Markdown(elem_id="game-1", max_height="24vh", container=True, padding=True)
                    game_2 = gr.Markdown(elem_id="game-2", max_height="24vh", container=True, padding=True)
            with gr.Tab("Leaderboard", elem_id="leaderboard-tab") as leaderboard_tab:
                # A CSV present at start is shown at once; verdict counts wait for the tab's selection.
                latest = latest_leaderboard(leaderboard_dir, bench_name, judge_model)
                note = gr.Markdown(f"From `{latest[0]}`." if latest else "", elem_id="leaderboard-note")
                table = gr.Dataframe(latest[1] if latest else None, interactive=False, elem_id="leaderboard")
                leaderboard_tab.select(on_leaderboard, inputs=[judge] if v2_bench else None, outputs=[note, table])

        views = [question_view, answer_a, answer_b, game_1, game_2]
        selection = [question_id, model, judge] if v2_bench else [question_id, model]
        category.input(on_category, inputs=category, outputs=[cluster, question_id])
        cluster.input(on_cluster, inputs=[category, cluster], outputs=question_id)
        question_id.change(show, inputs=selection, outputs=views)
        model.change(show, inputs=selection, outputs=views)
        if v2_bench:
            judge.input(on_judge, inputs=[judge, model], outputs=model).then(show, inputs=selection, outputs=views)
        demo.load(show, inputs=selection, outputs=views)
    return demo


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to "
                             "the network, then use --auth)")
    parser.add_argument("--port", type=int, default=None, help="port (default: Gradio's, 7860 or the next free one)")
    parser.add_argument("--share", action="store_true", help="also publish a public gradio.live link")
    parser.add_argument("--auth", type=parse_auth, default=None, metavar="USER:PASS",
                        help=f"require this login (strongly advised with --share). Other local users can see "
                             f"command lines: prefer the environment variable {AUTH_ENV}=USER:PASS, read when "
                             "--auth is not given")
    parser.add_argument("--config-file", default=None,
                        help=f"judge config giving bench_name, judge_model, baseline_model (checked as for judging; "
                             f"default {DEFAULT_CONFIG}); a v2.0 config (with `categories`) gives the bench, the "
                             "first judge shown and each category's baseline")
    parser.add_argument("--bench", default=None, metavar="NAME",
                        help="browse <data-dir>/NAME with the judge chosen in the page among its model_judgment "
                             "folders and each judgment shown against the baseline it names (v2.0 records)")
    parser.add_argument("--data-dir", default="data", help="folder holding <bench_name>/ (default data)")
    parser.add_argument("--leaderboard-dir", default="leaderboard",
                        help="folder of arena_hard_leaderboard_*.csv (default leaderboard)")
    add_common_flags(parser)
    args = parser.parse_args(argv)
    if args.auth is None and os.environ.get(AUTH_ENV):
        try:
            args.auth = parse_auth(os.environ[AUTH_ENV])
        except argparse.ArgumentTypeError as e:
            parser.error(f"{AUTH_ENV}: {e}")
    if args.auth is not None:
        register_secret(args.auth[1])  # never printed, whatever a log message holds
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    return run_script(functools.partial(serve, args))


def v2_judge_config(path: str | Path) -> tuple[str, str, dict[str, str]] | None:
    """(bench_name, judge_model, {category: baseline}) of a v2.0 judge config (one with a
    per-category `categories` table), None for a v0.1 one; ConfigError naming file and key."""
    config = load_yaml(path)
    if "categories" not in config:
        return None
    table = config["categories"]
    if not isinstance(table, dict) or not all(isinstance(v, dict) and isinstance(v.get("baseline"), str)
                                              for v in table.values()):
        raise ConfigError(f"{path}: categories: expected {{category: {{baseline: name, ...}}}}")
    for key in ("bench_name", "judge_model"):
        if not isinstance(config.get(key), str) or not config[key]:
            raise ConfigError(f"{path}: {key}: expected a name, got {config.get(key)!r}")
    return (check_bench_name(config["bench_name"], f"{path}: bench_name"), config["judge_model"],
            {str(category): entry["baseline"] for category, entry in table.items()})


def bench_names(data_dir: str | Path) -> list[str]:
    """The benches of a data folder: its sub-folders holding a question.jsonl."""
    data_dir = Path(data_dir)
    return sorted(p.name for p in data_dir.iterdir() if (p / "question.jsonl").is_file()) if data_dir.is_dir() else []


def judge_names(bench_name: str, data_dir: str | Path) -> list[str]:
    """The judges with a folder under <bench>/model_judgment."""
    root = bench_dir(bench_name, data_dir) / "model_judgment"
    return sorted(model_from_filename(p.name) for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def serve(args: argparse.Namespace) -> int:
    """Read the config and questions, then serve the page until Ctrl-C; raises ConfigError / DataError."""
    config_file = args.config_file or DEFAULT_CONFIG
    settings, v2_config = None, None
    if args.bench is None or args.config_file:
        try:
            settings = load_judge_settings(config_file)
        except ConfigError:
            v2_config = v2_judge_config(config_file)  # one gen_judgment refuses may still name what is shown
            if v2_config is None:
                raise
        if settings is not None and settings.is_v2:
            v2_config = (check_bench_name(settings.bench_name, f"{config_file}: bench_name"), settings.judge_model,
                         {category: judge.baseline for category, judge in settings.categories.items()})
    judge_folders: dict[str, ModelRecords] | None = None
    category_baselines: dict[str, str] | None = None
    if args.bench is not None or v2_config is not None:  # judges picked in the page, baseline per judgment
        bench_name = check_bench_name(args.bench, "--bench") if args.bench is not None else v2_config[0]
        judge_model, category_baselines = (v2_config[1], v2_config[2]) if v2_config else (None, None)
        baseline_model = None
        judges = judge_names(bench_name, args.data_dir)
        judge_model = judge_model if judge_model in judges or not judges else judges[0]
        judge_folders = {judge: judgment_records(judgment_dir(bench_name, judge, args.data_dir)) for judge in judges}
        where = "--bench" if args.bench is not None else f"bench_name in {config_file}"
    else:
        assert settings is not None
        bench_name, judge_model, baseline_model = settings.bench_name, settings.judge_model, settings.baseline_model
        where = f"bench_name in {config_file}"
    question_file = bench_dir(bench_name, args.data_dir) / "question.jsonl"
    if not question_file.is_file():
        benches = ", ".join(bench_names(args.data_dir)) or "none"
        raise ConfigError(f"{question_file}: file not found (check --data-dir and {where}; "
                          f"benches in {args.data_dir}: {benches})")
    questions = load_questions(question_file)
    answers = ModelRecords(answer_dir(bench_name, args.data_dir), ANSWER_KEYS)
    if judge_folders is not None:
        judgment_root = bench_dir(bench_name, args.data_dir) / "model_judgment"
        if not judge_folders:
            log.warning("no judge folders under %s: nothing to browse until a judge has run", judgment_root)
        judge_model = judge_model or "(none)"
        judgments = judge_folders.get(judge_model) or judgment_records(judgment_root / "(none)")
    else:
        judgments = judgment_records(judgment_dir(bench_name, judge_model, args.data_dir))
    if baseline_model is not None and baseline_model not in answers.models():
        log.warning("no answers of the baseline %s in %s: column A will be empty", baseline_model, answers.directory)
    if args.auth is None and not is_loopback(args.host):
        log.warning(
            "!!! listening on %s without --auth: anyone who can reach this machine can read every "
            "question, answer and judgment under %s. Set %s=USER:PASS or add --auth USER:PASS, or "
            "leave out --host to listen on 127.0.0.1 only. !!!",
            args.host, bench_dir(bench_name, args.data_dir), AUTH_ENV,
        )
    demo = build_app(
        questions, answers, judgments,
        bench_name=bench_name, judge_model=judge_model, baseline_model=baseline_model,
        leaderboard_dir=Path(args.leaderboard_dir), judge_folders=judge_folders,
        category_baselines=category_baselines,
    )
    if args.share and args.auth is None:
        log.warning(
            "!!! --share without --auth: anyone with the public gradio.live link can read every "
            "question, answer and judgment under %s. Set %s=USER:PASS or add --auth USER:PASS. !!!",
            bench_dir(bench_name, args.data_dir), AUTH_ENV,
        )
    # run_history off: the browser would otherwise keep every selection as a saved "run". quiet:
    # Gradio's own lines advise `share=True` in launch(); this prints the command-line way instead.
    _, local_url, share_url = demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                                          auth=args.auth, run_history=False, quiet=True,
                                          prevent_thread_lock=True)
    print(url_lines(local_url, share_url, args.share), flush=True)
    demo.block_thread()  # until Ctrl-C
    return EXIT_OK


def url_lines(local_url: str, share_url: str | None, share: bool) -> str:
    """Where the page is, and how to publish it, in this script's own flags."""
    lines = [f"Browse the bench at {local_url} (Ctrl-C to stop)"]
    if share_url:
        lines.append(f"Public link: {share_url}")
    elif share:
        lines.append("No public link could be made (see the message above)")
    else:
        lines.append("For a public link, run again with --share --auth USER:PASS "
                     f"(or --share with {AUTH_ENV}=USER:PASS set)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
