"""Tests of Anthropic's Message Batches: the fake server's endpoints, and utils.AnthropicBatches
through the real anthropic SDK over HTTP to them.

Usage: python -m pytest tests/test_batch_anthropic.py
"""
from __future__ import annotations

import contextlib
import datetime
import http.client
import json
from types import SimpleNamespace

import anthropic
import pytest

import utils
from fake_api import FakeAPI, Reasoned
from test_batch import submit

KEY = "anthropic-test-secret-4f2a9c"  # not sk- shaped: only its registration can redact it


def anthropic_client(api: FakeAPI) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=api.anthropic_base, api_key=KEY, max_retries=0, timeout=5.0)


def message_params(i: int) -> dict:
    return {"model": "claude-test", "max_tokens": 50, "system": "Be brief.",
            "messages": [{"role": "user", "content": f"question {i}"}]}


def batch_requests(count: int) -> list[dict]:
    return [{"custom_id": f"r{i}", "params": message_params(i)} for i in range(count)]


# ---- the fake's endpoints ------------------------------------------------------------------


def test_fake_batch_stays_in_progress_then_ends_with_the_direct_replies(api: FakeAPI) -> None:
    api.message_batches.polls_in_progress = 2
    with anthropic_client(api) as client:
        direct = [client.messages.create(**message_params(i)) for i in range(3)]
        batch = client.messages.batches.create(requests=batch_requests(3))
        assert (batch.processing_status, batch.results_url, batch.request_counts.processing) == ("in_progress", None, 3)
        polls = [client.messages.batches.retrieve(batch.id) for _ in range(3)]
        lines = list(client.messages.batches.results(batch.id))
    assert [poll.processing_status for poll in polls] == ["in_progress", "in_progress", "ended"]
    ended = polls[-1]
    assert ended.results_url == f"{api.url}/v1/messages/batches/{batch.id}/results"
    assert ended.request_counts.succeeded == 3 and ended.request_counts.processing == 0
    assert ended.ended_at is not None and ended.expires_at > ended.created_at
    assert [line.custom_id for line in lines] == ["r2", "r1", "r0"]  # the API keeps no order
    for line in lines:
        assert line.result.type == "succeeded"
        i = int(line.custom_id[1:])
        assert line.result.message.model_dump(exclude={"id"}) == direct[i].model_dump(exclude={"id"})
    assert api.message_batches.submitted == batch_requests(3)


def test_fake_batch_request_outcomes_and_faults(api: FakeAPI) -> None:
    outcomes = {"r0": "expired", "r1": "canceled", "r2": "529", "r3": "echo_auth", "r4": "empty_choices"}
    api.message_batches.outcome = lambda custom_id, params: outcomes.get(custom_id)
    api.fault_script = lambda body, path: "429" if body["messages"][0]["content"] == "question 5" else None
    with anthropic_client(api) as client:
        batch = client.messages.batches.create(requests=batch_requests(7))
        counts = client.messages.batches.retrieve(batch.id).request_counts
        results = {line.custom_id: line.result for line in client.messages.batches.results(batch.id)}
    assert (counts.expired, counts.canceled, counts.errored, counts.succeeded) == (1, 1, 3, 2)
    assert results["r0"].type == "expired" and results["r1"].type == "canceled"
    assert (results["r2"].error.error.type, results["r2"].error.error.message) == ("overloaded_error",
                                                                                    "injected fault 529")
    assert results["r3"].error.error.message == f"invalid credentials: authorization=Bearer {KEY}"
    assert results["r4"].message.content == []
    assert results["r5"].error.error.type == "rate_limit_error"
    assert results["r6"].message.content[0].text == "Echo: question 6"
    assert api.faults_served == {"529": 1, "echo_auth": 1, "empty_choices": 1, "429": 1}


