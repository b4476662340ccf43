"""Tests of credential redaction: keys echoed by a server never reach a log, an error or a file.

Usage: python -m pytest tests/test_secrets.py

The fake server's "echo_auth" fault answers 401 with the request's credential headers in the
message, as some proxies do; the real openai / anthropic SDKs send the keys.
"""
from __future__ import annotations

import base64
import html
import json
import logging
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

import utils
from fake_api import FakeAPI, Reasoned, ServerAnswer
from test_gen_answer import FAST_RETRY, REPO, Project, question
from test_utils_complete import OPTIONAL_SDKS, require_sdk


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def api():
    with FakeAPI() as server:
        yield server


pytestmark = pytest.mark.usefixtures("fresh_clients")  # `endpoints: null` clients read this test's environment


def entry(api_type: str, endpoints: list[dict] | None) -> dict:
    return {"model_name": "served-model", "api_type": api_type, "parallel": 1, "max_retries": 0,
            "endpoints": endpoints, **FAST_RETRY}


# Each case: (api_config entry, environment, secrets that must never show), built from the server.
def env_openai(api: FakeAPI):
    return (entry("openai", None), {"OPENAI_API_KEY": "env-openai-KEY-7f3a9c", "OPENAI_BASE_URL": api.openai_base},
            ["env-openai-KEY-7f3a9c"])


def env_anthropic(api: FakeAPI):
    return (entry("anthropic", None),
            {"ANTHROPIC_API_KEY": "env-anthropic-KEY-51be", "ANTHROPIC_BASE_URL": api.anthropic_base},
            ["env-anthropic-KEY-51be"])


def config_key(api: FakeAPI):
    return entry("openai", [{"api_base": api.openai_base, "api_key": "config-KEY-0e44d1"}]), {}, ["config-KEY-0e44d1"]


def env_reference(api: FakeAPI):
    return (entry("anthropic", [{"api_base": api.anthropic_base, "api_key": "${MY_PROXY_CRED}"}]),
            {"MY_PROXY_CRED": "referenced-KEY-c0ffee"}, ["referenced-KEY-c0ffee"])


def userinfo(api: FakeAPI):
    base = api.openai_base.replace("http://", "http://alice:pa%24s-WORD-42@")
    return (entry("openai", [{"api_base": base, "api_key": "test"}]), {},
            ["pa$s-WORD-42", "pa%24s-WORD-42", basic("alice", "pa$s-WORD-42")])


def query_key(api: FakeAPI):
    """A key in api_base's query, as Gemini's REST API takes it (?key=): its SDK sends the query."""
    return (entry("gemini", [{"api_base": api.gemini_base + "?key=query-KEY-5eed42", "api_key": "test"}]), {},
            ["query-KEY-5eed42"])


CASES = [env_openai, env_anthropic, config_key, env_reference, userinfo, query_key]


def assert_nowhere(secrets: list[str], *texts: str, root: Path) -> None:
    for secret in secrets:
        for text in texts:
            assert secret not in text
        for path in root.rglob("*"):
            if path.is_file() and path.name != "api_config.yaml":
                assert secret.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_an_echoed_credential_is_redacted_everywhere(case, api, tmp_path, monkeypatch, caplog, capsys):
    model, environ, secrets = case(api)
    if model["api_type"] in OPTIONAL_SDKS:
        require_sdk(model["api_type"])
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    project = Project(tmp_path)
    project.write({"m": model}, [question("q1", "hello")])
    api.fail_next("echo_auth")
    with caplog.at_level(logging.DEBUG):
        assert project.run() == 1
    assert len(api.requests) == 1
    sent = " ".join([*api.requests[0]["headers"].values(), *api.requests[0]["query"].values()])
    assert any(s in sent for s in secrets)  # the SDK did send it, and the server echoed it back
    assert "invalid credentials: " in caplog.text and "***" in caplog.text
    out, err = capsys.readouterr()
    assert_nowhere(secrets, caplog.text, out, err, root=tmp_path)


