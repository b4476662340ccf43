"""Have a judge model compare each model's answers with a baseline's (Arena-Hard pairwise judging).

Usage: python gen_judgment.py [--setting-file config/judge_config.yaml]
                              [--endpoint-file config/api_config.yaml] [--data-dir data] [--dry-run]
                              [--batch [--poll-interval SECONDS]] [--no-progress] [--verbose]
       python gen_judgment.py --setting-file config/arena-hard-v2.0.yaml    (Arena-Hard v2.0)

For every model of the setting file's model_list and every question it answered that has no
judgment yet, the judge plays two games (one when pairwise is off): game 1 shows the baseline
as Assistant A and the model as B, game 2 swaps them. Records go to
data/<bench>/model_judgment/<judge_model>/<model>.jsonl, one whole line per question, written
only when every game got a reply from the judge; a call that still fails after the retries of
utils.complete writes nothing, is redone on the next run and makes the exit status 1. The work goes
question by question across models (shared prompt prefixes together, for providers' prompt
caches); each record keeps the usage of its calls (utils.USAGE_KEY), and the summary gives this
run's tokens and, for a judge with a price, dollars. --dry-run prints the requests, tokens and
dollars a run would take, calling nothing and writing nothing.

A v2.0 setting file (with `categories`) picks the baseline and system prompt by each question's
category, sends one request per game (no follow-up), reads the verdict with its list of
regex_patterns and writes upstream v2.0's records (uid, category, judge, model, baseline, games).
Differences from upstream (lmarena/arena-hard-auto): README, "Differences from upstream".

With --batch the same requests go through the judge's batch API (api_type openai, azure or anthropic; half
price, answered within 24 h): utils.run_batches, the batches of each judgment file listed in
<file>.batches.json until the run ends, so a rerun after a kill collects them instead of paying
again. The records are those of a direct run.

Each judgment file is held for the whole run (an advisory lock on <file>.lock): a second run of
the same judge and model stops at once, naming the file and the other run's pid. A write that
fails mid-run (disk full, read-only folder) stops the run: no further pair is sent, and every
judgment already written stays.

Exit status: 0 done, 1 some judgments failed or could not be written (rerun to finish), 2 bad
config or data, or a judgment file held by another run or not writable (nothing sent), 130 Ctrl-C.
"""
from __future__ import annotations

import argparse
import functools
import logging
import re
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils import (
    DEFAULT_POLL_INTERVAL,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Answer,
    BatchGroup,
    ConfigError,
    DataError,
    Game,
    GameV2,
    InterruptGuard,
    JsonlAppender,
    JudgeSettings,
    Judgment,
    JudgmentV2,
    Message,
    ModelConfig,
    Question,
    add_cost_flags,
    add_common_flags,
    api_output,
    answer_model,
    answer_turns,
    batch_state_file,
    bench_dir,
    check_batch_flags,
    check_batch_models,
    check_endpoints,
    check_sampling,
    check_model_name,
    claim_output,
    ESTIMATE_SAMPLE,
    CostEstimate,
    OutputEstimate,
    describe_price,
    describe_spending,
    estimate_output,
    estimate_requests,
    print_estimate,
    iter_jsonl,
    preview_requests,
    drop_superseded_lines,
    is_complete_answer,
    is_complete_judgment,
    judgment_dir,
    listed_batches_notes,
    load_api_config,
    load_judge_settings,
    load_questions,
    model_file,
    plural,
    question_turns,
    read_jsonl_by_id,
    record_id,
    record_usage,
    refuse_saved_batches,
    Request,
    Steps,
    Usage,
    metered,
    require_models,
    run_batches,
    run_pool,
    run_script,
    run_steps,
    setup_logging,
    together,
    with_usage,
)

log = logging.getLogger("arena_hard.gen_judgment")

# Sent, as upstream does, when a judge reply holds no verdict label.
CONTINUE_PROMPT = "continue your judgment and finish by outputting a final verdict label"


