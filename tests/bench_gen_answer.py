"""Benchmark gen_answer.py: 500 questions, fake server in another process with 50 ms latency.

Usage: python tests/bench_gen_answer.py [--questions 500] [--latency 0.05] [--parallel 64] [--profile] [--check]

Target: 3 s or less of wall time and under 2 ms of client CPU per request (upstream needs
15.7 s on 2 cores, building a client per request). Prints the wall time of main(), requests per
second, and the CPU seconds of this process (user + system, all threads) per request. The SDK
imports are done before the clock starts; their one-off cost is printed separately. The fake
server echoes each prompt, and the prompts are ~400-token markdown texts, so token counting
and conv_metadata work on replies of a realistic size. --check exits 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_add_markdown_info import answer_text  # noqa: E402
from fake_api import start_fake_api_process  # noqa: E402
from targets import add_check_flag, check_targets  # noqa: E402

BENCH = "bench"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_inputs(root: Path, url: str, questions: int, parallel: int) -> list[str]:
    rng = random.Random(0)
    (root / "data" / BENCH).mkdir(parents=True)
    with open(root / "data" / BENCH / "question.jsonl", "w") as f:
        for i in range(questions):
            q = {"question_id": f"{i:032x}", "category": "arena-hard-v0.1", "cluster": "bench",
                 "turns": [{"content": answer_text(rng)}]}
            f.write(json.dumps(q) + "\n")
    (root / "api.yaml").write_text(
        f"bench-model:\n  model_name: bench-model\n  api_type: openai\n  parallel: {parallel}\n"
        f"  endpoints:\n    - api_base: {url}/v1\n      api_key: bench\n")
    (root / "settings.yaml").write_text(
        f"bench_name: {BENCH}\ntemperature: 0.0\nmax_tokens: 4096\nnum_choices: 1\nmodel_list: [bench-model]\n")
    return ["--setting-file", str(root / "settings.yaml"), "--endpoint-file", str(root / "api.yaml"),
            "--data-dir", str(root / "data")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--parallel", type=int, default=64)
    parser.add_argument("--profile", action="store_true", help="print the top functions by cumulative time")
    add_check_flag(parser)
    args = parser.parse_args(argv)

    start_cpu = cpu_seconds()
    import gen_answer  # openai, tiktoken and the rest: one-off costs, timed apart
    import openai  # noqa: F401
    from utils import get_encoding

    get_encoding()
    import_cpu = cpu_seconds() - start_cpu

    # CPU spent inside utils.complete() (the SDK and HTTP), to tell it from gen_answer's own work
    in_complete = [0.0]
    lock = threading.Lock()

    def timed_complete(*args, **kwargs):
        start = time.thread_time()
        try:
            return complete(*args, **kwargs)
        finally:
            with lock:
                in_complete[0] += time.thread_time() - start

    import utils

    complete = utils.complete
    utils.complete = timed_complete  # run_steps calls it through the module

    server, url = start_fake_api_process(args.latency, usage_counts="words")  # tokenizing would slow the server
    try:
        with tempfile.TemporaryDirectory() as tmp:
            gen_argv = write_inputs(Path(tmp), url, args.questions, args.parallel)
            profiler = cProfile.Profile() if args.profile else None
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            if profiler:
                profiler.enable()
            status = gen_answer.main(gen_argv)
            if profiler:
                profiler.disable()
            wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
            answers = sum(1 for _ in open(Path(tmp) / "data" / BENCH / "model_answer" / "bench-model.jsonl"))
    finally:
        server.kill()
        server.wait()
    if status != 0 or answers != args.questions:
        print(f"FAILED: exit status {status}, {answers} answers of {args.questions}")
        return 1
    requests = args.questions
    print(f"questions {args.questions}, latency {args.latency * 1000:.0f} ms, parallel {args.parallel}")
    print(f"wall time        {wall:.2f} s   (target <= 3 s)")
    print(f"requests/second  {requests / wall:.0f}")
    print(f"CPU per request  {cpu / requests * 1000:.2f} ms   (target < 2 ms; {cpu:.2f} s in all)")
    print(f"  of which       {in_complete[0] / requests * 1000:.2f} ms inside utils.complete() (SDK, HTTP), "
          f"{(cpu - in_complete[0]) / requests * 1000:.2f} ms the rest (tokens, records, pool, files)")
    print(f"imports          {import_cpu:.2f} s CPU, once per process, not counted above")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return check_targets([("wall time (s)", wall, 3.0), ("CPU per request (ms)", cpu / requests * 1000, 2.0)],
                         args.check)


if __name__ == "__main__":
    sys.exit(main())
