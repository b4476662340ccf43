"""Tests of qa_browser.py: its pure helpers, lazy loading, main(), and the page in headless Chromium.

Usage: python -m pytest tests/test_qa_browser.py

The browser test runs `python qa_browser.py` on 127.0.0.1 against a small bench in tmp_path and
drives Debian's chromium through selenium; it is skipped only where chromium or chromedriver is
not installed, and fails there when $CI is set (.ci/run installs both: apt-get install chromium
chromium-driver).
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import qa_browser
from qa_browser import (
    ALL_CLUSTERS,
    NO_ANSWER,
    NO_JUDGMENT,
    ModelRecords,
    answer_markdown,
    categories,
    clusters,
    game_markdown,
    leaderboard_csvs,
    parse_auth,
    question_choices,
    question_markdown,
    selection_views,
    snippet,
    verdict_rows,
)
from conftest import free_port, write_jsonl
from utils import (
    FULL_STATS_COLUMNS,
    ConfigError,
    DataError,
    answer_dir,
    count_games,
    judgment_dir,
    load_judge_settings,
    model_file,
)

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

BENCH = "bench-x"
JUDGE = "judge-1"
BASELINE = "base-model"
JUDGED = "org/model-judged"  # a '/' in the name exercises the encoded file names
UNJUDGED = "org/model-new"

QUESTIONS = [
    {"question_id": "q-sort", "category": "arena-hard-v0.1", "cluster": "Python sorting",
     "turns": [{"content": "How do I sort a list of dicts by a key in Python?"}]},
    {"question_id": "q-haiku", "category": "arena-hard-v0.1", "cluster": "Poems",
     "turns": [{"content": "Write a haiku about autumn."}, {"content": "Now make it rhyme."}]},
    {"question_id": "q-recursion", "category": "arena-hard-v0.1", "cluster": "Teaching",
     "turns": [{"content": "Explain recursion to a child."}]},
]

LONG_ANSWER = (
    "Use `sorted` with a key function.\n\n"
    "```python\n"
    "rows = [{'name': 'b', 'age': 3}, {'name': 'a', 'age': 1}]\n"
    "by_age = sorted(rows, key=lambda r: r['age'])\n"
    "print(by_age)\n"
    "```\n\n"
    + "\n\n".join(f"Note {i}: `sorted` is stable; `operator.itemgetter('age')` also works." for i in range(40))
    + "\n\nEND OF LONG ANSWER"
)


def answer_record(model: str, question_id: str, turns: list[str]) -> dict:
    return {"question_id": question_id, "answer_id": f"{model}-{question_id}", "model_id": model,
            "choices": [{"index": 0, "turns": [{"content": t, "token_len": len(t.split())} for t in turns]}],
            "tstamp": 1.0}


def answers_of(tag: str, model: str) -> list[dict]:
    return [
        answer_record(model, "q-sort", [f"{tag} SORT ANSWER. " + LONG_ANSWER]),
        answer_record(model, "q-haiku", [f"{tag} HAIKU TURN ONE", f"{tag} HAIKU TURN TWO"]),
        answer_record(model, "q-recursion", [f"{tag} RECURSION ANSWER"]),
    ]


JUDGE_REASONING = "\n\n".join(f"Point {i}: both answers use `sorted`; one explains stability better." for i in range(12))


def judgment_record(question_id: str, score_1: str | None, score_2: str | None) -> dict:
    return {"question_id": question_id, "model": JUDGED, "judge": JUDGE, "games": [
        {"user_prompt": "...", "score": score_1,
         "judgment": f"JUDGE GAME ONE on {question_id}.\n\n{JUDGE_REASONING}\n\nFinal verdict: [[{score_1}]]"},
        {"user_prompt": "...", "score": score_2,
         "judgment": f"JUDGE GAME TWO on {question_id}.\n\n{JUDGE_REASONING}\n\nFinal verdict: [[{score_2}]]"},
    ]}


def make_bench(root: Path) -> Path:
    """A 3-question bench: baseline + 2 models answered, only JUDGED judged. Returns the config."""
    data = root / "data"
    write_jsonl(data / BENCH / "question.jsonl", QUESTIONS)
    for tag, model in (("BASELINE", BASELINE), ("JUDGED", JUDGED), ("UNJUDGED", UNJUDGED)):
        write_jsonl(model_file(answer_dir(BENCH, data), model), answers_of(tag, model))
    write_jsonl(model_file(judgment_dir(BENCH, JUDGE, data), JUDGED), [
        judgment_record("q-sort", "B>A", "A>>B"),
        judgment_record("q-haiku", "A=B", "B>A"),
        judgment_record("q-recursion", None, "A>B"),
    ])
    config = root / "config" / "judge_config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"bench_name: {BENCH}\njudge_model: {JUDGE}\nbaseline: True\n"
                      f"baseline_model: {BASELINE}\npairwise: True\n" + JUDGE_PROMPTS, encoding="utf-8")
    return config


# The rest of a judge config that gen_judgment's loader (used by qa_browser) requires.
JUDGE_PROMPTS = ('system_prompt: "Judge."\n'
                 'prompt_template: ["Q: {question_1} A: {answer_1} B: {answer_2}"]\n'
                 f'model_list: ["{JUDGED}"]\n')


# --------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("score, game, expected", [
    ("B>>A", 1, "strong wins"), ("B>A", 1, "wins"), ("A=B", 1, "ties"),
    ("A>B", 1, "losses"), ("A>>B", 1, "strong losses"),
    # game 2 shows the model as A
    ("A>>B", 2, "strong wins"), ("A>B", 2, "wins"), ("A=B", 2, "ties"),
    ("B>A", 2, "losses"), ("B>>A", 2, "strong losses"),
    (None, 1, "unparsable"), (None, 2, "unparsable"), ("A>>>B", 1, "unparsable"), ("", 2, "unparsable"),
])
def test_model_verdict_reads_game_2_mirrored(score, game, expected):
    games = [None, None]  # a null game counts as not played
    games[game - 1] = {"user_prompt": "", "judgment": "", "score": score}
    counts = count_games([{"question_id": "q", "model": "m", "games": games}])
    assert counts == {**dict.fromkeys(FULL_STATS_COLUMNS, 0), expected.replace(" ", "_"): 1}


def test_count_verdicts_and_rows():
    judgments = [judgment_record("q-sort", "B>A", "A>>B"), judgment_record("q-haiku", "A=B", "B>A"),
                 judgment_record("q-recursion", None, "A>B"),
                 {"question_id": "q-single", "model": "m", "judge": JUDGE,
                  "games": [{"user_prompt": "", "judgment": "", "score": "A>>B"}]}]  # pairwise off
    counts = count_games(judgments)
    assert counts == {"strong_wins": 1, "wins": 2, "ties": 1, "losses": 1, "strong_losses": 1, "unparsable": 1}

    rows = verdict_rows({"m-good": counts, "m-empty": count_games([]),
                         "m-top": {**count_games([]), "wins": 3}})
    assert [r["model"] for r in rows] == ["m-top", "m-good", "m-empty"]
    good = rows[1]
    assert good["games"] == 7 and good["unparsable"] == 1
    assert good["win share %"] == round(100 * (1 + 2 + 0.5) / 6, 1)
    assert rows[2]["win share %"] is None


def test_categories_clusters_and_question_choices():
    questions = QUESTIONS + [{"question_id": "q-other", "category": "other-cat", "cluster": "Poems",
                              "turns": [{"content": "x"}]}]
    assert categories(questions) == [("arena-hard-v0.1 (3)", "arena-hard-v0.1"), ("other-cat (1)", "other-cat")]
    assert clusters(questions, "arena-hard-v0.1") == [
        ("All clusters (3)", ALL_CLUSTERS), ("Poems (1)", "Poems"), ("Python sorting (1)", "Python sorting"),
        ("Teaching (1)", "Teaching")]
    assert [v for _, v in question_choices(questions, "arena-hard-v0.1")] == ["q-sort", "q-haiku", "q-recursion"]
    assert [v for _, v in question_choices(questions, "arena-hard-v0.1", "Poems")] == ["q-haiku"]
    assert [v for _, v in question_choices(questions, "other-cat")] == ["q-other"]
    label = question_choices(questions, "arena-hard-v0.1", "Poems")[0][0]
    assert label == "q-haiku · Write a haiku about autumn."


def test_snippet_flattens_and_cuts():
    assert snippet("a\n\n b  c") == "a b c"
    cut = snippet("word " * 100, limit=20)
    assert len(cut) <= 20 and cut.endswith("…")


def test_question_and_answer_markdown_show_every_turn():
    text = question_markdown(QUESTIONS[1])
    assert "#### Turn 1\n\nWrite a haiku about autumn." in text
    assert "#### Turn 2\n\nNow make it rhyme." in text
    assert "cluster: Poems" in text
    single = question_markdown(QUESTIONS[0])
    assert "Turn 1" not in single and "How do I sort" in single

    answer = answers_of("X", JUDGED)[1]
    md = answer_markdown(answer, "B", JUDGED, "model")
    assert md.startswith(f"### B: {JUDGED}\n_model · 8 tokens_")
    assert "#### Turn 1\n\nX HAIKU TURN ONE" in md and "#### Turn 2\n\nX HAIKU TURN TWO" in md
    assert NO_ANSWER in answer_markdown(None, "B", UNJUDGED, "model")
    two_choices = {**answer, "choices": answer["choices"] * 2}
    assert "choice 1 of 2" in answer_markdown(two_choices, "B", JUDGED, "model")


def test_game_markdown_labels_sides_and_verdicts():
    judgment = judgment_record("q-sort", "B>A", "A>>B")
    game_1 = game_markdown(judgment, 1, BASELINE, JUDGED)
    game_2 = game_markdown(judgment, 2, BASELINE, JUDGED)
    assert game_1.startswith(f"### Game 1 (A = baseline {BASELINE}, B = {JUDGED})")
    assert f"Verdict: B>A: {JUDGED} is slightly better" in game_1
    assert "JUDGE GAME ONE on q-sort" in game_1
    assert game_2.startswith(f"### Game 2 (A = {JUDGED}, B = baseline {BASELINE})")
    assert f"Verdict: A>>B: {JUDGED} is significantly better" in game_2
    assert "JUDGE GAME TWO on q-sort" in game_2
    assert "unparsable" in game_markdown(judgment_record("q", None, None), 1, BASELINE, JUDGED)
    assert NO_JUDGMENT in game_markdown(None, 1, BASELINE, UNJUDGED)
    assert NO_JUDGMENT in game_markdown(None, 2, BASELINE, UNJUDGED)
    one_game = {**judgment, "games": judgment["games"][:1]}
    assert "no game 2" in game_markdown(one_game, 2, BASELINE, JUDGED)


@pytest.mark.parametrize("choices", [["text"], [{"turns": ["text"]}], [{"turns": "text"}], "text", {"0": {}},
                                     [{"turns": [{"content": "ok"}, "text"]}]])
def test_malformed_answer_record_is_shown_not_raised(choices, tmp_path):
    answer = {**answer_record(JUDGED, "q-sort", ["x"]), "choices": choices}
    md = answer_markdown(answer, "B", JUDGED, "model")
    assert md.startswith(f"### B: {JUDGED}\n_model_") and f"**{qa_browser.MALFORMED_ANSWER}**" in md
    # What the Gradio handler returns for such a file: the page shows it, nothing raises.
    make_bench(tmp_path)
    data = tmp_path / "data"
    write_jsonl(model_file(answer_dir(BENCH, data), JUDGED), [answer])
    answers = ModelRecords(answer_dir(BENCH, data), qa_browser.ANSWER_KEYS)
    judgments = qa_browser.judgment_records(judgment_dir(BENCH, JUDGE, data))
    _, a, b, game_1, _ = selection_views(QUESTIONS[0], JUDGED, answers, judgments, BASELINE)
    assert "BASELINE SORT ANSWER" in a and qa_browser.MALFORMED_ANSWER in b and "JUDGE GAME ONE" in game_1


def test_markdown_never_starts_a_line_indented_after_the_header():
    # gr.Markdown dedents with inspect.cleandoc; an unindented second line keeps code indentation.
    indented = answer_record(JUDGED, "q", ["    x = 1\n    y = 2"])
    for md in (answer_markdown(indented, "B", JUDGED, "model"),
               question_markdown({**QUESTIONS[0], "turns": [{"content": "    indented"}]}),
               game_markdown(judgment_record("q", "A=B", "A=B"), 1, BASELINE, JUDGED)):
        assert not md.splitlines()[1].startswith(" ")


def board_csv(*rows: str, bench: str = BENCH, judge: str = JUDGE) -> str:
    """A leaderboard CSV as show_result.py --output writes it: rows 'model,score' for bench and judge."""
    return "model,score,bench_name,judge_name\n" + "".join(f"{row},{bench},{judge}\n" for row in rows)


def test_leaderboard_csvs(tmp_path):
    assert leaderboard_csvs(tmp_path / "missing") == []
    assert leaderboard_csvs(tmp_path) == []
    for day in ("20240601", "20241105", "20240930"):
        (tmp_path / f"arena_hard_leaderboard_{day}.csv").write_text("model,score\n")
    (tmp_path / "notes.csv").write_text("")
    assert leaderboard_csvs(tmp_path) == [tmp_path / f"arena_hard_leaderboard_{day}.csv"
                                          for day in ("20241105", "20240930", "20240601")]


def test_leaderboard_tab_shows_the_csv_of_its_bench_and_judge(tmp_path):
    write = lambda day, text: (tmp_path / f"arena_hard_leaderboard_{day}.csv").write_text(text)  # noqa: E731
    write("20240101", board_csv("mine-old,1.0"))
    write("20240102", board_csv("mine,2.0"))
    write("20240103", board_csv("other-judge,3.0", judge="judge-2"))
    write("20240104", board_csv("other-bench,4.0", bench="bench-y"))
    write("20240105", "model,score\nunlabelled,5.0\n")  # upstream's columns only
    note, table = qa_browser.leaderboard_view(tmp_path, None, BENCH, JUDGE)
    assert note == f"From `{tmp_path / 'arena_hard_leaderboard_20240102.csv'}`."
    assert table.columns.tolist() == ["model", "score"] and table.values.tolist() == [["mine", 2.0]]
    note, table = qa_browser.leaderboard_view(tmp_path, None, BENCH, "judge-3")
    assert note.startswith(f"No `leaderboard/arena_hard_leaderboard_*.csv` of bench `{BENCH}` and judge "
                           "**judge-3** yet") and table.empty


def test_parse_auth():
    assert parse_auth("alice:s3cr:et") == ("alice", "s3cr:et")
    for bad in ("alice", ":pw", "alice:", ""):
        with pytest.raises(Exception, match="USER:PASS"):
            parse_auth(bad)


def test_load_judge_settings(tmp_path):
    config = make_bench(tmp_path)
    settings = load_judge_settings(config)
    assert (settings.bench_name, settings.judge_model, settings.baseline_model) == (BENCH, JUDGE, BASELINE)
    broken = tmp_path / "broken.yaml"
    broken.write_text(f"bench_name: {BENCH}\njudge_model: {JUDGE}\n" + JUDGE_PROMPTS)
    with pytest.raises(ConfigError, match=r"broken\.yaml.*baseline_model"):
        load_judge_settings(broken)
    broken.write_text(f"bench_name: {BENCH}\njudge_model: {JUDGE}\nbaseline_model: null\n" + JUDGE_PROMPTS)
    with pytest.raises(ConfigError, match="baseline_model"):
        load_judge_settings(broken)
    # baseline off: no baseline_model needed.
    off = tmp_path / "off.yaml"
    off.write_text(f"bench_name: {BENCH}\njudge_model: {JUDGE}\nbaseline: false\n" + JUDGE_PROMPTS)
    assert load_judge_settings(off).baseline_model is None


def test_main_with_upstream_judge_config(tmp_path, launches, shared_data):
    upstream = shared_data / "config" / "judge_config.yaml"
    settings = load_judge_settings(upstream)
    assert (settings.bench_name, settings.judge_model, settings.baseline_model) == (
        "arena-hard-v0.1", "gpt-4-1106-preview", "gpt-4-0314")
    data = tmp_path / "data"
    write_jsonl(data / "arena-hard-v0.1" / "question.jsonl", QUESTIONS)
    write_jsonl(model_file(answer_dir("arena-hard-v0.1", data), "gpt-4-0314"), answers_of("BASELINE", "gpt-4-0314"))
    assert qa_browser.main(["--config-file", str(upstream), "--data-dir", str(data),
                            "--leaderboard-dir", str(tmp_path / "lb")]) == 0
    assert len(launches) == 1


def test_baseline_off_shows_the_model_alone(tmp_path, launches):
    make_bench(tmp_path)
    config = tmp_path / "off.yaml"
    config.write_text(f"bench_name: {BENCH}\njudge_model: {JUDGE}\nbaseline: false\n" + JUDGE_PROMPTS)
    data = tmp_path / "data"
    assert qa_browser.main(["--config-file", str(config), "--data-dir", str(data),
                            "--leaderboard-dir", str(tmp_path / "lb")]) == 0
    assert len(launches) == 1
    answers = ModelRecords(answer_dir(BENCH, data), ("question_id", "choices"))
    judgments = ModelRecords(judgment_dir(BENCH, JUDGE, data), ("question_id", "games"))
    question, a, b, game_1, game_2 = selection_views(QUESTIONS[0], JUDGED, answers, judgments, None)
    assert "How do I sort" in question
    assert a.startswith("### A: no baseline") and "baseline: false" in a
    assert "JUDGED SORT ANSWER" in b
    assert game_1.startswith(f"### Game 1 (A = {JUDGED}; no baseline)")
    assert "Verdict: B>A: B is slightly better" in game_1 and "JUDGE GAME ONE on q-sort" in game_1
    assert game_2.startswith(f"### Game 2 (A = {JUDGED}; no baseline)")
    # With a baseline, the same selection shows its answer as A.
    _, a, _, game_1, _ = selection_views(QUESTIONS[0], JUDGED, answers, judgments, BASELINE)
    assert a.startswith(f"### A: {BASELINE}") and "BASELINE SORT ANSWER" in a
    assert f"Verdict: B>A: {JUDGED} is slightly better" in game_1
    assert selection_views(None, JUDGED, answers, judgments, BASELINE)[0] == "_Pick a question._"


@pytest.mark.parametrize("score", [["A>B"], {"a": 1}, 3])
def test_non_string_score_is_shown_not_raised(score):
    judgment = judgment_record("q-sort", "B>A", "A>B")
    judgment["games"][0]["score"] = score
    assert "(unknown label)" in game_markdown(judgment, 1, BASELINE, JUDGED)
    assert count_games([judgment])["unparsable"] == 1


# --------------------------------------------------------------------------------------------
# Lazy per-model loading
# --------------------------------------------------------------------------------------------


def test_model_records_reads_lazily_and_rereads_changed_files(tmp_path):
    make_bench(tmp_path)
    directory = answer_dir(BENCH, tmp_path / "data")
    # A broken file of a model nobody selects must not matter: files are read on first use.
    (directory / "broken.jsonl").write_text("{not json}\n{}\n")
    records = ModelRecords(directory, ("question_id", "choices"), capacity=2)
    assert records.models() == [BASELINE, "broken", JUDGED, UNJUDGED]
    assert set(records.get(JUDGED)) == {"q-sort", "q-haiku", "q-recursion"}
    assert records.get(JUDGED) is records.get(JUDGED)  # cached
    assert records.get("not-a-model") == {}
    with pytest.raises(DataError, match=r"broken\.jsonl:1"):
        records.get("broken")

    # A judge run appending to the file: the next get() sees the new record.
    path = model_file(directory, JUDGED)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(answer_record(JUDGED, "q-new", ["new"])) + "\n")
    assert "q-new" in records.get(JUDGED)

    # Bounded cache: older models are dropped and read again when asked for.
    first = records.get(BASELINE)
    records.get(UNJUDGED)
    records.get(JUDGED)
    assert records.get(BASELINE) is not first and records.get(BASELINE) == first


def test_cached_judgments_keep_no_user_prompt(tmp_path):
    make_bench(tmp_path)
    directory = judgment_dir(BENCH, JUDGE, tmp_path / "data")
    raw = json.loads(model_file(directory, JUDGED).read_text().splitlines()[0])
    assert all(game["user_prompt"] == "..." for game in raw["games"])
    judgments = qa_browser.judgment_records(directory)
    cached = judgments.get(JUDGED)["q-sort"]
    assert cached == {**raw, "games": [{k: v for k, v in g.items() if k != "user_prompt"} for g in raw["games"]]}
    assert "JUDGE GAME TWO on q-sort" in game_markdown(cached, 2, BASELINE, JUDGED)
    assert "user_prompt" in ModelRecords(directory, qa_browser.JUDGMENT_KEYS).get(JUDGED)["q-sort"]["games"][0]


def test_verdict_counts_are_cached_per_file_outside_the_browsing_cache(tmp_path, monkeypatch, caplog):
    make_bench(tmp_path)
    directory = judgment_dir(BENCH, JUDGE, tmp_path / "data")
    write_jsonl(model_file(directory, "org/other"), [
        {**judgment_record("q-sort", "A>B", "A>B"), "model": "org/other"},
        {**judgment_record("q-haiku", "B>>A", "A=B"), "model": "org/other"}])
    expected = {JUDGED: {"strong_wins": 1, "wins": 2, "ties": 1, "losses": 1, "strong_losses": 0, "unparsable": 1},
                # A>B: a loss, then (game 2 mirrored) a win; B>>A: a strong win, then a tie
                "org/other": {"strong_wins": 1, "wins": 1, "ties": 1, "losses": 1, "strong_losses": 0,
                              "unparsable": 0}}
    browsing = qa_browser.judgment_records(directory, capacity=1)
    shown = browsing.get(JUDGED)
    reads: list[Path] = []
    real = qa_browser.read_jsonl_by_id
    monkeypatch.setattr(qa_browser, "read_jsonl_by_id", lambda path, *a: reads.append(Path(path)) or real(path, *a))
    counts = qa_browser.VerdictCounts(directory)
    assert counts.by_model() == expected
    assert len(reads) == 2
    assert counts.by_model() == expected and len(reads) == 2  # unchanged files: counted once
    assert browsing.get(JUDGED) is shown and len(reads) == 2  # the browsing cache kept its entry

    # A judge run appends: that file alone is counted again. A malformed file is left out, logged.
    with open(model_file(directory, JUDGED), "a", encoding="utf-8") as f:
        f.write(json.dumps(judgment_record("q-new", "B>A", "B>A")) + "\n")
    (directory / "broken.jsonl").write_text('{"question_id": "q"}\n')
    with caplog.at_level(logging.ERROR):
        result = counts.by_model()
    assert result == {**expected, JUDGED: {**expected[JUDGED], "wins": 3, "losses": 2}}
    assert [p.name for p in reads[2:]] == ["broken.jsonl", model_file(directory, JUDGED).name]
    assert "broken.jsonl:1: missing key 'games'" in caplog.text
    model_file(directory, "org/other").unlink()
    assert set(counts.by_model()) == {JUDGED}


def test_verdict_counts_leave_out_upstream_error_games(tmp_path):
    make_bench(tmp_path)
    directory = judgment_dir(BENCH, JUDGE, tmp_path / "data")
    failed = {"user_prompt": "...", "judgment": "$ERROR$", "score": None}  # upstream's API failure
    half_failed = judgment_record("q-recursion", None, "A>B")
    half_failed["games"][0] = failed
    write_jsonl(model_file(directory, JUDGED), [
        judgment_record("q-sort", "B>A", "A>>B"),
        {**judgment_record("q-haiku", None, "B>A"), "games": [failed, failed]},
        half_failed,
        judgment_record("q-null", None, None)])  # real nulls stay unparsable
    counts = qa_browser.file_verdict_counts(model_file(directory, JUDGED))
    assert counts == {"strong_wins": 1, "wins": 2, "ties": 0, "losses": 0, "strong_losses": 0, "unparsable": 2}
    raw = [json.loads(line) for line in model_file(directory, JUDGED).read_text().splitlines()]
    assert count_games(raw)["unparsable"] == 5  # what counting the raw records would say


# --------------------------------------------------------------------------------------------
# main(): config errors, the --share warning, what reaches launch()
# --------------------------------------------------------------------------------------------


@pytest.fixture
def launches(monkeypatch) -> list[dict]:
    """Record Blocks.launch() calls instead of serving."""
    import gradio as gr

    calls: list[dict] = []

    def launch(self, **kwargs):
        calls.append({"demo": self, **kwargs})
        return None, "http://127.0.0.1:7860/", "https://abc.gradio.live" if kwargs.get("share") else None

    monkeypatch.setattr(gr.Blocks, "launch", launch)
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)
    return calls


def test_url_line_gives_our_flags_not_gradios_advice(tmp_path, launches, capsys):
    config = make_bench(tmp_path)
    argv = ["--config-file", str(config), "--data-dir", str(tmp_path / "data")]
    assert qa_browser.main(argv) == 0
    assert launches[-1]["quiet"] is True  # Gradio's "set `share=True` in `launch()`" is not printed
    out = capsys.readouterr().out
    assert "Browse the bench at http://127.0.0.1:7860/" in out
    assert "--share --auth USER:PASS" in out and "share=True" not in out
    assert qa_browser.main(argv + ["--share", "--auth", "u:p"]) == 0
    assert "Public link: https://abc.gradio.live" in capsys.readouterr().out


def test_main_share_without_auth_warns(tmp_path, launches, caplog):
    config = make_bench(tmp_path)
    argv = ["--config-file", str(config), "--data-dir", str(tmp_path / "data"),
            "--leaderboard-dir", str(tmp_path / "leaderboard")]
    with caplog.at_level(logging.WARNING):
        assert qa_browser.main(argv + ["--share"]) == 0
    assert any(r.levelno == logging.WARNING and "--share without --auth" in r.getMessage() for r in caplog.records)
    assert launches[-1]["share"] is True and launches[-1]["auth"] is None
    assert launches[-1]["server_name"] == "127.0.0.1"

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert qa_browser.main(argv + ["--share", "--auth", "u:p", "--port", "7999", "--host", "127.0.0.1"]) == 0
    assert not any("--share without --auth" in r.getMessage() for r in caplog.records)
    assert launches[-1]["auth"] == ("u", "p") and launches[-1]["server_port"] == 7999
    assert launches[-1]["server_name"] == "127.0.0.1"


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("myhost.example", False), ("", False),
])
def test_is_loopback(host, loopback):
    assert qa_browser.is_loopback(host) is loopback


def test_listens_on_loopback_unless_asked_and_warns_without_auth(tmp_path, launches, monkeypatch, caplog):
    monkeypatch.delenv("ARENA_HARD_AUTH", raising=False)
    config = make_bench(tmp_path)
    argv = ["--config-file", str(config), "--data-dir", str(tmp_path / "data"),
            "--leaderboard-dir", str(tmp_path / "leaderboard")]

    def exposed() -> list[str]:
        messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        caplog.clear()
        return [m for m in messages if "listening on" in m and "without --auth" in m]

    with caplog.at_level(logging.WARNING):
        assert qa_browser.main(argv) == 0
        assert launches[-1]["server_name"] == "127.0.0.1" and exposed() == []
        assert qa_browser.main(argv + ["--host", "0.0.0.0"]) == 0
        [warning] = exposed()
        assert launches[-1]["server_name"] == "0.0.0.0"
        assert "listening on 0.0.0.0 without --auth" in warning and "ARENA_HARD_AUTH=USER:PASS" in warning
        monkeypatch.setenv("ARENA_HARD_AUTH", "user:secret-pass")  # a login: no warning
        assert qa_browser.main(argv + ["--host", "0.0.0.0"]) == 0
        assert exposed() == [] and launches[-1]["auth"] == ("user", "secret-pass")


def test_auth_from_the_environment(tmp_path, launches, monkeypatch, caplog):
    config = make_bench(tmp_path)
    argv = ["--config-file", str(config), "--data-dir", str(tmp_path / "data"),
            "--leaderboard-dir", str(tmp_path / "leaderboard"), "--share"]
    monkeypatch.setenv("ARENA_HARD_AUTH", "env-user:pa:ss")
    with caplog.at_level(logging.WARNING):
        assert qa_browser.main(argv) == 0
    assert launches[-1]["auth"] == ("env-user", "pa:ss")
    assert not any("--share without --auth" in r.getMessage() for r in caplog.records)
    assert qa_browser.main(argv + ["--auth", "flag:wins"]) == 0  # the flag takes precedence
    assert launches[-1]["auth"] == ("flag", "wins")
    monkeypatch.setenv("ARENA_HARD_AUTH", "no-colon")
    with pytest.raises(SystemExit) as e:
        qa_browser.main(argv)
    assert e.value.code == 2 and len(launches) == 2
    monkeypatch.delenv("ARENA_HARD_AUTH")
    assert qa_browser.parse_args([]).auth is None


def test_help_documents_the_auth_environment_variable(capsys):
    with pytest.raises(SystemExit):
        qa_browser.parse_args(["--help"])
    assert "ARENA_HARD_AUTH=USER:PASS" in " ".join(capsys.readouterr().out.split())


def test_main_reports_bad_config_in_one_line(tmp_path, launches, caplog):
    config = make_bench(tmp_path)
    with caplog.at_level(logging.ERROR):
        assert qa_browser.main(["--config-file", str(tmp_path / "nope.yaml")]) == 2
        assert qa_browser.main(["--config-file", str(config), "--data-dir", str(tmp_path / "elsewhere")]) == 2
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "nope.yaml: file not found" in messages[0]
    assert "question.jsonl: file not found" in messages[1]
    assert launches == []


def test_leaderboard_tab_shows_the_latest_csv(tmp_path, launches):
    import gradio as gr

    config = make_bench(tmp_path)
    board = tmp_path / "leaderboard"
    board.mkdir()
    (board / "arena_hard_leaderboard_20240101.csv").write_text(board_csv("old-model,1.0"))
    (board / "arena_hard_leaderboard_20241105.csv").write_text(board_csv("new-model,37.9"))
    assert qa_browser.main(["--config-file", str(config), "--data-dir", str(tmp_path / "data"),
                            "--leaderboard-dir", str(board)]) == 0
    demo = launches[-1]["demo"]
    assert isinstance(demo, gr.Blocks)
    tables = [b for b in demo.blocks.values() if isinstance(b, gr.Dataframe)]
    assert len(tables) == 1
    assert tables[0].value["data"] == [["new-model", 37.9]]


def test_unreadable_leaderboard_falls_back_to_verdict_counts(tmp_path, caplog):
    (tmp_path / "arena_hard_leaderboard_20241105.csv").write_bytes(b"\xff\xfe\x00broken")
    with caplog.at_level(logging.WARNING):
        assert qa_browser.read_leaderboard(tmp_path / "arena_hard_leaderboard_20241105.csv") is None
    assert "cannot read the leaderboard" in caplog.text
    # The tab then shows the verdict counts of the judgments.
    make_bench(tmp_path)
    counts = qa_browser.VerdictCounts(judgment_dir(BENCH, JUDGE, tmp_path / "data"))
    note, table = qa_browser.leaderboard_view(tmp_path, counts, BENCH, JUDGE)
    assert note.startswith("No `leaderboard/arena_hard_leaderboard_*.csv` of bench") and f"**{JUDGE}**" in note
    assert table.to_dict("records") == [{"model": JUDGED, "win share %": 70.0, "games": 6, "strong_wins": 1,
                                         "wins": 2, "ties": 1, "losses": 1, "strong_losses": 0, "unparsable": 1}]


def test_leaderboard_tab_reads_a_csv_written_after_start(tmp_path, launches):
    import gradio as gr

    config = make_bench(tmp_path)
    board = tmp_path / "leaderboard"
    assert qa_browser.main(["--config-file", str(config), "--data-dir", str(tmp_path / "data"),
                            "--leaderboard-dir", str(board)]) == 0
    demo = launches[-1]["demo"]
    [table] = [b for b in demo.blocks.values() if isinstance(b, gr.Dataframe)]
    [select] = [f for f in demo.fns.values() if table in f.outputs]
    note, frame = select.fn()  # what selecting the Leaderboard tab shows
    assert "Verdict counts per model" in note and frame["model"].tolist() == [JUDGED]
    board.mkdir()
    (board / "arena_hard_leaderboard_20241105.csv").write_text(board_csv("new-model,37.9"))
    note, frame = select.fn()
    assert note == f"From `{board / 'arena_hard_leaderboard_20241105.csv'}`."
    assert frame.values.tolist() == [["new-model", 37.9]]
    (board / "arena_hard_leaderboard_20241106.csv").write_text(board_csv("newer-model,40.1"))
    assert select.fn()[1].values.tolist() == [["newer-model", 40.1]]

    # Baseline off: no counts against a baseline, but a CSV is still shown.
    off = tmp_path / "off.yaml"
    off.write_text(f"bench_name: {BENCH}\njudge_model: {JUDGE}\nbaseline: false\n" + JUDGE_PROMPTS)
    assert qa_browser.main(["--config-file", str(off), "--data-dir", str(tmp_path / "data"),
                            "--leaderboard-dir", str(tmp_path / "none")]) == 0
    demo = launches[-1]["demo"]
    [table] = [b for b in demo.blocks.values() if isinstance(b, gr.Dataframe)]
    [select] = [f for f in demo.fns.values() if table in f.outputs]
    note, frame = select.fn()
    assert "`baseline: false`" in note and frame.empty
    assert qa_browser.leaderboard_view(board, None, BENCH, JUDGE)[1].values.tolist() == [["newer-model", 40.1]]


# --------------------------------------------------------------------------------------------
# The page in headless Chromium
# --------------------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path) -> Iterator[str]:
    """`python qa_browser.py` on the fixture bench; yields its URL."""
    config = make_bench(tmp_path)
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "qa_browser.py"), "--data-dir", str(tmp_path / "data"),
             "--config-file", str(config), "--port", str(port), "--host", "127.0.0.1"],
            cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 40
        while True:
            if proc.poll() is not None:
                pytest.fail(f"qa_browser.py exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"qa_browser.py did not answer on {url}:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.fixture
def chromium() -> None:
    """Skips the test where chromium or chromedriver is missing; fails it in CI, which installs both."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        reason = f"needs {CHROMIUM} and {CHROMEDRIVER} (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so the browser test may not be skipped")
        pytest.skip(reason)


def start_chromium(tmp_path: Path):
    """Headless Chromium driven by selenium, offline but for 127.0.0.1."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}",
                 # offline: any host but the app fails at once instead of waiting on the network
                 "--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_for_text(wait, read, elem_id: str, *needles: str) -> str:
    """Wait until read(elem_id) holds every needle and return it; else fail showing what it holds."""
    try:
        wait.until(lambda d: all(n in read(elem_id) for n in needles))
    except Exception:
        pytest.fail(f"#{elem_id} never showed {needles}; it shows: {read(elem_id)[:500]!r}")
    return read(elem_id)


def choose_option(driver, wait, elem_id: str, search: str, option_label: str) -> None:
    """Type into a dropdown's search box and click the option whose label contains option_label."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(search)
    option = wait.until(lambda d: next(
        (li for li in d.find_elements(By.CSS_SELECTOR, f"#{elem_id} li[role='option']")
         if option_label in (li.get_attribute("aria-label") or "")), None))
    option.click()


def test_browser_shows_question_answers_and_judgments(chromium, server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver = start_chromium(tmp_path)
    try:
        # The viewport itself 1280x900 (the window's 900 include the browser's frame).
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        wait = WebDriverWait(driver, 60, poll_frequency=0.1)  # generous: CI machines can be loaded

        def text_of(elem_id: str) -> str:
            return driver.find_element(By.ID, elem_id).get_attribute("textContent") or ""

        wait_text = functools.partial(wait_for_text, wait, text_of)

        choose = functools.partial(choose_option, driver, wait)

        driver.get(server)
        # First question and first model are shown on load.
        wait_text("answer-b", "JUDGED SORT ANSWER")

        # Filtering by cluster selects that cluster's first (here only) question: the two-turn one.
        choose("cluster", "Poems", "Poems")
        driver.find_element(By.CSS_SELECTOR, "#question-select input").click()
        offered = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#question-select li[role='option']"))
        assert [li.get_attribute("aria-label") for li in offered] == ["q-haiku · Write a haiku about autumn."]
        driver.find_element(By.CSS_SELECTOR, "#question-select input").send_keys(Keys.ESCAPE)
        wait_text("question", "Turn 1", "Write a haiku about autumn.", "Turn 2", "Now make it rhyme.")
        wait_text("answer-a", f"A: {BASELINE}", "BASELINE HAIKU TURN ONE", "BASELINE HAIKU TURN TWO")
        wait_text("answer-b", f"B: {JUDGED}", "JUDGED HAIKU TURN ONE", "JUDGED HAIKU TURN TWO")
        wait_text("game-1", f"Game 1 (A = baseline {BASELINE}, B = {JUDGED})", "Verdict: A=B: tie",
                  "JUDGE GAME ONE on q-haiku")
        wait_text("game-2", f"Game 2 (A = {JUDGED}, B = baseline {BASELINE})",
                  f"Verdict: B>A: {BASELINE} is slightly better",
                  "JUDGE GAME TWO on q-haiku")

        # A model without judgments.
        choose("model-select", "new", UNJUDGED)
        wait_text("answer-b", f"B: {UNJUDGED}", "UNJUDGED HAIKU TURN ONE")
        assert NO_JUDGMENT in wait_text("game-1", NO_JUDGMENT)
        assert NO_JUDGMENT in wait_text("game-2", NO_JUDGMENT)

        # The long answer with code, judged, for the screenshot.
        choose("model-select", "judged", JUDGED)
        choose("cluster", "All", "All clusters")
        choose("question-select", "sort a list", "q-sort")  # the search box matches question text
        wait_text("answer-b", "JUDGED SORT ANSWER", "END OF LONG ANSWER")
        wait_text("answer-a", "BASELINE SORT ANSWER")
        wait_text("game-1", f"Verdict: B>A: {JUDGED} is slightly better", "JUDGE GAME ONE on q-sort")
        wait_text("game-2", f"Verdict: A>>B: {JUDGED} is significantly better", "JUDGE GAME TWO on q-sort")
        # Code is highlighted (Prism token spans inside the code block).
        assert driver.find_elements(By.CSS_SELECTOR, "#answer-b pre code span.token")
        # Everything the page is for is on screen at 1280x900.
        for elem_id in ("question", "answer-a", "answer-b", "game-1", "game-2"):
            rect = driver.find_element(By.ID, elem_id).rect
            assert rect["y"] >= 0 and rect["y"] + rect["height"] <= 900, (elem_id, rect)
        shot = tmp_path / "qa_browser.png"
        assert driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 30_000
        assert png_size(shot) == (1280, 900)

        # Leaderboard tab: verdict counts from the judgments (no leaderboard CSV in tmp_path).
        tab = next(b for b in driver.find_elements(By.CSS_SELECTOR, "button[role='tab']")
                   if "Leaderboard" in b.text)
        tab.click()
        # JUDGED: 1 strong win, 2 wins, 1 tie, 1 loss, 1 unparsable -> (1 + 2 + 0.5) / 5 = 70 %
        board = wait_text("leaderboard", JUDGED, "70")
        assert UNJUDGED not in board

        # A leaderboard CSV written while the server runs shows the next time the tab is selected.
        (tmp_path / "leaderboard").mkdir()
        (tmp_path / "leaderboard" / "arena_hard_leaderboard_20241105.csv").write_text(
            board_csv("csv-written-later,37.9"))
        for name in ("Questions", "Leaderboard"):
            next(b for b in driver.find_elements(By.CSS_SELECTOR, "button[role='tab']") if name in b.text).click()
        wait_text("leaderboard", "csv-written-later", "37.9")
        wait_text("leaderboard-note", "arena_hard_leaderboard_20241105.csv")
        # Our own URL line, not Gradio's "set `share=True` in `launch()`" advice.
        server_log = (tmp_path / "server.log").read_text()
        assert f"Browse the bench at http://127.0.0.1:{server.rsplit(':', 1)[1].strip('/')}/" in server_log
        assert "--share --auth" in server_log and "share=True" not in server_log
    finally:
        driver.quit()


# Someone else's answer: an overlay covering the page with a login form posting elsewhere, in
# every context a renderer treats differently (text, inline code, code blocks, after a list,
# LaTeX and mermaid blocks, which Gradio inserts as raw HTML), around markdown that must render.
HOSTILE_ANSWER = """HOSTILE ANSWER with **bold words** and a table:

| col a | col b |
|---|---|
| 1 | 2 |

<div id="overlay" style="position:fixed;top:0;left:0;width:100%;height:100%;z-index:9999;background:#fff">
<form id="phish" action="http://127.0.0.1:9/steal" method="post">Session expired, log in again:
<input id="pw" type="password" name="pw"><button type="submit">Log in</button></form></div>

Inline `if a<b: x = "<form>"` code, and a block:

```html
<form id="in-code"><input type="password"></form>
```

- a list item
```
<form id="after-list"><input type="password"></form>
```

$$<form id="in-latex"><input type="password"></form>$$

```mermaid
graph TD; A["&lt;form id=in-mermaid&gt;&lt;input type=password&gt;"]
```

<!-- a comment --> <https://example.com/autolink> END OF HOSTILE ANSWER"""

HOSTILE_JUDGMENT = ("HOSTILE JUDGMENT <style>body{display:none}</style>"
                    '<form id="judge-form"><input type="password"></form>'
                    '<div style="position:fixed;inset:0">JUDGE OVERLAY</div>')


def rendered_tags(markdown_text: str) -> set[str]:
    """The element names of the markdown rendered to HTML (python-markdown passes raw HTML through)."""
    from html.parser import HTMLParser

    import markdown

    tags: set[str] = set()

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.add(tag)

        def handle_comment(self, data):
            tags.add("!--")

    Collect().feed(markdown.markdown(markdown_text, extensions=["tables", "fenced_code"]))
    return tags


def test_inert_html_leaves_no_markup_and_changes_no_visible_text():
    for text in (HOSTILE_ANSWER, HOSTILE_JUDGMENT):
        assert {"form", "input", "div", "style", "button", "!--"} & rendered_tags(text)  # hostile as it is
        inert = qa_browser.inert_html(text)
        assert rendered_tags(inert) <= {"p", "strong", "table", "thead", "tbody", "tr", "th", "td", "code", "pre",
                                        "ul", "li"}
        assert inert.replace(qa_browser.WORD_JOINER, "") == text  # nothing visible changed
    assert {"strong", "table", "td", "pre", "code"} <= rendered_tags(qa_browser.inert_html(HOSTILE_ANSWER))
    assert "```" + qa_browser.WORD_JOINER + "mermaid" in qa_browser.inert_html(HOSTILE_ANSWER)
    # a "<" that opens nothing is left alone
    assert qa_browser.inert_html("1 < 2, a <= b, x <3, <>") == "1 < 2, a <= b, x <3, <>"
    # selection_views makes every view inert: the question, both answers, both games
    answers = {"q": {"question_id": "q", "choices": [{"turns": [{"content": "<form>"}]}]}}
    judgments = {"q": {"question_id": "q", "games": [{"score": "A>B", "judgment": "<input>"}] * 2}}

    class Records:
        def __init__(self, records):
            self.records = records

        def get(self, model):
            return self.records

    views = selection_views({"question_id": "q", "turns": [{"content": "<div>"}]}, "m", Records(answers),
                            Records(judgments), "base")
    assert all("<" + qa_browser.WORD_JOINER in view for view in views)
    assert not any(re.search(r"<[A-Za-z/!?]", view) for view in views)


def test_browser_shows_raw_html_of_answers_and_judgments_as_text(chromium, tmp_path, monkeypatch):
    import gradio as gr
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    config = make_bench(tmp_path)
    data = tmp_path / "data"
    # The model the page opens on (the first judged one) answers and is judged with hostile text:
    # nothing has to be selected, so the test does not race the page's start-up.
    hostile = [answer_record(JUDGED, q["question_id"], [HOSTILE_ANSWER]) for q in QUESTIONS]
    write_jsonl(model_file(answer_dir(BENCH, data), JUDGED), hostile)
    write_jsonl(model_file(judgment_dir(BENCH, JUDGE, data), JUDGED), [
        {"question_id": q["question_id"], "model": JUDGED, "judge": JUDGE,
         "games": [{"score": "A>B", "judgment": HOSTILE_JUDGMENT}] * 2} for q in QUESTIONS])
    # Served by main() in this process (gradio is imported already): no second server start-up.
    launched: list = []
    launch = gr.Blocks.launch
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: launched.append(self) or launch(self, **kwargs))
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)  # main() returns, the server stays up
    port = free_port()
    assert qa_browser.main(["--config-file", str(config), "--data-dir", str(data), "--port", str(port),
                            "--leaderboard-dir", str(tmp_path / "leaderboard")]) == 0
    driver = start_chromium(tmp_path)
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.1)  # generous: CI machines can be loaded
        driver.get(f"http://127.0.0.1:{port}/")

        def text_of(elem_id: str) -> str:
            return (driver.find_element(By.ID, elem_id).get_attribute("textContent") or "").replace(
                qa_browser.WORD_JOINER, "")

        wait.until(lambda d: "HOSTILE ANSWER" in text_of("answer-b") and "HOSTILE JUDGMENT" in text_of("game-1"))
        time.sleep(1.0)  # LaTeX and mermaid render after the markdown
        # None of the raw HTML became elements, anywhere on the page.
        for selector in ("form", "input[type='password']", "#overlay", "#phish", "#pw", "style:not(head style)",
                         "#in-code", "#after-list", "#in-latex", "#in-mermaid", "#judge-form", ".mermaid svg"):
            assert driver.find_elements(By.CSS_SELECTOR, selector) == [], selector
        fixed = driver.execute_script(
            "return [...document.querySelectorAll('#answer-b *, #game-1 *, #game-2 *')]"
            ".filter(e => getComputedStyle(e).position === 'fixed').length")
        assert fixed == 0
        # It shows as text, and the markdown around it still renders.
        answer = text_of("answer-b")
        assert '<form id="phish" action="http://127.0.0.1:9/steal" method="post">' in answer
        assert '<form id="in-code"><input type="password"></form>' in answer
        assert "<!-- a comment -->" in answer and "<style>body{display:none}</style>" in text_of("game-1")
        assert driver.find_element(By.CSS_SELECTOR, "#answer-b strong").text == "bold words"
        assert driver.find_elements(By.CSS_SELECTOR, "#answer-b table td")
        [code] = [c for c in driver.find_elements(By.CSS_SELECTOR, "#answer-b code")
                  if "a<b" in (c.get_attribute("textContent") or "").replace(qa_browser.WORD_JOINER, "")]
        assert code.get_attribute("textContent").replace(qa_browser.WORD_JOINER, "") == 'if a<b: x = "<form>"'
        assert driver.find_elements(By.CSS_SELECTOR, "#answer-b pre code")
        assert driver.find_element(By.TAG_NAME, "body").is_displayed()
    finally:
        driver.quit()
        for demo in launched:
            demo.close()