@dataclass(frozen=True)
class PairTask:
    """One question to judge for one model: the user messages of each game, ready to send."""

    question_id: Any  # as in the question file (a string for every upstream question)
    model: str
    games: tuple[tuple[str, ...], ...]  # per game, the filled templates in order


@dataclass(frozen=True)
class PairTaskV2:
    """One question to judge for one model under a v2.0 config: the messages of each game, ready
    to send, and any game a stored record already holds (kept, not sent again)."""

    question_id: str  # the question's uid
    category: str
    model: str  # the model_list name (its judgment file)
    record_model: str  # the record's "model" and "baseline": the answers' own `model` fields
    record_baseline: str
    games: tuple[tuple[Message, ...], ...]  # per game: [system, user]
    kept: tuple[GameV2 | None, ...] = (None, None)


@dataclass(frozen=True)
class PairFailure:
    """A judge call that failed after its retries: nothing is written for the pair (the replies
    it did get were paid for: their usage)."""

    error: str
    usage: Usage = Usage()


@dataclass
class VerdictTally:
    """What a run stored for one model: games judged, and how many of them got no verdict."""

    games: int = 0
    no_verdict: int = 0


@dataclass
class ModelCounts:
    """How the questions of one model were sorted while building the work list."""

    to_judge: int = 0
    cached: int = 0
    no_answer: list[str] = field(default_factory=list)
    no_baseline: dict[str, list[str]] = field(default_factory=dict)  # by baseline
    no_reference: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Pure functions: verdicts and prompts
# --------------------------------------------------------------------------------------------


def parse_verdict(text: str, pattern: re.Pattern | str) -> tuple[str | None, bool]:
    """(label, try_again) of a judge's text, with upstream's rule.

    No label: (None, True), ask again. One distinct label, however often: (label, False).
    Several distinct labels: (None, False), the game counts as unparsable (score null).
    """
    matches = [m for m in re.findall(pattern, text) if m != ""]
    distinct = set(matches)
    if not distinct:
        return None, True
    if len(distinct) == 1:
        return matches[0].strip("\n"), False
    return None, False


def last_verdict(text: str, patterns: Sequence[re.Pattern | str]) -> str | None:
    """The label of a v2.0 judge reply, with upstream v2.0's rule: the reply is uppercased; the
    first pattern with a non-empty match gives its LAST match, newlines stripped; none: None."""
    upper = text.upper()
    for pattern in patterns:
        matches = [m for m in re.findall(pattern, upper) if m != ""]
        if matches:
            return matches[-1].strip("\n")
    return None


def build_game_prompt(templates: Sequence[str], question: Question, first: Answer | None, second: Answer,
                      references: Sequence[Answer] = ()) -> list[str]:
    """The user messages of one game: every template filled as upstream fills it.

    question_{i} are the question's turns; answer_{i} the turns of `first` (shown as Assistant A;
    None when there is no baseline) followed by those of `second`; ref_answer_{i+j+1} the turn i
    of reference j (upstream's numbering, which overlaps for several multi-turn references).
    Raises KeyError naming a placeholder the question and answers do not provide.
    """
    args = {f"question_{i + 1}": text for i, text in enumerate(question_turns(question))}
    base = 1
    if first is not None:
        for i, content in enumerate(answer_turns(first)):
            args[f"answer_{i + 1}"] = content
            base += 1
    for i, content in enumerate(answer_turns(second)):
        args[f"answer_{i + base}"] = content
    for j, reference in enumerate(references):
        for i, content in enumerate(answer_turns(reference)):
            args[f"ref_answer_{i + j + 1}"] = content
    return [template.format(**args) for template in templates]


def build_pair_prompts(settings: JudgeSettings, question: Question, answer: Answer, baseline: Answer | None,
                       references: Sequence[Answer] = ()) -> tuple[tuple[str, ...], ...]:
    """User messages of every game: game 1 baseline as A, game 2 (pairwise) the model as A."""
    game1 = build_game_prompt(settings.prompt_templates, question, baseline, answer, references)
    games = [tuple(game1)]
    if settings.pairwise:
        if baseline is None:  # nothing to swap: upstream plays the same game twice
            games.append(tuple(game1))
        else:
            games.append(tuple(build_game_prompt(settings.prompt_templates, question, answer, baseline, references)))
    return tuple(games)


