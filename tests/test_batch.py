"""Tests of --batch: utils.run_batches and OpenAIBatches through the real openai SDK over HTTP to the
fake server's Files and Batches endpoints (tests/fake_api.py, OpenAIBatchAPI), and both scripts.

Usage: python -m pytest tests/test_batch.py

The same data is run directly and with --batch, each against a fresh fake server, and the records
and request bodies compared; the kill test runs gen_judgment.py as a subprocess.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import gen_answer
import utils
from conftest import disk_full_after
from fake_api import FakeAPI, Reasoned, message_text
from gen_judgment import CONTINUE_PROMPT
from test_gen_answer import Project, openai_entry, question
from test_gen_judgment import Setup, make_bench, simple_bench, verdict_responder
import test_gen_judgment_v2 as v2

REPO = Path(__file__).resolve().parents[1]
FAST = ("--batch", "--poll-interval", "0.001", "--no-progress")
CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

FAKE_API_OPTIONS = {"responder": verdict_responder()}  # for the `api` fixture (conftest.py)


def batch_lines(api: FakeAPI) -> list[dict]:
    """Every request line of every file uploaded to the fake server, in order."""
    return [json.loads(line) for upload in api.openai_batches.uploads for line in upload.splitlines()]


def line_bodies(api: FakeAPI) -> list[bytes]:
    """The bytes of the body of every request line uploaded, sorted (requests arrive in any order)."""
    found = []
    for line in b"".join(api.openai_batches.uploads).splitlines():
        start = line.index(b',"body":') + len(b',"body":')  # the line's last key
        assert line.endswith(b"}")
        found.append(line[start:-1])
    return sorted(found)


def direct_bodies(api: FakeAPI) -> list[bytes]:
    """The bytes of the body of every direct request, sorted."""
    return sorted(request["raw"] for request in api.requests)


def created(api: FakeAPI) -> list[str]:
    return [event[1] for event in api.openai_batches.events if event[0] == "create"]


def state_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*" + utils.BATCH_STATE_SUFFIX))


def by_question(records: list[dict]) -> list[dict]:
    """Judgment records in question order (a batch run stores them as their last round ends)."""
    return sorted(records, key=lambda record: record["question_id"])


def without_random(record: dict) -> dict:
    """An answer record without what is random by design (its id and time)."""
    return {key: value for key, value in record.items() if key not in ("answer_id", "ans_id", "tstamp")}


# --------------------------------------------------------------------------------------------
# Pure parts: custom ids, splitting, reading an output line
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["q001_m1", "问题/模型 with spaces & dots.v2", "x" * 300, "", "-_-", "a\ud800b"])
def test_custom_id_fits_both_providers_and_names_the_request(label):
    entry = b'{"body": {"messages": [{"role": "user", "content": "hi"}]}}'
    cid = utils.custom_id(label, 2, 1, entry)
    assert CUSTOM_ID.fullmatch(cid)
    assert cid == utils.custom_id(label, 2, 1, entry)  # a rerun names the request the same
    assert cid.split("-")[-3:-1] == ["2", "1"]  # its round and place
    others = {utils.custom_id(label, 3, 1, entry), utils.custom_id(label, 2, 0, entry),
              utils.custom_id(label, 2, 1, entry.replace(b"hi", b"ho")), utils.custom_id(label + "!", 2, 1, entry)}
    assert cid not in others and len(others) == 4  # another round, place, request or label: another id
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", label)
    assert cid.startswith(safe[:20])


@pytest.mark.parametrize("entry, line", [
    ({"custom_id": "a", "body": {"t": 0.0, "m": "é 问题 \"q\"\n"}}, '{"custom_id":"a","body":{"t":0.0,"m":"é 问题 \\"q\\"\\n"}}\n'),
    ({"custom_id": "a", "body": {"m": "x\ud800y"}}, '{"custom_id":"a","body":{"m":"x\\ud800y"}}\n'),  # UTF-8 cannot hold it
])
def test_batch_line_is_compact_utf8_as_the_sdk_writes_a_body(entry, line):
    assert utils.batch_line(entry) == line.encode()
    assert json.loads(utils.batch_line(entry)) == entry


@pytest.mark.parametrize("sizes, max_requests, max_bytes, batches, too_big", [
    ([10] * 7, 3, 1000, [[0, 1, 2], [3, 4, 5], [6]], []),
    ([10] * 6, 3, 1000, [[0, 1, 2], [3, 4, 5]], []),
    ([40, 40, 40, 10, 90], 100, 100, [[0, 1], [2, 3], [4]], []),
    ([50, 101, 50, 50], 100, 100, [[0, 2], [3]], [1]),
    ([100], 1, 100, [[0]], []),
    ([], 5, 5, [], []),
])
def test_split_batches_at_the_limits(sizes, max_requests, max_bytes, batches, too_big):
    assert utils.split_batches(sizes, max_requests, max_bytes) == (batches, too_big)


MODEL = utils.ModelConfig(name="m", model_name="m", api_type="openai")
CHAT_BODY = {"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}}],
             "usage": {"prompt_tokens": 7, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 3}}}


@pytest.mark.parametrize("line, expected", [
    ({"custom_id": "a", "response": {"status_code": 200, "body": CHAT_BODY}, "error": None},
     ("a", "Hello", None)),
    ({"custom_id": "a", "response": None, "error": {"code": "batch_expired", "message": "too late"}},
     ("a", None, "batch b1: batch_expired: too late")),
    ({"custom_id": "a", "response": {"status_code": 400, "body": {"error": {"message": "bad", "type": "x"}}},
      "error": None}, ("a", None, "batch b1: HTTP 400: bad")),
    ({"custom_id": "a", "response": {"status_code": 200, "body": '{"id": "broken", "choices": [{"message": '}},
     ("a", None, "batch b1: unreadable reply: EmptyResponse: response has no choices")),
    ({"custom_id": "a", "response": {"status_code": 200, "body": {"choices": {"x": 1}}}},
     ("a", None, "batch b1: unreadable reply: EmptyResponse: response has no choices")),
    ({"custom_id": "a", "response": {"status_code": 200, "body": {
        "choices": [{"message": {"content": ""}, "finish_reason": "length"}], "usage": {"completion_tokens": 9}}}},
     ("a", None, "batch b1: unreadable reply: EmptyResponse: the reply has no text: it stopped at max_tokens "
                 "before any answer text (raise max_tokens)")),
    ({"custom_id": "a", "response": {"status_code": 200, "body": {"choices": []}}},
     ("a", None, "batch b1: unreadable reply: EmptyResponse: response has no choices")),
    ({"custom_id": "a"}, ("a", None, "batch b1: HTTP None: None")),
    ({"custom_id": "a", "response": {"status_code": 502, "body": "<html>\n<h1>502 Bad Gateway</h1>\n</html>"}},
     ("a", None, "batch b1: HTTP 502: <html> <h1>502 Bad Gateway</h1> </html>")),  # one line, whatever the server sends
    ({"custom_id": "a", "response": None, "error": {"code": "server_error", "message": "first\r\nsecond"}},
     ("a", None, "batch b1: server_error: first second")),
    ({"response": {"status_code": 200, "body": CHAT_BODY}}, None),
    ("not json", None),
    ([1, 2], None),
])
def test_openai_batch_result_never_crashes(line, expected):
    raw = line.encode() if isinstance(line, str) else json.dumps(line).encode()
    result = utils.openai_batch_result(raw, MODEL, "b1")
    if expected is None:
        assert result is None
        return
    cid, completion = result
    assert (cid, completion.text, completion.error) == expected
    if completion.ok:
        assert (completion.prompt_tokens, completion.completion_tokens, completion.cached_tokens) == (7, 2, 3)


# --------------------------------------------------------------------------------------------
# OpenAIBatches through the SDK and the fake server
# --------------------------------------------------------------------------------------------


def entries(backend: utils.OpenAIBatches, texts: list[str]) -> list[dict]:
    return [backend.entry(f"c{i}", MODEL, utils.Request([{"role": "user", "content": t}], 0.0, 16))
            for i, t in enumerate(texts)]


def client_of(api: FakeAPI):
    return utils.get_client("openai", utils.Endpoint(api.openai_base, "sk-test"), 10.0)


def submit(backend: utils.BatchBackend, client, batch_entries: list[dict]) -> str:
    """Make a batch of the entries as a run does (without a state file); its id."""
    return backend.create(client, batch_entries, backend.prepare(client, batch_entries))


def test_openai_batches_states_counts_and_results(api, fresh_clients):
    backend, client = utils.BATCH_BACKENDS["openai"], client_of(api)
    api.responder = lambda body, path: "re: " + message_text(body["messages"][-1]["content"])
    api.openai_batches.polls_in_progress = 2
    batch_id = submit(backend, client, entries(backend, ["one", "two", "three", "four"]))
    assert [backend.status(client, batch_id).state for _ in range(3)] == ["running", "running", "ended"]
    assert backend.status(client, batch_id) == utils.BatchStatus("ended", 4, 4, 0, None)
    results = dict(backend.results(client, batch_id, MODEL))
    assert {cid: c.text for cid, c in results.items()} == {"c0": "re: one", "c1": "re: two", "c2": "re: three",
                                                           "c3": "re: four"}

    api.openai_batches.polls_in_progress = 0
    api.openai_batches.expire_after = 1
    api.fault_script = lambda body, path: "400" if "one" in body["messages"][-1]["content"] else None
    batch_id = submit(backend, client, entries(backend, ["one", "two", "three"]))
    assert backend.status(client, batch_id) == utils.BatchStatus("expired", 3, 0, 3, None)
    results = dict(backend.results(client, batch_id, MODEL))
    assert {cid: c.error for cid, c in results.items()} == {
        "c0": f"batch {batch_id}: HTTP 400: injected fault 400",
        "c1": f"batch {batch_id}: batch_expired: This request could not be executed before the completion window "
              "expired.",
        "c2": f"batch {batch_id}: batch_expired: This request could not be executed before the completion window "
              "expired."}

    api.openai_batches.expire_after, api.fault_script = None, None
    api.openai_batches.fail_with = "the model is not available for batches"
    batch_id = submit(backend, client, entries(backend, ["one"]))
    status = backend.status(client, batch_id)
    assert (status.state, status.detail) == ("failed", "batch_failed: the model is not available for batches")
    assert dict(backend.results(client, batch_id, MODEL)) == {}

    api.openai_batches.fail_with = None
    api.openai_batches.polls_in_progress = 2
    batch_id = submit(backend, client, entries(backend, ["one", "two"]))
    assert [backend.status(client, batch_id).done for _ in range(2)] == [0, 1]  # half done
    client.batches.cancel(batch_id)
    assert backend.status(client, batch_id).state == "running"  # cancelling: its results are not ready yet
    assert backend.status(client, batch_id).state == "cancelled"
    results = dict(backend.results(client, batch_id, MODEL))
    assert results["c0"].text == "re: one" and "batch_cancelled" in results["c1"].error


def test_a_batch_whose_create_reply_is_lost_is_found_not_made_twice(api, fresh_clients):
    backend, client = utils.BATCH_BACKENDS["openai"], client_of(api)
    api.openai_batches.lost_create_replies = 1
    batch_id = submit(backend, client, entries(backend, ["one"]))
    assert created(api) == [batch_id]
    assert ("list",) in api.openai_batches.events


def test_the_lookup_of_a_batch_reads_page_after_page(api, fresh_clients, monkeypatch):
    """Batches made after the one looked for push it off the first page of the listing: it is found
    on a later one."""
    backend, client = utils.BATCH_BACKENDS["openai"], client_of(api)
    pending = backend.prepare(client, entries(backend, ["one"]))
    mine = client.batches.create(input_file_id=pending["input_file_id"], endpoint="/v1/chat/completions",
                                 completion_window="24h").id
    for text in ("two", "three"):
        submit(backend, client, entries(backend, [text]))
    monkeypatch.setattr(utils, "BATCH_LIST_PAGE", 1)
    assert backend.made(client, pending) == [mine]
    assert api.openai_batches.events.count(("list",)) == 3


def test_the_lookup_reads_on_past_batches_without_a_creation_time():
    """A server that gives a batch no created_at: the listing is read on past it (never taken for
    one older than the upload), and stops at the first batch older than the upload."""
    listing = [SimpleNamespace(id="b3", created_at=None, input_file_id="file-2"),
               SimpleNamespace(id="b2", created_at=None, input_file_id="file-1"),
               SimpleNamespace(id="b1", created_at=5, input_file_id="file-1")]
    client = SimpleNamespace(batches=SimpleNamespace(list=lambda limit: iter(listing)))
    assert utils.OpenAIBatches().made(client, {"input_file_id": "file-1", "uploaded_at": 10}) == ["b2"]


def test_polls_back_off_from_the_poll_interval(tmp_path, api, fresh_clients):
    """run_batches itself: a batch is asked once at once, then after waits that double up to
    MAX_POLL_INTERVAL (never below the interval asked for)."""
    model = utils.ModelConfig("m", "served", "openai", endpoints=(utils.Endpoint(api.openai_base, "sk-test"),))
    api.responder = lambda body, path: "re: " + message_text(body["messages"][-1]["content"])

    def steps(text: str):
        [reply] = yield [utils.Request([{"role": "user", "content": text}], 0.0, 8)]
        return reply.text

    for interval, expected in ((1.0, [1, 2, 4, 8, 16]), (100.0, [100, 200, 300, 300, 300]), (500.0, [500] * 5)):
        api.openai_batches.polls_in_progress = 5
        slept: list[float] = []
        results = utils.run_batches(["a", "b"], steps, str, lambda item: utils.BatchGroup(model, tmp_path / "s.json"),
                                    poll_interval=interval, progress=False, sleep=slept.append)
        assert sorted(results) == [("a", "re: a"), ("b", "re: b")]
        assert slept == expected


# --------------------------------------------------------------------------------------------
# gen_judgment.py --batch
# --------------------------------------------------------------------------------------------


def judge_both_ways(tmp_path: Path, make, responder, *extra: str, setup_class=Setup, **overrides):
    """Run the same bench directly and with --batch, each against a fresh fake server; returns
    (direct setup, its server, batch setup, its server)."""
    runs = []
    for mode in ("direct", "batch"):
        with FakeAPI(responder=responder) as api:
            make(tmp_path / mode / "data")
            setup = setup_class(tmp_path / mode, api, **overrides)
            assert setup.run(*(FAST if mode == "batch" else ("--no-progress",)), *extra) == 0
            runs += [setup, api]
    return runs


def test_judgment_batch_records_and_bodies_equal_direct_ones(tmp_path):
    direct, direct_api, batch, batch_api = judge_both_ways(
        tmp_path, lambda data: simple_bench(data, 4, models=("m1", "m2")), verdict_responder("A>B"),
        model_list=["m1", "m2"])
    for model in ("m1", "m2"):
        records = batch.records(model)
        assert len(records) == 4
        assert by_question(records) == by_question(direct.records(model))
    lines = batch_lines(batch_api)
    assert line_bodies(batch_api) == direct_bodies(direct_api) and len(lines) == len(direct_api.requests)
    assert all(line["method"] == "POST" and line["url"] == "/v1/chat/completions" for line in lines)
    assert all(CUSTOM_ID.fullmatch(line["custom_id"]) for line in lines)
    # one batch per judgment file: each holds one model's games only
    assert len(created(batch_api)) == 2
    for upload, model in zip(batch_api.openai_batches.uploads, ("m1", "m2")):
        assert all(f"{model} answers" in line for line in upload.decode().splitlines())
    assert state_files(tmp_path / "batch") == []  # removed at the end
    assert batch_api.requests == []  # nothing went to /chat/completions directly


def test_v2_judgment_batch_records_equal_direct_ones_with_a_reasoning_judge(tmp_path):
    reply = Reasoned(v2.REPLY, "the judge thinks")
    direct, _, batch, batch_api = judge_both_ways(tmp_path, v2.make_v2_bench, lambda body, path: reply,
                                                  setup_class=v2.Setup)
    assert batch.records() == direct.records() and len(batch.records()) == len(v2.QUESTIONS)
    assert batch.records()["u-hard"]["games"][0]["judgment"] == {"thought": "the judge thinks", "answer": v2.REPLY}


def follow_up_responder(body: dict, path: str) -> str:
    """A judge that gives no verdict for q001 until it is asked to go on."""
    last = message_text(body["messages"][-1]["content"])
    if last == CONTINUE_PROMPT:
        return "Then: [[A>B]]"
    return "No verdict yet." if "q001" in last else "Fine. [[B>A]]"


def test_judge_follow_up_is_the_next_round(tmp_path):
    """A reply without a verdict is asked again: the follow-ups form a second batch."""
    direct, direct_api, batch, batch_api = judge_both_ways(tmp_path, lambda data: simple_bench(data, 3),
                                                           follow_up_responder)
    assert by_question(batch.records()) == by_question(direct.records())
    follow_up = next(r for r in batch.records() if r["question_id"] == "q001")
    assert [g["judgment"] for g in follow_up["games"]] == ["\nNo verdict yet.\nThen: [[A>B]]"] * 2
    assert [len(upload.splitlines()) for upload in batch_api.openai_batches.uploads] == [6, 2]
    second = [json.loads(line) for line in batch_api.openai_batches.uploads[1].splitlines()]
    assert all(line["body"]["messages"][-1] == {"role": "user", "content": CONTINUE_PROMPT} for line in second)
    assert all(line["custom_id"].startswith("q001_m1-2-") for line in second)  # round 2
    assert line_bodies(batch_api) == direct_bodies(direct_api)


def test_ctrl_c_while_waiting_on_a_follow_up_round_then_rerun_submits_nothing_new(tmp_path, api):
    """Both rounds' batches stay listed; the rerun gives the follow-ups the same custom ids from the
    replies it collects, and so waits on the listed follow-up batch."""
    api.responder = lambda body, path: ("Then: [[A>B]]" if message_text(body["messages"][-1]["content"])
                                        == CONTINUE_PROMPT else "No verdict yet.")
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api, pairwise=False)

    def on_event(event: tuple) -> None:
        if event[0] == "create" and len(created(api)) == 2:
            api.openai_batches.polls_in_progress = 10**9  # the follow-up batch runs on...
        elif event[0] == "retrieve" and len(created(api)) == 2 and event[1] == created(api)[1]:
            os.kill(os.getpid(), signal.SIGINT)  # ...and Ctrl-C comes while it is waited on

    api.openai_batches.on_event = on_event
    assert setup.run(*FAST) == 130
    assert setup.records() == [] and [len(u.splitlines()) for u in api.openai_batches.uploads] == [2, 2]
    (state,) = state_files(tmp_path)
    assert [b["id"] for b in json.loads(state.read_text())["batches"]] == created(api)

    api.openai_batches.on_event = None
    api.openai_batches.polls_in_progress = 0
    assert setup.run(*FAST) == 0
    assert len(api.openai_batches.uploads) == 2 and len(created(api)) == 2  # nothing new
    assert [r["games"][0]["judgment"] for r in by_question(setup.records())] == ["\nNo verdict yet.\nThen: [[A>B]]"] * 2
    assert not state.exists()


def test_per_request_errors_are_not_stored_and_exit_1(tmp_path, api, caplog):
    """A game whose request failed in the batch: the pair is not stored (exit 1); the other game's
    paid reply stays listed for the next run, which submits only the failed request."""
    simple_bench(tmp_path / "data", 3)
    setup = Setup(tmp_path, api)
    game1_of_q1 = "<|The Start of Assistant A's Answer|>\nbase answers q001"
    api.fault_script = lambda body, path: "400" if game1_of_q1 in body["messages"][-1]["content"] else None
    assert setup.run(*FAST) == 1
    assert sorted(r["question_id"] for r in setup.records()) == ["q000", "q002"]
    assert "injected fault 400" in caplog.text and "ended: 1 of 6 requests failed (first: batch " in caplog.text
    (state,) = state_files(tmp_path)
    assert [b["id"] for b in json.loads(state.read_text())["batches"]] == created(api)

    api.fault_script = None
    assert setup.run(*FAST) == 0
    assert sorted(r["question_id"] for r in setup.records()) == ["q000", "q001", "q002"]
    (last,) = api.openai_batches.uploads[1:]
    assert [game1_of_q1 in json.loads(line)["body"]["messages"][-1]["content"] for line in last.splitlines()] == [True]
    assert state_files(tmp_path) == []


def test_malformed_and_empty_replies_in_a_batch_are_failures_not_crashes(tmp_path, api):
    simple_bench(tmp_path / "data", 3)
    setup = Setup(tmp_path, api, pairwise=False)
    faults = {"q000": "malformed", "q001": "empty_choices"}
    api.fault_script = lambda body, path: next((kind for q, kind in faults.items()
                                                if q in body["messages"][-1]["content"]), None)
    assert setup.run(*FAST) == 1
    assert [r["question_id"] for r in setup.records()] == ["q002"]


def test_kill_while_waiting_then_rerun_submits_nothing_new(tmp_path):
    """SIGKILL while the batches run: the rerun polls the listed batches and stores every result."""
    with FakeAPI(responder=verdict_responder()) as api:
        simple_bench(tmp_path / "data", 5, models=("m1", "m2"))
        setup = Setup(tmp_path, api, model_list=["m1", "m2"])
        api.openai_batches.polls_in_progress = 10**9
        proc = subprocess.Popen([sys.executable, str(REPO / "gen_judgment.py"), *setup.args(*FAST)],
                                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while sum(e[0] == "retrieve" for e in api.openai_batches.events) < 4:  # both batches polled twice
                assert proc.poll() is None, "gen_judgment.py ended before it could be killed"
                assert time.monotonic() < deadline, "no batch was waited on"
                time.sleep(0.01)
        finally:
            proc.kill()
            proc.wait()
        listed = {b["id"] for state in state_files(tmp_path) for b in json.loads(state.read_text())["batches"]}
        assert listed == set(created(api)) and len(listed) == 2
        assert setup.records("m1") == setup.records("m2") == []
        uploads = len(api.openai_batches.uploads)

        api.openai_batches.polls_in_progress = 1
        assert setup.run(*FAST) == 0
        assert len(api.openai_batches.uploads) == uploads and set(created(api)) == listed  # nothing new paid
        for model in ("m1", "m2"):
            assert sorted(r["question_id"] for r in setup.records(model)) == [f"q{i:03d}" for i in range(5)]
        assert state_files(tmp_path) == []


def test_a_batch_that_cannot_be_polled_stays_listed_for_the_next_run(tmp_path, api, caplog):
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api)  # max_retries 2: three tries
    api.openai_batches.on_event = lambda event: event[0] == "create" and api.openai_batches.faults.extend(["500"] * 3)
    assert setup.run(*FAST) == 1
    assert setup.records() == []
    assert "stays listed in" in caplog.text and "rerun with --batch to collect it" in caplog.text
    (state,) = state_files(tmp_path)
    assert [b["id"] for b in json.loads(state.read_text())["batches"]] == created(api)

    api.openai_batches.on_event = None
    assert setup.run(*FAST) == 0
    assert len(setup.records()) == 2 and len(created(api)) == 1 and not state.exists()


def test_state_file_is_written_atomically_before_waiting_and_removed_at_the_end(tmp_path, api, monkeypatch):
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api)
    state = utils.batch_state_file(setup.judgment_file())
    seen_while_waiting: list[dict] = []
    api.openai_batches.on_event = lambda event: event[0] == "retrieve" and seen_while_waiting.append(
        json.loads(state.read_text()))
    atomic_writes: list[Path] = []
    real_write_atomic = utils.write_atomic
    monkeypatch.setattr(utils, "write_atomic", lambda path, chunks: (atomic_writes.append(Path(path)),
                                                                    real_write_atomic(path, chunks)))
    assert setup.run(*FAST) == 0
    (batch_id,) = created(api)
    assert seen_while_waiting and all(s["batches"][0]["id"] == batch_id for s in seen_while_waiting)
    assert len(seen_while_waiting[0]["batches"][0]["custom_ids"]) == 4
    assert seen_while_waiting[0]["endpoint"] == api.openai_base and seen_while_waiting[0]["api_type"] == "openai"
    assert state in atomic_writes
    assert not state.exists()
    assert not list(state.parent.glob("*.tmp"))


def test_the_stored_records_reach_the_disk_before_the_state_file_forgets_their_batch(tmp_path, api, monkeypatch):
    """After a power cut, a state file that no longer lists a batch whose records the page cache
    lost would have the next run pay for them again."""
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api)
    output = setup.judgment_file()
    state = utils.batch_state_file(output)
    events: list[str] = []
    real_fsync, real_unlink = os.fsync, Path.unlink
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(f"fsync {os.readlink(f'/proc/self/fd/{fd}')}"),
                                                 real_fsync(fd))[1])
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: (events.append(f"unlink {self}"),
                                                                        real_unlink(self, missing_ok))[1])
    assert setup.run(*FAST) == 0
    assert len(setup.records()) == 2 and not state.exists()
    assert f"fsync {output}" in events
    assert events.index(f"fsync {output}") < events.index(f"unlink {state}")


def test_split_at_the_limits(tmp_path, api, monkeypatch):
    simple_bench(tmp_path / "data", 4)  # 8 requests
    setup = Setup(tmp_path, api)
    monkeypatch.setattr(utils.OpenAIBatches, "max_requests", 3)
    assert setup.run(*FAST) == 0
    assert [len(upload.splitlines()) for upload in api.openai_batches.uploads] == [3, 3, 2]
    assert len(setup.records()) == 4

    simple_bench(tmp_path / "data2", 4)
    setup = Setup(tmp_path, api)
    setup.data_dir = tmp_path / "data2"
    line_size = len(api.openai_batches.uploads[0].splitlines()[0]) + 1
    monkeypatch.setattr(utils.OpenAIBatches, "max_requests", 100)
    monkeypatch.setattr(utils.OpenAIBatches, "max_bytes", 5 * line_size)
    assert setup.run(*FAST) == 0
    sizes = [len(upload) for upload in api.openai_batches.uploads[3:]]
    assert len(sizes) == 2 and all(size <= 5 * line_size for size in sizes)
    assert len(setup.records()) == 4


def test_a_request_larger_than_a_batch_fails_alone(tmp_path, api, monkeypatch, caplog):
    make_bench(tmp_path / "data", {"q1": ["short"], "q2": ["long " * 200]},
               {"base": {"q1": ["b"], "q2": ["b"]}, "m1": {"q1": ["m"], "q2": ["m"]}})
    setup = Setup(tmp_path, api)
    monkeypatch.setattr(utils.OpenAIBatches, "max_bytes", 1000)
    assert setup.run(*FAST) == 1
    assert [r["question_id"] for r in setup.records()] == ["q1"]
    assert "bytes: a batch holds at most 1,000" in caplog.text


@pytest.mark.parametrize("script", ["gen_judgment", "gen_answer"])
def test_batch_refuses_other_api_types_at_start(tmp_path, api, caplog, script):
    if script == "gen_judgment":
        simple_bench(tmp_path / "data", 2)
        setup = Setup(tmp_path, api, api_type="mistral")
        status = setup.run(*FAST)
    else:
        project = Project(tmp_path)
        project.write({"m": openai_entry(api, api_type="cohere")}, [question("q1", "hello")])
        status = project.run(*FAST)
    assert status == 2
    name, api_type = ("the-judge", "mistral") if script == "gen_judgment" else ("m", "cohere")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and f"{name}: --batch works with api_type openai, azure, anthropic" in errors[0]
    assert errors[0].endswith(f"not {api_type}")
    assert api.requests == [] and api.openai_batches.uploads == [] and api.get_requests == []


@pytest.mark.parametrize("argv, message", [
    (["--poll-interval", "5"], "--poll-interval goes with --batch"),
    (["--batch", "--poll-interval", "0"], "expected seconds above 0"),
    (["--batch", "--poll-interval", "nan"], "expected seconds above 0"),
])
def test_poll_interval_flag_is_checked(capsys, argv, message):
    import gen_judgment

    for main in (gen_judgment.main, gen_answer.main):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


def test_transient_faults_of_the_batch_api_are_retried(tmp_path, api):
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api)
    api.openai_batches.faults.extend(["429", "503"])  # two uploads (the judge's max_retries is 2)
    api.openai_batches.lost_create_replies = 1  # then the batch made, but its reply lost
    assert setup.run(*FAST) == 0
    assert len(created(api)) == 1 and len(setup.records()) == 2


def test_a_listed_batch_unknown_to_the_provider_is_not_paid_again_unless_its_listing_is_deleted(tmp_path, api,
                                                                                                  caplog):
    """A 404 for a listed batch most likely means another API key, project or workspace, where the
    batch still runs: its requests fail (exit 1) and it stays listed; deleting the state file is the
    user's way to pay for them again."""
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api)
    state = utils.batch_state_file(setup.judgment_file())
    assert setup.run(*FAST) == 0  # its upload shows the custom ids a run gives
    ids = [json.loads(line)["custom_id"] for line in api.openai_batches.uploads[0].splitlines()]
    setup.judgment_file().unlink()
    listing = json.dumps({"version": 1, "api_type": "openai", "endpoint": api.openai_base,
                          "batches": [{"id": "batch_elsewhere", "custom_ids": ids}]})
    state.write_text(listing)
    assert setup.run(*FAST) == 1
    assert len(created(api)) == 1 and setup.records() == []
    assert json.loads(state.read_text())["batches"] == json.loads(listing)["batches"]
    assert "batch batch_elsewhere: NotFoundError (HTTP 404)" in caplog.text
    assert f"another API key, project or workspace? Rerun with it to collect the batch, or delete {state}" \
        in caplog.text

    state.unlink()
    assert setup.run(*FAST) == 0
    assert len(created(api)) == 2 and len(setup.records()) == 2 and not state.exists()


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a batch state file (invalid JSON"),
    ('{"batches": [{"id": 3}]}', "not a batch state file (expected"),
    ('{"version": 1, "api_type": "openai", "endpoint": "http://127.0.0.1:1/v1", "batches": [{"id": "b", '
     '"custom_ids": []}]}', "its batches were made at http://127.0.0.1:1/v1"),
    ('{"version": 1, "api_type": "openai", "endpoint": "ENDPOINT", "batches": [{"id": "", "custom_ids": []}]}',
     "'' is not a batch id"),
    ('{"version": 1, "api_type": "openai", "endpoint": "ENDPOINT", "batches": [{"id": "../files/file-1", '
     '"custom_ids": []}]}', "'../files/file-1' is not a batch id"),
    ('{"version": 1, "api_type": "openai", "endpoint": "ENDPOINT", "batches": [{"id": "b", "pending": {}, '
     '"custom_ids": []}]}', "not a batch state file (expected"),
    ('{"version": 1, "api_type": "openai", "endpoint": "ENDPOINT", "batches": [{"pending": {"input_file_id": "f"}, '
     '"custom_ids": []}]}', 'pending {"input_file_id": "f"} is not a pending batch of api_type openai (its keys: '
                            'input_file_id, uploaded_at);'),
    ('{"version": 1, "api_type": "openai", "endpoint": "ENDPOINT", "batches": [{"pending": {"input_file_id": 7, '
     '"uploaded_at": 1}, "custom_ids": []}]}', 'pending {"input_file_id": 7, "uploaded_at": 1} is not a pending batch'),
])
def test_a_bad_state_file_stops_the_run_before_any_request(tmp_path, api, caplog, content, message):
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api)
    state = utils.batch_state_file(setup.judgment_file())
    state.parent.mkdir(parents=True, exist_ok=True)
    content = content.replace("ENDPOINT", api.openai_base)  # else the endpoint differs
    state.write_text(content)
    assert setup.run(*FAST) == 2
    assert message in caplog.text and str(state) in caplog.text
    assert api.openai_batches.uploads == [] and state.read_text() == content