def test_model_b_starts_on_a_judged_model(tmp_path, launches):
    import gradio as gr

    config = make_bench(tmp_path)
    write_jsonl(model_file(answer_dir(BENCH, tmp_path / "data"), "aaa-first-unjudged"),
                answers_of("FIRST", "aaa-first-unjudged"))
    assert qa_browser.main(["--config-file", str(config), "--data-dir", str(tmp_path / "data")]) == 0
    [model] = [b for b in launches[-1]["demo"].blocks.values()
               if isinstance(b, gr.Dropdown) and b.elem_id == "model-select"]
    assert model.value == JUDGED
    assert [value for _, value in model.choices] == ["aaa-first-unjudged", JUDGED, UNJUDGED]


# --------------------------------------------------------------------------------------------
# Arena-Hard v2.0 benches: --bench, judge folders, the baseline each judgment names, thoughts
# --------------------------------------------------------------------------------------------

V2_BENCH = "arena-hard-v2.0"
O3 = "o3-mini-2025-01-31"
GEMINI = "gemini-2.0-flash-001"
REASONER = "org/reasoner"
V2_QUESTIONS = [
    {"uid": "u-code", "category": "hard_prompt", "subcategory": "coding", "prompt": "Write a quicksort in C."},
    {"uid": "u-math", "category": "hard_prompt", "subcategory": "math", "prompt": "Prove that sqrt(2) is irrational."},
    {"uid": "u-poem", "category": "creative_writing", "subcategory": "creative_writing",
     "prompt": "Write a sonnet about the sea."},
]