def build_game_messages(template: str, system_prompt: str, question: dict, first: dict, second: dict
                        ) -> tuple[Message, ...]:
    """The [system, user] messages of one v2.0 game: `first` shown as Assistant A, `second` as B.
    Each answer is its answer text, never its thought. Either generation of records is read."""
    user = template.format(QUESTION=question_turns(question)[0], ANSWER_A=answer_turns(first)[-1],
                           ANSWER_B=answer_turns(second)[-1])
    return {"role": "system", "content": system_prompt}, {"role": "user", "content": user}


# --------------------------------------------------------------------------------------------
# Calling the judge
# --------------------------------------------------------------------------------------------


def play_game_steps(settings: JudgeSettings, user_prompts: Sequence[str]) -> Steps[Game | PairFailure]:
    """One game: send the prompts, ask again while no label is found, up to `attempts` replies."""
    conv: list[Message] = [{"role": "system", "content": settings.system_prompt}]
    conv += [{"role": "user", "content": prompt} for prompt in user_prompts]
    judgment = ""
    score = None
    for _ in range(settings.attempts):
        [reply] = yield [Request(conv, settings.temperature, settings.max_tokens)]
        if not reply.ok:
            return PairFailure(reply.error or "no reply")
        judgment += "\n" + reply.text  # upstream's format: every reply after a newline
        score, try_again = parse_verdict(judgment, settings.regex)
        if not try_again:
            break
        conv = conv + [{"role": "assistant", "content": reply.text}, {"role": "user", "content": CONTINUE_PROMPT}]
    return Game(user_prompt=user_prompts[0], judgment=judgment, score=score)


def judge_pair_steps(task: PairTask, settings: JudgeSettings) -> Steps[Judgment | PairFailure]:
    """Every game of one question for one model, played side by side: the whole record, or the
    first failure (then nothing is written: the pair is redone as a whole)."""
    games = yield from together([play_game_steps(settings, user_prompts) for user_prompts in task.games],
                                failed=lambda game: isinstance(game, PairFailure))
    failure = next((game for game in games if isinstance(game, PairFailure)), None)
    if failure is not None:
        return failure
    return Judgment(question_id=task.question_id, model=task.model, judge=settings.judge_model, games=games)


def judge_pair_v2_steps(task: PairTaskV2, settings: JudgeSettings) -> Steps[JudgmentV2 | PairFailure]:
    """Both games of a v2.0 pair, one request each (a kept game is not sent): the whole record
    in upstream v2.0's shape, or the first failure (then nothing is written)."""
    sent = [messages for messages, kept in zip(task.games, task.kept) if kept is None]
    replies = iter((yield [Request(list(messages), settings.temperature, settings.max_tokens) for messages in sent])
                   if sent else [])
    games: list[GameV2 | None] = []
    for messages, kept in zip(task.games, task.kept):
        if kept is not None:
            games.append(kept)
            continue
        reply = next(replies)
        if not reply.ok:
            return PairFailure(reply.error or "no reply")
        games.append(GameV2(score=last_verdict(reply.text, settings.regexes), judgment=api_output(reply.text, reply.thought),
                            prompt=list(messages)))
    return JudgmentV2(uid=task.question_id, category=task.category, judge=settings.judge_model,
                      model=task.record_model, baseline=task.record_baseline, games=games)


def pair_steps(task: PairTask | PairTaskV2, settings: JudgeSettings) -> Steps[Judgment | JudgmentV2 | PairFailure]:
    """The steps of judging one task, of either generation: the record with the usage of its
    calls (utils.USAGE_KEY), or the failure with the usage of the replies it got."""
    steps = judge_pair_v2_steps(task, settings) if isinstance(task, PairTaskV2) else judge_pair_steps(task, settings)
    result, usage = yield from metered(steps)
    if isinstance(result, PairFailure):
        return PairFailure(result.error, usage)
    return with_usage(result, usage)  # type: ignore[return-value]


