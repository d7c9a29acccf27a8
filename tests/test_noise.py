"""The step's noise beyond Bernoulli dropout: what each kind does in expectation, its gradient, its streams.

The expectations are the point of these regularizers (see ``skreg._noise``):
input noise on a linear model is ridge, weight noise there leaves the
least-squares minimiser, label smoothing caps the confidence, and label noise
at rate q has the expected target of smoothing at q.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor
from skreg._network import ParameterLayout, dropout_masks
from skreg._noise import perturb_labels, smoothed_targets
from skreg._objective import NetworkSpec, Objective, Regularization, StepScratch
from skreg._random import member_noise

LONG_FULL_BATCH = dict(hidden_layer_sizes=(), solver="sgd", alpha=0.0, momentum=0.0, batch_size=200,
                       learning_rate_init=0.005, max_iter=3000, tol=0.0, n_iter_no_change=10**6, random_state=0)


@pytest.fixture(scope="module")
def linear_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([2.0, -1.0, 0.5]) + 1.0 + rng.normal(scale=0.3, size=200)
    return X, y


def _fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


# --------------------------------------------------------------------------
# In expectation
# --------------------------------------------------------------------------

def test_input_noise_on_a_linear_model_is_ridge(linear_problem):
    """E (y - (x + e) w)^2 = (y - x w)^2 + sigma^2 |w|^2: Ridge(alpha = n sigma^2), far from least squares."""
    X, y = linear_problem
    sigma = 0.6
    model = _fit_quietly(RegularizedMLPRegressor(input_noise=sigma, **LONG_FULL_BATCH), X, y)
    ridge = Ridge(alpha=len(y) * sigma**2).fit(X, y).coef_
    ols = LinearRegression().fit(X, y).coef_
    w = model.coefs_[0].ravel()
    assert np.linalg.norm(w - ridge) < 0.15 * np.linalg.norm(ridge - ols)


def test_weight_noise_on_a_linear_model_leaves_the_least_squares_minimiser(linear_problem):
    X, y = linear_problem
    sigma = 0.6
    model = _fit_quietly(RegularizedMLPRegressor(weight_noise=sigma, **LONG_FULL_BATCH), X, y)
    ridge = Ridge(alpha=len(y) * sigma**2).fit(X, y).coef_
    ols = LinearRegression().fit(X, y).coef_
    w = model.coefs_[0].ravel()
    assert np.linalg.norm(w - ols) < 0.15 * np.linalg.norm(ridge - ols)


@pytest.fixture(scope="module")
def separable():
    X, y = make_blobs(n_samples=300, centers=[[-4, 0], [4, 0], [0, 6]], cluster_std=0.5, random_state=0)
    return X, y


@pytest.mark.parametrize("n_classes", [2, 3])
def test_label_smoothing_caps_the_confidence(separable, n_classes):
    X, y = separable
    keep = y < n_classes
    X, y = X[keep], y[keep]
    eps = 0.2
    cap = 1 - eps + eps / n_classes
    params = dict(hidden_layer_sizes=(), solver="lbfgs", alpha=0.0, max_iter=2000, tol=1e-10)
    smooth = _fit_quietly(RegularizedMLPClassifier(label_smoothing=eps, **params), X, y)
    plain = _fit_quietly(RegularizedMLPClassifier(**params), X, y)
    assert abs(smooth.predict_proba(X).max(axis=1).mean() - cap) < 0.02
    assert plain.predict_proba(X).max(axis=1).mean() > 0.99
    assert smooth.score(X, y) == 1.0


def test_label_noise_has_the_expected_target_of_smoothing(separable):
    X, y = separable
    q = 0.3
    params = dict(hidden_layer_sizes=(), alpha=0.0, max_iter=400, learning_rate_init=0.05, batch_size=50, tol=0.0,
                  n_iter_no_change=10**6, random_state=0)
    noisy = _fit_quietly(RegularizedMLPClassifier(label_noise=q, **params), X, y)
    smooth = _fit_quietly(RegularizedMLPClassifier(label_smoothing=q, **params), X, y)
    cap = 1 - q + q / 3
    assert abs(noisy.predict_proba(X).max(axis=1).mean() - cap) < 0.05
    assert abs(smooth.predict_proba(X).max(axis=1).mean() - cap) < 0.02


def test_perturbed_labels_have_the_smoothed_expectation():
    rng = np.random.default_rng(1)
    n, q = 60000, 0.3
    classes = np.eye(4)[rng.integers(0, 4, n)]
    Y = np.stack([classes, classes.copy()])
    perturb_labels(Y, np.array([q, 0.0]), [np.random.default_rng(2), None], np.ones(2, bool), "log_loss")
    assert_array_equal(Y[1], classes)  # a member at rate 0 keeps its labels (and draws nothing)
    assert np.all(Y[0].sum(axis=1) == 1.0)  # still one class per row
    expected = smoothed_targets(classes, np.array([q]), "log_loss")[0]
    changed = Y[0] != classes
    # E[target] = (1 - q) y + q / K: compare the mean target of the rows of each true class.
    for k in range(4):
        rows = classes[:, k] == 1
        assert_allclose(Y[0][rows].mean(axis=0), expected[rows].mean(axis=0), atol=0.01)
    assert abs(changed.any(axis=1).mean() - q * 3 / 4) < 0.01
    binary = (rng.random((n, 2)) < 0.5).astype(float)
    flipped = binary[None].copy()
    perturb_labels(flipped, np.array([q]), [np.random.default_rng(3)], np.ones(1, bool), "binary_log_loss")
    assert abs(np.mean(flipped[0] != binary) - q / 2) < 0.01


def test_gaussian_dropout_masks_have_the_variance_of_inverted_dropout():
    rates = np.array([[0.5], [0.2], [0.0]])
    masks = dropout_masks([(3, 40000, 5)], rates, [np.random.default_rng(k) for k in range(3)], np.float64,
                          gaussian=np.array([True, True, True]))[0]
    for k, rate in enumerate(rates[:, 0]):
        if rate == 0:
            assert_array_equal(masks[k], 1.0)
            continue
        assert abs(masks[k].mean() - 1.0) < 0.01
        assert abs(masks[k].var() - rate / (1 - rate)) < 0.02 * rate / (1 - rate)


# --------------------------------------------------------------------------
# Gradients with the noise draws held fixed
# --------------------------------------------------------------------------

def _problem(loss="squared_error", n_outputs=2, seed=0):
    rng = np.random.default_rng(seed)
    layout = ParameterLayout((3, 5, 4, n_outputs))
    spec = NetworkSpec(layout, "tanh", loss)
    X = rng.normal(size=(2, 9, 3))
    if loss == "squared_error":
        Y = rng.normal(size=(2, 9, n_outputs))
    else:
        Y = np.eye(n_outputs)[rng.integers(0, n_outputs, (2, 9))]
    weight = rng.uniform(0.5, 2.0, (2, 9))
    params = rng.normal(scale=0.5, size=(2, layout.n_params))
    return spec, X, Y, weight, params


def _settings(**noise):
    return Regularization.for_members(2, alpha=0.7, l1_share=0.0, l2_share=1.0, dropout=[[0.3, 0.2], [0.0, 0.4]],
                                      **noise)


def _step_value_and_gradient(objective, params, X, Y, weight):
    """The batch step's data term (+ the L2 penalty at the stored weights) and gradient, noise from fixed seeds."""
    scratch = StepScratch(objective, params, X.shape[1], X.shape[2], member_noise(7, range(2)))
    loss = objective.batch_loss_and_gradient(params, X.copy(), Y.copy(), weight, np.ones(2, bool), scratch)
    return loss + objective.penalty(params), scratch.grads.copy()


