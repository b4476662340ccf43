"""Tests of add_markdown_info.py and its counts (utils): tokens against upstream data, markdown, the CLI.

Usage: python -m pytest tests/test_add_markdown_info.py
"""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import add_markdown_info as amd
import utils
from conftest import write_jsonl

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def real_answer_files(shared_data: Path) -> list[Path]:
    """Upstream's published answer files (with upstream's token_len)."""
    files = sorted((shared_data / "arena-hard-v0.1" / "model_answer").glob("*.jsonl"))
    assert files, f"no upstream answer files in {shared_data / 'arena-hard-v0.1' / 'model_answer'}"
    return files


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def answer(content: str, question_id: str = "q1", **extra) -> dict:
    return {"question_id": question_id, "answer_id": "a-" + question_id, "model_id": "m",
            "choices": [{"index": 0, "turns": [{"content": content}]}], "tstamp": 1.5, **extra}


def upstream_counts(text: str) -> dict:
    """Upstream's counting as written there (six header regexes), the oracle for markdown_counts."""
    for block in re.compile("```([^`]*)```").findall(text):
        text = text.replace(block, "")
    return {
        "header_count": {f"h{n}": len(re.findall(rf"^#{{{n}}}\s", text, re.MULTILINE)) for n in range(1, 7)},
        "list_count": {
            "ordered": len(re.findall(r"^\s*\d+\.\s", text, re.MULTILINE)),
            "unordered": len(re.findall(r"^\s*[-*+]\s", text, re.MULTILINE)),
        },
        "bold_count": {
            "**": len(re.findall(r"\*\*[^*\n]+\*\*", text)),
            "__": len(re.findall(r"__[^_\n]+__", text)),
        },
    }


# ------------------------------------------------------------------------------ token counts


def test_token_len_matches_upstream_for_every_real_answer(real_answer_files):
    mismatches = []
    total = 0
    for path in real_answer_files:
        for record in read_lines(path):
            turn = record["choices"][0]["turns"][0]
            total += 1
            if utils.count_tokens(turn["content"]) != turn["token_len"]:
                mismatches.append(f"{path.name}:{record['question_id']}")
    assert total == 1500
    assert mismatches == []


@pytest.mark.parametrize("text, expected", [
    ("", 0),
    ("hello world", 2),
    # Special-token strings are plain text: never the single special token, never an error.
    ("<|endoftext|>", 7),  # < | endo ft ext | >
    ("a <|endoftext|> b <|im_start|>", 13),  # a, " <|", endo ft ext | >, " b", " <|", im _start | >
])
def test_count_tokens(text, expected):
    assert utils.count_tokens(text) == expected
    assert utils.count_tokens(text) == len(utils.get_encoding().encode_ordinary(text))


# ------------------------------------------------------------------------------ markdown counts

def case(text: str, id: str, headers: tuple = (0,) * 6, lists: tuple = (0, 0), bold: tuple = (0, 0)):
    """A text and its counts, zero unless given: headers (h1..h6), lists (ordered, unordered),
    bold (**, __)."""
    return pytest.param(text, headers, lists, bold, id=id)


