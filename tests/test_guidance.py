"""Results a user could misread: the warnings and the documented meaning of the uncertainty outputs."""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_breast_cancer, make_friedman1
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor


@pytest.fixture(scope="module")
def cancer_split():
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, random_state=0)


def _no_scale_warning(record) -> bool:
    return not any("another scale" in str(warning.message) for warning in record)


# --------------------------------------------------------------------------
# An explicit validation set inside a Pipeline
# --------------------------------------------------------------------------

def test_an_untransformed_validation_set_in_a_pipeline_warns(cancer_split):
    X_train, X_val, y_train, y_val = cancer_split
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", RegularizedMLPClassifier((8,), max_iter=5, random_state=0))])
    with pytest.warns(UserWarning, match=r"X_val looks like it is on another scale than X.*transform_input"):
        pipe.fit(X_train, y_train, mlp__X_val=X_val, mlp__y_val=y_val)


def test_the_routed_validation_set_is_transformed_and_stops_well(cancer_split):
    """The documented route: X_val goes through the scaler, no warning, and early stopping watches a sane score."""
    X_train, X_val, y_train, y_val = cancer_split
    params = {"hidden_layer_sizes": (16,), "early_stopping": True, "scoring": "accuracy", "random_state": 0}
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        mlp = RegularizedMLPClassifier(**params).set_fit_request(X_val=True, y_val=True)
        routed = Pipeline([("scale", StandardScaler()), ("mlp", mlp)], transform_input=["X_val"])
        routed.fit(X_train, y_train, X_val=X_val, y_val=y_val)
    assert _no_scale_warning(record)
    assert routed[-1].best_validation_score_ > 0.9
    assert routed.score(X_val, y_val) == pytest.approx(routed[-1].best_validation_score_)


@pytest.mark.parametrize("n_val", [3, 50])
def test_a_validation_set_drawn_like_the_training_rows_does_not_warn(n_val):
    """Heavy tails, a constant column, sparse-looking columns and a tiny X_val: no false alarm."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.standard_t(2, 400), np.ones(400), rng.binomial(1, 0.05, 400), rng.lognormal(0, 1, 400)])
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        RegularizedMLPClassifier((4,), max_iter=2, random_state=0).fit(X[:-n_val], y[:-n_val], X_val=X[-n_val:],
                                                                         y_val=y[-n_val:])
    assert _no_scale_warning(record)


def test_a_sparse_validation_set_on_another_scale_warns():
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = X[:, 0] + rng.normal(size=100)
    with pytest.warns(UserWarning, match="another scale"):
        RegularizedMLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(
            sparse.csr_matrix(X), y, X_val=sparse.csr_matrix(1000 * X[:20]), y_val=y[:20])


# --------------------------------------------------------------------------
# The spread of one network, and what a percentile band is
# --------------------------------------------------------------------------

def test_return_std_of_a_single_network_warns_that_it_has_no_spread():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = X[:, 0]
    model = RegularizedMLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match="single network.*std is 0"):
        _, std = model.predict(X, return_std=True)
    np.testing.assert_array_equal(std, 0.0)
    ensemble = RegularizedMLPRegressor(hidden_layer_sizes=(4,), max_iter=5, n_estimators=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, std = ensemble.predict(X, return_std=True)
    assert np.all(std > 0)


def test_the_percentile_band_is_the_members_spread_not_a_band_for_f():
    """As documented: the band carries none of the model's bias, so it misses the true f(x) far more than nominal.

    An underfitting ensemble on friedman1: its 90% percentile band holds f(x) at well under half the new
    points, while jackknife+ab still covers new observations at about the nominal rate.
    """
    n = 400
    X, y = make_friedman1(n_samples=n + 2000, noise=1.0, random_state=0)
    f = 10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3] + 5 * X[:, 4]
    model = RegularizedMLPRegressor(hidden_layer_sizes=(16,), n_estimators=10, bootstrap=True,
                                    learning_rate_init=0.01, max_iter=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[:n], y[:n])
        band = model.predict_interval(X[n:], 0.9, method="percentile")
        interval = model.predict_interval(X[n:], 0.9)
    f_new, y_new = f[n:], y[n:]
    assert np.mean((band[:, 0] <= f_new) & (f_new <= band[:, 1])) < 0.5
    assert np.mean((interval[:, 0] <= y_new) & (y_new <= interval[:, 1])) > 0.85
