"""Tests of gen_judgment.py on Arena-Hard v2.0: the per-category judge settings, the exact
messages, the label rule, upstream v2.0's records, failures, resume and config errors.

Usage: python -m pytest tests/test_gen_judgment_v2.py

Every judge call goes over real HTTP to tests/fake_api.py through the openai / anthropic SDKs;
main() runs in-process on small v2.0 data in tmp_path.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import yaml

import gen_judgment
from conftest import write_jsonl
import fake_api
from fake_api import FakeAPI, conversation
from gen_judgment import last_verdict
from utils import V2_VERDICT_REGEXES, claim_output, count_tokens, load_judge_settings

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "config" / "arena-hard-v2.0.yaml"

# A test table: every category its own baseline and system prompt, so a mix-up shows.
CATEGORIES = {
    "hard_prompt": {"baseline": "base-hard", "system_prompt": "SYS hard: answer first, then judge."},
    "math": {"baseline": "base-math", "system_prompt": "SYS math: check every step."},
    "creative_writing": {"baseline": "base-cw", "system_prompt": "SYS creative: compare the two."},
    "arena-hard-v0.1": {"baseline": "base-old", "system_prompt": "SYS old: the v0.1 way."},
}
TEMPLATE = ("<|User Prompt|>\n{QUESTION}\n\n<|The Start of Assistant A's Answer|>\n{ANSWER_A}\n"
            "<|The End of Assistant A's Answer|>\n\n<|The Start of Assistant B's Answer|>\n{ANSWER_B}\n"
            "<|The End of Assistant B's Answer|>")
REPLY = "Both answers run. B handles the empty input.\n\nMy final verdict is: [[B>A]]"

# (uid, category, subcategory, prompt)
QUESTIONS = [
    ("u-hard", "hard_prompt", "coding", "Write a sort in Zig."),
    ("u-math", "math", "math", "Solve x + 1 = 2."),
    ("u-cw", "creative_writing", "creative_writing", "Write a haiku about rain."),
    ("u-old", "arena-hard-v0.1", "", "An old question."),
]
BASELINE_OF = {"u-hard": "base-hard", "u-math": "base-math", "u-cw": "base-cw", "u-old": "base-old"}


def filled(question: str, a: str, b: str) -> str:
    """TEMPLATE written out by hand, so the test does not reuse the code under test."""
    return (f"<|User Prompt|>\n{question}\n\n<|The Start of Assistant A's Answer|>\n{a}\n"
            f"<|The End of Assistant A's Answer|>\n\n<|The Start of Assistant B's Answer|>\n{b}\n"
            f"<|The End of Assistant B's Answer|>")


def v2_answer(uid: str, model: str, prompt: str, text: str, thought: str | None = None) -> dict:
    """An answer record as upstream v2.0 writes it."""
    content = {"answer": text} if thought is None else {"thought": thought, "answer": text}
    return {"uid": uid, "ans_id": f"{model}-{uid}", "model": model,
            "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": content}],
            "tstamp": 1.7e9, "metadata": {"token_len": 3}}


def make_v2_bench(data_dir: Path, questions=QUESTIONS, models=("m1",), bench: str = "bench") -> Path:
    """question.jsonl, every baseline's answers to its category's questions, and each model's
    answers (with a thought) to every question."""
    root = data_dir / bench
    write_jsonl(root / "question.jsonl", [{"uid": u, "category": c, "subcategory": s, "prompt": p}
                                          for u, c, s, p in questions])
    for baseline in sorted(set(BASELINE_OF.values())):
        write_jsonl(root / "model_answer" / f"{baseline}.jsonl",
                    [v2_answer(u, baseline, p, f"{baseline} on {u}") for u, _, _, p in questions
                     if BASELINE_OF.get(u) == baseline])
    for model in models:
        write_jsonl(root / "model_answer" / f"{model}.jsonl",
                    [v2_answer(u, model, p, f"{model} on {u}", thought=f"SECRET THOUGHT of {model}")
                     for u, _, _, p in questions])
    return root


class Setup:
    """A v2.0 judge config and api_config in tmp_path pointing at a fake server."""

    def __init__(self, tmp_path: Path, api: FakeAPI, api_type: str = "openai", **overrides) -> None:
        self.data_dir = tmp_path / "data"
        self.setting_file = tmp_path / "arena-hard-v2.0.yaml"
        self.endpoint_file = tmp_path / "api_config.yaml"
        self.judge: dict = {
            "judge_model": "the-judge", "temperature": 0.0, "max_tokens": 16000, "bench_name": "bench",
            "reference": None, "regex_patterns": list(V2_VERDICT_REGEXES), "prompt_template": TEMPLATE,
            "categories": CATEGORIES, "model_list": ["m1"],
        }
        self.judge.update(overrides)
        base = api.anthropic_base if api_type == "anthropic" else api.openai_base
        self.endpoint = {"model_name": "judge-api-name", "api_type": api_type,
                         "endpoints": [{"api_base": base, "api_key": "sk-test"}],
                         "parallel": 1, "max_retries": 0, "retry_base_delay": 0.01, "timeout": 10}
        self.write()

    def write(self) -> None:
        self.setting_file.write_text(yaml.safe_dump(self.judge), encoding="utf-8")
        self.endpoint_file.write_text(yaml.safe_dump({self.judge["judge_model"]: self.endpoint}), encoding="utf-8")

    def args(self, *extra: str) -> list[str]:
        return ["--setting-file", str(self.setting_file), "--endpoint-file", str(self.endpoint_file),
                "--data-dir", str(self.data_dir), "--no-progress", *extra]

    def run(self, *extra: str) -> int:
        return gen_judgment.main(self.args(*extra))

    def judgment_file(self, model: str = "m1") -> Path:
        return self.data_dir / self.judge["bench_name"] / "model_judgment" / self.judge["judge_model"] / f"{model}.jsonl"

    def records(self, model: str = "m1") -> dict[str, dict]:
        """The judgment file's records by uid; every line whole, one per uid."""
        path = self.judgment_file(model)
        if not path.exists():
            return {}
        data = path.read_text(encoding="utf-8")
        assert data == "" or data.endswith("\n"), "torn last line"
        records = [json.loads(line) for line in data.split("\n") if line]
        assert len({r["uid"] for r in records}) == len(records), "a uid written twice"
        return {r["uid"]: r for r in records}


