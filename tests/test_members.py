"""Per-member parts: the generic take/concat, the history's padding rules, the state's migration from 0.4."""

import copy
import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skreg import RegularizedMLPRegressor
from skreg._compat import migrate_training_state
from skreg._members import concat, concat_in_order, consecutive_runs, take
from skreg._optimizers import SGD, Adam
from skreg._train.history import History
from skreg._train.state import Outcome, Progress, TrainingState, new_state
from skreg._train.stopping import ImprovementTracker

NAN = np.nan


def _state(m=4, n_params=3, epochs=2):
    """A state with every part filled in, member k's entries distinguishable (k in every number)."""
    state = new_state(np.arange(m * n_params, dtype=float).reshape(m, n_params),
                      [np.random.default_rng(k) for k in range(m)], [np.random.default_rng(10 + k) for k in range(m)])
    state.optimizer = Adam((m, n_params), np.float64, learning_rate_init=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    state.optimizer.first_moment[:] = np.arange(m)[:, None]
    for epoch in range(epochs):
        state.history.record_epoch(np.arange(m) + 10.0 * epoch, np.ones(m, dtype=bool))
        state.history.record_validation((np.arange(m) + 0.5, -np.arange(m) - 0.5))
    state.progress.n_iter[:] = epochs
    state.progress.samples_seen = 7
    state.stopping = ImprovementTracker(m, 3, 1e-4)
    state.stopping.best_score = np.arange(m, dtype=float)
    state.stopping.keep_best(state.params, np.ones(m, dtype=bool), np.ones(m, dtype=bool))
    state.outcome.solver_failures[m - 1] = "failed"
    return state


def _assert_same_state(left: TrainingState, right: TrainingState) -> None:
    assert_array_equal(left.params, right.params)
    for name in Adam.PER_MEMBER:
        assert_array_equal(getattr(left.optimizer, name), getattr(right.optimizer, name))
    assert left.streams.shuffle == right.streams.shuffle and left.streams.noise == right.streams.noise
    for a, b in zip(left.history._curves(), right.history._curves(), strict=True):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_array_equal(x, y)
    for name in Progress.PER_MEMBER:
        assert_array_equal(getattr(left.progress, name), getattr(right.progress, name))
    assert left.progress.samples_seen == right.progress.samples_seen
    for name in ImprovementTracker.PER_MEMBER:
        assert_array_equal(getattr(left.stopping, name), getattr(right.stopping, name))
    assert left.outcome == right.outcome


def test_take_and_concat_are_inverse_over_every_part_of_a_state():
    state = _state()
    groups = [np.array([3, 0]), np.array([2]), np.array([1])]
    parts = [take(state, group) for group in groups]
    assert [part.n_members for part in parts] == [2, 1, 1]
    assert parts[0].outcome.solver_failures == ["failed", None] and parts[2].outcome.solver_failures == [None]
    _assert_same_state(concat_in_order(parts, groups), state)
    _assert_same_state(take(state, slice(None)), state)
    _assert_same_state(concat([take(state, [0, 1]), take(state, [2, 3])]), state)


def test_a_taken_state_is_a_copy_but_shares_the_random_generators():
    state = _state()
    taken = take(state, slice(0, 2))
    taken.params += 1
    taken.optimizer.first_moment += 1
    taken.progress.stopped[:] = True
    taken.history.record_epoch(np.zeros(2), np.ones(2, dtype=bool))
    assert_array_equal(state.params, _state().params)
    assert_array_equal(state.optimizer.first_moment, _state().optimizer.first_moment)
    assert not state.progress.stopped.any() and len(state.history) == 2
    assert taken.streams.shuffle[1] is state.streams.shuffle[1]


def test_shared_fields_merge_by_their_rule_and_settings_come_from_the_first():
    first, second = _state(2), _state(3)
    second.progress.samples_seen, second.outcome.interrupted, second.outcome.reached_max_iter = 11, True, True
    merged = concat([first, second])
    assert merged.progress.samples_seen == 11
    assert merged.outcome.interrupted and merged.outcome.reached_max_iter
    assert merged.optimizer.beta_1 == 0.9 and merged.optimizer.first_moment.shape == (5, 3)


def test_optimizers_take_exactly_their_declared_per_member_arrays():
    sgd = SGD((3, 2), np.float32, learning_rate_init=0.1, momentum=0.9, nesterov=True, schedule="adaptive",
              power_t=0.5)
    sgd.velocity[:] = np.arange(3)[:, None]
    sgd.learning_rate[2] = 0.02
    taken = take(sgd, [2, 0])
    assert_array_equal(taken.velocity, [[2, 2], [0, 0]])
    assert_array_equal(taken.learning_rate[:, 0], np.float32([0.02, 0.1]))
    assert taken.momentum == 0.9 and taken._work.shape == (2, 2)
    assert_array_equal(concat([take(sgd, [0]), take(sgd, [1, 2])]).velocity, sgd.velocity)


def test_a_part_without_a_stopping_record_gets_a_fresh_one_and_stands_in_its_weights():
    with_record, without = _state(2), _state(1)
    without.stopping = None
    merged = concat([with_record, without])
    assert_array_equal(merged.stopping.best_score, [0, 1, -np.inf])
    assert_array_equal(merged.stopping.best_params[2], without.params[0])
    assert without.stopping is None  # the parts are unchanged
    assert concat([without, take(without, [0])]).stopping is None


def test_concatenated_histories_pad_the_shorter_as_members_waiting_frozen():
    long, short = History(1), History(2)
    for value in (3.0, 2.0, 1.0):
        long.record_epoch(np.array([value]), np.array([True]))
        long.record_validation((np.array([value + 10]), np.array([-value])))
    short.record_epoch(np.array([5.0, 4.0]), np.array([True, True]))
    short.record_epoch(np.array([np.inf, 6.0]), np.array([True, True]))  # member 0 diverged
    short.record_validation((np.array([7.0, 8.0]), np.array([-7.0, -8.0])))
    merged = concat([short, long])
    assert len(merged) == 3 and merged.n_members == 3
    assert_array_equal(merged.loss[2], [5.0, 6.0, 1.0])  # standing values: the latest finite ones
    assert_array_equal(merged.active[2], [False, False, True])
    # short's first epoch had no validation set (NaN); its last entry stands for the frozen epoch after it.
    assert_array_equal(np.array(merged.validation_loss), [[NAN, NAN, 13], [7, 8, 12], [7, 8, 11]])
    unvalidated = History(2, [np.ones(2)], [np.ones(2, dtype=bool)])
    assert_array_equal(concat([unvalidated, long]).validation_loss[0], [NAN, NAN, 13])


def test_waiting_frozen_validates_the_frozen_weights_or_records_nan():
    history = History(2, [np.array([1.0, 2.0])], [np.ones(2, dtype=bool)])
    assert history.waited(1) is history
    waited = history.waited(3)
    assert_array_equal(waited.loss[-1], [1.0, 2.0]) and not waited.active[-1].any()
    assert not waited.validated and len(history) == 1  # no validation set, none recorded; history unchanged
    validated = history.waited(3, (np.array([4.0, 5.0]), np.array([-4.0, -5.0])))
    assert_array_equal(np.array(validated.validation_loss), [[NAN, NAN], [4, 5], [4, 5]])
    assert_array_equal(np.array(validated.waited(4).validation_score)[-1], [NAN, NAN])


def test_an_undone_epoch_leaves_the_curves_as_they_were():
    history = History(1, [np.zeros(1)], [np.ones(1, dtype=bool)])
    mark = history.mark()
    history.record_epoch(np.ones(1), np.ones(1, dtype=bool))
    history.record_validation(None)  # the first validated epoch: NaN for the epoch before
    assert len(history.validation_loss) == 2
    history.truncate(mark)
    assert len(history) == 1 and not history.validated


def test_copying_a_state_copies_the_history_lists_not_their_entries():
    state = _state()
    copied = state.copy()
    assert copied.history.loss is not state.history.loss
    assert copied.history.loss[0] is state.history.loss[0]
    assert copied.params is not state.params and copied.streams.shuffle[0] is not state.streams.shuffle[0]


def _flat_0_4_fields(m=2):
    """A 0.4 ``TrainingState.__dict__``: 17 flat fields."""
    tracker = ImprovementTracker(m, 10, 1e-4)
    del tracker.best_params  # 0.4's tracker had no best weights of its own
    return {"params": np.ones((m, 3)), "optimizer": None, "shuffle_rngs": [np.random.default_rng(0)] * m,
            "dropout_rngs": [np.random.default_rng(1)] * m, "samples_seen": 40, "n_iter": np.array([2, 1]),
            "loss_curve": [np.array([3.0, 4.0]), np.array([2.0, 4.0])],
            "active_history": [np.array([True, True]), np.array([True, False])],
            "validation_loss_curve": [np.array([5.0, 6.0])] * 2, "validation_score_curve": [np.array([-5.0, -6.0])] * 2,
            "tracker": tracker, "best_params": np.zeros((m, 3)), "stopped": np.array([False, True]),
            "diverged": np.array([False, True]), "interrupted": False, "reached_max_iter": True,
            "solver_failures": {1: "status=2: ABNORMAL"}}


def test_a_0_4_state_migrates_into_the_parts():
    fields = _flat_0_4_fields()
    migrate_training_state(fields)
    assert sorted(fields) == ["history", "optimizer", "outcome", "params", "progress", "stopping", "streams"]
    assert len(fields["history"]) == 2 and fields["history"].validated
    assert_array_equal(fields["history"].active[1], [True, False])
    assert_array_equal(fields["progress"].diverged, [False, True]) and fields["progress"].samples_seen == 40
    assert fields["outcome"] == Outcome([None, "status=2: ABNORMAL"], False, True)
    assert_array_equal(fields["stopping"].best_params, np.zeros((2, 3)))
    state = TrainingState.__new__(TrainingState)
    state.__setstate__(fields)  # already migrated: unchanged
    assert state.history is fields["history"]


def test_a_state_from_before_0_3_gets_every_epoch_active_and_no_failures():
    fields = _flat_0_4_fields()
    for name in ("active_history", "solver_failures"):
        del fields[name]
    migrate_training_state(fields)
    assert all(entry.all() for entry in fields["history"].active) and len(fields["history"].active) == 2
    assert fields["outcome"].solver_failures == [None, None]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fitted_state_survives_pickling_and_trains_on_identically():
    X = np.random.default_rng(0).normal(size=(60, 3))
    y = X.sum(axis=1)
    params = {"hidden_layer_sizes": (4,), "n_estimators": 3, "bootstrap": True, "early_stopping": True,
              "n_iter_no_change": 2, "max_iter": 8, "random_state": 0, "warm_start": True}
    model = RegularizedMLPRegressor(**params).fit(X, y)
    loaded = pickle.loads(pickle.dumps(model))
    for fitted in (model, loaded):
        fitted.set_params(max_iter=3).fit(X, y)
    assert_array_equal(loaded.coefs_[0], model.coefs_[0])
    assert loaded.loss_curve_ == model.loss_curve_
    assert copy.deepcopy(model)._training_state.history.loss[-1] is model._training_state.history.loss[-1]


def test_consecutive_runs_split_where_the_key_changes():
    assert consecutive_runs([3, 3, None, None, 3, (1, 0.2)]) == [slice(0, 2), slice(2, 4), slice(4, 5), slice(5, 6)]
    assert consecutive_runs([7]) == [slice(0, 1)]