def judge_pair(task: PairTask | PairTaskV2, judge: ModelConfig, settings: JudgeSettings
               ) -> Judgment | JudgmentV2 | PairFailure:
    """Judge one task with direct calls."""
    return run_steps(pair_steps(task, settings), judge)


# --------------------------------------------------------------------------------------------
# Config and work list
# --------------------------------------------------------------------------------------------


def load_answers_of(model: str, directories: Sequence[Path], role: str, setting_file: str | Path,
                    inputs: Sequence[Path] = ()) -> dict[str, Answer]:
    """{question_id: answer} of `model` from the first folder that has its file; ConfigError if none.
    In `inputs`, folders no script writes, an unterminated bad last line is an error, not an
    interrupted write."""
    for directory in directories:
        path = model_file(directory, model)
        if path.exists():
            return read_jsonl_by_id(path, ("question_id", "choices"),  # type: ignore[return-value]
                                    allow_torn_tail=directory not in inputs)
    tried = " or ".join(str(model_file(d, model)) for d in directories)
    raise ConfigError(f"{setting_file}: {role} {model!r} has no answers ({tried} not found; run gen_answer.py first)")


def check_categories(settings: JudgeSettings, questions: Sequence[dict], question_file: Path,
                     setting_file: str | Path) -> None:
    """ConfigError naming every question category that a v2.0 config's `categories` lacks."""
    missing = sorted({repr(q.get("category")) for q in questions
                      if not isinstance(q.get("category"), str) or q["category"] not in settings.categories})
    if missing:
        raise ConfigError(f"{setting_file}: categories: no entry for the question "
                          f"{'category' if len(missing) == 1 else 'categories'} {', '.join(missing)} of "
                          f"{question_file}: add its baseline and system_prompt")


def baseline_of(settings: JudgeSettings, question: dict) -> str | None:
    """The model whose answer a question's answers are compared with: by its category under a
    v2.0 config, else baseline_model (None: baseline off)."""
    if settings.is_v2:
        return settings.categories[question["category"]].baseline
    return settings.baseline_model


def baseline_roles(settings: JudgeSettings, questions: Sequence[dict]) -> dict[str, str]:
    """{baseline: the config key naming it} for every baseline the questions need."""
    if not settings.is_v2:
        return {settings.baseline_model: "baseline_model"} if settings.baseline_model else {}
    roles: dict[str, str] = {}
    for question in questions:
        category = question["category"]
        roles.setdefault(settings.categories[category].baseline, f"categories.{category}.baseline")
    return roles


def kept_games(previous: dict | None, games: Sequence[Sequence[Message]]) -> tuple[GameV2 | None, ...]:
    """The games of an earlier, unfinished record (upstream v2.0 stores a failed game as null)
    that need not be played again: each one that holds a reply and whose prompt is exactly the
    messages this run would send. None for every game to play."""
    old = previous.get("games") if previous is not None else None
    if not isinstance(old, list) or len(old) != len(games):
        return (None,) * len(games)

    def keep(game: Any, messages: Sequence[Message]) -> bool:
        judgment = game.get("judgment") if isinstance(game, dict) else None
        return (isinstance(judgment, dict) and isinstance(judgment.get("answer"), str) and "score" in game
                and game.get("prompt") == list(messages))

    return tuple(game if keep(game, messages) else None for game, messages in zip(old, games))


def make_task_v2(settings: JudgeSettings, question: dict, model: str, answer: dict, baseline: dict,
                 previous: dict | None) -> PairTaskV2:
    """The two games of a question under a v2.0 config: game 1 shows the baseline as A."""
    uid = str(record_id(question))
    if len(question_turns(question)) != 1:
        raise DataError(f"question {uid}: {len(question_turns(question))} turns; a v2.0 config judges "
                        "one-turn questions")
    category = question["category"]
    judge = settings.categories[category]
    template = settings.prompt_templates[0]
    games = (build_game_messages(template, judge.system_prompt, question, baseline, answer),
             build_game_messages(template, judge.system_prompt, question, answer, baseline))
    return PairTaskV2(question_id=uid, category=category, model=model,
                      record_model=answer_model(answer) or model,
                      record_baseline=answer_model(baseline) or judge.baseline,
                      games=games, kept=kept_games(previous, games))


