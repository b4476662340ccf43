"""The command-line convention every script shares: utils.run_script, the exit statuses and the
common flags, and each script's main going through them."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import add_markdown_info
import gen_answer
import gen_judgment
import qa_browser
import show_result
from utils import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ConfigError,
    DataError,
    add_common_flags,
    run_script,
)

REPO = Path(__file__).resolve().parents[1]


def logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records]


def test_exit_statuses_are_the_documented_numbers():
    assert (EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED) == (0, 1, 2, 130)


@pytest.mark.parametrize("status", [0, 1, 2, 130])
def test_run_script_returns_the_work_status_and_logs_nothing(caplog, status):
    assert run_script(lambda: status) == status
    assert logged(caplog) == []


@pytest.mark.parametrize("error", [ConfigError("config.yaml: max_tokens: expected an integer, got 'x'"),
                                   DataError("answers.jsonl:3: invalid JSON")])
def test_run_script_turns_config_and_data_errors_into_one_line_and_2(caplog, error):
    def work() -> int:
        raise error

    assert run_script(work) == 2
    assert logged(caplog) == [("ERROR", str(error))]


@pytest.mark.parametrize("kwargs, message", [({}, "interrupted"),
                                             ({"interrupted": "interrupted: rerun to continue"},
                                              "interrupted: rerun to continue")])
def test_run_script_turns_ctrl_c_into_one_warning_and_130(caplog, kwargs, message):
    def work() -> int:
        raise KeyboardInterrupt

    assert run_script(work, **kwargs) == 130
    assert logged(caplog) == [("WARNING", message)]


def test_run_script_lets_other_errors_through():
    def work() -> int:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        run_script(work)


@pytest.mark.parametrize("progress_bar", [False, True])
def test_common_flags(progress_bar):
    parser = argparse.ArgumentParser()
    add_common_flags(parser, progress_bar=progress_bar)
    assert parser.parse_args([]).verbose is False
    assert parser.parse_args(["--verbose"]).verbose is True
    if progress_bar:
        assert parser.parse_args(["--no-progress"]).no_progress is True
        assert parser.parse_args([]).no_progress is False
    else:
        with pytest.raises(SystemExit):
            parser.parse_args(["--no-progress"])


# Each script with the common flags and a config or folder that does not exist: one line naming
# it, exit status 2 (argparse's own exit status is 2 too, so the line is what proves the flags parse).
SCRIPTS = [
    pytest.param(gen_answer, ["--verbose", "--no-progress", "--setting-file"], id="gen_answer"),
    pytest.param(gen_judgment, ["--verbose", "--no-progress", "--setting-file"], id="gen_judgment"),
    pytest.param(show_result, ["--verbose", "--setting-file"], id="show_result"),
    pytest.param(qa_browser, ["--verbose", "--config-file"], id="qa_browser"),
]


@pytest.mark.parametrize("script, argv", SCRIPTS)
def test_every_script_takes_the_common_flags_and_fails_in_one_line(tmp_path, caplog, script, argv):
    missing = tmp_path / "missing.yaml"
    assert script.main([*argv, str(missing)]) == 2
    assert logged(caplog) == [("ERROR", f"{missing}: file not found")]


def test_add_markdown_info_takes_verbose_and_fails_in_one_line(tmp_path, caplog):
    assert add_markdown_info.main(["--verbose", "--data-dir", str(tmp_path)]) == 2
    assert logged(caplog) == [("ERROR", f"{tmp_path / 'arena-hard-v0.1' / 'model_answer'}: not a directory")]


def ctrl_c(*args, **kwargs):
    raise KeyboardInterrupt


def test_gen_answer_ctrl_c_before_any_request_is_one_line_and_130(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(gen_answer, "load_settings", ctrl_c)
    assert gen_answer.main(["--setting-file", str(tmp_path / "any.yaml"), "--no-progress"]) == 130
    assert logged(caplog) == [("WARNING", "interrupted: every answer received so far is stored; rerun to continue")]


def test_qa_browser_ctrl_c_while_loading_is_one_line_and_130(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(qa_browser, "load_judge_settings", ctrl_c)
    assert qa_browser.main(["--config-file", str(tmp_path / "any.yaml")]) == 130
    assert logged(caplog) == [("WARNING", "interrupted")]


def test_verbose_shows_debug_lines(tmp_path):
    """In a process of its own: in-process, pytest's log handlers keep logging's level."""
    argv = [sys.executable, str(REPO / "show_result.py"), "--data-dir", str(tmp_path)]
    quiet = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    verbose = subprocess.run([*argv, "--verbose"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert quiet.returncode == verbose.returncode == 2
    debug = "DEBUG bench arena-hard-v0.1, judge gpt-4-1106-preview, baseline gpt-4-0314 (defaults from built-in)"
    assert debug in verbose.stderr.splitlines()
    assert "DEBUG" not in quiet.stderr
    assert verbose.stderr.splitlines()[-1] == quiet.stderr.splitlines()[-1]
    assert quiet.stderr.splitlines()[-1].startswith("ERROR ")