def script_setup(script: str, tmp_path: Path, api: FakeAPI) -> tuple[Setup | Project, Path]:
    """A judging setup of two questions (gen_judgment) or an answer project of one (gen_answer), and
    the output file its run writes."""
    if script == "gen_judgment":
        simple_bench(tmp_path / "data", 2)
        setup = Setup(tmp_path, api)
        return setup, setup.judgment_file()
    project = Project(tmp_path)
    project.write({"m": openai_entry(api)}, [question("q1", "hello")])
    return project, project.answer_path("m")


@pytest.mark.parametrize("script", ["gen_judgment", "gen_answer"])
def test_a_direct_run_refuses_an_output_with_listed_batches(tmp_path, api, caplog, script):
    """Batches an earlier --batch run left listed are paid for (still running, or holding replies):
    a direct run would send their requests again, so it stops at start (exit 2) with one line."""
    setup, output = script_setup(script, tmp_path, api)
    state = utils.batch_state_file(output)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text('{"batches": []}')  # what an interrupted first submit may leave: nothing paid
    assert setup.run("--no-progress") == 0
    output.unlink()
    requests = len(api.requests)
    state.write_text('{"batches": [{"id": "batch_1", "custom_ids": ["q000_m1-1-0-0123456789abcdef"]}]}')
    assert setup.run("--no-progress") == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"{state} lists batches of an earlier --batch run, paid for: rerun with --batch to collect "
                      "them, or delete it to send their requests again directly (paid twice)"]
    assert len(api.requests) == requests and not output.exists()
    state.unlink()
    assert setup.run("--no-progress") == 0


