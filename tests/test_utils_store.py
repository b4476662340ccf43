"""Tests of utils.py's storage and config layer: safe names, JSONL reading, the appender, configs.

Usage: python -m pytest tests/test_utils_store.py
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import utils

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- model file names


@pytest.mark.parametrize("name", [
    "gpt-4-0314",
    "meta-llama/Llama-3.1-8B-Instruct",
    "../../etc/passwd",
    "..",
    ".",
    "a\\b",
    "100%/real",
    "name with spaces",
    "ünïcødé/模型",
    "/absolute",
    "x\x00y",
])
def test_model_file_names_are_reversible_and_stay_in_their_folder(tmp_path, name):
    path = utils.model_file(tmp_path / "model_answer", name)
    assert path.parent == tmp_path / "model_answer"
    assert "/" not in path.name and "\\" not in path.name and "\x00" not in path.name
    assert path.name.removesuffix(".jsonl") not in ("", ".", "..")
    assert utils.model_from_filename(path) == name
    # Writing through it creates nothing outside the folder.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}\n")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [path]


def test_plain_names_keep_upstream_file_names():
    assert utils.model_to_filename("gpt-4-0314") == "gpt-4-0314.jsonl"
    assert utils.model_to_filename("claude-3.5_sonnet") == "claude-3.5_sonnet.jsonl"


@pytest.mark.parametrize("bad", ["", None])
def test_empty_model_name_is_refused(bad):
    with pytest.raises(ValueError):
        utils.model_to_filename(bad)


@pytest.mark.parametrize("bench", ["../x", "a/b", "..", ""])
def test_bench_name_cannot_leave_data(bench):
    with pytest.raises(utils.ConfigError):
        utils.bench_dir(bench)


# ---------------------------------------------------------------------------- reading JSONL


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def test_duplicate_ids_last_line_wins(tmp_path):
    f = write(tmp_path / "a.jsonl", '{"question_id": "q1", "v": 1}\n{"question_id": "q2", "v": 2}\n'
                                    '{"question_id": "q1", "v": 3}\n')
    records = utils.read_jsonl_by_id(f)
    assert list(records) == ["q1", "q2"]
    assert records["q1"]["v"] == 3


def test_torn_last_line_is_dropped_with_a_warning(tmp_path, caplog):
    f = write(tmp_path / "a.jsonl", '{"question_id": "q1"}\n{"question_id": "q2", "cho')
    records = utils.read_jsonl_by_id(f)
    assert list(records) == ["q1"]
    assert f"{f}:2" in caplog.text and "incomplete last line" in caplog.text


def test_bad_line_in_the_middle_is_an_error_naming_file_and_line(tmp_path):
    f = write(tmp_path / "a.jsonl", '{"question_id": "q1"}\nnot json\n{"question_id": "q3"}\n')
    with pytest.raises(utils.DataError, match=rf"{f}:2: invalid JSON"):
        utils.read_jsonl_by_id(f)


def test_bad_last_line_with_newline_is_an_error(tmp_path):
    # A complete line (newline written) that does not parse is not a torn write.
    f = write(tmp_path / "a.jsonl", '{"question_id": "q1"}\n{"question_id": \n')
    with pytest.raises(utils.DataError, match=r":2: invalid JSON"):
        utils.read_jsonl_by_id(f)


HOSTILE_LINES = {
    "deep": ('{"question_id": "q2", "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    "long int": ('{"question_id": "q2", "x": ' + "9" * 5000 + "}", "integer"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_LINES))
@pytest.mark.parametrize("last", [False, True])
def test_hostile_json_is_an_error_naming_file_and_line(tmp_path, kind, last):
    line, reason = HOSTILE_LINES[kind]
    tail = "\n" if last else '\n{"question_id": "q3"}\n'
    f = write(tmp_path / "a.jsonl", '{"question_id": "q1"}\n' + line + tail)
    with pytest.raises(utils.DataError) as e:
        utils.read_jsonl_by_id(f)
    message = str(e.value)
    assert message.startswith(f"{f}:2: invalid JSON (") and reason in message and "\n" not in message


@pytest.mark.parametrize("kind", sorted(HOSTILE_LINES))
def test_appender_cuts_a_hostile_torn_tail(tmp_path, kind):
    f = write(tmp_path / "a.jsonl", '{"question_id": "q1"}\n' + HOSTILE_LINES[kind][0][:-1])
    with utils.JsonlAppender(f) as appender:
        appender.append({"question_id": "q2"})
    assert list(utils.read_jsonl_by_id(f)) == ["q1", "q2"]


def test_missing_key_and_non_object_are_errors(tmp_path):
    f = write(tmp_path / "a.jsonl", '{"id": "q1"}\n')
    with pytest.raises(utils.DataError, match=r":1: missing key 'question_id'"):
        utils.read_jsonl_by_id(f)
    g = write(tmp_path / "b.jsonl", '{"question_id": "q1"}\n[1, 2]\n')
    with pytest.raises(utils.DataError, match=r":2: expected a JSON object"):
        utils.read_jsonl_by_id(g)


def test_blank_lines_and_crlf_are_tolerated(tmp_path):
    f = write(tmp_path / "a.jsonl", '{"question_id": "q1"}\r\n\n{"question_id": "q2"}\r\n')
    assert list(utils.read_jsonl_by_id(f)) == ["q1", "q2"]


# ---------------------------------------------------------------------------- orjson's fast path

DEEP_OBJECTS = b'{"a": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001  # past orjson 3.8's stack (a crash)
FILES = {
    "plain": b'{"a": 1, "b": [1.5, -0.0, 5e-324, "x\\u00e9\xc3\xa9"], "c": {"d": null}}\n{"e": true}\n',
    "blank and whitespace lines": b'\n{}\n  \r\n{"a": 1}\r\n\x0c\n\n{}',
    "empty": b"",
    "NaN and infinities": b'{"a": NaN}\n{"b": -Infinity}\n{"c": 1e400}\n',
    "lone surrogate escape": b'{"a": "\\ud800"}\n{"b": 1}\n',
    "encoded surrogate": b'{"a": "\xed\xa0\x80"}\n',
    "byte order mark": b'\xef\xbb\xbf{"a": 1}\n',
    "invalid UTF-8": b'{"a": 1}\n{"a": "\xff"}\n',
    "torn last line": b'{"a": 1}\n{"b": 2}\n{"c": 3',
    "whole last line without newline": b'{"a": 1}\n{"b": 2}',
    "not an object": b'{"a": 1}\n[1, 2]\n',
    "bad JSON": b'{"a": 1}\n{"b": \n{"c": 3}\n',
    "duplicate keys": b'{"a": 1, "b": 2, "a": 3}\n',
    "64-bit integers": b'{"a": 18446744073709551615, "b": -9223372036854775808, "c": -0}\n',
    "integers beyond 64 bits": b'{"a": 18446744073709551616, "b": -9223372036854775809, "c": 1' + b"0" * 30 + b"}\n",
    "integer beyond a float": b'{"a": 1' + b"0" * 400 + b"}\n",
    "integer past 4300 digits": b'{"a": ' + b"9" * 5000 + b"}\n",
    "nested 60 deep": b'{"a": ' + b"[" * 60 + b"]" * 60 + b"}\n",
    "nested 600 deep": b'{"a": ' + b"[" * 600 + b"]" * 600 + b"}\n",
    "nested 5000 deep": b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}\n",
    "nested 5000 deep in a long line": b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b', "b": "' + b"x" * 40_000 + b'"}\n',
    "objects nested 100000 deep": b'{"a": 1}\n' + DEEP_OBJECTS + b"\n",
    "a long line": b'{"a": "' + b"[{" * 30_000 + b'"}\n',
}


def read_outcome(path: Path, allow_torn_tail: bool, caplog) -> str:
    """What iter_jsonl yields (or the error it raises) and the warnings it logs."""
    caplog.clear()
    try:
        result = repr(list(utils.iter_jsonl(path, allow_torn_tail=allow_torn_tail)))
    except utils.DataError as e:
        result = f"DataError: {e}"
    return result + " | " + caplog.text


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("allow_torn_tail", [True, False])
def test_orjson_reads_as_json(tmp_path, monkeypatch, caplog, name, allow_torn_tail):
    """The same records (or error, naming the same line) and warnings with orjson as with json alone."""
    assert utils.fast_json_loads() is not None  # orjson comes with gradio: the fast path is tested
    path = tmp_path / "f.jsonl"
    path.write_bytes(FILES[name])
    fast = read_outcome(path, allow_torn_tail, caplog)
    monkeypatch.setattr(utils, "fast_json_loads", lambda: None)
    assert fast == read_outcome(path, allow_torn_tail, caplog)


@pytest.mark.parametrize("name, outcome", [
    ("integers beyond 64 bits", [(1, {"a": 1.8446744073709552e19, "b": -9.223372036854776e18, "c": 1e30})]),
    ("integer beyond a float", "f.jsonl:1: invalid JSON (integer too large for a number)"),
])
def test_integers_beyond_64_bits_are_read_as_orjson_reads_them(tmp_path, name, outcome):
    path = tmp_path / "f.jsonl"
    path.write_bytes(FILES[name])
    if isinstance(outcome, str):
        with pytest.raises(utils.DataError) as e:
            list(utils.iter_jsonl(path))
        assert str(e.value).endswith(outcome)
    else:
        assert list(utils.iter_jsonl(path)) == outcome


def test_ordinary_lines_are_read_by_orjson(tmp_path, monkeypatch):
    """json reads only the lines orjson refuses (here a NaN and a lone surrogate)."""
    path = tmp_path / "f.jsonl"
    lines = [json.dumps({"uid": str(i), "games": [{"score": "A>B", "text": "x" * 5000}, None]}) for i in range(50)]
    lines[10] = '{"a": NaN}'
    lines[20] = '{"a": "\\ud800"}'
    lines[30] = '{"a": ' + "[" * 100 + "]" * 100 + "}"  # nested, within both readers' limits
    path.write_text("\n".join(lines) + "\n")
    parsed = []
    json_loads = json.loads
    monkeypatch.setattr(utils.json, "loads", lambda raw, **kw: parsed.append(raw) or json_loads(raw, **kw))
    assert len(list(utils.iter_jsonl(path))) == 50
    assert parsed == [lines[10].encode(), lines[20].encode()]


def test_model_files_in_a_folder_map_back_to_model_names(tmp_path):
    d = tmp_path / "model_answer"
    d.mkdir()
    for name in ("gpt-4-0314", "org/model"):
        utils.model_file(d, name).write_text(json.dumps({"question_id": "q1", "choices": []}) + "\n")
    # as show_result.py and qa_browser.py list the models of a folder
    assert sorted(utils.model_from_filename(path) for path in d.glob("*.jsonl")) == ["gpt-4-0314", "org/model"]


# ---------------------------------------------------------------------------- writing JSONL


def test_appender_writes_whole_lines_from_many_threads(tmp_path):
    path = tmp_path / "out.jsonl"
    payload = "x" * 5000  # larger than a pipe buffer's atomic size, to catch interleaving
    with utils.JsonlAppender(path) as out:
        def work(t: int) -> None:
            for i in range(200):
                out.append({"question_id": f"{t}-{i}", "text": payload})

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    records = [json.loads(line) for line in lines[:-1]]
    assert len(records) == 1600
    assert len({r["question_id"] for r in records}) == 1600


def test_appender_cuts_a_torn_tail_before_appending(tmp_path, caplog):
    path = write(tmp_path / "out.jsonl", '{"question_id": "q1"}\n{"question_id": "q2", "tr')
    with utils.JsonlAppender(path) as out:
        out.append({"question_id": "q3"})
    assert path.read_text() == '{"question_id": "q1"}\n{"question_id": "q3"}\n'
    assert "incomplete last line" in caplog.text


def test_writers_drop_lone_surrogates_with_a_warning(tmp_path, caplog):
    # json.loads accepts "\\ud800" (valid JSON); UTF-8 cannot hold it. A pair stays whole.
    record = json.loads('{"question_id": "q1", "text": "a\\ud800b\\udc00c \\ud83d\\ude00"}')
    assert utils.dumps_line(record) == '{"question_id": "q1", "text": "abc 😀"}\n'.encode()
    assert "question q1: 2 lone UTF-16 surrogates dropped" in caplog.text
    path = tmp_path / "out.jsonl"
    with utils.JsonlAppender(path) as out:
        out.append(record)
    utils.write_jsonl_atomic(tmp_path / "atomic.jsonl", [record, {"question_id": "q2"}])
    assert [r["text"] for _, r in utils.iter_jsonl(path)] == ["abc 😀"]
    assert [r["question_id"] for _, r in utils.iter_jsonl(tmp_path / "atomic.jsonl")] == ["q1", "q2"]


def test_appender_keeps_non_ascii_as_is(tmp_path):
    path = tmp_path / "out.jsonl"
    with utils.JsonlAppender(path) as out:
        out.append({"question_id": "q", "text": "héllo 世界"})
    assert "héllo 世界" in path.read_text(encoding="utf-8")


WRITER_LINES = 3000  # at most 4.5 MB; a kill right after STARTED lands long before the end
WRITER = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, sys.argv[1])
    import utils
    out = utils.JsonlAppender(sys.argv[2])
    for i in range({WRITER_LINES}):
        out.append({{"question_id": f"q{{i}}", "i": i, "text": "y" * (i % 7000)}})
        if i == 50:
            print("STARTED", flush=True)
""")


