"""ocpipe runs on Windows and macOS as on Linux: no shell, no POSIX-only modules,
no text file read or written in the platform's default encoding.

There is no Windows runner here, so these read the package's own source (its
syntax tree) for the constructs that break there, and list where they occur."""

from __future__ import annotations

import ast
from pathlib import Path

import ocpipe

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(Path(ocpipe.__file__).parent.rglob("*.py")) + sorted((ROOT / "demo").glob("*.py"))
# Modules that exist on POSIX only.
POSIX_ONLY = {"resource", "fcntl", "termios", "pwd", "grp", "pty", "tty", "posix"}
SHELL_CALLS = {"os.system", "os.popen", "os.spawnlp", "os.execvp", "pty.spawn"}


def _trees():
    for path in SOURCES:
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def test_the_scan_sees_the_package():
    names = {path.name for path in SOURCES}
    assert {"ingest.py", "train.py", "data.py", "app.py", "cli.py"} <= names


def test_no_shell_outs():
    """No os.system, no subprocess, no shell=True: nothing that needs bash or cmd."""
    found = []
    for name, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{name}:{node.lineno} imports {module}" for module in modules if module.split(".")[0] == "subprocess"]
            if isinstance(node, ast.Call):
                if _dotted(node.func) in SHELL_CALLS:
                    found.append(f"{name}:{node.lineno} calls {_dotted(node.func)}")
                if any(keyword.arg == "shell" for keyword in node.keywords):
                    found.append(f"{name}:{node.lineno} passes shell=")
    assert found == []


def test_posix_only_modules_are_not_imported_unguarded():
    """resource, fcntl, ... may only be imported inside try/except ImportError (or not at all)."""
    found = []
    for name, tree in _trees():
        guarded = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.Try)
                   and any(_dotted(handler.type) in ("ImportError", "ModuleNotFoundError") for handler in node.handlers)
                   for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            if isinstance(node, ast.Import):
                found += [f"{name}:{node.lineno} imports {alias.name}" for alias in node.names if alias.name.split(".")[0] in POSIX_ONLY]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in POSIX_ONLY:
                found.append(f"{name}:{node.lineno} imports from {node.module}")
    assert found == []


def _text_mode(call: ast.Call) -> bool:
    """Whether an open() call opens in text mode (no 'b' in a literal mode)."""
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
    if mode is None:
        return True
    return not (isinstance(mode, ast.Constant) and isinstance(mode.value, str) and "b" in mode.value)


def test_text_files_name_their_encoding():
    """read_text / write_text / text-mode open() say encoding=: without it Python uses
    the platform's (cp1252 on most Windows machines), which can't hold every name."""
    found = []
    for name, tree in _trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or any(keyword.arg == "encoding" for keyword in node.keywords):
                continue
            function = _dotted(node.func)
            if function.endswith((".read_text", ".write_text")) or (function == "open" and _text_mode(node)):
                found.append(f"{name}:{node.lineno} {function}() without encoding=")
    assert found == []