def judged_so_far(path: Path) -> dict[str, dict | None]:
    """{question id: None} for each complete judgment in a judgment file, {question id: record}
    for an unfinished one (whose games may be kept); empty when there is no file."""
    if not path.exists():
        return {}
    return {qid: None if is_complete_judgment(record) else record
            for qid, record in read_jsonl_by_id(path, ("question_id", "games")).items()}


def build_work_list(settings: JudgeSettings, data_dir: str | Path, setting_file: str | Path
                    ) -> tuple[list[PairTask | PairTaskV2], dict[str, ModelCounts]]:
    """Every (question, model) pair still to judge, and per model how the questions were sorted.

    The pairs go question by question, every model's in turn: game 1 of each model on a question
    starts with the same system prompt, question and baseline answer, so requests sharing that
    prefix go out together and a provider's automatic prompt cache can serve it.

    Every file is read before anything is called: a model without answers is a ConfigError, and
    so is a question category a v2.0 config does not list; a template that needs more turns
    than a question has is a DataError.
    """
    root = bench_dir(settings.bench_name, data_dir)
    question_file = root / "question.jsonl"
    if not question_file.exists():
        raise ConfigError(f"{setting_file}: bench_name {settings.bench_name!r}: {question_file} not found")
    questions = load_questions(question_file)
    if settings.is_v2:
        check_categories(settings, questions, question_file, setting_file)
    answer_folder = root / "model_answer"
    answers = {model: load_answers_of(model, [answer_folder], "model_list entry", setting_file)
               for model in settings.model_list}
    baselines = {name: load_answers_of(name, [answer_folder], role, setting_file)
                 for name, role in baseline_roles(settings, questions).items()}
    # Reference answers belong in reference_answer/ (no script writes there); model_answer/ is accepted too.
    references = [load_answers_of(m, [root / "reference_answer", answer_folder], "ref_model", setting_file,
                                  inputs=[root / "reference_answer"])
                  for m in settings.ref_models]
    out_dir = judgment_dir(settings.bench_name, settings.judge_model, data_dir)

    tasks: list[PairTask | PairTaskV2] = []
    counts = {model: ModelCounts() for model in settings.model_list}
    unfinished = {model: judged_so_far(model_file(out_dir, model)) for model in settings.model_list}
    for question in questions:
        qid = str(record_id(question))
        for model in settings.model_list:
            count = counts[model]
            answer = answers[model].get(qid)
            if answer is None or not is_complete_answer(answer):
                count.no_answer.append(qid)
                continue
            if qid in unfinished[model] and unfinished[model][qid] is None:
                count.cached += 1
                continue
            previous = unfinished[model].get(qid)
            baseline = baseline_of(settings, question)
            base = baselines[baseline].get(qid) if baseline is not None else None
            if baseline is not None and (base is None or not is_complete_answer(base)):
                count.no_baseline.setdefault(baseline, []).append(qid)
                continue
            refs = [r.get(qid) for r in references]
            if any(r is None or not is_complete_answer(r) for r in refs):
                count.no_reference.append(qid)
                continue
            if settings.is_v2:
                try:
                    tasks.append(make_task_v2(settings, question, model, answer, base, previous))  # type: ignore[arg-type]
                except DataError as e:
                    raise DataError(f"{question_file}: {e}") from None
                count.to_judge += 1
                continue
            try:
                games = build_pair_prompts(settings, question, answer, base, refs)  # type: ignore[arg-type]
            except KeyError as e:
                raise DataError(f"{question_file}: question {qid}: prompt_template uses {{{e.args[0]}}}, "
                                f"which this question and its answers do not provide") from None
            tasks.append(PairTask(question["question_id"], model, games))
            count.to_judge += 1
    return tasks, counts