FAKE_API_OPTIONS = {"responder": lambda body, path: REPLY}  # for the `api` fixture (conftest.py)


def expected_messages(uid: str, model: str = "m1") -> list[list[dict]]:
    """The [system, user] messages of both games of a question of QUESTIONS, by hand."""
    _, category, _, prompt = next(q for q in QUESTIONS if q[0] == uid)
    system = {"role": "system", "content": CATEGORIES[category]["system_prompt"]}
    base, mine = f"{BASELINE_OF[uid]} on {uid}", f"{model} on {uid}"
    return [[system, {"role": "user", "content": filled(prompt, base, mine)}],
            [system, {"role": "user", "content": filled(prompt, mine, base)}]]


def error_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# --------------------------------------------------------------------------------------------
# The label rule (upstream v2.0's get_score)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("[[A>B]] .. [[B>A]]", "B>A"),  # checked upstream: the LAST label (v0.1: null)
    ("[[a>b]]", "A>B"),  # checked: the reply is uppercased
    ("[B>A]", "B>A"),  # checked: the second pattern
    ("[A]", "A"),  # checked: any run of the label characters
    ("", None),
    ("Assistant B is better.", None),
    ("[[A>B]] first, then a single [B>A]", "A>B"),  # the first pattern that matches decides
    ("[[]] and then [A=B]", "A=B"),  # an empty [[]] is no match of the first pattern
    ("Final verdict: [[b>>a]].", "B>>A"),
    ("[[A=B]]\n\n[[A=B]]", "A=B"),
])
def test_last_verdict_with_upstream_patterns(text, expected):
    assert last_verdict(text, V2_VERDICT_REGEXES) == expected


def test_last_verdict_drops_empty_matches_and_strips_newlines():
    assert last_verdict("[[A>B]] then [[]]", [r"\[\[([AB<>=]*)\]\]"]) == "A>B"  # empty match dropped
    assert last_verdict("[[]]", [r"\[\[([AB<>=]*)\]\]", r"\[([AB<>=]+)\]"]) is None
    assert last_verdict("[[B>A\n]]", [r"\[\[([AB<>=\n]+)\]\]"]) == "B>A"
    assert last_verdict("score: 7", [r"SCORE: (\d)"]) == "7"  # patterns see the uppercased text


