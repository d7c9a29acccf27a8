"""Ensembles: members, bootstrap rows, out-of-bag estimates, spreads and intervals, parallel fits, meta-estimators."""

import concurrent.futures
import contextlib
import math
import os
import re
import signal
import threading
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import BaggingClassifier, BaggingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

import skreg._estimators.plan
import skreg._train.history
from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor
from skreg._train import events
from skreg._train.parallel import side_by_side_groups

ESTIMATORS = [RegularizedMLPClassifier, RegularizedMLPRegressor]
SMALL = {"hidden_layer_sizes": (8,), "learning_rate_init": 0.01, "batch_size": 16, "max_iter": 30, "random_state": 0}

# Settings under which member 0 of an ensemble must be the single network fitted with the same seed.
MEMBER_CONFIGS = {
    "adam": {},
    "sgd": {"solver": "sgd", "learning_rate_init": 0.05, "n_iter_no_change": 3, "max_iter": 60, "tol": None},
    "lbfgs": {"solver": "lbfgs"},
    "dropout": {"dropout": 0.3},
    "bootstrap": {"bootstrap": True},
    "sgd-bootstrap": {"solver": "sgd", "learning_rate_init": 0.05, "bootstrap": True, "n_iter_no_change": 3,
                      "max_iter": 60, "tol": None},
    "early-stopping": {"early_stopping": True, "n_iter_no_change": 3, "max_iter": 100, "learning_rate_init": 0.05},
    "bootstrap-early-stopping": {"bootstrap": True, "early_stopping": True, "n_iter_no_change": 3, "max_iter": 100,
                                 "learning_rate_init": 0.05},
}


def _member_params(cls, config):
    """``SMALL`` with a member configuration; ``tol=None`` picks one that stops members at different epochs."""
    params = {**SMALL, **MEMBER_CONFIGS[config]}
    if params.get("tol", 0) is None:
        params["tol"] = 1e-2 if cls is RegularizedMLPClassifier else 1e-3
    return params


@pytest.fixture(autouse=True)
def single_blas_thread():
    """On these tiny problems BLAS threads cost more than they give."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(autouse=True)
def quiet_convergence():
    """Short fits that hit max_iter are intended here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (60, 3))
    y = X[:, 0] + 0.5 * np.sin(3 * X[:, 1]) + rng.normal(0, 0.5, 60)
    return X, y


@pytest.fixture(scope="module")
def classification():
    X, y = make_classification(n_samples=60, n_features=4, n_informative=3, n_redundant=0, n_classes=3,
                               flip_y=0.1, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture
def problem(request, regression, classification):
    """``(X, y)`` for the estimator class the test is parametrized with."""
    return classification if request.getfixturevalue("cls") is RegularizedMLPClassifier else regression


@pytest.fixture(scope="module")
def noisy_sine():
    """y = sin(3x) + N(0, 0.3^2), x ~ U(-1, 1): 200 training rows and 2000 new observations."""
    rng = np.random.default_rng(0)

    def draw(n):
        x = rng.uniform(-1, 1, n)
        return x[:, None], np.sin(3 * x) + rng.normal(0, 0.3, n)

    return draw(200), draw(2000)


def _output(model, X):
    """What an ensemble averages: probabilities (classifiers) or predictions (regressors)."""
    return model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)


def _weights(model):
    return model.coefs_ + model.intercepts_


def _out_of_bag_mask(model, n_rows):
    """``mask[k, i]``: row ``i`` is not among the rows member ``k`` trained on."""
    mask = np.ones((len(model.estimators_samples_), n_rows), dtype=bool)
    for k, rows in enumerate(model.estimators_samples_):
        mask[k, rows] = False
    return mask


def _validation_loss(model, X, y):
    """Mean loss (no penalty) from the model's predictions."""
    if isinstance(model, RegularizedMLPRegressor):
        return np.mean(0.5 * (y - model.predict(X)) ** 2)
    proba = model.predict_proba(X)
    return np.mean(-np.log(proba[np.arange(len(y)), np.searchsorted(model.classes_, y)]))


# --------------------------------------------------------------------------
# Members
# --------------------------------------------------------------------------

@pytest.mark.parametrize("bootstrap", [False, True])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_members_differ(cls, bootstrap, problem):
    X, y = problem
    model = cls(**SMALL, n_estimators=3, bootstrap=bootstrap).fit(X, y)
    assert len(model.estimators_) == 3
    assert model.coefs_[0].shape[0] == 3
    for a in range(3):
        for b in range(a + 1, 3):
            assert not np.array_equal(model.estimators_[a].coefs_[0], model.estimators_[b].coefs_[0])
            assert not np.allclose(_output(model.estimators_[a], X), _output(model.estimators_[b], X))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_one_member_is_a_plain_network(cls, problem):
    X, y = problem
    model = cls(**SMALL, n_estimators=1).fit(X, y)
    plain = cls(**SMALL).fit(X, y)
    assert [W.shape for W in model.coefs_] == [(X.shape[1], 8), (8, plain.n_outputs_)]
    for left, right, member in zip(_weights(model), _weights(plain), _weights(model.estimators_[0]), strict=True):
        assert_array_equal(left, right)
        assert_array_equal(member, right)
    assert_array_equal(_output(model.estimators_[0], X), _output(model, X))


@pytest.mark.parametrize("config", MEMBER_CONFIGS)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_member_zero_is_the_single_network_with_the_same_seed(cls, config, problem):
    X, y = problem
    params = _member_params(cls, config)
    ensemble = cls(**params, n_estimators=3).fit(X, y)
    single = cls(**params, n_estimators=1).fit(X, y)
    member = ensemble.estimators_[0]
    if "n_iter_no_change" in params and not params.get("early_stopping"):
        # Member 0 stops while another member trains on: it must stay as it was when it stopped.
        assert member.n_iter_ < max(other.n_iter_ for other in ensemble.estimators_)
    for left, right in zip(_weights(member), _weights(single), strict=True):
        assert_array_equal(left, right)
    assert member.n_iter_ == single.n_iter_
    if params.get("early_stopping"):
        assert member.best_iteration_ == single.best_iteration_
        assert member.best_validation_score_ == single.best_validation_score_
    # Member k does not depend on how many members train beside it.
    pair = cls(**params, n_estimators=2).fit(X, y)
    for left, right in zip(_weights(pair), _weights(ensemble), strict=True):
        assert_array_equal(left, right[:2])


