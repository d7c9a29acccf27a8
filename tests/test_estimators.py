"""The public estimators: fitted state, documentation, shapes, randomness, errors, pipelines."""

import pickle
import re

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit, softmax
from sklearn.datasets import load_breast_cancer, make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor

ESTIMATORS = [RegularizedMLPClassifier, RegularizedMLPRegressor]
SMALL = {"hidden_layer_sizes": (5,), "max_iter": 20, "random_state": 0}
L1_RATIO = 0.3


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data():
    """Features and every kind of target, on the same 60 rows."""
    X, y_multiclass = make_classification(n_samples=60, n_features=4, n_informative=3, n_redundant=0, n_classes=3,
                                          random_state=0)
    X = StandardScaler().fit_transform(X)
    rng = np.random.default_rng(0)
    _, y_regression = make_regression(n_samples=60, n_features=4, n_targets=2, random_state=0)
    y_regression = (y_regression - y_regression.mean(axis=0)) / y_regression.std(axis=0)
    return {
        "X": X,
        "sample_weight": rng.uniform(0.2, 3.0, X.shape[0]),
        "binary": np.where(y_multiclass == 1, "yes", "no"),
        "multiclass": y_multiclass,
        "multilabel": rng.integers(0, 2, (X.shape[0], 3)),
        "regression": y_regression[:, 0],
        "multi_output": y_regression,
        "poisson": rng.poisson(np.exp(0.5 * X[:, 0])).astype(float),
    }


def _estimator_for(target, **params):
    if target in ("regression", "multi_output"):
        return RegularizedMLPRegressor(**params)
    if target == "poisson":
        return RegularizedMLPRegressor(loss="poisson", **params)
    return RegularizedMLPClassifier(**params)


def _data_for(cls, data):
    target = "multiclass" if cls is RegularizedMLPClassifier else "regression"
    return data["X"], data[target]


# --------------------------------------------------------------------------
# loss_ is the objective J at the fitted weights
# --------------------------------------------------------------------------

HIDDEN_ACTIVATION = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}


def _output(coefs, intercepts, activation, X):
    A = X
    for W, b in zip(coefs[:-1], intercepts[:-1], strict=True):
        A = HIDDEN_ACTIVATION[activation](A @ W + b)
    return A @ coefs[-1] + intercepts[-1]


def _per_sample_loss(target, model, y, Z):
    """Each row's loss from the output layer's pre-activation ``Z``."""
    if target in ("regression", "multi_output"):
        Y = y.reshape(len(y), -1)
        return 0.5 * ((Y - Z) ** 2).sum(axis=1)
    if target == "poisson":
        P = np.exp(Z[:, 0])
        y_log_y = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0)
        return P - y * np.log(P) + y_log_y - y
    if target == "binary":
        p = expit(Z[:, 0])
        positive = y == model.classes_[1]
        return -np.where(positive, np.log(p), np.log(1 - p))
    if target == "multilabel":
        P = expit(Z)
        return -(y * np.log(P) + (1 - y) * np.log(1 - P)).sum(axis=1)
    P = softmax(Z, axis=1)
    column = np.searchsorted(model.classes_, y)
    return -np.log(P[np.arange(len(y)), column])


def _omega(coefs, penalty):
    l1 = sum(np.abs(W).sum() for W in coefs)
    l2 = sum(0.5 * (W**2).sum() for W in coefs)
    return {None: 0.0, "l2": l2, "l1": l1, "elasticnet": L1_RATIO * l1 + (1 - L1_RATIO) * l2}[penalty]


def _objective(model, target, X, y, sample_weight, coefs, intercepts):
    Z = _output(coefs, intercepts, model.activation, X)
    S = sample_weight.sum()
    data_term = np.sum(sample_weight * _per_sample_loss(target, model, y, Z)) / S
    return data_term + model.alpha / S * _omega(coefs, model.penalty)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("penalty", [None, "l2", "l1", "elasticnet"])
