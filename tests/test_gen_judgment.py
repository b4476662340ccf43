"""Tests of gen_judgment.py: verdict parsing, the exact judge messages, records, resume and faults.

Usage: python -m pytest tests/test_gen_judgment.py

Every judge call goes over real HTTP to tests/fake_api.py through the openai / anthropic SDKs;
main() runs in-process on small data in tmp_path, except the SIGKILL and Ctrl-C tests, which run
the script as a subprocess.
"""
from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

import gen_judgment
from conftest import disk_full_after, free_port, refused_in_one_line, write_jsonl
import fake_api
from fake_api import FakeAPI, HoldAfter, message_text
from gen_judgment import CONTINUE_PROMPT, build_game_prompt, parse_verdict
from utils import load_judge_settings

REPO = Path(__file__).resolve().parent.parent
DEFAULT = re.compile(r"\[\[([AB<>=]+)\]\]")

SYSTEM = "Judge the two answers. End with a label such as [[A=B]]."
TEMPLATE_1 = ("<|User Prompt|>\n{question_1}\n\n<|The Start of Assistant A's Answer|>\n{answer_1}\n"
              "<|The End of Assistant A's Answer|>\n\n<|The Start of Assistant B's Answer|>\n{answer_2}\n"
              "<|The End of Assistant B's Answer|>")
TEMPLATE_2 = ("Q1: {question_1}\nQ2: {question_2}\nA said: {answer_1} / {answer_2}\n"
              "B said: {answer_3} / {answer_4}")


def filled_1(question: str, a: str, b: str) -> str:
    """TEMPLATE_1 written out by hand, so the test does not reuse the code under test."""
    return (f"<|User Prompt|>\n{question}\n\n<|The Start of Assistant A's Answer|>\n{a}\n"
            f"<|The End of Assistant A's Answer|>\n\n<|The Start of Assistant B's Answer|>\n{b}\n"
            f"<|The End of Assistant B's Answer|>")


# --------------------------------------------------------------------------------------------
# Fixtures: a tiny benchmark, configs, the fake judge
# --------------------------------------------------------------------------------------------


def answer(qid: str, model: str, *turns: str) -> dict:
    return {"question_id": qid, "answer_id": f"{model}-{qid}", "model_id": model,
            "choices": [{"index": 0, "turns": [{"content": t} for t in turns]}], "tstamp": 0.0}


def make_bench(data_dir: Path, questions: dict[str, list[str]], answers: dict[str, dict[str, list[str]]],
               folder: str = "model_answer") -> None:
    """data_dir/bench/question.jsonl and <folder>/<model>.jsonl from {qid: turns}, {model: {qid: turns}}."""
    write_jsonl(data_dir / "bench" / "question.jsonl",
                [{"question_id": q, "category": "arena-hard-v0.1", "cluster": "c",
                  "turns": [{"content": t} for t in turns]} for q, turns in questions.items()])
    for model, by_qid in answers.items():
        write_jsonl(data_dir / "bench" / folder / f"{model}.jsonl",
                    [answer(q, model, *turns) for q, turns in by_qid.items()])


def simple_bench(data_dir: Path, n: int, models: tuple[str, ...] = ("m1",)) -> list[str]:
    qids = [f"q{i:03d}" for i in range(n)]
    answers = {m: {q: [f"{m} answers {q}"] for q in qids} for m in ("base", *models)}
    make_bench(data_dir, {q: [f"question {q}"] for q in qids}, answers)
    return qids


class Setup:
    """Config files in tmp_path pointing at a fake server; run() calls main() in-process."""

    def __init__(self, tmp_path: Path, api: FakeAPI, api_type: str = "openai", **judge_overrides) -> None:
        self.tmp_path = tmp_path
        self.data_dir = tmp_path / "data"
        self.setting_file = tmp_path / "judge_config.yaml"
        self.endpoint_file = tmp_path / "api_config.yaml"
        self.judge: dict = {
            "name": "test", "bench_name": "bench", "judge_model": "the-judge", "reference": False,
            "ref_model": None, "baseline": True, "baseline_model": "base", "pairwise": True,
            "temperature": 0, "max_tokens": 512, "regex_pattern": r"\[\[([AB<>=]+)\]\]",
            "number_of_judgment_attempts": 2, "system_prompt": SYSTEM, "prompt_template": [TEMPLATE_1],
            "model_list": ["m1"],
        }
        self.judge.update(judge_overrides)
        base = api.anthropic_base if api_type == "anthropic" else api.openai_base
        self.endpoint = {"model_name": "judge-api-name", "api_type": api_type,
                         "endpoints": [{"api_base": base, "api_key": "sk-test"}],
                         "parallel": 1, "max_retries": 2, "retry_base_delay": 0.01, "retry_max_delay": 0.05,
                         "timeout": 10}
        self.write()

    def write(self) -> None:
        self.setting_file.write_text(yaml.safe_dump(self.judge), encoding="utf-8")
        self.endpoint_file.write_text(yaml.safe_dump({"the-judge": self.endpoint}), encoding="utf-8")

    def args(self, *extra: str) -> list[str]:
        return ["--setting-file", str(self.setting_file), "--endpoint-file", str(self.endpoint_file),
                "--data-dir", str(self.data_dir), *extra]

    def run(self, *extra: str) -> int:
        return gen_judgment.main(self.args(*extra))

    def judgment_file(self, model: str = "m1") -> Path:
        return self.data_dir / "bench" / "model_judgment" / self.judge["judge_model"] / f"{model}.jsonl"

    def records(self, model: str = "m1") -> list[dict]:
        """Every line of a judgment file, each checked to be one whole JSON record."""
        path = self.judgment_file(model)
        if not path.exists():
            return []
        data = path.read_bytes()
        assert data == b"" or data.endswith(b"\n"), "torn last line"
        return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def verdict_responder(label: str = "B>A"):
    return lambda body, path: f"My own answer first.\nBoth answers are fine.\n\nMy final verdict: [[{label}]]"