@pytest.mark.parametrize("script", ["gen_judgment", "gen_answer"])
def test_a_dry_run_says_the_listed_batches_are_paid_for(tmp_path, api, capsys, script):
    """The dry run counts the work still to store, so the requests of batches an earlier --batch run left
    listed too: it says that a --batch run collects them without paying again (and a direct run is
    refused). Nothing is called, and the state file stays as it was."""
    setup, output = script_setup(script, tmp_path, api)
    state = utils.batch_state_file(output)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text('{"batches": []}')
    assert setup.run("--dry-run") == 0
    assert str(state) not in capsys.readouterr().out
    content = '{"batches": [{"id": "batch_1", "custom_ids": ["q000_m1-1-0-0123456789abcdef"]}]}'
    state.write_text(content)
    assert setup.run("--dry-run") == 0
    assert (f"\n{state} lists batches of an earlier --batch run, paid for: a --batch run collects their replies "
            "instead of paying for those requests again, as counted here (a direct run is refused)\n"
            in capsys.readouterr().out)
    assert api.requests == [] and api.openai_batches.events == [] and state.read_text() == content


def test_azure_batches_name_chat_completions(tmp_path):
    def setup_azure(tmp: Path, api: FakeAPI, **overrides) -> Setup:
        setup = Setup(tmp, api, **overrides)
        setup.endpoint.update(api_type="azure", endpoints=[{"api_base": api.url, "api_key": "sk-test",
                                                            "api_version": "2024-10-21"}])
        setup.write()
        return setup

    direct, direct_api, batch, batch_api = judge_both_ways(tmp_path, lambda data: simple_bench(data, 2),
                                                           verdict_responder(), setup_class=setup_azure)
    assert by_question(batch.records()) == by_question(direct.records()) and len(batch.records()) == 2
    assert all(line["url"] == "/chat/completions" for line in batch_lines(batch_api))
    assert batch_api.openai_batches.batches[created(batch_api)[0]]["endpoint"] == "/chat/completions"
    assert line_bodies(batch_api) == direct_bodies(direct_api)


