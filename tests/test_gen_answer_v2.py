"""Tests of gen_answer.py on an Arena-Hard v2.0 bench and of the api_config keys of upstream v2.0
and of reasoning models: every call goes through the real SDKs to tests/fake_api.py, and the
request bodies it records are compared whole, so a key sent that a server does not need shows.

Usage: ARENA_HARD_SHARED_DATA=../shared/data python -m pytest tests/test_gen_answer_v2.py
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

import utils
from conftest import write_jsonl
import fake_api
from fake_api import FakeAPI, Reasoned
from test_gen_answer import BENCH, assert_refused_before_any_request, Project as V01Project

FAST_RETRY = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}
V2_ANSWER_KEYS = ["uid", "ans_id", "model", "messages", "tstamp", "metadata"]
METADATA_KEYS = ["token_len", "header_count", "list_count", "bold_count"]
O3_MINI = "o3-mini-2025-01-31"


def v2_question(uid: str, prompt: str, category: str = "hard_prompt", subcategory: str = "coding") -> dict:
    return {"uid": uid, "category": category, "subcategory": subcategory, "prompt": prompt}


def v01_question(qid: str, text: str) -> dict:
    return {"question_id": qid, "category": "arena-hard-v0.1", "cluster": "c", "turns": [{"content": text}]}


def upstream_entry(api: FakeAPI, **overrides) -> dict:
    """An api_config entry written as upstream v2.0 writes it (model, sys_prompt, per-model
    temperature and max_tokens), pointed at the fake server."""
    return {"model": "served-model", "endpoints": [{"api_base": api.openai_base, "api_key": "test"}],
            "api_type": "openai", "parallel": 4, **FAST_RETRY, **overrides}


def anthropic_entry(api: FakeAPI, **overrides) -> dict:
    return {"model": "claude-x", "endpoints": [{"api_base": api.anthropic_base, "api_key": "test"}],
            "api_type": "anthropic", "parallel": 2, **FAST_RETRY, **overrides}


class Project(V01Project):
    """test_gen_answer's project, with upstream v2.0's setting file."""

    def write(self, models: dict[str, dict], questions: list[dict], **settings) -> None:
        """Upstream v2.0's setting file (bench_name and model_list only) plus `settings`."""
        self.setting_file.write_text(yaml.safe_dump({"bench_name": BENCH, "model_list": list(models), **settings}))
        self.endpoint_file.write_text(yaml.safe_dump(models))
        write_jsonl(self.data / BENCH / "question.jsonl", questions)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def by_prompt(api: FakeAPI) -> dict[str, dict]:
    """Request bodies keyed by their last user message (requests arrive in any order)."""
    return {[m for m in r["body"]["messages"] if m["role"] == "user"][-1]["content"]: r["body"] for r in api.requests}


def upstream_reader(path: Path) -> dict[str, dict]:
    """What upstream v2.0's scripts take from an answer file: load_model_answers keys records by
    uid; gen_judgment shows messages[-1]["content"]["answer"]; show_result's style control reads
    metadata's token_len and the sums of the three count tables."""
    read = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        meta = record["metadata"]
        read[record["uid"]] = {
            "model": record["model"],
            "answer": record["messages"][-1]["content"]["answer"],
            "style": [meta["token_len"], sum(meta["header_count"].values()), sum(meta["list_count"].values()),
                      sum(meta["bold_count"].values())],
        }
    return read


def expected_metadata(answer: str) -> dict:
    return {"token_len": utils.count_o200k_tokens(answer), **utils.markdown_counts(answer)}


# ---------------------------------------------------------------------------- pure rules


@pytest.mark.parametrize("text, marker, expected", [
    ("I think.</think>\n\nThe answer.", "</think>", ("\n\nThe answer.", "I think.")),
    ("<think>a</think>b</think>c", "</think>", ("b</think>c", "<think>a")),  # the first marker ends the thought
    ("No marker here.", "</think>", ("No marker here.", None)),  # the whole text is the answer
    ("</think>Only an answer.", "</think>", ("Only an answer.", None)),
    ("All thought.</think>", "</think>", ("", "All thought.")),
    ("a<|end_of_thought|>b", "<|end_of_thought|>", ("b", "a")),
    ("a</think>b", None, ("a</think>b", None)),
])
def test_split_thought(text, marker, expected):
    assert utils.split_thought(text, marker) == expected


