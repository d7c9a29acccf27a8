"""The estimator layer shared by the classifier and the regressor.

Public methods validate their input once and hand clean arrays to private
methods and to the training layer; the fitted state lives in public
attributes ending in ``_`` (``coefs_``, ``intercepts_``...), which
``predict`` reads, plus private ones (``_training_state``) that a warm start
continues from.
"""

import contextlib
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import check_scoring, get_scorer_names
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, Options, RealNotInt, StrOptions
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from skreg import _memory
from skreg._losses import OUTPUT_ACTIVATIONS
from skreg._network import ParameterLayout, initialize
from skreg._objective import NetworkSpec, PenaltySpec
from skreg._optimizers import Adam
from skreg._penalties import penalty_mix
from skreg._random import member_generators, root_entropy, stream_seed
from skreg._training import (
    StopSignal,
    TrainConfig,
    TrainingData,
    concatenate_states,
    ctrl_c_sets,
    member_losses_in_groups,
    new_state,
    objective_and_finite_outputs,
    one_blas_thread_per_group,
    predict_members_sized,
    row_index_dtype,
    side_by_side_groups,
    take_members,
    train_members,
    train_side_by_side,
)
from skreg._uncertainty import out_of_bag_mean
from skreg._version import __version__

# Rows per chunk of out-of-bag bookkeeping: the members' outputs on a chunk stay bounded.
OUT_OF_BAG_CHUNK_ROWS = 4096
def _adam_moments_from_0_1(training_state) -> None:
    """Rescale the Adam moments of a 0.1.0 pickle, which stored m and v, to 0.2's m/(1-beta_1) and v/(1-beta_2).

    A warm start from such a pickle then continues exactly as 0.1.0 would have.
    """
    optimizer = getattr(training_state, "optimizer", None)
    if isinstance(optimizer, Adam):
        optimizer.first_moment /= 1.0 - optimizer.beta_1
        optimizer.second_moment /= 1.0 - optimizer.beta_2


def _mean_over_members(values: np.ndarray) -> float:
    """The mean over members that have a value (not NaN).

    A member interrupted in its first epoch, while other groups of members
    trained on, has no entries: it does not count.
    """
    values = np.asarray(values, dtype=np.float64)
    known = values[~np.isnan(values)]
    return float(known.mean()) if known.size else float("nan")


def _extend_means(previous: list | None, curve: list, start: int) -> list:
    """Per-epoch means over members of ``curve``, given ``previous``, the means of its first ``start`` epochs.

    A continued fit only appends epochs to the training curves, so each
    epoch is summarised once, however long a stream of ``partial_fit``
    calls grows (rebuilding the whole list made every call cost time
    growing with the history). Without a usable ``previous`` every epoch
    is summarised.
    """
    if previous is None or len(previous) != start:
        previous, start = [], 0
    return previous + [_mean_over_members(epoch) for epoch in curve[start:]]


def _score(scorer, estimator, X, y, weight: np.ndarray) -> float:
    """``scorer(estimator, X, y)``, given ``sample_weight`` only when the weights are not all equal.

    A plain ``scorer(estimator, X, y)`` callable (documented for ``scoring``)
    then works whenever the weights carry no information; with real weights
    it must accept them, and says so if it does not.
    """
    if np.all(weight == weight[0]):
        return scorer(estimator, X, y)
    try:
        return scorer(estimator, X, y, sample_weight=weight)
    except TypeError as error:
        if "sample_weight" not in str(error):
            raise
        raise TypeError(f"The scoring callable must accept sample_weight when the validation rows are weighted "
                        f"(by sample_weight, or by class_weight on a split of the training rows): {error}") from error


# How a fit that cannot give finite values is refused; the first sentences are scikit-learn's MLP's.
NON_FINITE_FIT = ("Solver produced non-finite parameter weights. The input data may contain large values and need "
                  "to be preprocessed.")

# How far apart (in training standard deviations, or as a ratio of spreads) X_val's columns may sit
# before they look transformed differently from X's.
SCALE_MISMATCH_FACTOR = 10.0


def _column_moments(X) -> tuple:
    """Column means and standard deviations of a dense or sparse matrix."""
    if sp.issparse(X):
        mean = np.asarray(X.mean(axis=0)).ravel()
        second = np.asarray(X.multiply(X).mean(axis=0)).ravel()
        return mean, np.sqrt(np.maximum(second - mean**2, 0.0))
    with np.errstate(over="ignore", invalid="ignore"):
        return X.mean(axis=0, dtype=np.float64), X.std(axis=0, dtype=np.float64)


def _warn_if_on_another_scale(X, X_val) -> None:
    """Warn when ``X_val`` visibly went through other transformations than ``X`` (e.g. not a Pipeline's scaler).

    A column whose validation mean lies many training standard deviations
    from its training mean, or whose spread differs by as large a factor,
    would make early stopping watch a network evaluated off its inputs' scale.
    """
    if X_val.shape[0] < 2 or X.shape[0] < 2:
        return
    mean, std = _column_moments(X)
    mean_val, std_val = _column_moments(X_val)
    varies = (std > 0) & np.isfinite(std) & np.isfinite(std_val)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(varies, np.abs(mean_val - mean) / std, 0.0)
        ratio = np.where(varies & (std_val > 0), np.maximum(std_val / std, std / std_val), 1.0)
    off = np.flatnonzero((shift > SCALE_MISMATCH_FACTOR) | (ratio > SCALE_MISMATCH_FACTOR))
    if off.size == 0:
        return
    j = int(off[0])
    warnings.warn(
        f"X_val looks like it is on another scale than X: in {off.size} column(s), e.g. column {j} (mean "
        f"{mean_val[j]:.3g}, std {std_val[j]:.3g} in X_val against {mean[j]:.3g}, {std[j]:.3g} in X). Inside a "
        "Pipeline, X_val does not go through the pipeline's transformers unless it is routed to them: "
        "sklearn.set_config(enable_metadata_routing=True), Pipeline(..., transform_input=['X_val']) and "
        "estimator.set_fit_request(X_val=True, y_val=True).", UserWarning, stacklevel=5)


