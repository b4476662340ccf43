"""Tests of gen_answer.py: every model call goes through the real SDKs to tests/fake_api.py.

Usage: python -m pytest tests/test_gen_answer.py
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

import gen_answer
import utils
from utils import conv_metadata, count_tokens
from conftest import disk_full_after, free_port, refused_in_one_line, write_jsonl
import fake_api
from fake_api import FakeAPI, HoldAfter

REPO = Path(__file__).resolve().parents[1]
BENCH = "bench-test"
FAST_RETRY = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}


def question(qid: str, *turns: str, category: str = "arena-hard-v0.1") -> dict:
    return {"question_id": qid, "category": category, "cluster": "test", "turns": [{"content": t} for t in turns]}


def openai_entry(api: FakeAPI, **overrides) -> dict:
    return {"model_name": "served-model", "api_type": "openai", "parallel": 4,
            "endpoints": [{"api_base": api.openai_base, "api_key": "test"}], **FAST_RETRY, **overrides}


class Project:
    """Config files, a question set and an answer folder under tmp_path."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.setting_file = root / "gen_answer_config.yaml"
        self.endpoint_file = root / "api_config.yaml"

    def write(self, models: dict[str, dict], questions: list[dict], **settings) -> None:
        config = {"bench_name": BENCH, "temperature": 0.0, "max_tokens": 4096, "num_choices": 1,
                  "model_list": list(models), **settings}
        self.setting_file.write_text(yaml.safe_dump(config))
        self.endpoint_file.write_text(yaml.safe_dump(models))
        write_jsonl(self.data / BENCH / "question.jsonl", questions)

    def argv(self, *extra: str) -> list[str]:
        return ["--setting-file", str(self.setting_file), "--endpoint-file", str(self.endpoint_file),
                "--data-dir", str(self.data), "--no-progress", *extra]

    def run(self, *extra: str) -> int:
        return gen_answer.main(self.argv(*extra))

    def answer_path(self, model: str) -> Path:
        return utils.model_file(utils.answer_dir(BENCH, self.data), model)

    def answers(self, model: str) -> list[dict]:
        """Every line of the model's answer file, parsed (a bad line fails the test)."""
        return [json.loads(line) for line in self.answer_path(model).read_bytes().splitlines()]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def by_last_user(api: FakeAPI) -> dict[str, dict]:
    """Request bodies keyed by their last user message (requests arrive in any order)."""
    return {[m for m in r["body"]["messages"] if m["role"] == "user"][-1]["content"]: r["body"]
            for r in api.requests}


def contents(record: dict) -> list[list[str]]:
    return [[t["content"] for t in choice["turns"]] for choice in record["choices"]]


# ---------------------------------------------------------------------------- pure rules


@pytest.mark.parametrize("category, expected", [
    ("writing", 0.7), ("roleplay", 0.7), ("extraction", 0.0), ("math", 0.0), ("coding", 0.0),
    ("reasoning", 0.0), ("stem", 0.1), ("humanities", 0.1), ("arena-hard-v0.1", 0.5), (None, 0.5),
])
def test_temperature_table(category, expected):
    assert gen_answer.temperature_for(category, 0.5) == expected


@pytest.mark.parametrize("answer, cached", [
    ({"choices": [{"index": 0, "turns": [{"content": "fine"}]}]}, True),
    ({"choices": [{"index": 0, "turns": [{"content": "fine"}, {"content": "$ERROR$"}]}]}, False),
    ({"choices": [{"index": 0, "turns": [{"content": "a"}]}, {"index": 1, "turns": [{"content": "$ERROR$"}]}]}, False),
    ({"choices": [{"index": 0, "turns": [{"content": "the text $ERROR$ quoted"}]}]}, True),
    ({"choices": []}, False),
    ({"choices": [{"index": 0, "turns": []}]}, False),
    ({"choices": None}, False),
])
def test_is_cached(answer, cached):
    assert utils.is_complete_answer(answer) is cached


# ---------------------------------------------------------------------------- what is sent


def test_two_turn_question_sends_the_whole_conversation(project, api):
    project.write({"gpt-4": openai_entry(api)}, [question("q1", "First question?", "And the second?")])
    assert project.run() == 0
    system = {"role": "system", "content": "You are a helpful assistant."}
    user1 = {"role": "user", "content": "First question?"}
    assistant1 = {"role": "assistant", "content": "Echo: First question?"}
    user2 = {"role": "user", "content": "And the second?"}
    assert [r["body"]["messages"] for r in api.requests] == [[system, user1], [system, user1, assistant1, user2]]
    for request in api.requests:
        assert request["path"] == "/v1/chat/completions"
        assert request["body"]["model"] == "served-model"
        assert request["body"]["temperature"] == 0.0
        assert request["body"]["max_tokens"] == 4096
    [record] = project.answers("gpt-4")
    assert contents(record) == [["Echo: First question?", "Echo: And the second?"]]


def test_start_line_counts_questions_in_words(project, api, caplog):
    project.write({"m": openai_entry(api)}, [question("q1", "One?"), question("q2", "Two?")])
    write_jsonl(project.answer_path("m"), [{"question_id": "q1", "answer_id": "a", "model_id": "m", "tstamp": 0,
                                            "choices": [{"index": 0, "turns": [{"content": "done"}]}]}])
    with caplog.at_level("INFO"):
        assert project.run() == 0
    assert f"m: 1 question to answer, 1 cached -> {project.answer_path('m')}" in caplog.text


@pytest.mark.parametrize("name, model_name, system_prompt, expected", [
    ("gpt-4-0613", "served-model", None, "You are a helpful assistant."),  # upstream's OpenAI list
    ("gpt-3.5-turbo-0125", "gpt-3.5-turbo-0125", None, "You are a helpful assistant."),
    ("my-model", "served-model", None, None),
    ("my-gpt", "gpt-4-0613", None, None),  # the rule looks at the entry's key, not model_name
    ("gpt-4-0613", "served-model", "Answer in French.", "Answer in French."),
    ("my-model", "served-model", "Be brief.", "Be brief."),
])
def test_system_prompt_rules(project, api, name, model_name, system_prompt, expected):
    entry = openai_entry(api, model_name=model_name)
    if system_prompt is not None:
        entry["system_prompt"] = system_prompt
    project.write({name: entry}, [question("q1", "Hi")])
    assert project.run() == 0
    [request] = api.requests
    system = [m["content"] for m in request["body"]["messages"] if m["role"] == "system"]
    assert system == ([expected] if expected is not None else [])
    assert request["body"]["messages"][-1] == {"role": "user", "content": "Hi"}


def test_temperature_follows_the_category_table(project, api):
    categories = ["writing", "roleplay", "extraction", "math", "coding", "reasoning", "stem",
                  "humanities", "arena-hard-v0.1"]
    project.write({"m": openai_entry(api)}, [question(f"q{i}", f"prompt {c}", category=c)
                                              for i, c in enumerate(categories)], temperature=0.5)
    assert project.run() == 0
    sent = {content.removeprefix("prompt "): body["temperature"] for content, body in by_last_user(api).items()}
    assert sent == {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0,
                    "reasoning": 0.0, "stem": 0.1, "humanities": 0.1, "arena-hard-v0.1": 0.5}