def v2_answer(model: str, uid: str, text: str, thought: str | None = None, system: str | None = None) -> dict:
    content = {"answer": text} if thought is None else {"thought": thought, "answer": text}
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": "(prompt)"}, {"role": "assistant", "content": content}]
    return {"uid": uid, "ans_id": f"{model}-{uid}", "model": model, "messages": messages, "tstamp": 1.0,
            "metadata": {"token_len": len(text.split())}}


def v2_game(score: str | None, text: str, thought: str | None = None) -> dict:
    judgment = {"answer": text} if thought is None else {"thought": thought, "answer": text}
    return {"score": score, "judgment": judgment,
            "prompt": [{"role": "system", "content": "SYSTEM PROMPT OF THE JUDGE"},
                       {"role": "user", "content": f"PROMPT SHOWN TO THE JUDGE: {text[:20]}"}]}


def v2_judgment(uid: str, category: str, baseline: str, games: list, judge: str = "gpt-4.1") -> dict:
    return {"uid": uid, "category": category, "judge": judge, "model": REASONER, "baseline": baseline,
            "games": games}


def make_v2_bench(root: Path) -> Path:
    """A v2.0 bench: two hard prompts (baseline o3-mini) and a creative one (baseline gemini), a
    reasoning model whose answers carry a thought (one behind a system message), judged by two
    judges. Returns the data folder."""
    data = root / "data"
    write_jsonl(data / V2_BENCH / "question.jsonl", V2_QUESTIONS)
    answers = answer_dir(V2_BENCH, data)
    for model, tag in ((O3, "O3"), (GEMINI, "GEMINI")):
        write_jsonl(model_file(answers, model), [v2_answer(model, q["uid"], f"{tag} ANSWER {q['uid']}")
                                                  for q in V2_QUESTIONS])
    write_jsonl(model_file(answers, REASONER), [
        v2_answer(REASONER, "u-code", "REASONER ANSWER u-code",
                  thought="REASONER THOUGHT u-code <form id='thought-form'><input type='password'></form>"),
        v2_answer(REASONER, "u-math", "REASONER ANSWER u-math", thought="REASONER THOUGHT u-math",
                  system="You are terse."),  # upstream's browser took messages[1] as the answer here
        v2_answer(REASONER, "u-poem", "REASONER ANSWER u-poem"),
    ])
    write_jsonl(model_file(judgment_dir(V2_BENCH, "gpt-4.1", data), REASONER), [
        v2_judgment("u-code", "hard_prompt", O3, [v2_game("B>A", "GPT JUDGMENT ONE u-code", thought="JUDGE THOUGHT"),
                                                  v2_game("A>B", "GPT JUDGMENT TWO u-code")]),
        v2_judgment("u-math", "hard_prompt", O3, [v2_game("A=B", "GPT JUDGMENT ONE u-math"), None]),
        v2_judgment("u-poem", "creative_writing", GEMINI, [v2_game("B>>A", "GPT JUDGMENT ONE u-poem"),
                                                           v2_game("A>>B", "GPT JUDGMENT TWO u-poem")]),
    ])
    write_jsonl(model_file(judgment_dir(V2_BENCH, "gemini-2.5", data), REASONER), [
        v2_judgment("u-code", "hard_prompt", O3, [v2_game("A>B", "GEMINI JUDGMENT ONE u-code"),
                                                  v2_game("B>A", "GEMINI JUDGMENT TWO u-code")], judge="gemini-2.5"),
    ])
    return data