# Upstream's numbers, worked out by hand from its regexes. ^ matches after "\n" only; \s also
# matches "\r" and "\n".
MARKDOWN_CASES = [
    case("Just a sentence.", id="plain"),
    case("# A\n## B\n### C\n#### D\n##### E\n###### F\n####### seven\n",
         headers=(1, 1, 1, 1, 1, 1), id="h1-h6, seven hashes not a header"),
    case("##no space\n#hashtag and #another\n ## indented\n", id="no space, hashtag, indented"),
    case("#\n##\tTab\n", headers=(1, 1, 0, 0, 0, 0), id="bare hash then newline, tab"),
    case("1. First\n   - nested a\n   - nested b\n     * deeper\n2. Second\n"
         "   1. sub one\n   2. sub two\n+ plus item\n",
         lists=(4, 4), id="nested lists"),
    case("# Real header\n\n```python\n# comment looks like header\n## another\nprint(1)\n```\n\n"
         "## After code\n",
         headers=(1, 1, 0, 0, 0, 0), id="headers inside a code fence"),
    # Fence content "\n- item\n" is removed everywhere: the list item after the fence goes too.
    case("- item\n```\n- item\n```\n- item\n", lists=(0, 1), id="quirk: same text outside the fence removed"),
    case("Say **x** twice: ```**x**```", id="quirk: inline fence removes the bold outside it"),
    # An empty fence's content is "\n": every newline goes and the text becomes one line.
    case("# Title\n```\n```\n## Sub\n- item\n",
         headers=(1, 0, 0, 0, 0, 0), id="quirk: empty fence removes all newlines"),
    # A backtick inside the first block stops it matching; the pattern then pairs its closing
    # fence with the next opening one and removes the header between them.
    case("```\nuse `x`\n```\n# Header\n```\ncode\n- a\n```\n",
         lists=(0, 1), id="quirk: backtick in a block pairs the wrong fences"),
    case("**bold\nacross** lines and __also\nthis__\n", id="bold across lines not counted"),
    case("* item one\n* **bold item**\n**Bold line**\n*italic*\n"
         "- **a** and **b**\n***both***\n****\n",
         lists=(0, 3), bold=(5, 0), id="star bullets vs bold"),
    case("Call `__init__` and __main__ then __bold text__\nsnake_case_name\n",
         bold=(0, 3), id="underscore bold, dunder names count"),
    case("#hashtag at the start\n1.5 kg of flour\n2.5. Odd\n3) paren\n10. Ten\n 7.\tTabbed\n"
         "Version 1. two\n",
         lists=(2, 0), id="hashtag and numbered-looking lines"),
    case("# Title\r\n\r\n## Sub\r\n1. one\r\n2.\r\n- a\r\n-\r\n**b**\r\n#\r\n",
         headers=(2, 1, 0, 0, 0, 0), lists=(2, 2), bold=(1, 0), id="CRLF line ends"),
    # \s* runs over blank lines, but each item is still found once.
    case("Intro\n\n\n   - spaced item\n\n1. after blank\n", lists=(1, 1), id="blank lines before items"),
    case("- - -\n---\n***\n+ \n", lists=(0, 2), id="rules and bare bullets"),
]


@pytest.mark.parametrize("text, headers, lists, bold", MARKDOWN_CASES)
def test_markdown_counts(text, headers, lists, bold):
    expected = {
        "header_count": dict(zip(["h1", "h2", "h3", "h4", "h5", "h6"], headers)),
        "list_count": {"ordered": lists[0], "unordered": lists[1]},
        "bold_count": {"**": bold[0], "__": bold[1]},
    }
    assert utils.markdown_counts(text) == expected
    assert upstream_counts(text) == expected


def test_markdown_counts_match_upstream_code_on_real_answers(real_answer_files):
    differing = []
    for path in real_answer_files:
        for record in read_lines(path):
            text = record["choices"][0]["turns"][0]["content"]
            if utils.markdown_counts(text) != upstream_counts(text):
                differing.append(f"{path.name}:{record['question_id']}")
    assert differing == []


def test_conv_metadata_shape_and_key_order():
    text = "## Plan\n\n1. **Read** the data\n2. Count tokens\n\n```python\n# not a header\n```\n"
    meta = utils.conv_metadata(answer(text))
    assert list(meta) == ["token_len", "header_count", "list_count", "bold_count"]
    assert meta["token_len"] == utils.count_tokens(text)  # the original text, code included
    assert meta["header_count"] == {"h1": 0, "h2": 1, "h3": 0, "h4": 0, "h5": 0, "h6": 0}
    assert meta["list_count"] == {"ordered": 2, "unordered": 0}
    assert meta["bold_count"] == {"**": 1, "__": 0}


