"""Red team round 63 against the last hour's merges: ``ledger demo-data --rules/--rules-out`` (round 60b), which
writes a screen for every item publishing the catalogue of the items it generates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
COMMITMENT = ROOT / "rules" / "notify-and-commit.yaml"


@pytest.mark.parametrize(
    ("writer", "clash"),
    [("--rules-out", "--licences"), ("--rules-out", "--rules"), ("--rules-out", "--out"), ("--out", "--licences")],
)
def test_demo_data_writing_the_screen_over_one_of_its_own_inputs_is_refused_and_loses_nothing(
    tmp_path: Path, capsys: Any, writer: str, clash: str
) -> None:
    """(A department's operator scripting the demo, or a colleague handing them a command line) give ``ledger
    demo-data --rules-out`` the path of one of the command's other files: --licences (the business licences the
    applications cite), --rules (the screen it reads) or --out (the applications). The screen was written first,
    truncating that file: the licences were destroyed before they were read (then "holds no business-licence"), the
    source screen replaced by JSON, or the screen overwritten by the applications afterwards (exit 0, a "rule set"
    file of applications). --out over --licences replaced the licences with the applications. Refused before anything
    is written, naming the two options; every file as it was."""
    licences = tmp_path / "licences.jsonl"
    licences.write_text('{"digest": "00", "fields": {"type": "business-licence"}}\n', encoding="utf-8")
    screen = tmp_path / "screen.yaml"
    screen.write_text(COMMITMENT.read_text(encoding="utf-8"), encoding="utf-8")
    apps = tmp_path / "apps.jsonl"
    apps.write_text("kept\n", encoding="utf-8")
    screen_out = tmp_path / "screen.json"
    paths = {"--licences": licences, "--rules": screen, "--out": apps, "--rules-out": screen_out}
    before = {p: p.read_bytes() for p in paths.values() if p.exists()}
    args = ["demo-data", "--items", "3", "--applications", "5", "--seed", "7"]
    args += [f"{option}={path}" for option, path in paths.items() if option != writer]
    # the same file under another spelling: a relative path through a directory and back
    clashing = tmp_path / "sub" / ".." / paths[clash].name
    (tmp_path / "sub").mkdir()
    code = cli_main([*args, f"{writer}={clashing}"])
    err = capsys.readouterr().err
    assert code != 0 and writer in err and clash in err, err
    assert {p: p.read_bytes() for p in paths.values() if p.exists()} == before and not screen_out.exists()


def test_demo_data_with_distinct_files_still_writes_the_screen(tmp_path: Path, capsys: Any) -> None:
    """(The same operator's control) distinct files: the screen with the catalogue and the applications written."""
    from ledger.formats.rules import load_rule_set

    out, screen = tmp_path / "apps.jsonl", tmp_path / "screen.json"
    code = cli_main(
        [
            "demo-data",
            "--items",
            "3",
            "--applications",
            "5",
            "--seed",
            "7",
            "--out",
            str(out),
            "--rules",
            str(COMMITMENT),
            "--rules-out",
            str(screen),
        ]
    )
    assert code == 0, capsys.readouterr().err
    rules = load_rule_set(screen)
    assert rules.items is not None and len(rules.items) == 3 and len(out.read_text().splitlines()) == 5