FAKE_API_OPTIONS = {"responder": verdict_responder()}  # for the `api` fixture (conftest.py)


def messages_of(request: dict) -> list[dict]:
    """The conversation of a recorded request, system first, in OpenAI form for both providers."""
    body = request["body"]
    conv = [{"role": "system", "content": message_text(body["system"])}] if "system" in body else []
    return conv + [{"role": m["role"], "content": message_text(m["content"])} for m in body["messages"]]


# --------------------------------------------------------------------------------------------
# parse_verdict: upstream's rule on real-looking judge outputs
# --------------------------------------------------------------------------------------------

LONG_JUDGMENT = """My own answer to the prompt:

To reverse a list in Python use `lst[::-1]` or `lst.reverse()`.

Evaluation:
Assistant A gives both methods and explains the difference (copy versus in place).
Assistant B only mentions `reversed()` and forgets that it returns an iterator.

Both are relevant and concise, but A is more complete and accurate.

My final verdict is: Assistant A is slightly better: [[A>B]]"""


@pytest.mark.parametrize("text, pattern, expected", [
    ("", DEFAULT, (None, True)),
    ("Both answers are good, but I cannot decide yet.", DEFAULT, (None, True)),
    ("Assistant A is slightly better (A>B).", DEFAULT, (None, True)),  # no double brackets
    ("[A>B]", DEFAULT, (None, True)),
    ("[[]]", DEFAULT, (None, True)),
    (LONG_JUDGMENT, DEFAULT, ("A>B", False)),
    ("My final verdict is tie: [[A=B]]", DEFAULT, ("A=B", False)),
    ("Verdict [[B>>A]].", DEFAULT, ("B>>A", False)),
    ("Clearly, as the label [[B>>A]] says, B wins; so again: [[B>>A]]", DEFAULT, ("B>>A", False)),
    ("I first thought [[A>B]] but on reflection [[B>A]]", DEFAULT, (None, False)),
    ("[[A>>B]] [[A>B]] [[A>>B]]", DEFAULT, (None, False)),
    ("\nfirst reply without a label\nsecond reply: My final verdict is [[A=B]]", DEFAULT, ("A=B", False)),
    ("[[ A>B ]]", DEFAULT, (None, True)),  # spaces inside: not a label for the default pattern
    ("[[A > B]]", DEFAULT, (None, True)),
    ("[[A>B]]\n", DEFAULT, ("A>B", False)),
    ("[[ A>B ]]", r"\[\[\s*([AB<>=]+)\s*\]\]", ("A>B", False)),
    ("[[A>B\n]]", r"\[\[([AB<>=\n]+)\]\]", ("A>B", False)),  # captured newline is stripped
    ("Score: 7/10", r"Score: (\d+)/10", ("7", False)),
    ("Verdict: B", r"Verdict: ([AB])", ("B", False)),
    ("Verdict: \nVerdict: A", r"Verdict: ([AB]?)", ("A", False)),  # empty captures are ignored
])
def test_parse_verdict(text, pattern, expected):
    assert parse_verdict(text, pattern) == expected


def test_parse_verdict_needs_follow_up_then_finds_label():
    first = "\nAssistant A explains the loop well; Assistant B has a bug in the base case."
    assert parse_verdict(first, DEFAULT) == (None, True)
    both = first + "\nMy final verdict is: Assistant A is significantly better: [[A>>B]]"
    assert parse_verdict(both, DEFAULT) == ("A>>B", False)


# --------------------------------------------------------------------------------------------
# build_game_prompt: upstream's numbering of the placeholders
# --------------------------------------------------------------------------------------------


def test_build_game_prompt_numbering():
    q = {"question_id": "q", "category": "c", "cluster": "c", "turns": [{"content": "Q1"}, {"content": "Q2"}]}
    first, second = answer("q", "x", "X1", "X2"), answer("q", "y", "Y1", "Y2")
    template = "{question_1}|{question_2}|{answer_1}|{answer_2}|{answer_3}|{answer_4}"
    assert build_game_prompt([template], q, first, second) == ["Q1|Q2|X1|X2|Y1|Y2"]
    assert build_game_prompt([template], q, second, first) == ["Q1|Q2|Y1|Y2|X1|X2"]
    # without a baseline the model's turns start at answer_1
    assert build_game_prompt(["{answer_1}+{answer_2}"], q, None, second) == ["Y1+Y2"]
    # references: ref_answer_{i+j+1}, as upstream (two one-turn references -> 1 and 2)
    refs = [answer("q", "r1", "R1"), answer("q", "r2", "R2")]
    assert build_game_prompt(["{ref_answer_1},{ref_answer_2}"], q, first, second, refs) == ["R1,R2"]
    with pytest.raises(KeyError):
        build_game_prompt(["{answer_5}"], q, first, second)


# --------------------------------------------------------------------------------------------
# The exact messages of both games, through the SDK and the fake server
# --------------------------------------------------------------------------------------------


