"""Refits and continued fits: what carries over from an earlier fit, and what must not."""

import contextlib

import numpy as np
import pytest

from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor
from skreg._optimizers import SGD, Adam
from skreg._train import events

SMALL = {"hidden_layer_sizes": (4,), "max_iter": 15, "random_state": 0}


@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    return X, X[:, 0] + 0.1 * rng.normal(size=80)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_partial_fit_refuses_labels_outside_classes_on_the_first_call(regression):
    X, _ = regression
    with pytest.raises(ValueError, match="not seen"):
        RegularizedMLPClassifier(**SMALL).partial_fit(X[:6], [0, 1, 5, 0, 1, 5], classes=[0, 1, 2])


def test_warm_start_that_turns_on_early_stopping_watches_only_its_own_validation(regression):
    X, y = regression
    model = RegularizedMLPRegressor(**SMALL).fit(X, y)
    model.set_params(warm_start=True, early_stopping=True, validation_fraction=0.2).fit(X, y)
    this_fit = [score for score in model.validation_scores_ if not np.isnan(score)]
    assert model.best_validation_score_ == max(this_fit)
    assert model.best_iteration_ > SMALL["max_iter"]


def test_warm_start_with_another_solver_builds_a_new_optimizer(regression):
    X, y = regression
    model = RegularizedMLPRegressor(**SMALL).fit(X, y)
    assert isinstance(model._training_state.optimizer, Adam)
    model.set_params(warm_start=True, solver="sgd", learning_rate_init=0.01).fit(X, y)
    assert isinstance(model._training_state.optimizer, SGD)
    assert model._training_state.optimizer.learning_rate_init == 0.01


def test_refit_without_bootstrap_forgets_out_of_bag_state(regression):
    X, y = regression
    model = RegularizedMLPRegressor(**SMALL, n_estimators=4, bootstrap=True, oob_score=True).fit(X, y)
    assert hasattr(model, "oob_score_")
    model.set_params(bootstrap=False, oob_score=False).fit(X[:40], y[:40])
    assert not hasattr(model, "oob_score_") and not hasattr(model, "oob_prediction_")
    with pytest.raises(ValueError, match="bootstrap=True"):
        model.predict_interval(X[:2])


def test_warm_start_cannot_change_the_number_of_members(regression):
    X, y = regression
    model = RegularizedMLPRegressor(**SMALL, n_estimators=3, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="n_estimators from 3 to 5"):
        model.set_params(n_estimators=5).fit(X, y)


def test_percentile_band_reads_the_fitted_members_not_the_parameter(regression):
    X, y = regression
    model = RegularizedMLPRegressor(**SMALL).fit(X, y)
    model.set_params(n_estimators=3)
    with pytest.raises(ValueError, match="ensemble"):
        model.predict_interval(X[:2], method="percentile")


def test_class_weight_keeps_float32_training_in_float32(regression):
    X, y = regression
    seen = []

    def recording_step(X, Y, weight, **payload):
        seen.append((X.dtype, Y.dtype, weight.dtype))

    with events.listening(step=recording_step):
        RegularizedMLPClassifier(**SMALL, class_weight="balanced").fit(X.astype(np.float32), y > 0)
    assert seen and all(dtypes == (np.float32, np.float32, np.float32) for dtypes in seen)


@pytest.mark.parametrize("n_estimators", [1, 3])
def test_partial_fit_summarises_only_the_epochs_it_adds(regression, n_estimators):
    # Rebuilding the whole curve on every call made a long stream of partial_fit calls quadratic.
    X, y = regression
    est = RegularizedMLPRegressor(hidden_layer_sizes=(4,), random_state=0, n_estimators=n_estimators)
    for _ in range(20):
        est.partial_fit(X, y)
    first_twenty = list(est.loss_curve_)
    # Marked entries that a call summarising every epoch again would overwrite with the epochs' true means.
    est.loss_curve_[:] = [-1.0] * 20
    if n_estimators > 1:
        est.estimators_[1].loss_curve_[:] = [-1.0] * 20
    est.partial_fit(X, y)

    assert est.loss_curve_[:20] == [-1.0] * 20
    if n_estimators > 1:
        assert est.estimators_[1].loss_curve_[:20] == [-1.0] * 20
    assert len(est.loss_curve_) == 21
    # Only the marks were kept: a fresh stream of 21 calls summarises the same 20 epochs as the marked one did.
    fresh = RegularizedMLPRegressor(hidden_layer_sizes=(4,), random_state=0, n_estimators=n_estimators)
    for _ in range(21):
        fresh.partial_fit(X, y)
    assert fresh.loss_curve_[:20] == first_twenty and fresh.loss_curve_[20] == est.loss_curve_[20]


def test_continued_curves_equal_the_curves_of_one_fit(regression):
    # Summaries extended call by call must equal those computed at once, members' curves included.
    X, y = regression
    params = {**SMALL, "n_estimators": 3, "bootstrap": True, "early_stopping": True, "n_iter_no_change": 2,
              "tol": 1e-2, "max_iter": 30}
    whole = RegularizedMLPRegressor(**params).fit(X, y)
    stepped = RegularizedMLPRegressor(**{**params, "max_iter": 1, "warm_start": True})
    for _ in range(whole.n_iter_):
        stepped.fit(X, y)

    assert stepped.loss_curve_ == whole.loss_curve_
    assert stepped.validation_scores_ == whole.validation_scores_
    for ours, theirs in zip(stepped.estimators_, whole.estimators_, strict=True):
        assert ours.loss_curve_ == theirs.loss_curve_
        assert ours.validation_loss_curve_ == theirs.validation_loss_curve_