@pytest.mark.parametrize("noise", [{"input_noise": 0.4}, {"weight_noise": 0.3}, {"gaussian_dropout": True},
                                   {"input_noise": 0.2, "weight_noise": 0.2, "gaussian_dropout": [True, False]}],
                         ids=["input", "weight", "gaussian_dropout", "all"])
def test_step_gradient_with_the_noise_held_fixed(noise):
    spec, X, Y, weight, params = _problem()
    objective = Objective(spec, _settings(**noise), np.array([12.0, 30.0]))
    _, grads = _step_value_and_gradient(objective, params, X, Y, weight)
    eps = 1e-6
    numeric = np.zeros_like(params)
    for j in range(params.shape[1]):
        shifted = params.copy()
        shifted[:, j] += eps
        plus = _step_value_and_gradient(objective, shifted, X, Y, weight)[0]
        shifted[:, j] -= 2 * eps
        minus = _step_value_and_gradient(objective, shifted, X, Y, weight)[0]
        numeric[:, j] = (plus - minus) / (2 * eps)
    assert_allclose(grads, numeric, rtol=1e-5, atol=1e-8)
    # The noise really was drawn: without it the gradient differs.
    quiet = Objective(spec, _settings(), np.array([12.0, 30.0]))
    assert not np.allclose(_step_value_and_gradient(quiet, params, X, Y, weight)[1], grads)


@pytest.mark.parametrize("loss", ["log_loss", "binary_log_loss"])
def test_label_smoothing_gradient_matches_finite_differences(loss):
    spec, X, Y, weight, params = _problem(loss, n_outputs=3)
    settings = Regularization.for_members(2, alpha=0.0, l1_share=0.0, l2_share=0.0, dropout=[0.0, 0.0],
                                          label_smoothing=[0.2, 0.0])
    objective = Objective(spec, settings, np.array([9.0, 9.0]))
    J, grads = objective.value_and_gradient(params, X, Y, weight)
    eps = 1e-6
    for j in range(params.shape[1]):
        shifted = params.copy()
        shifted[:, j] += eps
        plus = objective.value_and_gradient(shifted, X, Y, weight)[0]
        shifted[:, j] -= 2 * eps
        minus = objective.value_and_gradient(shifted, X, Y, weight)[0]
        assert_allclose(grads[:, j], (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-8)
    plain = Objective(spec, _settings_without_smoothing(), np.array([9.0, 9.0])).value_and_gradient(params, X, Y,
                                                                                                     weight)[0]
    assert J[1] == plain[1] and J[0] != plain[0]  # member 1 does not smooth


def _settings_without_smoothing():
    return Regularization.for_members(2, alpha=0.0, l1_share=0.0, l2_share=0.0, dropout=[0.0, 0.0])


# --------------------------------------------------------------------------
# Estimators: streams, solvers, errors, what loss_ measures
# --------------------------------------------------------------------------

ALL_NOISE = dict(dropout=0.2, dropout_type="gaussian", input_noise=0.1, weight_noise=0.05)


@pytest.mark.parametrize("cls", [RegularizedMLPRegressor, RegularizedMLPClassifier])
def test_member_k_is_the_same_whatever_the_ensemble_size_with_every_noise(cls, linear_problem):
    X, y = linear_problem
    extra = {"label_noise": 0.1, "label_smoothing": 0.1} if cls is RegularizedMLPClassifier else {}
    y = (y > np.median(y)).astype(int) if cls is RegularizedMLPClassifier else y
    params = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0, bootstrap=True, **ALL_NOISE, **extra)
    three = _fit_quietly(cls(n_estimators=3, **params), X, y)
    two = _fit_quietly(cls(n_estimators=2, **params), X, y)
    for W3, W2 in zip(three.estimators_[1].coefs_, two.estimators_[1].coefs_, strict=True):
        assert_array_equal(W3, W2)


def test_turning_one_noise_on_leaves_the_others_draws_alone(linear_problem):
    """Each kind has its own stream: weight noise at a negligible scale leaves dropout's masks as they were."""
    X, y = linear_problem
    params = dict(hidden_layer_sizes=(8,), dropout=0.3, max_iter=3, random_state=0)
    base = _fit_quietly(RegularizedMLPRegressor(**params), X, y)
    tiny = _fit_quietly(RegularizedMLPRegressor(weight_noise=1e-12, **params), X, y)
    assert_allclose(tiny.coefs_[0], base.coefs_[0], rtol=1e-8)


