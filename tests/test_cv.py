"""RegularizedMLPClassifierCV and RegularizedMLPRegressorCV: the grid as members of one batched fit.

The central claim is held exactly: every (candidate, fold) member *is* the network GridSearchCV fits
on that fold (same rows, batches, S_k, random streams, stopping), so with the same folds each
candidate's mean_test_score equals GridSearchCV's. Both sides run on one BLAS thread in this process,
where every member's arithmetic is fixed (README, "What is bitwise reproducible"): the comparison
depends neither on the CPU (both sides compute on the same one) nor on the load (no timing). A wrong
fold, weight sum, batch size, stream or stopping rule changes the scores, and the test fails.
"""

import pickle
import re
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from joblib import parallel_backend
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_info, threadpool_limits

from skreg import (
    SKOPS_TRUSTED_TYPES,
    RegularizedMLPClassifier,
    RegularizedMLPClassifierCV,
    RegularizedMLPRegressor,
    RegularizedMLPRegressorCV,
)
from skreg._train import events

CV_ESTIMATORS = [RegularizedMLPClassifierCV, RegularizedMLPRegressorCV]
BASE = {RegularizedMLPClassifierCV: RegularizedMLPClassifier, RegularizedMLPRegressorCV: RegularizedMLPRegressor}
SMALL = dict(hidden_layer_sizes=(8,), max_iter=15, learning_rate_init=0.01, random_state=0)