class _ScoringError(ValueError):
    """A scorer could not score the validation rows (see ``_validation_score``)."""


def _validation_score(scoring, scorer, estimator, X, y, weight: np.ndarray, rows: str) -> float:
    """``_score`` on validation ``rows`` (which rows, for messages), as one float.

    A scorer that fails, or returns anything but one real number, raises a
    ValueError that names ``scoring``, the scorer and what the validation
    rows hold, whether it happens before the first epoch or in the middle
    of training.
    """
    try:
        score = _score(scorer, estimator, X, y, weight)
    except TypeError as error:
        if "must accept sample_weight" in str(error):
            raise
        raise _scoring_error(scoring, scorer, estimator, X, y, rows, error) from error
    except MemoryError:
        raise
    except Exception as error:
        raise _scoring_error(scoring, scorer, estimator, X, y, rows, error) from error
    value = score[()] if isinstance(score, np.ndarray) and score.ndim == 0 else score
    if not isinstance(value, Real) or isinstance(value, (bool, np.bool_)):
        shape = f" of shape {np.shape(score)}" if np.ndim(score) else ""
        raise _ScoringError(f"The scorer of scoring={scoring!r} must return one float, got a "
                            f"{type(score).__name__}{shape}: {score!r:.80}.")
    return float(value)


def _describe_validation(estimator, X, y, rows: str) -> str:
    """What validation ``rows`` hold, for the message of a scorer that failed on them."""
    description = f"{rows} ({X.shape[0]} rows"
    classes = getattr(estimator, "classes_", None)
    if classes is not None and np.ndim(y) == 1:
        return description + f"; their labels are {np.unique(y).tolist()} of the training classes {classes.tolist()})"
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return description + ")"
    description += f"; y in [{y.min():.3g}, {y.max():.3g}]"
    try:
        predicted = np.asarray(estimator.predict(X), dtype=np.float64)
    except ValueError as error:  # non-finite outputs
        return description + f"; no finite predictions: {error})"
    return description + f", the network's predictions in [{predicted.min():.3g}, {predicted.max():.3g}])"


def _scoring_error(scoring, scorer, estimator, X, y, rows: str, error: Exception) -> ValueError:
    return _ScoringError(f"scoring={scoring!r} ({scorer}) failed on {_describe_validation(estimator, X, y, rows)}: "
                      f"{type(error).__name__}: {error}")


def _member_mean(outputs: np.ndarray) -> np.ndarray:
    """The mean over members (axis 0) of finite outputs, finite too: huge ones must not overflow their sum."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = outputs.mean(axis=0)
        overflowed = ~np.isfinite(mean)
        if overflowed.any():
            scale = np.max(np.abs(outputs[:, overflowed]), axis=0)
            mean[overflowed] = scale * np.mean(outputs[:, overflowed] / scale, axis=0)
    return mean


def _largest_magnitude(X) -> float:
    """``max |x|`` of a dense or sparse ``X`` (0 when empty)."""
    values = X.data if sp.issparse(X) else np.asarray(X)
    return float(np.max(np.abs(values))) if values.size else 0.0


def _marked_as_member(member):
    """A shallow copy of an ensemble's ``member`` whose pickle says it was pickled inside the ensemble."""
    marked = object.__new__(type(member))
    marked.__dict__.update(member.__dict__, _skreg_pickled_inside_an_ensemble=True)
    return marked


def _members_label(members: np.ndarray) -> str:
    """How ``verbose`` lines name a chunk or group of members."""
    return f"member {members[0]}" if len(members) == 1 else f"members {members[0]}-{members[-1]}"


def _solver_is_stochastic(estimator) -> bool:
    """``partial_fit`` exists only for 'sgd' and 'adam' (as in scikit-learn's MLP)."""
    if estimator.solver == "lbfgs":
        raise AttributeError("partial_fit is only available for stochastic solvers ('sgd', 'adam'), not 'lbfgs'.")
    return True


