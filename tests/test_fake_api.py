"""Tests of the fake model server through the real openai and anthropic SDK clients (the other
providers' SDKs drive it in test_utils_complete.py).

Usage: python -m pytest tests/test_fake_api.py

They also pin which SDK exception each injected fault produces: the retry layer in utils.py
classifies failures by these exceptions.
"""
from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import anthropic
import openai
import pytest
import fake_api
from fake_api import FakeAPI, HoldAfter, Reasoned, ServerAnswer, start_fake_api_process

MESSAGES = [
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": "first answer"},
    {"role": "user", "content": "what is two plus two"},
]


FAKE_API_OPTIONS = {"slow_seconds": 0.2}  # for the `api` fixture (conftest.py)


def openai_client(api: FakeAPI, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=api.openai_base, api_key="test", max_retries=0, timeout=timeout)


def azure_client(api: FakeAPI, timeout: float = 5.0) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=api.url, api_version="2024-06-01", api_key="azure-key",
                              max_retries=0, timeout=timeout)


def anthropic_client(api: FakeAPI, timeout: float = 5.0) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=api.anthropic_base, api_key="test", max_retries=0, timeout=timeout)


def ask_openai(client: openai.OpenAI, model: str = "gpt-test") -> openai.types.chat.ChatCompletion:
    return client.chat.completions.create(model=model, messages=MESSAGES, temperature=0.0, max_tokens=50)


def ask_anthropic(client: anthropic.Anthropic) -> anthropic.types.Message:
    return client.messages.create(model="claude-test", system="be brief", messages=MESSAGES, max_tokens=50)


def post(api: FakeAPI, path: str, body: object, method: str = "POST") -> tuple[int, dict]:
    """Plain http.client request, for what the SDKs cannot send."""
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    try:
        connection.request(method, path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


# ---- normal replies ------------------------------------------------------------------------


def test_openai_reply_usage_and_recorded_request(api: FakeAPI) -> None:
    with openai_client(api) as client:
        completion = ask_openai(client)
    assert completion.choices[0].message.content == "Echo: what is two plus two"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-test"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (27, 7)
    [request] = api.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer test"
    assert request["body"]["messages"] == MESSAGES
    assert request["body"]["temperature"] == 0.0 and request["body"]["max_tokens"] == 50
    assert request["fault"] is None


def test_azure_reply_uses_deployment_path_and_api_version(api: FakeAPI) -> None:
    with azure_client(api) as client:
        completion = ask_openai(client, model="my-deployment")
    assert completion.choices[0].message.content == "Echo: what is two plus two"
    assert completion.usage.completion_tokens == 7
    [request] = api.requests
    assert request["path"] == "/openai/deployments/my-deployment/chat/completions"
    assert request["query"] == {"api-version": "2024-06-01"}
    assert request["headers"]["api-key"] == "azure-key"


def test_anthropic_reply_usage_and_recorded_request(api: FakeAPI) -> None:
    with anthropic_client(api) as client:
        message = ask_anthropic(client)
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Echo: what is two plus two"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (34, 7)  # system counts
    [request] = api.requests
    assert request["path"] == "/v1/messages"
    assert request["body"]["system"] == "be brief"
    assert "anthropic-version" in request["headers"]


def test_usage_counts_cl100k_tokens_of_the_prompt_in_chatml() -> None:
    # <|im_start|> user \n | hi there | <|im_end|> \n | <|im_start|> assistant \n
    assert fake_api.prompt_tokens({"messages": [{"role": "user", "content": "hi there"}]}) == 3 + 2 + 2 + 3
    assert fake_api.count_tokens("Echo: hi there") == 4 and fake_api.count_tokens("<|endoftext|>") == 7
    system = {"role": "system", "content": "be brief"}
    assert (fake_api.prompt_tokens({"system": "be brief", "messages": [{"role": "user", "content": "hi there"}]})
            == fake_api.prompt_tokens({"messages": [system, {"role": "user", "content": "hi there"}]}) == 10 + 7)


def test_word_counts_for_benchmarks() -> None:
    with FakeAPI(usage_counts="words") as api, openai_client(api) as client:
        usage = ask_openai(client).usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (2 + 2 + 5, 6)  # words of MESSAGES, of the echo
    with pytest.raises(ValueError, match="usage_counts"):
        FakeAPI(usage_counts="words", prefix_cache=fake_api.PrefixCache())


def test_prefix_cache_reads_whole_blocks_of_a_recent_prompt_sharing_the_start() -> None:
    cache = fake_api.PrefixCache(capacity=2, min_tokens=1024, block=128)
    first = list(range(2000))
    assert cache.read(first) == 0  # nothing seen yet
    assert cache.read(first[:1500] + [7] * 600) == 1408  # 1500 shared: 11 blocks of 128
    assert cache.read(first[:1000] + [8] * 600) == 0  # below 1024 shared tokens: no hit
    assert cache.read(list(range(500))) == 0  # too short to be read from the cache
    # the last two prompts are kept (the least recently used are dropped)
    assert cache.read(first[:1000] + [8] * 600) == 1536 and cache.read(first) == 0


def test_prefix_cache_reports_cached_tokens_in_openai_replies() -> None:
    long_question = "word " * 1200
    with FakeAPI(prefix_cache=fake_api.PrefixCache()) as api, openai_client(api) as client:
        usages = [client.chat.completions.create(model="m", messages=[{"role": "user", "content": long_question + tail}]
                                                 ).usage for tail in ("one", "two")]
    assert usages[0].prompt_tokens_details.cached_tokens == 0
    assert usages[1].prompt_tokens_details.cached_tokens == 1152  # ~1200 shared tokens: 9 blocks of 128
    assert usages[1].prompt_tokens == usages[0].prompt_tokens


def test_echo_reads_text_parts_of_the_last_user_message(api: FakeAPI) -> None:
    parts = [{"type": "text", "text": "part one, "}, {"type": "text", "text": "part two"}]
    with openai_client(api) as client:
        completion = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "old"}, {"role": "user", "content": parts}])
    assert completion.choices[0].message.content == "Echo: part one, part two"