@pytest.mark.parametrize("config", ["sgd", "bootstrap-early-stopping"])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_member_history_is_its_own(cls, config, problem):
    """A member's curves cover its own epochs, like those of the single network it equals."""
    X, y = problem
    params = _member_params(cls, config)
    ensemble = cls(**params, n_estimators=3).fit(X, y)
    assert len({member.n_iter_ for member in ensemble.estimators_}) > 1, "members should stop at different epochs"
    for member in ensemble.estimators_:
        assert len(member.loss_curve_) == member.n_iter_
    single = cls(**params, n_estimators=1).fit(X, y)
    assert_array_equal(ensemble.estimators_[0].loss_curve_, single.loss_curve_)
    if params.get("early_stopping"):
        assert_array_equal(ensemble.estimators_[0].validation_loss_curve_, single.validation_loss_curve_)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_ensemble_prediction_is_the_mean_of_its_members(cls, problem):
    X, y = problem
    model = cls(**SMALL, n_estimators=4, bootstrap=True).fit(X, y)
    members = np.stack([_output(member, X) for member in model.estimators_])
    assert_allclose(_output(model, X), members.mean(axis=0), rtol=1e-12, atol=1e-15)
    if cls is RegularizedMLPClassifier:
        assert_array_equal(model.predict(X), model.classes_[np.argmax(members.mean(axis=0), axis=1)])


@pytest.mark.parametrize(
    ("settings", "n_rows"),
    [({}, 60), ({"bootstrap": True}, 60), ({"bootstrap": True, "max_samples": 0.5}, 30),
     ({"bootstrap": True, "max_samples": 25}, 25), ({"early_stopping": True, "validation_fraction": 0.2}, 48)],
    ids=["all-rows", "bootstrap", "max-samples-share", "max-samples-count", "validation-split"],
)
def test_estimators_samples(settings, n_rows, regression):
    X, y = regression
    model = RegularizedMLPRegressor(**{**SMALL, "max_iter": 2}, n_estimators=4, **settings).fit(X, y)
    samples = model.estimators_samples_
    assert len(samples) == 4
    for rows in samples:
        assert rows.shape == (n_rows,)
        assert rows.min() >= 0 and rows.max() < len(y)
    if not settings.get("bootstrap"):
        for rows in samples:
            assert_array_equal(rows, samples[0])
            assert len(np.unique(rows)) == n_rows
        if not settings:
            assert_array_equal(samples[0], np.arange(len(y)))
        return
    for rows in samples:
        assert len(np.unique(rows)) < n_rows, "a bootstrap draw repeats rows"
    assert not np.array_equal(samples[0], samples[1])


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_bootstrap_members_early_stop_on_their_own_out_of_bag_rows(cls, problem):
    X, y = problem
    params = {"hidden_layer_sizes": (32, 32), "alpha": 0.0, "learning_rate_init": 0.02, "batch_size": 16,
              "max_iter": 300, "early_stopping": True, "n_iter_no_change": 5, "tol": 0.0, "random_state": 0}
    model = cls(**params, n_estimators=4, bootstrap=True).fit(X, y)
    out_of_bag = _out_of_bag_mask(model, len(y))

    best = [member.best_iteration_ for member in model.estimators_]
    assert_array_equal(model.best_iteration_, best)
    assert len(set(best)) > 1, "each member should stop on its own"
    for k, member in enumerate(model.estimators_):
        rows = out_of_bag[k]
        assert member.n_iter_ < params["max_iter"]
        scores = member.validation_scores_[: member.n_iter_]
        assert member.best_iteration_ == int(np.argmax(scores)) + 1
        assert member.best_validation_score_ == max(scores)
        # The kept weights are the best epoch's, and their recorded loss is on the out-of-bag rows only.
        oob_loss = _validation_loss(member, X[rows], y[rows])
        assert_allclose(oob_loss, -member.best_validation_score_, rtol=1e-10)
        assert_allclose(oob_loss, member.validation_loss_curve_[member.best_iteration_ - 1], rtol=1e-10)
        assert not np.isclose(oob_loss, _validation_loss(member, X, y), rtol=1e-6)
        assert not np.isclose(oob_loss, _validation_loss(member, X[~rows], y[~rows]), rtol=1e-6)


# --------------------------------------------------------------------------
# Out-of-bag estimates
# --------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:.*out-of-bag:UserWarning")
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_out_of_bag_prediction_and_score_of_the_regressor(n_outputs, regression):
    X, y = regression
    if n_outputs == 2:
        y = np.column_stack([y, X[:, 2] - y])
    model = RegularizedMLPRegressor(**SMALL, n_estimators=8, bootstrap=True, oob_score=True).fit(X, y)
    out_of_bag = _out_of_bag_mask(model, len(y))
    members = np.stack([member.predict(X).reshape(len(y), -1) for member in model.estimators_])
    n_out = out_of_bag.sum(axis=0)
    with np.errstate(invalid="ignore"):
        expected = np.einsum("kn,knj->nj", out_of_bag, members) / n_out[:, None]
    seen = n_out > 0
    assert seen.mean() > 0.9
    assert model.oob_prediction_.shape == y.shape
    assert_allclose(model.oob_prediction_.reshape(len(y), -1), expected, rtol=1e-10, equal_nan=True)
    assert np.all(np.isnan(model.oob_prediction_[~seen]))
    assert_allclose(model.oob_score_, r2_score(y[seen], expected[seen].reshape(y[seen].shape)), rtol=1e-10)


@pytest.mark.filterwarnings("ignore:.*out-of-bag:UserWarning")
@pytest.mark.parametrize("n_classes", [2, 3])
def test_out_of_bag_decision_function_and_score_of_the_classifier(n_classes, classification):
    X, y = classification
    y = np.minimum(y, n_classes - 1)
    model = RegularizedMLPClassifier(**SMALL, n_estimators=8, bootstrap=True, oob_score=True).fit(X, y)
    out_of_bag = _out_of_bag_mask(model, len(y))
    members = np.stack([member.predict_proba(X) for member in model.estimators_])
    n_out = out_of_bag.sum(axis=0)
    with np.errstate(invalid="ignore"):
        expected = np.einsum("kn,knj->nj", out_of_bag, members) / n_out[:, None]
    seen = n_out > 0
    assert model.oob_decision_function_.shape == (len(y), n_classes)
    assert_allclose(model.oob_decision_function_, expected, rtol=1e-10, equal_nan=True)
    predicted = model.classes_[np.argmax(expected[seen], axis=1)]
    assert_allclose(model.oob_score_, np.mean(predicted == y[seen]), rtol=1e-12)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_out_of_bag_score_needs_bootstrap(cls, problem):
    X, y = problem
    with pytest.raises(ValueError, match="bootstrap"):
        cls(**SMALL, n_estimators=3, oob_score=True).fit(X, y)


# --------------------------------------------------------------------------
# Spread and intervals
# --------------------------------------------------------------------------