def v2_record(content) -> dict:
    return {"uid": "u1", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}]}


@pytest.mark.parametrize("answer, cached", [
    (v2_record({"answer": "fine"}), True),
    (v2_record({"thought": "t", "answer": "fine"}), True),
    (v2_record("a plain string content"), True),
    (v2_record({"answer": ""}), False),
    (v2_record({"answer": "$ERROR$"}), False),
    (v2_record({"thought": "only a thought"}), False),
    (v2_record(None), False),
    ({"uid": "u1", "messages": [{"role": "user", "content": "q"}]}, False),
    ({"uid": "u1"}, False),
])
def test_is_complete_v2_answer(answer, cached):
    assert utils.is_complete_answer(answer) is cached


# ---------------------------------------------------------------------------- a v2.0 bench end to end


def test_v2_bench_end_to_end_writes_upstream_records(project, api, capsys):
    reply = "# Plan\n\nSome **bold** words.\n\n- one\n- two\n1. first\n```python\n# not a header\n```\n"
    api.responder = lambda body, path: reply + body["messages"][-1]["content"]
    questions = [v2_question("b2", "second"), v2_question("a1", "first", "creative_writing", "creative_writing")]
    project.write({"my-model": upstream_entry(api, sys_prompt="Be brief.", temperature=0.6, max_tokens=777)},
                  questions)
    before = time.time()
    assert project.run() == 0
    after = time.time()
    # exactly what is sent: the one system prompt of the entry, the prompt, its own sampling values
    assert by_prompt(api) == {
        prompt: {"model": "served-model", "messages": [{"role": "system", "content": "Be brief."},
                                                        {"role": "user", "content": prompt}],
                 "temperature": 0.6, "max_tokens": 777}
        for prompt in ("first", "second")}
    records = project.answers("my-model")
    assert [r["uid"] for r in records] == ["a1", "b2"]  # sorted by uid
    for record, prompt in zip(records, ["first", "second"]):
        answer = reply + prompt
        assert list(record) == V2_ANSWER_KEYS + ["usage"]  # upstream's keys, then what the call cost
        assert record["usage"] == {"input_tokens": fake_api.prompt_tokens(by_prompt(api)[prompt]),
                                   "cached_input_tokens": 0, "output_tokens": fake_api.count_tokens(answer), "calls": 1}
        assert re.fullmatch(r"[0-9A-Za-z]{22}", record["ans_id"])
        assert record["model"] == "my-model"  # the api_config key, not the name sent
        assert before <= record["tstamp"] <= after
        assert record["messages"] == [{"role": "system", "content": "Be brief."},
                                      {"role": "user", "content": prompt},
                                      {"role": "assistant", "content": {"answer": answer}}]
        assert list(record["metadata"]) == METADATA_KEYS
        assert record["metadata"] == expected_metadata(answer)
        assert record["metadata"]["header_count"]["h1"] == 1 and record["metadata"]["list_count"] == {
            "ordered": 1, "unordered": 2}
    read = upstream_reader(project.answer_path("my-model"))
    assert read["a1"]["answer"] == reply + "first" and read["a1"]["model"] == "my-model"
    assert read["b2"]["style"][0] == utils.count_o200k_tokens(reply + "second")
    # and this project's own accessors read them
    assert utils.answer_turns(records[0]) == [reply + "first"] and utils.answer_thought(records[0]) is None
    assert utils.style_metadata(records[0]) == records[0]["metadata"]
    assert "my-model: answered 2, cached 0, failed 0" in capsys.readouterr().out


def test_v2_sends_no_default_system_prompt_temperature_table_or_unset_sampling(project, api):
    # gpt-4-0613 gets "You are a helpful assistant." on v0.1: not on v2.0; writing's 0.7 neither.
    project.write({"gpt-4-0613": upstream_entry(api)}, [v2_question("u1", "Hi", "writing", "writing")])
    assert project.run() == 0
    [request] = api.requests
    assert request["body"] == {"model": "served-model", "messages": [{"role": "user", "content": "Hi"}]}
    [record] = project.answers("gpt-4-0613")
    assert record["messages"] == [{"role": "user", "content": "Hi"},
                                  {"role": "assistant", "content": {"answer": "Echo: Hi"}}]