@pytest.mark.parametrize("target", ["regression", "multi_output", "poisson", "binary", "multiclass", "multilabel"])
def test_loss_is_the_objective(data, target, penalty, solver):
    X, y, sample_weight = data["X"], data[target], data["sample_weight"]
    model = _estimator_for(target, hidden_layer_sizes=(6, 4), activation="tanh", solver=solver, penalty=penalty,
                           alpha=2.0, l1_ratio=L1_RATIO, max_iter=15, random_state=0)
    model.fit(X, y, sample_weight=sample_weight)
    expected = _objective(model, target, X, y, sample_weight, model.coefs_, model.intercepts_)
    assert_allclose(model.loss_, expected, rtol=1e-10)


def test_loss_of_an_ensemble_is_the_mean_objective(data):
    X, y, sample_weight = data["X"], data["regression"], data["sample_weight"]
    model = RegularizedMLPRegressor(hidden_layer_sizes=(4,), penalty="l2", alpha=2.0, n_estimators=3, max_iter=10,
                                    random_state=0).fit(X, y, sample_weight=sample_weight)
    objectives = [
        _objective(model, "regression", X, y, sample_weight, [W[k] for W in model.coefs_],
                   [b[k] for b in model.intercepts_])
        for k in range(3)
    ]
    assert len(set(objectives)) == 3
    assert_allclose(model.loss_, np.mean(objectives), rtol=1e-10)


# --------------------------------------------------------------------------
# The documented attributes are the fitted ones
# --------------------------------------------------------------------------

def _documented_attributes(cls):
    """Names of the 'name : type' entries of the docstring's Attributes section."""
    match = re.search(r"\n[ \t]*Attributes\n[ \t]*-+\n(.*?)(?:\n[ \t]*\w[\w ]*\n[ \t]*-+\n|\Z)", cls.__doc__, re.S)
    assert match, f"{cls.__name__} has no Attributes section"
    names = re.findall(r"^ {4}(\w+)\s*:", match.group(1), re.M)
    assert len(names) == len(set(names)), f"{cls.__name__} documents an attribute twice"
    return set(names)


def _public_fitted_attributes(model):
    return {name for name in vars(model) if name.endswith("_") and not name.startswith("_")}


def _attribute_configurations(cls):
    """Fits that together set every optional attribute."""
    configurations = [
        {},
        {"early_stopping": True, "validation_fraction": 0.2},
        {"solver": "lbfgs"},
        {"n_estimators": 2, "bootstrap": True},
    ]
    if "oob_score" in cls().get_params():
        # Half-size bags: every row is out of some member's bag.
        configurations.append({"n_estimators": 8, "bootstrap": True, "max_samples": 0.5, "oob_score": True})
    return configurations


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_documented_attributes_are_the_fitted_attributes(cls, data):
    X, y = _data_for(cls, data)
    frame = pd.DataFrame(X, columns=[f"feature_{j}" for j in range(X.shape[1])])
    documented = _documented_attributes(cls)
    seen = set()
    for params in _attribute_configurations(cls):
        model = cls(**{**SMALL, **params}).fit(frame, y)
        fitted = _public_fitted_attributes(model)
        assert fitted <= documented, f"{params}: fitted but not documented: {sorted(fitted - documented)}"
        seen |= fitted
    assert documented <= seen, f"documented but never fitted: {sorted(documented - seen)}"


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_no_public_fitted_attribute_before_fit(cls):
    assert not _public_fitted_attributes(cls())


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------

HIDDEN = (5, 4)

SHAPES = {
    # target: (n_outputs_, out_activation_)
    "binary": (1, "logistic"),
    "multiclass": (3, "softmax"),
    "multilabel": (3, "logistic"),
    "regression": (1, "identity"),
    "multi_output": (2, "identity"),
    "poisson": (1, "exp"),
}


def _check_layer_shapes(model, n_features, n_outputs, members=()):
    units = (n_features, *HIDDEN, n_outputs)
    assert model.n_layers_ == len(units)
    assert model.n_outputs_ == n_outputs
    assert model.n_features_in_ == n_features
    assert [W.shape for W in model.coefs_] == [(*members, a, b) for a, b in zip(units[:-1], units[1:], strict=True)]
    assert [b.shape for b in model.intercepts_] == [(*members, b) for b in units[1:]]