def test_loss_is_the_noise_free_objective(linear_problem):
    X, y = linear_problem
    model = _fit_quietly(RegularizedMLPRegressor(hidden_layer_sizes=(), input_noise=0.5, weight_noise=0.2,
                                                 alpha=0.0, max_iter=20, random_state=0), X, y)
    assert_allclose(model.loss_, 0.5 * np.mean((y - model.predict(X)) ** 2), rtol=1e-10)
    assert_array_equal(model.predict(X), model.predict(X))  # off at prediction time


@pytest.mark.parametrize("name, value", [("input_noise", 0.1), ("weight_noise", 0.1), ("label_noise", 0.1)])
def test_stochastic_noise_needs_a_stochastic_solver(name, value, separable):
    X, y = separable
    with pytest.raises(ValueError, match=f"{name} > 0 needs a stochastic solver"):
        RegularizedMLPClassifier(solver="lbfgs", **{name: value}).fit(X, y)


def test_label_smoothing_works_with_lbfgs_and_label_noise_not_on_the_regressor(separable):
    X, y = separable
    RegularizedMLPClassifier(hidden_layer_sizes=(), solver="lbfgs", label_smoothing=0.1).fit(X, y)
    assert "label_noise" not in RegularizedMLPRegressor().get_params()


@pytest.mark.parametrize("name, value", [("input_noise", -0.1), ("weight_noise", -1.0), ("dropout_type", "uniform"),
                                         ("label_smoothing", 1.0), ("label_noise", -0.2)])
def test_invalid_noise_values_name_the_parameter(name, value, separable):
    X, y = separable
    with pytest.raises(InvalidParameterError, match=name):
        RegularizedMLPClassifier(**{name: value}).fit(X, y)


def test_input_noise_needs_dense_inputs(separable):
    X, y = separable
    with pytest.raises(ValueError, match="input_noise=0.1 needs dense X"):
        RegularizedMLPClassifier(input_noise=0.1).fit(sp.csr_matrix(X), y)


def test_noise_with_partial_fit_warm_start_early_stopping_and_grid_search(separable):
    X, y = separable
    model = RegularizedMLPClassifier(hidden_layer_sizes=(8,), input_noise=0.2, label_noise=0.1, random_state=0)
    for _ in range(3):
        model.partial_fit(X, y, classes=[0, 1, 2])
    assert len(model.loss_curve_) == 3
    warm = RegularizedMLPClassifier(hidden_layer_sizes=(8,), weight_noise=0.1, warm_start=True, max_iter=5,
                                    early_stopping=True, random_state=0)
    _fit_quietly(warm, X, y)
    _fit_quietly(warm, X, y)
    assert np.isfinite(warm.loss_)
    search = GridSearchCV(RegularizedMLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0),
                          {"input_noise": [0.0, 0.5], "dropout_type": ["bernoulli", "gaussian"]}, cv=2)
    _fit_quietly(search, X, y)
    assert set(search.best_params_) == {"input_noise", "dropout_type"}


def test_mc_dropout_refuses_a_network_trained_with_gaussian_dropout(linear_problem):
    X, y = linear_problem
    model = _fit_quietly(RegularizedMLPRegressor(hidden_layer_sizes=(8,), dropout=0.2, dropout_type="gaussian",
                                                 max_iter=3, random_state=0), X, y)
    model.set_params(mc_dropout=5)
    with pytest.raises(ValueError, match="dropout_type='gaussian'"):
        model.predict(X)


def test_loss_with_label_smoothing_is_the_smoothed_cross_entropy(separable):
    X, y = separable
    model = _fit_quietly(RegularizedMLPClassifier(hidden_layer_sizes=(), solver="lbfgs", alpha=0.0, max_iter=50,
                                                  label_smoothing=0.2), X, y)
    targets = 0.8 * np.eye(3)[y] + 0.2 / 3
    expected = np.mean(-np.sum(targets * np.log(model.predict_proba(X)), axis=1))
    assert_allclose(model.loss_, expected, rtol=1e-6)