def report_counts(counts: dict[str, ModelCounts], settings: JudgeSettings) -> None:
    """One line per model, and a warning for every kind of skipped question."""

    def some(ids: list[str]) -> str:
        return ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")

    for model, c in counts.items():
        log.info("%s: %d to judge, %d already judged", model, c.to_judge, c.cached)
        if c.no_answer:
            log.warning("%s: %s no answer from this model (not judged): %s", model,
                        plural(len(c.no_answer), "question has", "questions have"), some(c.no_answer))
        for baseline, ids in c.no_baseline.items():
            log.warning("%s: %s skipped, no answer from the baseline %s: %s", model,
                        plural(len(ids), "question"), baseline, some(ids))
        if c.no_reference:
            log.warning("%s: %s skipped, no reference answer from %s: %s", model, plural(len(c.no_reference), "question"),
                        ", ".join(settings.ref_models), some(c.no_reference))


def judge_output_estimate(out_dir: Path, settings: JudgeSettings) -> OutputEstimate:
    """Output tokens a judge request, from the judge's stored judgments (of any model, newest
    files first, until ESTIMATE_SAMPLE with usage are found or five times as many read)."""
    records: list[dict] = []
    files = sorted(out_dir.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True) if out_dir.is_dir() else []
    for path in files:
        try:
            records += [record for _, record in iter_jsonl(path) if is_complete_judgment(record)]
        except DataError as e:  # not this run's file: it only makes the estimate
            log.warning("%s (not used for the estimate)", e)
        if (sum(record_usage(r) is not None for r in records) >= ESTIMATE_SAMPLE
                or len(records) >= 5 * ESTIMATE_SAMPLE):
            break
    return estimate_output(records, settings.max_tokens, f"judge {settings.judge_model}")


def print_dry_run(tasks: Sequence[PairTask | PairTaskV2], settings: JudgeSettings, judge: ModelConfig,
                  out_dir: Path, endpoint_file: str | Path) -> None:
    """Per model: the requests the run would send, their input tokens (counted on the exact
    messages), output tokens (estimated) and dollars, direct and batch. Nothing is called."""
    output = judge_output_estimate(out_dir, settings)
    rows = {model: CostEstimate() for model in settings.model_list}
    for task in tasks:  # the first request of each game: its follow-ups depend on the replies
        requests, _ = preview_requests(pair_steps(task, settings), rounds=1)
        rows[task.model] = rows[task.model] + estimate_requests(requests, output)
    requests_note = ("requests: one a game" if settings.attempts == 1 else
                     "requests: the first of each game; a reply without a verdict is asked again, up to "
                     f"{settings.attempts} requests a game (not counted)")
    print_estimate(f"dry run: judge {settings.judge_model} ({judge.model_name}), {plural(len(tasks), 'judgment')} "
                   "to make; nothing is called or written", {model: (row, judge.price) for model, row in rows.items()},
                   [requests_note, f"output: {output.describe()}",
                    describe_price(settings.judge_model, judge.price, endpoint_file),
                    *listed_batches_notes(model_file(out_dir, model) for model in rows if rows[model].requests)])


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


NO_VERDICT_WARN_SHARE = 0.2  # above this share of games without a verdict, the judge is suspect


def run_tally(tallies: dict[str, VerdictTally]) -> VerdictTally:
    """The tallies of every model added up."""
    return VerdictTally(sum(t.games for t in tallies.values()), sum(t.no_verdict for t in tallies.values()))


def report_no_verdicts(tallies: dict[str, VerdictTally], judge_model: str) -> None:
    """A warning per model, and for the whole run, whose share of games without a verdict is
    above NO_VERDICT_WARN_SHARE: such a judge probably does not follow the prompt."""
    def suspect(tally: VerdictTally) -> bool:
        return tally.games > 0 and tally.no_verdict > NO_VERDICT_WARN_SHARE * tally.games

    def warn(tally: VerdictTally, scope: str) -> None:
        log.warning("judge %s gave no verdict in %d of %s%s; it may not follow the prompt: check one with "
                    "qa_browser.py", judge_model, tally.no_verdict, plural(tally.games, "game"), scope)

    warned = 0
    for model, tally in tallies.items():
        if suspect(tally):
            warn(tally, f" of {model}")
            warned += 1
    total = run_tally(tallies)
    if warned < len(tallies) and suspect(total):
        warn(total, " of this run")