def test_lbfgs_warm_start_after_validated_epochs_keeps_the_curves_aligned(regression):
    # L-BFGS records no validation: its epochs get NaN entries, as stochastic epochs without validation do.
    X, y = regression
    est = RegularizedMLPRegressor(**SMALL, early_stopping=True, warm_start=True).fit(X, y)
    validated = len(est.loss_curve_)
    est.set_params(solver="lbfgs", early_stopping=False).fit(X, y)

    assert len(est.validation_loss_curve_) == len(est.validation_scores_) == len(est.loss_curve_) > validated
    assert np.isnan(est.validation_loss_curve_[validated:]).all()
    assert np.isfinite(est.validation_loss_curve_[:validated]).all()
    member = est.estimators_[0]
    assert len(member.validation_loss_curve_) == len(member.loss_curve_)


def test_curves_pickled_without_their_summary_record_are_rebuilt(regression):
    # Pickles from before the curves were extended call by call (some with other summaries) are rebuilt whole.
    X, y = regression
    est = RegularizedMLPRegressor(**SMALL, n_estimators=2, warm_start=True).fit(X, y)
    state = est.__getstate__()
    del state["_summarised_epochs"]
    state["loss_curve_"] = [float("nan")] * len(state["loss_curve_"])
    state["estimators_"][0].loss_curve_ = [float("nan")] * len(state["estimators_"][0].loss_curve_)
    loaded = RegularizedMLPRegressor.__new__(RegularizedMLPRegressor)
    loaded.__setstate__(state)
    loaded.fit(X, y)

    assert len(loaded.loss_curve_) == 2 * SMALL["max_iter"]
    assert np.isfinite(loaded.loss_curve_).all()
    assert np.isfinite(loaded.estimators_[0].loss_curve_).all()


@pytest.mark.parametrize("cls", [RegularizedMLPClassifier, RegularizedMLPRegressor])
@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_an_ensemble_member_continues_from_its_weights(regression, cls, how):
    # A member has coefs_ but no training state of its own; like scikit-learn's MLP it continues from coefs_.
    X, y = regression
    y = (y > 0).astype(int) if cls is RegularizedMLPClassifier else y
    ensemble = cls(**SMALL, n_estimators=2, bootstrap=True).fit(X, y)
    member = ensemble.estimators_[1]
    before = [W.copy() for W in member.coefs_]
    ensemble_before = [W.copy() for W in ensemble.coefs_]
    member.set_params(learning_rate_init=1e-9, max_iter=1, warm_start=how == "warm_start")
    with pytest.warns(Warning, match="Maximum iterations") if how == "warm_start" else contextlib.nullcontext():
        member.partial_fit(X, y) if how == "partial_fit" else member.fit(X, y)

    for W, W_before in zip(member.coefs_, before, strict=True):
        np.testing.assert_allclose(W, W_before, atol=1e-6)
    for W, W_before in zip(ensemble.coefs_, ensemble_before, strict=True):
        np.testing.assert_array_equal(W, W_before)


def test_a_continued_member_counts_its_epochs_on(regression):
    X, y = regression
    member = RegularizedMLPRegressor(**SMALL, n_estimators=2).fit(X, y).estimators_[0]
    t, curve = member.t_, list(member.loss_curve_)
    member.partial_fit(X, y)

    assert member.n_iter_ == 1  # this call's epochs, as in scikit-learn; the curve keeps the running total
    assert member.t_ == t + len(y)
    assert member.loss_curve_[:-1] == curve and len(member.loss_curve_) == len(curve) + 1


def test_a_member_cannot_grow_into_an_ensemble_on_a_warm_start(regression):
    X, y = regression
    member = RegularizedMLPRegressor(**SMALL, n_estimators=2).fit(X, y).estimators_[0]
    with pytest.raises(ValueError, match="cannot change n_estimators from 1 to 3"):
        member.set_params(n_estimators=3, warm_start=True).fit(X, y)


def test_multilabel_partial_fit_wants_column_indices_as_classes(regression):
    X, _ = regression
    Y = (X[:, :3] > 0).astype(int)
    with pytest.raises(ValueError, match=r"column indices 0\.\.2"):
        RegularizedMLPClassifier(**SMALL).partial_fit(X, Y, classes=["a", "b", "c"])


def test_warm_start_that_turns_on_dropout_restarts_the_stopping_record(regression):
    """With dropout the rule watches J without dropout, not the running loss: the old record is not comparable.

    One epoch with heavy dropout at a high rate leaves J above the first fit's best running loss; a
    record kept from the first fit would report that old best as ``best_loss_``.
    """
    X, y = regression
    model = RegularizedMLPRegressor(**{**SMALL, "max_iter": 40, "learning_rate_init": 0.01}).fit(X, y)
    first_best = model.best_loss_
    model.set_params(warm_start=True, dropout=0.9, learning_rate_init=0.5, max_iter=1).fit(X, y)
    assert model.loss_ > first_best  # the premise: this epoch made J worse than the first fit's best
    assert model.best_loss_ == model.loss_