def v2_views(data: Path, uid: str, judge: str = "gpt-4.1", fallback: str | None = None):
    question = next(q for q in V2_QUESTIONS if q["uid"] == uid)
    answers = ModelRecords(answer_dir(V2_BENCH, data), qa_browser.ANSWER_KEYS)
    judgments = qa_browser.judgment_records(judgment_dir(V2_BENCH, judge, data))
    return selection_views(question, REASONER, answers, judgments, fallback, v2_bench=True)


def only_our_tags(view: str) -> bool:
    """No markup in a view but the <details>/<summary> the browser adds itself."""
    return set(re.findall(r"<(/?[A-Za-z][A-Za-z0-9]*)", view)) <= {"details", "/details", "summary", "/summary"}


def test_v2_views_show_the_baseline_each_judgment_names(tmp_path):
    data = make_v2_bench(tmp_path)
    question, a, b, game_1, game_2 = v2_views(data, "u-code")
    assert "Write a quicksort in C." in question and "subcategory: coding" in question
    assert a.startswith(f"### A: {O3}") and "O3 ANSWER u-code" in a
    assert game_1.startswith(f"### Game 1 (A = baseline {O3}, B = {REASONER})")
    assert f"Verdict: B>A: {REASONER} is slightly better" in game_1 and "GPT JUDGMENT ONE u-code" in game_1
    # the creative question's judgment names gemini, whatever baseline the caller would fall back to
    _, a, _, game_1, _ = v2_views(data, "u-poem", fallback=O3)
    assert a.startswith(f"### A: {GEMINI}") and "GEMINI ANSWER u-poem" in a and "O3 ANSWER" not in a
    assert f"baseline {GEMINI}" in game_1
    # another judge's folder: its own judgments
    *_, game_1, game_2 = v2_views(data, "u-code", judge="gemini-2.5")
    assert "GEMINI JUDGMENT ONE u-code" in game_1 and "GEMINI JUDGMENT TWO u-code" in game_2
    # no judgment: the category's baseline when one is known, else said to be unknown
    _, a, _, game_1, _ = v2_views(data, "u-math", judge="gemini-2.5", fallback=O3)
    assert a.startswith(f"### A: {O3}") and NO_JUDGMENT in game_1
    _, a, _, game_1, _ = v2_views(data, "u-math", judge="gemini-2.5")
    assert a.startswith("### A: baseline unknown") and NO_JUDGMENT in game_1