# --------------------------------------------------------------------------------------------
# Messages and records through the SDK and the fake server
# --------------------------------------------------------------------------------------------


def test_each_category_gets_its_baseline_and_system_prompt(tmp_path, api):
    make_v2_bench(tmp_path / "data")
    setup = Setup(tmp_path, api)
    assert setup.run() == 0
    sent = [conversation(r["body"]) for r in api.requests]
    assert len(sent) == 8
    for uid, *_ in QUESTIONS:
        for game in expected_messages(uid):
            assert sent.count(game) == 1, (uid, game)
    assert not any("SECRET THOUGHT" in json.dumps(r["body"]) for r in api.requests)  # the answer only
    records = setup.records()
    assert sorted(records) == sorted(q[0] for q in QUESTIONS)
    for uid, category, _, _ in QUESTIONS:
        record = records[uid]
        assert record["category"] == category and record["baseline"] == BASELINE_OF[uid]
        assert [g["prompt"] for g in record["games"]] == expected_messages(uid)


def test_record_is_upstream_v2_shape(tmp_path, api):
    questions = [QUESTIONS[0]]
    root = make_v2_bench(tmp_path / "data", questions)
    # the record's model and baseline are the answers' own `model` fields (upstream v2.0)
    for name, written in (("m1", "m1-as-written"), ("base-hard", "o3-mini-as-written")):
        path = root / "model_answer" / f"{name}.jsonl"
        record = json.loads(path.read_text(encoding="utf-8"))
        record["model"] = written
        write_jsonl(path, [record])
    setup = Setup(tmp_path, api)
    assert setup.run() == 0
    game1, game2 = expected_messages("u-hard")
    line = setup.judgment_file().read_text(encoding="utf-8")
    assert json.loads(line) == {
        "uid": "u-hard", "category": "hard_prompt", "judge": "the-judge", "model": "m1-as-written",
        "baseline": "o3-mini-as-written",
        "games": [{"score": "B>A", "judgment": {"answer": REPLY}, "prompt": game1},
                  {"score": "B>A", "judgment": {"answer": REPLY}, "prompt": game2}],
        # what both calls cost, as the server reported it (the fake's own counts)
        "usage": {"input_tokens": sum(fake_api.prompt_tokens(r["body"]) for r in api.requests),
                  "cached_input_tokens": 0, "output_tokens": 2 * fake_api.count_tokens(REPLY), "calls": 2},
    }
    record = json.loads(line)
    assert list(record) == ["uid", "category", "judge", "model", "baseline", "games", "usage"]
    assert all(list(game) == ["score", "judgment", "prompt"] for game in record["games"])
    # read as upstream v2.0's show_result and qa_browser read it
    scores = [record["games"][1]["score"], record["games"][0]["score"]]
    assert scores == ["B>A", "B>A"]
    assert record["games"][0]["judgment"]["answer"].endswith("[[B>A]]")
    assert record["games"][0]["prompt"][1]["content"].startswith("<|User Prompt|>\nWrite a sort in Zig.")


def test_one_request_per_game_no_follow_up_and_config_sampling(tmp_path, api):
    api.responder = lambda body, path: "I cannot decide."  # no label at all
    make_v2_bench(tmp_path / "data", [QUESTIONS[2]])
    setup = Setup(tmp_path, api, temperature=0.3, max_tokens=777)
    # the judge's own sampling settings in api_config (upstream v2.0 keys) are overridden
    setup.endpoint.update(temperature=1.0, max_tokens=50)
    setup.write()
    assert setup.run() == 0
    assert len(api.requests) == 2  # no "continue your judgment" follow-up
    for request in api.requests:
        body = request["body"]
        assert body["model"] == "judge-api-name"
        assert body["temperature"] == 0.3 and body["max_tokens"] == 777
    assert [g["score"] for g in setup.records()["u-cw"]["games"]] == [None, None]


