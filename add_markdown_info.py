"""Add conv_metadata (token count and markdown element counts) to model answer files.

Usage: python add_markdown_info.py [--data-dir data] [--bench-name arena-hard-v0.1] [--workers N]
       python add_markdown_info.py --dir D [--output-dir O] [--workers N]
The first annotates the answers of <data-dir>/<bench-name>/model_answer in place; the second
writes D's answers to O (default: D itself, in place), as upstream's --dir D --output-dir O.

For every answer, conv_metadata describes the first turn of the first choice:
  {"token_len": cl100k_base tokens (special tokens counted as plain text),
   "header_count": {"h1".."h6"}, "list_count": {"ordered", "unordered"}, "bold_count": {"**", "__"}}
The markdown counts are taken after upstream's code-block removal, quirks included (see
utils.strip_code_blocks). show_result.py --style-control reads these numbers; gen_answer.py uses the
same functions when it writes answers. Each output file is written atomically (a temporary
file, then a rename), so --output-dir may equal --dir, and is held as gen_answer.py holds it: a
file that a running gen_answer.py writes is left alone (an error line; rerun when it is done). A
lone UTF-16 surrogate in a record ("\\ud800": valid JSON that UTF-8 cannot hold) is dropped, with
a warning naming file and line.

A v2.0 answer (one with `messages`, e.g. in data/arena-hard-v2.0/model_answer) gets upstream
v2.0's `metadata` instead, the same keys counted on its answer (the last message's
content.answer, never the thought), token_len in o200k_base (utils.v2_metadata).

Exit status: 0 done, 1 some files failed (one error line each; the other files are still written),
2 the answer folder missing or not a folder, or a bad --bench-name (or bad flags), 130 Ctrl-C (files
already written stay written).
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from utils import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ConfigError,
    DataError,
    InterruptGuard,
    add_common_flags,
    answer_dir,
    check_bench_name,
    claim_output,
    conv_metadata,
    iter_jsonl,
    run_script,
    setup_logging,
    v2_metadata,
    without_lone_surrogates,
    write_jsonl_atomic,
)

log = logging.getLogger("arena_hard.add_markdown_info")

DEFAULT_BENCH = "arena-hard-v0.1"  # the bench without --bench-name (and without --dir)


def annotate_file(src: Path, dst: Path) -> int:
    """Write src's answers, each with a fresh conv_metadata (v2.0: metadata), to dst; return how many.

    Every other field and the line order are kept. A malformed line raises DataError naming
    file and line before anything is written. Lone surrogates are dropped with a warning. dst is
    held as gen_answer holds it (utils.claim_output) from the read to the rename: OutputError
    when another run writes it, whose later answers would land in the file replaced.
    """
    with claim_output(dst):
        return _annotate(src, dst)


def _annotate(src: Path, dst: Path) -> int:
    records = []
    for lineno, record in iter_jsonl(src, allow_torn_tail=False):
        record, dropped = without_lone_surrogates(record)
        if dropped:
            log.warning("%s:%d: %d lone UTF-16 surrogate%s dropped (UTF-8 cannot hold them); the rest of the "
                        "text is kept", src, lineno, dropped, "s" if dropped > 1 else "")
        try:
            if "messages" in record:  # a v2.0 answer
                record["metadata"] = v2_metadata(record)  # replaces in place if present
            else:
                record["conv_metadata"] = conv_metadata(record)  # replaces in place if present
        except ValueError as e:
            raise DataError(f"{src}:{lineno}: {e}") from None
        records.append(record)
    write_jsonl_atomic(dst, records)
    return len(records)


def annotate_job(job: tuple[Path, Path]) -> tuple[int, str | None]:
    """annotate_file for a pool worker: (answers written, None) or (0, one-line error).
    Any error stays with its file, so one bad file never stops the others."""
    src, dst = job
    try:
        return annotate_file(src, dst), None
    except (DataError, ConfigError) as e:  # ConfigError: OutputError, which names the file
        return 0, str(e)
    except OSError as e:
        return 0, f"{src}: {e.strerror or e}"
    except Exception as e:  # e.g. MemoryError: reported like the others
        detail = str(e).splitlines()[0] if str(e) else ""
        return 0, f"{src}: {type(e).__name__}" + (f": {detail}" if detail else "")


def _ignore_ctrl_c() -> None:
    """Pool workers leave Ctrl-C to the main process, which stops the run in one line; a file
    being written is finished (atomically) rather than left half done."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_jobs(jobs: list[tuple[Path, Path]], workers: int) -> Iterator[tuple[int, str | None]]:
    """annotate_job over jobs, in order, in a pool of `workers` processes (inline for 1).
    Closing the iterator early (Ctrl-C) starts no new file and waits for those in progress."""
    if workers <= 1:
        yield from map(annotate_job, jobs)
        return
    pool = ProcessPoolExecutor(workers, initializer=_ignore_ctrl_c)
    try:
        yield from pool.map(annotate_job, jobs)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", help="folder of answer files (*.jsonl); default: "
                                      "<data-dir>/<bench-name>/model_answer")
    parser.add_argument("--output-dir", help="where to write them (default: --dir, in place)")
    parser.add_argument("--data-dir", help="folder holding <bench_name>/ (default: data); not with --dir")
    parser.add_argument("--bench-name", help=f"bench whose answers to annotate (default: {DEFAULT_BENCH}); "
                                             "not with --dir")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes, one file at a time each (default: number of CPUs)")
    add_common_flags(parser)
    args = parser.parse_args(argv)
    if args.dir is not None and (args.data_dir is not None or args.bench_name is not None):
        parser.error("--dir names the folder itself: give either --dir or --data-dir / --bench-name")
    return args


def source_dir(args: argparse.Namespace) -> Path:
    """--dir, else <data-dir>/<bench-name>/model_answer; ConfigError for a bad bench name."""
    if args.dir is not None:
        return Path(args.dir)
    bench_name = check_bench_name(args.bench_name or DEFAULT_BENCH, "--bench-name")
    return answer_dir(bench_name, args.data_dir or "data")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    return run_script(functools.partial(annotate_all, args))


def annotate_all(args: argparse.Namespace) -> int:
    """Annotate every *.jsonl file of the source folder into the output folder."""
    src_dir = source_dir(args)
    out_dir = src_dir if args.output_dir is None else Path(args.output_dir)
    if not src_dir.is_dir():
        raise ConfigError(f"{src_dir}: not a directory")
    jobs = [(src, out_dir / src.name) for src in sorted(src_dir.glob("*.jsonl"))]
    if not jobs:
        log.warning("%s: no *.jsonl files", src_dir)
        return EXIT_OK

    start = time.perf_counter()
    workers = max(1, min(args.workers, len(jobs)))
    failed = done = 0
    results = run_jobs(jobs, workers)
    try:
        with InterruptGuard():
            # Files are independent: a bad one is reported and the others are still written.
            for (src, dst), (count, error) in zip(jobs, results):
                done += 1
                if error is None:
                    log.info("%s: %d answers -> %s", src.name, count, dst)
                else:
                    failed += 1
                    log.error("%s", error)
            results.close()
    except KeyboardInterrupt:
        results.close()
        log.warning("interrupted: %d of %d files done; rerun to annotate the others", done, len(jobs))
        return EXIT_INTERRUPTED
    log.info("%d of %d files annotated in %.1f s", len(jobs) - failed, len(jobs),
             time.perf_counter() - start)
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
