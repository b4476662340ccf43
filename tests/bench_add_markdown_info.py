"""Benchmark add_markdown_info.py: 70 answer files of 500 markdown answers (~400 tokens each).

Usage: python tests/bench_add_markdown_info.py [--files 70] [--answers 500] [--workers N] [--check]

Target: the whole folder annotated in place in under 10 s on 2 cores. Prints the wall time of
main() (process start-up of the pool included, file generation excluded) and the CPU time of
this process and its pool workers, which other load on the machine does not inflate. --check
exits 1 when the target is missed.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import add_markdown_info  # noqa: E402
from targets import add_check_flag, check_targets  # noqa: E402

WORDS = (
    "the of and to in is that for it as with was on be by this are or from at an which not but "
    "have has can will if their more one all would there when been also into other than then "
    "function value data model server request response client file table query index memory "
    "cache thread process error result input output system network user config option default "
    "performance latency throughput algorithm complexity matrix vector gradient loss training "
    "example approach solution problem step method class object instance parameter argument "
    "however therefore because although while whereas instead furthermore additionally finally "
    "Python JavaScript Rust SQL Kubernetes Docker PostgreSQL React TypeScript Linux API JSON HTTP "
    "improve ensure handle create update delete return compute measure compare choose consider "
    "efficient robust simple complex scalable secure reliable flexible important specific"
).split()

CODE_LINES = (
    "def compute(values):", "    total = 0", "    for v in values:", "        total += v * 2",
    "    return total", "import numpy as np", "x = np.arange(10)", "print(x.mean())",
    "SELECT id, name FROM users WHERE active = 1;", "const result = items.map(i => i.id);",
    "for (let i = 0; i < n; i++) {", "}", "# a comment inside the code", "if __name__ == '__main__':",
)


def sentence(rng: random.Random, low: int = 8, high: int = 20) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize() + rng.choice(".!?.")


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(3, 7)))


def answer_text(rng: random.Random) -> str:
    """A chat-model style markdown answer of roughly 400 tokens."""
    parts = [paragraph(rng), paragraph(rng)]
    if rng.random() < 0.5:
        parts.append(f"## {sentence(rng, 2, 5)[:-1]}")
    parts.append("\n".join(
        f"{i}. **{sentence(rng, 1, 3)[:-1]}**: {sentence(rng)}" for i in range(1, rng.randint(4, 8))
    ))
    if rng.random() < 0.6:
        lang = rng.choice(["python", "sql", "javascript", ""])
        code = "\n".join(rng.choices(CODE_LINES, k=rng.randint(3, 8)))
        parts.append(f"```{lang}\n{code}\n```")
    parts.append("\n".join(f"{rng.choice('-*')} {sentence(rng, 4, 10)}" for _ in range(rng.randint(2, 4))))
    parts.append(paragraph(rng))
    return "\n\n".join(parts)


def write_answer_files(directory: Path, n_files: int, n_answers: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    for f in range(n_files):
        model = f"bench-model-{f:02d}"
        with open(directory / f"{model}.jsonl", "w", encoding="utf-8") as out:
            for q in range(n_answers):
                record = {
                    "question_id": f"{q:032x}",
                    "answer_id": f"{rng.getrandbits(64):016x}",
                    "model_id": model,
                    "choices": [{"index": 0, "turns": [{"content": answer_text(rng)}]}],
                    "tstamp": 1700000000.0 + q,
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished children (the pool workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=70)
    parser.add_argument("--answers", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    add_check_flag(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)  # keep main()'s per-file lines out of the figures

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_answer_files(directory, args.files, args.answers)
        cli = ["--dir", tmp, "--output-dir", tmp, "--workers", str(args.workers)]
        times, cpu_times = [], []
        for _ in range(2):  # the second run re-annotates already annotated files
            start, cpu_start = time.perf_counter(), cpu_seconds()
            status = add_markdown_info.main(cli)
            times.append(time.perf_counter() - start)
            cpu_times.append(cpu_seconds() - cpu_start)
            if status != 0:
                print(f"add_markdown_info.main exited with {status}", file=sys.stderr)
                return status
        token_lens = [
            json.loads(line)["conv_metadata"]["token_len"]
            for path in directory.glob("*.jsonl")
            for line in path.open(encoding="utf-8")
        ]
    total = len(token_lens)
    print(f"{args.files} files x {args.answers} answers ({total} answers, "
          f"mean {sum(token_lens) / total:.0f} tokens), {args.workers} workers")
    print(f"first run:  {times[0]:.2f} s wall, {cpu_times[0]:.2f} s CPU  "
          f"({total / times[0]:.0f} answers/s)  target < 10 s wall")
    print(f"second run: {times[1]:.2f} s wall, {cpu_times[1]:.2f} s CPU  (re-annotating)")
    return check_targets([("first run wall time (s)", times[0], 10.0)], args.check)


if __name__ == "__main__":
    sys.exit(main())
