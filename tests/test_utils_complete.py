"""Tests of utils.complete(): providers and the one retry policy, over real HTTP to the fake API.

Usage: python -m pytest tests/test_utils_complete.py
"""
from __future__ import annotations

import dataclasses
import importlib
import random
import sys
import threading

import pytest

import utils
from fake_api import FakeAPI, Reasoned, ServerAnswer


def model(api: FakeAPI, api_type: str = "openai", *, max_retries: int = 3, base: float = 0.01,
          cap: float = 0.05, timeout: float = 5.0, key: str = "sk-test-key") -> utils.ModelConfig:
    if api_type == "anthropic":
        endpoint = utils.Endpoint(api.anthropic_base, key)
    elif api_type == "azure":
        endpoint = utils.Endpoint(api.url, key, "2024-06-01")
    elif api_type in OPTIONAL_SDKS:
        endpoint = utils.Endpoint(getattr(api, f"{api_type}_base"), key)
    else:
        endpoint = utils.Endpoint(api.openai_base, key)
    return utils.ModelConfig(name="m", model_name="api-model", api_type=api_type, endpoints=(endpoint,),
                             retry=utils.RetryPolicy(max_retries, base, cap), timeout=timeout)


MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
# api_type: (module, pip package) of the providers whose SDK is optional
OPTIONAL_SDKS = {"mistral": ("mistralai", "mistralai"), "gemini": ("google.genai", "google-genai"),
                 "cohere": ("cohere", "cohere")}


def require_sdk(api_type: str) -> None:
    """Skip the test where the provider's optional SDK is not installed (CI installs them all)."""
    module, package = OPTIONAL_SDKS[api_type]
    try:
        importlib.import_module(module)
    except ImportError:
        pytest.skip(f"{package} is not installed (pip install -r requirements-optional.txt)")


