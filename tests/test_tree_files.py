"""A policy reads nothing outside its tree: imports, schemas and test input files resolve inside
the policies root (symlinks followed, then checked), only regular files of bounded size are
read, and a diagnostic never quotes what such a file holds. Shown through `clausewise check`
and `eval` in real processes (with a timeout: a FIFO must not hang them) and through
`Engine.from_directory`."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from clausewise import Engine, PolicyError
from clausewise.cli import main
from clausewise.dsl.treefiles import MAX_FILE_BYTES
from tests.test_pr_tools import git

ROOT = Path(__file__).resolve().parent.parent
PID = "shop/fees"
SECRET = "TOPSECRET-4f1c"  # in every file outside the tree: it must never be printed
SCHEMA_IN = {
    "type": "object",
    "properties": {"amount": {"type": "integer"}},
    "required": ["amount"],
}
SCHEMA_OUT = {"type": "object", "properties": {"fee": {"type": "integer"}}, "required": ["fee"]}
MODULE = 'module "lib/rates"\nlet factor = 2\n'


def policy_text(imports: str = "", input_schema: str = "input.schema.json") -> str:
    return (
        f'policy "{PID}"\nversion "1.0.0"\ntitle "Fees"\nsource "F1"\n'
        f'input schema "{input_schema}"\noutput schema "output.schema.json"\n'
        f"{imports}\noutput {{\n  fee: input.amount * 2,\n}}\n"
    )


def make_tree(tmp: Path, imports: str = "", input_schema: str = "input.schema.json") -> Path:
    """<tmp>/policies/shop/fees/1.0.0.cw with schemas beside it, and a module and a JSON file
    full of secrets outside the policies folder."""
    root = tmp / "policies"
    folder = root / PID
    folder.mkdir(parents=True)
    (folder / "input.schema.json").write_text(json.dumps(SCHEMA_IN))
    (folder / "output.schema.json").write_text(json.dumps(SCHEMA_OUT))
    (folder / "1.0.0.cw").write_text(policy_text(imports, input_schema))
    outside = tmp / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.cw").write_text(f'module "{SECRET}"\nlet {SECRET.replace("-", "_")} = 1\n')
    (outside / "secret.json").write_text(json.dumps({"type": "object", "title": SECRET}))
    return root


def run(
    args: list[str], env: dict[str, str] | None = None, fresh_process: bool = True
) -> subprocess.CompletedProcess[str]:
    """`clausewise ARGS`: in a new process with a timeout (a FIFO read would hang it: the test
    fails instead), or in this one through click's runner (faster, for paths that cannot
    block)."""
    env = {"NO_COLOR": "1", **(env or {})}
    if not fresh_process:
        result = CliRunner().invoke(main, args, env=env)
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)
    return subprocess.run(
        [sys.executable, "-m", "clausewise.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, **env},
    )


def check_json(
    target: Path, env: dict[str, str] | None = None, fresh_process: bool = True
) -> tuple[int, dict]:  # type: ignore[type-arg]
    proc = run(["check", "--format", "json", str(target)], env, fresh_process)
    return proc.returncode, json.loads(proc.stdout)


def codes(report: dict) -> list[str]:  # type: ignore[type-arg]
    return [d["code"] for d in report["diagnostics"]]


def first_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.readline().strip() or None
    except OSError:
        return None


# ---- the cases: how the path is written, and what it leads to --------------------------------

Setup = Callable[[Path], str]  # prepares files under tmp; returns the path as the policy writes it


def _absolute_outside(tmp: Path) -> str:
    return str(tmp / "outside" / "secret.cw")


def _dotdot(tmp: Path) -> str:
    return "../../../outside/secret.cw"


def _symlink_out(tmp: Path) -> str:
    (tmp / "policies" / PID / "link.cw").symlink_to(tmp / "outside" / "secret.cw")
    return "link.cw"


def _symlinked_folder_out(tmp: Path) -> str:
    (tmp / "policies" / "lib").symlink_to(tmp / "outside", target_is_directory=True)
    return "../../lib/secret.cw"


def _symlink_to_dev_zero(tmp: Path) -> str:
    (tmp / "policies" / PID / "zero.cw").symlink_to("/dev/zero")
    return "zero.cw"


def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "policies" / PID / "pipe.cw")
    return "pipe.cw"


def _too_large(tmp: Path) -> str:
    big = tmp / "policies" / PID / "big.cw"
    big.write_text(MODULE + "// " + "x" * MAX_FILE_BYTES + "\n")
    return "big.cw"


OUTSIDE: dict[str, Setup] = {
    "/etc/shadow": lambda tmp: "/etc/shadow",
    "/etc/passwd": lambda tmp: "/etc/passwd",
    "/proc/self/environ": lambda tmp: "/proc/self/environ",
    "/dev/zero": lambda tmp: "/dev/zero",
    "an absolute path to a module": _absolute_outside,
    "../ out of the tree": _dotdot,
    "a symlink out of the tree": _symlink_out,
    "a symlinked folder out of the tree": _symlinked_folder_out,
    "a symlink to /dev/zero": _symlink_to_dev_zero,
}
NOT_READ: dict[str, tuple[Setup, str]] = {
    **{name: (setup, "file-outside-tree") for name, setup in OUTSIDE.items()},
    "a FIFO": (_fifo, "file-not-regular"),
    "a file past the size limit": (_too_large, "file-too-large"),
}


def _assert_nothing_leaked(text: str) -> None:
    assert SECRET not in text
    for path in ("/etc/shadow", "/etc/passwd"):
        line = first_line(path)
        if line:
            assert line not in text, f"the first line of {path} was printed"


@pytest.mark.parametrize("case", list(NOT_READ))
def test_an_import_that_leads_out_of_the_tree_or_to_no_regular_file_is_refused(
    case: str, tmp_path: Path
) -> None:
    setup, code = NOT_READ[case]
    root = make_tree(tmp_path)
    ref = setup(tmp_path)
    (root / PID / "1.0.0.cw").write_text(policy_text(f'import "{ref}" as m'))
    env = {"CLAUSEWISE_PROBE": SECRET}  # what /proc/self/environ would print
    fresh = "FIFO" in case or "/proc" in case
    status, report = check_json(root, env, fresh)
    assert status == 1
    assert code in codes(report), report
    diag = next(d for d in report["diagnostics"] if d["code"] == code)
    assert diag["text"] == f'import "{ref}" as m'  # the policy's own text, underlined
    assert f"`{ref}`" in diag["message"]
    _assert_nothing_leaked(json.dumps(report))
    # checking the single file: the policies root is inferred from the policy id
    status, single = check_json(root / PID / "1.0.0.cw", env, fresh)
    assert status == 1 and code in codes(single)
    _assert_nothing_leaked(json.dumps(single))
    # eval refuses to load the policies, and says why without quoting the file
    proc = run(["eval", PID, "--policies", str(root), "--input", "-"], env, fresh)
    assert proc.returncode == 2
    assert code in proc.stderr
    _assert_nothing_leaked(proc.stdout + proc.stderr)
    # the embedding API
    with pytest.raises(PolicyError) as e:
        Engine.from_directory(root)
    assert code in [d.code for d in e.value.diagnostics]
    _assert_nothing_leaked(str(e.value))


@pytest.mark.parametrize("case", list(NOT_READ))
def test_a_schema_that_leads_out_of_the_tree_or_to_no_regular_file_is_refused(
    case: str, tmp_path: Path
) -> None:
    setup, code = NOT_READ[case]
    root = make_tree(tmp_path)
    ref = setup(tmp_path).replace("secret.cw", "secret.json")
    (root / PID / "1.0.0.cw").write_text(policy_text(input_schema=ref))
    fresh = "FIFO" in case or "/proc" in case
    status, report = check_json(root, {"CLAUSEWISE_PROBE": SECRET}, fresh)
    assert status == 1
    assert code in codes(report), report
    diag = next(d for d in report["diagnostics"] if d["code"] == code)
    assert f"the input schema `{ref}` cannot be read" in diag["message"]
    _assert_nothing_leaked(json.dumps(report))
    status, single = check_json(root / PID / "1.0.0.cw", fresh_process=fresh)
    assert status == 1 and code in codes(single)
    with pytest.raises(PolicyError) as e:
        Engine.from_directory(root)
    assert code in [d.code for d in e.value.diagnostics]
    _assert_nothing_leaked(str(e.value))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mknod needs root")
@pytest.mark.parametrize("what", ["import", "schema"])
def test_a_device_inside_the_tree_is_not_read(what: str, tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    name = "zero.cw" if what == "import" else "zero.json"
    os.mknod(root / PID / name, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's numbers
    text = policy_text(f'import "{name}" as m') if what == "import" else policy_text("", name)
    (root / PID / "1.0.0.cw").write_text(text)
    status, report = check_json(root)
    assert status == 1 and "file-not-regular" in codes(report)


def test_a_symlink_inside_the_tree_and_dotdot_inside_it_are_allowed(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    (root / "lib").mkdir()
    (root / "lib" / "rates.cw").write_text(MODULE)
    (root / "shared").symlink_to(root / "lib", target_is_directory=True)
    (root / PID / "rates.cw").symlink_to(root / "lib" / "rates.cw")
    (root / "schemas").mkdir()
    (root / "schemas" / "in.json").write_text(json.dumps(SCHEMA_IN))
    (root / PID / "in.json").symlink_to(root / "schemas" / "in.json")
    text = policy_text(
        'import "../../shared/rates.cw" as r\nimport "rates.cw" as s', input_schema="in.json"
    ).replace("input.amount * 2", "input.amount * r.factor * s.factor")
    (root / PID / "1.0.0.cw").write_text(text)
    status, report = check_json(root)
    assert status == 0, report
    assert Engine.from_directory(root).evaluate(PID, {"amount": 3}).output == {"fee": 12}
    proc = run(["eval", PID, "--policies", str(root), "--input", "-"])
    assert proc.returncode == 3  # no input on stdin: the policies loaded, the input is bad


@pytest.mark.parametrize(
    ("a_imports", "b_imports"),
    [
        ("../lib/b.cw", "../lib/a.cw"),  # a cycle spelled with `..`
        ("./b.cw", "../../policies/lib/../lib/a.cw"),
        ("../lib/a.cw", None),  # a module importing itself
    ],
)
def test_an_import_cycle_through_dotdot_is_reported_as_a_cycle(
    a_imports: str, b_imports: str | None, tmp_path: Path
) -> None:
    root = make_tree(tmp_path, imports='import "../../lib/a.cw" as a')
    (root / "lib").mkdir()
    (root / "lib" / "a.cw").write_text(f'module "lib/a"\nimport "{a_imports}" as b\nlet x = 1\n')
    if b_imports is not None:
        (root / "lib" / "b.cw").write_text(f'module "lib/b"\nimport "{b_imports}" as a\n')
    status, report = run_check(root)
    assert status == 1
    assert "import-cycle" in codes(report), report
    with pytest.raises(PolicyError) as e:
        Engine.from_directory(root)
    assert "import-cycle" in [d.code for d in e.value.diagnostics]


def run_check(root: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    return check_json(root)


def test_a_policy_file_found_under_the_root_that_links_out_is_not_read(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    (root / "shop" / "other").mkdir()
    (root / "shop" / "other" / "1.0.0.cw").symlink_to(tmp_path / "outside" / "secret.cw")
    status, report = check_json(root)
    assert status == 1 and "file-outside-tree" in codes(report)
    _assert_nothing_leaked(json.dumps(report))


def test_a_fifo_named_like_a_policy_file_does_not_hang_check(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    (root / "shop" / "other").mkdir()
    os.mkfifo(root / "shop" / "other" / "1.0.0.cw")
    status, report = check_json(root)
    assert status == 1 and "file-not-regular" in codes(report)


def test_a_test_input_file_outside_the_tree_is_not_read(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    (tmp_path / "outside" / "input.json").write_text(json.dumps({"amount": 1}))
    os.mkfifo(root / PID / "pipe.json")
    cases = [
        {"name": "escape", "input_file": "../../../outside/input.json", "expect": {"fee": 2}},
        {
            "name": "absolute",
            "input_file": str(tmp_path / "outside" / "input.json"),
            "expect": {"fee": 2},
        },
        {"name": "fifo", "input_file": "pipe.json", "expect": {"fee": 2}},
    ]
    (root / PID / "fees.test.yaml").write_text(json.dumps({"policy": PID, "cases": cases}))
    proc = run(["test", str(root)])
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    # each is an error of the test file at the case's `input_file`, and none is read
    assert out.count("error[test-input-file-unreadable]: cannot read the input file") == 3, out
    assert "outside the policies folder" in out and "absolute path" in out
    assert "not a regular file" in out


def test_diff_reads_schemas_only_inside_the_tree(tmp_path: Path) -> None:
    root = make_tree(tmp_path)
    folder = root / PID
    (folder / "2.0.0.cw").write_text(
        policy_text(input_schema="../../../outside/secret.json").replace("1.0.0", "2.0.0")
    )
    proc = run(["diff", "--format", "json", str(folder / "1.0.0.cw"), str(folder / "2.0.0.cw")])
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout


def test_a_lock_file_naming_files_outside_the_tree_or_a_fifo_reads_neither(
    tmp_path: Path,
) -> None:
    # the lock file is text in the repository too: the files it lists are digested only
    # inside the policies folder, and only when they are regular files
    root = make_tree(tmp_path)
    assert run(["lock", str(root)]).returncode == 0
    lock_file = root / "clausewise.lock"
    data = json.loads(lock_file.read_text())
    entry = data["policies"][PID]["1.0.0"]
    os.mkfifo(root / PID / "pipe.json")
    entry["files"]["pipe.json"] = "sha256:0"
    entry["files"]["../outside/secret.json"] = "sha256:0"
    entry["files"]["/dev/zero"] = "sha256:0"
    lock_file.write_text(json.dumps(data))
    status, report = check_json(root)  # a new process with a timeout: must not hang
    assert status == 1
    assert "locked-version-changed" in codes(report), report
    _assert_nothing_leaked(json.dumps(report))


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_diff_against_a_git_revision_reads_only_files_of_the_tree(tmp_path: Path) -> None:
    # at the base revision the policy's schema path leads out of the policies folder, and a
    # schema of the new side is a symlink: neither is read, nothing of them is printed
    root = make_tree(tmp_path, input_schema="../../../outside/secret.json")
    (root / PID / "in.json").symlink_to(tmp_path / "outside" / "secret.json")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    path = root / PID / "1.0.0.cw"
    path.write_text(policy_text(input_schema="in.json").replace("* 2", "* 3"))
    proc = run(["diff", "--format", "json", "--base", "HEAD", str(path)])
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert "fee" in proc.stdout  # the output's change is still shown
