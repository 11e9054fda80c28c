"""``--help`` reads like a well-kept Unix tool's: value placeholders (N, X, DIR, keep|drop),
no type tags, defaults written as a person would, every option present."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from samcli.cli import get_app

COMMANDS = [["automask"], ["from-boxes"], ["models"], ["models", "download"], ["models", "path"],
            ["models", "list"], []]


def _help(args: list[str]) -> str:
    result = CliRunner().invoke(get_app(), [*args, "--help"],
                                env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.stdout
    return result.stdout


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "samcli")
def test_help_has_no_type_tags_or_odd_numbers(args):
    text = _help(args)
    assert not re.search(r"<(bool|int|float|str|list\[str\]|path)>", text), text
    assert "{" not in text.split("\n", 3)[1]  # the usage line: INPUT..., not {inputs}...
    assert not re.search(r"\d\.\d{6,}", text), "a default printed with float noise"


def test_usage_and_placeholders():
    automask = _help(["automask"])
    usage = next(line for line in automask.splitlines() if "Usage:" in line)
    assert usage.strip().endswith("[OPTIONS] INPUT...")
    text = re.sub(r"[\s│]+", " ", automask)
    for needle in ("--points-per-side N", "--pred-iou-thresh X", "--containment keep|drop",
                   "--crop-overlap-ratio X", "[default: 512/1500 = 0.341]", "--output -o DIR",
                   "--format FORMAT", "--preset NAME", "--min-area AREA",
                   "'dense' (the SAM notebook's crop recipe: --crop-n-layers 1, "
                   "--crop-n-points-downscale-factor 2, --pred-iou-thresh 0.86,",
                   "--checkpoint FILE"):
        assert needle in text, needle
    boxes = re.sub(r"[\s│]+", " ", _help(["from-boxes"]))
    assert "LABELS..." in boxes and "--images DIR" in boxes and "--classes IDS" in boxes
    assert "[default: --single-mask]" in boxes  # a flag pair names the flag in force


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "samcli")
def test_option_names_stay_told_apart_at_80_columns(args):
    """Piped help (| less, | grep) is 80 columns wide: an option name cut short by the table
    must still name one option (--stability-scor... stood for two when the on/off pairs
    shared the Generation panel's table)."""
    result = CliRunner().invoke(get_app(), [*args, "--help"],
                                env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0, result.stdout
    command = typer.main.get_command(get_app())
    for word in args:
        command = command.commands[word]
    names = {n for p in command.params for n in [*p.opts, *getattr(p, "secondary_opts", [])]}
    for cut in re.findall(r"(--[a-z0-9-]+)…", result.stdout):
        assert len([n for n in names if n.startswith(cut)]) <= 1, cut


def test_command_list_gives_each_command_one_line():
    """``samcli --help``: on a wide terminal each command's description is one line (a
    docstring's own line breaks used to split them mid-sentence)."""
    text = _help([])
    rows = [line.strip("│ ").rstrip() for line in text.splitlines() if line.startswith("│")]
    commands = [r for r in rows if re.match(r"(automask|from-boxes|models) ", r)]
    assert [c.split()[0] for c in commands] == ["automask", "from-boxes", "models"]
    assert len(rows) == len(commands) + 2  # + --version and --help, nothing wrapped
    for row in commands:
        assert row.endswith((".", ").")), row


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "samcli")
def test_help_paragraphs_fit_an_80_column_terminal(args):
    """Typer keeps the line breaks of a help text's later paragraphs: a source line longer
    than the 80-column layout leaves a ragged one- or two-word line after it."""
    import os
    import subprocess
    import sys

    # (a process of its own: Typer reads the width once, when its help module is imported)
    env = {**os.environ, "COLUMNS": "80", "TERMINAL_WIDTH": "80"}
    result = subprocess.run([sys.executable, "-m", "samcli", *args, "--help"], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    prose = [line.strip() for line in result.stdout.split("╭", 1)[0].splitlines()[3:]]
    for before, line in zip(prose, prose[1:]):
        assert not (len(before) > 70 and 0 < len(line) < 25 and line[0].islower()), (
            f"{before!r} wraps to {line!r}")


@pytest.mark.parametrize("command", ["automask", "from-boxes"])
def test_a_command_with_nothing_to_do_says_so_on_stderr(command):
    """'true | xargs samcli automask | consumer' must not feed the usage text to the
    consumer: nothing but records goes to stdout (the help used to, with exit 2)."""
    result = CliRunner().invoke(get_app(), [command])
    assert result.exit_code == 2
    assert result.stdout == "" and result.stderr.strip()