@pytest.fixture(scope="module")
def data():
    """A classification and a regression problem of 241 rows (folds of unequal lengths for cv=3 and 4)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(241, 6))
    signal = X[:, 0] - 0.5 * X[:, 1] ** 2 + 0.3 * X[:, 2]
    return {"X": X, "y_class": np.digitize(signal, np.quantile(signal, [0.33, 0.66])),
            "y_reg": signal + 0.3 * rng.normal(size=241), "weight": rng.uniform(0.5, 2.0, 241)}


def _problem(cls, data):
    return data["X"], data["y_class"] if cls is RegularizedMLPClassifierCV else data["y_reg"]


def _grid_search(cls, params, alphas, dropouts, cv, scoring=None, **fit_params):
    base = BASE[cls](**params)
    return GridSearchCV(base, {"alpha": alphas, "dropout": dropouts}, cv=cv, scoring=scoring)


# --------------------------------------------------------------------------
# The same answer as GridSearchCV
# --------------------------------------------------------------------------

AGREEMENT_CASES = {
    # Mixed dropout rates in one batch, folds of 80/81 rows (two batched fits), the stopping rule firing.
    "plain": (dict(n_iter_no_change=2, tol=1e-2, max_iter=40), 3, None),
    "early_stopping": (dict(early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, max_iter=40), 4, None),
    "early_stopping_scored": (dict(early_stopping=True, validation_fraction=0.2, scoring="accuracy",
                                   n_iter_no_change=3, max_iter=30), 3, "class_only"),
    "sgd_l1_sample_weight": (dict(solver="sgd", penalty="l1", learning_rate_init=0.05), 3, "weighted"),
    "per_layer_dropout": (dict(hidden_layer_sizes=(8, 6), batch_size=32), 3, "per_layer"),
    # Every kind of noise of the step (the classifier's labels too), each member drawing it from its own streams.
    "noise": (dict(dropout_type="gaussian", input_noise=0.2, weight_noise=0.02), 3, "noise"),
    # Patience longer than the fit: the members' noise-free pass is skipped, their networks unchanged.
    "stopping_cannot_act": (dict(n_iter_no_change=15, tol=1e-2), 3, None),
}


@pytest.mark.parametrize("name", AGREEMENT_CASES)
@pytest.mark.parametrize("cls", CV_ESTIMATORS)
def test_each_candidate_scores_exactly_as_in_grid_search(cls, name, data):
    settings, n_folds, variant = AGREEMENT_CASES[name]
    if variant == "class_only" and cls is RegularizedMLPRegressorCV:
        settings = {**settings, "scoring": "r2"}
    if variant == "noise" and cls is RegularizedMLPClassifierCV:
        settings = {**settings, "label_smoothing": 0.1, "label_noise": 0.1}
    X, y = _problem(cls, data)
    alphas = [0.01, 3.0]
    dropouts = [[0.0, 0.0], [0.4, 0.1]] if variant == "per_layer" else [0.0, 0.3]
    params = {**SMALL, **settings}
    folds = list((StratifiedKFold if cls is RegularizedMLPClassifierCV else KFold)(n_folds).split(X, y))
    fit_params = {"sample_weight": data["weight"]} if variant == "weighted" else {}
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = cls(**params, alphas=alphas, dropouts=dropouts, cv=folds).fit(X, y, **fit_params)
        theirs = _grid_search(cls, params, alphas, dropouts, folds, scoring=params.get("scoring")).fit(X, y,
                                                                                                      **fit_params)
    for fold in range(n_folds):
        assert_array_equal(ours.cv_results_[f"split{fold}_test_score"], theirs.cv_results_[f"split{fold}_test_score"])
    assert_array_equal(ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"])
    assert_array_equal(ours.cv_results_["rank_test_score"], theirs.cv_results_["rank_test_score"])
    assert ours.best_params_ == theirs.best_params_
    # The refit is GridSearchCV's best_estimator_, to the last bit.
    for W_ours, W_theirs in zip(ours.coefs_, theirs.best_estimator_.coefs_, strict=True):
        assert_array_equal(W_ours, W_theirs)
    assert_array_equal(ours.predict(X), theirs.predict(X))
    # The grid really discriminates: the candidates are not copies of one fit.
    assert len(set(ours.cv_results_["mean_test_score"])) > 1


@pytest.mark.parametrize("cls", CV_ESTIMATORS)
def test_a_float32_search_trains_the_networks_of_float32_input_and_refits_in_float64(cls, data):
    """search_dtype='float32' scores every candidate exactly as the search of float32 input does, and as
    GridSearchCV on float32 input (the same networks, on one float32 copy of X; the held-out scores weighted
    by the float64 sample weights), sparse X too; the refit is the float64 one of the default search."""
    X, y = _problem(cls, data)
    folds = list((StratifiedKFold if cls is RegularizedMLPClassifierCV else KFold)(3).split(X, y))
    # Scores that vary continuously (the classifier's log loss, through its scorer), so float32 shows in them.
    scoring = "neg_log_loss" if cls is RegularizedMLPClassifierCV else None
    grid = dict(alphas=[0.01, 3.0], dropouts=[0.0, 0.3], cv=folds, scoring=scoring)
    weight = {"sample_weight": data["weight"]}  # not float32 numbers: scored in float32, they would differ
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for X_in in (sp.csr_matrix(X), X):
            fast = cls(**SMALL, **grid, search_dtype="float32").fit(X_in, y, **weight)
            float32 = cls(**SMALL, **grid, refit=False).fit(X_in.astype(np.float32), y, **weight)
            assert_array_equal(fast.cv_results_["mean_test_score"], float32.cv_results_["mean_test_score"])
        theirs = _grid_search(cls, SMALL, [0.01, 3.0], [0.0, 0.3], folds, scoring).fit(X.astype(np.float32), y,
                                                                                       **weight)
        assert_array_equal(fast.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"])
        default = cls(**SMALL, **grid).fit(X, y, **weight)  # compared with the last, dense, float32 search
    assert fast.coefs_[0].dtype == np.float64
    assert not np.array_equal(fast.cv_results_["mean_test_score"], default.cv_results_["mean_test_score"])
    if fast.best_params_ == default.best_params_:
        for ours, theirs in zip(fast.coefs_, default.coefs_, strict=True):
            assert_array_equal(ours, theirs)


def test_a_float32_search_refuses_x_beyond_float32s_range(data):
    """A float64 X that float32 cannot hold is refused naming search_dtype, not turned into infinities."""
    X = data["X"].copy()
    X[5, 3] = 1e39
    with pytest.raises(ValueError, match="search_dtype='float32' cannot represent"):
        RegularizedMLPRegressorCV(**SMALL, alphas=[0.1], search_dtype="float32").fit(X, data["y_reg"])


def test_a_float32_search_scores_as_the_float64_one_within_seed_noise():
    """The float32 networks differ from the float64 ones as another seed's would: each candidate's mean score
    stays within a few seeds' spread of its float64 score, and the choice is as good as the float64 one's."""
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    settings = dict(hidden_layer_sizes=(16,), max_iter=20, alphas=[0.1, 10.0], dropouts=[0.0, 0.3],
                    cv=StratifiedKFold(3), refit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        seeds = np.array([RegularizedMLPClassifierCV(**settings, random_state=seed).fit(X, y)
                          .cv_results_["mean_test_score"] for seed in range(3)])
        fast = RegularizedMLPClassifierCV(**settings, random_state=0, search_dtype="float32").fit(X, y)
    spread = seeds.max(axis=0) - seeds.min(axis=0)
    assert np.all(np.abs(fast.cv_results_["mean_test_score"] - seeds[0]) <= 3 * spread.max() + 0.01)
    assert seeds[0][fast.best_index_] >= seeds[0].max() - (3 * spread.max() + 0.01)


def test_the_agreement_is_not_a_tautology(data):
    """A member trained as the wrong network (another fold's rows) is caught by the comparison."""
    X, y = data["X"], data["y_class"]
    folds = list(StratifiedKFold(3).split(X, y))
    swapped = [(folds[1][0], folds[0][1])] + folds[1:]  # fold 0 trains on fold 1's rows
    with threadpool_limits(1):
        right = RegularizedMLPClassifierCV(**SMALL, alphas=[0.01, 3.0], cv=folds).fit(X, y)
        wrong = RegularizedMLPClassifierCV(**SMALL, alphas=[0.01, 3.0], cv=swapped).fit(X, y)
    assert not np.array_equal(right.cv_results_["split0_test_score"], wrong.cv_results_["split0_test_score"])
    assert_array_equal(right.cv_results_["split1_test_score"], wrong.cv_results_["split1_test_score"])


# --------------------------------------------------------------------------
# Fitted attributes
# --------------------------------------------------------------------------

def test_cv_results_have_grid_search_format(data):
    X, y = data["X"], data["y_class"]
    ours = RegularizedMLPClassifierCV(**SMALL, alphas=[0.01, 1.0, 3.0], dropouts=[0.0, 0.3], cv=3).fit(X, y)
    theirs = _grid_search(RegularizedMLPClassifierCV, SMALL, [0.01, 1.0, 3.0], [0.0, 0.3], 3).fit(X, y)
    assert set(ours.cv_results_) == set(theirs.cv_results_) | {"diverged_folds"}
    assert ours.cv_results_["params"] == theirs.cv_results_["params"]
    for name in ("param_alpha", "param_dropout"):
        assert_array_equal(ours.cv_results_[name], theirs.cv_results_[name])
    for name, column in ours.cv_results_.items():
        assert len(column) == 6, name
    assert_array_equal(ours.cv_results_["diverged_folds"], 0)
    assert (ours.cv_results_["mean_fit_time"] > 0).all()
    pd.DataFrame(ours.cv_results_)  # loads as GridSearchCV's does
    assert ours.n_splits_ == 3
    best = ours.best_index_
    assert ours.cv_results_["rank_test_score"][best] == 1
    assert ours.best_score_ == ours.cv_results_["mean_test_score"][best] == np.max(ours.cv_results_["mean_test_score"])
    assert ours.best_params_ == {"alpha": ours.alpha_, "dropout": ours.dropout_}
    assert ours.l1_ratio_ is None
    # Fitted, the estimator is the base estimator at the chosen settings.
    assert (ours.alpha, ours.dropout) == (ours.alpha_, ours.dropout_)
    assert ours.best_estimator_.get_params()["alpha"] == ours.alpha_


def test_elasticnet_searches_l1_ratios_and_per_layer_dropouts(data):
    X, y = data["X"], data["y_reg"]
    model = RegularizedMLPRegressorCV(**{**SMALL, "hidden_layer_sizes": (6, 4)}, penalty="elasticnet",
                                      alphas=[0.1, 2.0], l1_ratios=[0.2, 0.9], dropouts=[0.0, [0.3, 0.0]],
                                      cv=3).fit(X, y)
    assert len(model.cv_results_["params"]) == 8
    assert set(model.best_params_) == {"alpha", "dropout", "l1_ratio"}
    assert model.l1_ratio_ in (0.2, 0.9)
    assert model.cv_results_["param_dropout"].dtype == object
    assert model.best_estimator_.l1_ratio == model.l1_ratio_


@pytest.mark.parametrize("cls", CV_ESTIMATORS)
def test_documented_attributes_are_the_fitted_attributes(cls, data):
    X, y = _problem(cls, data)
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    documented = set(re.findall(r"^ {4}(\w+_)\s*:", cls.__doc__.split("Attributes\n")[1].split("See Also")[0],
                                re.M))
    seen = set()
    for params in ({}, {"early_stopping": True, "validation_fraction": 0.2},
                   {"n_estimators": 4, "bootstrap": True, "max_samples": 0.5, "oob_score": True}, {"solver": "lbfgs"}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = cls(**SMALL, **params, alphas=[0.1, 1.0], cv=2).fit(frame, y)
        fitted = {name for name in vars(model) if name.endswith("_") and not name.startswith("_")}
        assert fitted <= documented, sorted(fitted - documented)
        seen |= fitted
    assert documented <= seen, sorted(documented - seen)


def test_refit_false_fits_the_search_only(data):
    X, y = data["X"], data["y_class"]
    model = RegularizedMLPClassifierCV(**SMALL, alphas=[0.1, 1.0], cv=3, refit=False).fit(X, y)
    assert model.best_params_ and not hasattr(model, "coefs_") and not hasattr(model, "best_estimator_")
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_refit_ensemble_and_intervals(data):
    """The search scores single nets; the refit has the asked-for ensemble, and its uncertainty methods."""
    X, y = data["X"], data["y_reg"]
    model = RegularizedMLPRegressorCV(**SMALL, alphas=[0.1, 1.0], cv=3, n_estimators=5, bootstrap=True).fit(X, y)
    assert len(model.estimators_) == 5 and model.coefs_[0].shape[0] == 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a few rows never out of bag in 5 draws
        assert_array_equal(model.predict_interval(X[:10]), model.best_estimator_.predict_interval(X[:10]))
    mean, std = model.predict(X[:10], return_std=True)
    assert_array_equal(mean, model.best_estimator_.predict(X[:10]))


def test_a_refit_clears_the_previous_fits_attributes(data):
    X, y = data["X"], data["y_reg"]
    model = RegularizedMLPRegressorCV(**SMALL, alphas=[0.1, 1.0], cv=3, n_estimators=8, bootstrap=True,
                                      max_samples=0.3, oob_score=True).fit(X, y)
    assert hasattr(model, "oob_score_")
    model.set_params(n_estimators=1, bootstrap=False, oob_score=False).fit(X, y)
    assert not hasattr(model, "oob_score_")


# --------------------------------------------------------------------------
# Divergence
# --------------------------------------------------------------------------

def test_diverging_candidates_score_nan_and_are_never_chosen(data):
    X, y = data["X"], data["y_reg"]
    # sgd at alpha = 1e7: the weight decay step alpha / S * lr is far above 2, the weights blow up.
    params = {**SMALL, "solver": "sgd", "learning_rate_init": 0.05}
    with pytest.warns(ConvergenceWarning, match=r"diverged .* 2 of 6 \(candidate, fold\)"):
        model = RegularizedMLPRegressorCV(**params, alphas=[1e7, 0.1, 1.0], cv=2).fit(X, y)
    results = model.cv_results_
    assert np.isnan(results["mean_test_score"][0]) and np.isnan(results["split0_test_score"][0])
    assert_array_equal(results["diverged_folds"], [2, 0, 0])
    assert results["rank_test_score"][0] == 3  # ranked last
    assert model.alpha_ != 1e7 and np.isfinite(model.best_score_)


def test_every_candidate_diverging_is_refused(data):
    X, y = data["X"], data["y_reg"]
    params = {**SMALL, "solver": "sgd", "learning_rate_init": 0.05}
    with pytest.raises(ValueError, match="Every candidate's mean_test_score is NaN"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        RegularizedMLPRegressorCV(**params, alphas=[1e7, 1e8], cv=2).fit(X, y)


# --------------------------------------------------------------------------
# scikit-learn integration
# --------------------------------------------------------------------------

def test_in_a_pipeline_clones_and_pickles(data):
    X, y = data["X"], data["y_class"]
    pipe = make_pipeline(StandardScaler(), RegularizedMLPClassifierCV(**SMALL, alphas=[0.1, 1.0], cv=3))
    pipe.fit(X, y)
    copy = clone(pipe).fit(X, y)
    assert_array_equal(copy.predict_proba(X), pipe.predict_proba(X))
    loaded = pickle.loads(pickle.dumps(pipe))
    assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    assert loaded[-1].best_params_ == pipe[-1].best_params_


@pytest.mark.parametrize("cls", CV_ESTIMATORS)
def test_skops_loads_with_the_documented_types(cls, data):
    """A CV model needs its own class beside the types its refit needs, all in SKOPS_TRUSTED_TYPES."""
    skops_io = pytest.importorskip("skops.io")
    X, y = _problem(cls, data)
    model = cls(**SMALL, alphas=[0.1, 1.0], cv=3).fit(X, y)
    dumped = skops_io.dumps(model)
    untrusted = set(skops_io.get_untrusted_types(data=dumped))
    refit_needs = set(skops_io.get_untrusted_types(data=skops_io.dumps(model.best_estimator_)))
    assert untrusted == refit_needs | {f"skreg._estimators.cv.{cls.__name__}"}
    assert untrusted <= set(SKOPS_TRUSTED_TYPES)
    loaded = skops_io.loads(dumped, trusted=SKOPS_TRUSTED_TYPES)
    assert_array_equal(loaded.predict(X), model.predict(X))


def test_parameters_are_the_base_estimators_with_lists_for_the_searched_ones():
    for cls in CV_ESTIMATORS:
        params = set(cls().get_params())
        base = set(BASE[cls]().get_params())
        assert params == (base - {"alpha", "dropout", "l1_ratio"}) | {"alphas", "dropouts", "l1_ratios", "cv",
                                                                        "refit", "search_dtype"}
        assert not hasattr(cls(), "alpha") and not hasattr(cls(), "partial_fit")


@pytest.mark.parametrize("params, match", [
    ({"l1_ratios": [0.3]}, "l1_ratios is only searched with penalty='elasticnet'"),
    ({"alphas": []}, "alphas must hold at least one candidate"),
    ({"alphas": [-1.0]}, "'alpha' parameter"),
    ({"dropouts": [0.0, 1.5]}, "dropout"),
    ({"solver": "lbfgs", "dropouts": [0.0, 0.2]}, "dropout > 0 needs a stochastic solver"),
    ({"search_dtype": "float16"}, "'search_dtype' parameter"),
])
def test_bad_candidates_are_refused_before_training(params, match, data):
    with pytest.raises(ValueError, match=match):
        RegularizedMLPRegressorCV(**{**SMALL, **params}).fit(data["X"], data["y_reg"])


def test_a_failed_fit_leaves_the_estimator_as_it_was(data):
    X, y = data["X"], data["y_reg"]
    model = RegularizedMLPRegressorCV(**SMALL, alphas=[0.1, 1.0], cv=3).fit(X, y)
    before = model.predict(X)
    with pytest.raises(ValueError):
        model.set_params(alphas=[]).fit(X, y)
    assert_array_equal(model.predict(X), before)


@pytest.mark.parametrize("patience", ["longer than the fit", "short"])
def test_members_share_x(patience, data):
    """No per-member copy of X: 12 members on an X of 8 MB take a fraction of X beyond it, on two lanes too.

    With a short patience the dropout members' noise-free pass over the rows runs every epoch.
    """
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_000, 50))
    y = X[:, 0] + rng.normal(size=20_000)
    stopping = {"max_iter": 1} if patience == "longer than the fit" else {"max_iter": 3, "n_iter_no_change": 1}
    model = RegularizedMLPRegressorCV(hidden_layer_sizes=(4,), **stopping, alphas=[0.1, 1.0], dropouts=[0.0, 0.2],
                                      cv=3, random_state=0)
    tracemalloc.start()
    with warnings.catch_warnings(), threadpool_limits(2):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1.5 * X.nbytes, f"peak {peak / X.nbytes:.2f} x X beyond X"


def test_a_search_in_joblib_threads_leaves_blas_threads_as_they_were(data):
    """Members over joblib's threading backend: each worker trains its runs of members apart (a wide net) without
    touching the process-wide BLAS limits, which only the main thread sets."""
    before = [library["num_threads"] for library in threadpool_info() if library["user_api"] == "blas"]
    if max(before, default=1) < 2:
        pytest.skip("BLAS has one thread here")
    X, y = data["X"][:240], data["y_reg"][:240]
    # 8 members (4 folds x 2 alphas) in two chunks of two folds; (512,) nets make each chunk's runs train apart.
    with parallel_backend("threading"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        RegularizedMLPRegressorCV(hidden_layer_sizes=(512,), max_iter=3, alphas=[0.1, 1.0], cv=KFold(4), n_jobs=2,
                                  refit=False, random_state=0).fit(X, y)
    assert [library["num_threads"] for library in threadpool_info() if library["user_api"] == "blas"] == before


def test_a_folds_members_read_one_input_batch(data):
    """Members of one fold share their batches: each step reads one (batch, features) array for all of them,
    where an ensemble's members read a batch each (and with input noise, so do the search's)."""
    X, y = data["X"], data["y_reg"]

    def inputs(model):
        shapes = []
        with threadpool_limits(1), events.listening(step=lambda X, **payload: shapes.append(X.shape)):
            model.fit(X, y)
        return set(shapes)

    # Wide enough that a fold's members train apart from the other fold's (``_runs_pay``).
    params = {**SMALL, "max_iter": 2, "batch_size": 40, "hidden_layer_sizes": (512,)}
    one_input = inputs(RegularizedMLPRegressorCV(**params, alphas=[0.1, 1.0], dropouts=[0.0, 0.3], cv=2, refit=False))
    assert {shape[1:] for shape in one_input} == {(6,)} and (40, 6) in one_input
    assert {shape[0] for shape in inputs(RegularizedMLPRegressor(**params, n_estimators=3))} == {3}
    # With noise added to each member's input, each member reads its own.
    noisy = inputs(RegularizedMLPRegressorCV(**params, alphas=[0.1, 1.0], cv=2, input_noise=0.1, refit=False))
    assert {shape[0] for shape in noisy} == {2}


@pytest.mark.parametrize("cls", CV_ESTIMATORS)
def test_members_measure_no_noise_free_loss_the_stopping_rule_cannot_use(cls, data):
    """With patience longer than the fit, the dropout members' epochs predict nothing (no pass over the rows).

    The base estimator, which reports the best of those losses (``best_loss_``), measures every epoch.
    """
    X, y = _problem(cls, data)

    def predictions(estimator, max_iter):
        calls = []
        settings = {**SMALL, "max_iter": max_iter, "n_iter_no_change": 100}
        model = (cls(**settings, alphas=[0.1], dropouts=[0.3], cv=2, refit=False) if estimator == "cv"
                 else BASE[cls](**settings, dropout=0.3))
        with warnings.catch_warnings(), threadpool_limits(1), events.listening(prediction=lambda: calls.append(1)):
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        return len(calls)

    assert predictions("cv", 6) == predictions("cv", 2)
    assert predictions("base", 6) - predictions("base", 2) == 4


# Every check applies and passes (none is expected to fail).
@parametrize_with_checks([cls(hidden_layer_sizes=(16,), alphas=(0.01, 1.0), cv=3, random_state=0)
                          for cls in CV_ESTIMATORS])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("apart", ["threads", "workers"])
def test_members_split_over_threads_or_workers_score_as_in_one_thread(apart, data):
    """A fold's members share their generators; split over two threads or joblib workers, each part draws from
    its own copy of them, and every member trains exactly as with all of them in one thread.

    12 members, folds of 4: two lanes of 6 split the middle fold.
    """
    X, y = data["X"], data["y_reg"]
    params = dict(**SMALL, alphas=[0.1, 1.0], dropouts=[0.0, 0.3], cv=3)
    with threadpool_limits(1):
        one_thread = RegularizedMLPRegressorCV(**params).fit(X, y)
    lanes = []
    with threadpool_limits(2), events.listening(side_by_side=lambda sizes: lanes.append(sizes)):
        split = RegularizedMLPRegressorCV(**params, n_jobs=2 if apart == "workers" else None).fit(X, y)
    if apart == "threads" and not lanes:
        pytest.skip("BLAS gives this process one thread: no lanes side by side")
    assert_array_equal(split.cv_results_["mean_test_score"], one_thread.cv_results_["mean_test_score"])
    assert_array_equal(split.cv_results_["split1_test_score"], one_thread.cv_results_["split1_test_score"])


def test_warm_start_continues_the_refit(data):
    X, y = data["X"], data["y_reg"]
    model = RegularizedMLPRegressorCV(**SMALL, alphas=[0.1, 1.0], cv=3, warm_start=True).fit(X, y)
    epochs = len(model.loss_curve_)
    refit = model.best_estimator_
    model.fit(X, y)
    assert model.best_estimator_ is refit and len(model.loss_curve_) == 2 * epochs