def test_conv_metadata_uses_first_turn_of_first_choice():
    record = answer("# one")
    record["choices"][0]["turns"].append({"content": "# two\n## three\n"})
    record["choices"].append({"index": 1, "turns": [{"content": "## other choice\n"}]})
    meta = utils.conv_metadata(record)
    assert meta["token_len"] == utils.count_tokens("# one")
    assert meta["header_count"] == {"h1": 1, "h2": 0, "h3": 0, "h4": 0, "h5": 0, "h6": 0}


@pytest.mark.parametrize("record, message", [
    ({"question_id": "q"}, "no choices"),
    ({"question_id": "q", "choices": []}, "no choices"),
    ({"question_id": "q", "choices": [{"index": 0, "turns": []}]}, "no turns"),
    ({"question_id": "q", "choices": [{"index": 0}]}, "no turns"),
    ({"question_id": "q", "choices": [{"index": 0, "turns": [{"content": None}]}]}, "no text content"),
])
def test_conv_metadata_rejects_answers_without_text(record, message):
    with pytest.raises(ValueError, match=message):
        utils.conv_metadata(record)


# ------------------------------------------------------------------------------ command line


def test_cli_writes_to_another_dir_keeping_fields_and_order(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    records = [
        answer("# B\n- x\n", "qb", extra_field={"kept": [1, 2]}),
        answer("**a**", "qa"),
        answer("**a** again", "qa"),  # duplicated id: both lines stay, in order
        answer("Text <|endoftext|> more <|im_start|>", "qs"),
    ]
    write_jsonl(src / "m1.jsonl", records)
    write_jsonl(src / "m2.jsonl", records[:1])
    (src / "notes.txt").write_text("not an answer file")
    before = (src / "m1.jsonl").read_bytes()

    assert amd.main(["--dir", str(src), "--output-dir", str(out), "--workers", "1"]) == 0

    assert (src / "m1.jsonl").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["m1.jsonl", "m2.jsonl"]
    written = read_lines(out / "m1.jsonl")
    assert len(written) == len(records)
    for original, new in zip(records, written):
        assert list(new) == list(original) + ["conv_metadata"]
        assert {k: v for k, v in new.items() if k != "conv_metadata"} == original
        assert new["conv_metadata"] == utils.conv_metadata(original)
    assert [r["question_id"] for r in written] == ["qb", "qa", "qa", "qs"]
    assert written[0]["conv_metadata"]["header_count"]["h1"] == 1
    assert written[1]["conv_metadata"]["bold_count"]["**"] == 1
    assert written[3]["conv_metadata"]["token_len"] == 13  # special tokens counted as text


def test_cli_in_place_is_atomic_and_idempotent(tmp_path):
    path = tmp_path / "model.jsonl"
    stale = answer("## Head\n1. item\n", "q2")
    stale = {"conv_metadata": {"token_len": 999}, **stale}  # old value, first key
    write_jsonl(path, [answer("# Hi", "q1"), stale])

    assert amd.main(["--dir", str(tmp_path), "--output-dir", str(tmp_path)]) == 0
    first = path.read_bytes()
    written = read_lines(path)
    assert [r["question_id"] for r in written] == ["q1", "q2"]
    assert list(written[1])[0] == "conv_metadata"  # replaced where it was
    assert written[1]["conv_metadata"] == utils.conv_metadata(answer("## Head\n1. item\n"))
    assert [p.name for p in tmp_path.iterdir()] == ["model.jsonl"]  # no temporary file left

    assert amd.main(["--dir", str(tmp_path), "--output-dir", str(tmp_path)]) == 0
    assert path.read_bytes() == first


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_file_another_run_writes_is_left_alone_and_nothing_it_appends_is_lost(tmp_path, caplog, workers):
    """gen_answer holds the answer file it appends to: rewriting it meanwhile would move the file
    from under its open descriptor and lose every answer appended after (paid for)."""
    busy, other = tmp_path / "busy.jsonl", tmp_path / "other.jsonl"
    write_jsonl(busy, [answer("# one", "q1")])
    write_jsonl(other, [answer("# two", "q1")])
    with utils.claim_output(busy), utils.JsonlAppender(busy) as appender:  # as a gen_answer run holds it
        with caplog.at_level(logging.ERROR):
            assert amd.main(["--dir", str(tmp_path), "--workers", workers]) == 1
        appender.append(answer("# late", "q2"))
    assert [r["question_id"] for r in read_lines(busy)] == ["q1", "q2"]
    assert "conv_metadata" not in read_lines(busy)[0]
    assert read_lines(other)[0]["conv_metadata"]["header_count"]["h1"] == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"{busy}: another run (pid {os.getpid()}) is writing this file; wait for it to end, "
                      "or stop it"]