def test_sigkill_during_appends_loses_no_completed_line(tmp_path):
    path = tmp_path / "killed.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(REPO), str(path)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"STARTED"
    os.kill(proc.pid, signal.SIGKILL)  # while it writes; what follows holds even if it had finished
    proc.wait()
    proc.stdout.close()
    data = path.read_bytes()
    complete, _, _torn = data.rpartition(b"\n")
    lines = complete.split(b"\n")
    assert 50 < len(lines) <= WRITER_LINES
    for n, line in enumerate(lines):  # every completed line is intact and in order
        record = json.loads(line)
        assert record["i"] == n and record["text"] == "y" * (n % 7000)
    # The reader accepts the file as it is (a torn tail, if any, is dropped) ...
    records = utils.read_jsonl_by_id(path)
    assert len(records) == len(lines)
    # ... and a new appender continues it cleanly.
    with utils.JsonlAppender(path) as out:
        out.append({"question_id": "after", "i": -1, "text": ""})
    strict = list(utils.iter_jsonl(path, allow_torn_tail=False))  # no torn bytes left anywhere
    assert len(strict) == len(lines) + 1 and strict[-1][1]["question_id"] == "after"


def test_claiming_a_file_removes_the_temporary_files_a_killed_run_left_for_it(tmp_path, caplog):
    answers = tmp_path / "model.jsonl"
    stale = [tmp_path / "model.jsonl.k3x_9ab2.tmp", tmp_path / "model.jsonl.batches.json.0a1b2c3d.tmp"]
    kept = [tmp_path / "model.jsonl.notes.tmp", tmp_path / "other.jsonl.k3x_9ab2.tmp",
            tmp_path / "model.jsonl.k3x_9ab.tmp", tmp_path / "xmodel.jsonl.k3x_9ab2.tmp"]
    for path in stale + kept:
        path.write_text("partial")
    with caplog.at_level(logging.INFO), utils.claim_output(answers):
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [p.name for p in kept] + ["model.jsonl.lock"])
    assert f"{answers}: removed 2 temporary files left by an interrupted run" in caplog.text


