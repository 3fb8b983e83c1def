"""Progress of long ``ais`` commands: a tqdm bar on a terminal, plain periodic lines when stderr is piped or
logged, nothing after ``--quiet`` (before or after the subcommand)."""

import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from AISCommonLib.cli import output
from AISCommonLib.cli.main import main
from AISCommonLib.cli.output import PROGRESS_BAR, PROGRESS_LINES, PROGRESS_OFF, ProgressDisplay
from AISCommonLib.synthetic.tinycases import writeSimpleCase

LIBRARY = Path(__file__).resolve().parents[2] / "AISCommon" / "AISCommonLib"
PERCENT_LINE = re.compile(r"^ais seed: +\d+% ")


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def dataset(root: Path, count: int) -> Path:
    for index in range(1, count + 1):
        writeSimpleCase(root, f"{index:02d}")
    return root


def command(*argv) -> list[str]:
    return [sys.executable, "-m", "AISCommonLib.cli.main", *(str(arg) for arg in argv)]


# ---------------------------------------------------------------------------------------------------
# The display itself


def test_plain_lines_come_every_five_percent_without_carriage_returns():
    stream, clock = io.StringIO(), FakeClock()
    display = ProgressDisplay("ais test", PROGRESS_LINES, stream=stream, clock=clock)
    for index in range(1001):
        display(index / 1000, f"item {index}")
    text = stream.getvalue()
    lines = text.splitlines()
    assert "\r" not in text
    assert [int(line.split()[2].rstrip("%")) for line in lines] == list(range(0, 101, 5))
    assert lines[0] == "ais test:   0% item 0" and lines[-1] == "ais test: 100% item 1000"


def test_a_slow_step_still_prints_a_line_every_ten_seconds():
    stream, clock = io.StringIO(), FakeClock()
    display = ProgressDisplay("ais test", PROGRESS_LINES, stream=stream, clock=clock)
    display(0.0, "start")
    for second in range(1, 31):
        clock.now = float(second)
        display(0.01, f"still at second {second}")
    assert stream.getvalue().splitlines() == ["ais test:   0% start", "ais test:   1% still at second 10",
                                              "ais test:   1% still at second 20", "ais test:   1% still at second 30"]


def test_verbose_plain_lines_show_every_update_and_fractions_may_start_again():
    stream = io.StringIO()
    display = ProgressDisplay("ais test", PROGRESS_LINES, stream=stream, verbose=True, clock=FakeClock())
    for fraction in (0.0, 0.01, 0.02, 0.5, 0.0, 0.01):
        display(fraction, "x")
    assert len(stream.getvalue().splitlines()) == 6


def test_forced_bar_mode_draws_a_tqdm_bar_that_ends_at_100_percent():
    stream = io.StringIO()
    display = ProgressDisplay("ais test", PROGRESS_BAR, stream=stream)
    for index in range(11):
        display(index / 10, f"case {index}")
    display.close()
    text = stream.getvalue()
    assert "\r" in text and "ais test" in text
    assert "100%|" in text.split("\r")[-1] and "case 10" in text.split("\r")[-1]


def test_off_mode_writes_nothing():
    stream = io.StringIO()
    display = ProgressDisplay("ais test", PROGRESS_OFF, stream=stream)
    display(0.0, "start")
    display(1.0, "done")
    display.close()
    assert stream.getvalue() == ""


def test_the_shared_callable_follows_the_configured_mode(capsys):
    output.configureProgress(label="ais shared", mode=PROGRESS_LINES)
    for index in range(5):
        output.stderrProgress(index / 4, f"step {index}")
    output.configureProgress(quiet=True, label="ais shared", mode=PROGRESS_LINES)
    output.stderrProgress(0.5, "silenced")
    output.notice("an informational line")
    output.stderrLine("ais: warning: a warning still shows")
    output.configureProgress()
    err = capsys.readouterr().err
    assert err.splitlines() == ["ais shared:   0% step 0", "ais shared:  25% step 1", "ais shared:  50% step 2", "ais shared:  75% step 3",
                                "ais shared: 100% step 4", "ais: warning: a warning still shows"]


def test_a_program_asking_for_machine_lines_gets_them_whatever_the_mode_and_can_cancel(capsys, monkeypatch, tmp_path):
    from AISCommonLib.core.errors import OperationCancelled
    from AISCommonLib.progresslines import CANCEL_FILE_VARIABLE, PROGRESS_FORMAT_LINES, PROGRESS_FORMAT_VARIABLE, parseProgressLine

    monkeypatch.setenv(PROGRESS_FORMAT_VARIABLE, PROGRESS_FORMAT_LINES)
    monkeypatch.setenv(CANCEL_FILE_VARIABLE, str(tmp_path / "cancel"))
    for mode in (PROGRESS_BAR, PROGRESS_LINES):
        output.configureProgress(label="ais shared", mode=mode)
        output.stderrProgress(0.25, "a step")
    output.configureProgress()
    assert [parseProgressLine(line) for line in capsys.readouterr().err.splitlines()] == [(0.25, "a step")] * 2
    (tmp_path / "cancel").write_text("")
    with pytest.raises(OperationCancelled):
        output.stderrProgress(0.5, "never shown")
    assert capsys.readouterr().err == ""