class Sleeps:
    """Records the waits complete() asks for, without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.mark.parametrize("api_type", ["openai", "azure", "anthropic"])
def test_reply_text_and_usage(api, api_type):
    result = utils.complete(model(api, api_type), MESSAGES, temperature=0.3, max_tokens=50)
    assert result.ok and result.error is None
    assert "Hello there" in result.text
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    [request] = api.requests
    body = request["body"]
    assert body["model"] == "api-model" or api_type == "azure"
    assert body["max_tokens"] == 50
    if api_type == "anthropic":
        assert "temperature" not in body  # rejected by the current Messages API
        assert request["path"] == "/v1/messages"
        assert body["system"] == "Be brief."
        assert body["messages"] == MESSAGES[1:]
    else:
        assert body["messages"] == MESSAGES and body["temperature"] == 0.3
    if api_type == "azure":
        assert request["path"] == "/openai/deployments/api-model/chat/completions"
        assert request["query"]["api-version"] == "2024-06-01"


@pytest.mark.parametrize("api_type", ["openai", "azure"])
def test_openai_requests_carry_only_what_upstream_sends(api, api_type):
    # Upstream's chat.completions.create(model, messages, temperature, max_tokens): no "n",
    # which some OpenAI-compatible servers reject.
    assert utils.complete(model(api, api_type), MESSAGES, temperature=0.0, max_tokens=50).ok
    [request] = api.requests
    assert sorted(request["body"]) == ["max_tokens", "messages", "model", "temperature"]


@pytest.mark.parametrize("fault", ["429", "500", "503", "502", "drop", "malformed", "empty_choices"])
@pytest.mark.parametrize("api_type", ["openai", "anthropic"])
def test_transient_faults_are_retried(api, api_type, fault):
    api.fail_next(fault, times=2)
    sleeps = Sleeps()
    result = utils.complete(model(api, api_type), MESSAGES, 0.0, 20, sleep=sleeps)
    assert result.ok, result.error
    assert result.attempts == 3 and len(api.requests) == 3
    assert len(sleeps.waits) == 2


def test_timeout_is_retried(api):
    api.slow_seconds = 30.0  # far past the client's timeout; stop() wakes the handler at teardown
    api.fail_next("slow")
    sleeps = Sleeps()
    result = utils.complete(model(api, timeout=1.5), MESSAGES, 0.0, 20, sleep=sleeps)
    assert result.ok and result.attempts == 2
    assert [r["fault"] for r in api.requests] == ["slow", None]
    assert len(sleeps.waits) == 1


@pytest.mark.parametrize("status", ["400", "401", "404"])
@pytest.mark.parametrize("api_type", ["openai", "anthropic"])
def test_other_4xx_fail_at_once(api, api_type, status, caplog):
    api.fail_next(status, times=5)
    sleeps = Sleeps()
    result = utils.complete(model(api, api_type), MESSAGES, 0.0, 20, sleep=sleeps)
    assert not result.ok and result.text is None
    assert f"HTTP {status}" in result.error
    assert len(api.requests) == 1 and sleeps.waits == []
    assert "sk-test-key" not in result.error and "sk-test-key" not in caplog.text


NGINX_502 = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
             "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


@pytest.mark.parametrize("answer, shown", [
    # TGI: {"error": "...", "error_type": "..."}, 422 for a prompt plus max_new_tokens too long
    (ServerAnswer(422, {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. "
                                 "Given: 4000 `inputs` tokens and 512 `max_new_tokens`", "error_type": "validation"}),
     "UnprocessableEntityError (HTTP 422): Error code: 422 - Input validation error: `inputs` tokens"),
    # FastAPI's own errors (an unknown route of vLLM's server, Open WebUI): {"detail": ...}
    (ServerAnswer(404, {"detail": "Not Found"}), "NotFoundError (HTTP 404): Error code: 404 - Not Found"),
    (ServerAnswer(422, {"detail": [{"loc": ["body", "messages"], "msg": "Field required", "type": "missing"}]}),
     'UnprocessableEntityError (HTTP 422): Error code: 422 - [{"loc": ["body", "messages"], "msg": "Field required", '
     '"type": "missing"}]'),
    # a Go server's plain text (Ollama's router for a path it does not serve)
    (ServerAnswer(404, "404 page not found", "text/plain"),
     "NotFoundError (HTTP 404): Error code: 404 - 404 page not found"),
    # a reverse proxy's HTML page: its title, one line
    (ServerAnswer(502, NGINX_502, "text/html"), "InternalServerError (HTTP 502): Error code: 502 - 502 Bad Gateway"),
    # vLLM and SGLang: {"object": "error", "message": ...} (the SDK reads this one itself)
    (ServerAnswer(400, {"object": "error", "message": "This model's maximum context length is 4096 tokens. "
                                                     "However, you requested 5000 tokens", "type": "BadRequestError",
                        "param": None, "code": 400}),
     "BadRequestError (HTTP 400): Error code: 400 - This model's maximum context length is 4096 tokens."),
])
def test_the_error_says_the_servers_own_message_in_one_line(api, answer, shown):
    api.responder = lambda body, path: answer
    result = utils.complete(model(api, max_retries=0), MESSAGES, 0.0, 20, sleep=Sleeps())
    assert not result.ok and len(api.requests) == 1
    assert f"{api.openai_base}: {shown}" in result.error and "\n" not in result.error, result.error


@pytest.mark.parametrize("page", [NGINX_502, NGINX_502.replace("\r\n", "")])
def test_an_html_error_page_through_the_anthropic_sdk_is_its_title(api, page):
    api.responder = lambda body, path: ServerAnswer(502, page, "text/html")
    result = utils.complete(model(api, "anthropic", max_retries=0), MESSAGES, 0.0, 20, sleep=Sleeps())
    assert result.error == f"{api.anthropic_base}: InternalServerError (HTTP 502): 502 Bad Gateway"


def test_a_long_sdk_message_gives_way_to_the_servers_own(api):
    """Cohere's SDK puts every response header before the body in its message: with a real
    server's headers, the cut at 300 characters left out the reason."""
    require_sdk("cohere")
    headers = {f"x-proxy-header-{i}": "v" * 40 for i in range(8)}
    api.responder = lambda body, path: ServerAnswer(400, {"id": "e1", "message": "invalid request: model 'x' not found"},
                                                    headers=headers)
    result = utils.complete(model(api, "cohere"), MESSAGES, 0.0, 20, sleep=Sleeps())
    assert not result.ok and len(api.requests) == 1
    assert result.error == f"{api.cohere_base}: BadRequestError (HTTP 400): invalid request: model 'x' not found"


