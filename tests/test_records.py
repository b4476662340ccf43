"""The record accessors of utils: v0.1 and v2.0 questions, answers and judgments read alike."""
from __future__ import annotations

import json

import pytest

import utils
from conftest import write_jsonl

V1_QUESTION = {"question_id": "q1", "category": "arena-hard-v0.1", "cluster": "c",
               "turns": [{"content": "first"}, {"content": "second"}]}
V2_QUESTION = {"uid": "u1", "category": "hard_prompt", "subcategory": "coding", "prompt": "Write a zig program."}
V1_ANSWER = {"question_id": "q1", "answer_id": "a", "model_id": "m", "tstamp": 1.0,
             "choices": [{"index": 0, "turns": [{"content": "one", "token_len": 1}, {"content": "two"}]}],
             "conv_metadata": {"token_len": 1}}
V2_ANSWER = {"uid": "u1", "ans_id": "a", "model": "m", "tstamp": 1.0,
             "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Write."},
                          {"role": "assistant", "content": {"answer": "done", "thought": "hmm"}}],
             "metadata": {"token_len": 1}}
V1_GAME = {"user_prompt": "<|User Prompt|>q", "judgment": "[[A>B]]", "score": "A>B"}
V2_GAME = {"score": "B>A", "judgment": {"answer": "[[B>A]]"},
           "prompt": [{"role": "system", "content": "judge"}, {"role": "user", "content": "<|User Prompt|>q"}]}


@pytest.mark.parametrize("record, v2, qid", [
    (V1_QUESTION, False, "q1"), (V2_QUESTION, True, "u1"), (V1_ANSWER, False, "q1"), (V2_ANSWER, True, "u1"),
    ({"question_id": 7}, False, "7"), ({"uid": None}, True, "None"), ({"model": "m"}, False, None),
])
def test_generation_and_id(record, v2, qid):
    assert utils.is_v2(record) is v2
    assert utils.record_id(record) == qid


def test_question_turns():
    assert utils.question_turns(V1_QUESTION) == ["first", "second"]
    assert utils.question_turns(V2_QUESTION) == ["Write a zig program."]


def test_answer_turns_thought_and_metadata():
    assert utils.answer_turns(V1_ANSWER) == ["one", "two"]
    assert utils.answer_thought(V1_ANSWER) is None
    assert utils.style_metadata(V1_ANSWER) == {"token_len": 1}
    assert utils.answer_turns(V2_ANSWER) == ["done"]  # never the thought
    assert utils.answer_thought(V2_ANSWER) == "hmm"
    assert utils.style_metadata(V2_ANSWER) == {"token_len": 1}
    plain = {**V2_ANSWER, "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "text"}]}
    assert utils.answer_turns(plain) == ["text"] and utils.answer_thought(plain) is None
    assert utils.style_metadata({**V2_ANSWER, "conv_metadata": {"token_len": 9}, "metadata": None}) is None


@pytest.mark.parametrize("answer, message", [
    ({"uid": "u", "messages": []}, "no messages"),
    ({"uid": "u", "messages": [{"role": "user", "content": "q"}]}, "not the assistant's"),
    ({"uid": "u", "messages": [{"role": "assistant", "content": {"thought": "t"}}]}, "no answer text"),
    ({"question_id": "q", "choices": []}, "no choices"),
    ({"question_id": "q", "choices": [{"turns": []}]}, "no turns"),
    ({"question_id": "q", "choices": [{"turns": [{"content": None}]}]}, "no text content"),
])
def test_malformed_answers_say_what_is_missing(answer, message):
    with pytest.raises(ValueError, match=message):
        utils.answer_turns(answer)


def test_game_text_of_both_generations():
    assert utils.game_prompt_text(V1_GAME) == "<|User Prompt|>q"
    assert utils.game_judgment_text(V1_GAME) == "[[A>B]]"
    assert utils.game_prompt_text(V2_GAME) == "<|User Prompt|>q"  # the system prompt is the judge's, not the game's
    assert utils.game_judgment_text(V2_GAME) == "[[B>A]]"
    assert utils.game_judgment_text({"judgment": None}) == "" and utils.game_prompt_text({}) == ""


@pytest.mark.parametrize("game, thought", [
    ({**V2_GAME, "judgment": {"thought": "weighing", "answer": "[[B>A]]"}}, "weighing"),
    (V2_GAME, None), (V1_GAME, None), ({"judgment": {"thought": ""}}, None), ({"judgment": {"thought": 3}}, None),
])
def test_game_thought(game, thought):
    assert utils.game_thought(game) == thought


def test_load_questions_and_read_by_id_take_both_generations(tmp_path):
    questions = write_jsonl(tmp_path / "question.jsonl", [V2_QUESTION, {**V2_QUESTION, "uid": "u2"}])
    assert [utils.record_id(q) for q in utils.load_questions(questions)] == ["u1", "u2"]
    write_jsonl(questions, [V2_QUESTION, {**V2_QUESTION, "prompt": "other"}])
    with pytest.raises(utils.DataError, match=r"question.jsonl:2: uid \"u1\" already on line 1"):
        utils.load_questions(questions)
    write_jsonl(questions, [{"uid": "u1", "prompt": ["not", "text"]}])
    with pytest.raises(utils.DataError, match="question.jsonl:1: 'prompt' must be the question's text"):
        utils.load_questions(questions)
    answers = write_jsonl(tmp_path / "m.jsonl", [V2_ANSWER, V1_ANSWER])
    assert list(utils.read_jsonl_by_id(answers, ("question_id", "choices"))) == ["u1", "q1"]
    write_jsonl(answers, [{"model": "m"}])
    with pytest.raises(utils.DataError, match="m.jsonl:1: missing key 'question_id'"):
        utils.read_jsonl_by_id(answers)


def test_upstream_v2_records_read_through_the_accessors(shared_data):
    bench = shared_data / "arena-hard-v2.0"
    questions = utils.load_questions(bench / "question.jsonl")
    assert len(questions) == 750 and all(utils.is_v2(q) for q in questions)
    assert {q["category"] for q in questions} == {"hard_prompt", "creative_writing"}
    answers = utils.read_jsonl_by_id(bench / "model_answer" / "o3-mini-2025-01-31.jsonl")
    assert set(answers) == {utils.record_id(q) for q in questions}
    for answer in answers.values():
        [text] = utils.answer_turns(answer)
        assert text and utils.style_metadata(answer)["token_len"] > 0
    first = json.loads((bench / "question.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert utils.question_turns(first) == [first["prompt"]]