@pytest.mark.parametrize("n_estimators", [1, 3], ids=["single_network", "ensemble"])
@pytest.mark.parametrize("target", list(SHAPES))
def test_fitted_attribute_shapes(data, target, n_estimators):
    X, y = data["X"], data[target]
    model = _estimator_for(target, hidden_layer_sizes=HIDDEN, max_iter=5, n_estimators=n_estimators,
                           random_state=0).fit(X, y)
    n_outputs, out_activation = SHAPES[target]
    _check_layer_shapes(model, X.shape[1], n_outputs, members=() if n_estimators == 1 else (n_estimators,))
    assert model.out_activation_ == out_activation
    assert isinstance(model.n_iter_, int) and model.n_iter_ == 5
    assert len(model.loss_curve_) == model.n_iter_
    assert np.isfinite(model.loss_)
    if isinstance(model, RegularizedMLPClassifier):
        expected_classes = np.arange(3) if target == "multilabel" else np.unique(y)
        assert_array_equal(model.classes_, expected_classes)


@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_classifier_prediction_shapes(data, target):
    X, y = data["X"], data[target]
    model = RegularizedMLPClassifier(**SMALL).fit(X, y)
    n = X.shape[0]
    n_columns = 2 if target == "binary" else 3
    predicted = model.predict(X)
    proba = model.predict_proba(X)
    assert proba.shape == (n, n_columns)
    assert np.all((proba >= 0) & (proba <= 1))
    assert_allclose(model.predict_log_proba(X), np.log(proba), rtol=1e-12)
    if target == "multilabel":
        assert predicted.shape == (n, 3)
        assert_array_equal(predicted, (proba > 0.5).astype(int))
    else:
        assert predicted.shape == (n,)
        assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
        assert_array_equal(predicted, model.classes_[np.argmax(proba, axis=1)])
        assert set(predicted) <= set(model.classes_)
    score = model.score(X, y)
    assert isinstance(score, float) and 0.0 <= score <= 1.0


@pytest.mark.parametrize("target", ["regression", "multi_output", "poisson"])
def test_regressor_prediction_shapes(data, target):
    X, y = data["X"], data[target]
    model = _estimator_for(target, **SMALL).fit(X, y)
    predicted = model.predict(X)
    assert predicted.shape == y.shape
    if target == "poisson":
        assert np.all(predicted > 0)
    assert isinstance(model.score(X, y), float)


# --------------------------------------------------------------------------
# Randomness
# --------------------------------------------------------------------------

RANDOM_CONFIGURATIONS = {
    "adam_dropout": {"dropout": 0.3, "batch_size": 16},
    "sgd_early_stopping": {"solver": "sgd", "early_stopping": True, "learning_rate_init": 0.01},
    "bootstrap_ensemble": {"n_estimators": 3, "bootstrap": True},
    "lbfgs": {"solver": "lbfgs"},
}


def _outputs(model, X):
    if isinstance(model, RegularizedMLPClassifier):
        return model.predict_proba(X)
    return model.predict(X)


@pytest.mark.parametrize("config", list(RANDOM_CONFIGURATIONS))
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_same_random_state_gives_identical_fits(cls, config, data):
    X, y = _data_for(cls, data)
    params = {**SMALL, **RANDOM_CONFIGURATIONS[config]}
    first = _outputs(cls(**params).fit(X, y), X)
    second = _outputs(cls(**params).fit(X, y), X)
    assert_array_equal(first, second)
    other_seed = _outputs(cls(**{**params, "random_state": 1}).fit(X, y), X)
    assert not np.array_equal(first, other_seed)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_random_state_instance_is_reproducible(cls, data):
    X, y = _data_for(cls, data)
    params = {**SMALL, "dropout": 0.2}
    first = _outputs(cls(**{**params, "random_state": np.random.RandomState(3)}).fit(X, y), X)
    second = _outputs(cls(**{**params, "random_state": np.random.RandomState(3)}).fit(X, y), X)
    assert_array_equal(first, second)


# A learning rate so small that one epoch leaves the weights where they were
# initialised (Adam moves each weight by at most about the rate per step).
FROZEN = {"hidden_layer_sizes": (6, 5), "max_iter": 1, "learning_rate_init": 1e-12, "batch_size": 10}