def test_cli_with_a_process_pool(tmp_path):
    out = tmp_path / "out"
    for i in range(3):
        write_jsonl(tmp_path / f"m{i}.jsonl", [answer(f"# {i}\n" * (i + 1), f"q{j}") for j in range(5)])
    assert amd.main(["--dir", str(tmp_path), "--output-dir", str(out), "--workers", "2"]) == 0
    for i in range(3):
        written = read_lines(out / f"m{i}.jsonl")
        assert [r["conv_metadata"]["header_count"]["h1"] for r in written] == [i + 1] * 5


def test_cli_on_real_answers_reproduces_upstream_token_len(tmp_path, real_answer_files):
    files = real_answer_files
    out = tmp_path / "out"
    assert amd.main(["--dir", str(files[0].parent), "--output-dir", str(out), "--workers", "1"]) == 0
    for path in files:
        original, written = read_lines(path), read_lines(out / path.name)
        assert [{k: v for k, v in r.items() if k != "conv_metadata"} for r in written] == original
        assert [r["conv_metadata"]["token_len"] for r in written] == \
            [r["choices"][0]["turns"][0]["token_len"] for r in original]


BAD_FILES = [
    pytest.param('{"question_id": "q0", "choices": [{"index": 0, "turns": [{"content": "x"}]}]}\n'
                 '{"question_id": "q1", "choices": [\n', 2, "invalid JSON", id="broken JSON line"),
    pytest.param('{"question_id": "q0", "choices": [{"index": 0, "turns": [{"content": "x"}]}]}\n'
                 '\n[1, 2]\n', 3, "expected a JSON object", id="not an object"),
    pytest.param('{"question_id": "q0", "choices": [{"index": 0, "turns": [{"content": "x"}]}]}\n'
                 '{"question_id": "q1", "choices": [{"index": 0, "turns": [{"con', 2, "invalid JSON",
                 id="torn last line"),
    pytest.param('{"question_id": "q0", "choices": []}\n', 1, "no choices", id="no choices"),
    pytest.param('{"question_id": "q0", "choices": [{"index": 0, "turns": [{"content": "x"}]}]}\n'
                 '{"question_id": "q1", "choices": [{"index": 0, "turns": []}]}\n', 2, "no turns",
                 id="no turns"),
]


@pytest.mark.parametrize("content, lineno, message", BAD_FILES)
def test_cli_bad_line_names_file_and_line_and_writes_nothing(tmp_path, caplog, content, lineno, message):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    bad = src / "bad.jsonl"
    bad.write_text(content, encoding="utf-8")
    write_jsonl(src / "good.jsonl", [answer("# ok")])

    with caplog.at_level(logging.INFO):
        assert amd.main(["--dir", str(src), "--output-dir", str(out), "--workers", "1"]) == 1

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith(f"{bad}:{lineno}: ") and message in errors[0]
    assert "\n" not in errors[0]
    assert not (out / "bad.jsonl").exists()
    assert read_lines(out / "good.jsonl")[0]["conv_metadata"]["header_count"]["h1"] == 1  # others still done

    # In place: the bad file is left exactly as it was, the good one is annotated.
    assert amd.main(["--dir", str(src), "--output-dir", str(src)]) == 1
    assert bad.read_text(encoding="utf-8") == content
    assert "conv_metadata" in read_lines(src / "good.jsonl")[0]
    assert sorted(p.name for p in src.iterdir()) == ["bad.jsonl", "good.jsonl"]


