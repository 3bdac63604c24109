"""Held-out short-sentence pairs (English<TAB>xx) from tldr-pages, for ``python -m model.evaluation pairs``.

tldr-pages (https://github.com/tldr-pages/tldr, CC BY 4.0) are community-written help pages for command-line
tools; their translations are written by people, page by page. Each page's examples are one imperative sentence
and one command: a translated example is paired with the English one that has the same command (placeholders
ignored), so the alignment never relies on line order alone. The page summary (its first ``>`` line) is paired
the same way. Only th, id and bn have translations (no vi, ms, tl, ur in tldr-pages); nothing in the project is
trained or tuned on them.

    python -m data.heldout.tldr_pages --tldr /work/.mirror/tldr-pages+tldr/repo --out var/heldout/tldr_pages
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

from data.heldout.common import distinct_pairs, git, write_pairs, write_sources

LANGS = ("vi", "th", "id", "ms", "tl", "ur", "bn")
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}")
_MARK = re.compile(r"\[([^\]]*)\]")  # tldr marks option letters: "[c]reate", "E[x]tract"
# boilerplate lines repeated over hundreds of pages ("This command is an alias of ...", "View documentation for
# the original command"): matched by the command name they contain, not by meaning, so they are left out
_TEMPLATE = re.compile(r"alias of|documentation for|^this command|more information", re.IGNORECASE)


def _clean(text: str) -> str:
    text = _MARK.sub(r"\1", text.strip())
    text = text.replace("`", "")
    return re.sub(r"\s+", " ", text).strip().rstrip(":").strip()


def parse_page(text: str) -> tuple[str | None, dict[str, str]]:
    """(summary sentence, {normalised command: example description})."""
    summary = None
    examples: dict[str, str] = {}
    pending = None
    for line in text.splitlines():
        if line.startswith("> ") and summary is None and "<http" not in line:
            summary = _clean(line[2:])
        elif line.startswith("- "):
            pending = _clean(line[2:])
        elif line.startswith("`") and pending:
            command = _PLACEHOLDER.sub("{{}}", line.strip("` "))
            examples.setdefault(command, pending)
            pending = None
    return summary, examples


def page_pairs(english: str, native: str) -> list[tuple[str, str]]:
    en_summary, en_examples = parse_page(english)
    xx_summary, xx_examples = parse_page(native)
    pairs = []
    if en_summary and xx_summary:
        pairs.append((en_summary, xx_summary))
    for command, description in xx_examples.items():
        if command in en_examples:
            pairs.append((en_examples[command], description))
    return pairs


def build(repo: Path, commit: str, out: Path, per_language: int) -> dict[str, int]:
    files = git(repo, "ls-tree", "-r", "--name-only", commit).splitlines()
    english_files = {f.removeprefix("pages/") for f in files if f.startswith("pages/") and f.endswith(".md")}
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for lang in LANGS:
        prefix = f"pages.{lang}/"
        rows: list[tuple[str, str]] = []
        for f in files:
            rel = f.removeprefix(prefix)
            if f.startswith(prefix) and rel in english_files:
                rows += page_pairs(git(repo, "show", f"{commit}:pages/{rel}"), git(repo, "show", f"{commit}:{f}"))
        ordered = sorted(rows, key=lambda p: hashlib.sha256("\t".join(p).encode()).hexdigest())
        pairs = distinct_pairs((en, xx) for en, xx in ordered if len(en) >= 8 and not _TEMPLATE.search(en))
        if pairs:
            counts[lang] = write_pairs(out / f"{lang}.tsv", pairs[:per_language])
    sources = {
        "source": "https://github.com/tldr-pages/tldr",
        "commit": commit,
        "licence": "CC BY 4.0",
        "what": "example descriptions and page summaries of translated pages, paired by command",
        "counts": counts,
    }
    write_sources(out, sources)
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tldr", type=Path, required=True, help="git directory of a tldr-pages mirror")
    p.add_argument("--commit", default="HEAD")
    p.add_argument("--out", type=Path, default=Path("var/heldout/tldr_pages"))
    p.add_argument("--per-language", type=int, default=1000)
    args = p.parse_args(argv)
    commit = git(args.tldr, "rev-parse", args.commit).strip()
    print(json.dumps(build(args.tldr, commit, args.out, args.per_language)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