def test_per_game_labels_are_read_with_the_pattern_list(tmp_path, api):
    def responder(body, path):
        user = conversation(body)[-1]["content"]
        game1 = user.index("base-hard on") < user.index("m1 on")
        return "At first [[A>B]]. On reflection [[b>>a]]." if game1 else "Verdict: [A=B]"

    api.responder = responder
    make_v2_bench(tmp_path / "data", [QUESTIONS[0]])
    setup = Setup(tmp_path, api)
    assert setup.run() == 0
    assert [g["score"] for g in setup.records()["u-hard"]["games"]] == ["B>>A", "A=B"]


def test_anthropic_judge_gets_the_category_system_prompt(tmp_path, api):
    make_v2_bench(tmp_path / "data", [QUESTIONS[2]])
    setup = Setup(tmp_path, api, api_type="anthropic")
    assert setup.run() == 0
    assert [r["path"] for r in api.requests] == ["/v1/messages"] * 2
    assert [conversation(r["body"]) for r in api.requests] == expected_messages("u-cw")
    assert api.requests[0]["body"]["max_tokens"] == 16000


def test_reasoning_judge_stores_its_thought_apart(tmp_path, api):
    """A judge returning its reasoning apart (reasoning_content): the thought is stored as
    upstream does (judgment {thought, answer}); the label is read from the answer only."""
    from fake_api import Reasoned

    make_v2_bench(tmp_path / "data", [QUESTIONS[2]])
    setup = Setup(tmp_path, api)
    api.responder = lambda body, path: Reasoned(REPLY, "At first [[A>>B]], then I weighed both poems.")
    assert setup.run() == 0
    games = setup.records()["u-cw"]["games"]
    assert [g["judgment"] for g in games] == [
        {"thought": "At first [[A>>B]], then I weighed both poems.", "answer": REPLY}] * 2
    assert [g["score"] for g in games] == ["B>A", "B>A"]


def test_thinking_budget_is_checked_against_the_setting_files_max_tokens(tmp_path, api, caplog):
    """An Anthropic judge whose thinking budget the judge config's max_tokens leaves no room for
    stops the run before any request (the API would refuse every call)."""
    make_v2_bench(tmp_path / "data", [QUESTIONS[2]])
    setup = Setup(tmp_path, api, api_type="anthropic", max_tokens=2000)
    setup.endpoint["budget_tokens"] = 2000
    setup.write()
    assert setup.run() == 2
    [message] = error_lines(caplog)
    assert message == (f"{setup.endpoint_file}: the-judge.budget_tokens: 2000 must be below max_tokens 2000 "
                       "(the thinking counts toward max_tokens)")
    assert api.requests == []


# --------------------------------------------------------------------------------------------
# Failures, resume, upstream's files
# --------------------------------------------------------------------------------------------


def test_failed_game_writes_nothing_and_is_redone(tmp_path, api, caplog):
    broken = {"on": True}

    def responder(body, path):
        user = conversation(body)[-1]["content"]
        # game 2 of u-math (the model shown as A) fails with HTTP 500, not retried
        if broken["on"] and "Solve x + 1 = 2.\n\n<|The Start of Assistant A's Answer|>\nm1 on" in user:
            raise RuntimeError("judge down")
        return REPLY

    api.responder = responder
    make_v2_bench(tmp_path / "data")
    setup = Setup(tmp_path, api)
    assert setup.run() == 1
    assert sorted(setup.records()) == ["u-cw", "u-hard", "u-old"]  # never a record with a null game
    assert any("not judged: m1, question u-math" in m for m in error_lines(caplog))
    broken["on"] = False
    before = len(api.requests)
    assert setup.run() == 0
    assert len(api.requests) - before == 2  # both games of u-math, nothing else
    records = setup.records()
    assert sorted(records) == sorted(q[0] for q in QUESTIONS)
    assert all(None not in r["games"] for r in records.values())