@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("n_estimators", [1, 4])
def test_predict_return_std_is_the_spread_of_the_members(n_estimators, n_outputs, regression):
    X, y = regression
    if n_outputs == 2:
        y = np.column_stack([y, -y])
    model = RegularizedMLPRegressor(**SMALL, n_estimators=n_estimators, bootstrap=n_estimators > 1).fit(X, y)
    mean, std = model.predict(X, return_std=True)
    members = np.stack([member.predict(X) for member in model.estimators_])
    assert mean.shape == std.shape == y.shape
    assert_allclose(mean, members.mean(axis=0), rtol=1e-12, atol=1e-15)
    assert_allclose(std, members.std(axis=0), rtol=1e-10, atol=1e-15)
    assert_array_equal(mean, model.predict(X))
    if n_estimators == 1:
        assert_array_equal(std, np.zeros_like(std))
    else:
        assert np.all(std > 0)


def test_intervals_cover_new_observations_and_widen_away_from_the_data(noisy_sine):
    (x, y), (x_new, y_new) = noisy_sine
    model = RegularizedMLPRegressor(hidden_layer_sizes=(32, 32), activation="tanh", learning_rate_init=0.01,
                                    batch_size=32, max_iter=200, n_estimators=20, bootstrap=True, random_state=0)
    model.fit(x, y)
    truth = np.sin(3 * x_new[:, 0])

    jackknife = model.predict_interval(x_new, confidence_level=0.9)
    percentile = model.predict_interval(x_new, confidence_level=0.9, method="percentile")

    def coverage(interval, target):
        return float(np.mean((interval[:, 0] <= target) & (target <= interval[:, 1])))

    jackknife_y, percentile_y, percentile_f = coverage(jackknife, y_new), coverage(percentile, y_new), coverage(
        percentile, truth)
    print(f"\ncoverage at confidence_level=0.9 over {len(y_new)} new points: jackknife+ab of y = {jackknife_y:.4f}, "
          f"percentile of y = {percentile_y:.4f}, percentile of f(x) = {percentile_f:.4f}")
    assert 0.85 <= jackknife_y <= 0.95
    # The percentile band is a band for f(x): it covers far fewer new observations than the interval for y ...
    assert percentile_y < 0.6
    assert percentile_y < jackknife_y - 0.3
    # ... and covers f(x) far more often than it covers y.
    assert percentile_f > percentile_y + 0.3

    inside_outside = np.array([[0.0], [3.0]])
    _, std = model.predict(inside_outside, return_std=True)
    band_width = np.diff(model.predict_interval(inside_outside, method="percentile"), axis=1)[:, 0]
    interval_width = np.diff(model.predict_interval(inside_outside), axis=1)[:, 0]
    print(f"std at x=0, 3: {std}; percentile band width: {band_width}; jackknife+ab width: {interval_width}")
    assert std[1] > 2 * std[0]
    assert band_width[1] > 2 * band_width[0]
    assert interval_width[1] > interval_width[0]


def _jackknife_by_hand(model, X_train, y_train, X_new, level):
    """Jackknife+-after-bootstrap from the members and their rows (Kim, Xu & Barber, 2020)."""
    out_of_bag = _out_of_bag_mask(model, len(y_train)).astype(float)
    usable = out_of_bag.sum(axis=0) > 0
    out_of_bag = out_of_bag[:, usable] / out_of_bag[:, usable].sum(axis=0)
    train = np.stack([member.predict(X_train) for member in model.estimators_])[:, usable]
    new = np.stack([member.predict(X_new) for member in model.estimators_])
    residual = np.abs(y_train[usable] - np.sum(out_of_bag * train, axis=0))
    mu = new.T @ out_of_bag  # (n_new, n_usable): the leave-bag-out mean for each training row
    n = int(usable.sum())
    lower = np.sort(mu - residual, axis=1)[:, math.floor((1 - level) * (n + 1)) - 1]
    upper = np.sort(mu + residual, axis=1)[:, math.ceil(level * (n + 1)) - 1]
    return np.column_stack([lower, upper])


@pytest.mark.filterwarnings("ignore:.*out of bag:UserWarning")
@pytest.mark.parametrize("level", [0.8, 0.9])
def test_jackknife_plus_after_bootstrap_by_hand(level, regression):
    X, y = regression
    model = RegularizedMLPRegressor(**SMALL, n_estimators=6, bootstrap=True).fit(X, y)
    X_new = X[:10] + 0.1
    assert_allclose(model.predict_interval(X_new, confidence_level=level),
                    _jackknife_by_hand(model, X, y, X_new, level), rtol=1e-10)
    members = np.stack([member.predict(X_new) for member in model.estimators_])
    tail = 50 * (1 - level)
    expected = np.column_stack(np.percentile(members, [tail, 100 - tail], axis=0))
    assert_allclose(model.predict_interval(X_new, confidence_level=level, method="percentile"), expected,
                    rtol=1e-10)


@pytest.mark.filterwarnings("ignore:.*out of bag:UserWarning")
@pytest.mark.parametrize("method", ["jackknife+ab", "percentile"])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_interval_shapes_and_order(n_outputs, method, regression):
    X, y = regression
    if n_outputs == 2:
        y = np.column_stack([y, 2 * y])
    model = RegularizedMLPRegressor(**SMALL, n_estimators=5, bootstrap=True).fit(X, y)
    interval = model.predict_interval(X[:7], confidence_level=0.8, method=method)
    assert interval.shape == ((7, 2) if n_outputs == 1 else (7, 2, 2))
    assert np.all(interval[..., 0] <= interval[..., 1])
    assert np.all(np.isfinite(interval))
    wider = model.predict_interval(X[:7], confidence_level=0.95, method=method)
    assert np.all(wider[..., 0] <= interval[..., 0]) and np.all(wider[..., 1] >= interval[..., 1])


def test_interval_errors(regression):
    X, y = regression
    no_bootstrap = RegularizedMLPRegressor(**SMALL, n_estimators=3).fit(X, y)
    with pytest.raises(ValueError, match="bootstrap"):
        no_bootstrap.predict_interval(X, method="jackknife+ab")
    single = RegularizedMLPRegressor(**SMALL, n_estimators=1, bootstrap=True).fit(X, y)
    with pytest.raises(ValueError, match="n_estimators"):
        single.predict_interval(X, method="percentile")
    ensemble = RegularizedMLPRegressor(**SMALL, n_estimators=5, bootstrap=True).fit(X, y)
    with pytest.raises(ValueError, match="method"):
        ensemble.predict_interval(X, method="conformal")
    for level in [0.0, 1.0, 1.5, -0.2]:
        with pytest.raises(ValueError, match="confidence_level"):
            ensemble.predict_interval(X, confidence_level=level)
    # Below 0.5 jackknife+ab's bounds can cross (its guarantee, 2 * level - 1, is empty there).
    with pytest.raises(ValueError, match="confidence_level >= 0.5"):
        ensemble.predict_interval(X, confidence_level=0.3)
    band = ensemble.predict_interval(X, confidence_level=0.3, method="percentile")
    assert np.all(band[:, 0] <= band[:, 1])


