"""The guide holds: README and docs/ links and named paths resolve, every --option they show exists, the
quick start runs.

Options are checked per command: a code line `tfrec COMMAND [SUBCOMMAND] ... --option` (in bash/sh
blocks every line, in console/text blocks the lines after `$ `, and inline code spans in prose),
and the first column of a table that follows `<!-- command: NAME -->` or a heading `tfrec NAME`
(until the next heading). The Click commands are walked, the `bench` group's included; an option
hidden as a deprecated alias still counts as existing.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tfrec.cli.main import cli
from tfrec.demo import synth

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250
FRESH_MACHINE = [  # the README's first lines: a contract with .ci/run and with newcomers
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[tf]' && .venv/bin/tfrec demo",
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[tf,dev]' && .venv/bin/python -m pytest -q",
]
SHELL_BLOCKS = {"bash", "sh", "shell"}  # every line is a command
SESSION_BLOCKS = {"console", "text", ""}  # lines after `$ ` are commands, the rest is output
# Appended to a quick-start command so that it runs in seconds on tiny data (a later option wins).
QUICK_ARGS = {
    "train": ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "8", "-q"],
    "bench train": ["--steps-per-epoch", "2", "--batch-size", "8", "--no-drop-cache", "-q"],
}
NEVER_IN_QUICK_START = {"view", "serve-data", "fetch"}  # they serve forever or need the network


def _walk(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> dict[str, click.Command]:
    found = {}
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        found[" ".join(prefix + (name,))] = command
        if isinstance(command, click.Group):
            found.update(_walk(command, prefix + (name,)))
    return found


COMMANDS = _walk()


def _spellings(command: click.Command) -> set[str]:
    """Every option string a command accepts, hidden deprecated aliases included."""
    names = {"--help", "-h"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts + param.secondary_opts)
    return names


# --- reading markdown --------------------------------------------------------------------------

_FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_COMMAND_COMMENT = re.compile(r"<!--\s*command:\s*(.+?)\s*-->")


def _blocks(text: str):
    """Yields (kind, language, line number, lines): 'code' for fenced blocks, 'prose' for each other line."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence:
            start, body = i + 2, []  # the first body line's number (1-based)
            i += 1
            while i < len(lines) and not lines[i].startswith(fence.group(1)):
                body.append(lines[i])
                i += 1
            yield "code", fence.group(2).lower(), start, body
        else:
            yield "prose", None, i + 1, [lines[i]]
        i += 1


def _prose(text: str) -> list[tuple[int, str]]:
    return [(n, body[0]) for kind, _, n, body in _blocks(text) if kind == "prose"]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    for _, line in _prose(text):
        m = _HEADING.match(line)
        if m:
            slug = _slug(m.group(2))
            seen[slug] = seen.get(slug, -1) + 1
            seen[slug + ("" if seen[slug] == 0 else f"-{seen[slug]}")] = 0
    return set(seen)