def test_cli_missing_dir_fails(tmp_path, caplog):
    assert amd.main(["--dir", str(tmp_path / "absent"), "--output-dir", str(tmp_path)]) == 2
    assert "not a directory" in caplog.text
    caplog.clear()
    (tmp_path / "file.jsonl").write_text("")
    assert amd.main(["--dir", str(tmp_path / "file.jsonl"), "--output-dir", str(tmp_path)]) == 2
    assert f"{tmp_path / 'file.jsonl'}: not a directory" in caplog.text


@pytest.mark.parametrize("flags, bench", [((), "arena-hard-v0.1"), (("--bench-name", "other"), "other")])
def test_cli_data_dir_annotates_the_bench_answers_in_place(tmp_path, flags, bench):
    data = tmp_path / "data"
    path = write_jsonl(data / bench / "model_answer" / "m.jsonl", [answer("# Hi\n- a\n", "q1")])
    elsewhere = write_jsonl(data / "elsewhere" / "model_answer" / "m.jsonl", [answer("# Hi", "q1")])
    before = elsewhere.read_bytes()

    assert amd.main(["--data-dir", str(data), *flags, "--workers", "1"]) == 0

    [written] = read_lines(path)
    assert written["conv_metadata"] == amd.conv_metadata(answer("# Hi\n- a\n"))
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.jsonl"]
    assert elsewhere.read_bytes() == before  # another bench is left alone


def test_cli_default_is_data_in_the_working_folder(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "data" / "arena-hard-v0.1" / "model_answer" / "m.jsonl", [answer("**b**")])
    monkeypatch.chdir(tmp_path)
    assert amd.main(["--workers", "1"]) == 0
    assert read_lines(path)[0]["conv_metadata"]["bold_count"]["**"] == 1


def test_cli_output_dir_defaults_to_dir(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [answer("## H")])
    assert amd.main(["--dir", str(tmp_path), "--workers", "1"]) == 0
    assert read_lines(path)[0]["conv_metadata"]["header_count"]["h2"] == 1


@pytest.mark.parametrize("flag", ["--data-dir", "--bench-name"])
def test_cli_dir_with_data_dir_or_bench_name_is_refused(tmp_path, capsys, flag):
    with pytest.raises(SystemExit) as e:
        amd.main(["--dir", str(tmp_path), flag, "x"])
    assert e.value.code == 2
    assert "give either --dir or --data-dir / --bench-name" in capsys.readouterr().err


@pytest.mark.parametrize("bench", ["../up", "a/b", ".."])
def test_cli_bad_bench_name_is_one_line_naming_the_flag(tmp_path, caplog, bench):
    assert amd.main(["--data-dir", str(tmp_path), "--bench-name", bench]) == 2
    assert [r.getMessage() for r in caplog.records] == [f"--bench-name: {bench!r} must be a plain folder name"]


def test_cli_missing_bench_folder_names_it(tmp_path, caplog):
    assert amd.main(["--data-dir", str(tmp_path)]) == 2
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path / 'arena-hard-v0.1' / 'model_answer'}: not a directory"]