def test_v2_setting_file_values_apply_when_the_entry_has_none(project, api):
    project.write({"m": upstream_entry(api, temperature=0.2), "n": upstream_entry(api, max_tokens=50)},
                  [v2_question("u1", "Hi")], temperature=0.9, max_tokens=1000, num_choices=1)
    assert project.run() == 0
    sent = sorted((r["body"]["temperature"], r["body"]["max_tokens"]) for r in api.requests)
    assert sent == [(0.2, 1000), (0.9, 50)]  # each entry's own value wins over the setting file's


def test_reproduces_upstream_metadata_of_real_answers(project, api, shared_data):
    """Upstream's own o3-mini answers served back: the records written carry upstream's metadata."""
    path = shared_data / "arena-hard-v2.0" / "model_answer" / f"{O3_MINI}.jsonl"
    upstream = [json.loads(line) for line in path.read_bytes().split(b"\n") if line.strip()][:40]
    by_question = {r["messages"][-2]["content"]: r["messages"][-1]["content"]["answer"] for r in upstream}
    api.responder = lambda body, path: by_question[body["messages"][-1]["content"]]
    project.write({O3_MINI: upstream_entry(api)}, [v2_question(r["uid"], r["messages"][-2]["content"]) for r in upstream])
    assert project.run() == 0
    ours = {r["uid"]: r for r in project.answers(O3_MINI)}
    for record in upstream:
        assert ours[record["uid"]]["metadata"] == record["metadata"], record["uid"]
        assert ours[record["uid"]]["messages"] == record["messages"]


# ---------------------------------------------------------------------------- resume and failures


def test_resume_skips_upstream_made_answers_and_sorts(project, api, capsys):
    # Upstream's file: unsorted, compact separators, "/" escaped, a thought in one record.
    upstream_lines = [
        '{"uid":"c3","ans_id":"x1","model":"m","messages":[{"role":"user","content":"3\\/3"},'
        '{"role":"assistant","content":{"thought":"hm","answer":"three"}}],"tstamp":1.0,"metadata":{"token_len":1}}',
        '{"uid":"a1","ans_id":"x2","model":"m","messages":[{"role":"user","content":"1"},'
        '{"role":"assistant","content":{"answer":"one"}}],"tstamp":1.0,"metadata":{"token_len":1}}',
    ]
    project.write({"m": upstream_entry(api)}, [v2_question(u, u) for u in ("a1", "b2", "c3", "d4")])
    project.answer_path("m").parent.mkdir(parents=True)
    project.answer_path("m").write_text("\n".join(upstream_lines) + "\n")
    assert project.run() == 0
    assert sorted(by_prompt(api)) == ["b2", "d4"]
    records = project.answers("m")
    assert [r["uid"] for r in records] == ["a1", "b2", "c3", "d4"]
    assert records[0] == json.loads(upstream_lines[1]) and records[2] == json.loads(upstream_lines[0])
    assert "m: answered 2, cached 2, failed 0" in capsys.readouterr().out
    assert project.run() == 0 and len(api.requests) == 2  # nothing left to ask


def test_a_failed_question_is_never_stored_and_is_asked_again(project, api, capsys):
    api.fault_script = lambda body, path: "400" if body["messages"][-1]["content"] == "bad" else None
    project.write({"m": upstream_entry(api)}, [v2_question("u1", "good"), v2_question("u2", "bad")])
    assert project.run() == 1
    assert [r["uid"] for r in project.answers("m")] == ["u1"]
    assert "m: answered 1, cached 0, failed 1: rerun to retry" in capsys.readouterr().out
    api.fault_script = None
    assert project.run() == 0
    assert [r["uid"] for r in project.answers("m")] == ["u1", "u2"]