# --------------------------------------------------------------------------------------------
# gen_answer.py --batch
# --------------------------------------------------------------------------------------------


def echo_turn(body: dict, path: str) -> str:
    users = [m for m in body["messages"] if m["role"] == "user"]
    return f"turn {len(users)} of {body['model']}: " + message_text(users[-1]["content"])


QUESTIONS = [question("q1", "first?", "and then?"), question("q2", "one turn — é 问题 \"quoted\"", category="writing"),
             question("q3", "a", "b", "c")]


def answer_both_ways(tmp_path: Path, models, questions=QUESTIONS, **settings):
    runs = []
    for mode in ("direct", "batch"):
        with FakeAPI(responder=echo_turn) as api:
            api.openai_batches.polls_in_progress = 1
            (tmp_path / mode).mkdir()
            project = Project(tmp_path / mode)
            project.write({name: openai_entry(api, **entry) for name, entry in models.items()}, questions, **settings)
            assert project.run(*(FAST if mode == "batch" else ())) == 0
            runs += [project, api]
    return runs


def test_answer_batch_records_and_bodies_equal_direct_ones_turn_by_turn(tmp_path):
    models = {"m-a": {"model_name": "served-a"}, "org/m-b": {"model_name": "served-b", "system_prompt": "Be brief."}}
    direct, direct_api, batch, batch_api = answer_both_ways(tmp_path, models, num_choices=2)
    for model in models:
        records = batch.answers(model)
        assert [r["question_id"] for r in records] == ["q1", "q2", "q3"]  # the sorted rewrite
        assert [without_random(r) for r in records] == [without_random(r) for r in direct.answers(model)]
        assert records[2]["choices"][1]["turns"][2]["content"] == f"turn 3 of {models[model]['model_name']}: c"
    lines = batch_lines(batch_api)
    assert len(lines) == 2 * 2 * (2 + 1 + 3)  # models x choices x turns
    assert line_bodies(batch_api) == direct_bodies(direct_api) and len(lines) == len(direct_api.requests)
    # every model's first batch is submitted before any batch is waited on
    events = batch_api.openai_batches.events
    first_retrieve = next(i for i, e in enumerate(events) if e[0] == "retrieve")
    assert sum(e[0] == "create" for e in events[:first_retrieve]) == 2
    # a turn, or a choice's first turn after the other choice, waits on the round before
    assert max(line["custom_id"].split("-")[-3] for line in lines) == "6"
    assert state_files(tmp_path) == []


