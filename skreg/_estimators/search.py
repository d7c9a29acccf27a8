"""A grid of regularization settings as members: each (candidate, fold) pair is one network of a batched fit.

A member trains on its fold's training rows (less its own early-stopping
split), under its candidate's ``alpha``, penalty mix and dropout rates, from
the random streams of member 0: it is the network the base estimator would
fit on that fold alone. The rows are indices into the one shared ``X``
(never a copy of it), and ``S_k`` is the member's own fold weight.

A batched fit needs every member to hold the same number of rows. Folds
differ in size by a row or so, so members are grouped by the length of
their rows (``member_sets``): one batched fit per length, usually one in
all (``KFold`` and ``StratifiedKFold`` on ``n`` divisible by ``cv``) and at
most a few. Padding the shorter folds with weight-0 rows instead would
change their minibatches (an all-padding last batch still moves Adam's
moments) and so their results.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from skreg._members import concat
from skreg._objective import Regularization
from skreg._train.state import TrainConfig, row_index_dtype


@dataclass(frozen=True)
class MemberSet:
    """The members of one batched fit: (candidate, fold) pairs whose training rows have the same length.

    Attributes
    ----------
    candidates, folds : ndarray of int, shape (m,)
        Member ``k`` is candidate ``candidates[k]`` on fold ``folds[k]``.
    rows : ndarray of int, shape (m, n_rows)
        Each member's training rows (indices into ``X``), in the fold's order.
    regularization : Regularization
        Each member's candidate settings.
    folds_members : list of ndarray
        The members of each fold, runs of consecutive members: alone, each
        would draw the same shuffles, and those that drop units in the same
        layers the same dropout numbers (turned into masks at their own
        rates), so one generator of each draws for the run.
    validation_rows : ndarray of int, shape (n_val,) or None
        With early stopping, the rows any member validates on ...
    validation_mask : ndarray of bool, shape (m, n_val) or None
        ... and which of them are member ``k``'s (its fold's split).
    """

    candidates: np.ndarray
    folds: np.ndarray
    rows: np.ndarray
    regularization: Regularization
    folds_members: list
    validation_rows: np.ndarray | None = None
    validation_mask: np.ndarray | None = None

    @property
    def n_members(self) -> int:
        return self.rows.shape[0]


def member_sets(fold_rows: list, settings: list) -> list:
    """The (candidate, fold) members, one ``MemberSet`` per length of training rows.

    Parameters
    ----------
    fold_rows : list of tuple
        ``(train_rows, validation_rows or None)`` of each fold.
    settings : list of Regularization
        Each candidate's settings (of one member).
    """
    n_rows_max = max(int(np.max(train, initial=0)) for train, _ in fold_rows) + 1
    dtype = row_index_dtype(n_rows_max)
    by_length = {}
    for fold, (train, _) in enumerate(fold_rows):
        by_length.setdefault(len(train), []).append(fold)
    sets = []
    for folds in by_length.values():
        # A fold's members follow each other, those at the same dropout rates together (one mask for them).
        pairs = sorted(((candidate, fold) for fold in folds for candidate in range(len(settings))),
                       key=lambda pair: (pair[1], tuple(settings[pair[0]].dropout[0])))
        candidates = np.array([candidate for candidate, _ in pairs])
        member_folds = np.array([fold for _, fold in pairs])
        rows = np.stack([fold_rows[fold][0] for fold in member_folds]).astype(dtype, copy=False)
        regularization = concat([settings[candidate] for candidate in candidates])
        validation_rows = validation_mask = None
        if fold_rows[folds[0]][1] is not None:
            validation_rows = np.unique(np.concatenate([fold_rows[fold][1] for fold in folds]))
            validation_mask = np.stack([np.isin(validation_rows, fold_rows[fold][1]) for fold in member_folds])
        folds_members = np.split(np.arange(len(pairs)), np.flatnonzero(np.diff(member_folds)) + 1)
        sets.append(MemberSet(candidates, member_folds, rows, regularization, folds_members, validation_rows,
                              validation_mask))
    return sets


class SearchMembersMixin:
    """A base estimator whose members are the (candidate, fold) pairs of ``_member_set``, set before ``fit``.

    Its hooks hand the training problem the members' rows, settings,
    validation rows and random streams; everything else (workers, groups,
    stopping, divergence, fitted members) is the base estimator's fit.
    """

    _member_set: MemberSet

    def _regularization(self) -> Regularization:
        return self._member_set.regularization

    def _train_config(self, n_features: int, n_outputs: int, n_rows: int) -> TrainConfig:
        """The base estimator's, but the members report no best loss: only their scores are read."""
        return dataclasses.replace(super()._train_config(n_features, n_outputs, n_rows), keeps_best_loss=False)

    def _member_rows(self, train_rows, entropy, sample_weight) -> np.ndarray:
        return self._member_set.rows

    def _stream_members(self, n_members: int) -> np.ndarray:
        return np.zeros(n_members, dtype=int)

    def _initial_state(self, config: TrainConfig, dtype, entropy: int, n_members: int | None = None):
        """Member 0's streams for every member; one shuffle generator per fold, one dropout generator per pattern.

        Alone, a fold's members would draw the same shuffles, and those that
        drop units in the same layers the same dropout numbers: a generator
        they share draws once for them all (``skreg._random.first_holders``).
        """
        state = super()._initial_state(config, dtype, entropy, n_members)
        streams, dropped = state.streams, self._member_set.regularization.dropout > 0
        for fold in self._member_set.folds_members:
            for k in fold[1:]:
                streams.shuffle[k] = streams.shuffle[fold[0]]
                alike = fold[(dropped[fold] == dropped[k]).all(axis=1)]
                if dropped[k].any() and alike[0] != k:
                    streams.noise[k].share("dropout", streams.noise[alike[0]])
        return state

    def _split_validation(self, X, y, Y, sample_weight, entropy, incremental, X_val, y_val, sample_weight_val):
        """``(rows of one member, validation)``: each member validates on its own fold's split (weights 0 elsewhere).

        The validation rows are those of the members' splits only, not all of
        ``X``: every epoch predicts them for every member.
        """
        members = self._member_set
        if members.validation_rows is None:
            return members.rows[0], None
        rows = members.validation_rows
        weight = sample_weight[rows] * members.validation_mask
        return members.rows[0], (X[rows], Y[rows], weight, y[rows])