def test_script_exit_status_and_one_line_error(tmp_path):
    write_jsonl(tmp_path / "ok.jsonl", [answer("- a\n- b\n")])
    (tmp_path / "broken.jsonl").write_text("{oops}\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(REPO / "add_markdown_info.py"),
         "--dir", str(tmp_path), "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert error_lines == [f"ERROR {tmp_path / 'broken.jsonl'}:1: invalid JSON (Expecting property name "
                           "enclosed in double quotes)"]
    assert read_lines(tmp_path / "ok.jsonl")[0]["conv_metadata"]["list_count"]["unordered"] == 2


# ------------------------------------------------------------------------------ hostile input


@pytest.mark.parametrize("workers", ["1", "2"])
def test_lone_surrogate_is_dropped_with_a_warning_and_later_files_are_written(tmp_path, caplog, workers):
    # "\\ud800" is valid JSON that no UTF-8 file can hold: the text survives without it.
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "a.jsonl").write_text(json.dumps(answer("# ok", "q0")) + "\n"
                                 + json.dumps(answer("**bold**\ud800 text\udc00", "q1")) + "\n", encoding="utf-8")
    write_jsonl(src / "b.jsonl", [answer("- x\n", "q0")])
    with caplog.at_level(logging.WARNING):
        assert amd.main(["--dir", str(src), "--output-dir", str(out), "--workers", workers]) == 0
    written = read_lines(out / "a.jsonl")
    assert written[1]["choices"][0]["turns"][0]["content"] == "**bold** text"
    assert written[1]["conv_metadata"] == utils.conv_metadata(answer("**bold** text"))
    assert read_lines(out / "b.jsonl")[0]["conv_metadata"]["list_count"]["unordered"] == 1
    if workers == "1":  # a worker process logs to its own stderr
        assert f"{src / 'a.jsonl'}:2: 2 lone UTF-16 surrogates dropped" in caplog.text


def test_any_error_in_one_file_is_reported_and_the_others_are_written(tmp_path, caplog, monkeypatch):
    metadata = amd.conv_metadata

    def fragile(record):
        if "boom" in utils.first_turn_text(record):
            raise MemoryError("out of memory\nsecond line")
        return metadata(record)

    monkeypatch.setattr(amd, "conv_metadata", fragile)
    write_jsonl(tmp_path / "a.jsonl", [answer("boom")])
    write_jsonl(tmp_path / "b.jsonl", [answer("# fine")])
    with caplog.at_level(logging.ERROR):
        assert amd.main(["--dir", str(tmp_path), "--output-dir", str(tmp_path / "out"), "--workers", "1"]) == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        f"{tmp_path / 'a.jsonl'}: MemoryError: out of memory"]
    assert not (tmp_path / "out" / "a.jsonl").exists()
    assert read_lines(tmp_path / "out" / "b.jsonl")[0]["conv_metadata"]["header_count"]["h1"] == 1


def test_ctrl_c_inline_exits_130_in_one_line(tmp_path, caplog, monkeypatch):
    annotate = amd.annotate_file

    def interrupted(src, dst):
        if src.name == "b.jsonl":
            raise KeyboardInterrupt
        return annotate(src, dst)

    monkeypatch.setattr(amd, "annotate_file", interrupted)
    for name in "abc":
        write_jsonl(tmp_path / f"{name}.jsonl", [answer("# x")])
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        assert amd.main(["--dir", str(tmp_path), "--output-dir", str(out), "--workers", "1"]) == 130
    assert [r.getMessage() for r in caplog.records] == ["interrupted: 1 of 3 files done; rerun to annotate the others"]
    assert [p.name for p in out.iterdir()] == ["a.jsonl"]


def test_ctrl_c_with_a_process_pool_exits_130_in_one_line(tmp_path):
    import os
    import signal

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    text = "- an item with **bold** words and `code`\n" * 100
    for i in range(40):
        write_jsonl(src / f"m{i:02d}.jsonl", [answer(text + str(j), f"q{j}") for j in range(40)])
    proc = subprocess.Popen([sys.executable, str(REPO / "add_markdown_info.py"), "--dir", str(src),
                             "--output-dir", str(out), "--workers", "2"],
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        first = proc.stderr.readline()  # the first file is written: the others are in progress or queued
        assert "answers ->" in first
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest
    assert rest.splitlines()[-1].startswith("WARNING interrupted: ")
    assert not [line for line in rest.splitlines() if line.startswith("ERROR")]
    written = sorted(p.name for p in out.iterdir())
    assert 0 < len(written) < 40 and all(name.endswith(".jsonl") for name in written)  # no temporary left
    for name in written:  # each file written is whole
        assert len([r["conv_metadata"] for r in read_lines(out / name)]) == 40