def test_answer_expired_batch_is_redone_on_the_next_run(tmp_path, api, caplog, capsys):
    project = Project(tmp_path)
    questions = [question(f"q{i}", f"prompt {i}") for i in range(4)]
    project.write({"m": openai_entry(api)}, questions)
    api.openai_batches.expire_after = 2
    assert project.run(*FAST) == 1
    assert [r["question_id"] for r in project.answers("m")] == ["q0", "q1"]
    (report,) = [r.getMessage() for r in caplog.records if "expired: 2 of 4 requests unanswered (first: " in r.getMessage()]
    assert "batch_expired" in report and report.endswith("; rerun to submit them again")
    assert "m: answered 2, cached 0, failed 2: rerun to retry" in capsys.readouterr().out

    api.openai_batches.expire_after = None
    assert project.run(*FAST) == 0
    assert [r["question_id"] for r in project.answers("m")] == ["q0", "q1", "q2", "q3"]
    assert [len(upload.splitlines()) for upload in api.openai_batches.uploads] == [4, 2]
    assert state_files(tmp_path) == []


def test_answer_ctrl_c_while_waiting_then_an_expired_batch_is_collected_and_the_rest_submitted(tmp_path, api, caplog,
                                                                                               capsys):
    """Ctrl-C while waiting keeps the batch listed; the rerun finds it expired: what it answered is
    stored (not paid again), what it left is submitted again in the same run."""
    project = Project(tmp_path)
    project.write({"m": openai_entry(api)}, [question(f"q{i}", f"prompt {i}") for i in range(4)])
    api.openai_batches.polls_in_progress = 10**9
    api.openai_batches.expire_after = 3
    api.openai_batches.on_event = lambda event: event[0] == "retrieve" and os.kill(os.getpid(), signal.SIGINT)
    assert project.run(*FAST) == 130
    assert not project.answer_path("m").exists() or project.answers("m") == []
    (state,) = state_files(tmp_path)
    assert [b["id"] for b in json.loads(state.read_text())["batches"]] == created(api)
    assert "rerun with --batch to collect them" in caplog.text

    api.openai_batches.on_event = None
    api.openai_batches.polls_in_progress = 0
    api.openai_batches.expire_after = None
    assert project.run(*FAST) == 0
    assert [r["question_id"] for r in project.answers("m")] == ["q0", "q1", "q2", "q3"]
    assert [len(upload.splitlines()) for upload in api.openai_batches.uploads] == [4, 1]
    (report,) = [r.getMessage() for r in caplog.records if "expired: 1 of 4 requests unanswered (first: " in r.getMessage()]
    assert report.endswith("; they are submitted again")
    assert "m: answered 4, cached 0, failed 0" in capsys.readouterr().out
    assert not state.exists()