class BaseRegularizedMLP(BaseEstimator, metaclass=ABCMeta):
    """Shared machinery of ``RegularizedMLPClassifier`` and ``RegularizedMLPRegressor``.

    Do not use directly.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "penalty": [StrOptions({"l2", "l1", "elasticnet"}), None],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "scoring": [StrOptions(set(get_scorer_names())), callable, None],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "bootstrap": ["boolean"],
        "max_samples": [
            None,
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="right"),
        ],
        "oob_score": ["boolean"],
        # joblib gives n_jobs=0 no meaning; -1, -2, ... count back from the number of CPUs.
        "n_jobs": [None, Interval(Integral, None, -1, closed="right"), Interval(Integral, 1, None, closed="left")],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        *,
        solver,
        alpha,
        penalty,
        l1_ratio,
        dropout,
        batch_size,
        learning_rate,
        learning_rate_init,
        power_t,
        max_iter,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        momentum,
        nesterovs_momentum,
        early_stopping,
        validation_fraction,
        scoring,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_fun,
        n_estimators,
        bootstrap,
        max_samples,
        oob_score,
        n_jobs,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.dropout = dropout
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.scoring = scoring
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.n_estimators = n_estimators
        self.bootstrap = bootstrap
        self.max_samples = max_samples
        self.oob_score = oob_score
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------
    # What the subclasses provide
    # ------------------------------------------------------------------

    @abstractmethod
    def _encode_targets(self, y, *, first_call, classes=None, name="y"):
        """Turn ``y`` into the float targets ``Y`` of shape (n, n_outputs); set label state.

        ``name`` is what errors call ``y`` (``'y_val'`` for the validation set).
        """

    @abstractmethod
    def _loss_name(self) -> str:
        """The training loss, a key of ``skreg._losses.LOSSES``."""

    def _prepare_y(self, y):
        """Hook to reshape ``y`` after validation (the classifier flattens a column)."""
        return y

    def _check_warm_start_targets(self, y):
        """Hook: a warm-started ``fit`` must suit the fitted output units (the classifier checks its classes)."""

    def _stratify(self, y):
        """Labels to stratify the validation split by (``None``: no stratification)."""
        return None

    def _sample_weight_for(self, y, sample_weight):
        """Hook for class weights: the classifier multiplies them in."""
        return sample_weight

    # ------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------

    def _hidden_sizes(self) -> tuple:
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
        for size in sizes:
            if not isinstance(size, Integral) or isinstance(size, bool) or size < 1:
                raise ValueError(f"hidden_layer_sizes must contain positive integers, got {self.hidden_layer_sizes!r}.")
        return tuple(int(size) for size in sizes)

    def _dropout_rates(self, n_hidden: int) -> tuple:
        """The drop probability of each hidden layer."""
        dropout = self.dropout
        if isinstance(dropout, np.ndarray) and dropout.ndim == 0:
            dropout = dropout.item()  # a 0-d array is one number
        if isinstance(dropout, Real):
            rates = (float(dropout),) * n_hidden
            if not 0 <= float(dropout) < 1:  # a plain float was checked by _parameter_constraints, not a 0-d array
                raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}.")
            return rates
        if isinstance(dropout, (str, bytes, dict, set, frozenset)) or not hasattr(dropout, "__len__"):
            raise ValueError(f"dropout must be one float or a sequence (list, tuple, array) of floats, one per "
                             f"hidden layer; got a {type(dropout).__name__}: {self.dropout!r}.")
        if not all(isinstance(rate, Real) and not isinstance(rate, bool) for rate in dropout):
            raise ValueError(f"dropout must hold numbers (drop probabilities in [0, 1)), got {self.dropout!r}.")
        rates = tuple(float(rate) for rate in dropout)
        if len(rates) != n_hidden:
            raise ValueError(
                f"dropout has {len(rates)} values but there are {n_hidden} hidden layers "
                f"(hidden_layer_sizes={self.hidden_layer_sizes!r}); give one rate per hidden layer or one float."
            )
        for rate in rates:
            if not 0 <= rate < 1:
                raise ValueError(f"Every dropout rate must be in [0, 1), got {rates}.")
        return rates

    def _check_params(self) -> None:
        """Rules that involve several parameters (single ones are in ``_parameter_constraints``)."""
        rates = self._dropout_rates(len(self._hidden_sizes()))
        if self.oob_score and not self.bootstrap:
            raise ValueError("oob_score=True needs bootstrap=True: without bootstrap no row is out of bag.")
        if self.solver == "lbfgs":
            if any(rates):
                raise ValueError(
                    "dropout > 0 needs a stochastic solver: with solver='lbfgs' the objective would be "
                    "random. Use solver='adam' or 'sgd', or set dropout=0."
                )
            if self.early_stopping:
                raise ValueError(
                    "early_stopping=True needs a stochastic solver (epochs to monitor); solver='lbfgs' "
                    "runs one full-batch optimisation. Use solver='adam' or 'sgd'."
                )

    def _batch_size(self, n_rows: int) -> int:
        if self.batch_size == "auto":
            return min(200, n_rows)
        if self.batch_size > n_rows:
            warnings.warn(f"Got batch_size={self.batch_size} larger than the {n_rows} training rows; "
                          "using one batch of all rows.", UserWarning, stacklevel=3)
        return int(min(self.batch_size, n_rows))

    def _train_config(self, n_features: int, n_outputs: int, n_rows: int) -> TrainConfig:
        hidden = self._hidden_sizes()
        layout = ParameterLayout((n_features, *hidden, n_outputs))
        return TrainConfig(
            network=NetworkSpec(layout, self.activation, self._loss_name()),
            penalty=PenaltySpec(float(self.alpha), *penalty_mix(self.penalty, self.l1_ratio)),
            dropout=self._dropout_rates(len(hidden)),
            solver=self.solver,
            batch_size=self._batch_size(n_rows),
            max_iter=self.max_iter,
            shuffle=self.shuffle,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            learning_rate=self.learning_rate,
            learning_rate_init=self.learning_rate_init,
            power_t=self.power_t,
            momentum=self.momentum,
            nesterovs_momentum=self.nesterovs_momentum,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            max_fun=self.max_fun,
            verbose=bool(self.verbose),
            early_stopping=self.early_stopping,
        )

    # ------------------------------------------------------------------
    # Input validation (public boundary only)
    # ------------------------------------------------------------------

    # scikit-learn's finite check first sums X, which overflows (and warns) for huge finite values before its
    # exact check runs: the checks stand, the warnings do not leak.

    def _validate_training_data(self, X, y, *, reset: bool):
        with np.errstate(over="ignore", invalid="ignore"):
            X, y = validate_data(
                self, X, y, reset=reset, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32),
                multi_output=True, y_numeric=self._y_numeric,
            )
        if sp.issparse(X):
            X = X.tocsr()
        return X, y

    def _validate_X(self, X):
        with np.errstate(over="ignore", invalid="ignore"):
            X = validate_data(self, X, reset=False, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32))
        return X.tocsr() if sp.issparse(X) else X

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------

    def _fit(self, X, y, sample_weight, **kwargs):
        """Fit, or leave the estimator exactly as it was if fitting raises.

        Validation sets ``n_features_in_`` and a warm start continues the
        training state in place, so without this a failed call on a fitted
        estimator would leave it half-updated.
        """
        before = dict(self.__dict__)
        if hasattr(self, "_training_state"):
            self._training_state = self._training_state.copy()
        try:
            return self._fit_unguarded(X, y, sample_weight, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit_unguarded(self, X, y, sample_weight, *, X_val=None, y_val=None, sample_weight_val=None,
                       incremental=False, classes=None):
        """Validate, build the training problem, train, set the fitted attributes."""
        self._check_params()
        if (X_val is None) != (y_val is None):
            raise ValueError("Pass both X_val and y_val to use an explicit validation set, or neither.")
        if sample_weight_val is not None and X_val is None:
            raise ValueError("sample_weight_val was given without X_val and y_val.")
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True: it trains one epoch per call and "
                             "has no validation split to stop on. Set early_stopping=False for partial_fit.")
        continuing = (incremental or self.warm_start) and hasattr(self, "coefs_")
        X, y = self._validate_training_data(X, y, reset=not continuing)
        y = self._prepare_y(y)
        if continuing and not incremental:
            self._check_warm_start_targets(y)
        Y = self._encode_targets(y, first_call=not continuing, classes=classes)
        Y = Y.astype(X.dtype, copy=False)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
        sample_weight = self._sample_weight_for(y, sample_weight).astype(X.dtype, copy=False)
        if not np.any(sample_weight > 0):
            weighted_by = "sample_weight times class_weight" if getattr(self, "class_weight", None) else "sample_weight"
            raise ValueError(f"{weighted_by} sums to zero: there is nothing to fit.")

        entropy = getattr(self, "_entropy", None) if continuing else None
        entropy = root_entropy(self.random_state) if entropy is None else entropy
        train_rows, validation = self._split_validation(X, y, Y, sample_weight, entropy, incremental,
                                                        X_val, y_val, sample_weight_val)
        config = self._train_config(X.shape[1], Y.shape[1], len(train_rows))
        self._check_memory(config, len(train_rows), X.dtype)
        if continuing:
            if not hasattr(self, "_training_state"):
                self._adopt_weights(config, X.dtype, entropy)
            self._check_continuation(config)
            state = self._training_state
            state.params = config.network.layout.pack(*self._stacked_parameters())
            self._reset_for_new_settings(state, config, incremental, explicit_validation=X_val is not None)
        else:
            state = self._initial_state(config, X.dtype, entropy)
        member_rows = self._member_rows(train_rows, entropy, sample_weight)
        # Otherwise made after training (``_set_ensemble_attributes``): not held while the members train.
        in_bag = self._in_bag_mask(member_rows, X.shape[0]) if validation == "out-of-bag" else None
        if validation == "out-of-bag":
            validation = self._out_of_bag_validation(X, Y, sample_weight, y, in_bag)
        data = TrainingData(X=X, Y=Y, sample_weight=sample_weight, member_rows=member_rows)
        initial_params = state.params.copy()
        # Epochs the fitted curves already summarise; a pickle from before this record rebuilds them whole.
        summarised = getattr(self, "_summarised_epochs", 0) if continuing else 0
        if validation and self.scoring is not None:
            self._check_scoring_before_training(config, validation, state.params, explicit=X_val is not None)
        epochs_before = state.n_iter.copy()
        stop = StopSignal()
        # From here a Ctrl-C stops the training at its next step, and once the training is done it only
        # marks the fit interrupted: the bookkeeping below completes, and the model is kept.
        with ctrl_c_sets(stop):
            trained = self._train(data, state, config, validation, incremental, parallel=not continuing, stop=stop)
            workers_lost = trained is None
            state = state if workers_lost else trained
            record = (state, initial_params, config, data, y, in_bag, entropy, summarised, incremental,
                      X_val is not None, epochs_before)
            before = dict(self.__dict__)
            try:
                self._record_fit(*record)
            except KeyboardInterrupt:
                # Interrupted anyway (a SIGINT handler of the user's raised): training is done, so record it
                # all the same, from the attributes as they were.
                stop.set()
                self.__dict__.clear()
                self.__dict__.update(before)
                self._record_fit(*record)
        state.interrupted |= stop.is_set()
        self._warn_about(state, incremental, workers_lost)
        return self

    def _record_fit(self, state, initial_params, config: TrainConfig, data: TrainingData, y, in_bag, entropy: int,
                    summarised: int, incremental: bool, explicit_validation: bool, epochs_before) -> None:
        """Set the fitted attributes from the trained ``state``; may run twice (see ``_fit_unguarded``)."""
        objective = self._fall_back_where_non_finite(state, initial_params, config, data)
        epochs_run = state.n_iter - epochs_before
        self._entropy = entropy
        self._fitted_optimizer_settings = self._optimizer_settings(config)
        if not incremental:
            self._fitted_monitor = self._monitor_settings(explicit_validation=explicit_validation)
        self._set_fitted_attributes(state, config, objective, summarised, epochs_run)
        with np.errstate(all="ignore"):  # out-of-bag outputs of members that fell back may still overflow
            self._set_ensemble_attributes(state, data, y, in_bag, objective, summarised, epochs_run)

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

    def _train(self, data: TrainingData, state, config: TrainConfig, validation, incremental: bool,
               parallel: bool, stop: StopSignal):
        """Train all members, in chunks over joblib workers when ``n_jobs`` asks for it.

        Members draw from their own random streams, so the result depends
        neither on ``n_jobs`` nor on how a chunk is split further (see
        ``_train_chunk``). A warm-started or incremental fit continues in this
        process, as one group.

        Setting ``stop`` (Ctrl-C) stops every member at its next step, in
        worker processes too, which send back what they trained. Returns
        None if a KeyboardInterrupt reached joblib itself (a SIGINT handler
        of the user's, which Ctrl-C raises through): joblib then stops its
        workers and their state is lost; ``state`` is untouched (the workers
        trained copies).
        """
        members = np.arange(state.n_members)
        if not parallel:
            with self._blas_threads_of_a_group():
                return train_members(data, state, config, self._validator(config, validation, members), incremental,
                                     stop)
        n_chunks = min(effective_n_jobs(self.n_jobs), state.n_members)
        if n_chunks <= 1:
            return self._train_chunk(data, state, config, validation, incremental, members, stop)
        chunks = np.array_split(members, n_chunks)
        with stop.shared_with_workers():
            try:
                states = Parallel(n_jobs=n_chunks)(
                    delayed(self._train_chunk)(data.subset(chunk), state.subset(chunk), config, validation,
                                               incremental, chunk, stop)
                    for chunk in chunks
                )
            except KeyboardInterrupt:
                stop.set()  # workers that joblib cannot stop (threads) stop at their next step
                return None
        return concatenate_states(states, validated=bool(validation))

    def _train_chunk(self, data: TrainingData, state, config: TrainConfig, validation, incremental: bool,
                     members: np.ndarray, stop: StopSignal):
        """Train a fresh chunk of ``members``, in groups side by side when this process has the cores for it.

        Each group is still trained as one batched ensemble.
        """
        n_groups = side_by_side_groups(state.n_members)
        if n_groups <= 1:
            label = _members_label(members) if len(members) < self.n_estimators else ""
            with self._blas_threads_of_a_group():
                return train_members(data, state, config, self._validator(config, validation, members),
                                     incremental, stop, label=label)
        groups = np.array_split(np.arange(state.n_members), n_groups)
        return train_side_by_side(
            [(data.subset(group), state.subset(group), self._validator(config, validation, members[group]),
              _members_label(members[group]))
             for group in groups],
            config, incremental, stop,
        )

    def _blas_threads_of_a_group(self):
        """A single net keeps every BLAS thread; an ensemble's members train on one, in every grouping."""
        return one_blas_thread_per_group() if self.n_estimators > 1 else contextlib.nullcontext()

    def _validator(self, config: TrainConfig, validation, members: np.ndarray):
        """``_make_validator`` for ``members``, or None without validation data."""
        return self._make_validator(config, validation, members) if validation else None

    def _initial_state(self, config: TrainConfig, dtype, entropy: int, n_members: int | None = None):
        members = range(self.n_estimators if n_members is None else n_members)
        params = initialize(config.network.layout, self.activation, member_generators(entropy, "init", members),
                            dtype)
        return new_state(params, member_generators(entropy, "shuffle", members),
                         member_generators(entropy, "dropout", members))

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
        history = getattr(self, "loss_curve_", None) or []
        state.loss_curve = [np.full(n_members, value) for value in history]
        state.active_history = [np.ones(n_members, dtype=bool) for _ in history]
        state.n_iter[:] = len(history)
        state.samples_seen = getattr(self, "t_", 0)
        self._training_state = state

    def _check_continuation(self, config: TrainConfig) -> None:
        """A warm start must keep the network's shape and its members."""
        if config.network.layout != self._layout:
            raise ValueError(
                f"warm_start/partial_fit cannot change the network from layer sizes {self._layout.layer_units} "
                f"to {config.network.layout.layer_units}; set warm_start=False to refit from scratch."
            )
        if self._training_state.n_members != self.n_estimators:
            raise ValueError(
                f"warm_start/partial_fit cannot change n_estimators from {self._training_state.n_members} to "
                f"{self.n_estimators}; set warm_start=False to refit from scratch."
            )

    @staticmethod
    def _optimizer_settings(config: TrainConfig) -> tuple:
        return (config.solver, config.learning_rate, config.learning_rate_init, config.power_t, config.momentum,
                config.nesterovs_momentum, config.beta_1, config.beta_2, config.epsilon)

    def _reset_for_new_settings(self, state, config: TrainConfig, incremental: bool,
                                explicit_validation: bool) -> None:
        """What a continued fit must not carry over.

        The optimizer state (Adam's moments, SGD's velocity and schedule) is
        kept unless the optimizer's settings changed; the stopping rule's
        record (best score, patience, best weights) is kept unless what it
        watches changed (``early_stopping``, ``scoring``, the validation data).
        """
        if self._optimizer_settings(config) != getattr(self, "_fitted_optimizer_settings", None):
            state.optimizer = None
        if not incremental and self._monitor_settings(explicit_validation) != getattr(self, "_fitted_monitor", None):
            state.tracker = None
            state.best_params = None

    def _monitor_settings(self, explicit_validation: bool) -> tuple:
        """What the stopping rule watches; a warm start that changes it starts the rule afresh.

        Without validation data it watches the training objective, measured
        noise-free at the epoch's end when the step has dropout and as the
        running loss otherwise: switching dropout on or off changes it too.
        """
        with_dropout = any(self._dropout_rates(len(self._hidden_sizes())))
        return (self.early_stopping, self.scoring, explicit_validation, self.validation_fraction, with_dropout)

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
        train_rows, val_rows = train_test_split(all_rows, test_size=n_val, stratify=stratify,
                                                random_state=stream_seed(entropy, "split"))
        train_rows.sort()
        val_rows.sort()
        return train_rows, (X[val_rows], Y[val_rows], sample_weight[val_rows], y[val_rows])

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

    def _make_validator(self, config: TrainConfig, validation, members: np.ndarray):
        """``validate(params, members=None) -> (loss, score)`` for ``members``, each on its own validation rows.

        The validation weights are shared, shape (n_val,), or per member,
        shape (n_members, n_val) (out-of-bag rows). The ``members`` argument
        of ``validate`` (indices into these members) says whose parameters
        ``params`` holds, when only some of them still train.
        """
        X_val, Y_val, group_weight_val, y_val = validation
        if group_weight_val.ndim == 2:
            group_weight_val = take_members(group_weight_val, members)
        network = config.network
        scorer = None if self.scoring is None else check_scoring(self, scoring=self.scoring)
        group_members = members

        def validate(params, members=None):
            weight_val = group_weight_val
            if members is not None and weight_val.ndim == 2:
                weight_val = take_members(weight_val, members)
            members_of = group_members if members is None else group_members[members]
            def weight_of(group):
                return weight_val if weight_val.ndim == 1 else weight_val[group]

            # In groups of members, as the final objective: all members' outputs on all rows can outgrow X.
            loss, _, _ = member_losses_in_groups(network, params, X_val, Y_val, weight_of)
            if scorer is None:
                return loss, -loss
            scores = []
            for k in range(params.shape[0]):
                weight = weight_val if weight_val.ndim == 1 else weight_val[k]
                rows = np.flatnonzero(weight > 0)
                member_coefs, member_intercepts = network.layout.views(params[k : k + 1])
                member = self._member_estimator([W[0] for W in member_coefs], [b[0, 0] for b in member_intercepts],
                                                feature_names=False)
                where = "the validation rows" if weight_val.ndim == 1 else f"member {members_of[k]}'s out-of-bag rows"
                scores.append(_validation_score(self.scoring, scorer, member, X_val[rows], y_val[rows], weight[rows],
                                                where))
            return loss, np.asarray(scores, dtype=np.float64)

        return validate

    def _validation_source(self, explicit: bool) -> str:
        """Where the validation rows come from, for messages."""
        if explicit:
            return "X_val/y_val"
        if self.bootstrap:
            return "each member's out-of-bag rows"
        return f"the validation split (validation_fraction={self.validation_fraction})"

    def _check_scoring_before_training(self, config: TrainConfig, validation, params, explicit: bool) -> None:
        """Score the network once on the validation data before the first epoch.

        A scorer that cannot score these rows (a class missing for
        'roc_auc_ovr', one class for 'neg_log_loss', a scorer returning an
        array...) fails here, naming ``scoring`` and the data, rather than
        in the middle of training. A score that is NaN for every member (a
        metric undefined on these rows) is refused with early stopping,
        which could never pick a best epoch, and warned about otherwise.
        """
        source = self._validation_source(explicit)
        validate = self._make_validator(config, validation, np.arange(params.shape[0]))
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            try:
                _, scores = validate(params)
            except _ScoringError as error:
                raise ValueError(f"Before the first epoch, on {source}: {error}") from error
        if not np.isnan(scores).all():
            for caught_warning in caught:
                warnings.warn(caught_warning.message, caught_warning.category, stacklevel=4)
            return
        said = "; ".join(sorted({str(caught_warning.message).rstrip(".") for caught_warning in caught}))
        message = (f"scoring={self.scoring!r} is NaN on {source} ({len(validation[3])} rows)"
                   + (f": {said}" if said else "") + ".")
        if self.early_stopping:
            raise ValueError(f"{message} Early stopping could never pick a best epoch on it: use a scoring that "
                             "is defined on these rows, other validation data, or scoring=None (the validation "
                             "loss).")
        warnings.warn(f"{message} validation_scores_ will be NaN.", UserWarning, stacklevel=4)

    # ------------------------------------------------------------------
    # Fitted state
    # ------------------------------------------------------------------

    def _set_fitted_attributes(self, state, config: TrainConfig, objective: np.ndarray, summarised: int,
                               epochs_run: np.ndarray) -> None:
        """Set the fitted attributes from the trained ``state``.

        ``summarised`` epochs of the state's curves are already summarised by
        the attributes of the call this one continues (0 for a fresh fit).
        ``epochs_run`` are each member's epochs in this call: ``n_iter_``
        counts them, as scikit-learn's does, while the state's ``n_iter``
        (which numbers ``best_iteration_``) and the curves count on.
        """
        layout = config.network.layout
        self._layout = layout
        self._training_state = state
        coefs, intercepts = layout.views(state.params)
        # Only the attributes' shapes follow scikit-learn's for one network; their values are the stacked arrays'.
        sklearn_shapes = self.n_estimators == 1
        self.coefs_ = [np.array(W[0] if sklearn_shapes else W) for W in coefs]
        self.intercepts_ = [np.array(b[0, 0] if sklearn_shapes else b[:, 0]) for b in intercepts]
        self.n_layers_ = len(layout.layer_units)
        self.n_outputs_ = layout.layer_units[-1]
        self.out_activation_ = config.network.output_activation
        self.n_iter_ = int(epochs_run.max())
        self.t_ = int(state.samples_seen)
        self.loss_curve_ = self._extended_curve("loss_curve_", state.loss_curve, summarised)
        self._summarised_epochs = len(state.loss_curve)
        self.loss_ = float(np.mean(objective))
        recorded = bool(state.validation_loss_curve)
        self.validation_loss_curve_ = (self._extended_curve("validation_loss_curve_", state.validation_loss_curve,
                                                            summarised) if recorded else None)
        self.validation_scores_ = (self._extended_curve("validation_scores_", state.validation_score_curve,
                                                        summarised) if recorded else None)
        if self._stopped_on_validation(state):
            self.best_validation_score_ = _mean_over_members(self._best_scores(state))
            self.best_iteration_ = int(np.max(state.tracker.best_epoch)) if sklearn_shapes else state.tracker.best_epoch
            self.best_loss_ = None
        else:
            scored = recorded and not np.isnan(self.validation_scores_).all()  # NaN everywhere: no best score
            self.best_validation_score_ = float(np.nanmax(self.validation_scores_)) if scored else None
            self.best_iteration_ = None
            self.best_loss_ = None if state.tracker is None else -_mean_over_members(self._best_scores(state))

    def _extended_curve(self, name: str, curve: list, summarised: int) -> list:
        """The fitted curve ``name`` brought up to date with ``curve`` (see ``_extend_means``)."""
        return _extend_means(getattr(self, name, None) if summarised else None, curve, summarised)

    @staticmethod
    def _best_scores(state) -> np.ndarray:
        """The tracker's best score per member, NaN for a member that never had a finite score.

        Such a member was interrupted or diverged in its first epoch; the
        ensemble's best score is the mean over the others.
        """
        return np.where(np.isneginf(state.tracker.best_score), np.nan, state.tracker.best_score)

    def _stopped_on_validation(self, state) -> bool:
        """Whether early stopping watched a validation set (and restored its best epoch)."""
        return self.early_stopping and bool(state.validation_loss_curve) and state.tracker is not None

    def _fall_back_where_non_finite(self, state, initial_params, config: TrainConfig,
                                    data: TrainingData) -> np.ndarray:
        """Last line of defence: a member whose fitted objective is not finite gets its starting weights.

        Returns J of every member at the final weights (``loss_``).

        The training loop restores the last weights certified by a finite
        loss, but weights can still be finite yet so large that predictions
        overflow; such a member must not leave NaN predictions behind, on any
        training row (rows of weight 0 included). If even the starting
        weights give no finite objective or outputs (inputs or targets near
        the float range), no fit can: raise, as scikit-learn's MLP does,
        rather than return a model whose loss is infinite.
        """
        objective, finite_outputs = objective_and_finite_outputs(data, state.params, config)
        bad = ~np.isfinite(objective) | ~finite_outputs
        if bad.any():
            state.params[bad] = initial_params[bad]
            state.diverged |= bad
            objective, finite_outputs = objective_and_finite_outputs(data, state.params, config)
            still = bad & ~finite_outputs
            if still.any():
                raise ValueError(
                    f"{NON_FINITE_FIT} The network's output is not finite on the training data (largest |x| "
                    f"{_largest_magnitude(data.X):.3g}), even at the starting weights of {int(still.sum())} "
                    f"network(s): at this scale its units overflow (output: {config.network.output_activation}); "
                    "scale the inputs (e.g. with StandardScaler).")
        hopeless = ~np.isfinite(objective)
        if hopeless.any():
            raise ValueError(
                f"{NON_FINITE_FIT} The training objective of {int(hopeless.sum())} of {state.n_members} "
                f"network(s) overflows {data.X.dtype} at the fitted weights and at the starting ones alike: scale "
                "the inputs (e.g. with StandardScaler) and, for regression, the targets."
            )
        return objective

    def _warn_about(self, state, incremental: bool, workers_lost: bool = False) -> None:
        if state.diverged.any():
            warnings.warn(
                f"Training diverged (non-finite loss) for {int(state.diverged.sum())} of {state.n_members} "
                "network(s); their last finite weights (with early stopping, their best epoch's) were kept. Lower "
                f"learning_rate_init (now {self.learning_rate_init}) or scale the inputs.", ConvergenceWarning,
                stacklevel=3)
        if self._stopped_on_validation(state) and not incremental and not state.interrupted:
            never_scored = np.isneginf(state.tracker.best_score) & ~state.diverged
            if never_scored.any():
                source = self._validation_source(explicit=self._fitted_monitor[2])  # set by this (non-incremental) fit
                warnings.warn(
                    f"scoring={self.scoring!r} was NaN on {source} in every epoch for {int(never_scored.sum())} of "
                    f"{state.n_members} network(s): early stopping had no best epoch to restore for them, and kept "
                    "their last weights.", UserWarning, stacklevel=3)
        if workers_lost:
            warnings.warn(f"Training interrupted by the user while the members trained in n_jobs={self.n_jobs} "
                          "joblib workers, and the workers' state was lost (the interruption reached joblib, "
                          "which stopped them): every member keeps its initial weights.", UserWarning, stacklevel=3)
        elif state.interrupted:
            warnings.warn("Training interrupted by the user; the last complete epoch's (or best) weights "
                          "were kept.", UserWarning, stacklevel=3)
        failures = getattr(state, "solver_failures", {})
        if failures:
            first = next(iter(failures.values()))
            warnings.warn(f"L-BFGS failed to converge for {len(failures)} of {state.n_members} network(s) ({first}).",
                          ConvergenceWarning, stacklevel=3)
        if state.reached_max_iter and not incremental and not state.interrupted:
            solver = "L-BFGS" if self.solver == "lbfgs" else "Stochastic Optimizer"
            warnings.warn(f"{solver}: Maximum iterations ({self.max_iter}) reached and the optimization "
                          "hasn't converged yet.", ConvergenceWarning, stacklevel=3)

    def _stacked_parameters(self) -> tuple:
        """``coefs_`` and ``intercepts_`` with a leading member axis (views, no copy)."""
        if self.coefs_[0].ndim == 2:
            return [W[None] for W in self.coefs_], [b[None, None] for b in self.intercepts_]
        return list(self.coefs_), [b[:, None] for b in self.intercepts_]

    def _member_estimator(self, coefs: list, intercepts: list, feature_names: bool = True):
        """A fitted single-network estimator of the same class around one member's weights.

        Without ``feature_names`` it has no ``feature_names_in_``: the
        validator hands the scorer validated arrays, which would otherwise
        warn every epoch that X has no feature names (scikit-learn gh-24846).
        """
        member = type(self)(**{**self.get_params(deep=False), "n_estimators": 1, "bootstrap": False,
                               "oob_score": False, "n_jobs": None})
        member.coefs_ = coefs
        member.intercepts_ = intercepts
        member.n_layers_ = len(coefs) + 1
        member.n_outputs_ = coefs[-1].shape[1]
        member.out_activation_ = OUTPUT_ACTIVATIONS[self._loss_name()]
        for name in ("n_features_in_", "feature_names_in_", "classes_", "_label_binarizer", "_n_targets"):
            if hasattr(self, name) and (feature_names or name != "feature_names_in_"):
                setattr(member, name, getattr(self, name))
        return member

    def _set_ensemble_attributes(self, state, data: TrainingData, y, in_bag, objective: np.ndarray,
                                 summarised: int, epochs_run: np.ndarray) -> None:
        """``estimators_`` (views of the stacked weights), their rows, and the out-of-bag estimates."""
        coefs, intercepts = self._stacked_parameters()
        earlier = getattr(self, "estimators_", None) if summarised else None
        self.estimators_ = []
        for k in range(state.n_members):
            member = self._member_estimator([W[k] for W in coefs], [b[k, 0] for b in intercepts])
            member.n_iter_ = int(epochs_run[k])
            member.t_ = int(state.samples_seen)
            member.loss_ = float(objective[k])
            self._set_member_curves(member, earlier[k] if earlier else None, state, k, summarised)
            self._set_member_best(member, state, k)
            self.estimators_.append(member)
        self.estimators_samples_ = list(data.member_rows)
        for name in ("_in_bag", "_oob_residuals", "_oob_usable", "oob_score_", "oob_prediction_",
                     "oob_decision_function_"):
            self.__dict__.pop(name, None)  # from an earlier fit with other settings
        if not self.bootstrap:
            return
        # Made here, after training, unless out-of-bag early stopping needed it before.
        self._in_bag = in_bag if in_bag is not None else self._in_bag_mask(data.member_rows, data.Y.shape[0])
        oob_mean, n_out = self._out_of_bag_outputs(data.X, self._in_bag)
        # A row of weight 0 counts for nothing, as if dropped: it is in no bag, and no out-of-bag score or
        # interval residual comes from it.
        self._set_out_of_bag(oob_mean, np.where(data.sample_weight > 0, n_out, 0), data.Y, y)

    @staticmethod
    def _set_member_curves(member, earlier, state, k: int, summarised: int) -> None:
        """Member ``k``'s curves: its entries of the epochs it trained in.

        ``earlier`` is the member as the continued call left it, whose curves
        cover the first ``summarised`` epochs; a curve it lacks is built whole.
        """
        def trained_epochs(start):
            return [epoch for epoch in range(start, len(state.active_history)) if state.active_history[epoch][k]]

        def member_curve(name, curve):
            before = getattr(earlier, name, None)
            start = 0 if before is None else summarised
            return (before or []) + [float(curve[epoch][k]) for epoch in trained_epochs(start)]

        member.loss_curve_ = member_curve("loss_curve_", state.loss_curve)
        member.validation_loss_curve_ = member.validation_scores_ = None
        if state.validation_loss_curve:
            member.validation_loss_curve_ = member_curve("validation_loss_curve_", state.validation_loss_curve)
            member.validation_scores_ = member_curve("validation_scores_", state.validation_score_curve)

    def _set_member_best(self, member, state, k: int) -> None:
        """Member ``k``'s ``best_*`` attributes, by the estimator's own rules (``_set_fitted_attributes``)."""
        best = None if state.tracker is None else float(self._best_scores(state)[k])
        if self._stopped_on_validation(state):
            member.best_validation_score_, member.best_iteration_ = best, int(state.tracker.best_epoch[k])
            member.best_loss_ = None
            return
        finite_scores = [score for score in member.validation_scores_ or [] if np.isfinite(score)]
        member.best_validation_score_ = max(finite_scores) if finite_scores else None
        member.best_iteration_ = None
        member.best_loss_ = None if best is None else -best

    def _out_of_bag_outputs(self, X, in_bag) -> tuple:
        """Mean output of the members each training row was out of bag for, in row chunks."""
        coefs, intercepts = self._stacked_parameters()
        n = X.shape[0]
        mean = np.empty((n, self.n_outputs_), dtype=coefs[0].dtype)
        n_out = np.empty(n)
        for start in range(0, n, OUT_OF_BAG_CHUNK_ROWS):
            stop = min(start + OUT_OF_BAG_CHUNK_ROWS, n)
            outputs = predict_members_sized(X[start:stop], coefs, intercepts, self.activation, self.out_activation_)
            mean[start:stop], n_out[start:stop] = out_of_bag_mean(outputs, in_bag[:, start:stop])
        if np.any(n_out == 0) and self.oob_score:
            warnings.warn(
                f"{int(np.sum(n_out == 0))} training row(s) were in every member's bag and have no out-of-bag "
                "estimate; raise n_estimators for reliable out-of-bag scores.", UserWarning, stacklevel=4)
        return mean, n_out

    @abstractmethod
    def _set_out_of_bag(self, oob_mean, n_out, Y, y) -> None:
        """Store the out-of-bag estimates (and score, with ``oob_score=True``).

        ``n_out[i]``: how many members row ``i`` was out of bag for, 0 for
        rows in every bag and for rows of weight 0 (which count for nothing).
        """

    # ------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------

    def _member_outputs(self, X) -> np.ndarray:
        """Every member's output on ``X``, shape (n_members, n_samples, n_outputs); finite or an error.

        Inputs far beyond the training data's scale can overflow the hidden
        layers (to inf, then NaN); such outputs raise a ValueError naming the
        inputs' scale, never pass as predictions. A Poisson mean ``exp(z)``
        that overflows is the one exception: its log-mean ``z`` is clipped at
        ``log(finfo.max)``, with a warning.
        """
        check_is_fitted(self, "coefs_")
        X = self._validate_X(X)
        coefs, intercepts = self._stacked_parameters()
        with np.errstate(all="ignore"):
            outputs = predict_members_sized(X, coefs, intercepts, self.activation, self.out_activation_)
        return self._finite_outputs(outputs, X)

    def _finite_outputs(self, outputs: np.ndarray, X) -> np.ndarray:
        """``outputs`` checked (see ``_member_outputs``), overflowed Poisson means clipped in place."""
        if self.out_activation_ == "exp":
            overflowed = np.isposinf(outputs)
            if overflowed.any():
                outputs[overflowed] = np.finfo(outputs.dtype).max
                rows = np.flatnonzero(overflowed.any(axis=(0, 2)))
                warnings.warn(
                    f"The Poisson mean exp(z) overflows on {rows.size} of {outputs.shape[1]} row(s) of X (largest "
                    f"|x| {_largest_magnitude(X[rows]):.3g}); their log-mean was clipped at log(finfo.max) and "
                    "they predict finfo.max. Inputs far outside the training data's scale extrapolate "
                    "exponentially.", UserWarning, stacklevel=4)
        finite = np.isfinite(outputs)
        if not finite.all():
            rows = np.flatnonzero(~finite.all(axis=(0, 2)))
            raise ValueError(
                f"The network's output is not finite on {rows.size} of {outputs.shape[1]} row(s) of X (largest |x| "
                f"{_largest_magnitude(X[rows]):.3g}): at this scale the hidden layers overflow. Scale X the way "
                "the training data were scaled (e.g. the same StandardScaler).")
        return outputs

    def _mean_output(self, X) -> np.ndarray:
        """The ensemble's mean output, shape (n_samples, n_outputs)."""
        return _member_mean(self._member_outputs(X))

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: for skreg's classes it is the live __dict__
        state["_skreg_version"] = __version__
        if state.get("estimators_"):
            # Members are pickled inside the ensemble: loaded by another version, the ensemble warns for them.
            state["estimators_"] = [_marked_as_member(member) for member in state["estimators_"]]
        return state

    def __setstate__(self, state):
        pickled_version = state.pop("_skreg_version", "unknown")
        inside_an_ensemble = state.pop("_skreg_pickled_inside_an_ensemble", False)
        if pickled_version != __version__ and not inside_an_ensemble:
            warnings.warn(
                f"Trying to unpickle {type(self).__name__} from skreg version {pickled_version} when using "
                f"version {__version__}. This might lead to breaking code or invalid results; refit the model "
                "with this version.", UserWarning, stacklevel=2)
        if pickled_version == "0.1.0":
            _adam_moments_from_0_1(state.get("_training_state"))
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags
