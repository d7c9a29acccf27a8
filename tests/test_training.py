"""Training behaviour: early stopping, explicit validation sets, warm starts, sample weights, inputs, safety nets."""

import contextlib
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_blobs, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer, StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from threadpoolctl import threadpool_limits

from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor
from skreg._network import ParameterLayout
from skreg._objective import NetworkSpec, Objective, Regularization, StepScratch
from skreg._penalties import penalty_mix
from skreg._random import member_noise
from skreg._train import events

ESTIMATORS = [RegularizedMLPClassifier, RegularizedMLPRegressor]
STOCHASTIC = {
    "adam": {"solver": "adam", "learning_rate_init": 0.01},
    "sgd": {"solver": "sgd", "learning_rate_init": 0.05},
}

# A network far too big for 60 noisy rows: its validation loss turns up after a few epochs.
OVERFITTING = {"hidden_layer_sizes": (64, 64), "alpha": 0.0, "batch_size": 20, "max_iter": 500,
               "early_stopping": True, "n_iter_no_change": 10, "tol": 0.0, "random_state": 0}


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def single_blas_thread():
    """On these tiny problems BLAS threads cost more than they give (L-BFGS-B most of all)."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def regression():
    """60 noisy training rows and 40 validation rows of the same smooth function."""
    rng = np.random.default_rng(0)

    def draw(n):
        X = rng.uniform(-1, 1, (n, 3))
        return X, X[:, 0] + 0.5 * np.sin(3 * X[:, 1]) + rng.normal(0, 0.5, n)

    X, y = draw(60)
    X_val, y_val = draw(40)
    return X, y, X_val, y_val


@pytest.fixture(scope="module")
def classification():
    """Three classes with 20% flipped labels: 60 training and 40 validation rows."""
    X, y = make_classification(n_samples=100, n_features=4, n_informative=3, n_redundant=0, n_classes=3,
                               flip_y=0.2, random_state=0)
    X = StandardScaler().fit_transform(X)
    return X[:60], y[:60], X[60:], y[60:]


@pytest.fixture
def problem(request, regression, classification):
    """``(X, y, X_val, y_val)`` for the estimator class the test is parametrized with."""
    return classification if request.getfixturevalue("cls") is RegularizedMLPClassifier else regression


def _per_row_loss(model, X, y):
    """Each row's loss (the data term's summand) from the model's predictions."""
    if isinstance(model, RegularizedMLPRegressor):
        residual = np.reshape(y, (len(y), -1)) - np.reshape(model.predict(X), (len(y), -1))
        return 0.5 * np.sum(residual**2, axis=1)
    proba = model.predict_proba(X)
    column = np.searchsorted(model.classes_, y)
    return -np.log(proba[np.arange(len(y)), column])


def _validation_loss(model, X, y, weight=None):
    """Weighted mean loss without the penalty, computed by hand from predictions."""
    weight = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=float)
    return np.sum(weight * _per_row_loss(model, X, y)) / np.sum(weight)


def _assert_same_weights(a, b):
    for left, right in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        assert_array_equal(left, right)


class RecordingScorer:
    """A scorer that keeps the validation rows it is given and returns minus their loss."""

    def __init__(self):
        self.calls = []

    def __call__(self, estimator, X, y, sample_weight=None):
        self.calls.append((np.array(X), np.array(y), None if sample_weight is None else np.array(sample_weight)))
        return -_validation_loss(estimator, X, y, sample_weight)


# --------------------------------------------------------------------------
# Early stopping
# --------------------------------------------------------------------------

@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_early_stopping_stops_and_restores_the_best_epoch(cls, solver, problem):
    X, y, X_val, y_val = problem
    model = cls(**{**OVERFITTING, **STOCHASTIC[solver]}).fit(X, y, X_val=X_val, y_val=y_val)

    assert model.n_iter_ < model.max_iter
    assert len(model.loss_curve_) == len(model.validation_loss_curve_) == len(model.validation_scores_) == model.n_iter_
    # scoring=None monitors minus the validation loss.
    assert_allclose(model.validation_scores_, -np.asarray(model.validation_loss_curve_), rtol=1e-12)
    assert model.best_iteration_ == int(np.argmax(model.validation_scores_)) + 1
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.validation_scores_[model.best_iteration_ - 1] == model.best_validation_score_
    # With tol=0 the patience counter restarts at the best epoch and stops n_iter_no_change + 1 epochs later.
    assert model.n_iter_ == model.best_iteration_ + model.n_iter_no_change + 1
    assert model.best_iteration_ < model.n_iter_
    # The kept weights are the best epoch's, not the last epoch's.
    assert_allclose(-_validation_loss(model, X_val, y_val), model.best_validation_score_, rtol=1e-10)
    assert model.validation_loss_curve_[-1] > model.validation_loss_curve_[model.best_iteration_ - 1]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_stopping_on_the_training_loss_is_not_driven_by_dropout_noise(n_classes, seed):
    """With dropout the rule watches the noise-free objective: a lucky noisy epoch must not end the fit.

    Blobs with one class weighted 1000 times the others: a fitted net predicts that class almost
    everywhere. The running loss with dropout jumps several-fold between epochs; stopping on it
    ended these fits after 15-50 epochs predicting the weighted class for 0-56% of new rows.
    """
    X, y = make_blobs(centers=n_classes, cluster_std=20, random_state=0)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.5, random_state=0)
    class_weight = {0: 1000, **{k: 1e-4 for k in range(1, n_classes)}}
    model = RegularizedMLPClassifier((6, 5), dropout=[0.1, 0.3], class_weight=class_weight, max_iter=1000,
                                     random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    assert np.mean(model.predict(X_test) == 0) > 0.87


def test_the_watched_objective_with_dropout_is_the_noise_free_one(regression):
    """best_loss_ is the best J without dropout over the epochs: the ``loss_`` of fits stopped at each epoch."""
    X, y = regression[:2]
    params = {"hidden_layer_sizes": (16,), "dropout": 0.3, "learning_rate_init": 0.01, "tol": 0.0,
              "n_iter_no_change": 1000, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = RegularizedMLPRegressor(**params, max_iter=8).fit(X, y)
        per_epoch = [RegularizedMLPRegressor(**params, max_iter=epochs).fit(X, y).loss_ for epochs in range(1, 9)]
    assert full.best_loss_ == min(per_epoch)
    assert full.loss_ == per_epoch[-1]


@pytest.mark.parametrize("n_iter_no_change", [0, 1, 3])
def test_patience_can_run_out_exactly_when_the_rule_would_act(n_iter_no_change):
    """``can_run_out(k)`` is True iff some epoch of the next k, at worst never improving, runs out of patience.

    The noise-free pass of a search's noisy members is skipped when it is False: a False where the rule
    could still act would leave it watching the wrong score.
    """
    from skreg._train.stopping import ImprovementTracker

    never_better = np.array([np.nan, -np.inf])
    for improving_epochs in range(3):
        record = ImprovementTracker(2, n_iter_no_change, tol=0.0)
        for epoch in range(improving_epochs):
            record.update(np.full(2, float(epoch)), np.full(2, epoch), np.ones(2, dtype=bool))
        for epochs in range(6):
            trial = record.copy()
            acts = [trial.update(never_better, np.zeros(2), np.ones(2, dtype=bool))[1].any() for _ in range(epochs)]
            assert record.can_run_out(epochs) == any(acts), (improving_epochs, epochs)


@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_early_stopping_on_a_scorer(cls, solver, problem):
    X, y, X_val, y_val = problem
    scoring, metric = ("accuracy", accuracy_score) if cls is RegularizedMLPClassifier else ("r2", r2_score)
    model = cls(**{**OVERFITTING, **STOCHASTIC[solver]}, scoring=scoring).fit(X, y, X_val=X_val, y_val=y_val)

    assert model.n_iter_ < model.max_iter
    assert len(model.validation_scores_) == len(model.validation_loss_curve_) == model.n_iter_
    assert model.validation_scores_[model.best_iteration_ - 1] == model.best_validation_score_
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.best_iteration_ == int(np.argmax(model.validation_scores_)) + 1
    assert_allclose(metric(y_val, model.predict(X_val)), model.best_validation_score_, rtol=1e-10)
    # The loss curve is still the validation loss, whatever the scorer.
    assert_allclose(_validation_loss(model, X_val, y_val), model.validation_loss_curve_[model.best_iteration_ - 1],
                    rtol=1e-10)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_early_stopping_on_a_split_validates_on_held_out_rows(cls, problem):
    X, y, _, _ = problem
    scorer = RecordingScorer()
    model = cls(**{**OVERFITTING, **STOCHASTIC["adam"]}, validation_fraction=0.2, scoring=scorer).fit(X, y)

    assert model.n_iter_ < model.max_iter
    assert len(scorer.calls) == model.n_iter_ + 1  # each epoch, and once before the first (a check of the scorer)
    X_held, y_held, weight_held = scorer.calls[0]
    for X_call, y_call, _ in scorer.calls:
        assert_array_equal(X_call, X_held)
        assert_array_equal(y_call, y_held)
    assert weight_held is None  # unweighted rows: the scorer is called as scorer(estimator, X, y)
    # The held-out rows are ceil(20%) of the training rows, and no member trains on them.
    held = np.flatnonzero((X[:, None, :] == X_held[None]).all(axis=2).any(axis=1))
    assert len(held) == len(y_held) == int(np.ceil(0.2 * len(y)))
    assert_array_equal(y[held], y_held)
    assert_array_equal(model.estimators_samples_[0], np.setdiff1d(np.arange(len(y)), held))
    # The recorded scores were computed by hand: the curve and the kept weights agree with them.
    assert_allclose(model.validation_scores_, -np.asarray(model.validation_loss_curve_), rtol=1e-10)
    assert_allclose(-_validation_loss(model, X_held, y_held), model.best_validation_score_, rtol=1e-10)
    assert model.best_validation_score_ == max(model.validation_scores_)


@pytest.mark.parametrize("random_state", range(5))
def test_classifier_validation_split_is_stratified(random_state):
    rng = np.random.default_rng(random_state)
    y = np.repeat([0, 1, 2], [30, 15, 5])
    X = rng.normal(size=(len(y), 2)) + y[:, None]
    scorer = RecordingScorer()
    RegularizedMLPClassifier(hidden_layer_sizes=(4,), max_iter=2, early_stopping=True, validation_fraction=0.2,
                             scoring=scorer, random_state=random_state).fit(X, y)
    _, y_held, _ = scorer.calls[0]
    # 10 held-out rows in the training proportions 6:3:1 (an unstratified draw rarely is, and never 5 times).
    assert_array_equal(np.bincount(y_held, minlength=3), [6, 3, 1])


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_validation_split_with_fewer_than_two_rows_raises(cls, problem):
    X, y, _, _ = problem
    model = cls(hidden_layer_sizes=(4,), early_stopping=True, validation_fraction=0.1, random_state=0)
    with pytest.raises(ValueError, match="validation"):
        model.fit(X[:10], y[:10])


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_early_stopping_needs_a_stochastic_solver(cls, problem):
    X, y, _, _ = problem
    with pytest.raises(ValueError, match="lbfgs"):
        cls(hidden_layer_sizes=(4,), solver="lbfgs", early_stopping=True, random_state=0).fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_validation_set_needs_both_halves(cls, problem):
    X, y, X_val, y_val = problem
    model = cls(hidden_layer_sizes=(4,), max_iter=3, early_stopping=True, random_state=0)
    with pytest.raises(ValueError, match="X_val"):
        model.fit(X, y, X_val=X_val)
    with pytest.raises(ValueError, match="X_val"):
        model.fit(X, y, y_val=y_val)
    with pytest.raises(ValueError, match="sample_weight_val"):
        model.fit(X, y, sample_weight_val=np.ones(len(y_val)))


# --------------------------------------------------------------------------
# An explicit validation set is used as given
# --------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ESTIMATORS)
def test_explicit_validation_set_is_exactly_what_is_scored(cls, problem):
    X, y, X_val, y_val = problem
    scorer = RecordingScorer()
    model = cls(**{**OVERFITTING, **STOCHASTIC["adam"]}, scoring=scorer).fit(X, y, X_val=X_val, y_val=y_val)

    assert len(scorer.calls) == model.n_iter_ + 1  # each epoch, and once before the first (a check of the scorer)
    for X_call, y_call, weight_call in scorer.calls:
        assert_array_equal(X_call, X_val)
        assert_array_equal(y_call, y_val)
        assert weight_call is None
    # Every training row is trained on: nothing was split off.
    assert_array_equal(model.estimators_samples_[0], np.arange(len(y)))


@pytest.mark.parametrize("shift", [0.0, 3.0])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_validation_loss_curve_is_the_loss_on_the_explicit_set(cls, shift, problem):
    """Each epoch's recorded loss is the loss on X_val of that epoch's weights (replayed by warm starts)."""
    X, y, X_val, y_val = problem
    if cls is RegularizedMLPRegressor:
        y_val = y_val + shift
    elif shift:
        y_val = (y_val + 1) % 3
    n_epochs = 6
    params = {"hidden_layer_sizes": (16,), "learning_rate_init": 0.01, "batch_size": 16, "random_state": 0}
    model = cls(**params, max_iter=n_epochs, early_stopping=True, n_iter_no_change=50)
    model.fit(X, y, X_val=X_val, y_val=y_val)
    assert len(model.validation_loss_curve_) == n_epochs

    replay = cls(**params, max_iter=1, warm_start=True)
    for epoch in range(n_epochs):
        replay.fit(X, y)
        assert_allclose(model.validation_loss_curve_[epoch], _validation_loss(replay, X_val, y_val), rtol=1e-10)


# --------------------------------------------------------------------------
# Warm start and partial_fit continue exactly
# --------------------------------------------------------------------------

SCHEDULES = {
    "adam": {"solver": "adam", "learning_rate_init": 0.01},
    "sgd-constant": {"solver": "sgd", "learning_rate": "constant", "learning_rate_init": 0.05},
    "sgd-invscaling": {"solver": "sgd", "learning_rate": "invscaling", "learning_rate_init": 0.2},
    "sgd-adaptive": {"solver": "sgd", "learning_rate": "adaptive", "learning_rate_init": 0.05},
    "adam-dropout": {"solver": "adam", "learning_rate_init": 0.01, "dropout": 0.3},
    "sgd-dropout": {"solver": "sgd", "learning_rate_init": 0.05, "dropout": 0.3},
}
N_EPOCHS = 5


def _schedule_params(schedule, **extra):
    return {"hidden_layer_sizes": (8, 6), "batch_size": 16, "shuffle": False, "random_state": 0,
            **SCHEDULES[schedule], **extra}


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_warm_started_epochs_equal_one_fit(cls, schedule, problem):
    X, y, _, _ = problem
    # For 'adaptive', a huge tol makes every second epoch a non-improvement, so the rate is cut during the fit.
    extra = {"n_iter_no_change": 1, "tol": 10.0} if schedule == "sgd-adaptive" else {}
    params = _schedule_params(schedule, **extra)
    whole = cls(**params, max_iter=N_EPOCHS).fit(X, y)
    stepped = cls(**params, max_iter=1, warm_start=True)
    for _ in range(N_EPOCHS):
        stepped.fit(X, y)

    assert whole.n_iter_ == N_EPOCHS
    _assert_same_weights(whole, stepped)
    assert_array_equal(whole.loss_curve_, stepped.loss_curve_)
    if schedule == "sgd-adaptive":
        constant = cls(**{**params, "learning_rate": "constant"}, max_iter=N_EPOCHS).fit(X, y)
        assert not np.array_equal(constant.coefs_[0], whole.coefs_[0]), "the adaptive schedule never acted"


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_warm_start_with_shuffling_continues_the_shuffle_stream(cls, problem):
    X, y, _, _ = problem
    params = _schedule_params("adam-dropout", shuffle=True)
    whole = cls(**params, max_iter=N_EPOCHS).fit(X, y)
    stepped = cls(**params, max_iter=1, warm_start=True)
    for _ in range(N_EPOCHS):
        stepped.fit(X, y)
    _assert_same_weights(whole, stepped)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_partial_fit_epochs_equal_one_fit(cls, schedule, problem):
    X, y, _, _ = problem
    params = _schedule_params(schedule)
    whole = cls(**params, max_iter=N_EPOCHS).fit(X, y)
    incremental = cls(**params)
    extra = {"classes": np.unique(y)} if cls is RegularizedMLPClassifier else {}
    for _ in range(N_EPOCHS):
        incremental.partial_fit(X, y, **extra)

    assert incremental.n_iter_ == 1 and len(incremental.loss_curve_) == N_EPOCHS
    _assert_same_weights(whole, incremental)


def test_partial_fit_first_call_needs_classes(classification):
    X, y, _, _ = classification
    model = RegularizedMLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    with pytest.raises(ValueError, match="classes"):
        model.partial_fit(X, y)


def test_partial_fit_rejects_unseen_labels(classification):
    X, y, _, _ = classification
    model = RegularizedMLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    model.partial_fit(X[y < 2], y[y < 2], classes=[0, 1])
    with pytest.raises(ValueError, match="2"):
        model.partial_fit(X, y)
    model.partial_fit(X[y < 2], y[y < 2])  # still usable


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_partial_fit_is_unavailable_with_lbfgs(cls):
    model = cls(solver="lbfgs")
    assert not hasattr(model, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit"):
        model.partial_fit  # noqa: B018
    assert hasattr(cls(solver="adam"), "partial_fit")


# --------------------------------------------------------------------------
# Sample and class weights
# --------------------------------------------------------------------------

def _objective(model, X, y, sample_weight):
    """``J`` and its gradient at the model's weights, from the numerics layer."""
    layout = ParameterLayout((X.shape[1], *model.hidden_layer_sizes, model.n_outputs_))
    if isinstance(model, RegularizedMLPRegressor):
        loss, Y = "squared_error", np.reshape(y, (len(y), -1))
    else:
        loss = "log_loss" if len(model.classes_) > 2 else "binary_log_loss"
        Y = LabelBinarizer().fit(model.classes_).transform(y).astype(float)
    spec = NetworkSpec(layout, model.activation, loss)
    l1_share, l2_share = penalty_mix(model.penalty, model.l1_ratio)
    regularization = Regularization.for_members(1, alpha=model.alpha, l1_share=l1_share, l2_share=l2_share,
                                                dropout=np.zeros(len(layout.layer_units) - 2))
    params = layout.pack([W[None] for W in model.coefs_], [b[None, None] for b in model.intercepts_])
    weight = np.asarray(sample_weight, dtype=float)
    value, grads = Objective(spec, regularization, np.array([weight.sum()])).value_and_gradient(params, X, Y, weight)
    return value[0], grads[0]


LBFGS = {"hidden_layer_sizes": (6,), "activation": "tanh", "solver": "lbfgs", "alpha": 1.0, "tol": 1e-10,
         "max_iter": 3000, "random_state": 0}


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_integer_weights_are_repeated_rows(cls, problem):
    X, y, _, _ = problem
    counts = np.random.default_rng(1).integers(1, 4, len(y))
    X_rep, y_rep = np.repeat(X, counts, axis=0), np.repeat(y, counts)
    weighted = cls(**LBFGS).fit(X, y, sample_weight=counts)
    repeated = cls(**LBFGS).fit(X_rep, y_rep)

    # The same objective (value and gradient) at any weights, here the weighted fit's ...
    value, grad = _objective(weighted, X, y, counts)
    value_rep, grad_rep = _objective(weighted, X_rep, y_rep, np.ones(len(y_rep)))
    assert_allclose(value, value_rep, rtol=1e-12)
    assert_allclose(grad, grad_rep, rtol=1e-9, atol=1e-12)
    assert_allclose(weighted.loss_, value, rtol=1e-10)
    # ... and so the same minimiser from the same start.
    assert_allclose(weighted.loss_, repeated.loss_, rtol=1e-8)
    for left, right in zip(weighted.coefs_ + weighted.intercepts_, repeated.coefs_ + repeated.intercepts_,
                           strict=True):
        assert_allclose(left, right, rtol=1e-4, atol=1e-6)
    # Weights matter: the unweighted fit is another model.
    unweighted = cls(**LBFGS).fit(X, y)
    assert not np.allclose(unweighted.coefs_[0], weighted.coefs_[0], rtol=1e-3)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_zero_weights_are_dropped_rows(cls, problem):
    X, y, _, _ = problem
    keep = np.random.default_rng(2).random(len(y)) < 0.7
    weighted = cls(**LBFGS).fit(X, y, sample_weight=keep.astype(float))
    dropped = cls(**LBFGS).fit(X[keep], y[keep])

    assert_allclose(_objective(weighted, X, y, keep)[0], _objective(weighted, X[keep], y[keep], np.ones(keep.sum()))[0],
                    rtol=1e-12)
    assert_allclose(weighted.loss_, dropped.loss_, rtol=1e-8)
    for left, right in zip(weighted.coefs_ + weighted.intercepts_, dropped.coefs_ + dropped.intercepts_,
                           strict=True):
        assert_allclose(left, right, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_validation_sample_weights(cls, problem):
    X, y, X_val, y_val = problem
    counts = np.random.default_rng(3).integers(0, 4, len(y_val))
    counts[0] = 0
    params = {"hidden_layer_sizes": (16,), "learning_rate_init": 0.01, "batch_size": 16, "max_iter": 8,
              "early_stopping": True, "n_iter_no_change": 50, "random_state": 0}
    weighted = cls(**params).fit(X, y, X_val=X_val, y_val=y_val, sample_weight_val=counts)
    repeated = cls(**params).fit(X, y, X_val=np.repeat(X_val, counts, axis=0), y_val=np.repeat(y_val, counts))
    unweighted = cls(**params).fit(X, y, X_val=X_val, y_val=y_val)

    # Integer validation weights are repeated validation rows, epoch by epoch (training is unchanged).
    assert_allclose(weighted.validation_loss_curve_, repeated.validation_loss_curve_, rtol=1e-10)
    assert not np.allclose(weighted.validation_loss_curve_, unweighted.validation_loss_curve_, rtol=1e-6)
    # The best epoch's recorded loss is the weighted mean loss of the kept weights.
    best = weighted.best_iteration_ - 1
    assert_allclose(weighted.validation_loss_curve_[best], _validation_loss(weighted, X_val, y_val, counts),
                    rtol=1e-10)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("class_weight", ["balanced", {0: 1.0, 1: 4.0, 2: 0.5}])
def test_class_weight_is_the_equivalent_sample_weight(class_weight, solver, classification):
    X, y, _, _ = classification
    y = np.where(np.arange(len(y)) % 4 == 0, 2, y)  # unbalance the classes
    params = {"hidden_layer_sizes": (6,), "solver": solver, "max_iter": 20, "random_state": 0}
    expected = compute_sample_weight(class_weight, y)
    with_class_weight = RegularizedMLPClassifier(**params, class_weight=class_weight).fit(X, y)
    with_sample_weight = RegularizedMLPClassifier(**params).fit(X, y, sample_weight=expected)
    _assert_same_weights(with_class_weight, with_sample_weight)

    # Both weights multiply.
    sample_weight = np.random.default_rng(4).uniform(0.5, 2.0, len(y))
    both = RegularizedMLPClassifier(**params, class_weight=class_weight).fit(X, y, sample_weight=sample_weight)
    product = RegularizedMLPClassifier(**params).fit(X, y, sample_weight=sample_weight * expected)
    _assert_same_weights(both, product)

    plain = RegularizedMLPClassifier(**params).fit(X, y)
    assert not np.array_equal(plain.coefs_[0], with_class_weight.coefs_[0])


# --------------------------------------------------------------------------
# Inputs: sparse, float32, targets of every kind, data frames, labels
# --------------------------------------------------------------------------

def _output(model, X):
    return model.predict_proba(X) if isinstance(model, RegularizedMLPClassifier) else model.predict(X)


@pytest.mark.parametrize("ensemble", [{}, {"n_estimators": 3, "bootstrap": True}], ids=["single", "ensemble"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_sparse_input_fits_and_predicts_as_dense(cls, fmt, solver, ensemble, problem):
    X, y, _, _ = problem
    X = np.where(np.abs(X) < 0.5, 0.0, X)  # really sparse
    X_sparse = sp.csr_matrix(X).asformat(fmt)
    params = {"hidden_layer_sizes": (8,), "solver": solver, "max_iter": 20, "batch_size": 16, "random_state": 0,
              **ensemble}
    dense = cls(**params).fit(X, y)
    sparse = cls(**params).fit(X_sparse, y)
    for left, right in zip(dense.coefs_, sparse.coefs_, strict=True):
        assert_allclose(left, right, rtol=1e-7, atol=1e-10)
    assert_allclose(_output(sparse, X_sparse), _output(dense, X), rtol=1e-7, atol=1e-10)
    assert_allclose(_output(sparse, X), _output(dense, X), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_input_dtype_is_kept(cls, solver, dtype, problem):
    X, y, X_val, _ = problem
    model = cls(hidden_layer_sizes=(6,), solver=solver, max_iter=10, random_state=0).fit(X.astype(dtype), y)
    assert all(W.dtype == dtype for W in model.coefs_)
    assert all(b.dtype == dtype for b in model.intercepts_)
    X_new = X_val.astype(dtype)
    if cls is RegularizedMLPClassifier:
        assert model.predict_proba(X_new).dtype == dtype
    else:
        assert model.predict(X_new).dtype == dtype
        assert all(part.dtype == dtype for part in model.predict(X_new, return_std=True))


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_multilabel_indicator_targets(solver, regression):
    X, _, X_val, _ = regression
    rng = np.random.default_rng(5)
    Y = (X + 0.1 * rng.normal(size=X.shape) > 0).astype(int)
    model = RegularizedMLPClassifier(hidden_layer_sizes=(8,), solver=solver, learning_rate_init=0.05, max_iter=200,
                                     random_state=0).fit(X, Y)
    assert_array_equal(model.classes_, [0, 1, 2])
    predicted = model.predict(X_val)
    proba = model.predict_proba(X_val)
    assert predicted.shape == proba.shape == (len(X_val), 3)
    assert set(np.unique(predicted)) <= {0, 1}
    assert np.all((proba >= 0) & (proba <= 1))
    assert_array_equal(predicted, (proba > 0.5).astype(int))
    # Each label is learnt on its own (they do not sum to one like a softmax).
    assert np.all(np.mean(model.predict(X) == Y, axis=0) > 0.8)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_multi_output_regression(solver, regression):
    X, _, X_val, _ = regression
    rng = np.random.default_rng(6)

    def targets(X):
        return np.column_stack([X[:, 0] + X[:, 1], X[:, 1] - 2 * X[:, 2]])

    Y = targets(X) + 0.05 * rng.normal(size=(len(X), 2))
    model = RegularizedMLPRegressor(hidden_layer_sizes=(8,), activation="tanh", solver=solver, learning_rate_init=0.02,
                                    max_iter=500, random_state=0).fit(X, Y)
    assert model.n_outputs_ == 2
    predicted = model.predict(X_val)
    assert predicted.shape == (len(X_val), 2)
    assert r2_score(targets(X_val), predicted, multioutput="raw_values").min() > 0.9


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_dataframe_feature_names(cls, problem):
    X, y, X_val, _ = problem
    names = ["age", "height", "weight"][: X.shape[1]] + [f"x{j}" for j in range(3, X.shape[1])]
    frame = pd.DataFrame(X, columns=names)
    model = cls(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(frame, y)
    assert_array_equal(model.feature_names_in_, names)
    from_frame = _output(model, pd.DataFrame(X_val, columns=names))

    renamed = pd.DataFrame(X_val, columns=[f"other{j}" for j in range(X.shape[1])])
    with pytest.raises(ValueError, match="feature names"):
        model.predict(renamed)
    with pytest.warns(UserWarning, match="feature names"):
        from_array = _output(model, X_val)
    assert_array_equal(from_frame, from_array)

    plain = cls(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    assert not hasattr(plain, "feature_names_in_")


@pytest.mark.parametrize("labels", [["cat", "dog"], ["cat", "dog", "emu"], [7, -3], [11, 3, 7]],
                         ids=["str-binary", "str-multiclass", "int-binary", "int-multiclass"])
def test_string_and_integer_class_labels(labels, regression):
    X, _, _, _ = regression
    labels = np.asarray(labels)
    index = np.argmax(X[:, : len(labels)] if len(labels) > 2 else np.column_stack([X[:, 0], -X[:, 0]]), axis=1)
    y = labels[index]
    model = RegularizedMLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0).fit(X, y)
    assert_array_equal(model.classes_, np.sort(labels))
    predicted = model.predict(X)
    assert predicted.dtype.kind == labels.dtype.kind
    assert set(predicted) <= set(labels)
    assert model.score(X, y) > 0.9
    assert model.predict_proba(X).shape == (len(y), len(labels))


# --------------------------------------------------------------------------
# Divergence, logging, interruption
# --------------------------------------------------------------------------

def test_divergence_warns_and_keeps_finite_weights():
    rng = np.random.default_rng(7)
    X = 100 * rng.normal(size=(60, 3))  # unscaled inputs
    y = X @ np.array([5.0, -3.0, 2.0]) + 50
    model = RegularizedMLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e4, max_iter=20,
                                    random_state=0)
    with pytest.warns(ConvergenceWarning, match="learning_rate_init"):
        model.fit(X, y)
    assert all(np.all(np.isfinite(W)) for W in model.coefs_ + model.intercepts_)
    assert np.all(np.isfinite(model.predict(X)))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_verbose_prints_one_line_per_epoch(cls, problem, capsys):
    X, y, _, _ = problem
    model = cls(hidden_layer_sizes=(4,), max_iter=4, early_stopping=True, validation_fraction=0.2,
                n_iter_no_change=50, verbose=True, random_state=0).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == model.n_iter_ == 4
    number = r"([-+]?\d+\.?\d*(?:[eE][-+]?\d+)?)"
    for epoch, line in enumerate(lines, start=1):
        assert int(re.match(r"Iteration (\d+), loss = ", line).group(1)) == epoch
        training_loss = float(re.search(r"(?<!validation )loss\s*[=:]\s*" + number, line).group(1))
        validation_loss = float(re.search(r"validation loss\s*[=:]\s*" + number, line).group(1))
        assert_allclose(training_loss, model.loss_curve_[epoch - 1], rtol=1e-6)
        assert_allclose(validation_loss, model.validation_loss_curve_[epoch - 1], rtol=1e-6)
        assert re.search(r"(elapsed|time)\D*" + number + r"\s*s", line)


@contextlib.contextmanager
def _interrupted_at(event, call):
    """Ctrl-C (a KeyboardInterrupt) at the ``call``-th training ``event`` (``skreg._train.events``)."""
    calls = []

    def interrupt(**payload):
        calls.append(None)
        if len(calls) == call:
            raise KeyboardInterrupt

    with events.listening(**{event: interrupt}):
        yield


# 60 rows in batches of 16: four steps per epoch, so step 10 is in the middle of the third epoch.
@pytest.mark.parametrize("where", [("epoch_start", 3), ("step", 10)], ids=["between-epochs", "mid-epoch"])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_keyboard_interrupt_keeps_the_last_complete_epoch(cls, where, problem):
    X, y, _, _ = problem
    params = {"hidden_layer_sizes": (8,), "learning_rate_init": 0.01, "batch_size": 16, "random_state": 0}
    two_epochs = cls(**params, max_iter=2).fit(X, y)
    model = cls(**params, max_iter=50)
    with _interrupted_at(*where), pytest.warns(UserWarning, match="(?i)interrupt"):
        model.fit(X, y)
    assert model.n_iter_ == 2
    _assert_same_weights(model, two_epochs)
    assert np.all(np.isfinite(_output(model, X)))


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_keyboard_interrupt_with_early_stopping_keeps_the_best_epoch(cls, problem):
    X, y, _, _ = problem
    scorer = RecordingScorer()
    model = cls(hidden_layer_sizes=(8,), learning_rate_init=0.3, batch_size=16, max_iter=50, early_stopping=True,
                validation_fraction=0.2, n_iter_no_change=50, scoring=scorer, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with _interrupted_at("epoch_start", 5), pytest.warns(UserWarning, match="(?i)interrupt"):
            model.fit(X, y)
    assert model.n_iter_ == len(model.validation_scores_) == 4
    X_held, y_held, _ = scorer.calls[0]
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert_allclose(-_validation_loss(model, X_held, y_held), model.best_validation_score_, rtol=1e-10)
    assert np.all(np.isfinite(_output(model, X)))


def test_every_batch_of_an_epoch_including_the_last_smaller_one_reuses_its_arrays():
    """70 rows in batches of 32: the two full batches and the last of 6 are gathered into arrays made once
    per size for the whole fit (an array allocated per step costs page faults), and the step buffers
    of the last batch are kept as the full batch's are."""
    X, y = make_classification(n_samples=70, n_features=5, random_state=0)
    addresses = {}

    def record(X, Y, weight, **payload):
        for name, array in (("X", X), ("Y", Y), ("weight", weight)):
            addresses.setdefault((name, array.shape[-2 if name != "weight" else -1]), set()).add(
                array.__array_interface__["data"][0])

    with events.listening(step=record), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        RegularizedMLPClassifier(hidden_layer_sizes=(4,), n_estimators=3, batch_size=32, max_iter=4,
                                 dropout=0.2, random_state=0).fit(X, y)
    assert sorted(addresses) == sorted((name, rows) for name in ("X", "Y", "weight") for rows in (32, 6))
    assert all(len(seen) == 1 for seen in addresses.values()), addresses
    spec = NetworkSpec(ParameterLayout((5, 4, 2)), "relu", "log_loss")
    settings = Regularization.for_members(3, alpha=0.0, l1_share=0.0, l2_share=1.0, dropout=[0.2])
    scratch = StepScratch(Objective(spec, settings, np.full(3, 70.0)), np.zeros((3, spec.layout.n_params)), 32, 5,
                          member_noise(0, range(3)), last_batch_size=6)
    last = scratch.buffers_for(6)
    assert last is scratch.buffers_for(6)
    assert last.activations[0].shape == last.masks[0].shape == (3, 6, 4)
    assert scratch.buffers_for(32).deltas[0].shape == (3, 32, 4) and scratch.buffers_for(7) is None