def test_a_404_from_an_api_base_without_v1_says_to_check_it(api):
    """Ollama, vLLM, llama.cpp serve /v1/chat/completions: a base without /v1 gets 404s."""
    without_v1 = dataclasses.replace(model(api), endpoints=(utils.Endpoint(api.url, "k"),))
    result = utils.complete(without_v1, MESSAGES, 0.0, 20, sleep=Sleeps())
    assert not result.ok and len(api.requests) == 1 and api.requests[0]["path"] == "/chat/completions"
    assert result.error.startswith(f"{api.url}: NotFoundError (HTTP 404): Error code: 404 - no route POST")
    assert result.error.endswith("; check api_base: OpenAI-compatible servers usually want it to end in /v1")
    api.responder = lambda body, path: ServerAnswer(404, {"error": {"message": "The model `api-model` does not exist."}})
    result = utils.complete(model(api), MESSAGES, 0.0, 20, sleep=Sleeps())  # the base ends in /v1: no hint
    assert result.error.endswith("does not exist.")


def test_gives_up_after_max_retries_and_reports_the_last_error(api):
    api.fail_next("500", times=10)
    sleeps = Sleeps()
    result = utils.complete(model(api, max_retries=2), MESSAGES, 0.0, 20, sleep=sleeps)
    assert not result.ok and "HTTP 500" in result.error
    assert result.attempts == 3 and len(api.requests) == 3 and len(sleeps.waits) == 2


def test_retry_after_is_honoured_and_capped(api):
    api.fail_next("429", retry_after=2.5)
    api.fail_next("429", retry_after=100)
    sleeps = Sleeps()
    result = utils.complete(model(api, base=0.01, cap=30.0), MESSAGES, 0.0, 20, sleep=sleeps)
    assert result.ok
    assert sleeps.waits[0] == pytest.approx(2.5)  # at least what the server asked
    assert sleeps.waits[1] == 30.0  # never more than the cap


def test_retry_after_as_an_http_date_and_a_loading_503_without_one(api):
    """Retry-After may be an HTTP date (RFC 9110); llama.cpp answers 503 while its model loads."""
    import email.utils
    import time

    answers = iter([ServerAnswer(429, {"error": {"message": "slow down"}},
                                 headers={"Retry-After": email.utils.formatdate(time.time() + 20, usegmt=True)}),
                    ServerAnswer(503, {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}})])
    api.responder = lambda body, path: next(answers, "ready")
    sleeps = Sleeps()
    result = utils.complete(model(api, base=0.01, cap=60.0), MESSAGES, 0.0, 20, sleep=sleeps)
    assert result.ok and result.text == "ready" and len(api.requests) == 3
    assert 18 < sleeps.waits[0] <= 20 and sleeps.waits[1] <= 0.02


def test_backoff_is_exponential_with_jitter_and_capped():
    policy = utils.RetryPolicy(max_retries=10, base_delay=1.0, max_delay=20.0)
    rng = random.Random(0)
    for attempt in range(8):
        waits = [policy.delay(attempt, None, rng) for _ in range(300)]
        ceiling = min(20.0, 2.0**attempt)
        assert all(0.0 <= w <= ceiling for w in waits)
        assert max(waits) > 0.8 * ceiling  # jitter spreads over the whole window
        assert len(set(waits)) > 250
    assert policy.delay(3, 0.5, rng) >= 0.5