def test_answer_write_error_keeps_the_batches_listed_for_the_rerun(tmp_path, api, monkeypatch, caplog):
    project = Project(tmp_path)
    project.write({"m": openai_entry(api)}, [question(f"q{i}", f"prompt {i}") for i in range(3)])
    disk_full_after(monkeypatch, "m.jsonl", 1)
    assert project.run(*FAST) == 1
    assert len(project.answers("m")) == 1 and "No space left on device" in caplog.text
    (state,) = state_files(tmp_path)
    assert [b["id"] for b in json.loads(state.read_text())["batches"]] == created(api)

    monkeypatch.undo()  # space again
    assert project.run(*FAST) == 0
    assert [r["question_id"] for r in project.answers("m")] == ["q0", "q1", "q2"]
    assert len(api.openai_batches.uploads) == 1 and not state.exists()  # the results were collected, not bought again


def fsync_fails_for(monkeypatch, name: str) -> None:
    """os.fsync fails with ENOSPC on a file whose name matches the regex `name` (a full disk seen at
    the end of an atomic write: the error names no file)."""
    import errno

    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if re.search(name, os.readlink(f"/proc/self/fd/{fd}")):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("script", ["gen_judgment", "gen_answer"])
def test_a_full_disk_when_the_state_file_is_written_names_it(tmp_path, api, monkeypatch, caplog, script):
    """Nothing is submitted: the one error line names the state file that could not be written."""
    setup, output = script_setup(script, tmp_path, api)
    state = utils.batch_state_file(output)
    fsync_fails_for(monkeypatch, re.escape(utils.BATCH_STATE_SUFFIX))
    assert setup.run(*FAST) == 1
    assert f"cannot write {state}: No space left on device" in caplog.text
    assert api.openai_batches.uploads == [] and not state.exists() and not list(state.parent.glob("*.tmp"))


