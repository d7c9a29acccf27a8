"""Degenerate networks against scikit-learn's own linear models.

With no hidden layer the objective J is exactly a ridge, logistic or lasso
objective (README, "The objective"), so a full-batch fit must land on
scikit-learn's solution: ``Ridge(alpha)``, ``LogisticRegression(C=1/alpha)``
and ``Lasso(alpha=alpha/S)``. A minibatch fit must land there too, because
``alpha`` does not change meaning with ``batch_size``.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor

# L-BFGS-B stops on its relative-reduction test before ``tol`` (its gradient
# test) bites, so the fitted coefficients agree to about 1e-5 relative, not to
# machine precision: compare to 1e-3 of the largest coefficient.
RTOL = 1e-3

LINEAR = {"hidden_layer_sizes": (), "solver": "lbfgs", "tol": 1e-10, "max_iter": 5000, "random_state": 0}


def _assert_coef_close(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * np.abs(expected).max())


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=100, n_features=8, n_informative=3, n_targets=2, noise=5.0, random_state=0)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean(axis=0)) / y.std(axis=0) + 0.5  # a nonzero intercept to find
    sample_weight = np.random.default_rng(0).uniform(0.2, 3.0, X.shape[0])
    return X, y, sample_weight


@pytest.fixture(scope="module")
def classification():
    X, y = make_classification(n_samples=150, n_features=5, n_informative=3, n_redundant=0, n_classes=3,
                               random_state=0)
    sample_weight = np.random.default_rng(1).uniform(0.2, 3.0, X.shape[0])
    return X, y, sample_weight


# --------------------------------------------------------------------------
# L2: ridge and logistic regression
# --------------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_targets", [1, 2], ids=["single_output", "multi_output"])
@pytest.mark.parametrize("alpha", [0.1, 10.0])
def test_l2_regressor_is_ridge(regression, alpha, n_targets, weighted):
    X, y, sample_weight = regression
    y = y[:, 0] if n_targets == 1 else y
    sample_weight = sample_weight if weighted else None
    model = RegularizedMLPRegressor(penalty="l2", alpha=alpha, **LINEAR).fit(X, y, sample_weight=sample_weight)
    ridge = Ridge(alpha=alpha).fit(X, y, sample_weight=sample_weight)
    assert len(model.coefs_) == 1
    assert model.coefs_[0].shape == (X.shape[1], n_targets)
    _assert_coef_close(model.coefs_[0], ridge.coef_.T.reshape(X.shape[1], n_targets))
    _assert_coef_close(model.intercepts_[0], np.atleast_1d(ridge.intercept_))
    _assert_coef_close(model.predict(X), ridge.predict(X))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("alpha", [0.1, 5.0])
def test_l2_binary_classifier_is_logistic_regression(classification, alpha, weighted):
    X, y, sample_weight = classification
    y = np.where(y == 1, "yes", "no")
    sample_weight = sample_weight if weighted else None
    model = RegularizedMLPClassifier(penalty="l2", alpha=alpha, **LINEAR).fit(X, y, sample_weight=sample_weight)
    reference = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10_000).fit(X, y, sample_weight=sample_weight)
    assert_array_equal(model.classes_, reference.classes_)
    assert model.coefs_[0].shape == (X.shape[1], 1)
    _assert_coef_close(model.coefs_[0].ravel(), reference.coef_.ravel())
    _assert_coef_close(model.intercepts_[0], reference.intercept_)
    assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-4)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("alpha", [0.1, 5.0])
def test_l2_multiclass_classifier_is_multinomial_logistic_regression(classification, alpha, weighted):
    X, y, sample_weight = classification
    sample_weight = sample_weight if weighted else None
    model = RegularizedMLPClassifier(penalty="l2", alpha=alpha, **LINEAR).fit(X, y, sample_weight=sample_weight)
    reference = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10_000).fit(X, y, sample_weight=sample_weight)
    n_classes = len(reference.classes_)
    assert model.coefs_[0].shape == (X.shape[1], n_classes)
    _assert_coef_close(model.coefs_[0], reference.coef_.T)
    # The softmax is unchanged by adding a constant to every (unpenalised)
    # intercept, so only their differences are determined.
    intercepts = model.intercepts_[0]
    _assert_coef_close(intercepts - intercepts.mean(), reference.intercept_ - reference.intercept_.mean())
    assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-4)


# --------------------------------------------------------------------------
# L1: the lasso
# --------------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("alpha", [1.0, 5.0])
def test_l1_regressor_is_lasso(regression, alpha, weighted):
    X, y, sample_weight = regression
    y = y[:, 0]
    sample_weight = sample_weight if weighted else None
    model = RegularizedMLPRegressor(penalty="l1", alpha=alpha, **LINEAR).fit(X, y, sample_weight=sample_weight)
    total_weight = X.shape[0] if sample_weight is None else sample_weight.sum()
    lasso = Lasso(alpha=alpha / total_weight, tol=1e-12, max_iter=100_000).fit(X, y, sample_weight=sample_weight)
    coef = model.coefs_[0].ravel()
    _assert_coef_close(coef, lasso.coef_)
    _assert_coef_close(model.intercepts_[0], [lasso.intercept_])
    # The same coefficients are exactly zero, and the problem has both kinds.
    assert_array_equal(coef == 0.0, lasso.coef_ == 0.0)
    assert 0 < np.sum(coef == 0.0) < coef.size


@pytest.mark.parametrize("alpha", [2.0, 8.0])
def test_elasticnet_regressor_is_elasticnet(regression, alpha):
    X, y, _ = regression
    y = y[:, 0]
    l1_ratio = 0.3
    model = RegularizedMLPRegressor(penalty="elasticnet", alpha=alpha, l1_ratio=l1_ratio, **LINEAR).fit(X, y)
    reference = ElasticNet(alpha=alpha / X.shape[0], l1_ratio=l1_ratio, tol=1e-12, max_iter=100_000).fit(X, y)
    coef = model.coefs_[0].ravel()
    _assert_coef_close(coef, reference.coef_)
    _assert_coef_close(model.intercepts_[0], [reference.intercept_])
    assert_array_equal(coef == 0.0, reference.coef_ == 0.0)
    assert np.any(coef == 0.0)


@pytest.fixture(scope="module")
def lasso_problem():
    """Every nonzero lasso coefficient far from zero, so minibatch noise cannot flip a zero."""
    X, y = make_regression(n_samples=128, n_features=8, n_informative=3, noise=5.0, random_state=0)
    X = StandardScaler().fit_transform(X)
    return X, y / y.std() + 0.5


STOCHASTIC = {
    "adam": {"solver": "adam", "learning_rate_init": 0.01},
    "sgd": {"solver": "sgd", "learning_rate_init": 0.01, "momentum": 0.9},
}


@pytest.mark.parametrize("solver", list(STOCHASTIC))
@pytest.mark.parametrize("alpha", [2.0, 8.0])
def test_l1_minibatch_proximal_steps_reach_the_lasso(lasso_problem, alpha, solver):
    """The proximal step's fixed points are the lasso's solution, zeros included, with minibatches."""
    X, y = lasso_problem
    epochs = 150
    model = RegularizedMLPRegressor(hidden_layer_sizes=(), penalty="l1", alpha=alpha, batch_size=32, max_iter=epochs,
                                    tol=0.0, n_iter_no_change=epochs, random_state=0, **STOCHASTIC[solver]).fit(X, y)
    lasso = Lasso(alpha=alpha / X.shape[0], tol=1e-12, max_iter=100_000).fit(X, y)
    assert np.min(np.abs(lasso.coef_[lasso.coef_ != 0])) > 0.1
    coef = model.coefs_[0].ravel()
    assert_allclose(coef, lasso.coef_, atol=0.01)
    assert_allclose(model.intercepts_[0], [lasso.intercept_], atol=0.01)
    assert_array_equal(coef == 0.0, lasso.coef_ == 0.0)
    assert 0 < np.sum(coef == 0.0) < coef.size


# --------------------------------------------------------------------------
# alpha does not change meaning with batch_size
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ridge_problem():
    X, y = make_regression(n_samples=128, n_features=4, n_informative=4, noise=10.0, random_state=1)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    return X, y


ADAM_RUNS = {
    # batch_size: (epochs, learning_rate_init); the minibatch run takes 4 steps per epoch.
    32: (200, 0.01),
    128: (500, 0.01),
}


@pytest.mark.parametrize("seed", [0, 1])
def test_adam_minibatch_and_full_batch_reach_the_same_ridge(ridge_problem, seed):
    X, y = ridge_problem
    n = X.shape[0]
    alpha = 32.0
    ridge = Ridge(alpha=alpha).fit(X, y).coef_
    # Had the penalty been divided by the batch size (scikit-learn's MLP), the
    # minibatch fit would solve this ridge instead, far from the one above.
    batch_scaled = Ridge(alpha=alpha * n / 32).fit(X, y).coef_
    assert np.abs(ridge - batch_scaled).max() > 0.1

    coefs = {}
    for batch_size, (epochs, learning_rate) in ADAM_RUNS.items():
        model = RegularizedMLPRegressor(
            hidden_layer_sizes=(), solver="adam", penalty="l2", alpha=alpha, batch_size=batch_size,
            learning_rate_init=learning_rate, max_iter=epochs, tol=0.0, n_iter_no_change=epochs,
            random_state=seed,
        ).fit(X, y)
        assert model.n_iter_ == epochs
        coefs[batch_size] = model.coefs_[0].ravel()
        assert_allclose(coefs[batch_size], ridge, atol=0.01)
    assert_allclose(coefs[32], coefs[n], atol=0.02)


# --------------------------------------------------------------------------
# L1 selects inputs: exact zeros in the first layer
# --------------------------------------------------------------------------

N_INFORMATIVE = 3


@pytest.fixture(scope="module")
def sparse_problem():
    # shuffle=False keeps the informative features in the first columns.
    X, y = make_regression(n_samples=150, n_features=30, n_informative=N_INFORMATIVE, noise=5.0, shuffle=False,
                           random_state=0)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    return X, y


SPARSE_SOLVERS = {
    "lbfgs": {"solver": "lbfgs", "max_iter": 500},
    "adam": {"solver": "adam", "max_iter": 150, "learning_rate_init": 0.01, "batch_size": 32},
}


@pytest.mark.parametrize("solver", list(SPARSE_SOLVERS))
def test_l1_zeroes_irrelevant_inputs(sparse_problem, solver):
    X, y = sparse_problem
    alphas = [1.0, 4.0, 16.0]
    zero_share, irrelevant_zero_share, informative_zero_share, scores = [], [], [], []
    for alpha in alphas:
        model = RegularizedMLPRegressor(hidden_layer_sizes=(4,), activation="tanh", penalty="l1", alpha=alpha,
                                        random_state=0, **SPARSE_SOLVERS[solver]).fit(X, y)
        W = model.coefs_[0]
        zero_share.append(np.mean(W == 0.0))
        irrelevant_zero_share.append(np.mean(W[N_INFORMATIVE:] == 0.0))
        informative_zero_share.append(np.mean(W[:N_INFORMATIVE] == 0.0))
        scores.append(model.score(X, y))
    # Most first-layer weights are exactly zero, and more of them as alpha grows.
    assert min(zero_share) > 0.5
    assert all(a <= b for a, b in zip(zero_share, zero_share[1:], strict=False))
    assert zero_share[-1] > zero_share[0]
    # The zeros fall on the irrelevant inputs first, and the mildest penalty
    # still fits well. (The strongest may leave the all-zero network, a
    # stationary point of any L1-penalised net with a hidden layer.)
    assert all(a >= b for a, b in zip(irrelevant_zero_share, informative_zero_share, strict=True))
    assert irrelevant_zero_share[0] > informative_zero_share[0]
    assert scores[0] > 0.9


@pytest.mark.parametrize("solver", list(SPARSE_SOLVERS))
def test_l2_leaves_no_exact_zeros(sparse_problem, solver):
    """The zeros above come from the L1 penalty, not from the data or the network."""
    X, y = sparse_problem
    model = RegularizedMLPRegressor(hidden_layer_sizes=(4,), activation="tanh", penalty="l2", alpha=4.0,
                                    random_state=0, **SPARSE_SOLVERS[solver]).fit(X, y)
    assert not np.any(model.coefs_[0] == 0.0)