def test_fake_batch_cancel(api: FakeAPI) -> None:
    api.message_batches.polls_in_progress = 1
    with anthropic_client(api) as client:
        batch = client.messages.batches.create(requests=batch_requests(2))
        cancelling = client.messages.batches.cancel(batch.id)
        polls = [client.messages.batches.retrieve(batch.id) for _ in range(2)]
        results = [line.result.type for line in client.messages.batches.results(batch.id)]
    assert cancelling.processing_status == "canceling" and cancelling.cancel_initiated_at is not None
    assert [poll.processing_status for poll in polls] == ["canceling", "ended"]
    assert polls[-1].request_counts.canceled == 2 and results == ["canceled", "canceled"]


@pytest.mark.parametrize("requests, limits, status", [
    ([{"custom_id": "a b", "params": message_params(0)}], {}, 400),
    ([{"custom_id": "x" * 65, "params": message_params(0)}], {}, 400),
    ([{"custom_id": "same", "params": message_params(0)}, {"custom_id": "same", "params": message_params(1)}], {}, 400),
    ([{"custom_id": "a", "params": "not an object"}], {}, 400),
    ([], {}, 400),
    (batch_requests(3), {"max_requests": 2}, 400),
    (batch_requests(3), {"max_bytes": 200}, 413),
])
def test_fake_batch_create_refuses_what_the_api_refuses(api: FakeAPI, requests: list, limits: dict,
                                                         status: int) -> None:
    for name, value in limits.items():
        setattr(api.message_batches, name, value)
    with anthropic_client(api) as client, pytest.raises(anthropic.APIStatusError) as refused:
        client.messages.batches.create(requests=requests)
    assert refused.value.status_code == status
    assert api.message_batches.batches == {} and api.message_batches.submitted == []


def test_fake_batch_unknown_or_unfinished(api: FakeAPI) -> None:
    with anthropic_client(api) as client:
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve("msgbatch_nothing")
        batch = client.messages.batches.create(requests=batch_requests(1))
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    try:
        connection.request("GET", f"/v1/messages/batches/{batch.id}/results")
        response = connection.getresponse()
        assert response.status == 404 and json.loads(response.read())["error"]["type"] == "not_found_error"
    finally:
        connection.close()


# ---- utils.AnthropicBatches ----------------------------------------------------------------

BATCHES = utils.AnthropicBatches()
REQUESTS = {  # custom_id: what a piece of work asks
    "q1-game1": utils.Request([{"role": "system", "content": "Judge fairly."},
                               {"role": "user", "content": "Which is better, A or B?"}], 0.0, 64),
    "q2-turn2": utils.Request([{"role": "user", "content": "Première question ✓"},
                               {"role": "assistant", "content": "Réponse"},
                               {"role": "user", "content": "and the second one"}], 0.7, 128),
    "q3_choice_0": utils.Request([{"role": "user", "content": "plain"}], None, 32),
}


def claude(api: FakeAPI, budget_tokens: int | None = None) -> utils.ModelConfig:
    return utils.ModelConfig(name="claude", model_name="claude-test", api_type="anthropic",
                             endpoints=(utils.Endpoint(api.anthropic_base, KEY),),
                             retry=utils.RetryPolicy(0, 0.01, 0.01), timeout=5.0, budget_tokens=budget_tokens)


def thinking_responder(body: dict, path: str) -> str | Reasoned:
    """A thinking model's reply (a thinking block, then the text) when the request asks for thinking."""
    last = body["messages"][-1]["content"]
    return Reasoned(f"Answer to {last}", f"Thinking about {last}") if "thinking" in body else f"Echo: {last}"


def run_batch(api: FakeAPI, model: utils.ModelConfig, requests: dict[str, utils.Request]) -> tuple[
        list[utils.BatchStatus], dict[str, utils.Completion]]:
    """Submit the requests as one batch, poll it until it is no longer running, collect its results."""
    client = utils.get_client("anthropic", model.endpoints[0], model.timeout)
    batch_id = submit(BATCHES, client, [BATCHES.entry(custom_id, model, request)
                                       for custom_id, request in requests.items()])
    statuses = [BATCHES.status(client, batch_id)]
    while statuses[-1].state == "running" and len(statuses) < 10:
        statuses.append(BATCHES.status(client, batch_id))
    return statuses, dict(BATCHES.results(client, batch_id, model))