def test_resume_by_uid_and_dry_run(tmp_path, api, capsys):
    make_v2_bench(tmp_path / "data", models=("m1", "m2"))
    setup = Setup(tmp_path, api, model_list=["m1", "m2"])
    path = setup.judgment_file("m2")
    game = {"score": "A=B", "judgment": {"answer": "[[A=B]]"}, "prompt": []}
    write_jsonl(path, [{"uid": "u-cw", "category": "creative_writing", "judge": "the-judge", "model": "m2",
                        "baseline": "base-cw", "games": [game, game]}])
    assert setup.run("--dry-run") == 0
    assert api.requests == [] and not setup.judgment_file("m1").exists()
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}

    def tokens(model: str, uids: list[str]) -> int:  # the chat format: 4 tokens a message, 3 a request
        return sum(count_tokens(m["content"]) + 4 for uid in uids for game in expected_messages(uid, model)
                   for m in game) + 3 * 2 * len(uids)

    all_uids = [q[0] for q in QUESTIONS]
    per_game = count_tokens("[[A=B]]")  # output: the texts of m2's stored judgment
    assert rows["m1"] == ["8", f"{tokens('m1', all_uids):,}", f"{8 * per_game}"]
    assert rows["m2"] == ["6", f"{tokens('m2', [u for u in all_uids if u != 'u-cw']):,}", f"{6 * per_game}"]
    assert setup.run() == 0
    assert len(api.requests) == 14  # 4 + 3 questions, 2 games each
    assert setup.records("m2")["u-cw"]["games"] == [game, game]  # cached record kept as it was
    assert setup.run() == 0
    assert len(api.requests) == 14  # everything cached


def test_upstream_judgment_file_with_null_games(tmp_path, api):
    """Upstream v2.0 stores a failed game as null and never retries it. Here a null game is
    played again (as upstream's "$ERROR$" judgments are redone for v0.1); the other game of the
    record is kept when its prompt is what this run would send, so no paid reply is bought twice."""
    make_v2_bench(tmp_path / "data")
    setup = Setup(tmp_path, api)
    hard1, hard2 = expected_messages("u-hard")
    math1, _ = expected_messages("u-math")
    old1, _ = expected_messages("u-old")
    stale = [{"role": "system", "content": "an older system prompt"}, old1[1]]

    def game(prompt, score="A>B", answer="upstream said [[A>B]]"):
        return {"score": score, "judgment": {"answer": answer}, "prompt": prompt}

    upstream = [
        {"uid": "u-hard", "category": "hard_prompt", "judge": "the-judge", "model": "m1", "baseline": "base-hard",
         "games": [game(hard1), game(hard2, None, "no label")]},  # complete: cached, even with a null score
        {"uid": "u-math", "category": "math", "judge": "the-judge", "model": "m1", "baseline": "base-math",
         "games": [game(math1), None]},  # game 2 failed: only game 2 is played
        {"uid": "u-old", "category": "arena-hard-v0.1", "judge": "the-judge", "model": "m1",
         "baseline": "base-old", "games": [game(stale), None]},  # game 1 from another prompt: both played
    ]
    setup.judgment_file().parent.mkdir(parents=True)
    setup.judgment_file().write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in upstream),
                                     encoding="utf-8")
    assert setup.run() == 0
    sent = [conversation(r["body"]) for r in api.requests]
    assert sorted(map(json.dumps, sent)) == sorted(map(json.dumps, [
        expected_messages("u-math")[1], *expected_messages("u-old"), *expected_messages("u-cw")]))
    records = setup.records()  # one line per uid: the redone records replaced upstream's
    assert records["u-hard"] == upstream[0]
    assert records["u-math"]["games"][0] == game(math1)
    assert records["u-math"]["games"][1] == {"score": "B>A", "judgment": {"answer": REPLY},
                                             "prompt": expected_messages("u-math")[1]}
    assert [g["prompt"] for g in records["u-old"]["games"]] == expected_messages("u-old")
    assert [g["score"] for g in records["u-old"]["games"]] == ["B>A", "B>A"]
    assert setup.run() == 0 and len(api.requests) == len(sent)  # all done now


def test_kept_games_only_whole_games_with_the_same_prompt():
    sys_, user = {"role": "system", "content": "S"}, {"role": "user", "content": "U"}
    games = ((sys_, user), (sys_, {"role": "user", "content": "V"}))
    good = {"score": None, "judgment": {"answer": "no label"}, "prompt": [sys_, user]}
    assert gen_judgment.kept_games(None, games) == (None, None)
    assert gen_judgment.kept_games({"games": [good]}, games) == (None, None)  # not two games
    assert gen_judgment.kept_games({"games": "x"}, games) == (None, None)
    assert gen_judgment.kept_games({"games": [good, None]}, games) == (good, None)
    assert gen_judgment.kept_games({"games": [None, good]}, games) == (None, None)  # game 2's prompt differs
    for broken in ({**good, "judgment": "[[A>B]]"}, {**good, "judgment": {"answer": None}},
                   {k: v for k, v in good.items() if k != "score"}, {**good, "prompt": [user]}):
        assert gen_judgment.kept_games({"games": [broken, None]}, games) == (None, None), broken


