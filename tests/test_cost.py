"""Cost: the `price` of an api_config entry, the usage providers report, the dollars it makes.

Usage: python -m pytest tests/test_cost.py
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import zlib
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

import add_markdown_info
import fake_api
import gen_answer
import gen_judgment
import qa_browser
import show_result
import utils
from conftest import write_jsonl
from fake_api import FakeAPI
from test_utils_complete import require_sdk


def write_entry(tmp_path, text: str):
    path = tmp_path / "api_config.yaml"
    path.write_text("m:\n  model_name: x\n" + text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- price in api_config


def test_price_is_read_with_its_defaults(tmp_path):
    path = write_entry(tmp_path, "  price: {input: 2.5, output: 10}\n")
    assert utils.load_api_config(path)["m"].price == utils.Price(input=2.5, output=10.0, cached_input=None,
                                                                  batch_discount=0.5)
    path = write_entry(tmp_path, "  price:\n    input: 3\n    output: 15\n    cached_input: 0.3\n"
                                 "    batch_discount: 0\n")
    assert utils.load_api_config(path)["m"].price == utils.Price(3.0, 15.0, 0.3, 0.0)
    assert utils.load_api_config(write_entry(tmp_path, "  price: null\n"))["m"].price is None
    assert utils.load_api_config(write_entry(tmp_path, ""))["m"].price is None


@pytest.mark.parametrize("price, message", [
    ("{input: -1, output: 10}", r"m.price.input: expected a finite number of dollars per million tokens, at least 0, got -1"),
    ("{input: .nan, output: 10}", r"m.price.input: expected a finite number .*got nan"),
    ("{input: 1, output: .inf}", r"m.price.output: expected a finite number .*got inf"),
    ("{input: '2.5', output: 10}", r"m.price.input: expected a finite number .*got '2.5'"),
    ("{input: true, output: 10}", r"m.price.input: expected a finite number .*got True"),
    ("{input: 1, output: 2, cached_input: -0.1}", r"m.price.cached_input: expected a finite number"),
    ("{input: 1, output: 2, batch_discount: 1.5}", r"m.price.batch_discount: expected a share from 0 to 1 .*got 1.5"),
    ("{input: 1, output: 2, batch_discount: .nan}", r"m.price.batch_discount: expected a share"),
    ("{input: 1}", r"m.price.output: missing \(dollars per million output tokens\)"),
    ("{input: 1, output: 2, cache: 0.5}", r"m.price.cache: unknown key \(expected input, output, cached_input, "
                                         r"batch_discount\)"),
    ("2.5", r"m.price: expected a mapping such as \{input: 2.5, output: 10\}"),
    ("[1, 2]", r"m.price: expected a mapping"),
])
def test_bad_price_is_one_line_naming_file_and_key(tmp_path, price, message):
    path = write_entry(tmp_path, f"  price: {price}\n")
    with pytest.raises(utils.ConfigError, match=message) as info:
        utils.load_api_config(path)
    assert str(info.value).startswith(f"{path}: m.price")
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------------- usage and dollars


def test_dollars_of_usage_direct_and_batch():
    usage = utils.Usage(input_tokens=3_000_000, cached_input_tokens=1_000_000, output_tokens=500_000, calls=7)
    price = utils.Price(input=2.0, output=8.0, cached_input=0.5)
    assert price.dollars(usage) == pytest.approx(2 * 2.0 + 1 * 0.5 + 0.5 * 8.0)
    assert price.dollars(usage, batch=True) == pytest.approx((4 + 0.5 + 4) / 2)
    assert utils.Price(2.0, 8.0, batch_discount=0.25).dollars(usage, batch=True) == pytest.approx(0.75 * (6 + 4))
    # without a cached price, cached tokens cost what the others do; a server's cached count
    # above its prompt count is not paid twice
    assert utils.Price(2.0, 8.0).dollars(usage) == pytest.approx(6 + 4)
    odd = utils.Usage(input_tokens=100, cached_input_tokens=500)
    assert utils.Price(1e6, 0, cached_input=0).dollars(odd) == 0


def test_usage_of_completions_counts_replies_as_calls():
    replies = [utils.Completion("a", None, 10, 3, cached_tokens=4), utils.Completion("b", None, 20, 5),
               utils.Completion(None, "boom", attempts=3), utils.Completion("c", None, 7, 1, cached_tokens=99)]
    assert utils.Usage.of(replies) == utils.Usage(input_tokens=37, cached_input_tokens=11, output_tokens=9, calls=3)
    assert utils.Usage(1, 0, 2, 1) + utils.Usage(3, 1, 4, 1) == utils.Usage(4, 1, 6, 2)


def test_usage_is_stored_under_one_last_key_and_read_back():
    record = {"question_id": "q", "games": []}
    stored = utils.with_usage(record, utils.Usage(10, 2, 3, 1))
    assert list(stored) == ["question_id", "games", "usage"] and record == {"question_id": "q", "games": []}
    assert stored["usage"] == {"input_tokens": 10, "cached_input_tokens": 2, "output_tokens": 3, "calls": 1}
    assert utils.record_usage(stored) == utils.Usage(10, 2, 3, 1)
    assert utils.record_usage(record) is None  # written before usage was kept, or by upstream
    for junk in ("lots", None, {"input_tokens": 1}, {**stored["usage"], "output_tokens": -1},
                 {**stored["usage"], "calls": math.nan}, {**stored["usage"], "calls": True}):
        assert utils.record_usage({**record, "usage": junk}) is None


def test_metered_steps_sum_the_usage_of_every_reply():
    def steps():
        [a, b] = yield [utils.Request([{"role": "user", "content": "1"}], None, None)] * 2
        [c] = yield [utils.Request([{"role": "user", "content": "2"}], None, None)]
        return a.text + b.text + c.text

    gen = utils.metered(steps())
    assert len(next(gen)) == 2
    assert len(gen.send([utils.Completion("x", None, 5, 1), utils.Completion("y", None, 6, 2, cached_tokens=6)])) == 1
    with pytest.raises(StopIteration) as stop:
        gen.send([utils.Completion("z", None, 7, 3)])
    assert stop.value.value == ("xyz", utils.Usage(18, 6, 6, 3))


@pytest.mark.parametrize("batch, expected", [
    (False, "1,234,567 input tokens (1,000 cached), 89 output tokens, $2.47"),
    (True, "1,234,567 input tokens (1,000 cached), 89 output tokens, $1.23 (batch price, 50% off)"),
])
def test_spending_is_described_in_tokens_and_dollars(batch, expected):
    usage = utils.Usage(1_234_567, 1_000, 89, 12)
    assert utils.describe_spending(usage, utils.Price(2.0, 8.0), batch) == expected
    assert utils.describe_spending(usage, None, batch) == "1,234,567 input tokens (1,000 cached), 89 output tokens"
    assert utils.describe_spending(utils.Usage(100, 0, 10, 1), utils.Price(2.0, 8.0)) == (
        "100 input tokens (0 cached), 10 output tokens, $0.0003")
    # a server that reports no usage: no $0 for what was paid
    for price in (utils.Price(2.0, 8.0), None):
        assert utils.describe_spending(utils.Usage(0, 0, 0, 3), price, batch) == (
            "3 replies without token counts (the server reported none)")


# ---------------------------------------------------------------------------- estimates


def test_output_estimate_prefers_stored_usage_then_texts_then_the_max_tokens_ceiling():
    game = {"user_prompt": "p", "judgment": "one two three", "score": "A=B"}
    metered = utils.with_usage({"question_id": "q", "model": "m", "judge": "j", "games": [game, game]},
                               utils.Usage(1000, 0, 300, 3))  # a follow-up: 3 calls for 2 games
    plain = {"question_id": "r", "model": "m", "judge": "j", "games": [game, game]}
    unreported = utils.with_usage(plain, utils.Usage(0, 0, 0, 2))  # a server that reports no usage
    estimate = utils.estimate_output([plain, unreported, metered], 512, "judge j")
    assert estimate == utils.OutputEstimate(150.0, "the stored usage of 1 record of judge j")  # a game's output
    estimate = utils.estimate_output([plain, unreported], 512, "judge j")
    assert estimate.per_request == utils.count_tokens("one two three")
    assert estimate.basis == "cl100k_base counts of the texts of 2 records of judge j (no stored usage with tokens)"
    v2 = {"uid": "u", "messages": [{"role": "user", "content": "q"},
                                   {"role": "assistant", "content": {"thought": "hmm " * 10, "answer": "yes"}}]}
    assert utils.estimate_output([v2], None, "model m").per_request == utils.count_tokens("yes" + "hmm " * 10)
    assert utils.estimate_output([], 512, "model m") == utils.OutputEstimate(
        512, "max_tokens, a ceiling (no stored record of model m)")
    assert utils.estimate_output([], None, "model m").per_request is None


def test_estimate_table_leaves_unknown_dollars_blank():
    rows = {"a": (utils.CostEstimate(2, 1000, 500), utils.Price(2.0, 8.0)),
            "b": (utils.CostEstimate(1, 400, None), utils.Price(2.0, 8.0)),  # no output estimate
            "c": (utils.CostEstimate(1, 100, 50), None)}  # no price
    lines = utils.estimate_table(rows)
    cells = [re.split(r"\s{2,}", line) for line in lines]
    assert cells[0] == ["model", "requests", "input tokens", "output tokens", "$ direct", "$ batch"]
    assert cells[1:] == [["a", "2", "1,000", "500", "$0.0060", "$0.0030"], ["b", "1", "400", "?"],
                         ["c", "1", "100", "50"], ["total", "4", "1,500", "?"]]


def test_preview_requests_answers_every_round_with_a_placeholder():
    def steps():
        [first] = yield [utils.Request([{"role": "user", "content": "1"}], None, None)]
        yield [utils.Request([{"role": "assistant", "content": first.text}], None, None)] * 2
        return "done"

    requests, result = utils.preview_requests(steps())
    assert len(requests) == 3 and result == "done"
    assert requests[1].messages == [{"role": "assistant", "content": utils.PREVIEW_REPLY}]
    assert utils.chat_tokens(requests[1].messages, reply_tokens=100) == 3 + 4 + 100
    assert utils.preview_requests(steps(), rounds=1) == (requests[:1], None)


# ---------------------------------------------------------------------------- what providers report


def model(api: FakeAPI, api_type: str) -> utils.ModelConfig:
    base = getattr(api, f"{api_type}_base")
    return utils.ModelConfig(name="m", model_name="api-model", api_type=api_type,
                             endpoints=(utils.Endpoint(base, "sk-test-key"),), retry=utils.RetryPolicy(0))


def test_cached_prompt_tokens_of_both_providers(api):
    """OpenAI counts cached tokens within prompt_tokens; Anthropic's input_tokens leaves out the
    tokens read from (and written to) its cache: both become the whole prompt and its cached part."""
    messages = [{"role": "user", "content": "hi"}]
    api.responder = lambda body, path: {
        "id": "c", "object": "chat.completion", "created": 0, "model": "api-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2000, "completion_tokens": 7, "total_tokens": 2007,
                  "prompt_tokens_details": {"cached_tokens": 1536}}}
    reply = utils.complete(model(api, "openai"), messages, None, 10)
    assert (reply.prompt_tokens, reply.cached_tokens, reply.completion_tokens) == (2000, 1536, 7)
    api.responder = lambda body, path: {
        "id": "msg", "type": "message", "role": "assistant", "model": "api-model", "stop_reason": "end_turn",
        "content": [{"type": "text", "text": "ok"}],
        "usage": {"input_tokens": 300, "cache_read_input_tokens": 1500, "cache_creation_input_tokens": 200,
                  "output_tokens": 9}}
    reply = utils.complete(model(api, "anthropic"), messages, None, 10)
    assert (reply.prompt_tokens, reply.cached_tokens, reply.completion_tokens) == (2000, 1500, 9)


GEMINI_THINKING = {  # a thinking model's reply that read part of its prompt from the implicit cache
    "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 2000, "cachedContentTokenCount": 1024, "candidatesTokenCount": 7,
                      "thoughtsTokenCount": 500, "totalTokenCount": 2507}}
COHERE_BILLED = {  # tokens processed (the prompt template included) and those billed
    "id": "c", "finish_reason": "COMPLETE",
    "message": {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
    "usage": {"billed_units": {"input_tokens": 1500, "output_tokens": 507},
              "tokens": {"input_tokens": 2000, "output_tokens": 507}}}


@pytest.mark.parametrize("api_type, response, expected", [
    ("gemini", GEMINI_THINKING, (2000, 1024, 507)),
    ("cohere", COHERE_BILLED, (1500, 0, 507)),
    ("gemini", {**GEMINI_THINKING, "usageMetadata": {"promptTokenCount": -3, "candidatesTokenCount": 7}}, (0, 0, 7)),
])
def test_optional_providers_give_the_tokens_they_bill(api, api_type, response, expected):
    """Gemini bills a thinking model's thoughts as output, and its prompt count holds the cached
    part; Cohere bills its billed_units. Counts go through the same checks as OpenAI's."""
    require_sdk(api_type)
    api.responder = lambda body, path: response
    reply = utils.complete(model(api, api_type), [{"role": "user", "content": "hi"}], None, 10)
    assert reply.ok and (reply.prompt_tokens, reply.cached_tokens, reply.completion_tokens) == expected