def canonical(body: dict) -> bytes:
    """A body's JSON bytes, its keys in the order they were sent."""
    return json.dumps(body, ensure_ascii=False).encode()


@pytest.mark.parametrize("budget_tokens", [None, 2048], ids=["plain", "thinking"])
def test_batch_results_are_the_completions_of_direct_calls(api: FakeAPI, fresh_clients: dict,
                                                           budget_tokens: int | None) -> None:
    api.responder = thinking_responder
    api.message_batches.polls_in_progress = 2
    model = claude(api, budget_tokens)
    direct = {custom_id: utils.complete(model, request.messages, request.temperature, request.max_tokens)
              for custom_id, request in REQUESTS.items()}
    statuses, results = run_batch(api, model, REQUESTS)
    assert statuses == [utils.BatchStatus("running", 3, 0, 0, None)] * 2 + [utils.BatchStatus("ended", 3, 3, 0, None)]
    assert results == direct
    assert all(completion.ok and completion.prompt_tokens and completion.completion_tokens
               for completion in results.values())
    thoughts = {completion.thought for completion in results.values()}
    assert thoughts == ({None} if budget_tokens is None else {f"Thinking about {request.messages[-1]['content']}"
                                                               for request in REQUESTS.values()})


@pytest.mark.parametrize("budget_tokens", [None, 2048], ids=["plain", "thinking"])
def test_batch_params_are_the_direct_request_bodies(api: FakeAPI, fresh_clients: dict,
                                                    budget_tokens: int | None) -> None:
    model = claude(api, budget_tokens)
    for request in REQUESTS.values():
        utils.complete(model, request.messages, request.temperature, request.max_tokens)
    run_batch(api, model, REQUESTS)
    direct_bodies = [canonical(record["body"]) for record in api.requests if record["path"] == "/v1/messages"]
    batch_params = [canonical(entry["params"]) for entry in api.message_batches.submitted]
    assert [entry["custom_id"] for entry in api.message_batches.submitted] == list(REQUESTS)
    assert len(direct_bodies) == 3 and batch_params == direct_bodies
    assert all(("thinking" in json.loads(body)) == (budget_tokens is not None) for body in batch_params)


def test_errored_expired_cancelled_and_broken_requests_become_failed_completions(api: FakeAPI,
                                                                                 fresh_clients: dict) -> None:
    outcomes = {"expired": "expired", "cancelled": "canceled", "errored": "400", "overloaded": "529",
                "empty": "empty_choices", "malformed": "malformed"}
    api.message_batches.outcome = lambda custom_id, params: outcomes.get(custom_id)
    request = REQUESTS["q3_choice_0"]
    statuses, results = run_batch(api, claude(api), {custom_id: request for custom_id in [*outcomes, "fine"]})
    assert statuses[-1] == utils.BatchStatus("cancelled", 7, 3, 4, "1 of 7 requests cancelled")
    assert results["fine"].ok and results["fine"].text == "Echo: plain"
    assert results["expired"] == utils.Completion(None, utils.BATCH_REQUEST_EXPIRED)
    assert results["cancelled"] == utils.Completion(None, utils.BATCH_REQUEST_CANCELLED)
    assert results["errored"].error == "batch request errored: invalid_request_error: injected fault 400"
    assert results["overloaded"].error == "batch request errored: overloaded_error: injected fault 529"
    assert results["empty"].error == "batch result: EmptyResponse: response has no text content"
    assert not results["malformed"].ok and results["malformed"].text is None
    assert all(completion.text is None for name, completion in results.items() if name != "fine")