def test_second_run_on_the_same_file_stops_before_any_request(tmp_path, api, caplog):
    make_v2_bench(tmp_path / "data")
    setup = Setup(tmp_path, api)
    with claim_output(setup.judgment_file()):
        assert setup.run() == 2
    [message] = error_lines(caplog)
    assert message.startswith(f"{setup.judgment_file()}: another run (pid ")
    assert api.requests == []


def test_judge_without_verdicts_is_warned_about(tmp_path, api, caplog):
    api.responder = lambda body, path: "Both are fine."
    make_v2_bench(tmp_path / "data")
    setup = Setup(tmp_path, api)
    with caplog.at_level(logging.INFO):
        assert setup.run() == 0
    assert ("judge the-judge gave no verdict in 8 of 8 games of m1; it may not follow the prompt: check one "
            "with qa_browser.py") in caplog.messages
    assert any("wrote 4 of 4 judgments" in m and "8 of 8 games without a verdict" in m for m in caplog.messages)


def test_missing_answers_are_skipped_with_a_warning(tmp_path, api, caplog):
    root = make_v2_bench(tmp_path / "data")
    base_cw = root / "model_answer" / "base-cw.jsonl"
    base_cw.write_text("", encoding="utf-8")  # the creative-writing baseline lacks u-cw
    m1 = root / "model_answer" / "m1.jsonl"
    m1.write_text("".join(line + "\n" for line in m1.read_text().splitlines() if '"u-old"' not in line))
    setup = Setup(tmp_path, api)
    assert setup.run() == 0
    assert sorted(setup.records()) == ["u-hard", "u-math"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "m1: 1 question skipped, no answer from the baseline base-cw: u-cw" in warnings, warnings
    assert "m1: 1 question has no answer from this model (not judged): u-old" in warnings, warnings


# --------------------------------------------------------------------------------------------
# Config errors: one line naming the file (and key), before any request
# --------------------------------------------------------------------------------------------


def test_unknown_category_is_an_error_before_any_request(tmp_path, api, caplog):
    make_v2_bench(tmp_path / "data", QUESTIONS + [("u-new", "roleplay", "roleplay", "Be a pirate.")])
    setup = Setup(tmp_path, api)
    assert setup.run() == 2
    [message] = error_lines(caplog)
    assert message == (f"{setup.setting_file}: categories: no entry for the question category 'roleplay' of "
                       f"{setup.data_dir / 'bench' / 'question.jsonl'}: add its baseline and system_prompt")
    assert api.requests == [] and not setup.judgment_file().exists()


@pytest.mark.parametrize("change, expected", [
    ({"categories": None, "regex_patterns": list(V2_VERDICT_REGEXES)},
     "categories: missing (each question category's baseline and system_prompt; upstream v2.0 keeps them in "
     "its code): use config/arena-hard-v2.0.yaml, or config/arena-hard-v2.0.upstream.yaml"),
    ({"categories": {}}, "categories: expected a mapping of question category"),
    ({"categories": {"hard_prompt": {"system_prompt": "S"}}}, "categories.hard_prompt.baseline: expected a non-empty"),
    ({"categories": {"hard_prompt": {"baseline": "b", "system_prompt": ""}}},
     "categories.hard_prompt.system_prompt: expected a non-empty string"),
    ({"categories": {"hard_prompt": {"baseline": "b", "system_prompt": "S", "temperature": 1}}},
     "categories.hard_prompt.temperature: unknown key"),
    ({"system_prompt": "S", "baseline_model": "b"}, "baseline_model, system_prompt: v0.1 key(s), not read"),
    ({"regex_patterns": [r"\[\[(A)\]\]", "(unclosed"]}, "regex_patterns[1]: invalid regular expression"),
    ({"regex_patterns": [r"(A)(B)"]}, "regex_patterns[0]: at most one capture group"),
    ({"regex_patterns": []}, "regex_patterns: expected a non-empty list"),
    ({"prompt_template": "{question_1}: {ANSWER_A}"},
     "prompt_template: unknown placeholder {question_1} (expected QUESTION, ANSWER_A or ANSWER_B)"),
    ({"prompt_template": ["{QUESTION}", "{ANSWER_A}"]}, "prompt_template: expected one template string"),
    ({"reference": ["gold"]}, "reference: reference answers are not supported with a v2.0 config"),
    ({"temperature": float("nan")}, "temperature: expected a finite number"),
    ({"max_tokens": 0}, "max_tokens: must be at least 1"),
    ({"model_list": None}, "missing key 'model_list'"),
    ({"categories": {**CATEGORIES, "math": {"baseline": "b\nINFO forged", "system_prompt": "S"}}},
     "categories.math.baseline: model name"),
])
def test_config_errors_name_file_and_key(tmp_path, api, caplog, change, expected):
    make_v2_bench(tmp_path / "data")
    setup = Setup(tmp_path, api)
    setup.judge = {key: value for key, value in {**setup.judge, **change}.items() if value is not None}  # None: drop
    setup.write()
    assert setup.run() == 2
    [message] = error_lines(caplog)
    assert message.startswith(f"{setup.setting_file}: ") and expected in message, message
    assert "\n" not in message
    assert api.requests == []


def test_baseline_without_answers_is_named(tmp_path, api, caplog):
    root = make_v2_bench(tmp_path / "data")
    (root / "model_answer" / "base-cw.jsonl").unlink()
    setup = Setup(tmp_path, api)
    assert setup.run() == 2
    [message] = error_lines(caplog)
    assert message.startswith(f"{setup.setting_file}: categories.creative_writing.baseline 'base-cw' has no answers")
    assert api.requests == []


def test_v01_records_are_read_under_a_v2_config(tmp_path, api):
    root = tmp_path / "data" / "bench"
    write_jsonl(root / "question.jsonl", [{"question_id": "u-old", "category": "arena-hard-v0.1", "cluster": "c",
                                           "turns": [{"content": "An old question."}]}])
    for model in ("base-old", "m1"):
        write_jsonl(root / "model_answer" / f"{model}.jsonl", [{
            "question_id": "u-old", "answer_id": "a", "model_id": f"{model}-id", "tstamp": 0.0,
            "choices": [{"index": 0, "turns": [{"content": f"{model} on u-old"}]}]}])
    setup = Setup(tmp_path, api)
    assert setup.run() == 0
    assert [conversation(r["body"]) for r in api.requests] == expected_messages("u-old")
    record = setup.records()["u-old"]
    assert (record["uid"], record["category"]) == ("u-old", "arena-hard-v0.1")
    assert (record["model"], record["baseline"]) == ("m1-id", "base-old-id")  # the answers' own names


def test_multi_turn_question_is_a_data_error(tmp_path, api, caplog):
    root = make_v2_bench(tmp_path / "data", [QUESTIONS[3]])
    # a v0.1 question of the same category, with two turns
    write_jsonl(root / "question.jsonl", [{"question_id": "u-old", "category": "arena-hard-v0.1", "cluster": "c",
                                           "turns": [{"content": "one"}, {"content": "two"}]}])
    setup = Setup(tmp_path, api)
    assert setup.run() == 2
    [message] = error_lines(caplog)
    assert message == f"{root / 'question.jsonl'}: question u-old: 2 turns; a v2.0 config judges one-turn questions"


# --------------------------------------------------------------------------------------------
# The shipped config, and upstream's real v2.0 data ($ARENA_HARD_SHARED_DATA)
# --------------------------------------------------------------------------------------------


def test_shipped_v2_config():
    settings = load_judge_settings(SHIPPED)
    assert settings.is_v2 and settings.judge_model == "gpt-4.1" and settings.bench_name == "arena-hard-v2.0"
    assert settings.temperature == 0.0 and settings.max_tokens == 16000 and settings.ref_models == ()
    assert [r.pattern for r in settings.regexes] == [r"\[\[([AB<>=]+)\]\]", r"\[([AB<>=]+)\]"]
    assert {name: c.baseline for name, c in settings.categories.items()} == {
        "hard_prompt": "o3-mini-2025-01-31", "coding": "o3-mini-2025-01-31", "math": "o3-mini-2025-01-31",
        "creative_writing": "gemini-2.0-flash-001", "arena-hard-v0.1": "gpt-4-0314"}
    assert settings.prompt_templates == (TEMPLATE,)
    hard = settings.categories["hard_prompt"].system_prompt
    creative = settings.categories["creative_writing"].system_prompt
    assert {settings.categories[c].system_prompt for c in ("coding", "math", "arena-hard-v0.1")} == {hard}
    # the v0.1 judge prompt of this project, and the same minus the "answer it yourself" step
    assert hard == load_judge_settings(REPO / "config" / "judge_config.yaml").system_prompt
    assert "your own answer" in hard and "your own answer" not in creative and "yours" not in creative
    for label in ("[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[B>A]]", "[[B>>A]]"):
        assert label in hard and label in creative
    assert len(creative) < len(hard)


def test_shipped_v2_prompts_are_our_own_prose_not_upstreams(shared_data):
    # upstream v0.1's judge system prompt is, word for word, upstream v2.0's hard-prompt one
    upstream = yaml.safe_load((shared_data / "config" / "judge_config.yaml").read_text(encoding="utf-8"))
    upstream_sentences = {s.strip() for s in re.split(r"[.\n]", upstream["system_prompt"]) if len(s.strip()) > 30}
    assert len(upstream_sentences) > 5
    for category, judge in load_judge_settings(SHIPPED).categories.items():
        assert judge.system_prompt != upstream["system_prompt"], category
        ours = {s.strip() for s in re.split(r"[.\n]", judge.system_prompt)}
        assert not upstream_sentences & ours, category


def test_shipped_config_on_upstream_v2_data(tmp_path, api, shared_data):
    src = shared_data / "arena-hard-v2.0"
    bench = tmp_path / "data" / "arena-hard-v2.0"
    (bench / "model_answer").mkdir(parents=True)
    baseline = "o3-mini-2025-01-31"
    (bench / "model_answer" / f"{baseline}.jsonl").symlink_to(src / "model_answer" / f"{baseline}.jsonl")
    questions = [json.loads(line) for line in open(src / "question.jsonl", encoding="utf-8")]
    hard = [q for q in questions if q["category"] == "hard_prompt"][:2]
    write_jsonl(bench / "question.jsonl", hard)
    shipped = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    upstream_answers = {r["uid"]: r for r in map(json.loads, open(src / "model_answer" / f"{baseline}.jsonl"))}
    write_jsonl(bench / "model_answer" / "my-model.jsonl",
                [v2_answer(q["uid"], "my-model", q["prompt"], f"my answer to {q['uid']}") for q in hard])
    setting_file = tmp_path / "arena-hard-v2.0.yaml"
    setting_file.write_text(yaml.safe_dump({**shipped, "model_list": ["my-model"]}), encoding="utf-8")
    endpoint_file = tmp_path / "api_config.yaml"
    endpoint_file.write_text(yaml.safe_dump({"gpt-4.1": {
        "model_name": "gpt-4.1", "api_type": "openai", "parallel": 2,
        "endpoints": [{"api_base": api.openai_base, "api_key": "sk-test"}]}}), encoding="utf-8")
    assert gen_judgment.main(["--setting-file", str(setting_file), "--endpoint-file", str(endpoint_file),
                              "--data-dir", str(tmp_path / "data"), "--no-progress"]) == 0
    system = {"role": "system", "content": shipped["categories"]["hard_prompt"]["system_prompt"]}
    q = hard[0]
    base_text = upstream_answers[q["uid"]]["messages"][-1]["content"]["answer"]
    game1 = [system, {"role": "user", "content": filled(q["prompt"], base_text, f"my answer to {q['uid']}")}]
    assert game1 in [conversation(r["body"]) for r in api.requests]
    out = bench / "model_judgment" / "gpt-4.1" / "my-model.jsonl"
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["uid"] for r in records) == sorted(q["uid"] for q in hard)
    assert all(r["baseline"] == baseline and r["judge"] == "gpt-4.1" and r["category"] == "hard_prompt"
               for r in records)
