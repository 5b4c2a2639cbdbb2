"""The command line's manners: version, ``python -m``, closed pipes, missing
extras and bad backends reported in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coherence import __version__
from coherence.cli import main

ROOT = Path(__file__).resolve().parents[1]
RACE = str(ROOT / "coherence" / "cases" / "public" / "mountain-race.json")


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_version_and_python_dash_m() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "coherence", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert run.stdout.strip() == f"coherence {__version__}"


def test_a_closed_pipe_ends_quietly() -> None:
    """``coherence demo --json | head -1`` used to end in a BrokenPipeError."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "coherence", "demo", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_a_missing_extra_is_named() -> None:
    code = (
        "import sys; sys.modules['sympy'] = None\n"
        "from coherence.cli import main\n"
        "raise SystemExit(main(['derive', '--show', 'mountain-race']))\n"
    )
    run = _python(code)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == (
        "coherence: error: this command needs 'sympy': install the [theory] extra "
        "(pip install 'coherence[theory]')"
    )


def test_a_missing_backend_extra_is_named() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from coherence.cli import main\n"
        f"raise SystemExit(main(['conformance', 'run', {RACE!r}, '--out', "
        "sys.argv[1], '--backend', 'torch']))\n"
    )
    run = _python(code, str(ROOT / "build" / "never-written"))
    assert run.returncode == 2
    assert "install the [torch] extra" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (ROOT / "build" / "never-written").exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (
            ["conformance", "run", RACE, "--out", "x", "--backend", "fortran"],
            "unknown backend",
        ),
        (["conformance", "check", RACE, "--results", "x", "--only", "Z"], "--only"),
        (["generate", "--states", "99", "--out", "x"], "--states"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    argv: list[str],
    words: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "module", "handler", "extra"),
    [
        (
            ["experiments", "audit", "--out", "R"],
            "pyarrow",
            "experiments._audit",
            "experiments",
        ),
        (["report", "--out", "R"], "matplotlib", "experiments._report", "experiments"),
        (
            ["experiments", "misalignment", "--out", "R", "--scheduler", "tcp://x:1"],
            "distributed",
            "experiments._run",
            "experiments",
        ),
        (["retrain", RACE], "torch", "gpu._retrain", "torch"),
        (
            ["retrain", RACE, "--plot", "f.png"],
            "matplotlib",
            "gpu._retrain",
            "experiments",
        ),
        (["anneal", RACE], "torch", "gpu._anneal", "torch"),
        (["prove", "--only", "1"], "z3", "proofs._prove", "proofs"),
        (["derive", "--show", "mountain-race"], "sympy", "theory._handle", "theory"),
        (
            [
                "import",
                "minigrid:MiniGrid-Empty-5x5-v0",
                "--horizon",
                "2",
                "--out",
                "c.json",
            ],
            "minigrid",
            "envs._cmd_import",
            "envs",
        ),
        (
            ["conformance", "run", RACE, "--out", "R", "--backend", "certified"],
            "flint",
            "conformance._cmd_run",
            "certified",
        ),
    ],
)
def test_missing_extras_are_found_before_any_work(
    argv: list[str],
    module: str,
    handler: str,
    extra: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each command checks the extras its options need before it starts (the
    audit used to compute for 1.5 minutes, then say pyarrow was missing)."""
    import importlib

    from coherence import _extras

    modules = {
        "experiments": "coherence.experiments.commands",
        "gpu": "coherence.gpu.commands",
        "proofs": "coherence.proofs.commands",
        "theory": "coherence.theory.commands",
        "envs": "coherence.envs.commands",
        "conformance": "coherence.conformance",
    }
    where, name = handler.split(".")

    def started(*_args: object) -> int:
        raise AssertionError("the command started its work")

    monkeypatch.setattr(importlib.import_module(modules[where]), name, started)
    real = _extras._importable
    monkeypatch.setattr(_extras, "_importable", lambda m: m != module and real(m))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"coherence: error: this command needs {module!r}: install the [{extra}] "
        f"extra (pip install 'coherence[{extra}]')"
    )


def test_prove_without_coqc_says_so_and_exits_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda n: None if n == "coqc" else real(n))
    assert main(["prove", "--only", "1"]) == 3
    out, err = capsys.readouterr()
    assert "UNKNOWN" in out
    last = out.strip().splitlines()[-1]
    # claim 1's row and the Coq-Python link row rest on Coq
    assert last.startswith("coqc not found: 2 rows rest on Coq theorems")
    assert "(0/coq-python-link, 1)" in last
    assert "apt-get install coq" in last and last.endswith("exit 3")
    assert "coqc not found on the PATH" in err


def test_every_command_is_in_the_readme_table() -> None:
    from coherence.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    commands = set(getattr(sub, "choices", {}))
    assert {"demo", "prove", "import", "report"} <= commands
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `coherence ")]
    listed = {line.split("`")[1].split()[1] for line in rows}
    assert commands <= listed, sorted(commands - listed)