def test_expired_batch(api: FakeAPI, fresh_clients: dict) -> None:
    api.message_batches.outcome = lambda custom_id, params: "expired" if custom_id != "q1-game1" else None
    statuses, results = run_batch(api, claude(api), REQUESTS)
    assert statuses[-1] == utils.BatchStatus("expired", 3, 1, 2, "2 of 3 requests expired (the 24-hour window ended)")
    assert results["q1-game1"].ok
    assert results["q2-turn2"].error == results["q3_choice_0"].error == utils.BATCH_REQUEST_EXPIRED


def test_cancelled_batch(api: FakeAPI, fresh_clients: dict) -> None:
    api.message_batches.polls_in_progress = 1
    model = claude(api)
    client = utils.get_client("anthropic", model.endpoints[0], model.timeout)
    batch_id = submit(BATCHES, client, [BATCHES.entry(custom_id, model, request)
                                       for custom_id, request in REQUESTS.items()])
    client.messages.batches.cancel(batch_id)
    statuses = [BATCHES.status(client, batch_id) for _ in range(2)]
    assert statuses == [utils.BatchStatus("running", 3, 0, 0, "cancellation requested"),
                        utils.BatchStatus("cancelled", 3, 0, 3, "3 of 3 requests cancelled")]
    assert dict(BATCHES.results(client, batch_id, model)) == {
        custom_id: utils.Completion(None, utils.BATCH_REQUEST_CANCELLED) for custom_id in REQUESTS}


@pytest.mark.parametrize("custom_id", ["", "x" * 65, "q1 game1", "q1/game1", "q1.game1", "qé", "q1\n", 17, None])
def test_invalid_custom_id_refused(api: FakeAPI, custom_id: object) -> None:
    with pytest.raises(ValueError, match="custom_id"):
        BATCHES.entry(custom_id, claude(api), REQUESTS["q3_choice_0"])  # type: ignore[arg-type]


@pytest.mark.parametrize("custom_id", ["x" * 64, "a", "q1-game_2", "Q-9"])
def test_valid_custom_id_kept(api: FakeAPI, custom_id: str) -> None:
    request = REQUESTS["q1-game1"]
    assert BATCHES.entry(custom_id, claude(api), request) == {
        "custom_id": custom_id, "params": utils.anthropic_message_params(claude(api), request.messages, 64)}


def test_key_echoed_in_an_errored_request_is_redacted(api: FakeAPI, fresh_clients: dict) -> None:
    api.message_batches.outcome = lambda custom_id, params: "echo_auth"
    _, results = run_batch(api, claude(api), {"q1": REQUESTS["q1-game1"]})
    assert results["q1"].error == "batch request errored: authentication_error: invalid credentials: " \
                                  "authorization=Bearer ***"