def test_temporary_files_of_a_file_another_run_holds_are_left_alone(tmp_path):
    answers = tmp_path / "model.jsonl"
    in_use = tmp_path / "model.jsonl.k3x_9ab2.tmp"
    with utils.claim_output(answers):
        in_use.write_text("being written")
        with pytest.raises(utils.OutputError):
            with utils.claim_output(answers):
                pass
        assert in_use.exists()


def test_a_lock_file_planted_as_a_link_is_not_followed(tmp_path):
    """Whoever can write in the data folder cannot make a run truncate another file through the
    lock it takes."""
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    answers = tmp_path / "model.jsonl"
    (tmp_path / "model.jsonl.lock").symlink_to(victim)
    with pytest.raises(utils.OutputError, match=r"model.jsonl.lock: cannot write: "):
        with utils.claim_output(answers):
            pass
    assert victim.read_text() == "keep me\n"


def test_write_jsonl_atomic_replaces_whole_file_and_keeps_old_on_error(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"question_id": "old"}\n')

    def records():
        yield {"question_id": "new1"}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        utils.write_jsonl_atomic(path, records())
    assert path.read_text() == '{"question_id": "old"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["a.jsonl"]  # no temporary left behind
    utils.write_jsonl_atomic(path, [{"question_id": "n1"}, {"question_id": "n2"}])
    assert list(utils.read_jsonl_by_id(path)) == ["n1", "n2"]