def test_responder_string_and_full_body(api: FakeAPI) -> None:
    seen: list[tuple[str, str]] = []

    def verdict(body: dict, path: str) -> str:
        seen.append((path, body["model"]))
        return "My verdict: [[A>B]]"

    api.responder = verdict
    with openai_client(api) as oai, anthropic_client(api) as claude:
        assert ask_openai(oai).choices[0].message.content == "My verdict: [[A>B]]"
        assert ask_anthropic(claude).content[0].text == "My verdict: [[A>B]]"
        assert seen == [("/v1/chat/completions", "gpt-test"), ("/v1/messages", "claude-test")]

        api.responder = lambda body, path: {
            "id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "cut"},
                         "finish_reason": "length"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 50, "total_tokens": 51}}
        completion = ask_openai(oai)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 50


def test_a_server_answer_is_sent_as_given_and_the_sdk_keeps_only_openai_error_messages(api: FakeAPI) -> None:
    """openai 3.x puts only an OpenAI-shaped error's message in str(error); any other body (TGI's
    {"error": "..."}, HTML) is left in error.body."""
    html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    api.responder = lambda body, path: ServerAnswer(502, html, "text/html", {"Retry-After": "7"})
    with openai_client(api) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            ask_openai(client)
        assert str(caught.value) == "Error code: 502" and caught.value.body == html
        assert caught.value.response.headers["retry-after"] == "7"
        assert caught.value.response.headers["content-type"] == "text/html"
        api.responder = lambda body, path: ServerAnswer(422, {"error": "Input validation error", "error_type": "v"})
        with pytest.raises(openai.UnprocessableEntityError) as caught:
            ask_openai(client)
        assert str(caught.value) == "Error code: 422" and caught.value.body == "Input validation error"
        api.responder = lambda body, path: ServerAnswer(400, {"object": "error", "message": "too long", "code": 400})
        with pytest.raises(openai.BadRequestError, match="^Error code: 400 - too long$"):
            ask_openai(client)