def rank_scores(mean_scores: np.ndarray) -> np.ndarray:
    """``rank_test_score`` as GridSearchCV's: 1 for the best, ties share the lowest rank, NaN ranked last."""
    if np.isnan(mean_scores).all():
        return np.ones(mean_scores.shape, dtype=np.int32)
    filled = np.where(np.isnan(mean_scores), np.nanmin(mean_scores) - 1, mean_scores)
    return np.asarray(rankdata(-filled, method="min"), dtype=np.int32)


def _parameter_column(values: list) -> np.ma.MaskedArray:
    """A ``param_<name>`` column of ``cv_results_``: numbers as a float array, anything else as objects."""
    if all(np.ndim(value) == 0 for value in values):
        return np.ma.MaskedArray(np.asarray(values, dtype=np.float64), mask=False)
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return np.ma.MaskedArray(column, mask=False)


def search_results(candidates: list, scores: np.ndarray, fit_times: np.ndarray, score_times: np.ndarray,
                   diverged: np.ndarray) -> dict:
    """``cv_results_`` in GridSearchCV's format from per-(candidate, fold) arrays of shape (n_candidates, n_folds).

    A diverged member's score is NaN: its candidate's mean is NaN and ranked
    last. ``diverged_folds`` (not in GridSearchCV's) counts them per candidate.
    """
    results = {
        "mean_fit_time": fit_times.mean(axis=1),
        "std_fit_time": fit_times.std(axis=1),
        "mean_score_time": score_times.mean(axis=1),
        "std_score_time": score_times.std(axis=1),
    }
    for name in candidates[0]:
        results[f"param_{name}"] = _parameter_column([candidate[name] for candidate in candidates])
    results["params"] = candidates
    for fold in range(scores.shape[1]):
        results[f"split{fold}_test_score"] = scores[:, fold]
    with np.errstate(invalid="ignore"):
        results["mean_test_score"] = scores.mean(axis=1)
        results["std_test_score"] = scores.std(axis=1)
    results["rank_test_score"] = rank_scores(results["mean_test_score"])
    results["diverged_folds"] = diverged.sum(axis=1)
    return results
