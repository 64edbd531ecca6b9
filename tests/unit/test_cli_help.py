"""The CLI's help, as it read before the CLI was split into one module per command
(plus `ask --trace`, `serve --no-page`, `--keyword-dir` and the `mcp` command, added after
the split)."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from crossrank.cli import cli

SAVED = Path(__file__).parent / "cli_help"


@pytest.mark.parametrize("command", ["main", "index", "ask", "eval", "train", "serve", "mcp"])
def test_help_is_unchanged(command: str):
    args = ["--help"] if command == "main" else [command, "--help"]
    done = CliRunner().invoke(cli, args, prog_name="crossrank", terminal_width=80)
    assert done.exit_code == 0, done.output
    assert done.output == (SAVED / f"{command}.txt").read_text()