# ---------------------------------------------------------------------------- config files


def write_yaml(tmp_path: Path, text: str, name: str = "api_config.yaml") -> Path:
    return write(tmp_path / name, textwrap.dedent(text))


def test_bad_yaml_names_file_and_line(tmp_path):
    f = write_yaml(tmp_path, "a: 1\nb: [unclosed\nc: 2\n")
    with pytest.raises(utils.ConfigError, match=rf"^{f}:\d+: invalid YAML"):
        utils.load_yaml(f)


def test_missing_config_file(tmp_path):
    with pytest.raises(utils.ConfigError, match="file not found"):
        utils.load_yaml(tmp_path / "nope.yaml")


@pytest.mark.parametrize("entry, message", [
    ("m:\n  api_type: openai\n", r"m: missing model_name"),
    ("m:\n  model_name: x\n  api_type: bard\n", r"m.api_type: unknown api_type 'bard'"),
    ("m:\n  model_name: x\n  api_type: [openai]\n", r"m.api_type: unknown api_type \['openai'\]"),
    ("m:\n  model_name: x\n  endpoints: {api_base: y}\n", r"m.endpoints: expected null or a non-empty list"),
    ("m:\n  model_name: x\n  parallel: 0\n", r"m.parallel: expected an integer from 1 to 1024, got 0"),
    ("m:\n  model_name: x\n  parallel: many\n", r"m.parallel: expected an integer from 1 to 1024"),
    ("m:\n  model_name: x\n  api_type: azure\n  endpoints: [{api_base: y}]\n", r"azure needs api_base and api_version"),
    ("m: just a string\n", r"m: expected a mapping"),
])
def test_api_config_errors_name_file_and_key(tmp_path, entry, message):
    f = write_yaml(tmp_path, entry)
    with pytest.raises(utils.ConfigError, match=message) as info:
        utils.load_api_config(f)
    assert str(info.value).startswith(str(f))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("key, value", [
    ("timeout", ".nan"), ("timeout", ".inf"), ("timeout", "0"), ("timeout", "-5"), ("timeout", "1e300"),
    ("retry_base_delay", ".inf"), ("retry_base_delay", ".nan"), ("retry_base_delay", "0"),
    ("retry_max_delay", ".inf"), ("retry_max_delay", "-.inf"), ("retry_max_delay", "1.0e+9"),
    ("timeout", "true"), ("timeout", "'10'"),
    ("max_retries", "-1"), ("max_retries", "2.5"), ("max_retries", "101"), ("max_retries", ".inf"),
    ("parallel", "1025"), ("parallel", "2.5"), ("parallel", "true"), ("parallel", ".nan"),
])
def test_api_config_numbers_out_of_range_are_errors_at_start(tmp_path, key, value):
    # .inf used to crash at the first retry and .nan to fail every call, after paying for some
    f = write_yaml(tmp_path, f"m:\n  model_name: x\n  {key}: {value}\n")
    with pytest.raises(utils.ConfigError, match=rf"^{f}: m.{key}: expected ") as info:
        utils.load_api_config(f)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, line, key", [
    ("m:\n  model_name: a\nn:\n  model_name: b\nm:\n  model_name: c\n", 5, "'m'"),  # a model twice
    ("m:\n  model_name: a\n  parallel: 2\n  parallel: 8\n", 4, "'parallel'"),  # a setting twice
    ("m: {model_name: a, model_name: b}\n", 1, "'model_name'"),  # in a flow mapping
    ("m:\n  model_name: a\n  endpoints:\n    - {api_base: x, api_key: k, api_key: j}\n", 4, "'api_key'"),
])
def test_duplicate_yaml_keys_are_errors_naming_file_line_and_key(tmp_path, text, line, key):
    f = write_yaml(tmp_path, text)
    with pytest.raises(utils.ConfigError, match=rf"^{f}:{line}: invalid YAML: duplicate key {key}"):
        utils.load_api_config(f)


