"""The example scripts and the README's quick start run end to end.

Every ``examples/*.py`` runs in its fast mode (``SKREG_EXAMPLES_FAST=1``) in a subprocess that
writes its figure to a temporary directory. The scripts are started together and awaited once, so
the whole module costs about as long as the slowest script, not the sum of all of them.

Beyond running, each fast mode must still show its point: the checks below read it off the numbers
the script prints (a stop before the budget, inputs switched off, ...), and no script may print the
same warning twice.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
TIMEOUT_SECONDS = 300


def expected_image(script: Path) -> str:
    """``quickstart.py`` draws ``quickstart.png``; ``plot_<name>.py`` draws ``<name>.png``."""
    return script.stem.removeprefix("plot_") + ".png"


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory):
    """Run every example in fast mode at once; ``{script name: (process, stdout, stderr, output dir)}``."""
    pytest.importorskip("matplotlib")
    started = {}
    for script in EXAMPLES:
        output = tmp_path_factory.mktemp(script.stem)
        env = {
            **os.environ,
            "SKREG_EXAMPLES_FAST": "1",
            "SKREG_EXAMPLES_OUTPUT": str(output),
            "MPLBACKEND": "Agg",
            # The networks are small: one BLAS thread per script avoids oversubscribing the cores
            # while the scripts run side by side.
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        process = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started[script.name] = (process, output)
    runs = {}
    for name, (process, output) in started.items():
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            stderr += f"\n[killed after {TIMEOUT_SECONDS} s]"
        runs[name] = (process, stdout, stderr, output)
    return runs


def test_every_example_has_a_fast_mode():
    assert EXAMPLES, "no example scripts found"
    for script in EXAMPLES:
        source = script.read_text()
        assert "SKREG_EXAMPLES_FAST" in source and "SKREG_EXAMPLES_OUTPUT" in source, script.name


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_and_writes_its_figure(script, example_runs):
    process, stdout, stderr, output = example_runs[script.name]
    assert process.returncode == 0, f"{script.name} exited with {process.returncode}:\n{stderr[-3000:]}"
    image = output / expected_image(script)
    written = sorted(path.name for path in output.iterdir())
    assert image.is_file(), f"{script.name} did not write {image.name}; it wrote {written}"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "run time:" in stdout


def readme_quick_start() -> str:
    """The first ```python block of the README."""
    match = re.search(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S | re.M)
    assert match, "README.md has no ```python block"
    return match.group(1)


def readme_block_after(heading: str) -> str:
    """The first ```python block under a README ``## heading``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}\n.*?^```python\n(.*?)^```", text, re.S | re.M)
    assert match, f"README.md has no ```python block under '## {heading}'"
    return match.group(1)


def test_readme_quick_start_runs(capsys):
    code = readme_quick_start()
    namespace = {"__name__": "readme_quick_start"}
    exec(compile(code, str(ROOT / "README.md"), "exec"), namespace)
    printed = capsys.readouterr().out
    accuracy = re.search(r"test accuracy: ([0-9.]+)", printed)
    if accuracy:  # the block as written today prints it; breast cancer is easy
        assert float(accuracy.group(1)) > 0.9
    # The Plots section draws the quick start's fitted pipeline.
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    exec(compile(readme_block_after("Plots"), str(ROOT / "README.md"), "exec"), namespace)
    import matplotlib.pyplot as plt

    assert plt.gcf().axes and plt.gcf().axes[0].get_lines()
    plt.close("all")


# ``path/to/file.py:66: UserWarning: message``: what ``warnings`` writes to stderr, the location aside.
WARNING_LINE = re.compile(r"^.*?:\d+: (\w*Warning): (.*)$", re.M)


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.name)
def test_example_prints_no_warning_twice(script, example_runs):
    _, _, stderr, _ = example_runs[script.name]
    warnings = WARNING_LINE.findall(stderr)
    repeated = sorted({f"{category}: {message}" for category, message in warnings
                       if warnings.count((category, message)) > 1})
    assert not repeated, f"{script.name} printed the same warning more than once: {repeated}"


def numbers(pattern: str, stdout: str) -> tuple:
    """The groups of ``pattern``'s first match in ``stdout``, as numbers."""
    match = re.search(pattern, stdout, re.M)
    assert match, f"no line matching {pattern!r} in:\n{stdout}"
    return tuple(float(group) for group in match.groups())


def early_stopping_stops_early(stdout):
    stop, budget = numbers(r"stopped after epoch (\d+) of a (\d+)-epoch budget", stdout)
    (best,) = numbers(r"restored epoch (\d+)", stdout)
    assert best < stop < budget, "early stopping did not stop before its budget, or kept its last epoch"


def l1_switches_inputs_off(stdout):
    l2_off, _ = numbers(r"^alpha=\S+ L2: .*?(\d+) of (\d+) inputs switched off", stdout)
    l1_off, n_inputs = numbers(r"^alpha=\S+ L1: .*?(\d+) of (\d+) inputs switched off", stdout)
    assert l1_off > 0, f"L1 switched off none of the {n_inputs:.0f} inputs"
    assert l2_off == 0, "L2 should only shrink the weights, never zero a whole input"