def test_an_empty_answer_after_the_thought_is_a_failure_not_a_record(project, api):
    api.responder = lambda body, path: "thinking until the tokens ran out</think>"
    project.write({"m": upstream_entry(api, end_think_token="</think>", max_retries=0)}, [v2_question("u1", "Hi")])
    assert project.run() == 1
    assert not project.answer_path("m").exists() or project.answers("m") == []


def test_a_reasoning_model_cut_off_at_max_tokens_is_asked_once_and_told_to_raise_it(project, api, capsys, caplog):
    api.responder = lambda body, path: Reasoned("never reached", "thinking at length")
    api.fail_next("max_tokens")
    project.write({"o": upstream_entry(api, reasoning_effort="high", max_tokens=64)}, [v2_question("u1", "Hi")])
    assert project.run() == 1
    assert len(api.requests) == 1 and (not project.answer_path("o").exists() or project.answers("o") == [])
    assert "it stopped at max_tokens before any answer text (raise max_tokens)" in caplog.text
    assert "o: answered 0, cached 0, failed 1: rerun to retry; this run: 9 input tokens (0 cached), " \
           "64 output tokens" in capsys.readouterr().out  # the cut-off reply is billed


# ---------------------------------------------------------------------------- reasoning models


@pytest.mark.parametrize("entry, expected", [
    ({"reasoning_effort": "high", "max_tokens": 9000, "temperature": 0.5},
     {"reasoning_effort": "high", "max_completion_tokens": 9000}),
    ({"api_type": "openai_thinking"}, {"reasoning_effort": "medium"}),  # upstream's api_type and default
    ({"api_type": "openai_thinking", "reasoning_effort": "low"}, {"reasoning_effort": "low"}),
    ({"temperature": 0.0, "max_tokens": 100}, {"temperature": 0.0, "max_tokens": 100}),
])
def test_openai_reasoning_effort_request(project, api, entry, expected):
    project.write({"o": upstream_entry(api, **entry)}, [v2_question("u1", "Hi")])
    assert project.run() == 0
    [request] = api.requests
    assert request["body"] == {"model": "served-model", "messages": [{"role": "user", "content": "Hi"}], **expected}


def test_reasoning_effort_on_azure_sends_max_completion_tokens(project, api):
    entry = upstream_entry(api, api_type="azure", reasoning_effort="low", max_tokens=64,
                           endpoints=[{"api_base": api.url, "api_key": "test", "api_version": "2025-01-01"}])
    project.write({"o": entry}, [v2_question("u1", "Hi")])
    assert project.run() == 0
    [request] = api.requests
    assert request["path"] == "/openai/deployments/served-model/chat/completions"
    assert request["body"] == {"model": "served-model", "messages": [{"role": "user", "content": "Hi"}],
                               "reasoning_effort": "low", "max_completion_tokens": 64}


def test_reasoning_content_is_stored_as_the_thought_apart_from_the_answer(project, api):
    thought = "Let me think about this at length. " * 20
    api.responder = lambda body, path: Reasoned("The **answer**.", thought)
    project.write({"r1": upstream_entry(api, max_tokens=2000)}, [v2_question("u1", "Hi")])
    assert project.run() == 0
    [record] = project.answers("r1")
    assert record["messages"][-1] == {"role": "assistant", "content": {"thought": thought, "answer": "The **answer**."}}
    assert record["metadata"] == expected_metadata("The **answer**.")  # the thought is not counted
    assert record["metadata"]["token_len"] < 10
    assert upstream_reader(project.answer_path("r1"))["u1"]["answer"] == "The **answer**."
    assert utils.answer_turns(record) == ["The **answer**."] and utils.answer_thought(record) == thought
    [request] = api.requests
    assert request["body"] == {"model": "served-model", "messages": [{"role": "user", "content": "Hi"}],
                               "max_tokens": 2000}


# ---------------------------------------------------------------------------- upstream's server api_types