def test_responder_set_at_construction() -> None:
    with FakeAPI(responder=lambda body, path: "fixed") as api, openai_client(api) as client:
        assert ask_openai(client).choices[0].message.content == "fixed"


def test_broken_responder_gives_500_not_a_hang(api: FakeAPI) -> None:
    api.responder = lambda body, path: 1 / 0
    with openai_client(api) as client, pytest.raises(openai.InternalServerError, match="ZeroDivisionError"):
        ask_openai(client)


def test_unknown_routes_get_404_json(api: FakeAPI) -> None:
    assert post(api, "/v2/nothing", {"a": 1}) == (404, {"error": {"message": "no route POST /v2/nothing",
                                                                "type": "not_found"}})
    assert post(api, "/v1/nothing", {}, method="GET")[0] == 404
    status, listing = post(api, "/v1/models", {}, method="GET")  # the listing real servers answer
    assert status == 200 and listing["data"][0]["id"] == "fake-model"
    assert api.get_requests == ["/v1/nothing", "/v1/models"]
    assert api.requests[0]["path"] == "/v2/nothing" and api.requests[0]["body"] == {"a": 1}
    with openai.OpenAI(base_url=api.url + "/wrong", api_key="t", max_retries=0) as client:
        with pytest.raises(openai.NotFoundError):
            ask_openai(client)


def test_streaming_is_refused_clearly(api: FakeAPI) -> None:
    status, body = post(api, "/v1/chat/completions", {"model": "m", "messages": MESSAGES, "stream": True})
    assert status == 400 and "stream" in body["error"]["message"]


def test_latency_delays_each_reply() -> None:
    with FakeAPI(latency=0.1) as api, openai_client(api) as client:
        start = time.perf_counter()
        ask_openai(client)
        assert time.perf_counter() - start >= 0.1


# ---- faults: which SDK exception each one becomes ------------------------------------------

STATUS_FAULTS = [
    ("429", openai.RateLimitError, anthropic.RateLimitError),
    ("500", openai.InternalServerError, anthropic.InternalServerError),
    ("503", openai.InternalServerError, anthropic.ServiceUnavailableError),
    ("400", openai.BadRequestError, anthropic.BadRequestError),
    ("401", openai.AuthenticationError, anthropic.AuthenticationError),
    ("404", openai.NotFoundError, anthropic.NotFoundError),
]

SDK_NAMES = ["openai", "azure", "anthropic"]
Client = openai.OpenAI | anthropic.Anthropic


def make_client(api: FakeAPI, sdk: str, timeout: float = 5.0) -> Client:
    makers = {"openai": openai_client, "azure": azure_client, "anthropic": anthropic_client}
    return makers[sdk](api, timeout)


def ask(client: Client) -> object:
    return ask_anthropic(client) if isinstance(client, anthropic.Anthropic) else ask_openai(client)


def sdk_of(client: Client) -> ModuleType:
    """The SDK module whose exception classes this client raises."""
    return anthropic if isinstance(client, anthropic.Anthropic) else openai


@pytest.fixture(params=SDK_NAMES)
def client(request: pytest.FixtureRequest, api: FakeAPI) -> Iterator[Client]:
    with make_client(api, request.param) as sdk_client:
        yield sdk_client


@pytest.mark.parametrize("kind, openai_error, anthropic_error", STATUS_FAULTS,
                         ids=[fault[0] for fault in STATUS_FAULTS])