def test_v2_views_fold_thoughts_and_prompts_away_and_show_null_games(tmp_path):
    data = make_v2_bench(tmp_path)
    views = v2_views(data, "u-code")
    _, a, b, game_1, game_2 = views
    main_b, _, folded_b = b.partition("<details>")
    assert "REASONER ANSWER u-code" in main_b and "REASONER THOUGHT" not in main_b
    assert folded_b.startswith("<summary>Thinking (reasoning model)</summary>") and "REASONER THOUGHT u-code" in folded_b
    assert folded_b.rstrip().endswith("</details>")
    assert "<details>" not in a  # the baseline has no thought
    # the judge's thought and the prompt it saw, folded; never the system prompt
    main_1, _, folds_1 = game_1.partition("<details>")
    assert "GPT JUDGMENT ONE u-code" in main_1 and "JUDGE THOUGHT" not in main_1
    assert "Judge's thinking" in folds_1 and "JUDGE THOUGHT" in folds_1
    assert "Prompt the judge saw" in folds_1 and "PROMPT SHOWN TO THE JUDGE" in folds_1
    assert "SYSTEM PROMPT OF THE JUDGE" not in game_1
    assert game_2.count("<details>") == 1  # no thought in game 2: its prompt only
    # raw HTML in a thought stays text; the only tags are the folds' own
    assert "<" + qa_browser.WORD_JOINER + "form" in folded_b
    assert all(only_our_tags(view) for view in views)
    # a null game (upstream's failed call) is said to be so; the other game shows
    _, _, b, game_1, game_2 = v2_views(data, "u-math")
    assert "REASONER ANSWER u-math" in b.partition("<details>")[0]  # the answer behind a system message
    assert "GPT JUDGMENT ONE u-math" in game_1 and "game 2 has no judgment" in game_2