def task_label(task: PairTask | PairTaskV2) -> str:
    """What a task's batch requests are named after (utils.custom_id): its question and model."""
    return f"{task.question_id}_{task.model}"


def report_spending(judge: ModelConfig, usage: Usage, batch: bool = False) -> None:
    """The summary line of what the judge's calls of this run cost (at the batch price when `batch`)."""
    if usage != Usage():
        log.info("judge %s, this run: %s", judge.name, describe_spending(usage, judge.price, batch))


def run_judgments(tasks: Sequence[PairTask | PairTaskV2], judge: ModelConfig, settings: JudgeSettings,
                  out_dir: Path, progress: bool = True, batch: bool = False,
                  poll_interval: float = DEFAULT_POLL_INTERVAL) -> int:
    """Judge every task in a pool of judge.parallel workers, or with `batch` through the judge's
    batch API (each judgment file's batches in their own state file); this thread appends the records."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    appenders: dict[str, JsonlAppender] = {}
    written = 0
    tallies: dict[str, VerdictTally] = {}
    failures: list[tuple[PairTask | PairTaskV2, str]] = []
    usage = Usage()  # of every reply this run got, stored or not
    interrupted = False
    write_error: str | None = None
    start = time.perf_counter()
    guard = InterruptGuard()
    if batch:
        results = run_batches(
            tasks, functools.partial(pair_steps, settings=settings), task_label,
            lambda task: BatchGroup(judge, batch_state_file(model_file(out_dir, task.model))),
            failed=lambda result: isinstance(result, PairFailure), poll_interval=poll_interval, progress=progress,
            hold=guard.hold)
    else:
        work = functools.partial(judge_pair, judge=judge, settings=settings)
        results = run_pool(work, tasks, judge.parallel, desc=f"judge {settings.judge_model}", progress=progress)
    try:
        with logging_redirect_tqdm(), guard as interrupts:
            for task, result in results:
                if isinstance(result, PairFailure):
                    usage += result.usage
                    failures.append((task, result.error))
                    continue
                usage += record_usage(result) or Usage()
                with interrupts.hold():  # a record is never written without being counted
                    appender = appenders.get(task.model)
                    if appender is None:
                        appender = appenders[task.model] = JsonlAppender(model_file(out_dir, task.model))
                    appender.append(result)
                    written += 1
                    tally = tallies.setdefault(task.model, VerdictTally())
                    tally.no_verdict += sum(game["score"] is None for game in result["games"])
                    tally.games += len(result["games"])
    except KeyboardInterrupt:
        interrupted = True
    except OSError as e:  # disk full, read-only folder: no call is paid for that cannot be stored
        write_error = f"{e.filename or out_dir}: {e.strerror or e}"
    finally:
        results.close()  # no new pair is sent
        for appender in appenders.values():
            appender.close()
    for appender in appenders.values() if write_error is None else ():
        try:
            drop_superseded_lines(appender.path)  # e.g. upstream "$ERROR$" judgments that were redone
        except DataError as e:  # the file changed under us: every appended line is still there
            log.error("%s", e)
        except OSError as e:  # the appended lines stand; the next run tidies the file
            log.warning("%s: not tidied: %s", appender.path, e.strerror or e)

    total = run_tally(tallies)
    log.info("wrote %d of %s in %.1f s to %s; %d of %s without a verdict (stored with score null)",
             written, plural(len(tasks), "judgment"), time.perf_counter() - start, out_dir,
             total.no_verdict, plural(total.games, "game"))
    report_spending(judge, usage, batch)
    report_no_verdicts(tallies, settings.judge_model)
    for task, error in failures[:10]:
        log.error("not judged: %s, question %s: %s", task.model, task.question_id, error)
    if failures:
        log.error("%s failed after retries and %s not written; run again to redo them",
                  plural(len(failures), "judgment"), "was" if len(failures) == 1 else "were")
    if write_error is not None:
        log.error("cannot write %s: stopped; every judgment written before is kept", write_error)
        return EXIT_FAILED
    if interrupted:
        log.warning("interrupted: %s not made; run again to continue",
                    plural(len(tasks) - written - len(failures), "judgment"))
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failures else EXIT_OK


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting-file", default="config/judge_config.yaml", help="judge settings")
    parser.add_argument("--endpoint-file", default="config/api_config.yaml", help="api_config.yaml with the judge")
    parser.add_argument("--data-dir", default="data", help="folder holding <bench_name>/ (default: data)")
    add_cost_flags(parser)
    add_common_flags(parser, progress_bar=True)
    args = parser.parse_args(argv)
    check_batch_flags(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    return run_script(functools.partial(judge_all, args))  # Ctrl-C outside the pool: nothing was written yet


def judge_all(args: argparse.Namespace) -> int:
    """run(), holding the judgment files it claims until it ends."""
    with ExitStack() as claims:  # the judgment files held by this run, until it ends
        return run(args, claims)


def check_names(settings: JudgeSettings, setting_file: str | Path, directory: Path) -> None:
    """ConfigError for a judge or model name that no file in `directory` (or log line) can hold."""
    keys = [("judge_model", [settings.judge_model]), ("model_list", settings.model_list),
            ("baseline_model", [settings.baseline_model]), ("ref_model", settings.ref_models)]
    keys += [(f"categories.{category}.baseline", [c.baseline]) for category, c in settings.categories.items()]
    for key, names in keys:
        for name in names:
            if name is not None:
                check_model_name(name, f"{setting_file}: {key}", directory)


def describe_baselines(settings: JudgeSettings) -> str:
    """The baseline for a log line: one name, "off", or a v2.0 config's per category."""
    if settings.is_v2:
        return "by category (" + ", ".join(f"{name}: {c.baseline}" for name, c in settings.categories.items()) + ")"
    return settings.baseline_model or "off"