# (baseline, with one more consumer of randomness switched on)
NEW_RANDOM_CONSUMERS = {
    "dropout": ({}, {"dropout": 0.5}),
    "early_stopping": ({}, {"early_stopping": True, "validation_fraction": 0.2}),
    "bootstrap": ({"n_estimators": 2}, {"n_estimators": 2, "bootstrap": True}),
    "no_shuffle": ({}, {"shuffle": False}),
}


@pytest.mark.parametrize("consumer", list(NEW_RANDOM_CONSUMERS))
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_other_random_consumers_do_not_change_the_initial_weights(cls, consumer, data):
    X, y = _data_for(cls, data)
    baseline, changed = NEW_RANDOM_CONSUMERS[consumer]
    reference = cls(**FROZEN, **baseline, random_state=0).fit(X, y)
    model = cls(**FROZEN, **changed, random_state=0).fit(X, y)
    other_seed = cls(**FROZEN, **baseline, random_state=1).fit(X, y)
    for W_ref, W, W_other in zip(reference.coefs_, model.coefs_, other_seed.coefs_, strict=True):
        assert_allclose(W, W_ref, rtol=0, atol=1e-9)
        assert np.abs(W_other - W_ref).max() > 1e-2  # the tolerance above does tell seeds apart
    for b_ref, b in zip(reference.intercepts_, model.intercepts_, strict=True):
        assert_allclose(b, b_ref, rtol=0, atol=1e-9)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

INVALID_PARAMETERS = [
    ("alpha", -1.0),
    ("solver", "newton"),
    ("activation", "softplus"),
    ("penalty", "l3"),
    ("l1_ratio", 1.5),
    ("dropout", 1.0),
    ("dropout", -0.1),
    ("batch_size", 0),
    ("learning_rate", "cosine"),
    ("learning_rate_init", 0.0),
    ("max_iter", 0),
    ("momentum", 1.5),
    ("validation_fraction", 1.0),
    ("beta_1", 1.0),
    ("n_iter_no_change", 0),
    ("n_estimators", 0),
    ("max_samples", 1.5),
    ("hidden_layer_sizes", 0),
]


@pytest.mark.parametrize(("name", "value"), INVALID_PARAMETERS)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_invalid_parameter(cls, name, value, data):
    X, y = _data_for(cls, data)
    with pytest.raises(InvalidParameterError, match=name):
        cls(**{**SMALL, name: value}).fit(X, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["X", "y"])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_non_finite_input(cls, where, bad, data):
    X, y = _data_for(cls, data)
    X, y = X.copy(), y.astype(float)
    if where == "X":
        X[3, 1] = bad
    else:
        y[3] = bad
    with pytest.raises(ValueError, match=r"NaN|[Ii]nfinity"):
        cls(**SMALL).fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_non_finite_input_at_predict(cls, data):
    X, y = _data_for(cls, data)
    model = cls(**SMALL).fit(X, y)
    X_bad = X[:5].copy()
    X_bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict(X_bad)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_wrong_number_of_features_at_predict(cls, data):
    X, y = _data_for(cls, data)
    model = cls(**SMALL).fit(X, y)
    n_features = X.shape[1]
    with pytest.raises(ValueError, match=rf"\b{n_features} features"):
        model.predict(X[:, :-1])
    with pytest.raises(ValueError, match=rf"\b{n_features} features"):
        model.predict(np.hstack([X, X[:, :1]]))


@pytest.mark.parametrize("dropout", [[0.1], [0.1, 0.2, 0.3]])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_dropout_list_of_wrong_length(cls, dropout, data):
    X, y = _data_for(cls, data)
    with pytest.raises(ValueError, match="dropout"):
        cls(**{**SMALL, "hidden_layer_sizes": (5, 4), "dropout": dropout}).fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_dropout_list_out_of_range(cls, data):
    X, y = _data_for(cls, data)
    with pytest.raises(ValueError, match="dropout"):
        cls(**{**SMALL, "hidden_layer_sizes": (5, 4), "dropout": [0.1, 1.0]}).fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_dropout_list_per_layer_is_accepted(cls, data):
    X, y = _data_for(cls, data)
    model = cls(**{**SMALL, "hidden_layer_sizes": (5, 4), "dropout": [0.0, 0.3]}).fit(X, y)
    assert np.isfinite(model.loss_)