def test_one_client_per_endpoint_shared_by_threads(api):
    cfg = model(api)
    results = []

    def work() -> None:
        for _ in range(5):
            results.append(utils.complete(cfg, MESSAGES, 0.0, 10))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20 and all(r.ok for r in results)
    assert api.connections <= 4  # connections are pooled, not opened per request
    endpoint = cfg.endpoints[0]
    assert utils.get_client("openai", endpoint, cfg.timeout) is utils.get_client("openai", endpoint, cfg.timeout)


def test_sequential_calls_reuse_one_connection(api):
    cfg = model(api)
    for _ in range(10):
        assert utils.complete(cfg, MESSAGES, 0.0, 10).ok
    assert api.connections == 1


def test_endpoint_is_picked_among_the_configured_ones():
    with FakeAPI() as a, FakeAPI() as b:
        cfg = utils.ModelConfig(name="m", model_name="x", api_type="openai",
                                endpoints=(utils.Endpoint(a.openai_base, "k"), utils.Endpoint(b.openai_base, "k")))
        rng = random.Random(1)
        for _ in range(20):
            assert utils.complete(cfg, MESSAGES, 0.0, 10, rng=rng).ok
        assert len(a.requests) > 0 and len(b.requests) > 0
        assert len(a.requests) + len(b.requests) == 20


@pytest.mark.parametrize("api_type", sorted(OPTIONAL_SDKS))
def test_missing_optional_sdk_is_a_clear_failure(api_type, monkeypatch, fresh_clients):
    module, package = OPTIONAL_SDKS[api_type]
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail, installed or not
    cfg = utils.ModelConfig(name="m", model_name="x", api_type=api_type)
    result = utils.complete(cfg, MESSAGES, 0.0, 10)
    assert not result.ok
    assert f"pip install {package}" in result.error