def test_deepseek_reasoner_entry_as_upstream_writes_it(project, api, monkeypatch):
    """Upstream's example entry (a key, no model, no api_base): its model, at its server (here the
    fake one in its place), the reasoning_content kept apart as the thought; nothing else sent."""
    server = utils.SERVER_TYPES["deepseek_reasoner"]
    assert (server.model_name, server.api_base) == ("deepseek-reasoner", "https://api.deepseek.com")
    monkeypatch.setitem(utils.SERVER_TYPES, "deepseek_reasoner", utils.ServerType(
        server.key_variable, server.model_name, api.openai_base))
    api.responder = lambda body, path: Reasoned("The **answer**.", "Thinking it over.")
    entry = {"endpoints": [{"api_key": "sk-deepseek"}], "api_type": "deepseek_reasoner", "parallel": 32, **FAST_RETRY}
    project.write({"deepseek-r1": entry}, [v2_question("u1", "Hi")])
    assert project.run() == 0
    [record] = project.answers("deepseek-r1")
    assert record["messages"][-1]["content"] == {"thought": "Thinking it over.", "answer": "The **answer**."}
    assert record["metadata"] == expected_metadata("The **answer**.")
    [request] = api.requests
    assert request["path"] == "/v1/chat/completions" and request["headers"]["authorization"] == "Bearer sk-deepseek"
    assert request["body"] == {"model": "deepseek-reasoner", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.mark.parametrize("entry, expected", [
    ({"api_type": "deepseek_reasoner", "model": "deepseek-r1-0528"}, {"model": "deepseek-r1-0528"}),
    ({"api_type": "deepseek", "max_tokens": 512}, {"model": "deepseek-chat", "max_tokens": 512}),
    ({"api_type": "xai", "model": "grok-3", "temperature": 0.7, "max_tokens": 100},
     {"model": "grok-3", "temperature": 0.7, "top_p": 0.95, "max_tokens": 100}),  # upstream's xai: top_p 0.95
    ({"api_type": "xai", "model": "grok-3"}, {"model": "grok-3", "top_p": 0.95}),
])
def test_server_api_types_are_openai_with_upstreams_defaults(project, api, entry, expected):
    """An entry's own model and api_base win over upstream's defaults."""
    entry = {"endpoints": [{"api_base": api.openai_base, "api_key": "test"}], **FAST_RETRY, **entry}
    project.write({"m": entry}, [v2_question("u1", "Hi")])
    assert project.run() == 0
    [request] = api.requests
    assert request["body"] == {"messages": [{"role": "user", "content": "Hi"}], **expected}


@pytest.mark.parametrize("base, expected", [
    ("api.x.ai", "https://api.x.ai/v1"),  # upstream's xai SDK took the API host
    ("https://api.x.ai/v1", "https://api.x.ai/v1"),
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
])
def test_xai_api_base_is_a_url_or_upstreams_host(base, expected):
    entry = {"model": "grok-3", "api_type": "xai", "endpoints": [{"api_base": base, "api_key": "k"}]}
    model = utils.parse_model_config("grok", entry, "api_config.yaml")
    assert model.api_type == "openai" and [ep.api_base for ep in model.endpoints] == [expected]


@pytest.mark.parametrize("entry, expected", [
    ({"api_type": "deepseek_reasoner", "endpoints": None}, ["m.endpoints", "api_key: ${DEEPSEEK_API_KEY}"]),
    ({"api_type": "deepseek", "endpoints": [{"api_base": "http://127.0.0.1:9/v1"}]}, ["needs an api_key"]),
    ({"api_type": "xai", "model": "grok-3", "endpoints": [{"api_key": "k"}]}, ["https://api.x.ai/v1"]),
    ({"api_type": "vertex", "model": "gemini-2.5-pro"}, ["m.api_type", "'vertex'", "write api_type: gemini"]),
    ({"api_type": "aws_claude", "model": "c"}, ["'aws_claude'", "write api_type: openai with the api_base"]),
    ({"api_type": "sglang", "model": "Qwen/QwQ-32B", "local_engine": True},
     ["'sglang'", "sglang.launch_server", "api_base http://localhost:30000/v1", "end_think_token"]),
    ({"api_type": "meta", "model": "llama"}, ["'meta'", "write api_type: openai"]),
], ids=["deepseek-no-endpoints", "deepseek-no-key", "xai-no-base", "vertex", "aws", "sglang", "meta"])
def test_other_upstream_api_types_are_refused_saying_what_to_write(project, api, caplog, entry, expected):
    project.write({"m": {"parallel": 1, **entry}}, [v2_question("u1", "Hi")])
    assert_refused_before_any_request(project, api, caplog, expected)


@pytest.mark.parametrize("reply, content", [
    ("<think>\nhmm\n</think>\n\nFinal **answer**.", {"thought": "<think>\nhmm\n", "answer": "\n\nFinal **answer**."}),
    ("No thinking tags at all.", {"answer": "No thinking tags at all."}),
])
def test_end_think_token_splits_an_inline_thought(project, api, reply, content):
    api.responder = lambda body, path: reply
    project.write({"qwq": upstream_entry(api, end_think_token="</think>", temperature=0.6, max_tokens=32000)},
                  [v2_question("u1", "Hi")])
    assert project.run() == 0
    [record] = project.answers("qwq")
    assert record["messages"][-1]["content"] == content
    assert record["metadata"] == expected_metadata(content["answer"])
    [request] = api.requests  # the marker is ours to read: never sent
    assert request["body"] == {"model": "served-model", "messages": [{"role": "user", "content": "Hi"}],
                               "temperature": 0.6, "max_tokens": 32000}


@pytest.mark.parametrize("api_type", ["anthropic", "anthropic_thinking"])
def test_anthropic_budget_tokens_sends_thinking_and_keeps_the_thinking_block(project, api, api_type):
    api.responder = lambda body, path: Reasoned("Short answer.", "Long careful thinking.")
    project.write({"claude-thinking": anthropic_entry(api, api_type=api_type, max_tokens=20000, budget_tokens=16000,
                                                      sys_prompt="Be kind.")},
                  [v2_question("u1", "Hi")])
    assert project.run() == 0
    [request] = api.requests
    assert request["path"] == "/v1/messages"
    assert request["body"] == {"model": "claude-x", "messages": [{"role": "user", "content": "Hi"}],
                               "max_tokens": 20000, "system": "Be kind.",
                               "thinking": {"type": "enabled", "budget_tokens": 16000}}
    [record] = project.answers("claude-thinking")
    assert record["messages"] == [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"},
                                  {"role": "assistant", "content": {"thought": "Long careful thinking.",
                                                                    "answer": "Short answer."}}]
    assert record["metadata"] == expected_metadata("Short answer.")


def test_anthropic_without_budget_tokens_sends_no_thinking(project, api):
    project.write({"claude": anthropic_entry(api, max_tokens=100)}, [v2_question("u1", "Hi")])
    assert project.run() == 0
    [request] = api.requests
    assert request["body"] == {"model": "claude-x", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 100}


# ---------------------------------------------------------------------------- a v0.1 bench


def test_v01_bench_takes_upstream_v2_keys_and_keeps_its_record_shape(project, api):
    api.responder = lambda body, path: Reasoned("The answer.", "A thought v0.1 has no place for.")
    project.write({"gpt-4-0613": upstream_entry(api, max_tokens=321, temperature=0.3)}, [v01_question("q1", "Hi")],
                  temperature=0.0, max_tokens=4096, num_choices=1)
    assert project.run() == 0
    [request] = api.requests
    assert request["body"] == {"model": "served-model", "messages": [
        {"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hi"}],
        "temperature": 0.3, "max_tokens": 321}
    [record] = project.answers("gpt-4-0613")
    assert list(record) == ["question_id", "answer_id", "model_id", "choices", "tstamp", "conv_metadata", "usage"]
    assert record["choices"] == [{"index": 0, "turns": [{"content": "The answer.",
                                                         "token_len": utils.count_tokens("The answer.")}]}]
    assert "thought" not in json.dumps(record)


def test_upstream_v2_setting_file_serves_v2_but_not_v01(project, api, caplog):
    project.write({"m": upstream_entry(api)}, [v2_question("u1", "Hi")])  # bench_name and model_list only
    assert project.run() == 0
    api.requests.clear()
    write_jsonl(project.data / BENCH / "question.jsonl", [v01_question("q1", "Hi")])
    project.answer_path("m").unlink()
    assert project.run() == 2
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "gen_answer_config.yaml: missing key 'temperature'" in message
    assert api.requests == []


# ---------------------------------------------------------------------------- bad configuration


def test_a_missing_o200k_table_stops_the_run_before_any_request(project, api, caplog, monkeypatch, tmp_path):
    monkeypatch.setattr(utils, "o200k_table_path", lambda: tmp_path / "missing.tiktoken.gz")
    utils.get_o200k_encoding.cache_clear()
    try:
        project.write({"m": upstream_entry(api)}, [v2_question("u1", "Hi")])
        assert project.run() == 2
    finally:
        utils.get_o200k_encoding.cache_clear()
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "missing.tiktoken.gz: cannot read the o200k_base table" in message
    assert api.requests == []


@pytest.mark.parametrize("models, settings, questions, expected", [
    ({"m": {"model": "a", "model_name": "b", "api_type": "openai"}}, {}, None,
     ["api_config.yaml: m: model ('a') and model_name ('b') differ"]),
    ({"m": {"model": "a", "sys_prompt": "x", "system_prompt": "y"}}, {}, None,
     ["api_config.yaml: m: sys_prompt ('x') and system_prompt ('y') differ"]),
    ({"m": {"api_type": "openai"}}, {}, None, ["api_config.yaml: m: missing model_name (or upstream v2.0's model)"]),
    ({"m": {"model": "a", "reasoning_effort": "max"}}, {}, None, ["api_config.yaml: m.reasoning_effort", "'max'"]),
    ({"m": {"model": "a", "api_type": "anthropic", "reasoning_effort": "high", "max_tokens": 10}}, {}, None,
     ["m.reasoning_effort: only for api_type openai or azure"]),
    ({"m": {"model": "a", "budget_tokens": 2000}}, {}, None, ["m.budget_tokens: only for api_type anthropic"]),
    ({"m": {"model": "a", "api_type": "anthropic", "budget_tokens": 100, "max_tokens": 5000}}, {}, None,
     ["m.budget_tokens: expected an integer from 1024"]),
    ({"m": {"model": "a", "api_type": "anthropic", "budget_tokens": 4000, "max_tokens": 4000}}, {}, None,
     ["m.budget_tokens: 4000 must be below max_tokens 4000"]),
    ({"m": {"model": "a", "api_type": "anthropic", "budget_tokens": 4000}}, {"max_tokens": 2000}, None,
     ["m.budget_tokens: 4000 must be below max_tokens 2000"]),
    ({"m": {"model": "a", "api_type": "anthropic_thinking", "max_tokens": 4000}}, {}, None,
     ["m: api_type anthropic_thinking needs budget_tokens"]),
    ({"m": {"model": "a", "api_type": "anthropic"}}, {}, None, ["m: api_type anthropic needs max_tokens"]),
    ({"m": {"model": "a", "temperature": float("nan")}}, {}, None, ["m.temperature: expected a finite"]),
    ({"m": {"model": "a", "max_tokens": 0}}, {}, None, ["m.max_tokens: expected an integer from 1"]),
    ({"m": {"model": "a", "end_think_token": ""}}, {}, None, ["m.end_think_token"]),
    ({"m": {"model": "a"}}, {"num_choices": 2}, None, ["gen_answer_config.yaml: num_choices", "one answer"]),
    ({"m": {"model": "a"}}, {}, [v2_question("u1", "Hi"), v01_question("q1", "Hi")],
     ["question.jsonl: question q1 is of another generation"]),
], ids=["model-twice", "sys-prompt-twice", "no-model", "bad-effort", "effort-on-anthropic", "budget-on-openai",
        "budget-too-small", "budget-not-below-entry-max", "budget-not-below-setting-max", "thinking-without-budget",
        "anthropic-without-max-tokens", "nan-temperature", "zero-max-tokens", "empty-marker", "num-choices-on-v2",
        "mixed-generations"])
def test_config_errors_exit_2_with_one_line_before_any_request(project, api, caplog, models, settings, questions,
                                                               expected):
    for entry in models.values():
        base = api.anthropic_base if "anthropic" in entry.get("api_type", "") else api.openai_base
        entry["endpoints"] = [{"api_base": base, "api_key": "test"}]
    project.write(models, questions or [v2_question("u1", "Hi")], **settings)
    assert_refused_before_any_request(project, api, caplog, expected)
