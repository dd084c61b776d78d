"""The README's plain commands (for machines without make: Windows) are the ones
`make demo`, `make test` and `make notebook` run: both files are parsed and compared."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Recipe lines that only serve make itself, so the README leaves them out (and says so for rm).
BOOKKEEPING = {"touch .venv/.installed", "touch .venv/.notebook-installed", "rm -rf samples"}


def makefile() -> tuple[dict[str, str], dict[str, tuple[list[str], list[str]]]]:
    """(variables, {target: (prerequisites, recipe lines)}) of the Makefile, unexpanded."""
    variables: dict[str, str] = {}
    rules: dict[str, tuple[list[str], list[str]]] = {}
    current = None
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        if line.startswith("\t") and current is not None:
            rules[current][1].append(line.strip())
            continue
        current = None
        assignment = re.match(r"^([A-Za-z_]+)\s*(?:\?=|:=|=)\s*(.*)$", line)
        rule = re.match(r"^([^\s#.][^:=]*|\$\([A-Z_]+\)):(?!=)\s*(.*)$", line)
        if assignment:
            variables[assignment.group(1)] = assignment.group(2).strip()
        elif rule:
            current = rule.group(1).strip()
            rules[current] = (rule.group(2).split(), [])
    return variables, rules


def expand(text: str, variables: dict[str, str]) -> str:
    while (found := re.search(r"\$\(([A-Za-z_]+)\)", text)):
        text = text.replace(found.group(0), variables[found.group(1)])
    return text


def make_commands(target: str) -> list[str]:
    """The commands `make TARGET` runs on a fresh clone, in order: prerequisites first."""
    variables, rules = makefile()
    rules = {expand(name, variables): (prerequisites, recipe) for name, (prerequisites, recipe) in rules.items()}
    done: list[str] = []
    commands: list[str] = []

    def run(name: str) -> None:
        if name in done or name not in rules:
            return
        done.append(name)
        prerequisites, recipe = rules[name]
        for prerequisite in prerequisites:
            run(expand(prerequisite, variables))
        commands.extend(expand(line, variables) for line in recipe)

    run(target)
    return commands


def readme_blocks(section: str) -> dict[str, list[str]]:
    """{info string: lines} of the fenced code blocks in a level-2 README section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return {info: [line.strip() for line in block.splitlines() if line.strip()]
            for info, block in re.findall(r"```(\w*)\n(.*?)```", body, re.S)}


def windows(command: str) -> str:
    """A POSIX command as the README spells it for Windows (PowerShell or cmd)."""
    command = re.sub(r"^python3 -m venv", "py -m venv", command)
    command = re.sub(r"^\.venv/bin/", r".venv\\Scripts\\", command)
    return command.replace("'", '"')


def plain_demo_and_test() -> list[str]:
    demo = make_commands("demo")
    return [line for line in demo + [line for line in make_commands("test") if line not in demo] if line not in BOOKKEEPING]


def test_the_makefile_parses_into_the_demo_steps():
    demo = make_commands("demo")
    assert demo[0] == "python3 -m venv .venv"
    assert demo[-1] == ".venv/bin/ocpipe demo --host 127.0.0.1 --port 7860"
    assert [line.split()[1] for line in demo if line.startswith(".venv/bin/ocpipe")] == ["samples", "ingest", "report", "train", "demo"]
    assert make_commands("test")[-1] == ".venv/bin/python -m pytest"
    assert set(demo) - set(plain_demo_and_test()) <= BOOKKEEPING


def test_readme_quickstart_lists_what_make_demo_and_make_test_run():
    blocks = readme_blocks("Quickstart")
    assert blocks["sh"] == plain_demo_and_test()


def test_readme_quickstart_windows_commands_are_the_same_with_windows_paths():
    blocks = readme_blocks("Quickstart")
    assert blocks["bat"] == [windows(line) for line in plain_demo_and_test()]
    assert all("/" not in line.replace(" -m ", " ") for line in blocks["bat"] if ".venv" in line)
    assert ".venv\\Scripts\\ocpipe train" in blocks["bat"] and ".venv\\Scripts\\python -m pytest" in blocks["bat"]


def test_readme_gives_the_plain_commands_of_make_notebook():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Learn how it works\n", 1)[1].split("\n## ", 1)[0]
    own = [line for line in make_commands("notebook") if line not in make_commands("install") and line not in BOOKKEEPING]
    assert own == [".venv/bin/python -m pip install -e '.[notebook]'", ".venv/bin/jupyter lab docs/walkthrough.ipynb"]
    for line in own:
        assert f"`{line}`" in section and f"`{windows(line)}`" in section
