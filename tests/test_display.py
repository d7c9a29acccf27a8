"""TrainingCurveDisplay: what it draws, on single networks, ensembles and pipelines."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor, TrainingCurveDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    return StandardScaler().fit_transform(X), y


def _fit(data, **params):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        params = {"hidden_layer_sizes": (8,), "max_iter": 30, "random_state": 0, **params}
        return RegularizedMLPClassifier(**params).fit(X, y)


def test_a_single_network_without_validation_draws_its_loss_curve(data):
    model = _fit(data)
    display = TrainingCurveDisplay.from_estimator(model)
    assert list(display.lines_) == ["training"]
    x, y = display.lines_["training"].get_data()
    assert_array_equal(x, np.arange(1, model.n_iter_ + 1))
    assert_array_equal(y, model.loss_curve_)
    assert display.member_lines_ == [] and display.best_lines_ == []
    assert display.ax_.get_xlabel() == "epoch" and display.figure_ is display.ax_.figure


def test_early_stopping_draws_both_losses_and_marks_the_kept_epoch(data):
    model = _fit(data, early_stopping=True, n_iter_no_change=3, max_iter=200, learning_rate_init=0.05)
    assert model.n_iter_ < 200
    display = TrainingCurveDisplay.from_estimator(model)
    assert_array_equal(display.lines_["validation"].get_ydata(), model.validation_loss_curve_)
    (best,) = display.best_lines_
    assert best.get_xdata()[0] == model.best_iteration_
    assert f"best epoch {model.best_iteration_}" in [text.get_text() for text in display.ax_.get_legend().texts][-1]


def test_the_score_metric_draws_the_monitored_validation_score(data):
    model = _fit(data, early_stopping=True, scoring="accuracy", n_iter_no_change=3, max_iter=100)
    display = TrainingCurveDisplay.from_estimator(model, metric="score")
    assert list(display.lines_) == ["validation"]
    assert_array_equal(display.lines_["validation"].get_ydata(), model.validation_scores_)
    with pytest.raises(ValueError, match="needs validation scores"):
        TrainingCurveDisplay.from_estimator(_fit(data), metric="score")
    with pytest.raises(ValueError, match="metric must be one of"):
        TrainingCurveDisplay.from_estimator(model, metric="accuracy")


def test_an_ensemble_draws_its_members_under_its_mean(data):
    model = _fit(data, n_estimators=3, bootstrap=True, early_stopping=True, n_iter_no_change=3, max_iter=200,
                 learning_rate_init=0.05)
    display = TrainingCurveDisplay.from_estimator(model)
    # A training and a validation line per member, each as long as that member trained.
    assert len(display.member_lines_) == 6
    lengths = sorted(len(line.get_xdata()) for line in display.member_lines_)
    assert lengths == sorted(2 * [member.n_iter_ for member in model.estimators_])
    assert all(line.get_linewidth() < display.lines_["training"].get_linewidth() for line in display.member_lines_)
    (dots,) = display.best_lines_  # one dot per member, on its validation curve at its best epoch
    assert_array_equal(dots.get_xdata(), model.best_iteration_)
    assert_array_equal(dots.get_ydata(), [member.validation_loss_curve_[member.best_iteration_ - 1]
                                          for member in model.estimators_])
    alone = TrainingCurveDisplay.from_estimator(model, members=False)
    assert alone.member_lines_ == []
    assert {line.get_xdata()[0] for line in alone.best_lines_} == set(model.best_iteration_.tolist())


def test_a_fitted_pipeline_is_drawn_through_its_last_step(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(StandardScaler(), RegularizedMLPRegressor(hidden_layer_sizes=(4,), max_iter=5)).fit(X, y)
    _, ax = plt.subplots()
    display = TrainingCurveDisplay.from_estimator(pipe, ax=ax, log_scale=True)
    assert display.ax_ is ax and ax.get_yscale() == "log"
    assert_array_equal(display.lines_["training"].get_ydata(), pipe[-1].loss_curve_)


def test_an_unfitted_network_is_refused():
    with pytest.raises(NotFittedError):
        TrainingCurveDisplay.from_estimator(RegularizedMLPClassifier())


def test_importing_skreg_does_not_import_matplotlib():
    code = "import sys, skreg; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_two_displays_on_one_axes_keep_apart_by_name(data):
    _, ax = plt.subplots()
    ax.set_title("mine")
    for label, rate in (("no dropout", 0.0), ("dropout 0.5", 0.5)):
        TrainingCurveDisplay.from_estimator(_fit(data, dropout=rate), ax=ax, name=label)
    labels = [text.get_text() for text in ax.get_legend().texts]
    assert labels == ["no dropout: training loss", "dropout 0.5: training loss"]
    assert ax.get_title() == "mine"


def test_a_member_never_scored_gets_no_mark(data):
    """best_iteration_ 0 (no finite validation score in any epoch) marks nothing, rather than the last epoch."""
    model = _fit(data, n_estimators=2, bootstrap=True, early_stopping=True, n_iter_no_change=3, max_iter=50)
    model.best_iteration_ = np.array([0, model.best_iteration_[1]])
    (dots,) = TrainingCurveDisplay.from_estimator(model).best_lines_
    assert_array_equal(dots.get_xdata(), [model.best_iteration_[1]])
    single = _fit(data, early_stopping=True, n_iter_no_change=3, max_iter=50)
    single.best_iteration_ = 0
    assert TrainingCurveDisplay.from_estimator(single).best_lines_ == []


@pytest.fixture(scope="module")
def fitted_search():
    from skreg import RegularizedMLPClassifierCV

    X, y = load_iris(return_X_y=True)
    search = RegularizedMLPClassifierCV(hidden_layer_sizes=(4,), alphas=[10.0, 0.1, 1.0], dropouts=[0.0, [0.3]],
                                        cv=2, max_iter=5, learning_rate_init=0.01, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make_pipeline(StandardScaler(), search).fit(X, y)


def test_regularization_path_draws_the_cv_results(fitted_search):
    from skreg import RegularizationPathDisplay

    search = fitted_search[-1]
    display = RegularizationPathDisplay.from_estimator(fitted_search)  # a Pipeline's last step
    assert [line.get_label() for line in display.lines_] == ["dropout 0", "dropout (0.3)"]
    results = search.cv_results_
    for line, dropout in zip(display.lines_, (0.0, [0.3]), strict=True):
        expected = {params["alpha"]: score for params, score in zip(results["params"], results["mean_test_score"],
                                                                     strict=True) if params["dropout"] == dropout}
        assert_array_equal(line.get_xdata(), sorted(expected))  # alphas ascending, whatever the grid's order
        assert_array_equal(line.get_ydata(), [expected[alpha] for alpha in sorted(expected)])
    assert display.best_marker_.get_xdata()[0] == search.alpha_
    assert display.best_marker_.get_ydata()[0] == search.best_score_
    assert len(display.bands_) == 2 and display.ax_.get_xscale() == "log"
    assert display.figure_ is display.ax_.figure


def test_regularization_path_on_a_given_axes_and_unfitted(fitted_search):
    import matplotlib.pyplot as plt

    from skreg import RegularizationPathDisplay, RegularizedMLPClassifierCV

    _, ax = plt.subplots()
    display = RegularizationPathDisplay.from_estimator(fitted_search, ax=ax, log_scale=False)
    assert display.ax_ is ax and ax.get_xscale() == "linear"
    with pytest.raises(NotFittedError):
        RegularizationPathDisplay.from_estimator(RegularizedMLPClassifierCV())
    plt.close("all")
