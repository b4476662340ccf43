"""Arena-Hard v2.0 end to end, and the interchangeability of our files with upstream v2.0's.

Usage: ARENA_HARD_SHARED_DATA=../shared/data python -m pytest tests/test_v2_end_to_end.py

A small v2.0 bench (hard_prompt and creative_writing questions) goes through every script:
gen_answer.py answers with both baselines and a reasoning model (its thought returned apart, as
reasoning_content), gen_judgment.py judges with two judges (one a reasoning judge) under two
setting files made from config/arena-hard-v2.0.yaml, show_result.py prints a table per category
pooled over both judges (checked against the independent pandas reference of upstream's
show_result in test_show_result_v2.py), and qa_browser.py shows a judgment. Every model call
goes over HTTP to tests/fake_api.py through the real openai SDK.

Interchangeability: a reader written the way upstream v2.0's scripts index records reads our
files, and upstream-shaped files (hand-built, and upstream's real o3-mini answers) feed ours.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import gen_answer
import gen_judgment
import qa_browser
import show_result
import utils
from conftest import write_jsonl
from fake_api import FakeAPI, Reasoned, conversation
from test_gen_answer import CREATIVE_PROMPT, HARD_PROMPT, UPSTREAM_TEMPLATE, fetch_v2, upstream_v2  # noqa: F401
from test_show_result_v2 import split_coefs, upstream_output

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "config" / "arena-hard-v2.0.yaml"
BENCH = "arena-hard-v2.0"
O3 = "o3-mini-2025-01-31"
GEMINI = "gemini-2.0-flash-001"
REASONER = "org/reasoner"  # a "/" in the name: stored as org%2Freasoner.jsonl, tabled as "reasoner"
JUDGES = ("judge-one", "judge-two")  # judge-two is a reasoning judge
BASELINE_OF = {"hard_prompt": O3, "creative_writing": GEMINI}
SERVED = {O3: "o3-mini-api", GEMINI: "gemini-api", REASONER: "reasoner-api",
          "judge-one": "judge-one-api", "judge-two": "judge-two-api"}
TAG = {"o3-mini-api": "O3", "gemini-api": "GEMINI", "reasoner-api": "REASONER"}

QUESTIONS = [
    {"uid": "h1", "category": "hard_prompt", "subcategory": "coding", "prompt": "Write a quicksort in C."},
    {"uid": "h2", "category": "hard_prompt", "subcategory": "math", "prompt": "Prove that sqrt(2) is irrational."},
    {"uid": "h3", "category": "hard_prompt", "subcategory": "coding", "prompt": "Reverse a linked list in Rust."},
    {"uid": "c1", "category": "creative_writing", "subcategory": "creative_writing", "prompt": "A sonnet about the sea."},
    {"uid": "c2", "category": "creative_writing", "subcategory": "creative_writing", "prompt": "A haiku about rain."},
    {"uid": "c3", "category": "creative_writing", "subcategory": "creative_writing", "prompt": "A limerick about a cat."},
]
BY_PROMPT = {q["prompt"]: (i, q) for i, q in enumerate(QUESTIONS)}
# Each judge's labels (game 1, game 2) per question; None: a reply without a label (score null).
VERDICTS = {
    "judge-one-api": {"h1": ("B>A", "A>B"), "h2": ("A>>B", "B>A"), "h3": ("A=B", None),
                      "c1": ("B>>A", "A<<B"), "c2": ("A>B", "B=A"), "c3": ("B<A", "A>B")},
    "judge-two-api": {"h1": ("B>A", "A<B"), "h2": ("B>A", "A=B"), "h3": ("A>B", "B>>A"),
                      "c1": ("A=B", "A>B"), "c2": ("B>A", "A<B"), "c3": ("B>>A", "B>A")},
}
JUDGE_THOUGHT = "JUDGE THOUGHT: at first sight [[A>>B]], let me look closer."  # a decoy label
A_START = "<|The Start of Assistant A's Answer|>\n"


def answer_text(tag: str, i: int, uid: str) -> str:
    """An answer whose length and markdown vary by model and question (style features not constant)."""
    k = {"O3": 1, "GEMINI": 2, "REASONER": 3}[tag]
    return (f"{tag} ANSWER {uid}\n" + "# Heading\n" * ((i + k) % 3) + "- point\n" * ((i * k) % 4)
            + "**bold** " * ((i + 2 * k) % 3) + "word " * (10 + 7 * i + 13 * k))


def thought_of(uid: str) -> str:
    return f"REASONER THOUGHT {uid}: " + "hmm " * 50


def respond(body: dict, path: str):
    """The fake server's answers: each model's text by question, the reasoner's with a thought;
    each judge's verdict by question and game (judge-two with a thought)."""
    served = body["model"]
    messages = conversation(body)
    user = messages[-1]["content"]
    if served in TAG:
        i, q = BY_PROMPT[user]
        text = answer_text(TAG[served], i, q["uid"])
        return Reasoned(text, thought_of(q["uid"])) if served == "reasoner-api" else text
    q = next(q for q in QUESTIONS if f"\n{q['prompt']}\n" in user)
    game = 2 if user.split(A_START, 1)[1].startswith("REASONER") else 1
    label = VERDICTS[served][q["uid"]][game - 1]
    reply = f"Judging {q['uid']} game {game}. " + (f"My final verdict is [[{label}]]" if label else "No verdict.")
    return Reasoned(reply, JUDGE_THOUGHT) if served == "judge-two-api" else reply