def test_num_choices_gives_independent_conversations(project, api):
    project.write({"m": openai_entry(api)}, [question("q1", "one", "two")], num_choices=2)
    assert project.run() == 0
    [record] = project.answers("m")
    assert [c["index"] for c in record["choices"]] == [0, 1]
    assert contents(record) == [["Echo: one", "Echo: two"]] * 2
    # each choice starts afresh (upstream kept appending to one conversation)
    assert sorted(len(r["body"]["messages"]) for r in api.requests) == [1, 1, 3, 3]


@pytest.mark.parametrize("tokenizer", ["cl100k_base", "gpt-4-0613", "tiktoken"])
def test_tokenizer_trims_max_tokens_by_the_conversation(project, api, tokenizer):
    long_prompt = "lorem ipsum " * 600  # about 1200 tokens: more than max_tokens
    project.write({"gpt-4": openai_entry(api, tokenizer=tokenizer)},
                  [question("q1", "Explain tokenizers briefly.", "Now in one word?"), question("q2", long_prompt)],
                  max_tokens=1000)
    assert project.run() == 0  # q2 leaves no room for an answer: reported apart, not stored
    system = "You are a helpful assistant."
    first, second = "Explain tokenizers briefly.", "Now in one word?"
    sent = by_last_user(api)
    margin = 100  # upstream's margin for the chat template with tiktoken counts
    assert sent[first]["max_tokens"] == 1000 - margin - count_tokens(system) - count_tokens(first)
    assert sent[second]["max_tokens"] == 1000 - margin - sum(map(count_tokens, [system, first, "Echo: " + first, second]))
    assert long_prompt not in sent  # never sent with a useless max_tokens
    assert len(api.requests) == 2  # the long question failed before any call
    assert [r["question_id"] for r in project.answers("gpt-4")] == ["q1"]