def test_interval_warns_about_rows_never_out_of_bag(regression):
    X, y = regression
    model = RegularizedMLPRegressor(**SMALL, n_estimators=2, bootstrap=True).fit(X, y)
    in_every_bag = ~_out_of_bag_mask(model, len(y)).any(axis=0)
    assert in_every_bag.any()
    with pytest.warns(UserWarning, match=rf"{int(in_every_bag.sum())} training row"):
        interval = model.predict_interval(X[:5])
    assert np.all(np.isfinite(interval))


# --------------------------------------------------------------------------
# Parallel fits
# --------------------------------------------------------------------------

PARALLEL_CONFIGS = {
    "adam-bootstrap-early-stopping": {"n_estimators": 4, "bootstrap": True, "early_stopping": True,
                                      "n_iter_no_change": 3, "max_iter": 100, "oob_score": True},
    # Two members, one per worker: each stops on its own.
    "sgd": {"n_estimators": 2, "solver": "sgd", "learning_rate_init": 0.05, "n_iter_no_change": 3, "max_iter": 60},
}


@pytest.mark.filterwarnings("ignore:.*out-of-bag:UserWarning")
@pytest.mark.parametrize("config", PARALLEL_CONFIGS)
def test_n_jobs_does_not_change_the_fit(config, regression):
    X, y = regression
    params = {**SMALL, **PARALLEL_CONFIGS[config]}
    serial = RegularizedMLPRegressor(**params, n_jobs=1).fit(X, y)
    parallel = RegularizedMLPRegressor(**params, n_jobs=2).fit(X, y)
    for left, right in zip(_weights(serial), _weights(parallel), strict=True):
        assert_array_equal(left, right)
    assert [m.n_iter_ for m in serial.estimators_] == [m.n_iter_ for m in parallel.estimators_]
    if params.get("early_stopping"):
        assert_array_equal(serial.best_iteration_, parallel.best_iteration_)
        assert_array_equal(serial.oob_prediction_, parallel.oob_prediction_)


# Settings whose arithmetic differs most between code paths: vectorised transcendental functions
# (tanh, logistic, softmax's exp, which AVX-512 builds of numpy round differently), float32, dropout
# masks, L1's proximal step, out-of-bag early stopping.
GROUPING_CONFIGS = {
    "adam-tanh-l1-float32": (RegularizedMLPRegressor, np.float32,
                             {"activation": "tanh", "penalty": "l1", "alpha": 0.05}),
    "sgd-logistic-dropout": (RegularizedMLPClassifier, np.float64,
                             {"solver": "sgd", "activation": "logistic", "dropout": 0.2, "learning_rate_init": 0.05,
                              "learning_rate": "invscaling"}),
    "adam-bootstrap-early-stopping": (RegularizedMLPClassifier, np.float32,
                                      {"bootstrap": True, "early_stopping": True, "n_iter_no_change": 3,
                                       "max_iter": 60}),
}


@pytest.mark.filterwarnings("ignore:.*out-of-bag:UserWarning")
@pytest.mark.parametrize("config", GROUPING_CONFIGS)
def test_member_k_is_bitwise_the_same_in_every_grouping(config, regression, classification):
    """Member k ends bitwise the same whatever the ensemble size, n_jobs (chunks of 1 to 4 members) or BLAS threads."""
    cls, dtype, settings = GROUPING_CONFIGS[config]
    X, y = classification if cls is RegularizedMLPClassifier else regression
    X = X.astype(dtype)
    params = {**SMALL, "hidden_layer_sizes": (8, 6), **settings}
    with threadpool_limits(limits=1):
        pair = cls(**params, n_estimators=2).fit(X, y)
    for n_jobs in (None, 3, 4):
        for threads in (1, 2):
            with threadpool_limits(limits=threads):
                model = cls(**params, n_estimators=4, n_jobs=n_jobs).fit(X, y)
            for k in range(2):
                for left, right in zip(_weights(model.estimators_[k]), _weights(pair.estimators_[k]), strict=True):
                    assert_array_equal(left, right, err_msg=f"member {k}, n_jobs={n_jobs}, {threads} BLAS thread(s)")


def test_member_losses_over_many_rows_do_not_depend_on_the_ensemble_size():
    """loss_ and the validation losses of member 0 are the single net's, bitwise, over 12 000 rows.

    (A weighted sum by einsum rounds one member's row of more than about 8000 values differently
    from a row among several members'.)
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24000, 3))
    y = X[:, 0] + rng.normal(size=24000)
    params = {"hidden_layer_sizes": (4,), "batch_size": 2000, "max_iter": 2, "random_state": 0}
    fits = [RegularizedMLPRegressor(**params, n_estimators=n).fit(X[:12000], y[:12000], X_val=X[12000:],
                                                                   y_val=y[12000:])
            for n in (1, 3)]
    single, member = fits[0], fits[1].estimators_[0]
    assert single.loss_ == member.loss_
    assert_array_equal(single.validation_loss_curve_, member.validation_loss_curve_)


def test_a_lone_member_in_a_worker_with_spare_blas_threads_trains_on_one():
    """A chunk of one member in a joblib worker that has two BLAS threads rounds as the member does in a group.

    Products of this size round differently on one and two BLAS threads (checked first on a single
    net, which keeps every thread); the member must not.
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 30))
    y = X[:, 0] + rng.normal(size=3000)
    params = {"hidden_layer_sizes": (64,), "batch_size": 1000, "max_iter": 3, "random_state": 0}
    fits = {}
    for threads in (1, 2):
        with threadpool_limits(limits=threads):
            fits[threads] = RegularizedMLPRegressor(**params).fit(X, y)
    if all(np.array_equal(a, b) for a, b in zip(_weights(fits[1]), _weights(fits[2]), strict=True)):
        pytest.skip("this BLAS rounds these products alike on one and two threads")
    with threadpool_limits(limits=1):
        in_a_group = RegularizedMLPRegressor(**params, n_estimators=2).fit(X, y)
    with joblib.parallel_config(backend="loky", inner_max_num_threads=2):
        alone_in_workers = RegularizedMLPRegressor(**params, n_estimators=2, n_jobs=2).fit(X, y)
    for left, right in zip(_weights(alone_in_workers), _weights(in_a_group), strict=True):
        assert_array_equal(left, right)
    for left, right in zip(_weights(in_a_group.estimators_[0]), _weights(fits[1]), strict=True):
        assert_array_equal(left, right)