FAKE_API_OPTIONS = {"responder": respond}  # for the `api` fixture (conftest.py)


def endpoint(api: FakeAPI, name: str, **extra) -> dict:
    return {"model": SERVED[name], "api_type": "openai", "parallel": 2, "max_retries": 0, "timeout": 10,
            "endpoints": [{"api_base": api.openai_base, "api_key": "sk-test-key"}], **extra}


class Bench:
    """The config files and data folder of an end-to-end run under tmp_path."""

    def __init__(self, root: Path, api: FakeAPI) -> None:
        self.root, self.data = root, root / "data"
        self.api_config = root / "api_config.yaml"
        models = {O3: endpoint(api, O3, max_tokens=2000), GEMINI: endpoint(api, GEMINI),
                  REASONER: endpoint(api, REASONER, max_tokens=8000),
                  # the judges' own sampling values are replaced by the setting file's; one
                  # worker each, so the records' order (which the bootstrap draws follow) is fixed
                  "judge-one": endpoint(api, "judge-one", temperature=0.7, max_tokens=100, parallel=1),
                  "judge-two": endpoint(api, "judge-two", parallel=1)}
        self.api_config.write_text(yaml.safe_dump(models), encoding="utf-8")
        self.answer_config = root / "gen_answer_config.yaml"
        self.answer_config.write_text(yaml.safe_dump({"bench_name": BENCH, "model_list": [O3, GEMINI, REASONER]}))
        write_jsonl(self.data / BENCH / "question.jsonl", QUESTIONS)
        self.shipped = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
        self.judge_configs = {}
        for judge in JUDGES:
            path = root / f"{judge}.yaml"
            path.write_text(yaml.safe_dump({**self.shipped, "judge_model": judge, "model_list": [REASONER]}))
            self.judge_configs[judge] = path

    def answer(self) -> int:
        return gen_answer.main(["--setting-file", str(self.answer_config), "--endpoint-file", str(self.api_config),
                                "--data-dir", str(self.data), "--no-progress"])

    def judge(self, judge: str) -> int:
        return gen_judgment.main(["--setting-file", str(self.judge_configs[judge]), "--endpoint-file",
                                  str(self.api_config), "--data-dir", str(self.data), "--no-progress"])

    def answers(self, model: str) -> dict[str, dict]:
        path = utils.model_file(utils.answer_dir(BENCH, self.data), model)
        return {r["uid"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}

    def judgments(self, judge: str, model: str = REASONER) -> dict[str, dict]:
        path = utils.model_file(utils.judgment_dir(BENCH, judge, self.data), model)
        return {r["uid"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


# --------------------------------------------------------------------------------------------
# A reader shaped as upstream v2.0's scripts index records (nothing of utils)
# --------------------------------------------------------------------------------------------


def upstream_read(data: Path, bench: str, judges: list[str]) -> dict:
    """What upstream v2.0 takes from a bench: questions (uid, prompt, category); answers keyed by
    the first record's model, then uid (text = messages[-1]["content"]["answer"], style from
    metadata); judgments with each game's score and judgment["answer"], and each record's
    baseline and model answers looked up as upstream's show_result and qa_browser do."""
    root = data / bench
    questions = {}
    for line in (root / "question.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        questions[q["uid"]] = {"prompt": q["prompt"], "category": q["category"]}
    answers: dict[str, dict[str, dict]] = {}
    for path in sorted((root / "model_answer").glob("*.jsonl")):
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        answers[records[0]["model"]] = {r["uid"]: {
            "answer": r["messages"][-1]["content"]["answer"],
            "prompt": r["messages"][-2]["content"],
            "style": [r["metadata"]["token_len"], sum(r["metadata"]["header_count"].values()),
                      sum(r["metadata"]["list_count"].values()), sum(r["metadata"]["bold_count"].values())],
        } for r in records}
    judgments = []
    for judge in judges:
        for path in sorted((root / "model_judgment" / judge).glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                j = json.loads(line)
                games = [None if g is None else {"score": g["score"], "answer": g["judgment"]["answer"],
                                                 "user": g["prompt"][1]["content"], "system": g["prompt"][0]["content"]}
                         for g in j["games"]]
                judgments.append({"judge": judge, "uid": j["uid"], "category": j["category"], "model": j["model"],
                                  "games": games, "baseline_answer": answers[j["baseline"]][j["uid"]]["answer"],
                                  "model_answer": answers[j["model"]][j["uid"]]["answer"]})
    return {"questions": questions, "answers": answers, "judgments": judgments}


# --------------------------------------------------------------------------------------------
# End to end
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Iterator[Bench]:
    """Answers of the two baselines and the reasoner, judged by both judges, once for the module
    (bench.requests: every request the fake server got)."""
    with FakeAPI(responder=respond) as api:
        run = Bench(tmp_path_factory.mktemp("e2e"), api)
        assert run.answer() == 0
        for judge in JUDGES:
            assert run.judge(judge) == 0
        run.requests = list(api.requests)
    assert api.errors == []
    yield run


def test_answers_keep_the_reasoners_thought_apart(bench):
    reasoner = bench.answers(REASONER)
    assert sorted(reasoner) == sorted(q["uid"] for q in QUESTIONS)
    for i, q in enumerate(QUESTIONS):
        text = answer_text("REASONER", i, q["uid"])
        record = reasoner[q["uid"]]
        assert record["messages"] == [{"role": "user", "content": q["prompt"]},
                                      {"role": "assistant", "content": {"thought": thought_of(q["uid"]), "answer": text}}]
        assert record["metadata"] == {"token_len": utils.count_o200k_tokens(text), **utils.markdown_counts(text)}
        for baseline, tag in ((O3, "O3"), (GEMINI, "GEMINI")):
            content = bench.answers(baseline)[q["uid"]]["messages"][-1]["content"]
            assert content == {"answer": answer_text(tag, i, q["uid"])}  # no thought: none returned


def test_add_markdown_info_agrees_with_gen_answer_on_our_answers(bench, tmp_path):
    """add_markdown_info.py (upstream's step for answers made elsewhere) recounts our answers'
    metadata to the same values, records otherwise unchanged."""
    import add_markdown_info

    source = utils.answer_dir(BENCH, bench.data)
    assert add_markdown_info.main(["--dir", str(source), "--output-dir", str(tmp_path), "--workers", "1"]) == 0
    for path in sorted(source.glob("*.jsonl")):
        ours = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        recounted = [json.loads(line) for line in (tmp_path / path.name).read_text(encoding="utf-8").splitlines()]
        assert recounted == ours and [list(r["metadata"]) for r in recounted] == [list(r["metadata"]) for r in ours]


def test_each_judge_request_has_its_categorys_baseline_and_system_prompt(bench):
    judge_requests = [r["body"] for r in bench.requests if r["body"]["model"].startswith("judge-")]
    assert len(judge_requests) == len(JUDGES) * len(QUESTIONS) * 2
    seen = set()
    for body in judge_requests:
        system, user = body["messages"]
        q = next(q for q in QUESTIONS if f"\n{q['prompt']}\n" in user["content"])
        i = QUESTIONS.index(q)
        baseline_tag = "O3" if q["category"] == "hard_prompt" else "GEMINI"
        base, mine = answer_text(baseline_tag, i, q["uid"]), answer_text("REASONER", i, q["uid"])
        game = 2 if user["content"].split(A_START, 1)[1].startswith("REASONER") else 1
        a, b = (base, mine) if game == 1 else (mine, base)
        assert system == {"role": "system", "content": bench.shipped["categories"][q["category"]]["system_prompt"]}
        assert user == {"role": "user", "content": bench.shipped["prompt_template"].format(
            QUESTION=q["prompt"], ANSWER_A=a, ANSWER_B=b)}
        assert "THOUGHT" not in user["content"]  # the reasoner's thought is never shown
        assert (body["temperature"], body["max_tokens"]) == (0.0, 16000)  # the setting file's, not the entry's
        seen.add((body["model"], q["uid"], game))
    assert len(seen) == len(judge_requests)
    hard, creative = (bench.shipped["categories"][c]["system_prompt"] for c in ("hard_prompt", "creative_writing"))
    assert hard != creative


def test_judgment_records_name_the_baseline_and_keep_the_judges_thought(bench):
    for judge, served in zip(JUDGES, ("judge-one-api", "judge-two-api")):
        records = bench.judgments(judge)
        assert sorted(records) == sorted(q["uid"] for q in QUESTIONS)
        for q in QUESTIONS:
            record = records[q["uid"]]
            assert list(record) == ["uid", "category", "judge", "model", "baseline", "games", "usage"]
            assert record["usage"]["calls"] == 2 and record["usage"]["output_tokens"] > 0
            assert (record["category"], record["judge"], record["model"], record["baseline"]) == (
                q["category"], judge, REASONER, BASELINE_OF[q["category"]])
            for g, (game, label) in enumerate(zip(record["games"], VERDICTS[served][q["uid"]]), start=1):
                assert list(game) == ["score", "judgment", "prompt"]
                assert game["score"] == label  # from the answer: the thought's decoy label is not read
                text = f"Judging {q['uid']} game {g}. " + (f"My final verdict is [[{label}]]" if label else "No verdict.")
                if judge == "judge-two":  # a reasoning judge: its thought stored apart, as upstream
                    assert list(game["judgment"].items()) == [("thought", JUDGE_THOUGHT), ("answer", text)]
                else:
                    assert game["judgment"] == {"answer": text}


def test_upstream_shaped_reader_reads_our_records(bench):
    read = upstream_read(bench.data, BENCH, list(JUDGES))
    assert read["questions"] == {q["uid"]: {"prompt": q["prompt"], "category": q["category"]} for q in QUESTIONS}
    assert sorted(read["answers"]) == sorted([O3, GEMINI, REASONER])
    for i, q in enumerate(QUESTIONS):
        mine = read["answers"][REASONER][q["uid"]]
        assert mine["answer"] == answer_text("REASONER", i, q["uid"]) and mine["prompt"] == q["prompt"]
        assert mine["style"][0] == utils.count_o200k_tokens(mine["answer"])
    assert len(read["judgments"]) == len(JUDGES) * len(QUESTIONS)
    for j in read["judgments"]:
        q = read["questions"][j["uid"]]
        assert j["category"] == q["category"]
        for g, game in enumerate(j["games"]):
            a, b = (j["baseline_answer"], j["model_answer"]) if g == 0 else (j["model_answer"], j["baseline_answer"])
            assert f"{A_START}{a}\n" in game["user"] and f"Answer|>\n{b}\n" in game["user"]
            assert game["score"] is None or game["score"] in show_result.v2_label_scores()
            assert game["answer"].startswith(f"Judging {j['uid']}")


def test_show_result_pools_both_judges_per_category(bench, capsys):
    """The tables equal the pandas reference of upstream's show_result over both judges' rows."""
    argv = ["--data-dir", str(bench.data), "-b", BENCH, "-j", *JUDGES, "-c", "hard_prompt", "creative_writing"]
    assert show_result.main(argv) == 0
    pooled = capsys.readouterr().out
    expected, _ = upstream_output(bench.data, list(JUDGES), ["hard_prompt", "creative_writing"], 42)
    assert pooled == expected
    assert "Number of null judgments found: 1" in pooled  # judge-one's h3
    assert pooled.count("##### Category:") == 2 and pooled.count("reasoner ") == 2
    assert show_result.main(argv[:5] + ["judge-one"] + argv[7:]) == 0
    alone = capsys.readouterr().out
    assert alone == upstream_output(bench.data, ["judge-one"], ["hard_prompt", "creative_writing"], 42)[0]
    assert alone != pooled
    # the setting file judged with names the bench and the judge (category: upstream's default)
    assert show_result.main(["--data-dir", str(bench.data), "--setting-file", str(bench.judge_configs["judge-one"])]) == 0
    assert capsys.readouterr().out == upstream_output(bench.data, ["judge-one"], ["hard_prompt"], 42)[0]

    # Style control: a table per category over the same pooled rows (a dozen rows per category
    # make some bootstrap rounds separable, so the numbers are checked in test_show_result_v2)
    assert show_result.main(argv + ["-f", "length", "markdown", "--num-rounds", "20"]) == 0
    text, coefs = split_coefs(capsys.readouterr().out)
    assert text.count("INFO: Control features: ['length', 'markdown']") == 2 and [len(c) for c in coefs] == [4, 4]
    tables = text.split("##### Category: ")[1:]
    assert [t.split(" ", 1)[0] for t in tables] == ["hard_prompt", "creative_writing"]
    for table, baseline in zip(tables, (O3, GEMINI)):
        names = [line.split()[1] for line in table.splitlines()[2:] if line.strip() and line.split()[0].isdigit()]
        assert sorted(names) == sorted(["reasoner", baseline])
    assert "Number of null judgments found: 1" in text


def test_full_stats_give_each_categorys_judge_tokens_per_model(bench, capsys):
    """Per category, the judge's tokens on the model's judgments, summed from their stored usage."""
    argv = ["--data-dir", str(bench.data), "-b", BENCH, "-j", "judge-two", "-c", "hard_prompt", "creative_writing",
            "--full-stats", "--num-rounds", "5"]
    assert show_result.main(argv) == 0
    out = capsys.readouterr().out
    records = bench.judgments("judge-two").values()
    for category in ("hard_prompt", "creative_writing"):
        section = out.split(f"##### Category: {category} #####\n")[1].split("##### Category")[0]
        table = section.split("judge input tokens", 1)[1]
        row = next(line for line in table.splitlines() if line.startswith("reasoner "))
        mine = [r["usage"] for r in records if r["category"] == category]
        assert len(mine) == 3
        assert [c.strip() for c in row.split("|")] == [
            "reasoner", f"{sum(u['input_tokens'] for u in mine):,}", f"{sum(u['output_tokens'] for u in mine):,}"]


def test_qa_browser_shows_a_v2_judgment_with_both_thoughts_folded(bench):
    question = next(q for q in QUESTIONS if q["uid"] == "c2")
    answers = qa_browser.ModelRecords(utils.answer_dir(BENCH, bench.data), qa_browser.ANSWER_KEYS)
    judgments = qa_browser.judgment_records(utils.judgment_dir(BENCH, "judge-two", bench.data))
    assert judgments.models() == [REASONER]
    views = qa_browser.selection_views(question, REASONER, answers, judgments, None, v2_bench=True)
    q_view, a, b, game_1, game_2 = views
    assert "A haiku about rain." in q_view
    assert a.startswith(f"### A: {GEMINI}") and "GEMINI ANSWER c2" in a  # the baseline the judgment names
    main_b, _, folded_b = b.partition("<details>")
    assert "REASONER ANSWER c2" in main_b and "REASONER THOUGHT" not in main_b and "REASONER THOUGHT c2" in folded_b
    main_1, _, folds_1 = game_1.partition("<details>")
    assert f"baseline {GEMINI}" in main_1 and "Judging c2 game 1" in main_1 and "B>A" in main_1
    assert "JUDGE THOUGHT" not in main_1 and "JUDGE THOUGHT" in folds_1
    assert "Judging c2 game 2" in game_2


# --------------------------------------------------------------------------------------------
# Upstream-shaped files fed to our scripts
# --------------------------------------------------------------------------------------------


def compact(record: dict) -> str:
    """A line as upstream's writers may write it: compact separators, "/" escaped."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).replace("/", "\\/")


def test_upstream_files_feed_our_judge_browser_and_leaderboard(tmp_path, api, capsys, shared_data):
    """Upstream's real o3-mini answers and hand-built upstream-shaped files (compact, "/" escaped,
    unsorted, a thought first, a null game) are judged, browsed and tabled by our scripts."""
    real = [json.loads(line) for line in
            (shared_data / BENCH / "model_answer" / f"{O3}.jsonl").read_bytes().splitlines() if line.strip()]
    real_questions = {json.loads(line)["uid"]: json.loads(line)
                      for line in (shared_data / BENCH / "question.jsonl").read_bytes().splitlines() if line.strip()}
    hard = [r for r in real if real_questions[r["uid"]]["category"] == "hard_prompt"][:3]
    creative = [q for q in real_questions.values() if q["category"] == "creative_writing"][:2]
    questions = [real_questions[r["uid"]] for r in hard] + creative
    data = tmp_path / "data"
    root = data / BENCH
    write_jsonl(root / "question.jsonl", questions)
    answers = root / "model_answer"
    answers.mkdir(parents=True)
    (answers / f"{O3}.jsonl").write_text("".join(compact(r) + "\n" for r in reversed(hard)), encoding="utf-8")
    (answers / f"{GEMINI}.jsonl").write_text("".join(compact(
        {"uid": q["uid"], "ans_id": "g" + q["uid"], "model": GEMINI,
         "messages": [{"role": "user", "content": q["prompt"]},
                      {"role": "assistant", "content": {"answer": f"GEMINI POEM {q['uid']} a/b"}}],
         "tstamp": 1.7e9, "metadata": {"token_len": 7, "header_count": {f"h{i}": 0 for i in range(1, 7)},
                                       "list_count": {"ordered": 0, "unordered": 0},
                                       "bold_count": {"**": 0, "__": 0}}}) + "\n" for q in creative))
    model = "org/o3-2025-04-16"
    theirs = [{"uid": q["uid"], "ans_id": "m" + q["uid"], "model": model,
               "messages": [{"role": "user", "content": q["prompt"]},
                            {"role": "assistant", "content": {"thought": f"THEIR THOUGHT {q['uid']}",
                                                              "answer": f"THEIR ANSWER {q['uid']} 1/2"}}],
               "tstamp": 1.7e9, "metadata": {"token_len": 5 + k}} for k, q in enumerate(questions)]
    (answers / utils.model_to_filename(model)).write_text("".join(compact(r) + "\n" for r in theirs[::-1]),
                                                          encoding="utf-8")
    setting = tmp_path / "judge.yaml"
    setting.write_text(yaml.safe_dump({**yaml.safe_load(SHIPPED.read_text()), "judge_model": "judge-one",
                                       "model_list": [model]}))
    api_config = tmp_path / "api.yaml"
    api_config.write_text(yaml.safe_dump({"judge-one": endpoint(api, "judge-one")}))
    api.responder = lambda body, path: "Fine. [[A>B]]" if "THEIR ANSWER" in body["messages"][-1]["content"].split(
        A_START, 1)[1].split("<|The End", 1)[0] else "Fine. [[B>A]]"  # their answer always wins
    assert gen_judgment.main(["--setting-file", str(setting), "--endpoint-file", str(api_config),
                              "--data-dir", str(data), "--no-progress"]) == 0
    judged_file = utils.model_file(utils.judgment_dir(BENCH, "judge-one", data), model)
    judged = {r["uid"]: r for r in map(json.loads, judged_file.read_text().splitlines())}
    for r in hard:  # the real baseline answer shown as A in game 1, B in game 2
        text = r["messages"][-1]["content"]["answer"]
        record = judged[r["uid"]]
        assert record["baseline"] == O3 and record["model"] == model and record["category"] == "hard_prompt"
        assert f"{A_START}{text}\n" in record["games"][0]["prompt"][1]["content"]
        assert f"{A_START}THEIR ANSWER {r['uid']} 1/2\n" in record["games"][1]["prompt"][1]["content"]
        assert "THEIR THOUGHT" not in record["games"][0]["prompt"][1]["content"]
        assert [g["score"] for g in record["games"]] == ["B>A", "A>B"]
    for q in creative:
        assert judged[q["uid"]]["baseline"] == GEMINI

    # An upstream-made judgment file of another judge: compact, a null game, upstream's labels.
    other = [{"uid": q["uid"], "category": q["category"], "judge": "gemini-2.5", "model": model,
              "baseline": BASELINE_OF[q["category"]],
              "games": [{"score": "B>>A", "judgment": {"answer": "x [[B>>A]]"},
                         "prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "u/v"}]},
                        None if k == 0 else {"score": "A<B" if k % 2 else "B=A", "judgment": {"answer": "y"},
                                             "prompt": [{"role": "system", "content": "s"},
                                                        {"role": "user", "content": "u"}]}]}
             for k, q in enumerate(questions)]
    folder = utils.judgment_dir(BENCH, "gemini-2.5", data)
    folder.mkdir(parents=True)
    (folder / utils.model_to_filename(model)).write_text("".join(compact(r) + "\n" for r in other))
    argv = ["--data-dir", str(data), "-b", BENCH, "-j", "judge-one", "gemini-2.5", "-c", "hard_prompt",
            "creative_writing"]
    assert show_result.main(argv) == 0
    out = capsys.readouterr().out
    assert out == upstream_output(data, ["judge-one", "gemini-2.5"], ["hard_prompt", "creative_writing"], 42)[0]
    assert "Number of null judgments found: 1" in out and "o3-2025-04-16" in out

    # qa_browser shows the upstream-made judgment with the real baseline answer
    uid = hard[0]["uid"]
    views = qa_browser.selection_views(
        real_questions[uid], model, qa_browser.ModelRecords(utils.answer_dir(BENCH, data), qa_browser.ANSWER_KEYS),
        qa_browser.judgment_records(folder), None, v2_bench=True)
    assert views[1].startswith(f"### A: {O3}") and hard[0]["messages"][-1]["content"]["answer"][:40] in (
        views[1].replace(qa_browser.WORD_JOINER, ""))
    assert "THEIR ANSWER" in views[2] and "THEIR THOUGHT" in views[2].partition("<details>")[2]
    assert "x [[B>>A]]" in views[3] and "game 2 has no judgment" in views[4]


# --------------------------------------------------------------------------------------------
# The judge config written by the v2.0 fetch
# --------------------------------------------------------------------------------------------


def test_fetched_upstream_config_drives_gen_judgment(tmp_path, upstream_v2, api, caplog):  # noqa: F811
    root = tmp_path / "clone"
    assert fetch_v2(root) == 0
    config_path = root / "config" / "arena-hard-v2.0.upstream.yaml"
    caplog.clear()
    settings = utils.load_judge_settings(config_path)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []  # every key known
    assert settings.is_v2 and settings.bench_name == BENCH and settings.judge_model == "gpt-4.1"
    assert settings.categories["hard_prompt"] == utils.CategoryJudge(O3, HARD_PROMPT)
    assert settings.categories["creative_writing"] == utils.CategoryJudge(GEMINI, CREATIVE_PROMPT)
    assert settings.prompt_templates == (UPSTREAM_TEMPLATE,) and (settings.temperature, settings.max_tokens) == (0.0, 16000)
    assert [r.pattern for r in settings.regexes] == [r"\[\[([AB<>=]+)\]\]", r"\[([AB<>=]+)\]"]
    # the fetched question (u1, hard_prompt) answered by the config's model and, in full, by the baseline
    data = root / "data"
    answers = utils.answer_dir(BENCH, data)
    for name, text in ((O3, "BASE"), ("o3-2025-04-16", "MINE")):
        write_jsonl(utils.model_file(answers, name), [{
            "uid": "u1", "ans_id": name, "model": name, "tstamp": 1.0, "metadata": {"token_len": 1},
            "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": {"answer": text}}]}])
    api_config = tmp_path / "api.yaml"
    api_config.write_text(yaml.safe_dump({"gpt-4.1": endpoint(api, "judge-one")}))
    api.responder = lambda body, path: "[[A>B]]"
    assert gen_judgment.main(["--setting-file", str(config_path), "--endpoint-file", str(api_config),
                              "--data-dir", str(data), "--no-progress"]) == 0
    sent = [r["body"]["messages"] for r in api.requests]
    assert sent == [[{"role": "system", "content": HARD_PROMPT},
                     {"role": "user", "content": UPSTREAM_TEMPLATE.format(QUESTION="Hi", ANSWER_A=a, ANSWER_B=b)}]
                    for a, b in (("BASE", "MINE"), ("MINE", "BASE"))]
    [record] = utils.model_file(utils.judgment_dir(BENCH, "gpt-4.1", data), "o3-2025-04-16").read_text().splitlines()
    assert json.loads(record)["baseline"] == O3


# --------------------------------------------------------------------------------------------
# Upstream v2.0's ten verdict labels, wherever a script reads a v2.0 judgment
# --------------------------------------------------------------------------------------------

# Each v2.0-only label, the v0.1 label of the same meaning, and the model's outcome in game 1
# (the baseline is A) and game 2 (the model is A)
V2_ONLY_LABELS = [("A<<B", "B>>A", "strong_wins", "strong_losses"), ("A<B", "B>A", "wins", "losses"),
                  ("B=A", "A=B", "ties", "ties"), ("B<A", "A>B", "losses", "wins"),
                  ("B<<A", "A>>B", "strong_losses", "strong_wins")]


@pytest.mark.parametrize("label, same, game_1, game_2", V2_ONLY_LABELS)
def test_v2_labels_are_counted_and_worded_as_their_v01_twins(label, same, game_1, game_2):
    def judgment(game: int, score: str, v2: bool = True) -> dict:
        games = [None, None]
        games[game - 1] = {"score": score, "judgment": {"answer": "t"}, "prompt": []}
        return {"uid": "u1", "category": "hard_prompt", "model": "m", "baseline": O3, "games": games} if v2 else \
            {"question_id": "q1", "model": "m", "games": games}

    for game, expected in ((1, game_1), (2, game_2)):
        assert utils.count_games([judgment(game, label)])[expected] == 1
        assert utils.count_games([judgment(game, label)]) == utils.count_games([judgment(game, same)])
        shown = qa_browser.game_markdown(judgment(game, label), game, O3, "m")
        twin = qa_browser.game_markdown(judgment(game, same), game, O3, "m")
        assert f"Verdict: {label}: " in shown and shown.replace(label, same, 1) == twin
    # a v0.1 judgment keeps upstream v0.1's five labels: the others give no verdict
    assert utils.count_games([judgment(1, label, v2=False)])["unparsable"] == 1
    assert "(unknown label)" in qa_browser.game_markdown(judgment(1, label, v2=False), 1, O3, "m")


def test_browser_leaderboard_counts_v2_labels(tmp_path):
    folder = utils.judgment_dir(BENCH, "gpt-4.1", tmp_path)
    games = [{"score": "A<B", "judgment": {"answer": "t"}, "prompt": []},
             {"score": "B<<A", "judgment": {"answer": "t"}, "prompt": []}]
    write_jsonl(folder / "m.jsonl", [{"uid": "u1", "category": "hard_prompt", "judge": "gpt-4.1", "model": "m",
                                      "baseline": O3, "games": games}])
    counts = qa_browser.file_verdict_counts(folder / "m.jsonl")
    assert counts == {**dict.fromkeys(utils.FULL_STATS_COLUMNS, 0), "wins": 1, "strong_wins": 1}