def test_status_faults_raise_sdk_status_errors(api: FakeAPI, client: Client, kind: str,
                                               openai_error: type, anthropic_error: type) -> None:
    api.fail_next(kind, retry_after=2 if kind == "429" else None)
    with pytest.raises(anthropic_error if sdk_of(client) is anthropic else openai_error) as caught:
        ask(client)
    assert caught.value.status_code == int(kind)
    assert caught.value.response.headers.get("retry-after") == ("2" if kind == "429" else None)
    assert api.faults_served == {kind: 1}
    assert ask(client) is not None  # one fault queued, one fault served


def test_fractional_retry_after_and_overloaded_status(api: FakeAPI, client: Client) -> None:
    sdk = sdk_of(client)
    api.fail_next("429", retry_after=0.25)
    with pytest.raises(sdk.RateLimitError) as caught:
        ask(client)
    assert caught.value.response.headers["retry-after"] == "0.25"
    api.fail_next("529")  # Anthropic's "overloaded"; any 4xx/5xx status works as a fault kind
    with pytest.raises(anthropic.OverloadedError if sdk is anthropic else openai.InternalServerError):
        ask(client)


def test_drop_raises_connection_error_then_server_recovers(api: FakeAPI, client: Client) -> None:
    sdk = sdk_of(client)
    api.fail_next("drop")
    with pytest.raises(sdk.APIConnectionError) as caught:
        ask(client)
    assert not isinstance(caught.value, sdk.APITimeoutError)
    assert ask(client) is not None


def test_slow_reply_raises_timeout_and_handler_survives(api: FakeAPI, client: Client) -> None:
    api.fail_next("slow")
    with pytest.raises(sdk_of(client).APITimeoutError):
        ask(client.with_options(timeout=0.05))
    # the client dropped the connection: its handler ends once it has written the late reply
    assert api.wait_idle(timeout=10), "the slow handler did not finish"
    assert api.requests[0]["fault"] == "slow" and api.errors == []
    assert ask(client) is not None


def test_malformed_json_raises_json_decode_error(api: FakeAPI, client: Client) -> None:
    api.fail_next("malformed")
    # not wrapped in an SDK exception: the plain json.JSONDecodeError (a ValueError) escapes
    with pytest.raises(json.JSONDecodeError):
        ask(client)
    assert ask(client) is not None


def test_empty_choices_parse_as_empty_lists(api: FakeAPI) -> None:
    api.fail_next("empty_choices", times=2)
    with openai_client(api) as oai, anthropic_client(api) as claude:
        completion = ask_openai(oai)
        message = ask_anthropic(claude)
    assert completion.choices == [] and completion.usage.completion_tokens == 0
    assert message.content == [] and message.usage.output_tokens == 0
    assert api.faults_served == {"empty_choices": 2}


def test_max_tokens_is_a_reply_cut_off_before_its_text(api: FakeAPI) -> None:
    api.responder = lambda body, path: Reasoned("the answer", "thinking")
    api.fail_next("max_tokens", times=2)
    with openai_client(api) as oai, anthropic_client(api) as claude:
        completion = ask_openai(oai)
        message = ask_anthropic(claude)
    [choice] = completion.choices
    assert (choice.finish_reason, choice.message.content) == ("length", "")
    assert choice.message.reasoning_content == "thinking" and completion.usage.completion_tokens == 50
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 50
    assert [(block.type, block.thinking) for block in message.content] == [("thinking", "thinking")]
    assert api.faults_served == {"max_tokens": 2}


# ---- connection reuse, scripted and random faults ------------------------------------------


def test_one_client_reuses_one_connection(api: FakeAPI, client: Client) -> None:
    for _ in range(5):
        ask(client)
    assert len(api.requests) == 5
    assert api.connections == 1


def test_separate_clients_use_separate_connections(api: FakeAPI) -> None:
    for _ in range(3):
        with openai_client(api) as oai:
            ask_openai(oai)
    assert api.connections == 3


