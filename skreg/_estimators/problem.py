"""The training problem of a fit: its training and validation rows, each member's rows, its initial state."""

from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import _check_sample_weight, validate_data

from skreg import _memory
from skreg._estimators.validation import _warn_if_on_another_scale
from skreg._network import ParameterLayout, initialize
from skreg._random import member_generators, member_noise, stream_seed
from skreg._train.history import History
from skreg._train.state import TrainConfig, new_state, row_index_dtype


class ProblemMixin:
    """Building the training problem from validated arrays (part of ``BaseRegularizedMLP``)."""

    def _check_memory(self, config: TrainConfig, n_train_rows: int, dtype) -> None:
        """Refuse, before allocating anything, a fit that needs more memory than is available.

        Skipped where the available memory cannot be read.
        """
        n_draws = self._n_bootstrap_draws(n_train_rows) if self.bootstrap else n_train_rows
        needed = _memory.estimated_fit_bytes(self.n_estimators, config.network.layout.layer_units, n_draws,
                                             config.batch_size, np.dtype(dtype).itemsize, config.solver)
        available = _memory.available_memory_bytes()
        if available is not None and needed > available:
            raise ValueError(
                f"Fitting n_estimators={self.n_estimators} network(s) with hidden_layer_sizes="
                f"{self.hidden_layer_sizes!r} on {n_draws} rows each needs at least about "
                f"{needed / _memory.GIB:.1f} GiB of memory (every member's parameters and optimizer state, "
                f"rows and activations), more than the {available / _memory.GIB:.1f} GiB available. Lower "
                "n_estimators or hidden_layer_sizes, or fit the members in several estimators."
            )

    def _split_validation(self, X, y, Y, sample_weight, entropy, incremental, X_val, y_val, sample_weight_val):
        """Training row indices and the validation set ``(X, Y, weight, y)`` (or ``None``)."""
        n = X.shape[0]
        all_rows = np.arange(n)
        if X_val is not None:
            with np.errstate(over="ignore", invalid="ignore"):  # as in _validate_training_data
                X_val, y_val = validate_data(self, X_val, y_val, reset=False, accept_sparse=["csr", "csc"],
                                             dtype=X.dtype, multi_output=True, y_numeric=self._y_numeric)
            X_val = X_val.tocsr() if sp.issparse(X_val) else X_val
            _warn_if_on_another_scale(X, X_val)
            Y_val = self._encode_targets(y_val, first_call=False, name="y_val").astype(X.dtype, copy=False)
            weight_val = _check_sample_weight(sample_weight_val, X_val, dtype=X.dtype, ensure_non_negative=True)
            return all_rows, (X_val, Y_val, weight_val, y_val)
        if not self.early_stopping or incremental:
            return all_rows, None
        if self.bootstrap:
            return all_rows, "out-of-bag"
        train_rows, val_rows = self._early_stopping_split(y, entropy)
        return train_rows, (X[val_rows], Y[val_rows], sample_weight[val_rows], y[val_rows])

    def _early_stopping_split(self, y, entropy: int) -> tuple:
        """The early-stopping split of the rows labelled ``y``: sorted training and validation positions.

        The one rule for it: a CV estimator splits each training fold by it,
        as the estimator fitted on that fold alone would.
        """
        n = len(y)
        n_val = int(np.ceil(self.validation_fraction * n)) if n else 0
        if n_val < 2 or n - n_val < 1:
            raise ValueError(
                f"The validation set is too small: the split has {n_val} row(s) (validation_fraction="
                f"{self.validation_fraction} of n_samples={n}); early stopping needs at least 2 validation rows "
                "and 1 training row. Raise validation_fraction, pass X_val/y_val, or set early_stopping=False."
            )
        stratify = self._stratify(y)
        if stratify is not None:
            self._check_stratifiable(stratify, n_val, n - n_val)
        train_rows, val_rows = train_test_split(np.arange(n), test_size=n_val, stratify=stratify,
                                                random_state=stream_seed(entropy, "split"))
        train_rows.sort()
        val_rows.sort()
        return train_rows, val_rows

    def _check_stratifiable(self, labels, n_val: int, n_train: int) -> None:
        """The early-stopping split is stratified by class: refuse, never silently drop, a split that cannot be.

        Every class needs a row on each side (scikit-learn's rule; the
        first message starts with scikit-learn's wording).
        """
        classes, counts = np.unique(labels, return_counts=True)
        rare = classes[counts < 2]
        if rare.size:
            raise ValueError(
                "The least populated classes in y have only 1 member, which is too few to stratify the "
                f"early-stopping validation split. Classes with too few members are: {rare.tolist()}. Pass an "
                "explicit validation set (fit(X_val=, y_val=)), drop or merge those classes, or set "
                "early_stopping=False."
            )
        if min(n_val, n_train) < len(classes):
            change = "Raise" if n_val < len(classes) else "Lower"
            raise ValueError(
                f"The stratified early-stopping split has {n_val} validation and {n_train} training rows "
                f"(validation_fraction={self.validation_fraction}), too few to hold each of the {len(classes)} "
                f"classes on both sides. {change} validation_fraction, pass X_val/y_val, or set "
                "early_stopping=False."
            )

    def _member_rows(self, train_rows: np.ndarray, entropy: int, sample_weight: np.ndarray) -> np.ndarray:
        """The rows each member trains on: all training rows, or a bootstrap draw each.

        A bootstrap draws among the rows that carry weight: a draw of rows of
        weight 0 only would leave its member with nothing to train on.
        """
        members = range(self.n_estimators)
        train_rows = train_rows.astype(row_index_dtype(int(train_rows.max(initial=0)) + 1), copy=False)
        if not self.bootstrap:
            # Every member's rows are the same: one read-only row broadcast, not n_estimators copies.
            return np.broadcast_to(train_rows, (self.n_estimators, len(train_rows)))
        weighted_rows = train_rows[sample_weight[train_rows] > 0]
        if weighted_rows.size == 0:
            raise ValueError("Every training row has sample_weight 0: the bootstrap "
                             "has no rows to draw from.")
        n_draws = self._n_bootstrap_draws(len(weighted_rows))
        generators = member_generators(entropy, "bootstrap", members)
        member_rows = np.empty((self.n_estimators, n_draws), dtype=train_rows.dtype)
        for rows, rng in zip(member_rows, generators, strict=True):
            rows[:] = weighted_rows[rng.integers(0, len(weighted_rows), n_draws)]
        return member_rows

    @staticmethod
    def _in_bag_mask(member_rows: np.ndarray, n_rows: int) -> np.ndarray:
        """``in_bag[k, i]``: member ``k`` trained on row ``i`` at least once."""
        in_bag = np.zeros((member_rows.shape[0], n_rows), dtype=bool)
        for k, rows in enumerate(member_rows):
            in_bag[k, rows] = True
        return in_bag

    def _out_of_bag_validation(self, X, Y, sample_weight, y, in_bag):
        """Each member's validation set is its out-of-bag rows (weights zero elsewhere)."""
        weight = sample_weight * ~in_bag
        empty = np.flatnonzero(weight.sum(axis=1) == 0)
        if empty.size:
            raise ValueError(
                f"Member(s) {empty.tolist()} have no out-of-bag rows to early-stop on (n_samples={X.shape[0]}); "
                "use more rows, max_samples < 1, or pass X_val/y_val."
            )
        return X, Y, weight, y

    def _n_bootstrap_draws(self, n_rows: int) -> int:
        if self.max_samples is None:
            return n_rows
        if isinstance(self.max_samples, Integral):
            if self.max_samples > n_rows:
                raise ValueError(f"max_samples={self.max_samples} exceeds the {n_rows} training rows (of non-zero "
                                 "sample_weight).")
            return int(self.max_samples)
        return max(1, int(round(self.max_samples * n_rows)))

    def _stream_members(self, n_members: int):
        """The key of each member's random streams (initialisation, shuffling, dropout): its index.

        A hook: the members of a CV estimator's search all take member 0's
        streams, as every fit of a GridSearchCV with an integer
        ``random_state`` does.
        """
        return range(n_members)

    def _initial_state(self, config: TrainConfig, dtype, entropy: int, n_members: int | None = None):
        members = self._stream_members(self.n_estimators if n_members is None else n_members)
        params = initialize(config.network.layout, self.activation, member_generators(entropy, "init", members),
                            dtype)
        return new_state(params, member_generators(entropy, "shuffle", members),
                         member_noise(entropy, members))

    def _adopt_weights(self, config: TrainConfig, dtype, entropy: int) -> None:
        """A training state around ``coefs_`` for a fitted network that has none (an ensemble's member).

        Its warm start or ``partial_fit`` then continues from its weights, as
        scikit-learn's MLP does, with a fresh optimizer; its running epoch
        count (its loss curve's length), rows seen and loss curve count on.
        """
        coefs, _ = self._stacked_parameters()
        n_members = coefs[0].shape[0]
        self._layout = ParameterLayout((coefs[0].shape[1], *(W.shape[2] for W in coefs)))
        state = self._initial_state(config, dtype, entropy, n_members)
        losses = getattr(self, "loss_curve_", None) or []
        state.history = History(n_members, [np.full(n_members, value) for value in losses],
                                [np.ones(n_members, dtype=bool) for _ in losses])
        state.progress.n_iter[:] = len(losses)
        state.progress.samples_seen = getattr(self, "t_", 0)
        self._training_state = state