def test_a_full_disk_in_the_sorted_rewrite_of_a_batch_run_names_the_answer_file(tmp_path, api, monkeypatch, caplog):
    project = Project(tmp_path)
    project.write({"m": openai_entry(api)}, [question("q2", "two"), question("q1", "one")])
    fsync_fails_for(monkeypatch, r"/m\.jsonl\.[^.]+\.tmp$")  # the temporary file of the rewrite, not the state file's
    assert project.run(*FAST) == 1
    assert f"cannot write {project.answer_path('m')}: No space left on device" in caplog.text
    assert sorted(r["question_id"] for r in project.answers("m")) == ["q1", "q2"]  # every answer kept


def test_results_never_sent_repeated_or_naming_no_request_are_counted_and_every_reply_kept(tmp_path, api, caplog):
    """The output file also holds a result for a custom_id never sent, a failed line repeating a request
    already answered, a line naming no request and a garbled one: every paid reply is stored (exit 0),
    and what was ignored is counted in one line each."""
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api)

    def extra(custom_ids: list[str]) -> list[bytes]:
        failed_again = {"custom_id": custom_ids[0], "response": None, "error": {"code": "server_error", "message": "x"}}
        never_sent = {"custom_id": "someone-else-1-0-0123456789abcdef", "response": {"status_code": 200, "body": {
            "choices": [{"message": {"role": "assistant", "content": "[[A>>B]]"}}]}}, "error": None}
        return [json.dumps(failed_again).encode(), json.dumps(never_sent).encode(), b'{"response": null}', b"{garbled"]

    api.openai_batches.extra_result_lines = extra
    assert setup.run(*FAST) == 0
    assert sorted(r["question_id"] for r in setup.records()) == ["q000", "q001"]
    assert all(g["score"] == "B>A" for r in setup.records() for g in r["games"])
    (batch_id,) = created(api)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"batch {batch_id}: 2 lines of its results name no request: ignored" in messages
    assert (f"the-judge: batch {batch_id}: 1 result naming a request it was not sent, 1 result repeating one "
            "already read (a reply is kept over a failure): ignored") in messages
    assert state_files(tmp_path) == []


def test_a_lost_create_reply_that_cannot_be_looked_up_is_not_made_again(tmp_path, api, caplog):
    """The create reply is lost and the listing that would find the batch fails too: the requests
    fail for this run (exit 1), the batch is not made a second time, and the error says to look. It
    stays pending in the state file: the rerun finds it and collects it."""
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api)
    api.openai_batches.lost_create_replies = 1
    api.openai_batches.on_event = lambda event: event[0] == "create" and api.openai_batches.faults.append("500")
    assert setup.run(*FAST) == 1
    assert len(created(api)) == 1 and setup.records() == []
    (upload,) = api.openai_batches.files.values()
    assert "BatchUncertain" in caplog.text and f"input file {upload['id']}" in caplog.text
    (state,) = state_files(tmp_path)
    assert "stays pending in" in caplog.text and "pending" in json.loads(state.read_text())["batches"][0]

    api.openai_batches.on_event = None
    assert setup.run(*FAST) == 0
    assert len(created(api)) == 1 and len(setup.records()) == 2 and not state.exists()


def test_ctrl_c_while_a_batch_is_submitted_waits_until_it_is_listed_and_logged(tmp_path, api, caplog):
    """Ctrl-C during the create call: the batch is listed and its id logged before the run stops
    (exit 130); the rerun collects it without submitting anything."""
    caplog.set_level(logging.INFO)
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api)
    api.openai_batches.on_event = lambda event: event[0] == "create" and os.kill(os.getpid(), signal.SIGINT)
    assert setup.run(*FAST) == 130
    (batch_id,) = created(api)
    (state,) = state_files(tmp_path)
    assert [b["id"] for b in json.loads(state.read_text())["batches"]] == [batch_id]
    assert f"the-judge: submitted batch {batch_id}: 4 requests" in caplog.text

    api.openai_batches.on_event = None
    assert setup.run(*FAST) == 0
    assert created(api) == [batch_id] and len(setup.records()) == 2 and not state.exists()