def test_folded_closes_an_open_code_fence():
    block = qa_browser.folded("s", "```python\nx = 1")
    assert block.count("```") == 2 and block.rstrip().endswith("</details>")
    assert qa_browser.folded("s", "```\nx\n```").count("```") == 2


@pytest.mark.parametrize("answer, reason", [
    ({"uid": "u", "messages": []}, "answer has no messages"),
    ({"uid": "u", "messages": [{"role": "user", "content": "q"}]}, "last message is not the assistant's"),
    ({"uid": "u", "messages": [{"role": "assistant", "content": {"thought": "t"}}]}, "no answer text"),
])
def test_malformed_v2_answer_is_shown_not_raised(answer, reason):
    md = answer_markdown(answer, "B", REASONER, "model")
    assert qa_browser.MALFORMED_ANSWER in md and reason in md
    assert qa_browser.answer_thought_text(answer) is None


def test_main_with_bench_offers_judge_folders_categories_and_judged_models(tmp_path, launches):
    import gradio as gr

    data = make_v2_bench(tmp_path)
    # a model answered but never judged is not offered (as upstream: models are judgment files)
    write_jsonl(model_file(answer_dir(V2_BENCH, data), "unjudged"), [v2_answer("unjudged", "u-code", "x")])
    assert qa_browser.main(["--bench", V2_BENCH, "--data-dir", str(data),
                            "--leaderboard-dir", str(tmp_path / "lb")]) == 0
    blocks = launches[-1]["demo"].blocks.values()
    dropdown = {b.elem_id: b for b in blocks if isinstance(b, gr.Dropdown)}
    assert [v for _, v in dropdown["judge-select"].choices] == ["gemini-2.5", "gpt-4.1"]
    assert dropdown["judge-select"].visible and dropdown["judge-select"].value == "gemini-2.5"
    assert [v for _, v in dropdown["model-select"].choices] == [REASONER]
    assert [v for _, v in dropdown["category"].choices] == ["hard_prompt", "creative_writing"]
    assert dropdown["cluster"].label == "Subcategory"
    assert dropdown["cluster"].choices == [("All subcategories (2)", ALL_CLUSTERS), ("coding (1)", "coding"),
                                           ("math (1)", "math")]
    assert [v for _, v in dropdown["question-select"].choices] == ["u-code", "u-math"]
    # choosing a judge lists its models and shows its judgments
    [on_judge] = [f for f in launches[-1]["demo"].fns.values() if dropdown["judge-select"] in f.inputs
                  and f.outputs == [dropdown["model-select"]]]
    listed = on_judge.fn("gpt-4.1", "a model this judge never saw")
    assert listed.value == REASONER and [v for _, v in listed.choices] == [REASONER]
    # the Leaderboard tab counts the verdicts of the judge chosen (a null game is not a game)
    [table] = [b for b in blocks if isinstance(b, gr.Dataframe)]
    [select] = [f for f in launches[-1]["demo"].fns.values() if table in f.outputs]
    note, frame = select.fn("gpt-4.1")
    assert "**gpt-4.1**" in note and frame["model"].tolist() == [REASONER] and frame["games"].tolist() == [5]
    note, frame = select.fn("gemini-2.5")
    assert "**gemini-2.5**" in note and frame["games"].tolist() == [2]