def test_yaml_merge_keys_may_still_be_overridden(tmp_path):
    f = write_yaml(tmp_path, "base: &b {model_name: x, parallel: 2}\nm:\n  <<: *b\n  parallel: 4\n")
    assert utils.load_yaml(f)["m"] == {"model_name": "x", "parallel": 4}


def test_api_config_defaults_and_overrides(tmp_path):
    f = write_yaml(tmp_path, """
        a:
          model_name: a-api
          endpoints: null
          api_type: openai
        b:
          model_name: b-api
          api_type: anthropic
          parallel: 4
          timeout: 5
          max_retries: 2
          retry_base_delay: 0.5
          retry_max_delay: 3
          endpoints:
            - {api_base: "http://h/v1", api_key: k, api_version: 2024-06-01}
    """)
    config = utils.load_api_config(f)
    assert config["a"].endpoints == (utils.Endpoint(),) and config["a"].parallel == 1
    assert config["a"].retry == utils.RetryPolicy()
    b = config["b"]
    assert (b.parallel, b.timeout) == (4, 5.0)
    assert b.retry == utils.RetryPolicy(max_retries=2, base_delay=0.5, max_delay=3.0)
    assert b.endpoints[0].api_version == "2024-06-01"  # a date in YAML, a string here


def test_env_keys_are_resolved_only_for_used_models_and_never_shown(tmp_path, monkeypatch):
    f = write_yaml(tmp_path, """
        used: {model_name: u, api_type: openai, endpoints: [{api_base: "http://h", api_key: "${TEST_KEY_USED}"}]}
        unused: {model_name: v, api_type: openai, endpoints: [{api_base: "http://h", api_key: "${TEST_KEY_UNSET}"}]}
    """)
    monkeypatch.setenv("TEST_KEY_USED", "sk-secret-123")
    monkeypatch.delenv("TEST_KEY_UNSET", raising=False)
    config = utils.load_api_config(f)  # loading never needs the variables
    [used] = utils.require_models(config, ["used"], f, "gen.yaml: model_list")
    assert used.endpoints[0].api_key == "sk-secret-123"
    assert "sk-secret" not in repr(used)  # keys never appear in a repr (and so in logs)
    with pytest.raises(utils.ConfigError, match=r"unused.endpoints\[0\].api_key: environment variable TEST_KEY_UNSET is not set"):
        utils.require_models(config, ["unused"], f, "gen.yaml: model_list")
    monkeypatch.setenv("TEST_KEY_UNSET", " ")
    with pytest.raises(utils.ConfigError, match=r"unused.endpoints\[0\].api_key: environment variable TEST_KEY_UNSET is empty$"):
        utils.require_models(config, ["unused"], f, "gen.yaml: model_list")
    with pytest.raises(utils.ConfigError, match=r"^gen.yaml: model_list: model 'ghost' has no entry in"):
        utils.require_models(config, ["ghost"], f, "gen.yaml: model_list")


