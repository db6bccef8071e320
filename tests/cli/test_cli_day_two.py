"""Every command of the "Day two" section of docs/cli.md runs, in order, in a subprocess (SQLite), and every
command's ``--help`` ends with examples."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
from click.testing import CliRunner

from abstractruntime.cli.main import cli
from abstractruntime.testing.cli import run_cli

from .test_cli_rewind import BROKEN, FIXED, fragile_flow

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cli.md"
NOT_OURS = {"worker", "start"}  # added by the worker change; its help is that change's
EXPECTED = {"resume 9c0f": 4, "run examples/flows/ask_and_answer.json": 5, "run my_flow.json": 5}


def _day_two_lines() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Day two", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    lines = [line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_day_two_commands_run(tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    flow = tmp_path / "my_flow.json"
    flow.write_text(json.dumps(fragile_flow(BROKEN)), encoding="utf-8")
    env: dict[str, str] = {}
    ids: dict[str, str] = {}
    lines = _day_two_lines()
    assert len(lines) >= 15
    for line in lines:
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            env[key] = value
            continue
        args = shlex.split(line)
        assert args[0] == "abstractruntime"
        args = [ids.get(arg, arg) for arg in args[1:]]
        if args[0] == "retry":
            flow.write_text(json.dumps(fragile_flow(FIXED)), encoding="utf-8")
        done = run_cli(*args, cwd=tmp_path, env=env)
        expected = next(
            (code for start, code in EXPECTED.items() if line.startswith(f"abstractruntime {start}")), 0
        )
        assert done.returncode == expected, (line, done.stdout, done.stderr)
        if args[0] == "run":
            started = re.search(r"run ([0-9a-f-]{36})", done.stdout + done.stderr)
            assert started is not None, done.stdout
            ids["6a16" if "ask_and_answer" in line else "9c0f"] = started.group(1)
        if args[0] == "fork":
            assert "You answered: Bob" in done.stdout
        if args[0] == "retry":
            assert "HELLO BOB" in done.stdout


def _leaves(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        if name in NOT_OURS:
            continue
        path = (*prefix, name)
        out.append(path)  # groups too: `abstractruntime runs --help` ends with examples
        if isinstance(command, click.Group):
            out.extend(_leaves(command, path))
    return out


def test_every_command_help_ends_with_examples() -> None:
    leaves = _leaves(cli)
    assert len(leaves) >= 20
    for path in leaves:
        shown = CliRunner().invoke(cli, [*path, "--help"], prog_name="abstractruntime")
        lines = [line.strip() for line in shown.output.rstrip().splitlines()]
        assert "Examples:" in lines, path
        assert lines[-1].startswith("abstractruntime "), (path, lines[-1])