def test_scripted_faults_apply_in_order(api: FakeAPI) -> None:
    api.fail_next("500", times=2)
    api.fail_next("429", retry_after=1)
    outcomes = []
    with openai_client(api) as client:
        for _ in range(4):
            try:
                ask_openai(client)
                outcomes.append("ok")
            except openai.APIStatusError as error:
                outcomes.append(str(error.status_code))
    assert outcomes == ["500", "500", "429", "ok"]
    assert [r["fault"] for r in api.requests] == ["500", "500", "429", None]
    assert api.faults_served == {"500": 2, "429": 1}


def test_fault_script_picks_faults_by_request_content_before_the_queue(api: FakeAPI) -> None:
    api.fail_next("500")
    api.fault_script = lambda body, path: "429" if body["messages"][-1]["content"] == "two" else None
    outcomes = []
    with openai_client(api) as client:
        for text in ("one", "two", "three", "two"):
            try:
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
                outcomes.append("ok")
            except openai.APIStatusError as error:
                outcomes.append(str(error.status_code))
    assert outcomes == ["500", "429", "ok", "429"]
    assert api.faults_served == {"500": 1, "429": 2}


def test_gemini_and_cohere_shapes_over_plain_http(api: FakeAPI) -> None:
    gemini = {"contents": [{"role": "user", "parts": [{"text": "hi there"}]},
                           {"role": "model", "parts": [{"text": "hello"}]},
                           {"role": "user", "parts": [{"text": "and now"}]}],
              "systemInstruction": {"parts": [{"text": "be brief"}]}}
    status, reply = post(api, "/v1beta/models/gem-test:generateContent", gemini)
    assert status == 200
    assert reply["candidates"][0]["content"] == {"role": "model", "parts": [{"text": "Echo: and now"}]}
    assert reply["usageMetadata"] == {"promptTokenCount": 30, "candidatesTokenCount": 4, "totalTokenCount": 34}
    cohere = {"model": "c", "messages": [{"role": "user", "content": "hi there"}], "stream": False}
    status, reply = post(api, "/v2/chat", cohere)
    assert status == 200
    assert reply["message"]["content"] == [{"type": "text", "text": "Echo: hi there"}]
    assert reply["usage"]["tokens"] == {"input_tokens": 10, "output_tokens": 4}
    api.fail_next("429")
    api.fail_next("400")
    assert post(api, "/v1/models/gem-test:generateContent", gemini) == (
        429, {"error": {"code": 429, "message": "injected fault 429", "status": "RESOURCE_EXHAUSTED"}})
    assert post(api, "/v2/chat", cohere) == (400, {"id": "fake-error", "message": "injected fault 400"})


def test_unknown_fault_kind_is_refused(api: FakeAPI) -> None:
    with pytest.raises(ValueError, match="unknown fault kind 'teapot'"):
        api.fail_next("teapot")


def random_fault_outcomes(seed: int, count: int) -> list[str]:
    """Kinds seen by `count` sequential requests against a server with random faults."""
    outcomes = []
    with FakeAPI(fault_rates={"429": 0.2, "500": 0.1, "drop": 0.1}, seed=seed) as api, \
            openai_client(api) as client:
        for _ in range(count):
            try:
                ask_openai(client)
                outcomes.append("ok")
            except openai.APIStatusError as error:
                outcomes.append(str(error.status_code))
            except openai.APIConnectionError:
                outcomes.append("drop")
        assert [r["fault"] or "ok" for r in api.requests] == outcomes
        assert sum(api.faults_served.values()) == count - outcomes.count("ok")
        assert api.errors == []
    return outcomes


def test_random_faults_are_seeded() -> None:
    first = random_fault_outcomes(seed=7, count=60)
    assert first == random_fault_outcomes(seed=7, count=60)
    assert {"ok", "429", "500", "drop"} == set(first)
    assert 30 <= first.count("ok") <= 50  # 60% expected: 36


