"""pytest setup shared by the tests: import paths, the fake API fixture, a JSONL writer, the real
upstream data folder, a free port, a refused endpoint, a disk that fills up.

The scripts at the repository root import as modules (also under plain `pytest`). Tests that
check real upstream data read it from the folder named by $ARENA_HARD_SHARED_DATA (CI sets it to
../shared/data); elsewhere they skip, and the summary says why.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from fake_api import FakeAPI  # noqa: E402

SHARED_DATA_ENV = "ARENA_HARD_SHARED_DATA"


TEST_TIMEOUT = 300  # seconds; the slowest test takes a few seconds


@pytest.hookimpl(tryfirst=True)  # before pytest-timeout reads its setting
def pytest_configure(config: pytest.Config) -> None:
    # Skip reasons in the summary (as `-rs`): a clone without the real data says what it lacks.
    chars = config.option.reportchars or ""
    if not set(chars) & set("saAN"):  # unless -r already asks for skips, or for nothing (-rN)
        config.option.reportchars = chars + "s"
    # A test that hangs fails with its stack trace instead of stalling the whole run.
    if (config.pluginmanager.hasplugin("timeout") and config.getoption("timeout", None) is None
            and "PYTEST_TIMEOUT" not in os.environ and not config.getini("timeout")):
        config.option.timeout = TEST_TIMEOUT


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[FakeAPI]:
    """The fake model API on 127.0.0.1 for one test; no handler may crash. A test module may set
    FAKE_API_OPTIONS, the FakeAPI arguments it needs (e.g. {"responder": ...})."""
    with FakeAPI(**getattr(request.module, "FAKE_API_OPTIONS", {})) as server:
        yield server
    assert server.errors == []


@pytest.fixture
def shared_data() -> Path:
    """Upstream's real data folder (question sets, published answers, judge config), named by
    $ARENA_HARD_SHARED_DATA; the test skips when it is unset and fails when it names no folder."""
    value = os.environ.get(SHARED_DATA_ENV)
    if not value:
        pytest.skip(f"needs upstream's real data: set {SHARED_DATA_ENV} to its folder (CI sets ../shared/data)")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"{SHARED_DATA_ENV}={value} is not a folder")
    return path


@pytest.fixture
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """An empty SDK client cache for one test (so `endpoints: null` clients read this test's
    environment). Its clients are closed when the test ends: a client left to the garbage collector
    is closed (and logs) at a random point of a later test, which can deadlock two logging threads."""
    import utils

    clients: dict = {}
    monkeypatch.setattr(utils, "_clients", clients)
    yield clients
    for client in clients.values():
        client.close()


def write_jsonl(path: Path, records: list) -> Path:
    """One JSON record per line (folders created); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens now: connections are refused (a server may take it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused_in_one_line(run: Callable[[], int], caplog: pytest.LogCaptureFixture, port: int) -> str:
    """Run a script whose endpoint is a refused port: it exits 2 in well under 5 s (the SDK
    imported first, its import time is not what is timed) with one error line, which is returned
    after checking that it names the URL and says the connection was refused."""
    import time

    import openai  # noqa: F401

    start = time.perf_counter()
    assert run() == 2
    assert time.perf_counter() - start < 5
    [message] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert f"cannot reach http://127.0.0.1:{port}/v1: connection refused" in message and "\n" not in message
    return message


def disk_full_after(monkeypatch: pytest.MonkeyPatch, file_name: str, writes: int) -> list[bytes]:
    """From now on os.write fails with ENOSPC once `writes` writes went to a file whose name ends
    with `file_name`; returns the list of the writes that went through (it grows)."""
    import errno

    real_write = os.write
    written: list[bytes] = []

    def write(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(file_name):
            if len(written) == writes:
                raise OSError(errno.ENOSPC, "No space left on device")
            written.append(data)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    return written
