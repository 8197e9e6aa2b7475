"""The shape of the product code in figures, so a redesign can say what it changed: `python -m devtools.shape`.

Prints, for the tree it runs in:
  * the largest classes (lines from `class` to its last line, and the functions defined directly in them);
  * in bot/: how many `dict[str, Any]` (state without a shape) and `.get("…")` (reading such state) there are;
  * the comment density of each product package: comment and docstring lines per 100 lines of code;
  * with `--duplicates`, the pairs of repeated code (six or more lines) whose both sides are product code, counted by
    the `duplicates` tool of the development machines (not part of the project; skipped when it is not installed).

Issue 12 measured these before and after the bot/ redesign (its closing note has both columns).
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import shutil
import subprocess
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ClassSize", "classes", "comment_density", "main"]

PACKAGES = ("core", "cards", "graph", "bot")
TOP_LEVEL = ("app.py", "settings.py")


@dataclass(frozen=True)
class ClassSize:
    path: str
    name: str
    lines: int
    methods: int


def _python_files(root: Path, package: str) -> Iterator[Path]:
    target = root / package
    if target.is_file():
        yield target
    else:
        yield from sorted(target.rglob("*.py"))


def classes(root: Path) -> list[ClassSize]:
    """Every class of the product code, largest first."""
    found: list[ClassSize] = []
    for package in (*PACKAGES, *TOP_LEVEL):
        for path in _python_files(root, package):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                    methods = sum(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) for n in node.body)
                    rel = str(path.relative_to(root))
                    found.append(ClassSize(rel, node.name, node.end_lineno - node.lineno + 1, methods))
    return sorted(found, key=lambda c: -c.lines)


def _count(root: Path, package: str, pattern: str) -> int:
    regex = re.compile(pattern)
    return sum(len(regex.findall(p.read_text(encoding="utf-8"))) for p in _python_files(root, package))


def comment_density(path: Path) -> tuple[int, int]:
    """(comment and docstring lines, code lines) of one file; blank lines count as neither."""
    source = path.read_text(encoding="utf-8")
    docstring_lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
                and first.end_lineno is not None
            ):
                docstring_lines.update(range(first.lineno, first.end_lineno + 1))
    comment_lines: set[int] = set()
    code_lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comment_lines.add(token.start[0])
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code_lines.update(range(token.start[0], token.end[0] + 1))
    code_lines -= docstring_lines
    return len(comment_lines | docstring_lines), len(code_lines)


def _duplicate_pairs(root: Path) -> int | None:
    tool = shutil.which("duplicates")
    if tool is None:
        return None
    out = subprocess.run(
        [tool, "--repo", str(root), "--most", "200", "--seconds", "120"], capture_output=True, text=True, check=False
    ).stdout
    product = tuple(f"{p}/" for p in PACKAGES) + TOP_LEVEL
    pairs = 0
    for line in out.splitlines():
        match = re.match(r"D\d+ (\S+):\d+-\d+ ~ (\S+):\d+-\d+", line.strip())
        if match and all(side.startswith(product) for side in match.groups()):
            pairs += 1
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--top", type=int, default=5, help="how many of the largest classes to list")
    parser.add_argument("--duplicates", action="store_true", help="count repeated code with the `duplicates` tool")
    args = parser.parse_args()
    root: Path = args.root
    print("largest classes (lines, functions):")
    for c in classes(root)[: args.top]:
        print(f"  {c.path}::{c.name}  {c.lines} lines, {c.methods} functions")
    bot_lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in _python_files(root, "bot"))
    untyped = _count(root, "bot", r"dict\[str, Any\]")
    reads = _count(root, "bot", r'\.get\("')
    print(f'bot/: {bot_lines} lines, {untyped} `dict[str, Any]`, {reads} `.get("…")`')
    print("comment and docstring lines per 100 lines of code:")
    for package in (*PACKAGES, "app.py"):
        comments = code = 0
        for path in _python_files(root, package):
            in_file, code_in_file = comment_density(path)
            comments += in_file
            code += code_in_file
        print(f"  {package:8} {100 * comments / max(code, 1):5.1f}  ({comments} / {code})")
    if args.duplicates:
        pairs = _duplicate_pairs(root)
        print("repeated code in product code:", "duplicates tool not installed" if pairs is None else f"{pairs} pairs")


if __name__ == "__main__":
    main()
