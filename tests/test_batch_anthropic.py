"""Tests of Anthropic's Message Batches: the fake server's endpoints, and utils.AnthropicBatches
through the real anthropic SDK over HTTP to them.

Usage: python -m pytest tests/test_batch_anthropic.py
"""
from __future__ import annotations

import http.client
import json

import anthropic
import pytest

from fake_api import FakeAPI

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