@pytest.mark.parametrize("api_type, base, refused", [
    ("openai", "http://localhost:8000/v1", True),  # a vLLM server: OPENAI_API_KEY is not its
    ("openai", "${TEST_SERVER_BASE}", True),  # judged once the variable is read
    ("anthropic", "https://claude-proxy.example.com", True),
    ("openai", "https://api.openai.com/v1", False),  # the key's own API
    ("anthropic", "https://api.anthropic.com/", False),
])
def test_an_endpoint_of_another_server_needs_its_own_key(tmp_path, monkeypatch, fresh_clients, api_type, base,
                                                         refused):
    """Without an api_key the SDK sends the provider's key (OPENAI_API_KEY, ...) to any api_base."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-real-key")
    monkeypatch.setenv("TEST_SERVER_BASE", "http://10.0.0.7:8000/v1")
    f = write_yaml(tmp_path, f"m: {{model_name: x, api_type: {api_type}, endpoints: [{{api_base: \"{base}\"}}]}}")
    config = utils.load_api_config(f)
    if not refused:
        assert utils.require_models(config, ["m"], f, "gen.yaml")[0].endpoints[0].api_key is None
        return
    with pytest.raises(utils.ConfigError) as error:
        utils.require_models(config, ["m"], f, "gen.yaml")
    variable = "OPENAI_API_KEY" if api_type == "openai" else "ANTHROPIC_API_KEY"
    assert str(error.value).startswith(f"{f}: m.endpoints[0].api_key: needed with api_base ")
    assert f"the SDK would send it {variable}" in str(error.value) and "api_key: EMPTY" in str(error.value)
    assert "sk-real" not in str(error.value)


def test_a_misspelt_endpoint_key_is_named(tmp_path, caplog):
    f = write_yaml(tmp_path, 'm: {model_name: x, endpoints: [{api_base: "http://h/v1", apikey: "sk-abcdef"}]}')
    utils.load_api_config(f)
    assert f"{f}: m.endpoints[0]: unknown key(s) ignored: apikey (an endpoint takes api_base, api_key, " \
           "api_version)" in caplog.text
    assert "sk-abcdef" not in caplog.text


def test_shipped_configs_load():
    config = utils.load_api_config(REPO / "config" / "api_config.yaml")
    assert config["gpt-4-0314"].api_type == "openai"
    assert config["meta-llama/Llama-3.1-8B-Instruct"].endpoints[0].api_base == "http://localhost:8000/v1"


# ---------------------------------------------------------------------------- worker pool


def test_run_pool_yields_every_result_once():
    items = list(range(100))
    results = dict(utils.run_pool(lambda x: x * x, items, parallel=8, progress=False))
    assert results == {x: x * x for x in items}


def test_run_pool_runs_in_parallel():
    # every call waits until all 16 are running at once; run fewer at a time and the barrier breaks
    barrier = threading.Barrier(16, timeout=30)
    results = dict(utils.run_pool(lambda x: (barrier.wait(), x)[1], range(16), parallel=16, progress=False))
    assert results == {x: x for x in range(16)}


def test_run_pool_reraises_worker_errors():
    def fn(x: int) -> int:
        if x == 3:
            raise ValueError("bad item")
        return x

    with pytest.raises(ValueError, match="bad item"):
        list(utils.run_pool(fn, range(10), parallel=2, progress=False))


def test_run_pool_stops_starting_items_when_the_consumer_stops():
    started = []
    release = threading.Event()

    def fn(x: int) -> int:
        started.append(x)
        if x != 0:  # item 0 comes back at once; every other call waits until the consumer stopped
            release.wait(30)
        return x

    threads_before = set(threading.enumerate())
    gen = utils.run_pool(fn, range(1000), parallel=2, progress=False)
    assert next(gen) == (0, 0)
    workers = set(threading.enumerate()) - threads_before
    assert len(workers) == 2
    gen.close()
    started_at_close = len(started)
    release.set()
    for worker in workers:  # each finishes what it holds and starts nothing new
        worker.join(30)
        assert not worker.is_alive()
    assert started_at_close <= 3  # item 0 and at most one waiting call per worker
    assert len(started) - started_at_close <= 2  # at most one late start per worker
    assert sorted(started) == list(range(len(started)))  # items are started in order, none twice


def test_run_pool_with_no_items():
    assert list(utils.run_pool(lambda x: x, [], parallel=4, progress=False)) == []


def test_drop_superseded_lines_keeps_the_last_record_per_id(tmp_path):
    path = write(tmp_path / "j.jsonl", '{"question_id": "q1", "v": 1}\n{"question_id": "q2", "v": 2}\n'
                                       '{"question_id": "q1", "v": 3}\n')
    assert utils.drop_superseded_lines(path) is True
    assert [(r["question_id"], r["v"]) for _, r in utils.iter_jsonl(path)] == [("q1", 3), ("q2", 2)]
    assert utils.drop_superseded_lines(path) is False  # nothing left to drop: file untouched


@pytest.mark.parametrize("record, complete", [
    ({"games": [{"judgment": "ok [[A>B]]", "score": "A>B"}, {"judgment": "fine", "score": None}]}, True),
    ({"games": [{"judgment": "$ERROR$", "score": None}, {"judgment": "ok", "score": "A=B"}]}, False),
    ({"games": [{"judgment": "\n$ERROR$", "score": None}]}, False),
    ({"games": [{"judgment": "\nThe shell prints $ERROR$ here. [[A>B]]", "score": "A>B"}]}, True),
    ({"games": [{"judgment": "\n$ERROR$\n[[B>A]]", "score": "B>A"}]}, True),
    ({"games": [{"judgment": "\nno label, $ERROR$ quoted", "score": None}]}, True),
    ({"games": []}, False),
    ({"games": None}, False),
])
def test_is_complete_judgment(record, complete):
    assert utils.is_complete_judgment(record) is complete


def test_upstream_style_names_are_kept(tmp_path):
    for name in ("llama3:8b", "claude-3-5-sonnet@20240620", "a b+c"):
        assert utils.model_to_filename(name) == name + ".jsonl"
    assert utils.judgment_dir("bench", "..", tmp_path).parent == tmp_path / "bench" / "model_judgment"


def test_appender_keeps_a_whole_record_that_lacks_its_newline(tmp_path):
    path = write(tmp_path / "out.jsonl", '{"question_id": "q1"}\n{"question_id": "q2"}')
    with utils.JsonlAppender(path) as out:
        out.append({"question_id": "q3"})
    assert list(utils.read_jsonl_by_id(path)) == ["q1", "q2", "q3"]


def test_atomic_rewrite_keeps_permissions(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"question_id": "q"}\n')
    path.chmod(0o640)
    utils.write_jsonl_atomic(path, [{"question_id": "r"}])
    assert path.stat().st_mode & 0o777 == 0o640
    fresh = tmp_path / "new.jsonl"
    utils.write_jsonl_atomic(fresh, [{"question_id": "r"}])
    umask = os.umask(0o022)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("text, message", [
    ('{"turns": [{"content": "x"}]}\n', r":1: missing key 'question_id'"),
    ('{"question_id": "a", "turns": [{"content": "x"}]}\n{"question_id": "b", "turns": "hello"}\n',
     r":2: 'turns' must be a non-empty list"),
    ('{"question_id": "a", "turns": []}\n', r":1: 'turns' must be a non-empty list"),
    ('{"question_id": "a", "turns": [{"text": "x"}]}\n', r":1: 'turns' must be a non-empty list"),
    # a second line with an id already used, same text or not, would replace the first
    ('{"question_id": "a", "turns": [{"content": "x"}]}\n{"question_id": "b", "turns": [{"content": "y"}]}\n'
     '{"question_id": "a", "turns": [{"content": "z"}]}\n', r':3: question_id "a" already on line 1'),
    ('{"question_id": null, "turns": [{"content": "x"}]}\n\n{"question_id": null, "turns": [{"content": "x"}]}\n',
     r":3: question_id null already on line 1"),
    # no script writes the question file: an unterminated bad last line is not an interrupted write
    ('{"question_id": "a", "turns": [{"content": "x"}]}\n{"question_id": "b", "tur', r":2: invalid JSON"),
    (b'{"question_id": "a", "turns": [{"content": "x"}]}\n{"question_id": "b", "turns": [{"content": "\xff"}]}',
     r":2: invalid JSON"),  # a bad byte
    ("", r"question.jsonl: no questions"),
    ("\n  \n", r"question.jsonl: no questions"),
])
def test_bad_questions_are_errors_naming_file_and_line(tmp_path, text, message):
    f = tmp_path / "question.jsonl"
    f.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    with pytest.raises(utils.DataError, match=message):
        utils.load_questions(f)


def test_config_that_is_not_utf8_or_not_a_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(utils.ConfigError, match=r"bad.yaml: not UTF-8"):
        utils.load_yaml(f)
    with pytest.raises(utils.ConfigError, match=r"cannot read"):
        utils.load_yaml(tmp_path)


@pytest.mark.parametrize("answer, complete", [
    ({"choices": [{"index": 0, "turns": [{"content": None}]}]}, False),
    ({"choices": [{"index": 0, "turns": [{"token_len": 3}]}]}, False),
    ({"choices": [{"index": 0, "turns": [{"content": ""}]}]}, False),
])
def test_answer_turns_need_text(answer, complete):
    assert utils.is_complete_answer(answer) is complete


def test_an_orjson_without_a_nesting_limit_is_not_used(monkeypatch):
    """orjson before 3.10 recursed without a limit (a deep line crashed the process): json reads."""
    import types

    import orjson

    unlimited = types.SimpleNamespace(loads=lambda data: [], JSONDecodeError=orjson.JSONDecodeError, __version__="3.8.3")
    monkeypatch.setitem(sys.modules, "orjson", unlimited)
    utils.fast_json_loads.cache_clear()
    try:
        assert utils.fast_json_loads() is None
    finally:
        monkeypatch.undo()
        utils.fast_json_loads.cache_clear()
    assert utils.fast_json_loads() is orjson.loads