def test_limits_are_the_providers_and_can_be_lowered(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (BATCHES.max_requests, BATCHES.max_bytes) == (100_000, 256_000_000)
    monkeypatch.setattr(utils.AnthropicBatches, "max_requests", 3)
    monkeypatch.setattr(utils.AnthropicBatches, "max_bytes", 1000)
    assert (BATCHES.max_requests, BATCHES.max_bytes) == (3, 1000)


def batch(status: str, archived_at: str | None = None, **counts: int) -> SimpleNamespace:
    """A MessageBatch's fields that the status reads."""
    names = ("processing", "succeeded", "errored", "canceled", "expired")
    return SimpleNamespace(processing_status=status, archived_at=archived_at,
                           request_counts=SimpleNamespace(**{name: counts.get(name, 0) for name in names}))


@pytest.mark.parametrize("message_batch, expected", [
    (batch("in_progress", processing=5), utils.BatchStatus("running", 5, 0, 0, None)),
    (batch("canceling", processing=5), utils.BatchStatus("running", 5, 0, 0, "cancellation requested")),
    (batch("ended", succeeded=4, errored=1), utils.BatchStatus("ended", 5, 4, 1, None)),
    (batch("ended", succeeded=3, expired=2), utils.BatchStatus("expired", 5, 3, 2,
                                                               "2 of 5 requests expired (the 24-hour window ended)")),
    (batch("ended", succeeded=1, canceled=2, expired=1, errored=1),
     utils.BatchStatus("cancelled", 5, 1, 4, "2 of 5 requests cancelled")),
    (batch("ended", succeeded=5, canceled=0), utils.BatchStatus("ended", 5, 5, 0, None)),
    (batch("ended", "2024-09-24T18:37:24Z", succeeded=5),
     utils.BatchStatus("failed", 5, 5, 0, "archived at 2024-09-24T18:37:24Z: its results are no longer available")),
    (batch("paused", processing=2), utils.BatchStatus("running", 2, 0, 0, "unknown processing_status 'paused'")),
    (SimpleNamespace(processing_status="ended", request_counts=None), utils.BatchStatus("ended", 0, 0, 0, None)),
])
def test_anthropic_batch_status(message_batch: SimpleNamespace, expected: utils.BatchStatus) -> None:
    assert utils.anthropic_batch_status(message_batch) == expected


def test_the_lookup_reads_on_past_batches_without_a_creation_time() -> None:
    """A batch listed without created_at is read past (never taken for one older than the newest
    before the create); the lookup stops at the first older one."""
    listing = []
    older = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    for batch_id, created_at, requests in (("b4", None, 3), ("b3", None, 2), ("b2", older, 3)):
        listing.append(batch("in_progress", processing=requests))
        listing[-1].id, listing[-1].created_at = batch_id, created_at
    client = SimpleNamespace(messages=SimpleNamespace(batches=SimpleNamespace(list=lambda limit: iter(listing))))
    pending = {"after_batch": "b1", "after_created_at": "2024-06-01T00:00:00+00:00", "requests": 3}
    assert BATCHES.made(client, pending) == ["b4"]


@pytest.mark.parametrize("result, error", [
    (None, "batch result of unknown type None"),
    (SimpleNamespace(type="paused"), "batch result of unknown type 'paused'"),
    (SimpleNamespace(type="succeeded", message=None), "batch result: EmptyResponse: response has no text content"),
    (SimpleNamespace(type="succeeded", message=SimpleNamespace(content=5)), "batch result: TypeError: "
                                                                            "'int' object is not iterable"),
    (SimpleNamespace(type="errored", error="garbled"), "batch request errored: unknown error"),
    (SimpleNamespace(type="errored", error=SimpleNamespace(error=SimpleNamespace(type="api_error", message=None))),
     "batch request errored: api_error"),
    (SimpleNamespace(type="errored", error=SimpleNamespace(error=SimpleNamespace(
        type="api_error", message="first line\nsecond line " + KEY))), "batch request errored: api_error: first line"),
])
def test_anthropic_batch_completion_of_broken_results(result: object, error: str) -> None:
    model = utils.ModelConfig(name="claude", model_name="claude-test", api_type="anthropic")
    assert utils.anthropic_batch_completion(model, result) == utils.Completion(None, error)


# ---- gen_judgment.py --batch with an Anthropic judge -----------------------------------------


def test_judgment_batch_with_an_anthropic_judge_equals_direct_and_resumes(tmp_path, monkeypatch) -> None:
    """Records and request bodies of a --batch run through Message Batches equal a direct run's,
    follow-ups included; a run stopped while waiting is resumed without a new batch."""
    from test_batch import FAST, by_question, follow_up_responder, state_files
    from test_gen_judgment import Setup, simple_bench

    runs = {}
    for mode in ("direct", "batch"):
        with FakeAPI(responder=follow_up_responder) as api:
            simple_bench(tmp_path / mode / "data", 3)
            setup = Setup(tmp_path / mode, api, api_type="anthropic")
            if mode == "batch":  # the first run stops (Ctrl-C) while waiting on the first batch
                api.message_batches.polls_in_progress = 10**9
                status = utils.AnthropicBatches.status
                polls = []

                def interrupted_status(self, client, batch_id):
                    polls.append(batch_id)
                    if len(polls) == 3:
                        raise KeyboardInterrupt
                    return status(self, client, batch_id)

                monkeypatch.setattr(utils.AnthropicBatches, "status", interrupted_status)
                assert setup.run(*FAST) == 130
                monkeypatch.setattr(utils.AnthropicBatches, "status", status)
                assert setup.records() == [] and len(state_files(tmp_path / mode)) == 1
                assert len(api.message_batches.submitted) == 6
                api.message_batches.polls_in_progress = 0
                assert setup.run(*FAST) == 0
            else:
                assert setup.run("--no-progress") == 0
            runs[mode] = (setup, [json.dumps(r["body"], ensure_ascii=False) for r in api.requests
                                  if r["path"] == "/v1/messages"],
                          [json.dumps(e["params"], ensure_ascii=False) for e in api.message_batches.submitted])
    (direct, direct_bodies, _), (batch, batch_bodies, batch_params) = runs["direct"], runs["batch"]
    assert by_question(batch.records()) == by_question(direct.records()) and len(direct.records()) == 3
    assert batch_bodies == []  # nothing went to /v1/messages directly
    assert sorted(batch_params) == sorted(direct_bodies)  # 6 games + 2 follow-ups, none paid twice
    assert len(batch_params) == 8
    assert state_files(tmp_path / "batch") == []


def test_malformed_and_unnamed_result_lines_leave_every_other_result(api: FakeAPI, fresh_clients: dict,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A garbled line, a blank one and one naming no request are counted and skipped; a named line of
    the wrong shape is that request's failure; the other results are read (the SDK's own decoder stops
    at the first bad line)."""
    api.message_batches.extra_result_lines = lambda custom_ids: [b"{garbled", b"", b'{"result": {"type": "succeeded"}}',
                                                                 b'{"custom_id": "stranger", "result": 5}']
    _, results = run_batch(api, claude(api), REQUESTS)
    assert {custom_id: completion.ok for custom_id, completion in results.items()} == {
        **dict.fromkeys(REQUESTS, True), "stranger": False}
    assert results["stranger"].error == "batch result of unknown type None"
    (batch_id,) = api.message_batches.batches
    assert f"batch {batch_id}: 2 lines of its results name no request: ignored" in caplog.text


def test_a_batch_whose_create_reply_is_lost_is_found_not_made_twice(api: FakeAPI, fresh_clients: dict) -> None:
    model = claude(api)
    client = utils.get_client("anthropic", model.endpoints[0], model.timeout)
    earlier = submit(BATCHES, client, [BATCHES.entry("old", model, REQUESTS["q1-game1"])])
    api.message_batches.lost_create_replies = 1
    batch_id = submit(BATCHES, client, [BATCHES.entry(custom_id, model, request) for custom_id, request in REQUESTS.items()])
    assert list(api.message_batches.batches) == [earlier, batch_id]
    assert [entry["custom_id"] for entry in api.message_batches.batches[batch_id]["requests"]] == list(REQUESTS)


def test_the_lookup_of_a_batch_reads_page_after_page_back_to_the_newest_batch_before(
        api: FakeAPI, fresh_clients: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch looked for is on the third page of one; the batch of as many requests made before it
    (the newest when it was prepared) is not taken for it."""
    model = claude(api)
    client = utils.get_client("anthropic", model.endpoints[0], model.timeout)
    batch_entries = [BATCHES.entry(custom_id, model, request) for custom_id, request in REQUESTS.items()]
    before = submit(BATCHES, client, batch_entries)
    pending = BATCHES.prepare(client, batch_entries)
    mine = client.messages.batches.create(requests=batch_entries).id
    for _ in range(2):
        submit(BATCHES, client, batch_entries[:1])
    monkeypatch.setattr(utils, "BATCH_LIST_PAGE", 1)
    assert pending["after_batch"] == before and BATCHES.made(client, pending) == [mine]


def test_a_lost_create_reply_with_another_batch_of_the_same_size_made_meanwhile_is_not_retried(
        api: FakeAPI, fresh_clients: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another run made a batch of as many requests while this one's create reply was lost: which
    batch is this run's cannot be told, so the create is not retried (BatchUncertain names both)."""
    model = claude(api)
    client = utils.get_client("anthropic", model.endpoints[0], model.timeout)
    create = anthropic.resources.messages.batches.Batches.create

    def create_after_another_run(self, **kwargs):
        with anthropic_client(api) as other, contextlib.suppress(anthropic.InternalServerError):
            create(other.messages.batches, requests=batch_requests(len(kwargs["requests"])))
        return create(self, **kwargs)

    monkeypatch.setattr(anthropic.resources.messages.batches.Batches, "create", create_after_another_run)
    api.message_batches.lost_create_replies = 2  # the other run's reply is lost too: it does not matter
    with pytest.raises(utils.BatchUncertain, match="msgbatch_fake_2, msgbatch_fake_1") as uncertain:
        submit(BATCHES, client, [BATCHES.entry(custom_id, model, request) for custom_id, request in REQUESTS.items()])
    assert not utils.is_retryable(uncertain.value) and len(api.message_batches.batches) == 2


def test_judgment_batch_with_an_anthropic_judge_whose_create_reply_is_lost_pays_once(tmp_path) -> None:
    from test_batch import FAST
    from test_gen_judgment import Setup, simple_bench, verdict_responder

    with FakeAPI(responder=verdict_responder()) as api:
        simple_bench(tmp_path / "data", 2)
        setup = Setup(tmp_path, api, api_type="anthropic")
        api.message_batches.lost_create_replies = 1
        assert setup.run(*FAST) == 0
        assert len(api.message_batches.batches) == 1 and len(api.message_batches.submitted) == 4
        assert len(setup.records()) == 2


def test_after_a_create_whose_outcome_is_unknown_the_run_makes_no_other_batch(tmp_path, monkeypatch) -> None:
    """The first batch's create reply is lost and the listing that would find it fails: it stays
    pending, and the run submits no other batch (m2's, of as many requests, would be a second match
    for the lookup, which could then not tell). The rerun finds the first batch and submits m2's."""
    from test_batch import FAST, state_files
    from test_gen_judgment import Setup, simple_bench, verdict_responder

    made = utils.AnthropicBatches.made
    lookups = []

    def listing_fails_once(self, client, pending):
        lookups.append(pending)
        if len(lookups) == 1:
            raise RuntimeError("the listing is down")
        return made(self, client, pending)

    monkeypatch.setattr(utils.AnthropicBatches, "made", listing_fails_once)
    with FakeAPI(responder=verdict_responder()) as api:
        simple_bench(tmp_path / "data", 2, models=("m1", "m2"))
        setup = Setup(tmp_path, api, api_type="anthropic", model_list=["m1", "m2"])
        api.message_batches.lost_create_replies = 1
        assert setup.run(*FAST) == 1
        (first,) = api.message_batches.batches
        assert setup.records("m1") == setup.records("m2") == []
        (state,) = state_files(tmp_path)
        assert state == utils.batch_state_file(setup.judgment_file("m1"))
        assert "pending" in json.loads(state.read_text())["batches"][0]

        assert setup.run(*FAST) == 0
        assert list(api.message_batches.batches)[0] == first and len(api.message_batches.batches) == 2
        assert len(api.message_batches.submitted) == 8
        assert len(setup.records("m1")) == len(setup.records("m2")) == 2 and state_files(tmp_path) == []