def test_one_turn_messages_both_games_and_record(tmp_path, api):
    make_bench(tmp_path / "data", {"q1": ["What is 2+2?"]},
               {"base": {"q1": ["It is 4."]}, "m1": {"q1": ["Four."]}})
    setup = Setup(tmp_path, api)
    assert setup.run() == 0

    assert len(api.requests) == 2
    reply = "My own answer first.\nBoth answers are fine.\n\nMy final verdict: [[B>A]]"
    game1 = filled_1("What is 2+2?", "It is 4.", "Four.")  # baseline is Assistant A
    game2 = filled_1("What is 2+2?", "Four.", "It is 4.")  # swapped
    for request, prompt in zip(api.requests, [game1, game2]):
        assert request["path"] == "/v1/chat/completions"
        body = request["body"]
        assert body["model"] == "judge-api-name"  # the api_config model_name, not the key
        assert body["temperature"] == 0 and body["max_tokens"] == 512
        assert body["messages"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]

    # the usage of both calls as the server reported it (the fake's own counts)
    usage = {"input_tokens": sum(fake_api.prompt_tokens(r["body"]) for r in api.requests),
             "cached_input_tokens": 0, "output_tokens": 2 * fake_api.count_tokens(reply), "calls": 2}
    assert setup.records() == [{
        "question_id": "q1", "model": "m1", "judge": "the-judge",
        "games": [{"user_prompt": game1, "judgment": "\n" + reply, "score": "B>A"},
                  {"user_prompt": game2, "judgment": "\n" + reply, "score": "B>A"}],
        "usage": usage,
    }]
    # key order as upstream writes it, then the one key upstream's readers ignore
    assert list(setup.records()[0]) == ["question_id", "model", "judge", "games", "usage"]
    assert list(setup.records()[0]["games"][0]) == ["user_prompt", "judgment", "score"]


def test_two_turn_messages_with_two_templates(tmp_path, api):
    make_bench(tmp_path / "data", {"q1": ["Q-one", "Q-two"]},
               {"base": {"q1": ["B-one", "B-two"]}, "m1": {"q1": ["M-one", "M-two"]}})
    setup = Setup(tmp_path, api, prompt_template=[TEMPLATE_2, "Second look at {question_2}: {answer_4}"])
    assert setup.run() == 0
    game1 = ["Q1: Q-one\nQ2: Q-two\nA said: B-one / B-two\nB said: M-one / M-two", "Second look at Q-two: M-two"]
    game2 = ["Q1: Q-one\nQ2: Q-two\nA said: M-one / M-two\nB said: B-one / B-two", "Second look at Q-two: B-two"]
    assert [messages_of(r) for r in api.requests] == [
        [{"role": "system", "content": SYSTEM}] + [{"role": "user", "content": p} for p in game]
        for game in (game1, game2)]
    record = setup.records()[0]
    assert [g["user_prompt"] for g in record["games"]] == [game1[0], game2[0]]


@pytest.mark.parametrize("where", ["reference_answer", "model_answer", "both"])
def test_reference_answers_in_messages(tmp_path, api, where):
    data = tmp_path / "data"
    make_bench(data, {"q1": ["Q-one", "Q-two"]},
               {"base": {"q1": ["B-one", "B-two"]}, "m1": {"q1": ["M-one", "M-two"]}})
    if where in ("reference_answer", "both"):
        make_bench(data, {"q1": ["Q-one", "Q-two"]}, {"gold": {"q1": ["R-one", "R-two"]}}, folder="reference_answer")
    if where in ("model_answer", "both"):
        tag = "ignored" if where == "both" else "R"
        make_bench(data, {"q1": ["Q-one", "Q-two"]}, {"gold": {"q1": [f"{tag}-one", f"{tag}-two"]}})
    template = TEMPLATE_2 + "\nReference: {ref_answer_1} / {ref_answer_2}"
    setup = Setup(tmp_path, api, reference=True, ref_model="gold", prompt_template=[template])
    assert setup.run() == 0
    ref = "\nReference: R-one / R-two"
    assert [messages_of(r)[1]["content"] for r in api.requests] == [
        "Q1: Q-one\nQ2: Q-two\nA said: B-one / B-two\nB said: M-one / M-two" + ref,
        "Q1: Q-one\nQ2: Q-two\nA said: M-one / M-two\nB said: B-one / B-two" + ref]


def test_one_turn_reference_with_upstream_list_form(tmp_path, api):
    make_bench(tmp_path / "data", {"q1": ["Q"]}, {"base": {"q1": ["B"]}, "m1": {"q1": ["M"]}})
    make_bench(tmp_path / "data", {"q1": ["Q"]}, {"gold": {"q1": ["R"]}}, folder="reference_answer")
    setup = Setup(tmp_path, api, reference=True, ref_model=["gold"],
                  prompt_template=["{question_1} ref={ref_answer_1} A={answer_1} B={answer_2}"])
    assert setup.run() == 0
    assert [messages_of(r)[1]["content"] for r in api.requests] == ["Q ref=R A=B B=M", "Q ref=R A=M B=B"]


def test_follow_up_when_first_reply_has_no_verdict(tmp_path, api):
    first, second = "Assistant B misses the edge case.", "Continuing: My final verdict is [[A>B]]"

    def responder(body, path):
        return second if message_text(body["messages"][-1]["content"]) == CONTINUE_PROMPT else first

    api.responder = responder
    make_bench(tmp_path / "data", {"q1": ["Q"]}, {"base": {"q1": ["B"]}, "m1": {"q1": ["M"]}})
    setup = Setup(tmp_path, api, pairwise=False)
    assert setup.run() == 0
    prompt = filled_1("Q", "B", "M")
    assert [messages_of(r) for r in api.requests] == [
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt},
         {"role": "assistant", "content": first}, {"role": "user", "content": CONTINUE_PROMPT}],
    ]
    (record,) = setup.records()
    assert record["games"] == [{"user_prompt": prompt, "judgment": f"\n{first}\n{second}", "score": "A>B"}]


@pytest.mark.parametrize("replies, calls, score", [
    (["no label here", "still none"], 2, None),  # attempts used up: stored, score null
    (["[[A>B]] or maybe [[B>A]]"], 1, None),  # conflicting: null at once, no follow-up
    (["[[A=B]] ... [[A=B]]"], 1, "A=B"),
])
def test_unparsable_verdicts_are_stored_as_null(tmp_path, api, replies, calls, score):
    queue = list(replies)
    api.responder = lambda body, path: queue.pop(0)
    make_bench(tmp_path / "data", {"q1": ["Q"]}, {"base": {"q1": ["B"]}, "m1": {"q1": ["M"]}})
    setup = Setup(tmp_path, api, pairwise=False)
    assert setup.run() == 0
    assert len(api.requests) == calls
    (record,) = setup.records()
    assert record["games"][0]["score"] == score
    assert record["games"][0]["judgment"] == "".join("\n" + r for r in replies)