@pytest.mark.parametrize("dropout", [0.2, [0.0, 0.2]])
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_dropout_needs_a_stochastic_solver(cls, dropout, data):
    X, y = _data_for(cls, data)
    with pytest.raises(ValueError, match="dropout"):
        cls(**{**SMALL, "hidden_layer_sizes": (5, 4), "solver": "lbfgs", "dropout": dropout}).fit(X, y)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_unfitted_estimator_raises_not_fitted(cls, data):
    X, _ = _data_for(cls, data)
    methods = ["predict"] + (["predict_proba", "predict_log_proba"] if cls is RegularizedMLPClassifier else [])
    for method in methods:
        with pytest.raises(NotFittedError):
            getattr(cls(), method)(X)


# --------------------------------------------------------------------------
# pandas, pipelines, model selection, pickling
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def frames(data):
    columns = ["age", "dose", "height", "weight"]
    return pd.DataFrame(data["X"] * 3.0 + 10.0, columns=columns), columns


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_grid_search_over_alpha_and_dropout_in_a_pipeline(cls, data, frames):
    X, columns = frames
    _, y = _data_for(cls, data)
    pipeline = Pipeline([("scale", StandardScaler()), ("mlp", cls(**SMALL))]).set_output(transform="pandas")
    grid = {"mlp__alpha": [1e-3, 1.0], "mlp__dropout": [0.0, 0.2]}
    search = GridSearchCV(pipeline, grid, cv=3, error_score="raise").fit(X, y)
    assert search.best_params_["mlp__alpha"] in grid["mlp__alpha"]
    assert search.best_params_["mlp__dropout"] in grid["mlp__dropout"]
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    best = search.best_estimator_
    assert best.named_steps["mlp"].get_params()["dropout"] == search.best_params_["mlp__dropout"]
    assert_array_equal(best.named_steps["mlp"].feature_names_in_, columns)
    assert search.predict(X).shape == y.shape


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_dataframe_input_sets_feature_names(cls, data, frames):
    X, columns = frames
    _, y = _data_for(cls, data)
    model = cls(**SMALL).fit(X, y)
    assert_array_equal(model.feature_names_in_, columns)
    assert model.n_features_in_ == len(columns)
    with pytest.warns(UserWarning, match="feature names"):
        assert_array_equal(model.predict(X), model.predict(X.to_numpy()))
    with pytest.raises(ValueError, match="feature names"):
        model.predict(X.rename(columns={"dose": "dosage"}))
    assert not hasattr(cls(**SMALL).fit(X.to_numpy(), y), "feature_names_in_")


PICKLE_CONFIGURATIONS = {
    "single": {},
    "ensemble": {"n_estimators": 3, "bootstrap": True},
    "lbfgs_l1": {"solver": "lbfgs", "penalty": "l1", "alpha": 0.5},
}


@pytest.mark.parametrize("config", list(PICKLE_CONFIGURATIONS))
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_pickle_round_trip(cls, config, data):
    X, y = _data_for(cls, data)
    model = cls(**{**SMALL, **PICKLE_CONFIGURATIONS[config]}).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.predict(X), model.predict(X))
    if cls is RegularizedMLPClassifier:
        assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    for W_restored, W in zip(restored.coefs_, model.coefs_, strict=True):
        assert_array_equal(W_restored, W)
    assert restored.get_params() == model.get_params()


# --------------------------------------------------------------------------
# Behaviours of scikit-learn's MLP that code written for it relies on
# --------------------------------------------------------------------------

def test_partial_fit_learns_multilabel_targets(data):
    X, Y = data["X"], data["multilabel"]
    model = RegularizedMLPClassifier(**SMALL)
    model.partial_fit(X, Y, classes=[0, 1, 2])
    model.partial_fit(X, Y)
    assert_array_equal(model.classes_, [0, 1, 2])
    assert model.predict(X).shape == Y.shape
    assert model.predict_proba(X).shape == Y.shape