def test_a_listed_batch_whose_results_are_gone_is_submitted_again(tmp_path, api, caplog):
    """The batch exists but its output file does not any more (deleted, past its retention): its
    requests cannot be collected, so the rerun submits them again (unlike a batch unknown to the
    provider, which may still run elsewhere)."""
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api)
    api.openai_batches.polls_in_progress = 1
    api.openai_batches.on_event = lambda event: event[0] == "retrieve" and os.kill(os.getpid(), signal.SIGINT)
    assert setup.run(*FAST) == 130
    (listed,) = created(api)

    def delete_output(event: tuple) -> None:
        batch = api.openai_batches.batches[listed]
        if event[0] == "retrieve" and batch["output_file_id"] in api.openai_batches.files:
            del api.openai_batches.files[batch["output_file_id"]]

    api.openai_batches.on_event = delete_output
    assert setup.run(*FAST) == 0
    assert len(created(api)) == 2 and len(setup.records()) == 2 and state_files(tmp_path) == []
    assert f"batch {listed} failed: 4 of 4 requests unanswered (first: batch {listed}: the batch failed: its " \
           "results are no longer available (NotFoundError (HTTP 404)" in caplog.text


# --------------------------------------------------------------------------------------------
# A run stopped between a batch's create call and the state file listing it
# --------------------------------------------------------------------------------------------

SDK_BATCHES = {"openai": "openai.resources.batches", "anthropic": "anthropic.resources.messages.batches"}

# gen_judgment.py, killed by SIGKILL at its first batch's create call: once the call returns (the
# batch made, its id not yet written anywhere), or before the call is sent.
KILLED_AT_CREATE = """\
import importlib, os, signal, sys
sys.path.insert(0, {repo!r})
resource = importlib.import_module({module!r})
create = resource.Batches.create

def create_and_die(self, *args, **kwargs):
    if {made!r}:
        create(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

resource.Batches.create = create_and_die
import gen_judgment
sys.exit(gen_judgment.main(sys.argv[1:]))
"""


class Killed(BaseException):
    """A kill, in-process: nothing the run does catches it."""


def paid(api: FakeAPI, api_type: str) -> tuple[list[str], int]:
    """(the batches made at the provider, the requests they hold)."""
    if api_type == "anthropic":
        return list(api.message_batches.batches), len(api.message_batches.submitted)
    return created(api), len(api.openai_batches.lines)


def stop_right_after_the_create_call(setup: Setup, api_type: str, monkeypatch) -> None:
    """Run setup's --batch judging until its first batch's create call returns, then stop it dead."""
    resource = importlib.import_module(SDK_BATCHES[api_type])
    create = resource.Batches.create

    def create_and_stop(self, *args, **kwargs):
        create(self, *args, **kwargs)
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(resource.Batches, "create", create_and_stop)
        with pytest.raises(Killed):
            setup.run(*FAST)


@pytest.mark.parametrize("api_type, made", [("openai", True), ("anthropic", True), ("openai", False)],
                         ids=["openai", "anthropic", "create-never-sent"])
def test_kill_at_the_create_call_then_rerun_pays_each_request_once(tmp_path, api_type, made):
    """SIGKILL as the create call returns (the batch made, its id not written): the state file holds it
    as pending, and the rerun finds it at the provider and collects it; killed before the call is sent,
    the rerun finds none and submits the requests. Either way one batch holds each request once."""
    with FakeAPI(responder=verdict_responder()) as api:
        simple_bench(tmp_path / "data", 2)
        setup = Setup(tmp_path, api, api_type=api_type)
        script = KILLED_AT_CREATE.format(repo=str(REPO), module=SDK_BATCHES[api_type], made=made)
        killed = subprocess.run([sys.executable, "-c", script, *setup.args(*FAST)], cwd=tmp_path,
                                capture_output=True, timeout=120)
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-3000:]
        (state,) = state_files(tmp_path)
        (entry,) = json.loads(state.read_text())["batches"]
        assert sorted(entry) == ["custom_ids", "pending"] and len(entry["custom_ids"]) == 4
        assert len(paid(api, api_type)[0]) == made and setup.records() == []

        assert setup.run(*FAST) == 0
        batches, requests = paid(api, api_type)
        assert len(batches) == 1 and requests == 4
        assert sorted(r["question_id"] for r in setup.records()) == ["q000", "q001"]
        assert state_files(tmp_path) == []


def test_a_batch_made_but_not_listed_for_a_full_disk_is_collected_by_the_rerun(tmp_path, api, monkeypatch, caplog):
    """The state file cannot be written once the create call returned: the run stops (exit 1) and its
    pending entry lets the rerun find the batch instead of paying for it again."""
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api)
    write_atomic = utils.write_atomic

    def full_once_a_batch_is_made(path, chunks):
        data = b"".join(chunks)
        if path.name.endswith(utils.BATCH_STATE_SUFFIX) and b'"id"' in data:
            raise OSError(28, "No space left on device", str(path))
        write_atomic(path, [data])

    with monkeypatch.context() as patch:
        patch.setattr(utils, "write_atomic", full_once_a_batch_is_made)
        assert setup.run(*FAST) == 1
    (batch_id,) = created(api)
    (state,) = state_files(tmp_path)
    assert "pending" in json.loads(state.read_text())["batches"][0]
    assert f"batch {batch_id} was submitted" in caplog.text

    assert setup.run(*FAST) == 0
    assert created(api) == [batch_id] and len(setup.records()) == 2 and not state.exists()


@pytest.mark.parametrize("api_type", ["openai", "anthropic"])
def test_a_pending_batch_that_cannot_be_told_stops_the_rerun_before_any_request(tmp_path, api, monkeypatch, caplog,
                                                                               api_type):
    """Whether the pending batch was made cannot be told: the listing fails (openai, after retries), or
    another batch of as many requests was made since (anthropic). The rerun stops at start (exit 2)
    with one line naming the state file and what to look for; nothing is sent, nothing rewritten."""
    simple_bench(tmp_path / "data", 2)
    setup = Setup(tmp_path, api, api_type=api_type)
    stop_right_after_the_create_call(setup, api_type, monkeypatch)
    (state,) = state_files(tmp_path)
    content = state.read_text()
    pending = json.loads(content)["batches"][0]["pending"]
    if api_type == "openai":
        api.openai_batches.faults.extend(["500"] * 3)  # the judge's max_retries is 2
        look_for = f"the batch of input file {pending['input_file_id']}, listing the batches failed ("
    else:
        client = utils.get_client("anthropic", utils.Endpoint(api.anthropic_base, "sk-test"), 10.0)
        other = client.messages.batches.create(requests=[{"custom_id": f"x{i}", "params": {
            "model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}} for i in range(4)]).id
        look_for = f"a message batch of 4 requests created after every other, it may be any of {other}, msgbatch_fake_1"
    made = paid(api, api_type)
    caplog.clear()
    assert setup.run(*FAST) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith(f"{state}: ")
    assert look_for in errors[0] and "paid twice" in errors[0]
    assert paid(api, api_type) == made and state.read_text() == content
    assert len(api.openai_batches.uploads) == (api_type == "openai")
