"""Behaviour a user switching from scikit-learn's MLP relies on: its errors, its messages, its counters.

Each test pins one place where skreg once differed from ``MLPClassifier``/``MLPRegressor`` in a way that
scripts notice (a fit that returned where scikit-learn raises, a message that scripts match, ``n_iter_``).
"""

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor

ESTIMATORS = [RegularizedMLPClassifier, RegularizedMLPRegressor]
SMALL = {"hidden_layer_sizes": (5,), "max_iter": 5, "random_state": 0}


@pytest.fixture(autouse=True)
def single_blas_thread():
    """Tiny problems: BLAS threads cost more than they give."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def _weights(estimator) -> list:
    return [*estimator.coefs_, *estimator.intercepts_]


# --------------------------------------------------------------------------
# Calls scikit-learn refuses
# --------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ESTIMATORS)
def test_partial_fit_refuses_early_stopping(cls, iris):
    X, y = iris
    model = cls(**SMALL, early_stopping=True)
    with pytest.raises(ValueError, match=r"^partial_fit does not support early_stopping=True"):
        model.partial_fit(X, y, **({"classes": np.unique(y)} if cls is RegularizedMLPClassifier else {}))
    assert not hasattr(model, "coefs_")
    # After a fit, too (the fit itself is fine), and the fitted model is left as it was.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    before = [W.copy() for W in _weights(model)]
    with pytest.raises(ValueError, match=r"^partial_fit does not support early_stopping=True"):
        model.partial_fit(X, y)
    for W, W_before in zip(_weights(model), before, strict=True):
        np.testing.assert_array_equal(W, W_before)


@pytest.mark.parametrize("other_classes", [[0, 1], [0, 1, 3], [0, 1, 2, 3]], ids=["fewer", "other", "more"])
def test_warm_start_refuses_other_classes(iris, other_classes):
    X, y = iris
    model = RegularizedMLPClassifier(**SMALL, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        model.fit(X, y[::-1])  # the same classes, in another order of rows: fine
    before = [W.copy() for W in _weights(model)]
    y_other = np.resize(np.asarray(other_classes), len(y))
    expected = ("warm_start can only be used where `y` has the same classes as in the previous call to fit. "
                f"Previously got [0 1 2], `y` has {np.unique(y_other)}")
    with pytest.raises(ValueError, match="^" + re.escape(expected)):
        model.fit(X, y_other)
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    for W, W_before in zip(_weights(model), before, strict=True):
        np.testing.assert_array_equal(W, W_before)


def test_partial_fit_still_accepts_a_subset_of_the_classes(iris):
    X, y = iris
    model = RegularizedMLPClassifier(**SMALL).partial_fit(X, y, classes=[0, 1, 2])
    model.partial_fit(X[y < 2], y[y < 2])
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])


NON_FINITE = "^Solver produced non-finite parameter weights. The input data may contain large values"


@pytest.fixture(scope="module")
def near_float_max():
    """Inputs so close to the float range that no weights give a finite squared error."""
    rng = np.random.RandomState(0)
    return np.finfo(np.float64).max * rng.uniform(size=(10, 2)), rng.standard_normal(10)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_a_fit_without_a_finite_objective_raises(near_float_max, solver):
    X, y = near_float_max
    model = RegularizedMLPRegressor(solver=solver, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # divergence and convergence warnings on the way
        with pytest.raises(ValueError, match=NON_FINITE + r".*scale the inputs"):
            model.fit(X, y)
    assert not hasattr(model, "coefs_") and not hasattr(model, "loss_")


@pytest.mark.parametrize("warm_start", [False, True])
def test_a_failed_refit_leaves_the_fitted_model_as_it_was(near_float_max, warm_start):
    X_huge, y = near_float_max
    X = np.random.default_rng(0).standard_normal(X_huge.shape)
    model = RegularizedMLPRegressor(**SMALL, warm_start=warm_start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    before = ([W.copy() for W in _weights(model)], model.loss_, list(model.loss_curve_), model.n_iter_, model.t_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=NON_FINITE):
            model.fit(X_huge, y)
    for W, W_before in zip(_weights(model), before[0], strict=True):
        np.testing.assert_array_equal(W, W_before)
    assert (model.loss_, model.loss_curve_, model.n_iter_, model.t_) == before[1:]
    assert np.isfinite(model.predict(X)).all()


def test_stratified_split_refuses_a_class_with_one_member():
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = np.array(["a"] * 10 + ["b"] * 9 + ["c"])
    model = RegularizedMLPClassifier(**SMALL, early_stopping=True, validation_fraction=0.2)
    with pytest.raises(ValueError, match=r"^The least populated classes in y have only 1 member.*\['c'\].*X_val"):
        model.fit(X, y)
    assert not hasattr(model, "coefs_")


def test_stratified_split_refuses_fewer_validation_rows_than_classes():
    X = np.arange(80, dtype=float).reshape(40, 2)
    y = np.repeat(np.arange(8), 5)
    model = RegularizedMLPClassifier(**SMALL, early_stopping=True, validation_fraction=0.1)  # 4 rows, 8 classes
    with pytest.raises(ValueError, match=r"4 validation .* 8 classes.*Raise validation_fraction"):
        model.fit(X, y)
    # An explicit validation set needs no split.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y, X_val=X, y_val=y)
    assert model.best_iteration_ >= 1


# --------------------------------------------------------------------------
# Divergence under early stopping
# --------------------------------------------------------------------------

# Plain SGD at rate 1 on unscaled iris: the loss grows by tens of orders of magnitude an epoch, then overflows.
DIVERGING = {"hidden_layer_sizes": (100,), "activation": "identity", "solver": "sgd", "learning_rate_init": 1.0,
             "max_iter": 20, "early_stopping": True, "scoring": "r2", "random_state": 0}


@pytest.mark.parametrize("n_estimators", [1, 3])
def test_early_stopping_restores_the_best_epoch_of_a_diverged_network(n_estimators):
    X, y = load_iris(return_X_y=True)
    model = RegularizedMLPRegressor(**DIVERGING, n_estimators=n_estimators)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        model.fit(X, y)
    best = np.atleast_1d(model.best_iteration_)
    assert (best == 1).all()  # the first epoch was the best before the scores ran away
    # The weights kept are those of the best epoch: a fit stopped there has exactly them ...
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        stopped_there = RegularizedMLPRegressor(**{**DIVERGING, "max_iter": 1}, n_estimators=n_estimators).fit(X, y)
    for W, W_best in zip(_weights(model), _weights(stopped_there), strict=True):
        np.testing.assert_array_equal(W, W_best)
    # ... and best_validation_score_ describes them.
    members = model.estimators_ if n_estimators > 1 else [model]
    for member, epoch in zip(members, best, strict=True):
        assert member.best_validation_score_ == member.validation_scores_[epoch - 1]
    assert max(np.abs(W).max() for W in model.coefs_) < 100
    assert np.isfinite(model.loss_) and np.isfinite(model.predict(X)).all()


# --------------------------------------------------------------------------
# Fits that must not warn
# --------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("validation", ["split", "X_val"])
@pytest.mark.parametrize("n_estimators", [1, 2])
def test_scoring_with_a_dataframe_does_not_warn_about_feature_names(cls, validation, n_estimators):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((60, 2)), columns=["first", "second"])
    y = (X["first"] > 0).astype(int)
    scoring = "accuracy" if cls is RegularizedMLPClassifier else "r2"
    model = cls(**SMALL, scoring=scoring, n_estimators=n_estimators, early_stopping=validation == "split",
                n_iter_no_change=50)
    fit_params = {"X_val": X[40:], "y_val": y[40:]} if validation == "X_val" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("error", message=".*feature names")
        model.fit(X[:40] if fit_params else X, y[:40] if fit_params else y, **fit_params)
        # The members users see keep their names, and predict from a DataFrame without a warning.
        for member in getattr(model, "estimators_", []):
            np.testing.assert_array_equal(member.feature_names_in_, ["first", "second"])
            member.predict(X)
    assert len(model.validation_scores_) == SMALL["max_iter"]
    np.testing.assert_array_equal(model.feature_names_in_, ["first", "second"])


# --------------------------------------------------------------------------
# Messages and output that scripts read
# --------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ESTIMATORS)
def test_too_small_validation_split_message_starts_as_in_sklearn(cls):
    X = np.arange(10, dtype=float).reshape(5, 2)
    y = np.array([0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match=r"^The validation set is too small: the split has 1 row"):
        cls(**SMALL, early_stopping=True, validation_fraction=0.1).fit(X, y)


# Formatted as scikit-learn's "Iteration %d, loss = %.8f"; skreg's extra fields may follow.
SKLEARN_VERBOSE_LINE = r"Iteration (\d+), loss = (\d+\.\d{8})(?:,|$)"


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_verbose_lines_start_as_in_sklearn(cls, iris, capsys):
    X, y = iris
    model = cls(**{**SMALL, "max_iter": 3}, n_iter_no_change=50, verbose=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    matches = [re.match(SKLEARN_VERBOSE_LINE, line) for line in lines]
    assert all(matches), lines
    assert [int(match.group(1)) for match in matches] == [1, 2, 3]
    np.testing.assert_allclose([float(match.group(2)) for match in matches], model.loss_curve_, rtol=1e-6)
    model.partial_fit(X, y)
    assert re.match(SKLEARN_VERBOSE_LINE, capsys.readouterr().out)


def test_verbose_lines_of_groups_of_members_hold_sklearns_line(iris, capsys):
    X, y = iris
    with threadpool_limits(limits=2):  # two groups side by side, reporting as one fit
        RegularizedMLPRegressor(**{**SMALL, "max_iter": 2}, n_estimators=3, verbose=True).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2  # one per epoch
    for line in lines:
        assert re.match(SKLEARN_VERBOSE_LINE, line), line


def test_verbose_lines_number_the_epochs_of_this_call(iris, capsys):
    X, y = iris
    model = RegularizedMLPRegressor(**{**SMALL, "max_iter": 2}, n_iter_no_change=50, warm_start=True, verbose=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        model.fit(X, y)
    model.partial_fit(X, y)
    numbers = [int(match.group(1)) for match in re.finditer(SKLEARN_VERBOSE_LINE, capsys.readouterr().out, re.M)]
    assert numbers == [1, 2, 1, 2, 1]  # as scikit-learn prints n_iter_


# --------------------------------------------------------------------------
# n_iter_ counts the last call, as in scikit-learn; the curves keep every call
# --------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_n_iter_counts_the_epochs_of_the_last_fit(cls, solver, iris):
    X, y = iris
    model = cls(**{**SMALL, "max_iter": 4}, solver=solver, n_iter_no_change=np.inf, tol=0.0, warm_start=True)
    model.fit(X, y)
    assert model.n_iter_ == 4
    model.set_params(max_iter=6).fit(X, y)
    assert model.n_iter_ == 6
    assert len(model.loss_curve_) == 10


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_n_iter_of_partial_fit_is_one_epoch(cls, iris):
    X, y = iris
    model = cls(**SMALL)
    extra = {"classes": np.unique(y)} if cls is RegularizedMLPClassifier else {}
    for call in range(1, 4):
        model.partial_fit(X, y, **extra)
        assert model.n_iter_ == 1
        assert model.t_ == call * len(y) and len(model.loss_curve_) == call


def test_best_iteration_numbers_the_loss_curve_over_warm_starts(iris):
    X, y = iris
    params = {**SMALL, "max_iter": 6, "early_stopping": True, "n_iter_no_change": 50, "learning_rate_init": 0.05}
    model = RegularizedMLPClassifier(**params, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        model.fit(X, y)
    assert model.n_iter_ == 6 and len(model.loss_curve_) == len(model.validation_scores_) == 12
    assert model.best_iteration_ > model.n_iter_  # the best epoch came in the second call
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.validation_scores_[model.best_iteration_ - 1] == model.best_validation_score_


def test_ensemble_members_count_their_own_epochs_of_the_last_fit(iris):
    X, y = iris
    params = {**SMALL, "max_iter": 60, "early_stopping": True, "n_iter_no_change": 3, "tol": 1e-3,
              "learning_rate_init": 0.05}
    model = RegularizedMLPClassifier(**params, n_estimators=3, bootstrap=True, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        first = [len(member.loss_curve_) for member in model.estimators_]
        model.set_params(max_iter=30).fit(X, y)
    epochs = [member.n_iter_ for member in model.estimators_]
    assert model.n_iter_ == max(epochs) <= 30
    assert len(set(first)) > 1, "members should stop at different epochs"
    for member, before, n_iter in zip(model.estimators_, first, epochs, strict=True):
        assert len(member.loss_curve_) == before + n_iter
        assert 1 <= member.best_iteration_ <= len(member.loss_curve_)
        assert member.best_validation_score_ == member.validation_scores_[member.best_iteration_ - 1]