def test_partial_fit_refuses_other_classes_than_the_first_call(data):
    X, y = data["X"], data["multiclass"]
    model = RegularizedMLPClassifier(**SMALL).fit(X, y)
    model.partial_fit(X, y, classes=[2, 0, 1])  # the same classes, in any order
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] is not the same as the classes the model was fitted"):
        model.partial_fit(X, y, classes=[0, 1])


@pytest.mark.parametrize("params", [{"n_iter_no_change": np.inf}, {"validation_fraction": 0.0},
                                    {"solver": "sgd", "momentum": 1.0}])
def test_accepts_the_parameter_values_scikit_learn_accepts(data, params):
    model = RegularizedMLPRegressor(**{**SMALL, "max_iter": 5, "learning_rate_init": 1e-4}, **params)
    with pytest.warns(Warning, match="Maximum iterations"):
        model.fit(data["X"], data["regression"])
    assert model.n_iter_ == 5


def test_infinite_patience_never_stops_early(data):
    params = {**SMALL, "max_iter": 60, "tol": 10.0, "n_iter_no_change": np.inf}
    with pytest.warns(Warning, match="Maximum iterations"):
        model = RegularizedMLPRegressor(**params).fit(data["X"], data["regression"])
    assert model.n_iter_ == 60
    assert RegularizedMLPRegressor(**{**params, "n_iter_no_change": 2}).fit(data["X"], data["regression"]).n_iter_ < 60


def test_lbfgs_that_fails_says_so():
    # Unscaled features (up to ~4000) make the first line search fail: SciPy's status 2, ABNORMAL.
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.warns(Warning, match=r"L-BFGS failed to converge for 1 of 1 network\(s\) \(status=2"):
        model = RegularizedMLPClassifier(solver="lbfgs", hidden_layer_sizes=(10,), random_state=1).fit(X, y)
    assert model.n_iter_ < 5


def test_lbfgs_warm_start_counts_its_iterations_on(data):
    model = RegularizedMLPRegressor(**{**SMALL, "solver": "lbfgs", "max_iter": 10}, warm_start=True)
    with pytest.warns(Warning, match="Maximum iterations"):
        model.fit(data["X"], data["regression"])
    with pytest.warns(Warning, match="Maximum iterations"):
        model.fit(data["X"], data["regression"])
    # n_iter_ counts the last call's iterations (as in scikit-learn), the curve all of them.
    assert model.n_iter_ == 10 and len(model.loss_curve_) == 20


@pytest.mark.parametrize("early_stopping", [False, True])
def test_ensemble_members_have_the_fitted_attributes_of_a_single_network(data, early_stopping):
    X, y = data["X"], data["regression"]
    params = {**SMALL, "early_stopping": early_stopping, "validation_fraction": 0.3}
    ensemble = RegularizedMLPRegressor(**params, n_estimators=3).fit(X, y)
    single = RegularizedMLPRegressor(**params).fit(X, y)
    for member in ensemble.estimators_:
        for name in ("loss_", "t_", "best_loss_", "validation_scores_", "best_validation_score_", "n_iter_"):
            assert (getattr(member, name) is None) == (getattr(single, name) is None), name
    assert_allclose(np.mean([member.loss_ for member in ensemble.estimators_]), ensemble.loss_, rtol=1e-12)
    assert ensemble.estimators_[0].t_ == ensemble.t_
    if not early_stopping:
        assert_allclose(np.mean([member.best_loss_ for member in ensemble.estimators_]), ensemble.best_loss_,
                        rtol=1e-12)


def test_a_plain_callable_scores_early_stopping(data):
    X, y = data["X"], data["multiclass"]

    def accuracy(estimator, X, y):
        return float(np.mean(estimator.predict(X) == y))

    model = RegularizedMLPClassifier(**SMALL, early_stopping=True, validation_fraction=0.3, scoring=accuracy)
    model.fit(X, y)
    assert all(0 <= score <= 1 for score in model.validation_scores_)
    with pytest.raises(TypeError, match="must accept sample_weight"):
        model.fit(X, y, sample_weight=data["sample_weight"])