def _links(text: str) -> list[tuple[int, str]]:
    found = []
    for n, line in _prose(text):
        line = re.sub(r"`[^`]*`", "", line)
        found += [(n, m.group(1)) for m in re.finditer(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", line)]
    return found


def link_problems(page: Path, root: Path = ROOT) -> list[str]:
    """Links to files in the repository (and to headings in Markdown files) that do not resolve."""
    problems = []
    text = page.read_text()
    for n, target in _links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(root)}:{n}: {target}"
        if not file.exists():
            problems.append(f"{where}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text()):
            problems.append(f"{where}: no heading with that anchor in {file.name}")
    return problems


_REPO_PATH = re.compile(r"^((?:tfrec|cli|tests|benchmarks|docs|schemas|\.ci)/[\w./-]*)(?:[:\s].*)?$")


def path_problems(page: Path, root: Path = ROOT) -> list[str]:
    """Repository paths named in inline code (`tfrec/io/fs.py`, `tests/data/format-v1/`) that do not exist."""
    problems = []
    for n, line in _prose(page.read_text()):
        for span in re.findall(r"`([^`]+)`", line):
            m = _REPO_PATH.match(span)
            if m and not (root / m.group(1)).exists():
                problems.append(f"{page.relative_to(root)}:{n}: {m.group(1)}: no such file or folder")
    return problems


# --- commands and options shown ----------------------------------------------------------------

def _resolve(words: list[str]) -> tuple[str | None, list[str]]:
    """(command name as walked, the words after it) for the words after `tfrec`; None when unknown."""
    if not words or words[0] not in COMMANDS:
        return None, words[1:]
    name, rest = words[0], words[1:]
    if isinstance(COMMANDS[name], click.Group) and rest and f"{name} {rest[0]}" in COMMANDS:
        name, rest = f"{name} {rest[0]}", rest[1:]
    return name, rest


def _options_in(words: list[str]) -> list[str]:
    return [w.split("=", 1)[0] for w in words if re.match(r"^--?[A-Za-z]", w)]


def _shell_segments(line: str) -> list[list[str]]:
    """The commands of one shell line: split at &&, ||, |, ;, redirections; comments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote: read it as plain words
        tokens = line.split("#")[0].split()
    segments, current = [], []
    for token in tokens:
        if token and set(token) <= set("&|;<>()"):
            segments.append(current)
            current = []
        else:
            current.append(token)
    return segments + [current]


def command_lines(text: str) -> list[tuple[int, list[str]]]:
    """(line number, words after `tfrec`) for every tfrec command the page shows in code."""
    found = []

    def add(n: int, line: str) -> None:
        for words in _shell_segments(line):
            while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):  # VAR=value tfrec ...
                words = words[1:]
            if words and Path(words[0]).name == "tfrec":
                found.append((n, words[1:]))

    for kind, language, start, body in _blocks(text):
        if kind == "code" and (language in SHELL_BLOCKS or language in SESSION_BLOCKS):
            logical, first = "", None
            for k, line in enumerate(body):
                if language not in SHELL_BLOCKS:
                    if not line.startswith("$ ") and not logical:
                        continue
                    line = line[2:] if line.startswith("$ ") else line
                first = start + k if first is None else first
                if line.rstrip().endswith("\\"):
                    logical += line.rstrip()[:-1] + " "
                    continue
                add(first, logical + line)
                logical, first = "", None
        elif kind == "prose":
            for span in re.findall(r"`([^`]+)`", body[0]):
                if span.startswith("tfrec "):
                    add(start, span)
    return found


def table_options(text: str) -> list[tuple[int, str, str]]:
    """(line number, command, option) for the first column of tables under a declared command."""
    found, command = [], None
    for n, line in _prose(text):
        heading = _HEADING.match(line)
        declared = _COMMAND_COMMENT.search(line)
        if heading:
            words = heading.group(2).replace("`", "").split()
            command = _resolve(words[1:])[0] if words[:1] == ["tfrec"] else None
        elif declared:
            command = declared.group(1)
        elif line.startswith("|") and command is not None:
            first = re.split(r"(?<!\\)\|", line)[1]
            for span in re.findall(r"`([^`]+)`", first):
                found += [(n, command, opt) for opt in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", span)]
    return found


def option_problems(page: Path, text: str | None = None) -> list[str]:
    text = page.read_text() if text is None else text
    problems = []
    for n, words in command_lines(text):
        if not words or words[0].startswith("-"):  # `tfrec --help`
            continue
        name, rest = _resolve(words)
        if name is None:
            problems.append(f"{page.name}:{n}: tfrec {words[0]}: no such command")
            continue
        problems += [f"{page.name}:{n}: tfrec {name} has no option {opt}"
                     for opt in _options_in(rest) if opt not in _spellings(COMMANDS[name])]
    for n, name, opt in table_options(text):
        if name not in COMMANDS:
            problems.append(f"{page.name}:{n}: table declared for tfrec {name}: no such command")
        elif opt not in _spellings(COMMANDS[name]):
            problems.append(f"{page.name}:{n}: tfrec {name} has no option {opt} (table)")
    return problems


# --- the tests ---------------------------------------------------------------------------------

def test_the_walk_finds_the_commands_and_the_pages():
    assert {"convert", "verify", "inspect", "view", "train", "bench", "bench read", "bench train"} <= set(COMMANDS)
    assert {p.name for p in PAGES} >= {"README.md", "convert.md", "verify-inspect.md", "view.md", "reading.md",
                                       "train.md", "bench.md", "scale-out.md", "interop.md", "troubleshooting.md",
                                       "architecture.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_resolve(page):
    assert link_problems(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_paths_named_exist(page):
    assert path_problems(page) == []


def test_the_path_check_can_fail(tmp_path):
    (tmp_path / "tfrec").mkdir()
    (tmp_path / "tfrec" / "a.py").write_text("")
    page = tmp_path / "page.md"
    page.write_text("`tfrec/a.py` and `tfrec/b.py`, `tfrec/a.py: line 3`, `benchmarks/x.py --quick`\n"
                    "```\n`tfrec/c.py`\n```\n")
    assert path_problems(page, tmp_path) == [
        "page.md:1: tfrec/b.py: no such file or folder", "page.md:1: benchmarks/x.py: no such file or folder"]


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in _links(README.read_text())}
    assert [p.name for p in PAGES[1:] if p.resolve() not in linked] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_option_shown_exists(page):
    assert option_problems(page) == []


def test_declared_tables_are_read():
    # Each `<!-- command: NAME -->` must be followed by a table whose options this test sees.
    for page in PAGES:
        text = page.read_text()
        declared = {m.group(1) for m in _COMMAND_COMMENT.finditer(text)}
        assert declared <= {name for _, name, _ in table_options(text)}, page.name


def test_the_option_check_can_fail():
    page = ROOT / "docs" / "example.md"
    text = "\n".join([
        "```bash", "tfrec convert src out --no-such-option", "tfrec bench train out --quick \\",
        "    --bogus 3", "tfrec bench read out --steps-per-epoch 3", "tfrec frobnicate x", "```",
        "Inline: `tfrec verify out --nope`.", "```console", "$ tfrec view out --open --nah", "viewing --x", "```",
        "## `tfrec evaluate`", "| option | meaning |", "| --- | --- |", "| `--model-file`, `--wrong` | x |",
        "<!-- command: bench train -->", "| `--rounds N` / `--sweeps` | x |", "## Elsewhere", "| `--anything` | x |",
    ])
    assert option_problems(page, text) == [
        "example.md:2: tfrec convert has no option --no-such-option",
        "example.md:3: tfrec bench train has no option --bogus",
        "example.md:5: tfrec bench read has no option --steps-per-epoch",
        "example.md:6: tfrec frobnicate: no such command",
        "example.md:8: tfrec verify has no option --nope",
        "example.md:10: tfrec view has no option --nah",
        "example.md:16: tfrec evaluate has no option --wrong (table)",
        "example.md:18: tfrec bench train has no option --sweeps (table)",
    ]


def test_deprecated_aliases_count_as_options():
    assert option_problems(ROOT / "x.md", "```bash\ntfrec evaluate out --model m.keras\n```") == []


def test_the_link_check_can_fail(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## A `b` c: d\n[ok](#a-b-c-d) [bad](#nope) [gone](missing.md) `[code](x.md)`\n"
                    "[self](page.md#title) [other](page.md#none)\n```\n[in code](y.md)\n```\n")
    assert link_problems(page, tmp_path) == [
        "page.md:4: #nope: no heading with that anchor in page.md",
        "page.md:4: missing.md: no such file",
        "page.md:5: page.md#none: no heading with that anchor in page.md",
    ]


def test_readme_is_short_and_starts_with_the_fresh_machine_commands():
    lines = README.read_text().split("\n")
    assert len(lines) <= README_MAX_LINES
    first_block = next(body for kind, _, _, body in _blocks(README.read_text()) if kind == "code")
    assert first_block == FRESH_MACHINE
    assert FRESH_MACHINE[1] in (ROOT / ".ci" / "run").read_text()


def _quick_start() -> list[list[str]]:
    text = README.read_text()
    start = text.index("<!-- quick-start")
    block = next(body for kind, _, _, body in _blocks(text[start:]) if kind == "code")
    commands = [words for _, words in command_lines("```bash\n" + "\n".join(block) + "\n```")]
    assert len(commands) == len([line for line in block if line.strip()]), "every quick-start line is a tfrec command"
    return commands


def test_the_quick_start_runs(tmp_path, monkeypatch):
    commands = _quick_start()
    names = [_resolve(words)[0] for words in commands]
    assert "convert" in names and "train" in names and not NEVER_IN_QUICK_START & set(names)
    # The demo's sources, tiny, where `tfrec demo` leaves them.
    sources = tmp_path / "tfrec-demo" / "sources"
    synth.write_mnist(sources / "mnist", n_train=64, n_test=16, seed=0, gzip=True)
    synth.write_cifar10(sources / "cifar10", n_train=64, n_test=16, seed=0, batches=1)
    synth.write_image_folder(sources / "shapes", n_per_class=6, seed=0, num_classes=3, size=(32, 32), fmt="jpeg")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for words, name in zip(commands, names):
        args = words + QUICK_ARGS.get(name, [])
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, f"tfrec {' '.join(args)}: exit {result.exit_code}\n{result.output[-3000:]}"