def test_custom_regex_pattern_from_config(tmp_path, api):
    api.responder = lambda body, path: "Reasoning... [[A>B]] is not my format. Verdict: B>>A"
    make_bench(tmp_path / "data", {"q1": ["Q"]}, {"base": {"q1": ["B"]}, "m1": {"q1": ["M"]}})
    setup = Setup(tmp_path, api, regex_pattern=r"Verdict: ([AB<>=]+)")
    assert setup.run() == 0
    assert [g["score"] for g in setup.records()[0]["games"]] == ["B>>A", "B>>A"]


def test_pairwise_false_plays_one_game(tmp_path, api):
    simple_bench(tmp_path / "data", 3)
    setup = Setup(tmp_path, api, pairwise=False)
    assert setup.run() == 0
    assert len(api.requests) == 3
    records = setup.records()
    assert sorted(r["question_id"] for r in records) == ["q000", "q001", "q002"]
    assert all(len(r["games"]) == 1 and r["games"][0]["score"] == "B>A" for r in records)


@pytest.mark.parametrize("flags, bar", [((), True), (("--no-progress",), False)])
def test_progress_bar_unless_no_progress(tmp_path, api, capsys, flags, bar):
    simple_bench(tmp_path / "data", 3)
    assert Setup(tmp_path, api).run(*flags) == 0
    assert ("judge the-judge: 100%" in capsys.readouterr().err) == bar


def test_without_baseline_model_answer_is_answer_1(tmp_path, api):
    make_bench(tmp_path / "data", {"q1": ["Q"]}, {"m1": {"q1": ["M"]}})  # no baseline file needed
    setup = Setup(tmp_path, api, baseline=False, pairwise=False, prompt_template=["{question_1}: {answer_1}"])
    assert setup.run() == 0
    assert [messages_of(r)[1]["content"] for r in api.requests] == ["Q: M"]


def test_anthropic_judge(tmp_path, api):
    make_bench(tmp_path / "data", {"q1": ["Q"]}, {"base": {"q1": ["B"]}, "m1": {"q1": ["M"]}})
    setup = Setup(tmp_path, api, api_type="anthropic")
    assert setup.run() == 0
    assert [r["path"] for r in api.requests] == ["/v1/messages", "/v1/messages"]
    body = api.requests[0]["body"]
    assert body["model"] == "judge-api-name" and body["max_tokens"] == 512
    assert message_text(body["system"]) == SYSTEM
    assert [(m["role"], message_text(m["content"])) for m in body["messages"]] == [("user", filled_1("Q", "B", "M"))]
    (record,) = setup.records()
    assert [g["score"] for g in record["games"]] == ["B>A", "B>A"] and record["judge"] == "the-judge"


def test_several_models_and_cache(tmp_path, api):
    qids = simple_bench(tmp_path / "data", 4, models=("m1", "m2"))
    setup = Setup(tmp_path, api, model_list=["m1", "m2", "m1"])  # a repeated name is judged once
    setup.endpoint["parallel"] = 4
    setup.write()
    assert setup.run() == 0
    assert len(api.requests) == 16
    for model in ("m1", "m2"):
        records = setup.records(model)
        assert sorted(r["question_id"] for r in records) == qids
        assert all(r["model"] == model for r in records)
        assert all(f"{model} answers {r['question_id']}" in r["games"][0]["user_prompt"] for r in records)
    assert setup.run() == 0  # everything cached: no call
    assert len(api.requests) == 16


def test_upstream_error_judgments_and_answers_are_redone_or_skipped(tmp_path, api):
    qids = simple_bench(tmp_path / "data", 3)
    setup = Setup(tmp_path, api)
    api.responder = verdict_responder("A=B")
    good = {"user_prompt": "p", "judgment": "\n[[B>A]]", "score": "B>A"}
    failed = {"user_prompt": "p", "judgment": "\n$ERROR$", "score": None}
    write_jsonl(setup.judgment_file(), [
        {"question_id": qids[0], "model": "m1", "judge": "the-judge", "games": [good, good]},
        {"question_id": qids[1], "model": "m1", "judge": "the-judge", "games": [failed, good]},
    ])
    # upstream stored "$ERROR$" as m1's answer to the last question: not an answer to judge
    answers = tmp_path / "data" / "bench" / "model_answer" / "m1.jsonl"
    write_jsonl(answers, [answer(qids[0], "m1", "a0"), answer(qids[1], "m1", "a1"),
                          answer(qids[2], "m1", "$ERROR$")])
    assert setup.run() == 0
    assert len(api.requests) == 2  # only the $ERROR$ judgment is redone
    records = setup.records()
    assert [r["question_id"] for r in records] == qids[:2]  # one line per question, no leftover
    assert records[0]["games"][0]["score"] == "B>A"
    assert [g["score"] for g in records[1]["games"]] == ["A=B", "A=B"]


# --------------------------------------------------------------------------------------------
# Missing data and bad config
# --------------------------------------------------------------------------------------------