def test_v2_judge_config_gives_the_bench_first_judge_and_category_baselines(tmp_path, launches):
    import gradio as gr

    data = make_v2_bench(tmp_path)
    config = tmp_path / "arena-hard-v2.0.yaml"
    config.write_text(f"judge_model: gpt-4.1\nbench_name: {V2_BENCH}\nprompt_template: x\n"
                      f"categories:\n  hard_prompt: {{baseline: {O3}, system_prompt: s}}\n"
                      f"  creative_writing: {{baseline: {GEMINI}, system_prompt: s}}\n")
    assert qa_browser.main(["--config-file", str(config), "--data-dir", str(data)]) == 0
    demo = launches[-1]["demo"]
    [judge] = [b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.elem_id == "judge-select"]
    assert judge.value == "gpt-4.1"
    [show] = [f for f in demo.fns.values() if f.name == "show" and len(f.inputs) == 3][:1]
    # no gemini-2.5 judgment of u-math: the category's baseline from the config
    _, a, _, game_1, _ = show.fn("u-math", REASONER, "gemini-2.5")
    assert a.startswith(f"### A: {O3}") and NO_JUDGMENT in game_1
    config.write_text(f"judge_model: gpt-4.1\nbench_name: {V2_BENCH}\ncategories: [a, b]\n")
    assert qa_browser.main(["--config-file", str(config), "--data-dir", str(data)]) == 2


