"""The verbose progress report: one report per fit, in epoch order, whatever order its groups report in."""

import io

import numpy as np

from skreg._train.progress import ProgressReport


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _report(stream, n_members=4, max_epochs=10, **kwargs):
    clock = FakeClock()
    report = ProgressReport(n_members, max_epochs, stream=stream, clock=clock, **kwargs)
    return report, clock


def test_log_lines_wait_for_every_group_and_come_in_epoch_order():
    stream = io.StringIO()
    report, clock = _report(stream)
    report.join("a")
    report.join("b")
    both = np.ones(2, dtype=bool)
    report.epoch("b", 1, np.array([3.0, 5.0]), both, training_after=2)
    report.epoch("b", 2, np.array([2.0, 4.0]), both, training_after=2)
    assert stream.getvalue() == ""  # group "a" has not finished epoch 1
    clock.now = 102.5
    report.epoch("a", 1, np.array([1.0, 3.0]), both, training_after=1)
    lines = stream.getvalue().splitlines()
    assert lines == ["Iteration 1, loss = 3.00000000, members training = 3/4, elapsed = 2.50 s"]
    report.epoch("a", 2, np.array([1.0, np.nan]), np.array([True, False]), training_after=0)
    report.finish("a")
    report.epoch("b", 3, np.array([1.0, 2.0]), both, training_after=0)  # "a" finished: "b" alone is enough
    report.finish("b")
    lines = stream.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["Iteration 1", "Iteration 2", "Iteration 3"]
    assert lines[1].startswith("Iteration 2, loss = 2.33333333, members training = 2/4")  # (2 + 4 + 1) / 3
    assert lines[2].startswith("Iteration 3, loss = 1.50000000, members training = 0/4")


def test_validation_values_in_log_lines_and_one_net_without_member_count():
    stream = io.StringIO()
    report, _ = _report(stream, n_members=1)
    report.join(0)
    report.epoch(0, 1, np.array([0.5]), np.array([True]), np.array([0.7]), np.array([-0.7]), training_after=1)
    assert stream.getvalue() == ("Iteration 1, loss = 0.50000000, validation loss = 0.70000000, "
                                 "validation score = -0.700000, elapsed = 0.00 s\n")


def test_terminal_line_is_rewritten_in_place_with_best_score_and_time_left():
    stream = Terminal()
    report, clock = _report(stream, n_members=2, max_epochs=5)
    report.join(0)
    clock.now = 110.0
    report.epoch(0, 1, np.array([1.0, 1.0]), np.ones(2, bool), np.array([2.0, 2.0]), np.array([0.2, 0.4]),
                 training_after=2)
    clock.now = 120.0
    report.epoch(0, 2, np.array([1.0, 1.0]), np.ones(2, bool), np.array([2.0, 2.0]), np.array([0.1, 0.1]),
                 training_after=1)
    report.finish(0)
    text = stream.getvalue()
    assert "\n" not in text[:-1] and text.endswith("\n")  # one line, rewritten, ended once
    last = text.rstrip("\n").split("\r")[-1].rstrip()
    assert last == ("epoch 2/5, 1/2 members training, best validation score 0.300000, elapsed 20 s, "
                    "at most 30 s left")
    assert text.count("\r") == 2


def test_a_label_names_a_chunk_of_members():
    stream = io.StringIO()
    report, _ = _report(stream, n_members=3, label="members 3-5")
    report.join(0)
    report.epoch(0, 1, np.ones(3), np.ones(3, bool), training_after=3)
    assert stream.getvalue().startswith("[members 3-5] Iteration 1, loss = 1.00000000")


def _regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    return X, X[:, 0] - X[:, 1]


def test_an_ensemble_trained_in_groups_reports_as_one_fit(capsys):
    """Groups side by side (2 on this machine's 2 cores, 1 on one) print one line per epoch, in order, unlabelled."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from skreg import RegularizedMLPRegressor

    X, y = _regression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        RegularizedMLPRegressor(hidden_layer_sizes=(8,), max_iter=6, n_estimators=6, verbose=True,
                                random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == [f"Iteration {k}" for k in range(1, 7)]
    assert all("members training = 6/6" in line for line in lines)


def test_a_terminal_sees_one_line_rewritten_in_place(monkeypatch):
    import sys
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from skreg import RegularizedMLPRegressor

    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    X, y = _regression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        RegularizedMLPRegressor(hidden_layer_sizes=(8,), max_iter=4, n_estimators=3, verbose=True,
                                random_state=0).fit(X, y)
    text = terminal.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n") and text.count("\r") == 4
    assert text.rstrip().split("\r")[-1].startswith("epoch 4/4, 3/3 members training, best loss ")