def test_without_tqdm_a_bar_becomes_plain_lines(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # importing it raises ImportError
    stream = io.StringIO()
    display = ProgressDisplay("ais test", PROGRESS_BAR, stream=stream)
    display(0.5, "half")
    display.close()
    assert stream.getvalue() == "ais test:  50% half\n"


def test_the_library_never_imports_a_progress_library():
    offenders = [path.relative_to(LIBRARY).as_posix() for path in LIBRARY.rglob("*.py")
                 if "cli" not in path.relative_to(LIBRARY).parts and re.search(r"^\s*(import|from)\s+(tqdm|rich)\b", path.read_text(), re.M)]
    assert offenders == []


# ---------------------------------------------------------------------------------------------------
# Commands, piped (what a log file or CI sees)


def test_piped_seed_prints_periodic_percent_lines_and_no_carriage_returns(tmp_path):
    root = dataset(tmp_path / "bids", 3)
    result = subprocess.run(command("seed", root, "--reader", "R01"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if PERCENT_LINE.match(line)]
    assert [line.split()[2] for line in lines] == ["0%", "33%", "67%", "100%"]
    assert "Seeding sub-03_ses-01" in lines[2]
    assert "Seeded 3 of 3 case(s)" in result.stdout


def test_validate_and_dataset_compare_show_progress_when_piped(tmp_path, capsys):
    root = dataset(tmp_path / "bids", 2)
    code, _, err = run(capsys, "validate", root, "--quick")
    assert code == 0 and "ais validate:   0% Validating sub-01_ses-01" in err.splitlines()
    for reader in ("R01", "R02"):
        assert run(capsys, "seed", root, "--reader", reader)[0] == 0
    code, _, err = run(capsys, "compare", root)
    assert code == 0 and "\r" not in err
    assert any(line.startswith("ais compare: 100% ") for line in err.splitlines())


@pytest.mark.parametrize("position", ["before", "after"])
def test_quiet_prints_nothing_on_stderr_for_successful_runs(tmp_path, capsys, monkeypatch, position):
    monkeypatch.delenv("AIS_DB_URL", raising=False)
    root = dataset(tmp_path / "bids", 2)

    def quiet(*argv):
        argv = ["--quiet", *argv] if position == "before" else [*argv, "--quiet"]
        code, out, err = run(capsys, *argv)
        assert (code, err) == (0, ""), f"ais {' '.join(map(str, argv))}"
        return out

    quiet("validate", root)
    quiet("seed", root, "--reader", "R01")
    quiet("seed", root, "--reader", "R02")
    assert "sub-02_ses-01" in quiet("compare", root)
    quiet("workflow", "init", "--user", "M01", "--root", root, "--title", "chief", "--years-imaging", "20", "--years-neuroimaging", "12")
    assert quiet("workflow", "register", "--user", "M01", "--root", root).startswith("Registered 2 case(s)")
    quiet("workflow", "verify", "--user", "M01", "--root", root)
    quiet("workflow", "export", "--user", "M01", "--root", root, "--out", tmp_path / "export")
    assert (tmp_path / "export" / "cases.csv").is_file()


def test_workflow_register_verify_and_export_report_progress(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("AIS_DB_URL", raising=False)
    root = dataset(tmp_path / "bids", 2)
    assert run(capsys, "workflow", "init", "--user", "M01", "--root", root, "--title", "chief", "--years-imaging", "20",
               "--years-neuroimaging", "12")[0] == 0
    for subcommand, extra, last in (("register", [], "Registered 2 case(s)"), ("verify", [], "Verified"),
                                    ("export", ["--out", tmp_path / "export"], "Exported")):
        code, _, err = run(capsys, "workflow", subcommand, "--user", "M01", "--root", root, *extra)
        assert code == 0, err
        lines = err.splitlines()
        assert lines[0].startswith(f"ais workflow {subcommand}:   0% ")
        assert lines[-1].startswith(f"ais workflow {subcommand}: 100% {last}")


def test_an_error_ends_the_progress_before_the_one_sentence(tmp_path, capsys):
    root = dataset(tmp_path / "bids", 1)
    code, _, err = run(capsys, "seed", root, "--reader", "R01", "--adc-unit", "furlongs")
    assert code == 2 and err.startswith("ais: error: ") and len(err.splitlines()) == 1


# ---------------------------------------------------------------------------------------------------
# A terminal (pseudo-terminal): a live bar


def _readAll(fd: int, process: subprocess.Popen) -> bytes:
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed its side of the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    return b"".join(chunks)


@pytest.mark.parametrize("columns", [120, 0], ids=["sized-terminal", "terminal-without-size"])
def test_on_a_terminal_progress_is_a_live_tqdm_bar(tmp_path, columns):
    root = dataset(tmp_path / "bids", 3)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30 if columns else 0, columns, 0, 0))
    with subprocess.Popen(command("seed", root, "--reader", "R01"), stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL) as process:
        os.close(follower)
        terminal = _readAll(leader, process).decode("utf-8", "replace")
        stdout = process.stdout.read().decode()
        assert process.wait(timeout=300) == 0, terminal
    os.close(leader)
    assert "Seeded 3 of 3 case(s)" in stdout
    frames = terminal.split("\r")
    assert len(frames) > 2  # the bar is redrawn in place
    assert any(frame.startswith("ais seed 100%|") and "Done" in frame for frame in frames)
    assert max(len(frame.rstrip("\n")) for frame in frames) <= (columns or 100)
    assert not any(PERCENT_LINE.match(line) for line in terminal.splitlines())  # no plain lines on a terminal

    quiet = pty.openpty()
    with subprocess.Popen(command("--quiet", "seed", root, "--reader", "R02"), stdout=subprocess.PIPE, stderr=quiet[1],
                          stdin=subprocess.DEVNULL) as process:
        os.close(quiet[1])
        terminal = _readAll(quiet[0], process)
        process.stdout.read()
        assert process.wait(timeout=300) == 0
    os.close(quiet[0])
    assert terminal == b""