def test_the_shipped_v2_judge_config_opens_the_v2_page(tmp_path, launches):
    """README's `--config-file config/arena-hard-v2.0.yaml`: a config gen_judgment accepts, read
    as the v2.0 one it is (not as a v0.1 config with the baseline off and no judges offered)."""
    import gradio as gr

    data = make_v2_bench(tmp_path)
    assert qa_browser.main(["--config-file", str(REPO / "config" / "arena-hard-v2.0.yaml"),
                            "--data-dir", str(data)]) == 0
    demo = launches[-1]["demo"]
    [judge] = [b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.elem_id == "judge-select"]
    assert judge.visible and judge.value == "gpt-4.1" and [c[0] for c in judge.choices] == ["gemini-2.5", "gpt-4.1"]
    [show] = [f for f in demo.fns.values() if f.name == "show" and len(f.inputs) == 3][:1]
    _, a, _, game_1, _ = show.fn("u-math", REASONER, "gemini-2.5")
    assert a.startswith(f"### A: {O3}") and NO_JUDGMENT in game_1


def test_bench_not_found_lists_the_benches(tmp_path, launches, caplog):
    data = make_v2_bench(tmp_path)
    make_bench(tmp_path)
    with caplog.at_level(logging.ERROR):
        assert qa_browser.main(["--bench", "arena-hard-v9", "--data-dir", str(data)]) == 2
        assert qa_browser.main(["--bench", "../etc", "--data-dir", str(data)]) == 2
    first, second = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "arena-hard-v9/question.jsonl: file not found" in first and f"{V2_BENCH}, {BENCH}" in first
    assert "--bench" in second and launches == []


def test_browser_browses_a_v2_bench(chromium, tmp_path, monkeypatch):
    import gradio as gr
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    data = make_v2_bench(tmp_path)
    launched: list = []
    launch = gr.Blocks.launch
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: launched.append(self) or launch(self, **kwargs))
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)  # main() returns, the server stays up
    port = free_port()
    assert qa_browser.main(["--bench", V2_BENCH, "--data-dir", str(data), "--port", str(port),
                            "--leaderboard-dir", str(tmp_path / "leaderboard")]) == 0
    driver = start_chromium(tmp_path)
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.1)
        driver.get(f"http://127.0.0.1:{port}/")

        def shown(elem_id: str) -> str:  # the visible text only: a closed <details> hides its body
            return driver.find_element(By.ID, elem_id).text

        wait_shown = functools.partial(wait_for_text, wait, shown)

        choose = functools.partial(choose_option, driver, wait)

        # Opens on the first judge folder (gemini-2.5), the first hard prompt, against o3-mini.
        wait_shown("answer-a", f"A: {O3}", "O3 ANSWER u-code")
        wait_shown("game-1", f"baseline {O3}", "GEMINI JUDGMENT ONE u-code")
        # The thought is folded away: its text is on the page but not shown until opened.
        answer_b = wait_shown("answer-b", "REASONER ANSWER u-code", "Thinking (reasoning model)")
        assert "REASONER THOUGHT" not in answer_b
        assert driver.execute_script("return document.querySelector('#answer-b details').open") is False
        driver.find_element(By.CSS_SELECTOR, "#answer-b details summary").click()
        wait_shown("answer-b", "REASONER THOUGHT u-code")
        assert driver.find_elements(By.CSS_SELECTOR, "form, input[type='password'], #thought-form") == []

        # Another judge folder: its judgments, with the judge's thought and prompt folded.
        choose("judge-select", "gpt", "gpt-4.1")
        game_1 = wait_shown("game-1", "GPT JUDGMENT ONE u-code", "Judge's thinking", "Prompt the judge saw")
        assert "JUDGE THOUGHT" not in game_1 and "PROMPT SHOWN TO THE JUDGE" not in game_1

        # The creative-writing category: that judgment names gemini as the baseline.
        choose("category", "creative", "creative_writing")
        wait_shown("question", "Write a sonnet about the sea.", "subcategory: creative_writing")
        wait_shown("answer-a", f"A: {GEMINI}", "GEMINI ANSWER u-poem")
        wait_shown("game-1", f"baseline {GEMINI}", "GPT JUDGMENT ONE u-poem")
    finally:
        driver.quit()
        for demo in launched:
            demo.close()