def test_missing_api_key_fails_at_once_without_retrying(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = utils.ModelConfig(name="m", model_name="x", api_type="openai",
                            endpoints=(utils.Endpoint("http://127.0.0.1:9/v1", None),))
    sleeps = Sleeps()
    result = utils.complete(cfg, MESSAGES, 0.0, 10, sleep=sleeps)
    assert not result.ok and "api_key" in result.error and sleeps.waits == []


@pytest.mark.parametrize("exc, retry", [
    (utils.EmptyResponse("x"), True),
    (TimeoutError(), True),
    (ConnectionResetError(), True),
    (ValueError("bad"), False),
    (KeyError("x"), False),
])
def test_is_retryable_for_plain_exceptions(exc, retry):
    assert utils.is_retryable(exc) is retry


def test_empty_replies_are_asked_again_twice_at_most(api):
    api.fail_next("empty_choices", times=10)
    sleeps = Sleeps()
    result = utils.complete(model(api, max_retries=8), MESSAGES, 0.0, 20, sleep=sleeps)
    assert not result.ok and "EmptyResponse" in result.error
    assert len(api.requests) == 1 + utils.MAX_EMPTY_RETRIES


def test_api_keys_are_redacted_from_errors(api, caplog):
    secret = "sk-proj-SECRET1234567890"

    def responder(body, path):
        raise RuntimeError(f"bad key {secret}")  # the fake answers 500 with this text

    api.responder = responder
    result = utils.complete(model(api, max_retries=1, key=secret), MESSAGES, 0.0, 20, sleep=Sleeps())
    assert not result.ok and "***" in result.error
    assert secret not in result.error and secret not in caplog.text


def test_setup_errors_are_found_when_models_are_chosen(tmp_path, monkeypatch, fresh_clients):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    f = tmp_path / "api.yaml"
    f.write_text("nokey: {model_name: x, api_type: openai, endpoints: null}\n"
                 "mis: {model_name: x, api_type: mistral, endpoints: null}\n")
    config = utils.load_api_config(f)
    with pytest.raises(utils.ConfigError, match=r"nokey.endpoints\[0\]: .*api_key"):
        utils.require_models(config, ["nokey"], f, "gen.yaml: model_list")
    monkeypatch.setitem(sys.modules, "mistralai", None)  # makes `import mistralai` fail, installed or not
    assert fresh_clients == {}  # no mistral client built earlier
    with pytest.raises(utils.ConfigError, match=r"mis.endpoints\[0\]: .*pip install mistralai"):
        utils.require_models(config, ["mis"], f, "gen.yaml: model_list")


@pytest.mark.parametrize("api_type", ["openai", "anthropic"])
def test_an_empty_text_is_an_empty_reply(api, api_type, caplog):
    api.responder = lambda body, path: ""
    result = utils.complete(model(api, api_type), MESSAGES, 0.0, 20, sleep=Sleeps())
    assert not result.ok and "EmptyResponse" in result.error
    assert len(api.requests) == 1 + utils.MAX_EMPTY_RETRIES
    # the last line says it was asked again, not "(not retried)" after two retry lines
    [last] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert last.endswith("(gave up after 3 attempts: a reply without text is asked again 2 times at most)"), last


@pytest.mark.parametrize("api_type", ["openai", "azure", "anthropic", *sorted(OPTIONAL_SDKS)])
def test_a_reply_cut_off_at_max_tokens_without_text_fails_at_once_and_is_billed(api, api_type, caplog):
    """A reasoning model that spent max_tokens thinking: asking again would pay for the same again."""
    if api_type in OPTIONAL_SDKS:
        require_sdk(api_type)
    if api_type in ("openai", "anthropic"):
        api.responder = lambda body, path: Reasoned("Echo", "thinking until the limit")
    api.fail_next("max_tokens", times=3)
    result = utils.complete(model(api, api_type), MESSAGES, 0.0, 64, sleep=Sleeps())
    assert not result.ok and len(api.requests) == 1 and result.attempts == 1
    assert result.error.endswith("it stopped at max_tokens before any answer text (raise max_tokens)"), result.error
    assert result.completion_tokens == 64 and result.prompt_tokens > 0  # billed, though unanswered
    assert "(not retried)" in caplog.text


def test_a_cut_off_reply_with_text_is_the_answer(api):
    """A reply cut off after some of its text is stored as upstream stores it (a truncated answer)."""
    api.responder = lambda body, path: {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "A long ans"},
                     "finish_reason": "length"}], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}
    result = utils.complete(model(api), MESSAGES, 0.0, 3)
    assert result.ok and result.text == "A long ans" and result.completion_tokens == 3


def test_a_cut_off_vllm_reply_without_content_fails_at_once(api):
    """vLLM's reasoning parser sends content null and the thought as reasoning_content."""
    api.responder = lambda body, path: {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "reasoning_content": "hmm"},
                     "finish_reason": "length"}], "usage": {"prompt_tokens": 9, "completion_tokens": 20}}
    result = utils.complete(model(api), MESSAGES, 0.0, 20, sleep=Sleeps())
    assert not result.ok and len(api.requests) == 1
    assert "EmptyResponse: the reply has no text: it stopped at max_tokens" in result.error
    assert result.completion_tokens == 20