def test_a_key_from_the_environment_never_reaches_stderr(api, tmp_path):
    """The real script with its real log handler, in its own process."""
    project = Project(tmp_path)
    project.write({"m": entry("openai", None)}, [question("q1", "hello")])
    api.fail_next("echo_auth")
    secret = "proc-env-KEY-93d1a0"
    env = {**os.environ, "OPENAI_API_KEY": secret, "OPENAI_BASE_URL": api.openai_base,
           "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    proc = subprocess.run([sys.executable, str(REPO / "gen_answer.py"), *project.argv()],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "authorization=Bearer ***" in proc.stderr
    assert secret not in proc.stderr + proc.stdout


def test_redact_knows_every_form_of_a_registered_credential(monkeypatch):
    for name, empty in (("_secrets", set()), ("_secret_pattern", None), ("_sent_secrets", set()),
                        ("_sent_secret_pattern", None)):
        monkeypatch.setattr(utils, name, empty)
    utils.register_endpoint_secrets(utils.Endpoint("https://bob:h%2Fnter2-x@proxy.example/v1", "cfg-KEY-1234"))
    utils.register_env_secrets({"GEMINI_API_KEY": "gem-KEY-5678", "CORP_GATEWAY_TOKEN": "tok-ABCDEF",
                                "HTTPS_PROXY": "http://carol:prox-PASS@10.0.0.1:3128",
                                "HOME": "/home/someone-long", "SHORT_KEY": "abc"})
    text = ("cfg-KEY-1234 h/nter2-x h%2Fnter2-x " + basic("bob", "h/nter2-x") + " gem-KEY-5678 tok-ABCDEF "
            "prox-PASS " + basic("carol", "prox-PASS") + " sk-unregistered0123456")
    assert utils.redact(text) == " ".join(["***"] * 8) + " sk-***"
    # not credentials: an ordinary variable, a value too short to mean anything
    assert utils.redact("/home/someone-long abc") == "/home/someone-long abc"
    # a reply hides what model servers are sent (the endpoint's, an SDK's variable), nothing else
    assert utils.redact_reply(text) == ("*** *** *** *** *** tok-ABCDEF prox-PASS " + basic("carol", "prox-PASS")
                                        + " sk-unregistered0123456")


def test_every_log_record_and_completion_error_is_redacted(monkeypatch, caplog):
    monkeypatch.setattr(logging, "_logRecordFactory", logging.getLogRecordFactory())  # restored after
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setenv("COHERE_API_KEY", "cohere-KEY-24680")
    utils.install_redaction()
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").warning("server said %s", "bad key cohere-KEY-24680")
        try:
            raise RuntimeError("echo cohere-KEY-24680")
        except RuntimeError:
            logging.getLogger("arena_hard").exception("failed")
    assert "server said bad key ***" in caplog.text and "RuntimeError: echo ***" in caplog.text
    assert "cohere-KEY-24680" not in caplog.text
    assert utils.Completion(None, "401: cohere-KEY-24680").error == "401: ***"


def test_a_credential_echoed_in_a_reply_is_never_stored(api, tmp_path, monkeypatch):
    """A server that echoes the key it was sent in its reply's text and thought: the answer file
    (read by the judge, shown by qa_browser) holds *** instead. Text that only looks like a key, or
    that is some other variable's value (redacted from messages), is the answer's own."""
    key = "reply-KEY-8d2f17"
    monkeypatch.setenv("POSTGRES_PASSWORD", "postgres")
    api.responder = lambda body, path: Reasoned(f"Your key is {key}; set sk-your-key-here123 for postgres.",
                                                f"it sent {key}")
    project = Project(tmp_path)
    model = entry("openai", [{"api_base": api.openai_base, "api_key": key}])
    project.write({"m": model}, [question("q1", "hello")])
    assert project.run() == 0
    [record] = project.answers("m")
    assert record["choices"][0]["turns"][0]["content"] == "Your key is ***; set sk-your-key-here123 for postgres."
    assert_nowhere([key], root=tmp_path)
    reply = utils.complete(utils.parse_model_config("m", model, "api"), [{"role": "user", "content": "hi"}], None, None)
    assert reply.thought == "it sent ***"


ODD_PASSWORD = 'p&s"s\\w<rd>-77'  # a proxy password that HTML, JSON and Python's repr each write otherwise


@pytest.mark.parametrize("body, content_type", [
    (f"<html><head><title>Denied</title></head><body>bad password {html.escape(ODD_PASSWORD)}</body></html>",
     "text/html"),  # the anthropic SDK gives a text body as its message
    (json.dumps({"type": "error", "error": {"type": "authentication_error", "message": f"bad: {ODD_PASSWORD}"}}),
     "application/json"),  # ... and a JSON one as its Python repr, backslash doubled
], ids=["html-page", "json-repr"])
def test_a_credential_echoed_in_an_escaped_form_is_redacted(api, tmp_path, caplog, body, content_type):
    base = api.anthropic_base.replace("http://", f"http://alice:{urllib.parse.quote(ODD_PASSWORD, safe='')}@")
    project = Project(tmp_path)
    project.write({"m": entry("anthropic", [{"api_base": base, "api_key": "test"}])}, [question("q1", "hello")])
    api.responder = lambda request, path: ServerAnswer(401, body, content_type)
    assert project.run() == 1
    assert "AuthenticationError (HTTP 401)" in caplog.text
    forms = [ODD_PASSWORD, html.escape(ODD_PASSWORD), json.dumps(ODD_PASSWORD)[1:-1], repr(ODD_PASSWORD)[1:-1]]
    assert_nowhere(forms, caplog.text, root=tmp_path)


def test_a_credential_echoed_in_an_html_page_of_a_batch_error_is_redacted(api, tmp_path, caplog):
    """A direct call's HTML error page shows as its title, unescaped; a batch's error text is shown
    as the server wrote it, HTML escapes and all."""
    base = api.openai_base.replace("http://", f"http://alice:{urllib.parse.quote(ODD_PASSWORD, safe='')}@")
    api.openai_batches.fail_with = f"<html><body>bad password {html.escape(ODD_PASSWORD)}</body></html>"
    project = Project(tmp_path)
    project.write({"m": entry("openai", [{"api_base": base, "api_key": "test"}])}, [question("q1", "hello")])
    assert project.run("--batch", "--poll-interval", "0.001") == 1
    assert "bad password ***" in caplog.text
    assert_nowhere([ODD_PASSWORD, html.escape(ODD_PASSWORD)], caplog.text, root=tmp_path)


@pytest.mark.parametrize("api_type", ["openai", "anthropic"])
def test_a_credential_in_a_long_batch_error_is_redacted_before_it_is_cut(api, tmp_path, caplog, api_type):
    """A batch's error message is cut to 300 characters: a key echoed across the cut (after a long
    message, or a long token such as a JWT) showed its first characters."""
    if api_type == "openai":
        key = "batch-KEY-0123456789abcdef"
        api.openai_batches.fail_with = "invalid credentials: " + "." * 250 + key
        base = api.openai_base
    else:
        key = "jwt-KEY-" + "0123456789abcdef" * 25  # echoed after "invalid credentials: authorization=Bearer "
        api.fail_next("echo_auth")
        base = api.anthropic_base
    project = Project(tmp_path)
    project.write({"m": entry(api_type, [{"api_base": base, "api_key": key}])}, [question("q1", "hello")])
    assert project.run("--batch", "--poll-interval", "0.001") == 1
    assert "invalid credentials: " in caplog.text
    assert_nowhere([key[:10]], caplog.text, root=tmp_path)