# Groups of members side by side in threads: the same fit, whatever the split.
SIDE_BY_SIDE_CONFIGS = {
    "adam-bootstrap-early-stopping": PARALLEL_CONFIGS["adam-bootstrap-early-stopping"],
    "sgd-dropout-uneven-groups": {"n_estimators": 3, "solver": "sgd", "learning_rate_init": 0.05, "dropout": 0.2,
                                  "penalty": "l1", "alpha": 0.1},
    "lbfgs": {"n_estimators": 2, "solver": "lbfgs", "bootstrap": True, "max_iter": 50},
}


@pytest.fixture
def spy_on_groups():
    """Record the group sizes of every side-by-side training."""
    calls = []
    with events.listening(side_by_side=lambda sizes: calls.append(sizes)):
        yield calls


@pytest.mark.filterwarnings("ignore:.*out-of-bag:UserWarning")
@pytest.mark.parametrize("config", SIDE_BY_SIDE_CONFIGS)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_groups_side_by_side_give_the_one_group_fit(cls, config, problem, spy_on_groups):
    X, y = problem
    params = {**SMALL, **SIDE_BY_SIDE_CONFIGS[config]}
    one_group = cls(**params).fit(X, y)  # under the module's one-BLAS-thread limit
    assert spy_on_groups == []
    with threadpool_limits(limits=2):
        side_by_side = cls(**params).fit(X, y)
        # The groups ran on one BLAS thread each; the limit in force before the fit is back.
        assert {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"} == {2}
    n = params["n_estimators"]
    assert spy_on_groups == [[(n + 1) // 2, n // 2]]
    for left, right in zip(_weights(one_group), _weights(side_by_side), strict=True):
        assert_array_equal(left, right)
    assert_array_equal(one_group.loss_curve_, side_by_side.loss_curve_)
    assert [m.n_iter_ for m in one_group.estimators_] == [m.n_iter_ for m in side_by_side.estimators_]
    if params.get("oob_score"):
        assert one_group.oob_score_ == side_by_side.oob_score_


def test_partial_fit_side_by_side_trains_one_epoch_per_call(regression, spy_on_groups):
    X, y = regression
    params = {**SMALL, "n_estimators": 3, "bootstrap": True, "max_iter": 3}
    one_fit = RegularizedMLPRegressor(**params).fit(X, y)
    incremental = RegularizedMLPRegressor(**params)
    with threadpool_limits(limits=2):
        for _ in range(3):
            incremental.partial_fit(X, y)
    assert spy_on_groups == [[2, 1]]  # the first call starts the members; later calls continue them as one group
    assert incremental.n_iter_ == 1 and len(incremental.loss_curve_) == 3
    for left, right in zip(_weights(one_fit), _weights(incremental), strict=True):
        assert_array_equal(left, right)


def test_verbose_lines_of_groups_side_by_side_report_one_fit(regression, capsys):
    """Two groups side by side print one line per epoch for the whole ensemble, in order (issue: interleaved)."""
    X, y = regression
    with threadpool_limits(limits=2):
        model = RegularizedMLPRegressor(**{**SMALL, "max_iter": 3}, n_estimators=3, verbose=True).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(", loss = ")[0] for line in lines] == [f"Iteration {epoch}" for epoch in (1, 2, 3)]
    losses = [float(line.split(", loss = ")[1].split(",")[0]) for line in lines]
    np.testing.assert_allclose(losses, model.loss_curve_, rtol=1e-7)  # the mean over all 3 members


def test_ctrl_c_while_waiting_for_the_other_groups(regression, ctrl_c_raises):
    """SIGINT after the main thread has trained its own group and waits for the others: they stop, the fit ends well."""
    X, y = regression
    params = {**SMALL, "n_estimators": 2, "max_iter": 200}
    main_done = threading.Event()

    def group_end(state, stop):
        if threading.current_thread() is threading.main_thread():
            main_done.set()

    def epoch_start(state, stop):
        if threading.current_thread() is not threading.main_thread() and not main_done.is_set():
            assert main_done.wait(timeout=60)
            _send_ctrl_c(stop)

    with (events.listening(group_end=group_end, epoch_start=epoch_start), threadpool_limits(limits=2),
          pytest.warns(UserWarning, match="interrupted")):
        model = RegularizedMLPRegressor(**params).fit(X, y)
    trained_alone = RegularizedMLPRegressor(**params).fit(X, y)
    assert [member.n_iter_ for member in model.estimators_] == [trained_alone.estimators_[0].n_iter_, 0]
    assert np.isfinite(model.loss_curve_).all() and np.isfinite(model.predict(X)).all()
    _assert_members_stopped_at_epoch_boundaries(model, X, y, params)


def test_an_lbfgs_group_stops_inside_its_optimisation_when_another_is_interrupted(regression):
    X, y = regression
    helper_started = threading.Event()

    def lbfgs_member(member, stop):
        if threading.current_thread() is threading.main_thread():
            # Interrupted once the other group has begun its member (before that, it would not begin it at all).
            assert helper_started.wait(timeout=60)
            raise KeyboardInterrupt
        helper_started.set()
        # It optimises once the main thread's group has been interrupted and has told the others.
        assert stop.wait(timeout=60)

    with (events.listening(lbfgs_member=lbfgs_member), threadpool_limits(limits=2),
          pytest.warns(UserWarning, match="interrupted")):
        model = RegularizedMLPRegressor(**{**SMALL, "solver": "lbfgs", "max_iter": 500}, n_estimators=2).fit(X, y)
    # The other group ends its optimisation after its current iteration, keeping that iterate.
    assert [member.n_iter_ for member in model.estimators_] == [0, 1]


def test_groups_side_by_side_train_on_one_blas_thread_each(regression):
    X, y = regression
    seen = []

    def epoch_start(state, stop):
        seen.append({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})

    with events.listening(epoch_start=epoch_start), threadpool_limits(limits=2):
        RegularizedMLPRegressor(**{**SMALL, "max_iter": 2}, n_estimators=2).fit(X, y)
        assert {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"} == {2}
    assert seen == [{1}] * 4


def test_ctrl_c_while_starting_the_other_groups(regression, monkeypatch, ctrl_c_raises):
    """A SIGINT that comes while a helper thread starts stops every group, as one during training does."""
    X, y = regression
    params = {**SMALL, "n_estimators": 2, "max_iter": 200}
    real_start = threading.Thread.start

    def start(thread):
        real_start(thread)
        signal.raise_signal(signal.SIGINT)  # in the main thread: handled before raise_signal returns

    monkeypatch.setattr(threading.Thread, "start", start)
    with threadpool_limits(limits=2), pytest.warns(UserWarning, match="interrupted"):
        model = RegularizedMLPRegressor(**params).fit(X, y)
    monkeypatch.undo()
    # The main thread never trained; the helper, already running when the signal came, stopped soon after.
    assert model.estimators_[0].n_iter_ == 0 and model.estimators_[1].n_iter_ < params["max_iter"]
    _assert_members_stopped_at_epoch_boundaries(model, X, y, params)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the fit restored it


def test_a_helper_that_cannot_start_fails_the_fit_cleanly(regression, monkeypatch):
    X, y = regression
    model = RegularizedMLPRegressor(**SMALL, n_estimators=2).fit(X, y)
    before = [W.copy() for W in model.coefs_]
    threads_before = threading.active_count()

    def start(thread):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", start)
    with threadpool_limits(limits=2):
        with pytest.raises(RuntimeError, match="can't start new thread"):
            model.fit(X, y)
        assert {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"} == {2}
    monkeypatch.undo()
    assert threading.active_count() == threads_before
    for W, W_before in zip(model.coefs_, before, strict=True):
        assert_array_equal(W, W_before)


def test_a_frozen_member_with_a_non_finite_gradient_stays_as_it_stopped(regression):
    """A member that diverges mid-epoch is frozen, yet runs forward and backward with the others until the
    epoch ends; an inf in its gradient there must reach neither its weights nor its optimizer's state."""
    X, y = regression
    # 60 rows in batches of 8: member 1 diverges in step 2 and is frozen for steps 4 to 8 of epoch 1.
    params = {**SMALL, "n_estimators": 3, "max_iter": 3, "batch_size": 8, "solver": "sgd", "learning_rate_init": 0.05}

    def fit(overflow_when_frozen):
        steps = []

        def gradient(state, grads):
            steps.append(None)
            if len(steps) == 2:
                grads[1] = np.nan  # member 1 diverges
            if overflow_when_frozen:
                grads[state.progress.stopped] = np.inf  # a frozen member's gradient overflows

        with events.listening(gradient=gradient), threadpool_limits(limits=1), pytest.warns(ConvergenceWarning,
                                                                                           match="diverged"):
            return RegularizedMLPRegressor(**params).fit(X, y)

    reference, model = fit(overflow_when_frozen=False), fit(overflow_when_frozen=True)
    assert [member.n_iter_ for member in model.estimators_] == [3, 1, 3]
    for left, right in zip(_weights(model), _weights(reference), strict=True):
        assert_array_equal(left, right)
    velocity = model._training_state.optimizer.velocity
    assert np.isfinite(velocity).all()
    assert_array_equal(velocity, reference._training_state.optimizer.velocity)


WARM_START_AFTER_GROUPS = {
    "adam-dropout": {"dropout": 0.2},
    "sgd-invscaling": {"solver": "sgd", "learning_rate": "invscaling", "learning_rate_init": 0.05, "momentum": 0.9},
}


@pytest.mark.parametrize("config", WARM_START_AFTER_GROUPS)
def test_a_warm_start_after_groups_side_by_side_continues_as_after_one_group(config, regression):
    """Members that stopped early stood still (streams, moments, velocity, rate): the grouping leaves no trace."""
    X, y = regression
    params = {**SMALL, "n_estimators": 4, "bootstrap": True, "early_stopping": True, "n_iter_no_change": 2,
              "max_iter": 60, "warm_start": True, **WARM_START_AFTER_GROUPS[config]}
    one_group = RegularizedMLPRegressor(**params).fit(X, y)
    with threadpool_limits(limits=2):
        side_by_side = RegularizedMLPRegressor(**params).fit(X, y)
    stopped_at = [member.n_iter_ for member in one_group.estimators_]
    assert len(set(stopped_at)) > 1, f"members should stop at different epochs, got {stopped_at}"
    for model in (one_group, side_by_side):
        model.set_params(max_iter=5, early_stopping=False).fit(X, y)
    for left, right in zip(_weights(one_group), _weights(side_by_side), strict=True):
        assert_array_equal(left, right)


def test_standing_values_repeat_the_latest_finite_entry():
    curve = [np.array([1.0, 2.0, 3.0]), np.array([0.5, np.inf, np.nan])]
    assert_array_equal(side_by_side_standing(curve), [0.5, 2.0, 3.0])
    assert_array_equal(side_by_side_standing([]), [np.nan] * 3)


def side_by_side_standing(curve):
    return skreg._train.history.standing_values(curve, 3)


def test_side_by_side_groups_follow_the_blas_budget_and_the_main_thread():
    with threadpool_limits(limits=2):
        assert side_by_side_groups(5) == 2
        assert side_by_side_groups(1) == 1
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            assert pool.submit(side_by_side_groups, 5).result() == 1
    assert side_by_side_groups(5) == 1  # the module's one-thread limit


def _interrupted_at_epoch(call, action=None):
    """Listen to the training's epochs and interrupt the ``call``-th to start (counted over all threads).

    It raises KeyboardInterrupt, or calls ``action(stop)`` with the fit's stop request.
    """
    lock, calls = threading.Lock(), []

    def epoch_start(state, stop):
        with lock:
            calls.append(None)
            now = len(calls) == call
        if now:
            if action is None:
                raise KeyboardInterrupt
            action(stop)

    return events.listening(epoch_start=epoch_start)


def _send_ctrl_c(stop):
    """SIGINT, as Ctrl-C in a terminal; returns once the main thread has handled it, which sets ``stop``.

    Raised in this thread, the signal is pending before ``raise_signal`` returns; the main thread runs
    Python's handler at its next instruction (at once, if this is the main thread).
    """
    signal.raise_signal(signal.SIGINT)
    assert stop.wait(timeout=60), "the main thread did not act on SIGINT"


def _assert_members_stopped_at_epoch_boundaries(model, X, y, params):
    """Each member holds exactly its weights after its own ``n_iter_`` epochs of an uninterrupted fit."""
    for k, member in enumerate(model.estimators_):
        assert member.n_iter_ <= params["max_iter"]
        reference = _member_after_epochs(params, k, member.n_iter_, X, y)
        for left, right in zip(_weights(member), _weights(reference), strict=True):
            assert_array_equal(left, right)


def _member_after_epochs(params, k, epochs, X, y):
    """Member ``k`` of a fit of ``epochs`` epochs; for 0, of a fit interrupted before its first epoch."""
    if epochs > 0:
        return RegularizedMLPRegressor(**{**params, "max_iter": epochs}).fit(X, y).estimators_[k]
    with events.listening(epoch_start=_raise_keyboard_interrupt), pytest.warns(UserWarning, match="interrupted"):
        return RegularizedMLPRegressor(**params).fit(X, y).estimators_[k]


def _raise_keyboard_interrupt(**payload):
    raise KeyboardInterrupt


@pytest.mark.parametrize("how", ["inside-a-group", "ctrl-c"])
def test_interrupting_groups_side_by_side_stops_them_all_at_epoch_boundaries(how, regression, ctrl_c_raises):
    """An interruption in one group, or a SIGINT to the process, stops every group and keeps usable weights.

    With ``ctrl-c`` a group sends SIGINT to the process while it trains; the main thread, waiting on
    the groups, must see it and stop them (not wait for them to finish their 200 epochs).
    """
    X, y = regression
    params = {**SMALL, "n_estimators": 4, "bootstrap": True, "max_iter": 200}
    action = None if how == "inside-a-group" else _send_ctrl_c
    with _interrupted_at_epoch(5, action), threadpool_limits(limits=2), pytest.warns(UserWarning, match="interrupted"):
        model = RegularizedMLPRegressor(**params).fit(X, y)
    assert np.isfinite(model.predict(X)).all()
    _assert_members_stopped_at_epoch_boundaries(model, X, y, params)


# --------------------------------------------------------------------------
# Ctrl-C with n_jobs: the members trained in workers keep their epochs
# --------------------------------------------------------------------------

def test_ctrl_c_with_n_jobs_keeps_each_chunks_complete_epochs(regression, ctrl_c_raises):
    """SIGINT while chunks of members train in joblib's threads: each chunk stops at its next step, and keeps it.

    The first chunk to start its 4th epoch sends the signal and waits until the main thread has acted on it,
    so its members end with exactly 3 epochs; the other chunk stops wherever the request finds it.
    """
    X, y = regression
    params = {**SMALL, "n_estimators": 4, "max_iter": 200}
    epochs, sent = threading.local(), threading.Lock()

    def epoch_start(state, stop):
        epochs.started = getattr(epochs, "started", 0) + 1
        if epochs.started == 4 and sent.acquire(blocking=False):
            _send_ctrl_c(stop)

    with (events.listening(epoch_start=epoch_start), joblib.parallel_backend("threading"),
          pytest.warns(UserWarning, match="interrupted")):
        model = RegularizedMLPRegressor(**params, n_jobs=2).fit(X, y)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    epochs_trained = [member.n_iter_ for member in model.estimators_]
    assert epochs_trained[:2] == [3, 3] or epochs_trained[2:] == [3, 3], epochs_trained
    assert np.isfinite(model.predict(X)).all()
    _assert_members_stopped_at_epoch_boundaries(model, X, y, params)


def test_ctrl_c_reaches_the_members_training_in_worker_processes(regression, monkeypatch, ctrl_c_raises, tmp_path):
    """SIGINT to the parent while loky worker processes train: they stop at their next step and send their state.

    A worker sends the signal from its validation of epoch 3 (a scoring callable, which runs in the worker).
    """
    X, y = regression
    parent, sent = os.getpid(), tmp_path / "sent"

    def score_and_interrupt_once(estimator, X_val, y_val):
        in_a_worker = os.getpid() != parent  # the parent scores the starting network once, before training
        calls = score_and_interrupt_once.calls = getattr(score_and_interrupt_once, "calls", 0) + in_a_worker
        if calls == 3 and in_a_worker:
            with contextlib.suppress(FileExistsError):
                sent.touch(exist_ok=False)  # one worker only: the parent gets a single SIGINT
                os.kill(parent, signal.SIGINT)
        return r2_score(y_val, estimator.predict(X_val))

    params = {**SMALL, "n_estimators": 2, "max_iter": 3000, "scoring": score_and_interrupt_once}
    X_val, y_val = X[:20], y[:20]
    with pytest.warns(UserWarning, match="interrupted"):
        model = RegularizedMLPRegressor(**params, n_jobs=2).fit(X, y, X_val=X_val, y_val=y_val)
    assert sent.exists() and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    epochs_trained = [member.n_iter_ for member in model.estimators_]
    assert max(epochs_trained) >= 3 and max(epochs_trained) < params["max_iter"], epochs_trained
    assert np.isfinite(model.predict(X)).all()
    for k, member in enumerate(model.estimators_):
        assert len(member.loss_curve_) == len(member.validation_scores_) == member.n_iter_
        reference = RegularizedMLPRegressor(**{**params, "scoring": "r2", "max_iter": max(member.n_iter_, 1)})
        reference.fit(X, y, X_val=X_val, y_val=y_val)
        if member.n_iter_ > 0:
            for left, right in zip(_weights(member), _weights(reference.estimators_[k]), strict=True):
                assert_array_equal(left, right)


class _InterruptedParallel:
    """Stands in for joblib's Parallel where a KeyboardInterrupt reaches joblib (a user's SIGINT handler raised)."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, tasks):
        list(tasks)
        raise KeyboardInterrupt


def test_ctrl_c_that_reaches_joblib_says_the_workers_state_was_lost(regression, monkeypatch):
    """joblib stops its workers on a KeyboardInterrupt: the fit keeps the initial weights and says so."""
    X, y = regression
    params = {**SMALL, "n_estimators": 4, "bootstrap": True}
    monkeypatch.setattr(skreg._estimators.plan, "Parallel", _InterruptedParallel)
    with pytest.warns(UserWarning, match="the workers' state was lost"):
        model = RegularizedMLPRegressor(**params, n_jobs=2).fit(X, y)
    monkeypatch.undo()
    assert [member.n_iter_ for member in model.estimators_] == [0] * 4 and model.loss_curve_ == []
    assert np.isfinite(model.predict(X)).all()
    with events.listening(epoch_start=_raise_keyboard_interrupt), pytest.warns(UserWarning, match="interrupted"):
        initial = RegularizedMLPRegressor(**params).fit(X, y)  # interrupted before its first epoch
    for left, right in zip(_weights(model), _weights(initial), strict=True):
        assert_array_equal(left, right)


def test_n_jobs_on_a_dask_cluster(regression):
    distributed = pytest.importorskip("distributed")
    import dask

    X, y = regression
    params = {**SMALL, **PARALLEL_CONFIGS["adam-bootstrap-early-stopping"], "oob_score": False}
    serial = RegularizedMLPRegressor(**params, n_jobs=1).fit(X, y)
    # A loaded machine can take longer than dask's default 30 s to start a cluster and connect to it.
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "300s", "distributed.comm.timeouts.tcp": "300s"}),
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster, timeout="300s"),
        joblib.parallel_backend("dask"),
    ):
        on_dask = RegularizedMLPRegressor(**params, n_jobs=2).fit(X, y)
    assert_array_equal(on_dask.predict(X), serial.predict(X))
    assert_array_equal(on_dask.best_iteration_, serial.best_iteration_)


# --------------------------------------------------------------------------
# Inside scikit-learn's meta-estimators
# --------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ESTIMATORS)
def test_as_the_base_estimator_of_bagging(cls, problem):
    X, y = problem
    bagging_cls = BaggingClassifier if cls is RegularizedMLPClassifier else BaggingRegressor
    base = cls(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=200, random_state=0)
    bagging = bagging_cls(estimator=base, n_estimators=3, random_state=0).fit(X, y)
    members = np.stack([_output(member, X) for member in bagging.estimators_])
    assert_allclose(_output(bagging, X), members.mean(axis=0), rtol=1e-12)
    assert not np.allclose(members[0], members[1])
    assert bagging.score(X, y) > (0.8 if cls is RegularizedMLPClassifier else 0.5)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_inside_a_parallel_grid_search(cls, problem):
    X, y = problem
    grid = {"alpha": [1e-3, 30.0], "n_estimators": [1, 2]}
    search = GridSearchCV(cls(**SMALL), grid, cv=3, n_jobs=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_params_ in search.cv_results_["params"]
    refit = cls(**SMALL, **search.best_params_).fit(X, y)
    assert_array_equal(_output(search.best_estimator_, X), _output(refit, X))


def test_stopped_members_leave_the_batch(regression):
    """After a member stops, its group's steps no longer compute it."""
    X, y = regression
    params = {**SMALL, "n_estimators": 4, "bootstrap": True, "early_stopping": True, "n_iter_no_change": 3,
              "tol": 1e-3, "max_iter": 200}
    members_per_step = []

    def step(state, **payload):
        members_per_step.append(state.n_members)

    with events.listening(step=step), threadpool_limits(limits=1):
        model = RegularizedMLPRegressor(**params).fit(X, y)

    epochs = [member.n_iter_ for member in model.estimators_]
    assert len(set(epochs)) > 1, f"members stopped together ({epochs}): pick a setting where they do not"
    steps_per_epoch = int(np.ceil(len(y) / SMALL["batch_size"]))
    expected = [sum(n > epoch for n in epochs) for epoch in range(max(epochs)) for _ in range(steps_per_epoch)]
    assert members_per_step == expected
    # What members are is unchanged (test_member_zero_is_the_single_network_with_the_same_seed checks more).
    pair = RegularizedMLPRegressor(**{**params, "n_estimators": 2}).fit(X, y)
    for left, right in zip(_weights(pair), _weights(model), strict=True):
        assert_array_equal(left, right[:2])


@pytest.fixture
def diverging():
    """Two-output regression scaled so that sgd members diverge after different numbers of epochs."""
    X, y = make_regression(90, 4, n_targets=2, noise=10, random_state=0)
    return X, y / 10


DIVERGING = {"hidden_layer_sizes": (8,), "batch_size": 16, "max_iter": 40, "random_state": 0, "solver": "sgd",
             "momentum": 0.0}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_member_diverging_after_others_left_the_batch_keeps_its_last_certified_weights(diverging):
    # The divergence guard's record of certified weights carries over when stopped members leave the batch.
    X, y = diverging
    params = {**DIVERGING, "bootstrap": True, "learning_rate_init": 0.05}
    four = RegularizedMLPRegressor(**params, n_estimators=4).fit(2 * X, y)
    three = RegularizedMLPRegressor(**params, n_estimators=3).fit(2 * X, y)
    assert four._training_state.progress.diverged.sum() >= 2
    assert len({member.n_iter_ for member in four.estimators_}) > 1
    for left, right in zip(_weights(four), _weights(three), strict=True):
        assert_array_equal(left[:3], right)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_frozen_members_state_does_not_depend_on_the_grouping(diverging):
    X, y = diverging
    params = {**DIVERGING, "n_estimators": 4, "learning_rate_init": 0.03}
    fits = {}
    for groups in (1, 2):
        with threadpool_limits(limits=groups):
            fits[groups] = RegularizedMLPRegressor(**params).fit(3 * X[:70], y[:70], X_val=3 * X[70:], y_val=y[70:])
    assert fits[1]._training_state.progress.diverged.any()
    assert_array_equal(fits[1]._training_state.optimizer.velocity, fits[2]._training_state.optimizer.velocity)
    assert_array_equal(fits[1].validation_loss_curve_, fits[2].validation_loss_curve_)


def test_a_warm_start_without_validation_records_none_for_members_apart(regression, capsys):
    X, y = regression
    params = {**SMALL, "n_estimators": 4, "bootstrap": True, "early_stopping": True, "n_iter_no_change": 3,
              "tol": 1e-3, "max_iter": 40}
    model = RegularizedMLPRegressor(**params).fit(X, y)
    validated = len(model.loss_curve_)
    model.set_params(warm_start=True, early_stopping=False, max_iter=30, verbose=True).fit(X, y)
    assert np.isnan(model.validation_scores_[validated:]).all()
    epochs = [int(epoch) for epoch in re.findall(r"Iteration (\d+), loss = ", capsys.readouterr().out)]
    assert epochs == sorted(epochs) and len(set(epochs)) > 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("first_validation", [True, False])
def test_a_member_stopped_before_a_warm_start_is_validated_on_its_new_validation_set(first_validation):
    # A member that diverged in the first fit waits apart from the start of the second; its frozen weights
    # are still validated on the second fit's rows, as they would have been in the batch.
    def data(seed, n=120):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n, 5))
        return X, 3 * (X @ rng.normal(size=5) + 0.1 * rng.normal(size=n))

    (X, y), (X_b, y_b), (X_c, y_c) = data(0), data(1), data(2, 60)
    params = {"hidden_layer_sizes": (8,), "solver": "sgd", "learning_rate_init": 0.1, "max_iter": 30,
              "random_state": 0, "n_estimators": 6, "warm_start": True}
    model = RegularizedMLPRegressor(**params)
    model.fit(X, y, X_val=X_b, y_val=y_b) if first_validation else model.fit(X, y)
    diverged = np.flatnonzero(model._training_state.progress.diverged)
    assert diverged.size and len({member.n_iter_ for member in model.estimators_}) > 1
    model.set_params(learning_rate_init=0.01).fit(X, y, X_val=X_c, y_val=y_c)

    frozen = model.estimators_[diverged[0]]
    expected = 0.5 * np.mean((frozen.predict(X_c) - y_c) ** 2)
    assert_allclose(model._training_state.history.validation_loss[-1][diverged[0]], expected, rtol=1e-10)