@pytest.mark.parametrize("api_type", ["openai", "mistral"])
def test_content_as_a_list_of_thinking_and_text_parts(api, api_type):
    """Mistral's reasoning models (Magistral; reasoning_effort) return content as a list of chunks."""
    if api_type in OPTIONAL_SDKS:
        require_sdk(api_type)
    content = [{"type": "thinking", "thinking": [{"type": "text", "text": "Let me see. "},
                                                 {"type": "text", "text": "Two."}]},
               {"type": "text", "text": "The answer "}, {"type": "reference", "reference_ids": [1]},
               {"type": "text", "text": "is 2."}]
    reply = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}}
    api.responder = lambda body, path: reply
    result = utils.complete(model(api, api_type), MESSAGES, 0.0, 50, sleep=Sleeps())
    assert (result.text, result.thought, result.completion_tokens) == ("The answer is 2.", "Let me see. Two.", 12)
    reply["choices"][0]["message"]["content"] = content[:1]  # thinking only: no answer
    result = utils.complete(model(api, api_type), MESSAGES, 0.0, 50, sleep=Sleeps())
    assert not result.ok and "EmptyResponse: the reply has no text" in result.error


@pytest.mark.parametrize("finish_reason, error", [
    ("abort", None),  # SGLang (and vLLM) when the engine aborts the request: HTTP 200, the text so far
    ("error", {"code": 502, "message": "provider disconnected"}),  # OpenRouter: an error mid-generation
])
def test_a_reply_the_server_broke_off_is_not_an_answer(api, finish_reason, error):
    """Its text is only what came before the break: asked again as an empty reply, and billed."""
    choice = {"index": 0, "message": {"role": "assistant", "content": "The answer is"},
              "finish_reason": finish_reason, **({"error": error} if error else {})}
    api.responder = lambda body, path: {"choices": [choice], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}
    result = utils.complete(model(api), MESSAGES, 0.0, 20, sleep=Sleeps())
    assert not result.ok and len(api.requests) == 1 + utils.MAX_EMPTY_RETRIES
    assert f"EmptyResponse: the server broke off the reply (finish_reason {finish_reason}" in result.error
    assert error is None or "provider disconnected" in result.error
    assert (result.prompt_tokens, result.completion_tokens) == (27, 9)
    api.responder = lambda body, path: {"choices": [{**choice, "finish_reason": "stop"}]}
    assert utils.complete(model(api), MESSAGES, 0.0, 20).text == "The answer is"


def test_a_200_error_body_says_the_servers_message(api):
    """Some proxies answer 200 with an error body: the failure says the server's message."""
    api.responder = lambda body, path: {"error": {"message": "upstream model overloaded", "code": 503}}
    result = utils.complete(model(api), MESSAGES, 0.0, 20, sleep=Sleeps())
    assert not result.ok and len(api.requests) == 1 + utils.MAX_EMPTY_RETRIES
    assert "EmptyResponse: response has no choices: upstream model overloaded" in result.error


# ---- the providers with an optional SDK, each through its real SDK to its fake HTTP API ----


@pytest.mark.parametrize("api_type", sorted(OPTIONAL_SDKS))
def test_optional_provider_reply_text_usage_and_request(api, api_type):
    require_sdk(api_type)
    result = utils.complete(model(api, api_type), MESSAGES, temperature=0.3, max_tokens=50)
    assert result.ok, result.error
    assert result.text == "Echo: Hello there"
    # the fake's counts: the [system, user] prompt in ChatML and the reply, in cl100k tokens
    assert (result.prompt_tokens, result.completion_tokens) == (18, 4)
    [request] = api.requests
    body, headers = request["body"], request["headers"]
    if api_type == "gemini":
        assert request["path"].endswith("/models/api-model:generateContent")
        assert headers["x-goog-api-key"] == "sk-test-key"
        assert body["contents"] == [{"role": "user", "parts": [{"text": "Hello there"}]}]
        assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
        assert body["generationConfig"] == {"temperature": 0.3, "maxOutputTokens": 50}
    else:
        assert request["path"] == {"mistral": "/v1/chat/completions", "cohere": "/v2/chat"}[api_type]
        assert headers["authorization"] == "Bearer sk-test-key"
        assert body["model"] == "api-model" and body["messages"] == MESSAGES
        assert body["temperature"] == 0.3 and body["max_tokens"] == 50