def test_tokenizer_needing_transformers_fails_clearly_when_it_is_missing(project, api, caplog, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    project.write({"llama": openai_entry(api, tokenizer="meta-llama/Llama-3.1-8B-Instruct")}, [question("q1", "Hi")])
    assert project.run() == 2
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert str(project.endpoint_file) in message and "llama.tokenizer" in message
    assert "pip install transformers" in message and "\n" not in message
    assert api.requests == [] and not project.answer_path("llama").exists()


def test_tokenizer_by_name_loads_it_through_transformers(project, api, monkeypatch):
    loaded = []

    class WordTokenizer:  # stands in for a Hugging Face tokenizer: one token per word
        def encode(self, text: str) -> list[int]:
            return list(range(len(text.split())))

    class AutoTokenizer:
        @staticmethod
        def from_pretrained(name: str) -> WordTokenizer:
            loaded.append(name)
            return WordTokenizer()

    monkeypatch.setitem(sys.modules, "transformers", type(sys)("transformers"))
    monkeypatch.setattr(sys.modules["transformers"], "AutoTokenizer", AutoTokenizer, raising=False)
    project.write({"llama": openai_entry(api, tokenizer="org/llama-tokenizer")},
                  [question("q1", "five words in this prompt", "two more")], max_tokens=400)
    assert project.run() == 0
    assert loaded == ["org/llama-tokenizer"]
    sent = by_last_user(api)
    margin = 300  # upstream's margin for the chat template with a Hugging Face tokenizer
    assert sent["five words in this prompt"]["max_tokens"] == 400 - margin - 5
    assert sent["two more"]["max_tokens"] == 400 - margin - 5 - 6 - 2  # user, "Echo: " reply, user


def test_one_endpoint_per_question(project):
    with FakeAPI() as first, FakeAPI() as second:
        entry = openai_entry(first)
        entry["endpoints"].append({"api_base": second.openai_base, "api_key": "test"})
        project.write({"m": entry}, [question(f"q{i}", f"prompt {i} a", f"prompt {i} b") for i in range(30)])
        assert project.run() == 0
        served = [{m["content"] for r in server.requests for m in r["body"]["messages"] if m["role"] == "user"}
                  for server in (first, second)]
    assert served[0] and served[1]  # both endpoints are used (1 chance in 2**29 to fail by luck)
    for i in range(30):  # both turns of a question went to the same endpoint
        assert [f"prompt {i} a" in users for users in served].count(True) == 1


def test_anthropic_api_type(project, api):
    entry = {"model_name": "claude-test", "api_type": "anthropic", "parallel": 2,
             "endpoints": [{"api_base": api.anthropic_base, "api_key": "test"}], "system_prompt": "Be brief.",
             **FAST_RETRY}
    project.write({"claude": entry}, [question("q1", "Hello", "Again")])
    assert project.run() == 0
    assert [r["path"] for r in api.requests] == ["/v1/messages"] * 2
    last = api.requests[-1]["body"]
    assert last["model"] == "claude-test" and last["system"] == "Be brief."
    assert last["messages"] == [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Echo: Hello"},
                                {"role": "user", "content": "Again"}]
    [record] = project.answers("claude")
    assert contents(record) == [["Echo: Hello", "Echo: Again"]] and record["model_id"] == "claude"


def test_model_name_with_slash_lands_in_one_safe_file(project, api):
    project.write({"org/model-x": openai_entry(api)}, [question("q1", "Hi")])
    assert project.run() == 0
    out = utils.answer_dir(BENCH, project.data)
    assert [p.name for p in out.iterdir()] == ["org%2Fmodel-x.jsonl"]
    [record] = project.answers("org/model-x")
    assert record["model_id"] == "org/model-x"


def test_record_format(project, api, capsys):
    reply = "# Title\n\nSome **bold** words.\n\n- one\n- two\n1. first\n```python\n# a comment\n```\n"
    api.responder = lambda body, path: reply
    prompts = {"q1": "Write markdown", "q2": "Again"}
    project.write({"m": openai_entry(api)}, [question(qid, text) for qid, text in prompts.items()])
    before = time.time()
    assert project.run() == 0
    after = time.time()
    records = project.answers("m")
    assert [r["question_id"] for r in records] == ["q1", "q2"]
    for record in records:
        # upstream's keys, then the usage the server reported (the fake's own counts)
        assert list(record) == ["question_id", "answer_id", "model_id", "choices", "tstamp", "conv_metadata", "usage"]
        [body] = [r["body"] for r in api.requests if r["body"]["messages"][-1]["content"] == prompts[record["question_id"]]]
        assert record["usage"] == {"input_tokens": fake_api.prompt_tokens(body), "cached_input_tokens": 0,
                                   "output_tokens": fake_api.count_tokens(reply), "calls": 1}
        assert re.fullmatch(r"[0-9A-Za-z]{22}", record["answer_id"])
        assert record["model_id"] == "m"
        assert before <= record["tstamp"] <= after
        assert record["choices"] == [{"index": 0, "turns": [{"content": reply, "token_len": count_tokens(reply)}]}]
        assert record["conv_metadata"] == conv_metadata(record)
        assert record["conv_metadata"]["token_len"] == count_tokens(reply)
        assert record["conv_metadata"]["header_count"]["h1"] == 1  # the '#' inside the code block is not
        assert record["conv_metadata"]["list_count"] == {"ordered": 1, "unordered": 2}
        assert record["conv_metadata"]["bold_count"]["**"] == 1
    assert len({r["answer_id"] for r in records}) == 2
    assert "m: answered 2, cached 0, failed 0" in capsys.readouterr().out


def test_reply_with_a_lone_surrogate_is_stored_without_it(project, api, capsys, caplog):
    # Valid JSON ("\\ud800" in the server's body) that no UTF-8 file can hold: the answer is
    # paid for, so it is stored, minus the surrogate, with a warning; the other answers too.
    api.responder = lambda body, path: "x\ud800y" if "bad" in json.dumps(body) else "fine"
    project.write({"m": openai_entry(api)}, [question("q1", "bad"), question("q2", "good")])
    assert project.run() == 0
    records = {r["question_id"]: r for r in project.answers("m")}
    assert contents(records["q1"]) == [["xy"]] and contents(records["q2"]) == [["fine"]]
    assert "question q1: 1 lone UTF-16 surrogate dropped" in caplog.text
    assert "m: answered 2, cached 0, failed 0" in capsys.readouterr().out


# ---------------------------------------------------------------------------- resume


def test_second_run_makes_no_requests(project, api, capsys):
    project.write({"m": openai_entry(api)}, [question(f"q{i}", f"prompt {i}") for i in range(5)])
    assert project.run() == 0
    first = project.answers("m")
    sent = len(api.requests)
    assert sent == 5
    capsys.readouterr()
    assert project.run() == 0
    assert len(api.requests) == sent
    assert project.answers("m") == first
    assert "m: answered 0, cached 5, failed 0" in capsys.readouterr().out


def test_upstream_error_answers_are_redone_and_the_file_tidied(project, api, capsys):
    project.write({"m": openai_entry(api)}, [question("q1", "one"), question("q2", "two"), question("q3", "three")])

    def upstream(qid: str, text: str) -> str:  # upstream's compact JSON style
        record = {"question_id": qid, "answer_id": "up" + qid, "model_id": "m", "tstamp": 1.0,
                  "choices": [{"index": 0, "turns": [{"content": text, "token_len": 3}]}]}
        return json.dumps(record, separators=(",", ":")) + "\n"

    path = project.answer_path("m")
    path.parent.mkdir(parents=True)
    path.write_text(upstream("q3", "old three") + upstream("q1", "$ERROR$") + upstream("q3", "cached three"))
    assert project.run() == 0
    assert sorted(by_last_user(api)) == ["one", "two"]
    records = project.answers("m")
    assert [r["question_id"] for r in records] == ["q1", "q2", "q3"]
    assert [contents(r) for r in records] == [[["Echo: one"]], [["Echo: two"]], [["cached three"]]]
    assert records[2]["answer_id"] == "upq3"  # cached answers are kept as they are
    assert "$ERROR$" not in path.read_text()
    assert "m: answered 2, cached 1, failed 0" in capsys.readouterr().out


def start_run_and_wait(project: Project, min_lines: int) -> tuple[subprocess.Popen, Path]:
    """gen_answer.py in its own process, returned once the answer file has min_lines lines."""
    proc = subprocess.Popen([sys.executable, str(REPO / "gen_answer.py"), *project.argv()], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    path = project.answer_path("m")
    deadline = time.monotonic() + 60
    while not path.exists() or path.read_bytes().count(b"\n") < min_lines:
        assert proc.poll() is None, "gen_answer.py ended before it could be interrupted"
        assert time.monotonic() < deadline, "no answers written"
        time.sleep(0.005)
    return proc, path


def test_resume_after_sigkill(project):
    questions = [question(f"q{i:04d}", f"prompt {i}") for i in range(500)]
    hold = HoldAfter(40)  # 40 answers, then every call waits: the kill always lands mid-run
    with FakeAPI(latency=0.01, responder=hold) as api:
        try:
            project.write({"m": openai_entry(api, parallel=4)}, questions)
            proc, path = start_run_and_wait(project, 20)
            proc.kill()
            proc.wait()
            proc.stdout.close()
        finally:
            hold.release()
    done_before = {r["question_id"] for r in project.answers("m")}
    assert 20 <= len(done_before) <= 40
    # what a kill in the middle of a write would leave: it must be cut, not kept
    with open(path, "ab") as f:
        f.write(b'{"question_id": "q0499", "answer_id": "torn", "cho')
    with FakeAPI() as api:  # a fresh server: its requests are the rerun's alone
        project.write({"m": openai_entry(api, parallel=4)}, questions)
        assert project.run() == 0
        asked = sorted(by_last_user(api))
    assert len(api.requests) == len(asked) == 500 - len(done_before)  # only what was missing
    assert not {f"prompt {int(qid[1:])}" for qid in done_before} & set(asked)
    records = project.answers("m")  # every line parses
    assert [r["question_id"] for r in records] == [f"q{i:04d}" for i in range(500)]
    assert all(contents(r) == [[f"Echo: prompt {int(r['question_id'][1:])}"]] for r in records)


def test_ctrl_c_stops_cleanly_with_the_summary(project):
    hold = HoldAfter(20)  # 20 answers, then every call waits until the run has been interrupted
    with FakeAPI(latency=0.01, responder=hold) as api:
        try:
            project.write({"m": openai_entry(api, parallel=4)},
                          [question(f"q{i:04d}", f"prompt {i}") for i in range(500)])
            proc, path = start_run_and_wait(project, 10)
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        finally:
            hold.release()
    assert proc.returncode == 130
    match = re.search(r"m: answered (\d+), cached 0, failed 0", out)
    assert match, out
    data = path.read_bytes()
    assert data.endswith(b"\n")
    records = [json.loads(line) for line in data.splitlines()]
    assert 10 <= len(records) == int(match.group(1)) <= 20
    assert len({r["question_id"] for r in records}) == len(records)


def test_a_second_run_on_the_same_answer_file_stops_before_any_request(project, caplog):
    questions = [question(f"q{i:02d}", f"prompt {i}") for i in range(10)]
    hold = HoldAfter(3)  # the first run answers 3 questions, then waits mid-run
    with FakeAPI(responder=hold) as api, FakeAPI() as api2:
        try:
            project.write({"m": openai_entry(api, parallel=2), "other": openai_entry(api, parallel=2)}, questions)
            first = subprocess.Popen([sys.executable, str(REPO / "gen_answer.py"), *project.argv("--model", "m")],
                                     cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            assert hold.held.wait(60), "the first run sent no request"
            # The second run (this process) talks to api2: whatever it sends is counted there.
            project.write({"m": openai_entry(api2, parallel=2), "other": openai_entry(api2, parallel=2)}, questions)
            assert project.run("--model", "m") == 2
            [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
            assert message.startswith(f"{project.answer_path('m')}: another run (pid {first.pid}) is writing "
                                      "this file")
            assert api2.requests == []
            assert project.run() == 2  # the whole model_list: stopped before "other" is asked anything
            assert api2.requests == []
            assert project.run("--model", "other") == 0  # another model's file: runs alongside
            assert len(api2.requests) == 10
        finally:
            hold.release()
        out, _ = first.communicate(timeout=60)
    assert first.returncode == 0 and "m: answered 10, cached 0, failed 0" in out
    assert sorted(r["question_id"] for r in project.answers("m")) == [q["question_id"] for q in questions]
    assert sorted(p.name for p in project.answer_path("m").parent.iterdir()) == ["m.jsonl", "other.jsonl"]


def test_a_model_listed_twice_is_run_once(project, api, caplog):
    # not taken for another run holding its file (this run's own claim), nor answered twice
    project.write({"m": openai_entry(api)}, [question("q1", "Hi"), question("q2", "Ho")], model_list=["m", "m"])
    assert project.run() == 0, [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(api.requests) == 2
    assert [r["question_id"] for r in project.answers("m")] == ["q1", "q2"]


@pytest.mark.parametrize("make_unwritable, named", [
    (lambda p: p.data.joinpath(BENCH, "model_answer").write_text("a file where the folder should be"),
     "model_answer: cannot write: File exists"),
    (lambda p: p.answer_path("m").mkdir(parents=True), "m.jsonl: cannot write: Is a directory"),
])
def test_unwritable_output_is_an_error_before_any_request(project, api, caplog, make_unwritable, named):
    # Tests run as root, whom chmod does not stop: a file where a folder belongs (or the
    # reverse) gives the real OSError of a failed write at the same calls.
    project.write({"m": openai_entry(api)}, [question("q1", "Hi")])
    make_unwritable(project)
    assert project.run() == 2
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert message.endswith(named) and "\n" not in message
    assert api.requests == []


def test_disk_full_mid_run_stops_requests_and_keeps_what_was_written(project, caplog, capsys, monkeypatch):
    with FakeAPI(latency=0.02) as api:
        project.write({"m": openai_entry(api, parallel=2), "n": openai_entry(api, parallel=2)},
                      [question(f"q{i:02d}", f"prompt {i}") for i in range(40)])
        lines = disk_full_after(monkeypatch, "m.jsonl", 3)
        assert project.run() == 1
        time.sleep(0.2)  # a question a worker had started may still send its request
        sent = len(api.requests)
    assert sent <= 12, sent  # 3 stored, the one that failed, a few in flight: not the other 36, nor model n
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert message.startswith("cannot write ") and "m.jsonl: No space left on device: stopped" in message
    assert [json.loads(line)["question_id"] for line in lines] == [r["question_id"] for r in project.answers("m")]
    assert "m: answered 3, cached 0, failed 0" in capsys.readouterr().out
    assert not project.answer_path("n").exists()


@pytest.mark.parametrize("name, problem", [
    ("x" * 300, "is too long for a file name"),
    ("é" * 120, "is too long for a file name"),  # 240 characters, but 240 bytes + .jsonl + temporary suffix
    ("model\nINFO forged line", "holds the control character '\\n'"),
    ("tab\there", "holds the control character '\\t'"),
], ids=["300-characters", "240-two-byte-characters", "newline", "tab"])
def test_model_names_a_filesystem_cannot_hold_are_refused_at_start(project, api, caplog, name, problem):
    project.write({name: openai_entry(api)}, [question("q1", "Hi")])
    assert project.run() == 2
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert message.startswith(f"{project.setting_file}: model_list: model name ") and problem in message
    assert "\n" not in message
    assert api.requests == []
    assert not utils.answer_dir(BENCH, project.data).exists()


# ---------------------------------------------------------------------------- failures


def assert_no_failure_stored(records: list[dict]) -> None:
    for record in records:
        for turns in contents(record):
            for text in turns:
                assert text.startswith("Echo: prompt ") and "$ERROR$" not in text and "Error" not in text


def test_faults_are_retried_and_failures_never_stored(project, capsys):
    questions = [question(f"q{i:03d}", f"prompt {i}") for i in range(200)]
    with FakeAPI(fault_rates={"429": 0.10, "500": 0.10, "drop": 0.05}) as api:
        api.random_retry_after = 0.01
        # One retry: a question fails when both attempts hit a fault (about 6% of them).
        project.write({"m": openai_entry(api, parallel=16, max_retries=1)}, questions)
        assert project.run() == 1
        out = capsys.readouterr().out
        match = re.search(r"m: answered (\d+), cached 0, failed (\d+): rerun to retry", out)
        assert match, out
        answered, failed = int(match.group(1)), int(match.group(2))
        assert failed > 0 and answered + failed == 200
        records = project.answers("m")
        assert len(records) == answered
        assert_no_failure_stored(records)
        assert all(api.faults_served[kind] > 0 for kind in ("429", "500", "drop"))

        # The rerun, faults still on, with an ordinary retry budget, answers the rest.
        project.write({"m": openai_entry(api, parallel=16, max_retries=8)}, questions)
        assert project.run() == 0
        assert f"m: answered {failed}, cached {answered}, failed 0" in capsys.readouterr().out
    records = project.answers("m")
    assert [r["question_id"] for r in records] == [q["question_id"] for q in questions]
    assert_no_failure_stored(records)


def test_client_error_fails_at_once_and_is_not_stored(project, api, capsys, caplog):
    project.write({"m": openai_entry(api, parallel=1)}, [question(f"q{i}", f"prompt {i}") for i in (1, 2, 3)])
    api.fail_next("400")
    assert project.run() == 1
    assert len(api.requests) == 3  # no retry of the 400
    assert [r["question_id"] for r in project.answers("m")] == ["q2", "q3"]
    assert "m: answered 2, cached 0, failed 1: rerun to retry" in capsys.readouterr().out
    assert any("q1" in r.getMessage() and "400" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------- bad configuration


def _append_questions(project: Project, text: str) -> None:
    with open(project.data / BENCH / "question.jsonl", "a") as f:
        f.write(text)


def _drop_key(project: Project) -> None:
    config = yaml.safe_load(project.setting_file.read_text())
    del config["max_tokens"]
    project.setting_file.write_text(yaml.safe_dump(config))


@pytest.mark.parametrize("break_it, extra, expected", [
    (lambda p: p.setting_file.write_text(p.setting_file.read_text().replace("- m", "- unknown-model")), (),
     ["gen_answer_config.yaml: model_list", "'unknown-model'", "api_config.yaml"]),
    (_drop_key, (), ["gen_answer_config.yaml", "missing key 'max_tokens'"]),
    (lambda p: p.setting_file.write_text("bench_name: [unclosed\n"), (), ["gen_answer_config.yaml", "invalid YAML"]),
    (lambda p: p.endpoint_file.write_text("m: {model_name: x\n"), (), ["api_config.yaml", "invalid YAML"]),
    (lambda p: p.setting_file.write_text(p.setting_file.read_text().replace("num_choices: 1", "num_choices: 0")), (),
     ["gen_answer_config.yaml", "num_choices"]),
    (lambda p: (p.data / BENCH / "question.jsonl").unlink(), (), ["question.jsonl", "--fetch-official-data"]),
    (lambda p: None, ("--model", "other"), ["gen_answer_config.yaml: model_list", "'other'"]),
    (lambda p: _append_questions(p, json.dumps(question("q1", "Other text")) + "\n"), (),
     ['question.jsonl:2: question_id "q1" already on line 1']),
    (lambda p: _append_questions(p, json.dumps(question("q2", "Cut"))[:-3]), (), ["question.jsonl:2: invalid JSON"]),
    (lambda p: (p.data / BENCH / "question.jsonl").write_text(""), (), ["question.jsonl: no questions"]),
    (lambda p: p.endpoint_file.write_text(p.endpoint_file.read_text() + "m: {model_name: y}\n"), (),
     ["api_config.yaml:", "duplicate key 'm'"]),
    (lambda p: p.endpoint_file.write_text(p.endpoint_file.read_text().replace("retry_max_delay: 0.05",
                                                                              "retry_max_delay: .inf")), (),
     ["api_config.yaml: m.retry_max_delay"]),
    (lambda p: p.setting_file.write_text(p.setting_file.read_text().replace("temperature: 0.0", "temperature: .nan")),
     (), ["gen_answer_config.yaml: temperature"]),
], ids=["unknown-model", "missing-key", "bad-yaml", "bad-api-yaml", "bad-value", "no-questions", "model-not-listed",
        "duplicate-question-id", "cut-last-question", "empty-question-file", "model-defined-twice",
        "infinite-retry-delay", "nan-temperature"])
def test_config_errors_exit_2_with_one_line(project, api, caplog, break_it, extra, expected):
    project.write({"m": openai_entry(api)}, [question("q1", "Hi")])
    break_it(project)
    assert_refused_before_any_request(project, api, caplog, expected, *extra)


def assert_refused_before_any_request(project: Project, api, caplog, expected: list[str], *extra: str) -> None:
    """The run exits 2 with one error line holding every fragment of `expected`, having sent no
    request and made no answer folder."""
    assert project.run(*extra) == 2
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "\n" not in message
    for fragment in expected:
        assert fragment in message
    assert api.requests == []
    assert not utils.answer_dir(BENCH, project.data).exists()


# ---------------------------------------------------------------------------- official data


# Synthetic stand-ins for the pinned upstream files: (path upstream, content, path here).
SYNTHETIC_OFFICIAL = (
    ("data/arena-hard-v0.1/question.jsonl", b'{"question_id": "q1", "turns": [{"content": "Hi"}]}\n',
     "data/arena-hard-v0.1/question.jsonl"),
    ("data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl", b'{"question_id": "q1", "choices": []}\n',
     "data/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl"),
    ("config/judge_config.yaml", b"judge_model: gpt-4-1106-preview\n", "config/judge_config.arena-hard-v0.1.yaml"),
)


@pytest.fixture
def upstream(tmp_path: Path, monkeypatch) -> Iterator[tuple[Path, str]]:
    """Synthetic upstream files served over HTTP, pinned by their own sha256: (tree, base URL)."""
    tree = tmp_path / "upstream"
    for rel, content, _ in SYNTHETIC_OFFICIAL:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(content)
    monkeypatch.setattr(gen_answer, "OFFICIAL_FILES", tuple(
        (rel, hashlib.sha256(content).hexdigest(), local) for rel, content, local in SYNTHETIC_OFFICIAL))
    with serve_folder(tree) as url:
        yield tree, url


@contextlib.contextmanager
def serve_folder(tree: Path) -> Iterator[str]:
    """The files under `tree` over HTTP on 127.0.0.1; yields the base URL."""

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tree)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def test_fetch_official_data_writes_the_pinned_files(tmp_path, upstream, monkeypatch, capsys):
    _, url = upstream
    monkeypatch.setenv(gen_answer.UPSTREAM_BASE_ENV, url)
    root = tmp_path / "clone"
    assert gen_answer.main(["--fetch-official-data", "--data-dir", str(root / "data")]) == 0
    printed = capsys.readouterr().out.splitlines()
    for _, content, local in SYNTHETIC_OFFICIAL:
        assert (root / local).read_bytes() == content
        assert str(root / local) in printed
    assert len(files_under(root)) == 3


def test_pinned_checksums_are_those_of_the_real_upstream_files(shared_data):
    for upstream_path, sha256, _ in gen_answer.OFFICIAL_FILES:
        assert hashlib.sha256((shared_data / upstream_path.removeprefix("data/")).read_bytes()).hexdigest() == sha256


def test_fetch_official_data_reports_an_unreachable_server(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(gen_answer.UPSTREAM_BASE_ENV, f"http://127.0.0.1:{free_port()}/")
    root = tmp_path / "clone"
    assert gen_answer.main(["--fetch-official-data", "--data-dir", str(root / "data")]) == 1
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "cannot download" in message and "question.jsonl" in message and "\n" not in message
    assert files_under(root) == []


def test_fetch_official_data_refuses_a_corrupted_file(tmp_path, upstream, monkeypatch, caplog):
    tree, url = upstream
    with open(tree / "data/arena-hard-v0.1/question.jsonl", "ab") as f:
        f.write(b"\n")
    monkeypatch.setenv(gen_answer.UPSTREAM_BASE_ENV, url)
    root = tmp_path / "clone"
    assert gen_answer.main(["--fetch-official-data", "--data-dir", str(root / "data")]) == 1
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "sha256" in message and "question.jsonl" in message
    assert files_under(root) == []



def test_fetch_never_overwrites_a_file_that_differs(tmp_path, caplog):
    dest = tmp_path / "data" / "arena-hard-v0.1" / "model_answer" / "gpt-4-0314.jsonl"
    dest.parent.mkdir(parents=True)
    dest.write_text('{"question_id": "q", "conv_metadata": {}}\n')
    # the other two files are absent: the download of the first one fails (closed port)
    with pytest.raises(gen_answer.FetchError, match="cannot download"):
        gen_answer.fetch_official_data(tmp_path, base_url="http://127.0.0.1:9/")
    assert "conv_metadata" in dest.read_text()


def test_fetch_leaves_a_file_a_running_gen_answer_writes(tmp_path, upstream, monkeypatch, caplog):
    """A gen_answer run on the baseline's model holds its answer file from its start; here its file
    appears while fetch downloads. Fetch writing it then would move the file from under the run's
    open descriptor and lose every answer (paid for)."""
    _, url = upstream
    monkeypatch.setenv(gen_answer.UPSTREAM_BASE_ENV, url)
    root = tmp_path / "clone"
    baseline = root / SYNTHETIC_OFFICIAL[1][2]
    appender: list[utils.JsonlAppender] = []
    stored: list[str] = []

    def store(qid: str) -> None:  # as the run's writer: its file is made with the first answer
        if not appender:
            appender.append(utils.JsonlAppender(baseline))
        stored.append(qid)
        appender[0].append({"question_id": qid, "choices": [{"index": 0, "turns": [{"content": "paid"}]}]})

    real_download = gen_answer.download_checked

    def download(base_url, upstream_path, checksum, dest, timeout):
        data = real_download(base_url, upstream_path, checksum, dest, timeout)
        if dest == baseline:
            store("a1")
        return data

    monkeypatch.setattr(gen_answer, "download_checked", download)
    with utils.claim_output(baseline):  # the run, waiting for its first reply
        status = gen_answer.main(["--fetch-official-data", "--data-dir", str(root / "data")])
        store("a2")
        appender[0].close()
    assert [json.loads(line)["question_id"] for line in baseline.read_bytes().splitlines()] == stored
    assert status == 2
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert message == (f"{baseline}: another run (pid {os.getpid()}) is writing this file; wait for it to end, "
                       "or stop it")
    assert files_under(root) == [baseline]  # nothing else written, no lock left


def test_fetch_stops_while_a_run_writes_a_file_already_there(tmp_path, upstream, monkeypatch, caplog):
    """A gen_answer run on the baseline's model opens its answer file when it starts, before any
    reply: fetch finds the file there (empty, or partly written) and must neither read it as an
    edited copy nor advise deleting it (the run would lose every answer), but stop naming the run."""
    _, url = upstream
    root = tmp_path / "clone"
    project = Project(root)
    hold = HoldAfter(0)  # the run's every request waits: it is surely still going
    with FakeAPI(responder=hold) as api:
        try:
            root.mkdir()
            project.write({"gpt-4-0314": openai_entry(api, parallel=1)}, [], bench_name="arena-hard-v0.1")
            questions, content, _ = SYNTHETIC_OFFICIAL[0]  # upstream's question file, as fetched
            (root / questions).parent.mkdir(parents=True)
            (root / questions).write_bytes(content)
            run = subprocess.Popen([sys.executable, str(REPO / "gen_answer.py"), *project.argv()], cwd=root,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            assert hold.held.wait(60), "the run sent no request"
            baseline = root / SYNTHETIC_OFFICIAL[1][2]
            assert baseline.exists()
            monkeypatch.setenv(gen_answer.UPSTREAM_BASE_ENV, url)
            assert gen_answer.main(["--fetch-official-data", "--data-dir", str(project.data)]) == 2
        finally:
            hold.release()
        out, _ = run.communicate(timeout=60)
    assert run.returncode == 0 and "gpt-4-0314: answered 1" in out
    [message] = [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "WARNING")]
    assert message == f"{baseline}: another run (pid {run.pid}) is writing this file; wait for it to end, or stop it"
    assert [json.loads(line)["question_id"] for line in baseline.read_bytes().splitlines()] == ["q1"]
    assert not (root / SYNTHETIC_OFFICIAL[2][2]).exists()  # nothing written


# ---------------------------------------------------------------------------- official v2.0 data


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob " + str(len(data)).encode() + b"\0" + data).hexdigest()


# Shaped as upstream's utils/judge_utils.py: one prompt bound to a name, the other written inline in
# the per-category table; a line that would leave a file behind if the module were ever run.
HARD_PROMPT = "Judge the two answers.\n\nFirst write your own answer.\n\nEnd with [[A>B]] or so."
CREATIVE_PROMPT = 'Judge the two stories.\n\nCompare both answers: "quotes" and \\ stay.\n\nEnd with [[A>B]].'
SYNTHETIC_JUDGE_UTILS = f"""import os
from pathlib import Path

Path(os.environ.get("JUDGE_UTILS_RAN", "judge_utils_ran")).write_text("executed")

OG_ARENA_HARD_PROMPT = {HARD_PROMPT!r}

JUDGE_SETTINGS = {{
    "hard_prompt": {{
        "baseline": "o3-mini-2025-01-31",
        "system_prompt": OG_ARENA_HARD_PROMPT,
    }},
    "coding": {{"baseline": "o3-mini-2025-01-31", "system_prompt": OG_ARENA_HARD_PROMPT}},
    "math": {{"baseline": "o3-mini-2025-01-31", "system_prompt": OG_ARENA_HARD_PROMPT}},
    "creative_writing": {{
        "baseline": "gemini-2.0-flash-001",
        "system_prompt": {CREATIVE_PROMPT[:20]!r}
                         {CREATIVE_PROMPT[20:]!r},
    }},
    "arena-hard-v0.1": {{"baseline": "gpt-4-0314", "system_prompt": OG_ARENA_HARD_PROMPT}},
}}


def get_score(judgment, patterns):
    return None
""".encode()
UPSTREAM_TEMPLATE = "<|Q|>\n{QUESTION}\n<|A|>\n{ANSWER_A}\n<|B|>\n{ANSWER_B}"
SYNTHETIC_V2_CONFIG = (b"judge_model: gpt-4.1\ntemperature: 0.0\nmax_tokens: 16000\n\nbench_name: arena-hard-v2.0\n\n"
                       b"reference: null\n\nregex_patterns:\n  - \\[\\[([AB<>=]+)\\]\\]\n  - \\[([AB<>=]+)\\]\n\n"
                       b"prompt_template: " + json.dumps(UPSTREAM_TEMPLATE).encode() + b"\n\nmodel_list:\n  - o3-2025-04-16\n")
V2_DATA = (
    ("data/arena-hard-v2.0/question.jsonl",
     b'{"uid": "u1", "category": "hard_prompt", "subcategory": "coding", "prompt": "Hi"}\n'),
    ("data/arena-hard-v2.0/model_answer/o3-mini-2025-01-31.jsonl", b'{"uid": "u1", "model": "o3-mini-2025-01-31"}\n'),
    ("data/arena-hard-v2.0/model_answer/gemini-2.0-flash-001.jsonl", b'{"uid": "u1", "model": "gemini"}\n'),
)


@pytest.fixture
def upstream_v2(tmp_path: Path, monkeypatch) -> Iterator[tuple[Path, str]]:
    """Synthetic upstream v2.0 files served over HTTP, pinned by their own checksums (the gemini
    answers by git blob sha1, as the real ones): (tree, base URL)."""
    tree = tmp_path / "upstream-v2"
    files = V2_DATA + (("utils/judge_utils.py", SYNTHETIC_JUDGE_UTILS),
                       ("config/arena-hard-v2.0.yaml", SYNTHETIC_V2_CONFIG))
    for rel, content in files:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(content)
    monkeypatch.setattr(gen_answer, "OFFICIAL_FILES_V2", tuple(
        (rel, git_blob_sha1(content) if "gemini" in rel else hashlib.sha256(content).hexdigest(), rel)
        for rel, content in V2_DATA))
    monkeypatch.setattr(gen_answer, "UPSTREAM_JUDGE_UTILS",
                        ("utils/judge_utils.py", hashlib.sha256(SYNTHETIC_JUDGE_UTILS).hexdigest()))
    monkeypatch.setattr(gen_answer, "UPSTREAM_V2_JUDGE_CONFIG",
                        ("config/arena-hard-v2.0.yaml", hashlib.sha256(SYNTHETIC_V2_CONFIG).hexdigest()))
    monkeypatch.setenv("JUDGE_UTILS_RAN", str(tmp_path / "judge_utils_ran"))
    with serve_folder(tree) as url:
        monkeypatch.setenv(gen_answer.UPSTREAM_BASE_ENV, url)
        yield tree, url


def fetch_v2(root: Path) -> int:
    return gen_answer.main(["--fetch-official-data", "--bench", "arena-hard-v2.0", "--data-dir", str(root / "data")])


def test_fetch_v2_writes_the_data_and_a_judge_config_of_upstreams_prompts(tmp_path, upstream_v2, capsys):
    root = tmp_path / "clone"
    assert fetch_v2(root) == 0
    for rel, content in V2_DATA:
        assert (root / rel).read_bytes() == content
    config_path = root / "config" / "arena-hard-v2.0.upstream.yaml"
    assert sorted(capsys.readouterr().out.split()) == sorted([str(root / rel) for rel, _ in V2_DATA] + [str(config_path)])
    assert len(files_under(root)) == 4  # judge_utils.py and upstream's yaml are read, not kept
    assert not (tmp_path / "judge_utils_ran").exists()  # read as data, never run
    config = utils.load_yaml(config_path)
    assert list(config) == ["judge_model", "temperature", "max_tokens", "bench_name", "reference",
                            "regex_patterns", "prompt_template", "model_list", "categories"]
    assert (config["judge_model"], config["temperature"], config["max_tokens"], config["bench_name"]) == (
        "gpt-4.1", 0.0, 16000, "arena-hard-v2.0")
    assert config["reference"] is None
    assert config["regex_patterns"] == [r"\[\[([AB<>=]+)\]\]", r"\[([AB<>=]+)\]"]
    assert config["prompt_template"] == UPSTREAM_TEMPLATE and config["model_list"] == ["o3-2025-04-16"]
    assert config["categories"] == {
        "hard_prompt": {"baseline": "o3-mini-2025-01-31", "system_prompt": HARD_PROMPT},
        "coding": {"baseline": "o3-mini-2025-01-31", "system_prompt": HARD_PROMPT},
        "math": {"baseline": "o3-mini-2025-01-31", "system_prompt": HARD_PROMPT},
        "creative_writing": {"baseline": "gemini-2.0-flash-001", "system_prompt": CREATIVE_PROMPT},
        "arena-hard-v0.1": {"baseline": "gpt-4-0314", "system_prompt": HARD_PROMPT},
    }
    # A second run downloads nothing and keeps every file as it is (edits included).
    config_path.write_text(config_path.read_text() + "# my note\n")
    assert fetch_v2(root) == 0
    assert config_path.read_text().endswith("# my note\n")


def test_fetch_without_bench_still_fetches_v0_1(tmp_path, upstream, upstream_v2, monkeypatch):
    _, url = upstream
    monkeypatch.setenv(gen_answer.UPSTREAM_BASE_ENV, url)
    root = tmp_path / "clone"
    assert gen_answer.main(["--fetch-official-data", "--data-dir", str(root / "data")]) == 0
    assert [p.relative_to(root).as_posix() for p in files_under(root)] == sorted(local for *_, local in SYNTHETIC_OFFICIAL)


@pytest.mark.parametrize("corrupt, expected", [
    ("data/arena-hard-v2.0/model_answer/gemini-2.0-flash-001.jsonl", "git blob sha1"),
    ("data/arena-hard-v2.0/question.jsonl", "sha256"),
    ("utils/judge_utils.py", "sha256"),
    ("config/arena-hard-v2.0.yaml", "sha256"),
])
def test_fetch_v2_refuses_a_corrupted_file_and_writes_nothing(tmp_path, upstream_v2, caplog, corrupt, expected):
    tree, _ = upstream_v2
    with open(tree / corrupt, "ab") as f:
        f.write(b"\n")
    root = tmp_path / "clone"
    assert fetch_v2(root) == 1
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert expected in message and corrupt in message and "\n" not in message
    assert files_under(root) == []


def test_fetch_v2_reports_an_unreachable_server(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(gen_answer.UPSTREAM_BASE_ENV, f"http://127.0.0.1:{free_port()}/")
    root = tmp_path / "clone"
    assert fetch_v2(root) == 1
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "cannot download" in message and "arena-hard-v2.0/question.jsonl" in message
    assert files_under(root) == []
    # With the data already there, upstream's prompts are still needed for the judge config.
    for rel, content in V2_DATA:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    caplog.clear()
    assert fetch_v2(root) == 1
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "cannot download" in message and "utils/judge_utils.py" in message
    assert len(files_under(root)) == 3 and not (root / gen_answer.UPSTREAM_V2_CONFIG).exists()


def test_fetch_v2_default_address_is_the_pinned_v2_commit(tmp_path, monkeypatch):
    urls: list[str] = []

    def refuse(url, timeout):
        urls.append(url)
        raise OSError("offline")

    monkeypatch.delenv(gen_answer.UPSTREAM_BASE_ENV, raising=False)
    monkeypatch.setattr("urllib.request.urlopen", refuse)
    assert fetch_v2(tmp_path / "clone") == 1
    assert urls == ["https://raw.githubusercontent.com/lmarena/arena-hard-auto/"
                    "196f6b826783b3da7310e361a805fa36f0be83f3/data/arena-hard-v2.0/question.jsonl"]


def test_bench_flag_needs_fetch(capsys):
    with pytest.raises(SystemExit) as e:
        gen_answer.main(["--bench", "arena-hard-v2.0"])
    assert e.value.code == 2 and "--fetch-official-data" in capsys.readouterr().err


@pytest.mark.parametrize("source, expected", [
    # a name, an inline literal, implicit and explicit concatenation, an annotated assignment
    ('P: str = "a"\nS = {"x": {"baseline": "b", "system_prompt": P}, "y": {"system_prompt": "c" "d", "baseline": "e"}}',
     {"x": {"baseline": "b", "system_prompt": "a"}, "y": {"baseline": "e", "system_prompt": "cd"}}),
    ('P = "a" + "b"\nQ = P + "c"\nS = {"x": {"baseline": "b", "system_prompt": Q, "other": 1}}',
     {"x": {"baseline": "b", "system_prompt": "abc"}}),
    # other dicts before the table are passed over
    ('M = {"a": 1}\nN = {"k": {"baseline": "b"}}\nS = {"x": {"baseline": "b", "system_prompt": "p"}}',
     {"x": {"baseline": "b", "system_prompt": "p"}}),
])
def test_judge_settings_are_read_from_string_literals(source, expected):
    assert gen_answer.judge_settings_from_source(source, "judge_utils.py") == expected


@pytest.mark.parametrize("source, message", [
    ('S = {"x": {"baseline": "b", "system_prompt": f"{1}"}}', "judge_utils.py:1: x.system_prompt is not a string"),
    ('S = {"x": {"baseline": "b", "system_prompt": load()}}', "x.system_prompt is not a string"),
    ('S = {"x": {"baseline": "b", "system_prompt": MISSING}}', "x.system_prompt is not a string"),
    ('P = "a"\nP = load()\nS = {"x": {"baseline": "b", "system_prompt": P}}', "x.system_prompt"),
    ('P = "only a prompt"\n', "no table of per-category judge settings"),
    ("def broken(:\n", "judge_utils.py:1: not Python source"),
])
def test_judge_settings_refuse_what_is_not_a_literal(source, message):
    with pytest.raises(gen_answer.FetchError, match=re.escape(message)):
        gen_answer.judge_settings_from_source(source, "judge_utils.py")


def test_upstream_v2_config_needs_a_template_with_the_v2_placeholders():
    bad = SYNTHETIC_V2_CONFIG.replace(b"{ANSWER_B}", b"{answer_2}")
    with pytest.raises(gen_answer.FetchError, match=r"arena-hard-v2\.0\.yaml: prompt_template"):
        gen_answer.upstream_v2_judge_config(SYNTHETIC_JUDGE_UTILS, bad)


def test_pinned_v2_checksums_are_those_of_the_real_upstream_files(shared_data):
    checked = 0
    for upstream_path, checksum, _ in gen_answer.OFFICIAL_FILES_V2:
        path = shared_data / upstream_path.removeprefix("data/")
        if path.exists():  # the gemini answers are not in the shared data
            assert gen_answer.checksum_matches(path.read_bytes(), checksum), upstream_path
            checked += 1
    assert checked == 2


# ---------------------------------------------------------------------------- unreachable servers


def test_refused_port_is_one_line_naming_url_and_entry_within_seconds(project, api, caplog):
    port = free_port()
    entry = openai_entry(api, max_retries=2, retry_base_delay=5)
    entry["endpoints"].append({"api_base": f"http://user:secret@127.0.0.1:{port}/v1", "api_key": "sk-private"})
    project.write({"m": entry}, [question("q1", "Hi")])
    message = refused_in_one_line(project.run, caplog, port)
    assert message.startswith(f"{project.endpoint_file}: m.endpoints[1].api_base: cannot reach "), message
    assert "secret" not in message and "sk-private" not in message
    assert api.requests == [] and not project.answer_path("m").exists()


def test_preflight_once_per_run_with_work_and_the_sdk_default_for_null_endpoints(project, api, monkeypatch,
                                                                                 fresh_clients):
    monkeypatch.setenv("OPENAI_BASE_URL", api.openai_base)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    entry = {**openai_entry(api), "endpoints": None}
    project.write({"m": entry, "n": openai_entry(api)}, [question("q1", "Hi"), question("q2", "Ho")])
    assert project.run() == 0
    assert api.get_requests == ["/v1/models"]  # one GET for the one server, before the 4 answers
    assert len(api.requests) == 4
    assert project.run() == 0  # nothing to do: no pre-flight either
    assert api.get_requests == ["/v1/models"]


def test_connection_warnings_name_the_endpoint(project, api, caplog, capsys):
    project.write({"m": openai_entry(api, max_retries=1, parallel=1)}, [question("q1", "Hi")])
    api.fail_next("drop", times=2)
    assert project.run() == 1
    retry = next(r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "retry 1/1" in r.getMessage())
    assert retry.startswith(f"m: {api.openai_base}: APIConnectionError"), retry
    assert any(f"question q1 not answered: {api.openai_base}: APIConnectionError" in r.getMessage()
               for r in caplog.records)


def test_openai_base_without_v1_gets_a_warning_naming_it(project, api, caplog):
    project.write({"m": openai_entry(api, endpoints=[{"api_base": api.url, "api_key": "t"}])}, [question("q1", "Hi")])
    assert project.run() == 1  # the fake server, like vLLM, serves only under /v1
    assert any(f"m.endpoints[0].api_base: GET {api.url}/models answered 404" in r.getMessage()
               and "end in /v1" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert any(f"{api.url}: NotFoundError (HTTP 404)" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_anthropic_base_with_or_without_v1(project, api, suffix):
    entry = {"model_name": "claude-test", "api_type": "anthropic", "parallel": 1,
             "endpoints": [{"api_base": api.url + suffix, "api_key": "test"}], **FAST_RETRY}
    project.write({"claude": entry}, [question("q1", "Hello")])
    assert project.run() == 0
    assert [r["path"] for r in api.requests] == ["/v1/messages"]
    assert api.get_requests == ["/v1/models"]


@pytest.mark.parametrize("api_type, base, url", [
    ("openai", "http://user:pw@host:8000/v1?key=x#f", "http://host:8000/v1"),
    ("anthropic", "https://h.example/v1/", "https://h.example"),
    ("anthropic", "https://h.example/proxy/v1", "https://h.example/proxy"),
    ("openai", "http://host:8000/v1/", "http://host:8000/v1/"),
    ("cohere", "https://c.example/v2", "https://c.example"),
    ("gemini", "https://g.example/v1beta", "https://g.example"),
    ("mistral", "https://m.example/v1", "https://m.example"),
    ("anthropic", None, "https://api.anthropic.com"),
    ("openai", "http://[::1]:8000/v1", "http://[::1]:8000/v1"),
])
def test_endpoint_url(api_type, base, url, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    assert utils.endpoint_url(api_type, utils.Endpoint(api_base=base)) == url


def test_questions_too_long_for_max_tokens_are_reported_apart(project, api, capsys, caplog):
    long_prompt = "lorem ipsum " * 200  # about 400 tokens
    project.write({"m": openai_entry(api, tokenizer="cl100k_base")},
                  [question("q1", "Hi"), question("q2", long_prompt), question("q3", long_prompt + "again")],
                  max_tokens=256)
    assert project.run() == 0  # a rerun cannot help: not a failure
    assert ("m: answered 1, cached 0, failed 0; skipped 2 questions too long for max_tokens 256: raise max_tokens"
            in capsys.readouterr().out)
    assert any("question q2 skipped: the question takes" in r.getMessage() for r in caplog.records
               if r.levelname == "WARNING")
    project.write({"m": openai_entry(api, tokenizer="cl100k_base")},
                  [question("q1", "Hi"), question("q2", long_prompt)], max_tokens=256)
    api.fail_next("400")
    project.write({"m": openai_entry(api, tokenizer="cl100k_base")},
                  [question("q0", "Hello"), question("q1", "Hi"), question("q2", long_prompt)], max_tokens=256)
    assert project.run() == 1  # q0 failed: a rerun can help
    assert ("m: answered 0, cached 1, failed 1: rerun to retry; skipped 1 question too long for max_tokens 256: "
            "raise max_tokens" in capsys.readouterr().out)
    assert len(api.requests) == 2  # the long questions were never sent