def test_scripted_faults_come_before_random_ones() -> None:
    with FakeAPI(fault_rates={"500": 1.0}) as api, openai_client(api) as client:
        api.fail_next("401")
        with pytest.raises(openai.AuthenticationError):
            ask_openai(client)
        with pytest.raises(openai.InternalServerError):
            ask_openai(client)
        api.fault_rates = {}
        assert ask_openai(client).choices


# ---- load, shutdown, own process -----------------------------------------------------------


def test_parallel_load_through_one_shared_client() -> None:
    with FakeAPI(latency=0.01) as api, openai_client(api) as client:
        with ThreadPoolExecutor(32) as pool:
            replies = list(pool.map(
                lambda i: client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": f"q{i}"}]).choices[0].message.content,
                range(200)))
        assert replies == [f"Echo: q{i}" for i in range(200)]
        assert len(api.requests) == 200
        assert api.connections <= 32
        assert api.errors == []


def test_wait_idle_waits_for_a_handler_that_crashes_late() -> None:
    # the reply cannot be serialised: the handler crashes after the client has given up
    with FakeAPI(latency=0.3, responder=lambda body, path: {"not json": object()}) as api:
        with openai_client(api, timeout=0.05) as client, pytest.raises(openai.APITimeoutError):
            ask_openai(client)
        assert api.wait_idle(timeout=10)
        assert len(api.errors) == 1 and "TypeError" in api.errors[0]


def test_hold_after_answers_count_requests_then_holds_until_released() -> None:
    hold = HoldAfter(2)
    replies: list[str] = []
    with FakeAPI(responder=hold) as api, openai_client(api) as client:
        def call(i: int) -> None:
            replies.append(client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"q{i}"}]).choices[0].message.content)

        call(0)
        call(1)
        third = threading.Thread(target=call, args=(2,))
        third.start()
        try:
            assert hold.held.wait(10)
            assert third.is_alive() and replies == ["Echo: q0", "Echo: q1"]  # held, not answered
        finally:
            hold.release()
        third.join(10)
        assert replies == ["Echo: q0", "Echo: q1", "Echo: q2"] and hold.calls == 3
        assert api.errors == []


def test_stop_is_prompt_while_a_slow_reply_is_pending() -> None:
    api = FakeAPI(slow_seconds=30).start()
    api.fail_next("slow")
    failures: list[BaseException] = []

    def call() -> None:
        try:
            with openai_client(api, timeout=30) as oai:
                ask_openai(oai)
        except openai.APIConnectionError as error:
            failures.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 30
    while not api.requests:
        assert time.monotonic() < deadline and caller.is_alive(), "the slow request never arrived"
        time.sleep(0.01)
    start = time.perf_counter()
    api.stop()
    caller.join(5)
    assert time.perf_counter() - start < 5
    assert not caller.is_alive() and len(failures) == 1


def test_own_process_serves_until_killed() -> None:
    process, url = start_fake_api_process(latency=0.0, fault_rates={"500": 1.0})
    try:
        assert url.startswith("http://127.0.0.1:")
        with openai.OpenAI(base_url=url + "/v1", api_key="t", max_retries=0, timeout=5) as client:
            with pytest.raises(openai.InternalServerError):
                ask_openai(client)
        assert process.poll() is None
    finally:
        process.kill()
        process.wait(5)


def test_a_reasoned_reply_reaches_both_sdks_where_each_api_puts_the_thought(api):
    api.responder = lambda body, path: Reasoned("four", "two and two")
    message = ask_openai(openai_client(api)).choices[0].message
    assert message.content == "four" and message.model_extra["reasoning_content"] == "two and two"
    content = ask_anthropic(anthropic_client(api)).content
    assert [type(block).__name__ for block in content] == ["ThinkingBlock", "TextBlock"]
    assert content[0].thinking == "two and two" and content[1].text == "four"
    status, body = post(api, "/v2/chat", {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert status == 500 and "only in the OpenAI and Anthropic styles" in json.dumps(body)