def test_gemini_conversation_roles(api):
    require_sdk("gemini")
    messages = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
                {"role": "user", "content": "three"}]
    result = utils.complete(model(api, "gemini"), messages, 0.0, 20)
    assert result.ok and result.text == "Echo: three"
    [request] = api.requests
    assert [(c["role"], c["parts"]) for c in request["body"]["contents"]] == [
        ("user", [{"text": "one"}]), ("model", [{"text": "two"}]), ("user", [{"text": "three"}])]
    assert "systemInstruction" not in request["body"]


@pytest.mark.parametrize("fault", ["429", "malformed"])
@pytest.mark.parametrize("api_type", sorted(OPTIONAL_SDKS))
def test_optional_provider_transient_faults_are_retried(api, api_type, fault):
    require_sdk(api_type)
    api.fail_next(fault)
    sleeps = Sleeps()
    result = utils.complete(model(api, api_type), MESSAGES, 0.0, 20, sleep=sleeps)
    assert result.ok, result.error
    assert result.attempts == 2 and len(api.requests) == 2  # retried here, not inside the SDK
    assert len(sleeps.waits) == 1


@pytest.mark.parametrize("api_type", sorted(OPTIONAL_SDKS))
def test_optional_provider_400_fails_at_once(api, api_type, caplog):
    require_sdk(api_type)
    api.fail_next("400", times=5)
    sleeps = Sleeps()
    result = utils.complete(model(api, api_type), MESSAGES, 0.0, 20, sleep=sleeps)
    assert not result.ok and "HTTP 400" in result.error
    assert len(api.requests) == 1 and sleeps.waits == []
    assert "sk-test-key" not in result.error and "sk-test-key" not in caplog.text


# --- the steps of a piece of work, driven by direct calls ----------------------------------


def _echo_steps(log_: list, texts: list[str], fail_at: str | None = None):
    """Steps that send each text in turn and return the replies (a failure returns it)."""
    got = []
    for text in texts:
        [reply] = yield [utils.Request([{"role": "user", "content": text}], 0.0, 5)]
        if not reply.ok:
            return reply
        got.append(reply.text)
    return got


def _fake_complete(sent: list, fail: set):
    def fake(model, messages, temperature, max_tokens, endpoint=None):
        text = messages[-1]["content"]
        sent.append(text)
        return utils.Completion(None, "boom") if text in fail else utils.Completion(text.upper())
    return fake


def test_run_steps_sends_in_order_and_returns_the_result(monkeypatch):
    sent: list = []
    monkeypatch.setattr(utils, "complete", _fake_complete(sent, set()))
    assert utils.run_steps(_echo_steps([], ["a", "b"]), model=None) == ["A", "B"]
    assert sent == ["a", "b"]


def test_together_interleaves_rounds_and_collects_results(monkeypatch):
    sent: list = []
    monkeypatch.setattr(utils, "complete", _fake_complete(sent, set()))
    steps = utils.together([_echo_steps([], ["a1", "a2"]), _echo_steps([], ["b1"]), _echo_steps([], [])])
    assert utils.run_steps(steps, model=None) == [["A1", "A2"], ["B1"], []]
    assert sent == ["a1", "b1", "a2"]  # one round per step, every part's request in it


def test_a_failure_stops_the_rest_of_the_work(monkeypatch):
    sent: list = []
    monkeypatch.setattr(utils, "complete", _fake_complete(sent, {"a1"}))
    steps = utils.together([_echo_steps([], ["a1", "a2"]), _echo_steps([], ["b1", "b2"])],
                           failed=lambda result: isinstance(result, utils.Completion))
    results = utils.run_steps(steps, model=None)
    assert isinstance(results[0], utils.Completion) and results[0].error == "boom"
    assert results[1].error == utils.NOT_SENT
    assert sent == ["a1"]  # b1 not sent after a1 failed in the same round, and no second round