def run(args: argparse.Namespace, claims: ExitStack) -> int:
    """Load the configs, claim the judgment files into `claims` (unless a dry run), build the work
    list, then judge it (or print the dry-run estimate); raises ConfigError / DataError."""
    settings = load_judge_settings(args.setting_file)
    check_names(settings, args.setting_file, bench_dir(settings.bench_name, args.data_dir))
    out_dir = judgment_dir(settings.bench_name, settings.judge_model, args.data_dir)
    api_config = load_api_config(args.endpoint_file)
    judge = require_models(api_config, [settings.judge_model], args.endpoint_file,
                           f"{args.setting_file}: judge_model")[0]
    check_sampling(judge, settings.max_tokens, args.endpoint_file, args.setting_file)  # max_tokens: the setting file's
    if args.batch:
        check_batch_models([judge], args.endpoint_file)
    if not args.dry_run:  # held before they are read, so no pair is judged twice
        for model in settings.model_list:
            claims.enter_context(claim_output(model_file(out_dir, model)))
    tasks, counts = build_work_list(settings, args.data_dir, args.setting_file)
    log.info("judge %s (%s, api_type %s, parallel %d); baseline %s; %d game(s) per judgment",
             settings.judge_model, judge.model_name, judge.api_type, judge.parallel,
             describe_baselines(settings), settings.games)
    if not settings.model_list:
        log.warning("%s: model_list is empty: nothing to judge", args.setting_file)
    report_counts(counts, settings)
    if args.dry_run:
        print_dry_run(tasks, settings, judge, out_dir, args.endpoint_file)
        return EXIT_OK
    if not tasks:
        log.info("nothing to judge")
        return EXIT_OK
    if not args.batch:
        refuse_saved_batches(model_file(out_dir, model) for model in dict.fromkeys(task.model for task in tasks))
    check_endpoints([judge], args.endpoint_file)
    return run_judgments(tasks, judge, settings, out_dir, progress=not args.no_progress, batch=args.batch,
                         poll_interval=args.poll_interval or DEFAULT_POLL_INTERVAL)


if __name__ == "__main__":
    sys.exit(main())
