"""`clausewise fmt` from the command line: rewriting, --check, --diff, syntax errors."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result

from clausewise.cli import main
from clausewise.dsl.parser import parse

MESSY = """\
# A messy policy: every comment below must survive formatting.
# c01 header block

policy   "demo/messy"   # c02 after the id
title "Messy demo"
# c03 before version
version "1.0.0"
output schema "output.schema.json"
input schema "input.schema.json"
import "../shared/dates.cw" as dates # c04 import

let stores=[ "FR","IT" ,   # c05 after IT
  "ES" ]
let rate = ( ( input.paid ) / input.total ) * 100   # c06 rate
let   period = in_zone(2022-09-26T00:00, "America/Los_Angeles") ..< in_zone(2023-01-01T00:00, "America/Los_Angeles")

# c07 before the decision
decision reason(c) first cites D6 {   # c08 after the brace
  # c09 before the first rule
  rule paused cites D5 "The campaign is paused." when c.paused_by_user   # c10 after the rule
  rule ended cites D5,D6 "The campaign has ended."
    when c.end_date is not null and (input.as_of > c.end_date)
    then "ended"
  else "delivering"   # c11 default
  # c12 before the closing brace
}

table band(rate: decimal, channel) first {
  | < 0.01 | - => "good"    # c13 row
  | 0.01 ..< 0.04 | "seller" => "watch"
  else => "bad"
}

rule big cites A1 "A large order." when input.total >= 2.5% * 1000 USD and input.days <= 30 days

invariant capped cites A3 "The total never exceeds the cap": output.total <= 1200 USD   # c14

output {
  rate: rate,     # c15 in the record
  # c16 before a field
  reason: reason(input.campaign),
  eligible: input.store in stores and big
}
# c17 end of file
"""

EXPECTED = """\
# A messy policy: every comment below must survive formatting.
# c01 header block

policy "demo/messy"  # c02 after the id
# c03 before version
version "1.0.0"
title "Messy demo"
input schema "input.schema.json"
output schema "output.schema.json"

import "../shared/dates.cw" as dates  # c04 import

let stores = [
  "FR",
  "IT",  # c05 after IT
  "ES",
]

let rate = input.paid / input.total * 100  # c06 rate

let period = in_zone(2022-09-26T00:00, "America/Los_Angeles")
  ..< in_zone(2023-01-01T00:00, "America/Los_Angeles")

# c07 before the decision
decision reason(c) first cites D6 {  # c08 after the brace
  # c09 before the first rule
  rule paused cites D5 "The campaign is paused."
    when c.paused_by_user  # c10 after the rule
  rule ended cites D5, D6 "The campaign has ended."
    when c.end_date is not null and input.as_of > c.end_date
    then "ended"
  else "delivering"  # c11 default
  # c12 before the closing brace
}

table band(rate: decimal, channel) first {
  | < 0.01        | -        => "good"  # c13 row
  | 0.01 ..< 0.04 | "seller" => "watch"
  else => "bad"
}

rule big cites A1 "A large order."
  when input.total >= 2.5% * 1000 USD and input.days <= 30 days

invariant capped cites A3 "The total never exceeds the cap":
  output.total <= 1200 USD  # c14

output {
  rate: rate,  # c15 in the record
  # c16 before a field
  reason: reason(input.campaign),
  eligible: input.store in stores and big,
}
# c17 end of file
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["fmt", *args])


def write(folder: Path, text: str, name: str = "demo/messy/1.0.0.cw") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def comments(text: str) -> list[str]:
    return re.findall(r"# c\d\d[^\n]*", text)


def test_messy_policy_is_reformatted_and_keeps_every_comment(tmp_path: Path) -> None:
    path = write(tmp_path, MESSY)
    result = run(str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"reformatted {path}"]
    new = path.read_text(encoding="utf-8")
    assert new == EXPECTED
    assert comments(new) == comments(MESSY) and len(comments(MESSY)) == 17
    assert parse(new) == parse(MESSY)


def test_check_lists_files_to_reformat_then_passes_once_formatted(tmp_path: Path) -> None:
    messy = write(tmp_path, MESSY)
    tidy = write(tmp_path, EXPECTED, "demo/tidy/1.0.0.cw")
    result = run("--check", str(tmp_path))
    assert result.exit_code == 1
    assert str(messy) in result.stdout and str(tidy) not in result.stdout
    assert messy.read_text(encoding="utf-8") == MESSY  # --check writes nothing

    assert run(str(tmp_path)).exit_code == 0
    result = run("--check", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_formatting_twice_changes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, MESSY)
    assert run(str(path)).exit_code == 0
    once = path.read_text(encoding="utf-8")
    result = run(str(path))
    assert result.exit_code == 0
    assert result.stdout == ""  # nothing reformatted
    assert path.read_text(encoding="utf-8") == once


def test_syntax_error_exits_2_and_leaves_the_file_untouched(tmp_path: Path) -> None:
    broken = 'policy "demo/broken"\nversion "1"\n\nlet total = (1 +\n# never closed\n'
    bad = write(tmp_path, broken, "demo/broken/1.0.0.cw")
    good = write(tmp_path, MESSY)
    result = run(str(tmp_path))
    assert result.exit_code == 2
    assert f"{bad}:" in result.stderr and "syntax-error" in result.stderr
    assert bad.read_text(encoding="utf-8") == broken
    # the other files are still formatted
    assert good.read_text(encoding="utf-8") == EXPECTED
    assert run("--check", str(bad)).exit_code == 2


def test_diff_prints_a_unified_diff_and_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, 'policy "p"\nlet x=(1)\n')
    result = run("--diff", str(path))
    assert result.exit_code == 1
    assert "-let x=(1)" in result.stdout and "+let x = 1" in result.stdout
    assert result.stdout.startswith(f"--- {path}")
    assert path.read_text(encoding="utf-8") == 'policy "p"\nlet x=(1)\n'


def test_folders_hold_only_policy_files(tmp_path: Path) -> None:
    write(tmp_path, "not a policy", "demo/notes.txt")
    path = write(tmp_path, 'module "shared/x"\nlet  a = 1\n', "shared/x.cw")
    result = run(str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"reformatted {path}"]
    assert path.read_text(encoding="utf-8") == 'module "shared/x"\n\nlet a = 1\n'


def test_missing_path_exits_2(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "no such file or folder" in result.stderr


def test_standard_input_is_formatted_to_standard_output() -> None:
    result = CliRunner().invoke(main, ["fmt", "-"], input='policy "p" let x = [1,2]')
    assert result.exit_code == 0
    assert result.stdout == 'policy "p"\n\nlet x = [1, 2]\n'