def provider_reply(api_type: str, content: Any, prompt: int, output: int, cut_off: bool = False) -> dict:
    """A whole response body of `api_type` with this content (OpenAI: the message's content;
    Anthropic: the content blocks) and usage; stopped at the token limit when cut_off."""
    if api_type == "anthropic":
        return {"id": "msg", "type": "message", "role": "assistant", "model": "api-model",
                "stop_reason": "max_tokens" if cut_off else "end_turn",
                "content": content, "usage": {"input_tokens": prompt, "output_tokens": output}}
    return {"id": "c", "object": "chat.completion", "created": 0, "model": "api-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "length" if cut_off else "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": output}}


THOUGHT_ONLY = [{"type": "thinking", "thinking": "Let me see...", "signature": "s"}]


@pytest.mark.parametrize("api_type, empty", [("openai", ""), ("openai", None), ("anthropic", THOUGHT_ONLY),
                                             ("anthropic", [])])
def test_empty_replies_are_paid_for_and_counted(api, api_type, empty):
    """A reply without an answer is billed: its tokens are added to the call's, whether a retry
    answers or every attempt comes back empty, or it stopped at max_tokens (a reasoning model
    that spent them thinking), which is not asked again."""
    answer = [{"type": "text", "text": "ok"}] if api_type == "anthropic" else "ok"
    contents = iter([empty, empty, answer])
    api.responder = lambda body, path: provider_reply(api_type, next(contents), 1000, 300)
    retrying = dataclasses.replace(model(api, api_type), retry=utils.RetryPolicy(3, 0.001, 0.001))
    reply = utils.complete(retrying, [{"role": "user", "content": "hi"}], None, 300)
    assert reply.ok and (reply.prompt_tokens, reply.completion_tokens, reply.attempts) == (3000, 900, 3)
    contents = iter([empty] * 3)
    reply = utils.complete(retrying, [{"role": "user", "content": "hi"}], None, 300)
    assert not reply.ok and (reply.prompt_tokens, reply.completion_tokens) == (3000, 900)
    assert utils.Usage.of([reply]) == utils.Usage(3000, 0, 900, 0)
    api.responder = lambda body, path: provider_reply(api_type, empty, 1000, 300, cut_off=True)
    reply = utils.complete(retrying, [{"role": "user", "content": "hi"}], None, 300)
    assert not reply.ok and (reply.prompt_tokens, reply.completion_tokens, reply.attempts) == (1000, 300, 1)


@pytest.mark.parametrize("api_type", ["openai", "anthropic"])
def test_junk_token_counts_read_as_none(api, api_type):
    """A count that is not a plausible number of tokens (null, negative, text, NaN, beyond any
    context window) reads as 0, so no summary or record holds an absurd figure; a float is cut."""
    answer = [{"type": "text", "text": "ok"}] if api_type == "anthropic" else "ok"
    for value, expected in [(None, 0), (-5, 0), ("12", 0), (True, 0), (math.nan, 0), (12.7, 12),
                            (utils.MAX_REPLY_TOKENS, utils.MAX_REPLY_TOKENS), (utils.MAX_REPLY_TOKENS + 1, 0),
                            (2**63, 0), (10**30, 0), (1e300, 0)]:
        api.responder = lambda body, path: provider_reply(api_type, answer, value, value)
        reply = utils.complete(model(api, api_type), [{"role": "user", "content": "hi"}], None, 10)
        assert reply.ok and (reply.prompt_tokens, reply.completion_tokens) == (expected, expected), value


def test_empty_batch_results_are_paid_for_and_counted(api):
    """A batch's reply without an answer fails its request, with the tokens it was billed for."""
    openai = model(api, "openai")
    line = json.dumps({"custom_id": "a", "error": None, "response": {
        "status_code": 200, "body": provider_reply("openai", "", 1000, 300, cut_off=True)}}).encode()
    cid, reply = utils.openai_batch_result(line, openai, "b1")
    assert cid == "a" and not reply.ok and (reply.prompt_tokens, reply.completion_tokens) == (1000, 300)
    usage = SimpleNamespace(input_tokens=1000, output_tokens=300, cache_read_input_tokens=None,
                            cache_creation_input_tokens=None)
    result = SimpleNamespace(type="succeeded", message=SimpleNamespace(content=[], usage=usage))
    reply = utils.anthropic_batch_completion(model(api, "anthropic"), result)
    assert not reply.ok and (reply.prompt_tokens, reply.completion_tokens) == (1000, 300)


# ---------------------------------------------------------------------------- usage stored per record


def bench_configs(tmp_path, api: FakeAPI, questions: list[dict], answer_models: list[str], *,
                  num_choices: int = 1, price: dict | None = None) -> dict:
    """A v0.1 bench under tmp_path/data (questions only), an api_config with every answering
    model and the judge on the fake server, and the setting files of gen_answer and gen_judgment."""
    entry = {"api_type": "openai", "parallel": 1, "max_retries": 0, "timeout": 10,
             "endpoints": [{"api_base": api.openai_base, "api_key": "sk-test"}]}
    if price is not None:
        entry["price"] = price
    data = tmp_path / "data"
    write_jsonl(data / "bench" / "question.jsonl", questions)
    files = {"data": data, "api": tmp_path / "api_config.yaml", "answer": tmp_path / "gen_answer_config.yaml",
             "judge": tmp_path / "judge_config.yaml"}
    models = {name: {**entry, "model_name": f"{name}-api"} for name in [*answer_models, "judge"]}
    files["api"].write_text(yaml.safe_dump(models), encoding="utf-8")
    files["answer"].write_text(yaml.safe_dump({"bench_name": "bench", "temperature": 0.0, "max_tokens": 1000,
                                               "num_choices": num_choices, "model_list": answer_models}))
    files["judge"].write_text(yaml.safe_dump({
        "bench_name": "bench", "judge_model": "judge", "baseline": True, "baseline_model": answer_models[0],
        "pairwise": True, "temperature": 0, "max_tokens": 500, "number_of_judgment_attempts": 2,
        "system_prompt": "Compare the answers; end with a label such as [[A=B]].", "model_list": answer_models[1:],
        "prompt_template": ["<|User Prompt|>\n{question_1}\n\n<|The Start of Assistant A's Answer|>\n{answer_1}\n"
                            "<|The End of Assistant A's Answer|>\n\n<|The Start of Assistant B's Answer|>\n"
                            "{answer_2}\n<|The End of Assistant B's Answer|>"]}))
    return files


def answer_argv(files: dict, *extra: str) -> list[str]:
    return ["--setting-file", str(files["answer"]), "--endpoint-file", str(files["api"]), "--data-dir",
            str(files["data"]), "--no-progress", *extra]


def judge_argv(files: dict, *extra: str) -> list[str]:
    return ["--setting-file", str(files["judge"]), "--endpoint-file", str(files["api"]), "--data-dir",
            str(files["data"]), "--no-progress", *extra]


def read_records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def v01_question(qid: str, *turns: str) -> dict:
    return {"question_id": qid, "category": "arena-hard-v0.1", "cluster": "c", "turns": [{"content": t} for t in turns]}


def test_usage_of_a_record_sums_every_call_follow_ups_turns_and_choices(tmp_path, api):
    """A two-turn question answered twice (num_choices 2) is 4 calls; a game whose first judge
    reply has no verdict is asked again: the record's usage is the sum the server reported."""
    files = bench_configs(tmp_path, api, [v01_question("q1", "First turn?", "Second turn?")], ["base", "m1"],
                          num_choices=2)
    assert gen_answer.main(answer_argv(files)) == 0
    for model in ("base", "m1"):
        [record] = read_records(files["data"] / "bench" / "model_answer" / f"{model}.jsonl")
        sent = [r["body"] for r in api.requests if r["body"]["model"] == f"{model}-api"]
        assert len(sent) == 4
        assert record["usage"] == {
            "input_tokens": sum(map(fake_api.prompt_tokens, sent)), "cached_input_tokens": 0,
            "output_tokens": sum(fake_api.count_tokens(t["content"]) for c in record["choices"] for t in c["turns"]),
            "calls": 4}

    replies = iter(["Let me think.", "So: [[A>B]]", "Clearly [[B>A]]"])
    api.responder = lambda body, path: next(replies)
    api.requests.clear()
    assert gen_judgment.main(judge_argv(files)) == 0  # game 1, game 2, then game 1 asked again
    [judgment] = read_records(files["data"] / "bench" / "model_judgment" / "judge" / "m1.jsonl")
    assert [g["score"] for g in judgment["games"]] == ["B>A", "A>B"]
    assert len(api.requests) == 3 and api.requests[2]["body"]["messages"][-1]["content"] == gen_judgment.CONTINUE_PROMPT
    assert judgment["usage"] == {"input_tokens": sum(fake_api.prompt_tokens(r["body"]) for r in api.requests),
                                 "cached_input_tokens": 0,
                                 "output_tokens": sum(map(fake_api.count_tokens, ["Let me think.", "So: [[A>B]]",
                                                                                  "Clearly [[B>A]]"])),
                                 "calls": 3}


def test_records_with_and_without_usage_read_everywhere(tmp_path, api, capsys):
    """Our readers take a record with usage and one written before usage was kept (or by
    upstream); add_markdown_info, which rewrites answer files, keeps the usage."""
    questions = [v01_question(f"q{i}", f"Question {i}?") for i in range(6)]
    files = bench_configs(tmp_path, api, questions, ["base", "m1"])
    api.responder = lambda body, path: ("Answer with **bold**: " + body["messages"][-1]["content"]
                                        if body["model"] != "judge-api" else "[[B>A]]")
    assert gen_answer.main(answer_argv(files)) == 0
    answers = files["data"] / "bench" / "model_answer"
    m1 = read_records(answers / "m1.jsonl")
    old = {k: v for k, v in m1[0].items() if k != "usage"}  # as written before usage was kept
    write_jsonl(answers / "m1.jsonl", [old] + m1[1:])
    assert all(utils.is_complete_answer(r) for r in [old] + m1[1:])
    assert gen_answer.main(answer_argv(files)) == 0 and len(read_records(answers / "m1.jsonl")) == 6  # none redone

    assert add_markdown_info.main(["--dir", str(answers), "--workers", "1"]) == 0
    annotated = read_records(answers / "m1.jsonl")
    assert annotated == [old] + m1[1:] and all("usage" in r for r in annotated[1:])

    assert gen_judgment.main(judge_argv(files)) == 0
    judgments = files["data"] / "bench" / "model_judgment" / "judge" / "m1.jsonl"
    records = read_records(judgments)
    write_jsonl(judgments, [{k: v for k, v in records[0].items() if k != "usage"}] + records[1:])
    assert all(utils.is_complete_judgment(r) for r in records)
    assert gen_judgment.main(judge_argv(files)) == 0 and len(read_records(judgments)) == 6  # none redone
    capsys.readouterr()
    assert show_result.main(["--data-dir", str(files["data"]), "--bench-name", "bench", "--judge-name", "judge",
                             "--baseline", "base", "--num-rounds", "3"]) == 0
    assert "m1" in capsys.readouterr().out

    views = qa_browser.selection_views(questions[1], "m1", qa_browser.ModelRecords(answers, qa_browser.ANSWER_KEYS),
                                       qa_browser.judgment_records(judgments.parent), "base")
    assert "Answer with" in views[2] and "B>A" in views[3] and "usage" not in "".join(views)


# ---------------------------------------------------------------------------- the end-of-run summary

PRICE = {"input": 2.0, "output": 8.0}


def paid_usage(api: FakeAPI, served: str) -> tuple[int, int]:
    """(prompt, output) tokens the fake billed for the answered requests to `served` (echo replies)."""
    bodies = [r["body"] for r in api.requests if r["fault"] is None and r["body"]["model"] == served]
    return (sum(map(fake_api.prompt_tokens, bodies)),
            sum(fake_api.count_tokens(fake_api.echo_responder(body, "")) for body in bodies))


def test_answer_summary_gives_the_tokens_and_dollars_of_every_paid_call(tmp_path, api, capsys):
    """The second turn of q3 fails: the question is not stored, its first turn was paid for and counted."""
    questions = [v01_question("q1", "One?"), v01_question("q2", "Two?"), v01_question("q3", "Three?", "Then?")]
    files = bench_configs(tmp_path, api, questions, ["base", "m1"], price=PRICE)
    api.fault_script = lambda body, path: "400" if body["messages"][-1]["content"] == "Then?" else None
    assert gen_answer.main(answer_argv(files)) == 1
    out = capsys.readouterr().out
    for model in ("base", "m1"):
        prompt, output = paid_usage(api, f"{model}-api")
        dollars = (prompt * 2.0 + output * 8.0) / 1e6
        assert (f"{model}: answered 2, cached 0, failed 1: rerun to retry; this run: {prompt:,} input tokens "
                f"(0 cached), {output:,} output tokens, ${dollars:.4f}\n") in out
        stored = sum(r["usage"]["input_tokens"] for r in read_records(files["data"] / "bench" / "model_answer"
                                                                       / f"{model}.jsonl"))
        assert 0 < stored < prompt  # q3's first turn is paid for, not stored
    api.fault_script = None
    assert gen_answer.main(answer_argv(files)) == 0
    out = capsys.readouterr().out
    assert "m1: answered 1, cached 2, failed 0; this run: " in out
    assert gen_answer.main(answer_argv(files)) == 0
    assert "m1: answered 0, cached 3, failed 0\n" in capsys.readouterr().out  # nothing called, nothing spent


def test_judge_summary_counts_the_paid_game_of_a_pair_that_failed(tmp_path, api, caplog):
    questions = [v01_question("q1", "One?"), v01_question("q2", "Two?")]
    files = bench_configs(tmp_path, api, questions, ["base", "m1"], price=PRICE)
    api.responder = lambda body, path: f"{body['model']} says {body['messages'][-1]['content']}"
    assert gen_answer.main(answer_argv(files)) == 0
    api.requests.clear()
    # game 2 of q2 shows m1's answer first: refused, so q2 is not stored
    api.fault_script = lambda body, path: ("400" if "Assistant A's Answer|>\nm1-api says Two?" in body["messages"][-1]["content"]
                                           else None)
    api.responder = lambda body, path: "Fine. [[A=B]]"
    with caplog.at_level(logging.INFO, logger="arena_hard"):
        assert gen_judgment.main(judge_argv(files)) == 1
    bodies = [r["body"] for r in api.requests if r["fault"] is None]
    assert len(bodies) == 3  # q1's two games and q2's first
    prompt, output = sum(map(fake_api.prompt_tokens, bodies)), 3 * fake_api.count_tokens("Fine. [[A=B]]")
    assert (f"judge judge, this run: {prompt:,} input tokens (0 cached), {output:,} output tokens, "
            f"${(prompt * 2 + output * 8) / 1e6:.4f}") in caplog.text


def test_a_batch_run_is_summed_at_the_batch_price(caplog):
    tally = gen_answer.Tally(answered=3, usage=utils.Usage(1_000_000, 0, 100_000, 3))
    price = utils.Price(2.0, 8.0, batch_discount=0.5)
    assert gen_answer.summary_line("m", tally, 100, price).endswith(", $2.80")
    assert gen_answer.summary_line("m", tally, 100, price, batch=True).endswith(", $1.40 (batch price, 50% off)")
    judge = utils.ModelConfig(name="j", model_name="j", api_type="openai", price=price)
    with caplog.at_level(logging.INFO, logger="arena_hard"):
        gen_judgment.report_spending(judge, tally.usage, batch=True)
    assert "judge j, this run: 1,000,000 input tokens (0 cached), 100,000 output tokens, $1.40 (batch price" in caplog.text


# ---------------------------------------------------------------------------- cache-friendly order


def long_text(seed: int, words: int) -> str:
    """A text of varied words (several hundred tokens for a few hundred words), the same for a seed."""
    import random

    rng = random.Random(seed)
    vocabulary = ("alpha beta gamma delta sort list tree graph cache value index query thread lock parse "
                  "token model answer judge reason proof case step first then finally because").split()
    return " ".join(rng.choice(vocabulary) for _ in range(words))


def test_batch_runs_summarise_their_spending_at_the_batch_price(tmp_path, api, capsys, caplog):
    """--batch through the fake's Batches API: the same tokens as a direct run would pay, at half price."""
    questions = [v01_question("q1", "One?"), v01_question("q2", "Two?")]
    files = bench_configs(tmp_path, api, questions, ["base", "m1"], price=PRICE)
    fast = ("--batch", "--poll-interval", "0.001")
    assert gen_answer.main(answer_argv(files, *fast)) == 0
    out = capsys.readouterr().out
    for model in ("base", "m1"):
        usage = utils.Usage()
        for record in read_records(files["data"] / "bench" / "model_answer" / f"{model}.jsonl"):
            usage += utils.record_usage(record)
        assert usage.input_tokens > 0 and usage.calls == 2
        dollars = (usage.input_tokens * 2.0 + usage.output_tokens * 8.0) / 1e6 / 2
        assert (f"{model}: answered 2, cached 0, failed 0; this run: {usage.input_tokens:,} input tokens (0 cached), "
                f"{usage.output_tokens:,} output tokens, ${dollars:.4f} (batch price, 50% off)\n") in out
    api.responder = lambda body, path: "Fine. [[A=B]]"
    with caplog.at_level(logging.INFO, logger="arena_hard"):
        assert gen_judgment.main(judge_argv(files, *fast)) == 0
    assert "(batch price, 50% off)" in caplog.text and "judge judge, this run: " in caplog.text


def test_judge_work_goes_question_by_question_across_models(tmp_path, api):
    questions = [v01_question(f"q{i}", f"Question {i}?") for i in range(3)]
    files = bench_configs(tmp_path, api, questions, ["base", "m1", "m2", "m3"])
    assert gen_answer.main(answer_argv(files)) == 0
    settings = utils.load_judge_settings(files["judge"])
    tasks, counts = gen_judgment.build_work_list(settings, files["data"], files["judge"])
    assert [(t.question_id, t.model) for t in tasks] == [(q, m) for q in ("q0", "q1", "q2") for m in ("m1", "m2", "m3")]
    assert {m: c.to_judge for m, c in counts.items()} == {"m1": 3, "m2": 3, "m3": 3}


def test_shared_prefixes_go_out_together_and_the_cached_tokens_are_reported(tmp_path, caplog):
    """With a provider's prompt cache that keeps only the last few prompts, game 1 of the second
    model on a question reads system prompt, question and baseline answer from the cache; the
    summary and the records give the cached tokens the server reported."""
    with FakeAPI(prefix_cache=fake_api.PrefixCache(capacity=4)) as api:
        questions = [v01_question(f"q{i}", f"Question {i}: " + long_text(i, 40)) for i in range(5)]
        files = bench_configs(tmp_path, api, questions, ["base", "m1", "m2"], price={**PRICE, "cached_input": 0.5})
        # long answers (over 1024 tokens), different for every model and question
        api.responder = lambda body, path: long_text(zlib.crc32(json.dumps(body).encode()), 1500)
        assert gen_answer.main(answer_argv(files)) == 0
        api.responder = lambda body, path: "Equal. [[A=B]]"
        api.requests.clear()
        with caplog.at_level(logging.INFO, logger="arena_hard"):
            assert gen_judgment.main(judge_argv(files)) == 0
    judgments = files["data"] / "bench" / "model_judgment" / "judge"
    m1, m2 = (read_records(judgments / f"{m}.jsonl") for m in ("m1", "m2"))
    assert all(r["usage"]["cached_input_tokens"] == 0 for r in m1)  # first to send each prefix
    assert all(r["usage"]["cached_input_tokens"] >= 1024 for r in m2)  # game 1 read the shared prefix
    usage = sum((utils.record_usage(r) for r in m1 + m2), utils.Usage())
    assert usage.input_tokens == sum(fake_api.prompt_tokens(r["body"]) for r in api.requests)
    dollars = ((usage.input_tokens - usage.cached_input_tokens) * 2 + usage.cached_input_tokens * 0.5
               + usage.output_tokens * 8) / 1e6
    assert (f"judge judge, this run: {usage.input_tokens:,} input tokens ({usage.cached_input_tokens:,} cached), "
            f"{usage.output_tokens:,} output tokens, ${dollars:.4f}") in caplog.text


# ---------------------------------------------------------------------------- --dry-run


def dry_run_table(out: str) -> dict[str, list[str]]:
    """The rows of a dry run's table: {name: [requests, input tokens, output tokens, $ direct, $ batch]}."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["model", "requests"])
    rows = {}
    for line in lines[start + 1:]:
        cells = re.split(r"\s{2,}", line.strip())
        if not cells[1:] or not cells[1].replace(",", "").isdigit():
            break
        rows[cells[0]] = cells[1:]
    return rows


def number(cell: str) -> float:
    return float(cell.replace(",", "").replace("$", ""))


def within(estimate: float, real: float, share: float = 0.10) -> bool:
    return abs(estimate - real) <= share * real


def varied_reply(body: dict, path: str) -> str:
    """A reply of 60 to 180 words, its length drawn from the whole request (model, question, answers)."""
    seed = zlib.crc32(json.dumps(body, sort_keys=True).encode())
    return long_text(seed, 60 + seed % 121) + " [[A=B]]"


def test_answer_dry_run_estimate_is_within_ten_percent_of_the_run(tmp_path, api, capsys):
    """Ten questions answered; ten more, five of them with two turns: the dry run counts their
    input, estimates their output from the stored usage, then the run uses what it said."""
    api.responder = varied_reply
    first = [v01_question(f"q{i:02d}", long_text(i, 30 + 7 * i)) for i in range(10)]
    more = [v01_question(f"q{i:02d}", long_text(i, 20 + 9 * i), *([long_text(100 + i, 25)] if i % 2 == 0 else []))
            for i in range(10, 20)]
    files = bench_configs(tmp_path, api, first, ["m1"], price=PRICE)
    assert gen_answer.main(answer_argv(files)) == 0
    write_jsonl(files["data"] / "bench" / "question.jsonl", first + more)
    answers = files["data"] / "bench" / "model_answer" / "m1.jsonl"
    stored, sent = answers.read_bytes(), len(api.requests)
    capsys.readouterr()

    with utils.claim_output(answers):  # a run holds the file: a dry run takes no lock
        assert gen_answer.main(answer_argv(files, "--dry-run")) == 0
    out = capsys.readouterr().out
    assert len(api.requests) == sent and answers.read_bytes() == stored  # nothing called, nothing written
    assert not list(answers.parent.glob("*.lock"))
    requests, input_tokens, output_tokens, direct, batch = dry_run_table(out)["m1"]
    assert "output " in out and "tokens a request, from the stored usage of 10 records of model m1" in out
    assert ("the input of 5 requests of later turns holds the model's earlier replies, counted as "
            in out)
    assert number(batch) == pytest.approx(number(direct) / 2, abs=1e-4)

    assert gen_answer.main(answer_argv(files)) == 0
    new = [r for r in read_records(answers) if r["question_id"] >= "q10"]
    real = sum((utils.record_usage(r) for r in new), utils.Usage())
    assert int(requests) == real.calls == 15
    assert within(number(input_tokens), real.input_tokens), (input_tokens, real)
    assert within(number(output_tokens), real.output_tokens), (output_tokens, real)
    assert within(number(direct), utils.Price(**PRICE).dollars(real))


def test_answer_dry_run_without_stored_answers_takes_max_tokens_as_a_ceiling(tmp_path, api, capsys):
    files = bench_configs(tmp_path, api, [v01_question("q1", "Hello?"), v01_question("q2", "Bye?", "Really?")],
                          ["m1", "m2"], price=PRICE)
    assert gen_answer.main(answer_argv(files, "--model", "m1", "--dry-run")) == 0
    out = capsys.readouterr().out
    # the second turn's input holds the first reply, estimated at the ceiling too
    count = utils.count_tokens
    input_tokens = 3 * 3 + 5 * 4 + count("Hello?") + 2 * count("Bye?") + 1000 + count("Really?")
    dollars = (input_tokens * 2.0 + 3000 * 8.0) / 1e6
    assert dry_run_table(out) == {"m1": ["3", f"{input_tokens:,}", "3,000", f"${dollars:.4f}", f"${dollars / 2:.4f}"]}
    assert "m1: output 1,000 tokens a request, from max_tokens, a ceiling (no stored record of model m1)" in out
    assert api.requests == [] and not (files["data"] / "bench" / "model_answer").exists()


def test_answer_dry_run_of_a_v2_bench_without_max_tokens_leaves_output_and_dollars_unknown(tmp_path, api, capsys):
    """A v2.0 setting file need not give max_tokens: with no stored answer either, the output and
    so the dollars are unknown, said so; a model without a price is named."""
    files = bench_configs(tmp_path, api, [], ["m1", "m2"])
    api_config = yaml.safe_load(files["api"].read_text())
    api_config["m1"]["price"] = PRICE
    files["api"].write_text(yaml.safe_dump(api_config))
    files["answer"].write_text(yaml.safe_dump({"bench_name": "bench", "model_list": ["m1", "m2"]}))
    write_jsonl(files["data"] / "bench" / "question.jsonl",
                [{"uid": "u1", "category": "hard_prompt", "prompt": "Hello?"}])
    assert gen_answer.main(answer_argv(files, "--dry-run")) == 0
    out = capsys.readouterr().out
    input_tokens = 3 + 4 + utils.count_tokens("Hello?")
    assert dry_run_table(out) == {"m1": ["1", f"{input_tokens:,}", "?"], "m2": ["1", f"{input_tokens:,}", "?"],
                                  "total": ["2", f"{2 * input_tokens:,}", "?"]}
    assert ("m1: output unknown (no stored record of model m1, no max_tokens); "
            "dollars: $2 input, $8 output a million tokens; batch 50% off") in out
    assert (f"m2: output unknown (no stored record of model m2, no max_tokens); "
            f"dollars: no price for m2 in {files['api']}") in out
    assert api.requests == []


def test_judge_dry_run_estimate_is_within_ten_percent_of_the_run(tmp_path, api, capsys):
    """m1 judged; then m2: the dry run counts the judge's input on the exact messages, estimates
    its output from m1's stored judgments, and the run uses what it said."""
    questions = [v01_question(f"q{i:02d}", long_text(i, 20 + 5 * i)) for i in range(20)]
    files = bench_configs(tmp_path, api, questions, ["base", "m1", "m2"], price=PRICE)
    api.responder = lambda body, path: long_text(zlib.crc32(json.dumps(body).encode()), 150 + len(body["model"]) * 20)
    assert gen_answer.main(answer_argv(files)) == 0
    config = yaml.safe_load(files["judge"].read_text())
    files["judge"].write_text(yaml.safe_dump({**config, "model_list": ["m1"]}))
    api.responder = varied_reply
    assert gen_judgment.main(judge_argv(files)) == 0
    files["judge"].write_text(yaml.safe_dump(config))
    judgments = files["data"] / "bench" / "model_judgment" / "judge"
    sent = len(api.requests)
    capsys.readouterr()

    with utils.claim_output(judgments / "m2.jsonl"):
        assert gen_judgment.main(judge_argv(files, "--dry-run")) == 0
    out = capsys.readouterr().out
    assert len(api.requests) == sent and sorted(p.name for p in judgments.iterdir()) == ["m1.jsonl"]
    rows = dry_run_table(out)
    assert rows["m1"][:3] == ["0", "0", "0"]
    requests, input_tokens, output_tokens, direct, batch = rows["m2"]
    assert "\noutput: " in out and "tokens a request, from the stored usage of 20 records of judge judge\n" in out
    assert out.endswith("\ndollars: $2 input, $8 output a million tokens; batch 50% off\n")
    assert number(batch) == pytest.approx(number(direct) / 2, abs=1e-4)

    assert gen_judgment.main(judge_argv(files)) == 0
    real = sum((utils.record_usage(r) for r in read_records(judgments / "m2.jsonl")), utils.Usage())
    assert int(requests) == real.calls == 40
    assert within(number(input_tokens), real.input_tokens), (input_tokens, real)
    assert within(number(output_tokens), real.output_tokens), (output_tokens, real)
    assert within(number(direct), utils.Price(**PRICE).dollars(real))


# ---------------------------------------------------------------------------- show_result --full-stats


def judge_token_rows(out: str) -> dict[str, list[str]]:
    """The rows of --full-stats' judge token table: {model: [input, output]} (blank cells as "")."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "judge input tokens" in line)
    rows = {}
    for line in lines[start + 1:]:
        if "|" not in line:
            break
        cells = [c.strip() for c in line.split("|")]
        rows[cells[0]] = cells[1:] + [""] * (3 - len(cells))
    return rows


def test_full_stats_give_the_judges_tokens_per_model(tmp_path, api, capsys):
    questions = [v01_question(f"q{i}", f"Question {i}?") for i in range(8)]
    files = bench_configs(tmp_path, api, questions, ["base", "m1", "m2", "m3"])
    api.responder = lambda body, path: ("[[B>A]] " if body["model"] == "judge-api" else "") + long_text(
        zlib.crc32(json.dumps(body).encode()), 30)
    assert gen_answer.main(answer_argv(files)) == 0
    assert gen_judgment.main(judge_argv(files)) == 0
    judgments = files["data"] / "bench" / "model_judgment" / "judge"
    m1, m2 = read_records(judgments / "m1.jsonl"), read_records(judgments / "m2.jsonl")
    write_jsonl(judgments / "m2.jsonl", [{k: v for k, v in r.items() if k != "usage"} for r in m2])  # as upstream's
    write_jsonl(judgments / "m3.jsonl", [{k: v for k, v in r.items() if k != "usage"} if r["question_id"] == "q0" else r
                                         for r in read_records(judgments / "m3.jsonl")])
    capsys.readouterr()
    argv = ["--data-dir", str(files["data"]), "--bench-name", "bench", "--judge-name", "judge", "--baseline", "base",
            "--num-rounds", "3", "--full-stats"]
    assert show_result.main(argv) == 0
    out = capsys.readouterr().out
    assert "strong_wins" in out  # the game counts, then the judge's tokens
    rows = judge_token_rows(out)
    m3 = [r for r in read_records(judgments / "m3.jsonl") if "usage" in r]
    assert rows == {
        "m1": [f"{sum(r['usage']['input_tokens'] for r in m1):,}", f"{sum(r['usage']['output_tokens'] for r in m1):,}"],
        "m2": ["", ""],  # no judgment kept its usage
        "m3": [f"{sum(r['usage']['input_tokens'] for r in m3):,}", f"{sum(r['usage']['output_tokens'] for r in m3):,}"],
    }
    assert "(from the usage stored with 15 of 24 judgments: records written before usage was kept have none)" in out
    assert show_result.main(argv + ["--load-battles"]) == 0  # the judgments are read for --full-stats
    assert judge_token_rows(capsys.readouterr().out) == rows


def test_dry_run_does_not_go_with_fetching_data(capsys):
    with pytest.raises(SystemExit) as e:
        gen_answer.main(["--fetch-official-data", "--dry-run"])
    assert e.value.code == 2 and "--dry-run goes with answering" in capsys.readouterr().err