def dropout_closes_the_gap(stdout):
    # Table rows: dropout, best val loss, at epoch, final train, final val, final gap.
    (epochs,) = numbers(r"(\d+) epochs$", stdout)
    rows = [tuple(map(float, row)) for row in re.findall(r"^\s*([0-9.]+)" + r"\s+(-?[0-9.]+)" * 5 + r"$", stdout, re.M)]
    assert len(rows) >= 2, f"no dropout table in:\n{stdout}"
    no_dropout = rows[0]
    assert no_dropout[0] == 0.0 and no_dropout[2] < epochs and no_dropout[4] > 1.1 * no_dropout[1], \
        "without dropout the validation loss should climb well above its best"
    gaps = [row[5] for row in rows]
    assert gaps == sorted(gaps, reverse=True) and gaps[0] > gaps[-1], f"gaps {gaps} do not close with dropout"


def jackknife_covers_its_target(stdout):
    (jackknife,) = numbers(r"jackknife\+-after-bootstrap interval: ([0-9.]+)%", stdout)
    (percentile,) = numbers(r"percentile band of the members: +([0-9.]+)%", stdout)
    assert 85 <= jackknife <= 95, f"the 90% interval covered {jackknife}% of new observations"
    assert percentile < jackknife, "the percentile band should hold fewer new observations than the interval"


def uncertainty_follows_the_noise(stdout):
    quiet, noisy, _, width_quiet, width_noisy = numbers(
        r"^  adaptive quiet ([0-9.]+)  noisy ([0-9.]+)  all ([0-9.]+);  width quiet ([0-9.]+)  noisy ([0-9.]+)", stdout)
    plain_quiet, plain_noisy = numbers(r"^  plain    quiet ([0-9.]+)  noisy ([0-9.]+)", stdout)
    assert 0.7 < quiet < 0.9 and 0.7 < noisy < 0.9, "the adaptive interval should cover both halves near 80%"
    assert plain_quiet - plain_noisy > 0.15, "the plain interval should over-cover the quiet half"
    assert width_noisy > 1.5 * width_quiet, "the adaptive interval should be wider where the noise is"
    assert min(numbers(r"^adaptive width outside / inside the data: left ([0-9.]+), right ([0-9.]+)", stdout)) > 1
    std_in, std_out = numbers(r"MC dropout std: inside the data ([0-9.]+), outside ([0-9.]+)", stdout)
    assert std_out > 1.5 * std_in, "MC dropout should spread more outside the training range"
    on_data, far = numbers(r"mutual information: on the training points ([0-9.]+), farther than 1 from any ([0-9.]+)",
                           stdout)
    assert far > 2 * on_data, "the mutual information should be higher away from the data"


def l1_has_exact_zeros(stdout):
    (zeros,) = numbers(r"^skreg L1 \(alpha=1\)(?:\s+[0-9.]+){3}\s+([0-9.]+)%", stdout)
    assert zeros > 0, "L1 left no weight exactly 0.0"


def every_noise_lowers_the_test_log_loss(stdout):
    rows = dict(re.findall(r"^(none|dropout \(\w+\)|input noise|weight noise|label smoothing|label noise)"
                           r"\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+\s+([0-9.]+)$", stdout, re.M))
    assert len(rows) == 7, f"no table of the seven methods in:\n{stdout}"
    none = float(rows.pop("none"))
    worse = [name for name, loss in rows.items() if float(loss) >= none]
    assert not worse, f"{worse} did not lower the unregularized test log-loss {none}"


def cross_validation_prefers_regularization(stdout):
    chosen, weakest = numbers(r"^chosen: .*?CV accuracy ([0-9.]+) \(weakest regularization, .*?: ([0-9.]+)\)", stdout)
    assert chosen >= weakest + 0.01, f"the chosen pair ({chosen}) should beat the weakest regularization ({weakest})"


# What each fast mode must show, read off its printed output (plot_tuning's point is its table).
POINTS = {
    "plot_cv_path.py": cross_validation_prefers_regularization,
    "plot_early_stopping.py": early_stopping_stops_early,
    "plot_penalties.py": l1_switches_inputs_off,
    "plot_dropout.py": dropout_closes_the_gap,
    "plot_ensembles.py": jackknife_covers_its_target,
    "plot_noise.py": every_noise_lowers_the_test_log_loss,
    "plot_uncertainty.py": uncertainty_follows_the_noise,
    "quickstart.py": l1_has_exact_zeros,
}


def test_every_point_names_an_example():
    assert set(POINTS) <= {script.name for script in EXAMPLES}


@pytest.mark.parametrize("name", sorted(POINTS))
def test_fast_mode_shows_its_point(name, example_runs):
    process, stdout, stderr, _ = example_runs[name]
    assert process.returncode == 0, f"{name} exited with {process.returncode}:\n{stderr[-3000:]}"
    POINTS[name](stdout)
