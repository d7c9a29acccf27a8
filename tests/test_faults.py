"""Issue 13: a clear error naming the problem, or a correct result, never a silent wrong one.

Each test recreates a case that used to give a wrong result without an error, or an error that did
not name the problem, and fails without its fix; a few guard what must keep working beside a fix
(scorers returning numpy scalars, scikit-learn's rule for unknown class_weight keys, the refusal of
strings as dropout, huge inputs that do not overflow).
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import skreg._estimators.base
from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor
from skreg._train import events

SMALL = {"hidden_layer_sizes": (8,), "max_iter": 20, "random_state": 0}


@pytest.fixture(scope="module")
def classification():
    X, y = make_classification(n_samples=300, n_features=5, n_informative=3, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def three_classes():
    X, y = make_classification(n_samples=300, n_features=5, n_informative=3, n_classes=3, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


@pytest.fixture(scope="module")
def fitted_ensemble(regression):
    X, y = regression
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RegularizedMLPRegressor(**SMALL, n_estimators=3, bootstrap=True).fit(X, y)


# --------------------------------------------------------------------------
# Item 11 and its errors: dropout
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dropout", [{0: 0.9}, {0.5}, "0.2", b"0.2", object()],
                         ids=["dict", "set", "str", "bytes", "object"])
def test_dropout_that_is_not_a_float_or_a_sequence_is_refused(regression, dropout):
    X, y = regression
    with pytest.raises(ValueError, match="dropout"):
        RegularizedMLPRegressor(**SMALL, dropout=dropout).fit(X, y)


def test_dropout_of_non_numbers_says_it_must_be_numbers(regression):
    X, y = regression
    with pytest.raises(ValueError, match="dropout must hold numbers"):
        RegularizedMLPRegressor(**SMALL, dropout=["x"]).fit(X, y)


def test_a_0d_array_dropout_is_one_float(regression):
    X, y = regression
    as_array = RegularizedMLPRegressor(**SMALL, dropout=np.array(0.2)).fit(X, y)
    as_float = RegularizedMLPRegressor(**SMALL, dropout=0.2).fit(X, y)
    np.testing.assert_array_equal(as_array.predict(X), as_float.predict(X))
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        RegularizedMLPRegressor(**SMALL, dropout=np.array(1.5)).fit(X, y)


# --------------------------------------------------------------------------
# Errors that name the problem: n_jobs, confidence_level
# --------------------------------------------------------------------------

def test_n_jobs_0_is_refused_by_name(regression):
    X, y = regression
    with pytest.raises(ValueError, match="'n_jobs' parameter"):
        RegularizedMLPRegressor(**SMALL, n_jobs=0).fit(X, y)


@pytest.mark.parametrize("level", ["0.9", None, True, np.nan, [0.9]])
def test_confidence_level_that_is_not_a_real_in_range_is_refused_by_name(fitted_ensemble, regression, level):
    X, _ = regression
    with pytest.raises(ValueError, match="confidence_level must be a real number"):
        fitted_ensemble.predict_interval(X[:3], confidence_level=level, method="percentile")


# --------------------------------------------------------------------------
# Item 10: momentum=1 with an L1 penalty
# --------------------------------------------------------------------------

def test_sgd_l1_step_size_with_momentum_1_is_the_learning_rate():
    from skreg._optimizers import SGD

    optimizer = SGD((2, 5), np.float64, learning_rate_init=0.01, momentum=1.0, nesterov=True, schedule="constant",
                    power_t=0.5)
    np.testing.assert_array_equal(optimizer.prox_step_sizes(5), np.full((2, 1), 0.01))


def test_momentum_1_with_l1_trains_instead_of_zeroing_every_weight(regression):
    X, y = regression
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        model = RegularizedMLPRegressor(**{**SMALL, "max_iter": 50}, solver="sgd", momentum=1.0, penalty="l1",
                                        alpha=0.01).fit(X, y)
    assert np.count_nonzero(model.coefs_[0]) > 0
    assert model.score(X, y) > 0.5


# --------------------------------------------------------------------------
# Item 5: class_weight
# --------------------------------------------------------------------------

@pytest.mark.parametrize("weight", [-1, np.nan, np.inf, "1", None])
def test_class_weight_that_is_not_finite_and_non_negative_is_refused(classification, weight):
    X, y = classification
    with pytest.raises(ValueError, match="class_weight must map classes to finite, non-negative numbers"):
        RegularizedMLPClassifier(**SMALL, class_weight={0: weight, 1: 1}).fit(X, y)


def test_class_weight_follows_scikit_learns_rule_for_unknown_keys(classification):
    X, y = classification
    with pytest.raises(ValueError, match=r"The classes, \[1\], are not in class_weight"):
        RegularizedMLPClassifier(**SMALL, class_weight={0: 1, 5: 2}).fit(X, y)


def test_class_weights_of_zero_everywhere_name_class_weight(classification):
    X, y = classification
    with pytest.raises(ValueError, match="class_weight sums to zero"):
        RegularizedMLPClassifier(**SMALL, class_weight={0: 0, 1: 0}).fit(X, y)


# --------------------------------------------------------------------------
# Item 7: bootstrap draws among the rows that carry weight
# --------------------------------------------------------------------------

def test_bootstrap_draws_only_rows_of_positive_weight(regression):
    X, y = regression
    weight = np.zeros(len(y))
    weight[::10] = 1.0  # 20 of 200 rows carry weight
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.filterwarnings("ignore", "Stochastic Optimizer", ConvergenceWarning)
        model = RegularizedMLPRegressor(**{**SMALL, "max_iter": 200}, learning_rate_init=0.01, n_estimators=20,
                                        bootstrap=True, max_samples=3).fit(X, y, sample_weight=weight)
    for rows in model.estimators_samples_:
        assert np.all(weight[rows] > 0)
    # Every member trained: none kept its random start, which a draw of zero-weight rows only used to leave it.
    initial = RegularizedMLPRegressor(**{**SMALL, "max_iter": 1}, learning_rate_init=1e-12, n_estimators=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        initial.fit(X, y)
    for member, start in zip(model.estimators_, initial.estimators_, strict=True):
        assert not np.allclose(member.coefs_[0], start.coefs_[0], rtol=0, atol=1e-6)


# --------------------------------------------------------------------------
# Item 8: the safety check looks at every training row
# --------------------------------------------------------------------------

def test_members_whose_outputs_overflow_on_zero_weight_rows_fall_back():
    """Weights of 1e100 give outputs of ~1 on the weighted rows (X ~ 1e-200) but overflow on the rows of weight 0."""
    rng = np.random.default_rng(0)
    X = np.abs(rng.standard_normal((40, 3)))
    X[:20] *= 1e-200
    X[20:] *= 1e150
    y = rng.standard_normal(40)
    weight = np.r_[np.ones(20), np.zeros(20)]
    n_weights = 3 * 4 + 4 * 1  # the (3, 4, 1) network's weights come first in a member's parameters

    def trained_to_huge_weights(part, state=None):
        if part == "objective":  # training is done, the safety check comes next
            state.params[:2, :n_weights] = 1e100
            state.params[:2, n_weights:] = 0.0

    model = RegularizedMLPRegressor(hidden_layer_sizes=(4,), activation="relu", max_iter=2, n_estimators=3,
                                    random_state=0)
    with events.listening(final_bookkeeping=trained_to_huge_weights), pytest.warns(ConvergenceWarning,
                                                                                    match="2 of 3"):
        model.fit(X, y, sample_weight=weight)
    assert np.all(np.isfinite(model.predict(X)))
    assert all(np.abs(W).max() < 1e3 for W in model.coefs_)


# --------------------------------------------------------------------------
# Item 4: NaN validation scores; errors of scorers that name the problem
# --------------------------------------------------------------------------

def test_a_nan_score_is_never_the_best_and_counts_against_patience():
    from skreg._train.stopping import ImprovementTracker

    tracker = ImprovementTracker(2, n_iter_no_change=1, tol=0.0)
    active = np.ones(2, dtype=bool)
    improved, _ = tracker.update(np.array([0.5, np.nan]), np.array([1, 1]), active)
    assert improved.tolist() == [True, False]
    improved, stop = tracker.update(np.array([np.nan, np.nan]), np.array([2, 2]), active)
    assert improved.tolist() == [False, False] and stop.tolist() == [False, True]
    improved, stop = tracker.update(np.array([np.nan, 0.1]), np.array([3, 3]), active)
    assert improved.tolist() == [False, True] and stop.tolist() == [True, False]
    assert tracker.best_score.tolist() == [0.5, 0.1] and tracker.best_epoch.tolist() == [1, 3]


def test_early_stopping_on_a_score_that_is_nan_everywhere_is_refused(classification):
    """roc_auc on a one-class validation set used to keep epoch 1 (accuracy 0.5) without a word."""
    X, y = classification
    model = RegularizedMLPClassifier(**SMALL, scoring="roc_auc", early_stopping=True)
    with pytest.raises(ValueError, match=r"scoring='roc_auc' is NaN on X_val/y_val \(40 rows\).*one class"):
        model.fit(X, y, X_val=X[:40], y_val=np.zeros(40, dtype=int))


def test_recording_a_score_that_is_nan_everywhere_warns(classification):
    X, y = classification
    model = RegularizedMLPClassifier(**{**SMALL, "max_iter": 3}, scoring="roc_auc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match="scoring='roc_auc' is NaN on X_val/y_val.*validation_scores_ will be NaN"):
            model.fit(X, y, X_val=X[:40], y_val=np.zeros(40, dtype=int))


def test_members_whose_score_turns_nan_for_good_keep_their_last_weights_and_are_reported(classification):
    X, y = classification
    calls = []

    def finite_only_before_training(estimator, X, y):
        calls.append(1)
        return 0.5 if len(calls) == 1 else float("nan")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match="NaN on X_val/y_val in every epoch for 1 of 1"):
            stopped = RegularizedMLPClassifier(**{**SMALL, "max_iter": 30}, n_iter_no_change=3, early_stopping=True,
                                               scoring=finite_only_before_training).fit(X, y, X_val=X[:40],
                                                                                         y_val=y[:40])
        assert stopped.n_iter_ == 4  # 4 epochs without improvement exhaust a patience of 3
        plain = RegularizedMLPClassifier(**{**SMALL, "max_iter": 4}).fit(X, y, X_val=X[:40], y_val=y[:40])
    for W_stopped, W_plain in zip(stopped.coefs_, plain.coefs_, strict=True):
        np.testing.assert_array_equal(W_stopped, W_plain)


def test_roc_auc_ovr_with_a_class_missing_from_the_validation_rows_fails_before_training(three_classes):
    X, y = three_classes
    model = RegularizedMLPClassifier(**SMALL, scoring="roc_auc_ovr", early_stopping=True)
    with pytest.raises(ValueError, match=r"Before the first epoch, on X_val/y_val: scoring='roc_auc_ovr'.*"
                                         r"labels are \[0, 1\] of the training classes \[0, 1, 2\]"):
        model.fit(X, y, X_val=X[y < 2], y_val=y[y < 2])


def test_neg_log_loss_on_one_class_validation_rows_fails_before_training(classification):
    X, y = classification
    model = RegularizedMLPClassifier(**SMALL, scoring="neg_log_loss", early_stopping=True)
    with pytest.raises(ValueError, match=r"scoring='neg_log_loss'.*labels are \[1\] of the training classes"):
        model.fit(X, y, X_val=X[y == 1], y_val=y[y == 1])


def test_a_poisson_deviance_scorer_on_a_squared_error_regressor_names_scoring_and_the_predictions(regression):
    X, y = regression
    model = RegularizedMLPRegressor(**SMALL, scoring="neg_mean_poisson_deviance", early_stopping=True)
    with pytest.raises(ValueError, match=r"validation split.*scoring='neg_mean_poisson_deviance'.*predictions in"):
        model.fit(X, np.abs(y))


@pytest.mark.parametrize("returned", [np.ones(2), "0.5", None, True], ids=["array", "str", "None", "bool"])
def test_a_scorer_returning_anything_but_a_number_is_told_to_return_a_float(classification, returned):
    X, y = classification
    model = RegularizedMLPClassifier(**SMALL, scoring=lambda estimator, X, y: returned, early_stopping=True)
    with pytest.raises(ValueError, match="must return one float, got a"):
        model.fit(X, y)


@pytest.mark.parametrize("returned", [np.float32(0.5), np.array(0.5), 1], ids=["float32", "0-d array", "int"])
def test_a_scorer_returning_a_numpy_scalar_or_0d_array_is_fine(classification, returned):
    X, y = classification
    model = RegularizedMLPClassifier(**{**SMALL, "max_iter": 2}, scoring=lambda estimator, X, y: returned,
                                     early_stopping=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert model.validation_scores_ == [float(returned)] * 2


def test_a_scorer_failing_in_the_middle_of_training_names_scoring_and_the_rows(classification):
    X, y = classification
    calls = []

    def fails_at_epoch_3(estimator, X, y):
        calls.append(1)
        if len(calls) > 3:
            raise IndexError("boom")
        return 0.5

    model = RegularizedMLPClassifier(**SMALL, scoring=fails_at_epoch_3, early_stopping=True)
    with pytest.raises(ValueError, match=r"scoring=<function .*fails_at_epoch_3.* failed on the validation rows "
                                         r"\(30 rows; their labels are \[0, 1\].*IndexError: boom"):
        model.fit(X, y)


# --------------------------------------------------------------------------
# Item 6: inputs that overflow the network
# --------------------------------------------------------------------------

def _huge_rows(n_features):
    X = np.full((3, n_features), 1.7e308)
    X[1] *= -1
    X[2, ::2] *= -1
    return X


@pytest.mark.parametrize("problem", ["classification", "three_classes"])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
def test_inputs_that_overflow_the_hidden_layers_raise_naming_their_scale(request, problem, method):
    X, y = request.getfixturevalue(problem)
    model = RegularizedMLPClassifier(**SMALL, n_estimators=2).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=r"output is not finite on \d of 3 row\(s\) of X "
                                             r"\(largest \|x\| 1.7e\+308\)"):
            getattr(model, method)(_huge_rows(X.shape[1]))


@pytest.mark.parametrize("problem", ["classification", "three_classes"])
def test_huge_but_harmless_inputs_give_finite_probabilities(request, problem):
    """Logits near 1e200 with no hidden layer: the logistic and the softmax stay exact (0s and 1s)."""
    X, y = request.getfixturevalue(problem)
    model = RegularizedMLPClassifier(**{**SMALL, "hidden_layer_sizes": ()}).fit(X, y)
    X_huge = np.random.default_rng(0).standard_normal((5, X.shape[1])) * 1e200
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        proba = model.predict_proba(X_huge)
    assert np.all(np.isfinite(proba)) and np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(X_huge), model.classes_[np.argmax(proba, axis=1)])


def test_the_mean_of_huge_member_outputs_does_not_overflow(regression):
    X, y = regression
    model = RegularizedMLPRegressor(**{**SMALL, "hidden_layer_sizes": ()}, n_estimators=2).fit(X, y)
    for W, b in zip(model.coefs_, model.intercepts_, strict=True):
        W[1], b[1] = W[0], b[0]  # two equal linear members
    w = model.coefs_[0][0, :, 0]
    # Every product x_j w_j is positive, so no partial sum exceeds the output, 1.5e308: their sum overflows.
    X_huge = np.tile(np.sign(w) * (1.5e308 / np.abs(w).sum()), (2, 1))
    single = model.estimators_[0].predict(X_huge)
    assert np.all(np.isfinite(single)) and np.all(single > 1e308)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        mean, std = model.predict(X_huge, return_std=True)
    np.testing.assert_allclose(mean, single, rtol=1e-12)
    np.testing.assert_array_equal(std, 0.0)


# --------------------------------------------------------------------------
# Item 9: Poisson means that overflow exp
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def poisson_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    return X, rng.poisson(np.exp(0.5 * X[:, 0])).astype(float)


@pytest.mark.parametrize("n_estimators", [1, 3])
def test_poisson_means_that_overflow_are_clipped_with_a_warning(poisson_data, n_estimators):
    X, y = poisson_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = RegularizedMLPRegressor(loss="poisson", **SMALL, n_estimators=n_estimators).fit(X, y)
    X_far = np.vstack([np.eye(3) * 1e4, -np.eye(3) * 1e4, [[0.1, 0.2, 0.3]]])
    z = [np.maximum(X_far @ member.coefs_[0] + member.intercepts_[0], 0) @ member.coefs_[1] + member.intercepts_[1]
         for member in model.estimators_]
    assert any(np.max(values) > np.log(np.finfo(np.float64).max) for values in z)  # exp overflows here
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.warns(UserWarning, match=r"Poisson mean exp\(z\) overflows on \d of 7 row\(s\)"):
            mean, std = model.predict(X_far, return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    assert np.all(mean <= np.finfo(np.float64).max) and mean[-1] < 100
    if n_estimators == 1:
        np.testing.assert_array_equal(std, 0.0)


def test_a_poisson_fit_whose_outputs_overflow_even_at_the_start_is_refused(poisson_data):
    X, y = poisson_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ValueError, match=r"output is not finite on the training data \(largest \|x\| .*e\+30\), "
                                             r"even at the starting weights"):
            RegularizedMLPRegressor(loss="poisson", **SMALL).fit(X * 1e30, y)


# --------------------------------------------------------------------------
# Cosmetic: numpy's RuntimeWarnings do not leak out of fit and predict
# --------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["lbfgs-huge-X", "lbfgs-poisson", "oob-score-huge-y", "predict-huge-X",
                                  "poisson-far-X"])
def test_no_numpy_runtime_warning_leaks(regression, poisson_data, case):
    X, y = regression
    fit_X, fit_y, predict_X, params = X, y, X, {}
    if case == "lbfgs-huge-X":
        fit_X, params = X * 1e300, {"solver": "lbfgs"}
    elif case == "lbfgs-poisson":
        fit_X, fit_y, params = poisson_data[0] * 30, poisson_data[1], {"solver": "lbfgs", "loss": "poisson"}
        predict_X = fit_X
    elif case == "oob-score-huge-y":
        fit_y, params = y * 1e200, {"n_estimators": 3, "bootstrap": True, "oob_score": True}
    elif case == "predict-huge-X":
        predict_X = _huge_rows(X.shape[1])
    else:
        fit_X, fit_y, params = *poisson_data, {"loss": "poisson"}
        predict_X = np.vstack([np.eye(3) * 1e4, -np.eye(3) * 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        warnings.filterwarnings("ignore", "The Poisson mean", UserWarning)
        warnings.filterwarnings("ignore", ".*no out-of-bag estimate", UserWarning)
        try:  # a fit that cannot give finite outputs is refused, without numpy's warnings on the way
            model = RegularizedMLPRegressor(**SMALL, **params).fit(fit_X, fit_y)
        except ValueError as error:
            assert "non-finite" in str(error) or "not finite" in str(error)
            return
        try:
            model.predict(predict_X, return_std=True)
        except ValueError as error:
            assert "not finite" in str(error)


# --------------------------------------------------------------------------
# Cosmetic: an ensemble pickled by another version warns once
# --------------------------------------------------------------------------

def test_loading_an_ensemble_pickled_by_another_version_warns_once(regression, monkeypatch):
    X, y = regression
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ensemble = RegularizedMLPRegressor(**{**SMALL, "max_iter": 2}, n_estimators=20).fit(X, y)
    members = list(ensemble.estimators_)
    monkeypatch.setattr(skreg._estimators.base, "__version__", "99.0")
    dumped = pickle.dumps(ensemble)
    member_alone = pickle.dumps(ensemble.estimators_[3])
    monkeypatch.undo()
    # Pickling leaves the ensemble as it was.
    assert all(a is b for a, b in zip(ensemble.estimators_, members, strict=True))
    assert "_skreg_version" not in vars(ensemble) and "_skreg_version" not in vars(members[3])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = pickle.loads(dumped)
    assert [str(w.message).split(" from")[0] for w in caught] == ["Trying to unpickle RegularizedMLPRegressor"]
    assert "version 99.0" in str(caught[0].message)
    np.testing.assert_array_equal(loaded.predict(X), ensemble.predict(X))
    np.testing.assert_array_equal(loaded.estimators_[3].predict(X), ensemble.estimators_[3].predict(X))
    assert not any(hasattr(member, "_skreg_pickled_inside_an_ensemble") for member in loaded.estimators_)
    # A member pickled on its own still warns.
    with pytest.warns(UserWarning, match=r"version 99\.0"):
        pickle.loads(member_alone)


# --------------------------------------------------------------------------
# Cosmetic: an unseen y_val label is named as such
# --------------------------------------------------------------------------

def test_a_y_val_label_outside_the_training_classes_is_named_as_in_y_val(classification):
    X, y = classification
    y_val = y[:30].copy()
    y_val[0] = 7
    with pytest.raises(ValueError, match=r"y_val \(the validation set\) contains labels that are not among the "
                                         r"training classes: \[7\]; the training classes are \[0, 1\]"):
        RegularizedMLPClassifier(**SMALL).fit(X, y, X_val=X[:30], y_val=y_val)


def test_y_val_with_the_wrong_number_of_outputs_is_named(regression):
    X, y = regression
    with pytest.raises(ValueError, match=r"y_val has 2 output\(s\) but the model was fitted with 1"):
        RegularizedMLPRegressor(**SMALL).fit(X, y, X_val=X[:30], y_val=np.c_[y[:30], y[:30]])


@pytest.mark.parametrize("cls", [RegularizedMLPRegressor, RegularizedMLPClassifier])
def test_rows_of_weight_0_count_for_nothing_out_of_bag(cls):
    """Weight 0 means dropped: the out-of-bag score and the jackknife+ab intervals are those of the fit without them.

    The rows of weight 0 carry wild targets; they are in no member's bag, so they were out of bag for
    every member and used to dominate oob_score_ (R² -0.11 against 0.86) and the interval widths (99 against 1.3).
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = X[:, 0] + 0.1 * rng.normal(size=300)
    if cls is RegularizedMLPClassifier:
        y = (y > 0).astype(int)
        y[:30] = 1 - y[:30]
    else:
        y[:30] = 50.0
    weight = np.ones(300)
    weight[:30] = 0
    params = {"hidden_layer_sizes": (16,), "max_iter": 50, "random_state": 0, "n_estimators": 10, "bootstrap": True,
              "oob_score": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted = cls(**params).fit(X, y, sample_weight=weight)
        dropped = cls(**params).fit(X[30:], y[30:])
    assert weighted.oob_score_ == dropped.oob_score_
    if cls is RegularizedMLPRegressor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.testing.assert_array_equal(weighted.predict_interval(X[30:60]), dropped.predict_interval(X[30:60]))
