"""Shared plumbing for the Arena-Hard scripts: records, config, JSONL storage, model calls, pool.

Usage: imported by gen_answer.py, gen_judgment.py, show_result.py, add_markdown_info.py and
qa_browser.py; it has no command line of its own.
"""
from __future__ import annotations

import json
import logging
import os
import random
import re
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import yaml

log = logging.getLogger("arena_hard")

# --------------------------------------------------------------------------------------------
# Vocabulary: the records stored as JSON lines (formats of REFERENCE.md, unchanged from upstream)
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


Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}


class ConfigError(Exception):
    """A config file is unreadable or inconsistent; the message names the file and key."""


class DataError(Exception):
    """A data file is malformed; the message names the file and line."""


# --------------------------------------------------------------------------------------------
# File names for models, and the data layout
# --------------------------------------------------------------------------------------------


def model_to_filename(model: str) -> str:
    """Reversible, path-safe file name for a model name ('org/model' -> 'org%2Fmodel.jsonl')."""
    if not model or not isinstance(model, str):
        raise ValueError(f"invalid model name: {model!r}")
    # quote() keeps only letters, digits and "_.-~"; the rest (including '/', '\\', '%', NUL)
    # is percent-encoded, so the result never contains a path separator.
    return urllib.parse.quote(model, safe="") + ".jsonl"


def model_from_filename(filename: str | Path) -> str:
    """Inverse of model_to_filename (accepts a path; only its name is used)."""
    name = Path(filename).name
    if name.endswith(".jsonl"):
        name = name[: -len(".jsonl")]
    return urllib.parse.unquote(name)


def model_file(directory: str | Path, model: str) -> Path:
    """The JSONL file of `model` inside `directory`; never outside it."""
    directory = Path(directory)
    path = directory / model_to_filename(model)
    if path.parent != directory:  # cannot happen with quote(); kept as a guard
        raise ValueError(f"model name {model!r} escapes {directory}")
    return path


def bench_dir(bench_name: str, data_dir: str | Path = "data") -> Path:
    """data/<bench_name>, refusing names that would leave data_dir."""
    if not bench_name or "/" in bench_name or "\\" in bench_name or bench_name in (".", ".."):
        raise ConfigError(f"bench_name {bench_name!r} must be a plain folder name")
    return Path(data_dir) / bench_name


def answer_dir(bench_name: str, data_dir: str | Path = "data") -> Path:
    return bench_dir(bench_name, data_dir) / "model_answer"


def judgment_dir(bench_name: str, judge_model: str, data_dir: str | Path = "data") -> Path:
    # The judge name becomes one folder level, encoded the same way as model files.
    return bench_dir(bench_name, data_dir) / "model_judgment" / urllib.parse.quote(judge_model, safe="")


# --------------------------------------------------------------------------------------------
# Reading JSONL
# --------------------------------------------------------------------------------------------


def iter_jsonl(path: str | Path, *, allow_torn_tail: bool = True) -> Iterator[tuple[int, dict]]:
    """Yield (line number, record) for each non-blank line of a JSONL file.

    A last line without its newline that does not parse is a write cut short by a crash: it is
    dropped with a warning when allow_torn_tail, else an error. Any other bad line raises
    DataError naming file and line.
    """
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    # After the final "\n" split() leaves b""; anything else there is an unterminated last line.
    for i, raw in enumerate(lines):
        lineno = i + 1
        if not raw.strip():
            continue
        is_torn_candidate = i == len(lines) - 1  # no newline after it
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if is_torn_candidate and allow_torn_tail:
                log.warning("%s:%d: dropping incomplete last line (interrupted write)", path, lineno)
                continue
            raise DataError(f"{path}:{lineno}: invalid JSON ({e.msg if hasattr(e, 'msg') else e})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        yield lineno, record


def read_jsonl_by_id(path: str | Path, required: Sequence[str] = ("question_id",)) -> dict[str, dict]:
    """Records of a JSONL file keyed by question_id; for duplicated ids the last line wins."""
    records: dict[str, dict] = {}
    for lineno, record in iter_jsonl(path):
        for key in required:
            if key not in record:
                raise DataError(f"{path}:{lineno}: missing key {key!r}")
        records[str(record["question_id"])] = record
    return records


def load_questions(path: str | Path) -> list[Question]:
    """Questions in file order (a duplicated question_id keeps its first position, last content)."""
    records = read_jsonl_by_id(path, required=("question_id", "turns"))
    return list(records.values())  # type: ignore[return-value]


def load_model_answers(directory: str | Path) -> dict[str, dict[str, Answer]]:
    """{model name: {question_id: answer}} for every *.jsonl in an answer folder."""
    directory = Path(directory)
    answers: dict[str, dict[str, Answer]] = {}
    if not directory.is_dir():
        return answers
    for path in sorted(directory.glob("*.jsonl")):
        answers[model_from_filename(path)] = read_jsonl_by_id(path, ("question_id", "choices"))  # type: ignore[assignment]
    return answers


def load_judgments(directory: str | Path) -> dict[str, dict[str, Judgment]]:
    """{model name: {question_id: judgment}} for every *.jsonl in a judgment folder."""
    directory = Path(directory)
    judgments: dict[str, dict[str, Judgment]] = {}
    if not directory.is_dir():
        return judgments
    for path in sorted(directory.glob("*.jsonl")):
        judgments[model_from_filename(path)] = read_jsonl_by_id(path, ("question_id", "games"))  # type: ignore[assignment]
    return judgments


# --------------------------------------------------------------------------------------------
# Writing JSONL
# --------------------------------------------------------------------------------------------


def dumps_line(record: dict) -> bytes:
    """One record as a complete JSON line (UTF-8, non-ASCII kept as is, as upstream writes)."""
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


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
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        with open(self.path, "rb") as f:
            f.seek(max(0, size - 1))
            if f.read(1) == b"\n":
                return
            # Find the last newline; everything after it is an interrupted write.
            block = 1 << 16
            pos = size
            keep = 0
            while pos > 0:
                start = max(0, pos - block)
                f.seek(start)
                chunk = f.read(pos - start)
                idx = chunk.rfind(b"\n")
                if idx >= 0:
                    keep = start + idx + 1
                    break
                pos = start
        log.warning("%s: cutting an incomplete last line (%d bytes) left by an interrupted write",
                    self.path, size - keep)
        os.truncate(self.path, keep)

    def append(self, record: dict) -> None:
        line = dumps_line(record)
        with self._lock:
            written = os.write(self._fd, line)
            while written < len(line):  # regular files do not short-write in practice
                written += os.write(self._fd, line[written:])

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl_atomic(path: str | Path, records: Iterable[dict]) -> None:
    """Replace `path` with `records`, one per line, through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for record in records:
                f.write(dumps_line(record))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# --------------------------------------------------------------------------------------------
# Config files
# --------------------------------------------------------------------------------------------


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from a file; ConfigError naming the file for a missing file or bad YAML."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
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