def test_missing_answers_are_counted_and_skipped(tmp_path, api, caplog):
    qids = [f"q{i}" for i in range(6)]
    make_bench(tmp_path / "data", {q: [q] for q in qids}, {
        "base": {q: ["b"] for q in qids if q != "q2"},  # no baseline answer for q2
        "m1": {q: ["m"] for q in qids if q not in ("q4", "q5")},  # m1 did not answer q4, q5
    })
    setup = Setup(tmp_path, api)
    with caplog.at_level(logging.INFO):
        assert setup.run() == 0
    assert sorted(r["question_id"] for r in setup.records()) == ["q0", "q1", "q3"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("m1: 2 questions have no answer" in w and "q4, q5" in w for w in warnings), warnings
    assert any("m1: 1 question skipped, no answer from the baseline base: q2" in w for w in warnings), warnings


def test_reference_answers_with_a_cut_last_line_are_an_error(tmp_path, api, caplog):
    # No script writes reference_answer/: its unterminated bad last line is not an interrupted
    # write to drop (which would silently skip the question), but a file:line error.
    make_bench(tmp_path / "data", {"q1": ["Q"], "q2": ["Q"]}, {"base": {"q1": ["b"], "q2": ["b"]},
                                                              "m1": {"q1": ["a"], "q2": ["a"]}})
    make_bench(tmp_path / "data", {"q1": ["Q"], "q2": ["Q"]}, {"gold": {"q1": ["R"]}}, folder="reference_answer")
    gold = tmp_path / "data" / "bench" / "reference_answer" / "gold.jsonl"
    with open(gold, "a") as f:
        f.write(json.dumps(answer("q2", "gold", "R"))[:-5])
    setup = Setup(tmp_path, api, reference=True, ref_model="gold",
                  prompt_template=["{question_1} ref={ref_answer_1} A={answer_1} B={answer_2}"])
    assert setup.run() == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith(f"{gold}:2: invalid JSON"), errors
    assert api.requests == []


def test_missing_reference_answer_skips_question(tmp_path, api, caplog):
    make_bench(tmp_path / "data", {"q1": ["Q"], "q2": ["Q"]},
               {"base": {"q1": ["B"], "q2": ["B"]}, "m1": {"q1": ["M"], "q2": ["M"]}})
    make_bench(tmp_path / "data", {"q1": ["Q"], "q2": ["Q"]}, {"gold": {"q1": ["R"]}}, folder="reference_answer")
    setup = Setup(tmp_path, api, reference=True, ref_model="gold")
    assert setup.run() == 0
    assert [r["question_id"] for r in setup.records()] == ["q1"]
    assert any("no reference answer from gold: q2" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("missing, named", [("m2", "'m2'"), ("base", "baseline_model 'base'")])
def test_model_without_answer_file_is_an_error(tmp_path, api, caplog, missing, named):
    simple_bench(tmp_path / "data", 2, models=("m1", "m2"))
    (tmp_path / "data" / "bench" / "model_answer" / f"{missing}.jsonl").unlink()
    setup = Setup(tmp_path, api, model_list=["m1", "m2"])
    assert setup.run() == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and named in errors[0] and str(setup.setting_file) in errors[0], errors
    assert "\n" not in errors[0]
    assert api.requests == [] and not setup.judgment_file("m1").exists()


@pytest.mark.parametrize("change, expected, named_file", [
    ({"judge_model": None}, "judge_model", "setting"),
    ({"system_prompt": 3}, "system_prompt: expected str", "setting"),
    ({"pairwise": "yes"}, "pairwise: expected bool", "setting"),
    ({"max_tokens": "many"}, "max_tokens", "setting"),
    ({"number_of_judgment_attempts": 0}, "number_of_judgment_attempts", "setting"),
    ({"regex_pattern": "(unclosed"}, "regex_pattern: invalid", "setting"),
    ({"regex_pattern": "(A)(B)"}, "regex_pattern: at most one capture group", "setting"),
    ({"prompt_template": ["{question_1} {answer}"]}, "prompt_template[0]: unknown placeholder {answer}", "setting"),
    ({"prompt_template": ["{question_1"]}, "prompt_template[0]", "setting"),
    ({"prompt_template": ["{question_1!z} {answer_1}"]}, "{question_1} takes no format spec or conversion",
     "setting"),
    ({"prompt_template": ["{question_1:d} {answer_1}"]}, "{question_1} takes no format spec or conversion",
     "setting"),
    ({"prompt_template": ["{question_1} {answer_3}"]}, "question q000: prompt_template uses {answer_3}",
     "question.jsonl"),
    ({"model_list": "m1"}, "model_list: expected a non-empty list", "setting"),
    ({"prompt_template": []}, "prompt_template: expected a non-empty list of strings, got []", "setting"),
    ({"temperature": float("nan")}, "temperature: expected a finite number", "setting"),
    ({"temperature": float("inf")}, "temperature: expected a finite number", "setting"),
    ({"baseline_model": None}, "baseline_model: required", "setting"),
    ({"reference": True}, "ref_model: required", "setting"),
    ({"judge_model": "nobody"}, "model 'nobody' has no entry in", "setting"),
    ({"bench_name": "../elsewhere"}, "bench_name: '../elsewhere' must be a plain folder name", "setting"),
])
def test_config_errors_name_file_and_key(tmp_path, api, caplog, change, expected, named_file):
    simple_bench(tmp_path / "data", 1)
    setup = Setup(tmp_path, api)
    for key, value in change.items():
        if value is None:
            setup.judge.pop(key)
        else:
            setup.judge[key] = value
    setup.write()
    assert setup.run() == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and expected in errors[0], errors
    path = setup.setting_file if named_file == "setting" else setup.data_dir / "bench" / "question.jsonl"
    assert errors[0].startswith(f"{path}: "), errors
    assert api.requests == []


def test_missing_setting_file(tmp_path, api, caplog):
    setup = Setup(tmp_path, api)
    setup.setting_file.unlink()
    assert setup.run() == 2
    assert "judge_config.yaml: file not found" in caplog.text


def test_dry_run_calls_nothing_and_counts(tmp_path, api, capsys):
    from utils import count_tokens

    qids = simple_bench(tmp_path / "data", 5, models=("m1", "m2"))
    setup = Setup(tmp_path, api, model_list=["m1", "m2"])
    # one m2 judgment already made: 4 left for m2
    game = {"user_prompt": "p", "judgment": "\n[[A=B]]", "score": "A=B"}
    write_jsonl(setup.judgment_file("m2"), [{"question_id": qids[0], "model": "m2", "judge": "the-judge",
                                             "games": [game, game]}])
    assert setup.run("--dry-run") == 0
    assert api.requests == []
    assert not setup.judgment_file("m1").exists()
    out = capsys.readouterr().out

    def expected_tokens(model: str, ids: list[str]) -> int:
        total = 0
        for q in ids:
            for a, b in (("base", model), (model, "base")):
                prompt = filled_1(f"question {q}", f"{a} answers {q}", f"{b} answers {q}")
                # the chat format: 4 tokens a message ([system, user]), 3 a request
                total += count_tokens(SYSTEM) + count_tokens(prompt) + 2 * 4 + 3
        return total

    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    # requests (two games a judgment), input tokens, output tokens (from m2's stored judgment)
    per_game = count_tokens("\n[[A=B]]")
    assert rows["m1"] == ["10", f"{expected_tokens('m1', qids):,}", f"{10 * per_game}"]
    assert rows["m2"] == ["8", f"{expected_tokens('m2', qids[1:]):,}", f"{8 * per_game}"]
    assert rows["total"][0] == "18"


# --------------------------------------------------------------------------------------------
# Failures, faults, resume
# --------------------------------------------------------------------------------------------


def test_failed_second_game_writes_nothing_and_is_redone(tmp_path, api):
    qids = simple_bench(tmp_path / "data", 3)
    broken = {"on": True}

    def responder(body, path):
        prompt = message_text(body["messages"][-1]["content"])
        # game 2 of q001 (the model shown first) gets HTTP 500, and there are no retries
        if broken["on"] and prompt.startswith("<|User Prompt|>\nquestion q001\n\n<|The Start of Assistant A's Answer|>\nm1"):
            raise RuntimeError("judge down")
        return "[[A=B]]"

    api.responder = responder
    setup = Setup(tmp_path, api)
    setup.endpoint["max_retries"] = 0
    setup.write()
    assert setup.run() == 1
    assert sorted(r["question_id"] for r in setup.records()) == ["q000", "q002"]
    broken["on"] = False
    assert setup.run() == 0
    records = setup.records()
    assert sorted(r["question_id"] for r in records) == qids  # q001 once, others not redone
    assert all(len(r["games"]) == 2 for r in records)


def test_faults_then_rerun_complete(tmp_path):
    qids = simple_bench(tmp_path / "data", 30)
    # Scripted by question, so the outcome is the same whatever order the 8 workers go in:
    # q003 and q017 always fail (429, drop), q009's game 2 fails (500); q011 and q024 fail once
    # per game and are retried. One retry each.
    always = {"q003": "429", "q017": "drop"}
    once = {"q011": "500", "q024": "429"}
    seen: dict[tuple[str, str], int] = {}
    lock = threading.Lock()

    def script(body: dict, path: str) -> str | None:
        prompt = body["messages"][-1]["content"]
        qid = re.search(r"question (q\d+)", prompt).group(1)
        game = "game 2" if prompt.index("m1 answers") < prompt.index("base answers") else "game 1"
        with lock:
            seen[qid, game] = seen.get((qid, game), 0) + 1
            attempt = seen[qid, game]
        if qid == "q009" and game == "game 2":
            return "500"
        return always.get(qid) or (once.get(qid) if attempt == 1 else None)

    with FakeAPI(responder=verdict_responder("A>B")) as api:
        api.fault_script = script
        setup = Setup(tmp_path, api)
        setup.endpoint.update(parallel=8, max_retries=1)
        setup.write()
        assert setup.run() == 1  # with 1 retry, the calls of q003, q009 and q017 keep failing
        first = setup.records()
        assert sorted(r["question_id"] for r in first) == sorted(set(qids) - {"q003", "q009", "q017"})
        assert {kind for kind in api.faults_served} == {"429", "500", "drop"}
        api.fault_script = None
        asked_before = len(api.requests)
        assert setup.run() == 0
        assert len(api.requests) - asked_before == 6  # the two games of the three failed questions
    records = setup.records()
    assert sorted(r["question_id"] for r in records) == qids  # no duplicates, nothing missing
    for r in records:  # never a partial record
        assert len(r["games"]) == 2
        assert all(g["judgment"].startswith("\n") and g["score"] == "A>B" for g in r["games"])


def _start_script(tmp_path: Path, api: FakeAPI, parallel: int, lines: int) -> tuple[Setup, subprocess.Popen]:
    """gen_judgment.py in a subprocess, once it has written `lines` judgments."""
    setup = Setup(tmp_path, api)
    setup.endpoint["parallel"] = parallel
    setup.write()
    process = subprocess.Popen([sys.executable, str(REPO / "gen_judgment.py"), *setup.args()], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    path = setup.judgment_file()
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= lines:
            return setup, process
        if process.poll() is not None:
            pytest.fail(f"script ended early: {process.communicate()[1][-2000:]}")
        time.sleep(0.02)
    process.kill()
    pytest.fail("no judgments written in time")


def test_resume_after_sigkill(tmp_path):
    qids = simple_bench(tmp_path / "data", 40)
    # 20 replies, then every judge call waits: 8 to 10 judgments (2 games each, 4 workers) get
    # written and the run cannot finish before the kill, however slowly this machine runs
    hold = HoldAfter(20, verdict_responder())
    with FakeAPI(latency=0.01, responder=hold) as api:
        try:
            setup, process = _start_script(tmp_path, api, parallel=4, lines=5)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            process.communicate()
        finally:
            hold.release()
        killed_at = len(setup.records())
        assert 5 <= killed_at < 40
        # a write cut by the kill would look like this: the rerun must drop it
        with open(setup.judgment_file(), "ab") as f:
            f.write(b'{"question_id": "q0')
        api.latency = 0
        assert setup.run() == 0
    records = setup.records()
    assert sorted(r["question_id"] for r in records) == qids
    assert all(len(r["games"]) == 2 and all(g["score"] == "B>A" for g in r["games"]) for r in records)


def test_a_second_run_on_the_same_judgment_file_stops_before_any_request(tmp_path, api, caplog):
    import os

    import utils

    simple_bench(tmp_path / "data", 4, models=("m1", "m2"))
    setup = Setup(tmp_path, api, model_list=["m1", "m2"])
    # another run holds m2's file (as gen_judgment holds it while it judges): the whole run stops
    with utils.claim_output(setup.judgment_file("m2")):
        assert setup.run() == 2
        [message] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert message.startswith(f"{setup.judgment_file('m2')}: another run (pid {os.getpid()}) is writing")
        assert api.requests == [] and not setup.judgment_file("m1").exists()
        # other models, and the same model under another judge, run alongside
        setup.judge["model_list"] = ["m1"]
        setup.write()
        assert setup.run() == 0 and len(setup.records("m1")) == 4
        setup.judge.update(model_list=["m2"], judge_model="other-judge")
        setup.endpoint_file.write_text(yaml.safe_dump({"other-judge": setup.endpoint}), encoding="utf-8")
        setup.setting_file.write_text(yaml.safe_dump(setup.judge), encoding="utf-8")
        assert setup.run() == 0 and len(setup.records("m2")) == 4
        assert setup.run("--dry-run") == 0  # a dry run writes nothing and needs no lock
    assert len(api.requests) == 16
    assert sorted(p.name for p in setup.judgment_file("m1").parent.parent.rglob("*")) == [
        "m1.jsonl", "m2.jsonl", "other-judge", "the-judge"]  # no lock file left behind


def test_disk_full_mid_run_stops_paying_for_judgments(tmp_path, caplog, monkeypatch):
    simple_bench(tmp_path / "data", 20)
    with FakeAPI(latency=0.02, responder=verdict_responder()) as api:
        setup = Setup(tmp_path, api)
        stored = disk_full_after(monkeypatch, "m1.jsonl", 2)
        assert setup.run() == 1
        time.sleep(0.2)  # a pair a worker had started may still send its requests
        # 2 pairs stored, the one that could not be, one or two more in flight: not the other 15
        assert len(api.requests) <= 12, len(api.requests)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [f"cannot write {setup.judgment_file()}: No space left on device: stopped; "
                      "every judgment written before is kept"]
    assert [json.loads(line) for line in stored] == setup.records()


def test_unwritable_judgment_folder_is_an_error_before_any_request(tmp_path, api, caplog):
    # as root chmod stops nothing: a file where the judge's folder belongs fails the same calls
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api)
    setup.judgment_file().parent.parent.mkdir(parents=True)
    setup.judgment_file().parent.write_text("not a folder")
    assert setup.run() == 2
    [message] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert message == f"{setup.judgment_file().parent}: cannot write: File exists"
    assert api.requests == []


@pytest.mark.parametrize("key, name, problem", [
    ("judge_model", "judge\nINFO forged", "holds the control character '\\n'"),
    ("model_list", ["m" * 300], "is too long for a file name"),
    ("judge_model", "j" * 250, "is too long for a file name"),
    ("baseline_model", "base\u2028line", "holds the control character '\\u2028'"),
], ids=["judge-newline", "model-300-characters", "judge-250-characters", "baseline-line-separator"])
def test_names_a_filesystem_cannot_hold_are_refused_at_start(tmp_path, api, caplog, key, name, problem):
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api, **{key: name})
    assert setup.run() == 2
    [message] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert message.startswith(f"{setup.setting_file}: {key}: model name ") and problem in message
    assert "\n" not in message and api.requests == []
    assert not (tmp_path / "data" / "bench" / "model_judgment").exists()


def test_ctrl_c_stops_cleanly(tmp_path):
    qids = simple_bench(tmp_path / "data", 60)
    hold = HoldAfter(10, verdict_responder())  # 4 or 5 judgments, then the run waits for Ctrl-C
    with FakeAPI(latency=0.01, responder=hold) as api:
        try:
            setup, process = _start_script(tmp_path, api, parallel=2, lines=3)
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
        finally:
            hold.release()
        assert process.returncode == 130, stderr[-2000:]
        assert "interrupted" in stderr and "Traceback" not in stderr
        records = setup.records()  # every line whole
        assert 3 <= len(records) < 60
        assert len({r["question_id"] for r in records}) == len(records)
        api.latency = 0
        assert setup.run() == 0
    assert sorted(r["question_id"] for r in setup.records()) == qids


# --------------------------------------------------------------------------------------------
# Upstream's own judge config and data ($ARENA_HARD_SHARED_DATA, absent in a user's clone)
# --------------------------------------------------------------------------------------------


def test_upstream_config_and_data(tmp_path, api, capsys, shared_data):
    upstream_config = shared_data / "config" / "judge_config.yaml"
    upstream = yaml.safe_load(upstream_config.read_text(encoding="utf-8"))
    src = shared_data / "arena-hard-v0.1"
    bench = tmp_path / "data" / "arena-hard-v0.1"
    (bench / "model_answer").mkdir(parents=True)
    for model in ("gpt-4-0314", "gpt-3.5-turbo-0125"):  # linked, not copied
        (bench / "model_answer" / f"{model}.jsonl").symlink_to(src / "model_answer" / f"{model}.jsonl")
    questions = [json.loads(line) for line in (src / "question.jsonl").read_text(encoding="utf-8").splitlines()]
    write_jsonl(bench / "question.jsonl", questions[:3])
    endpoint_file = tmp_path / "api_config.yaml"
    endpoint_file.write_text(yaml.safe_dump({"gpt-4-1106-preview": {
        "model_name": "gpt-4-1106-preview", "api_type": "openai", "parallel": 2,
        "endpoints": [{"api_base": api.openai_base, "api_key": "sk-test"}]}}), encoding="utf-8")
    args = ["--setting-file", str(upstream_config), "--endpoint-file", str(endpoint_file),
            "--data-dir", str(tmp_path / "data")]

    assert gen_judgment.main([*args, "--dry-run"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["gpt-3.5-turbo-0125"][0] == "6" and int(rows["gpt-3.5-turbo-0125"][1].replace(",", "")) > 1000
    assert gen_judgment.main(args) == 0

    base = {r["question_id"]: r for r in map(json.loads, open(src / "model_answer" / "gpt-4-0314.jsonl"))}
    model = {r["question_id"]: r for r in map(json.loads, open(src / "model_answer" / "gpt-3.5-turbo-0125.jsonl"))}
    q = questions[0]
    expected_user = upstream["prompt_template"][0].format(
        question_1=q["turns"][0]["content"],
        answer_1=base[q["question_id"]]["choices"][0]["turns"][0]["content"],
        answer_2=model[q["question_id"]]["choices"][0]["turns"][0]["content"])
    assert [{"role": "system", "content": upstream["system_prompt"]},
            {"role": "user", "content": expected_user}] in [messages_of(r) for r in api.requests]
    out = bench / "model_judgment" / "gpt-4-1106-preview" / "gpt-3.5-turbo-0125.jsonl"
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["question_id"] for r in records) == sorted(q["question_id"] for q in questions[:3])
    assert all(r["judge"] == "gpt-4-1106-preview" and len(r["games"]) == 2 for r in records)


def test_shipped_config_loads_and_keeps_upstream_structure():
    settings = load_judge_settings(REPO / "config" / "judge_config.yaml")
    assert settings.judge_model == "gpt-4-1106-preview" and settings.baseline_model == "gpt-4-0314"
    assert settings.pairwise and settings.attempts == 2 and settings.max_tokens == 4096
    assert settings.temperature == 0 and settings.ref_models == () and settings.model_list == ("gpt-3.5-turbo-0125",)
    assert settings.regex.pattern == r"\[\[([AB<>=]+)\]\]"
    for label in ("[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[B>A]]", "[[B>>A]]"):
        assert label in settings.system_prompt
    (template,) = settings.prompt_templates
    assert template == TEMPLATE_1


def test_shipped_judge_prompt_is_our_own_prose_not_upstreams(shared_data):
    settings = load_judge_settings(REPO / "config" / "judge_config.yaml")
    upstream = yaml.safe_load((shared_data / "config" / "judge_config.yaml").read_text(encoding="utf-8"))
    assert settings.system_prompt != upstream["system_prompt"]
    upstream_sentences = {s.strip() for s in re.split(r"[.\n]", upstream["system_prompt"]) if len(s.strip()) > 30}
    ours = {s.strip() for s in re.split(r"[.\n]", settings.system_prompt)}
    assert not upstream_sentences & ours


def test_judge_without_verdicts_is_warned_about_and_counted(tmp_path, api, caplog):
    api.responder = lambda body, path: "I like both answers."  # never a label
    simple_bench(tmp_path / "data", 3, models=("m1", "m2"))
    setup = Setup(tmp_path, api, model_list=["m1", "m2"], number_of_judgment_attempts=1)
    with caplog.at_level(logging.INFO):
        assert setup.run() == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    for model in ("m1", "m2"):
        assert (f"judge the-judge gave no verdict in 6 of 6 games of {model}; it may not follow the prompt: "
                "check one with qa_browser.py") in warnings, warnings
    assert any("wrote 6 of 6 judgments" in m and "12 of 12 games without a verdict" in m
               for m in caplog.messages), caplog.messages


def test_a_few_missing_verdicts_are_counted_without_a_warning(tmp_path, api, caplog):
    replies = iter(["no label"] + ["[[A>B]]"] * 9)
    api.responder = lambda body, path: next(replies)
    simple_bench(tmp_path / "data", 5)
    setup = Setup(tmp_path, api, number_of_judgment_attempts=1)
    with caplog.at_level(logging.INFO):
        assert setup.run() == 0
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert any("1 of 10 games without a verdict" in m for m in caplog.messages)
    # the run's share is warned about too when only some of its models were
    tallies = {model: gen_judgment.VerdictTally(games=10, no_verdict=n)
               for model, n in (("m1", 1), ("m2", 2), ("m3", 4))}
    gen_judgment.report_no_verdicts(tallies, "j")
    assert caplog.messages[-2:] == [
        "judge j gave no verdict in 4 of 10 games of m3; it may not follow the prompt: check one with qa_browser.py",
        "judge j gave no verdict in 7 of 30 games of this run; it may not follow the prompt: check one with qa_browser.py"]


def test_unreachable_judge_is_one_line_before_any_work(tmp_path, api, caplog):
    port = free_port()
    simple_bench(tmp_path / "data", 3)
    setup = Setup(tmp_path, api)
    setup.endpoint.update(endpoints=[{"api_base": f"http://127.0.0.1:{port}/v1", "api_key": "sk-test"}],
                          retry_base_delay=5)
    setup.write()
    message = refused_in_one_line(setup.run, caplog, port)
    assert message.startswith(f"{setup.endpoint_file}: the-judge.endpoints[0].api_base: cannot reach "), message
    assert not setup.judgment_file().exists()
    assert setup.run("--dry-run") == 0  # no calls, no pre-flight


def test_anthropic_judge_base_with_v1(tmp_path, api):
    make_bench(tmp_path / "data", {"q1": ["Q"]}, {"base": {"q1": ["B"]}, "m1": {"q1": ["M"]}})
    setup = Setup(tmp_path, api, api_type="anthropic")
    setup.endpoint["endpoints"][0]["api_base"] = api.url + "/v1"
    setup.write()
    assert setup.run() == 0
    assert [r["path"] for r in api.requests] == ["/v1/messages"] * 2
