"""BaseRegularizedMLP: parameters, the fit (build the problem, train, record), prediction."""

import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.metrics import get_scorer_names
from sklearn.utils._param_validation import Interval, Options, RealNotInt, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from skreg._compat import migrate_estimator_state
from skreg._estimators.fitted import FittedMixin, largest_magnitude
from skreg._estimators.plan import TrainingPlanMixin
from skreg._estimators.problem import ProblemMixin
from skreg._estimators.settings import SettingsMixin
from skreg._estimators.uncertainty import UncertaintyMixin
from skreg._estimators.validation import ValidationMixin
from skreg._random import root_entropy
from skreg._train import events
from skreg._train.evaluation import predict_members_sized
from skreg._train.interrupts import StopSignal, ctrl_c_sets
from skreg._train.state import TrainConfig, TrainingData
from skreg._version import __version__


def member_mean(outputs: np.ndarray) -> np.ndarray:
    """The mean over members (axis 0) of finite outputs, finite too: huge ones must not overflow their sum."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = outputs.mean(axis=0)
        overflowed = ~np.isfinite(mean)
        if overflowed.any():
            scale = np.max(np.abs(outputs[:, overflowed]), axis=0)
            mean[overflowed] = scale * np.mean(outputs[:, overflowed] / scale, axis=0)
    return mean


def _marked_as_member(member):
    """A shallow copy of an ensemble's ``member`` whose pickle says it was pickled inside the ensemble."""
    marked = object.__new__(type(member))
    marked.__dict__.update(member.__dict__, _skreg_pickled_inside_an_ensemble=True)
    return marked


def _solver_is_stochastic(estimator) -> bool:
    """``partial_fit`` exists only for 'sgd' and 'adam' (as in scikit-learn's MLP)."""
    if estimator.solver == "lbfgs":
        raise AttributeError("partial_fit is only available for stochastic solvers ('sgd', 'adam'), not 'lbfgs'.")
    return True


class BaseRegularizedMLP(SettingsMixin, ProblemMixin, ValidationMixin, TrainingPlanMixin, FittedMixin,
                         UncertaintyMixin, BaseEstimator, metaclass=ABCMeta):
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
        "dropout_type": [StrOptions({"bernoulli", "gaussian"})],
        "input_noise": [Interval(Real, 0, None, closed="left")],
        "weight_noise": [Interval(Real, 0, None, closed="left")],
        "mc_dropout": [Interval(Integral, 0, None, closed="left")],
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
        dropout_type,
        input_noise,
        weight_noise,
        mc_dropout,
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
        self.dropout_type = dropout_type
        self.input_noise = input_noise
        self.weight_noise = weight_noise
        self.mc_dropout = mc_dropout
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
        """Build the training problem, start (or continue) the state, train, record the fitted attributes."""
        self._check_fit_arguments(X_val, y_val, sample_weight_val, incremental)
        continuing = (incremental or self.warm_start) and hasattr(self, "coefs_")
        X, y, Y, sample_weight = self._training_arrays(X, y, sample_weight, continuing, incremental, classes)
        entropy = getattr(self, "_entropy", None) if continuing else None
        entropy = root_entropy(self.random_state) if entropy is None else entropy
        train_rows, validation = self._split_validation(X, y, Y, sample_weight, entropy, incremental,
                                                        X_val, y_val, sample_weight_val)
        config = self._train_config(X.shape[1], Y.shape[1], len(train_rows))
        self._check_memory(config, len(train_rows), X.dtype)
        if continuing:
            state = self._continued_state(config, X.dtype, entropy, incremental, X_val is not None)
        else:
            state = self._initial_state(config, X.dtype, entropy)
        data, validation, in_bag = self._member_data(X, y, Y, sample_weight, train_rows, validation, entropy)
        if validation and self.scoring is not None:
            self._check_scoring_before_training(config, validation, state.params, explicit=X_val is not None)
        # Epochs the fitted curves already summarise; a pickle from before this record rebuilds them whole.
        summarised = getattr(self, "_summarised_epochs", 0) if continuing else 0
        record = (state.params.copy(), config, data, y, in_bag, entropy, summarised, incremental, X_val is not None,
                  state.progress.n_iter.copy())
        state, workers_lost = self._train_and_record(data, state, config, validation, incremental, continuing, record)
        self._warn_about(state, incremental, workers_lost)
        return self

    @staticmethod
    def _check_fit_arguments(X_val, y_val, sample_weight_val, incremental: bool) -> None:
        if (X_val is None) != (y_val is None):
            raise ValueError("Pass both X_val and y_val to use an explicit validation set, or neither.")
        if sample_weight_val is not None and X_val is None:
            raise ValueError("sample_weight_val was given without X_val and y_val.")

    def _training_arrays(self, X, y, sample_weight, continuing: bool, incremental: bool, classes) -> tuple:
        """``(X, y, Y, sample_weight)`` validated, with the float targets ``Y`` and class weights multiplied in."""
        self._check_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True: it trains one epoch per call and "
                             "has no validation split to stop on. Set early_stopping=False for partial_fit.")
        X, y = self._validate_training_data(X, y, reset=not continuing)
        if sp.issparse(X) and self.input_noise > 0:
            raise ValueError(f"input_noise={self.input_noise} needs dense X: noise on every feature would make a "
                             "sparse X dense. Pass X.toarray(), or use dropout or weight_noise.")
        y = self._prepare_y(y)
        if continuing and not incremental:
            self._check_warm_start_targets(y)
        Y = self._encode_targets(y, first_call=not continuing, classes=classes).astype(X.dtype, copy=False)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
        sample_weight = self._sample_weight_for(y, sample_weight).astype(X.dtype, copy=False)
        if not np.any(sample_weight > 0):
            weighted_by = "sample_weight times class_weight" if getattr(self, "class_weight", None) else "sample_weight"
            raise ValueError(f"{weighted_by} sums to zero: there is nothing to fit.")
        return X, y, Y, sample_weight

    def _continued_state(self, config: TrainConfig, dtype, entropy: int, incremental: bool,
                         explicit_validation: bool):
        """The training state a warm start or ``partial_fit`` continues, at the fitted weights."""
        if not hasattr(self, "_training_state"):
            self._adopt_weights(config, dtype, entropy)
        self._check_continuation(config)
        state = self._training_state
        state.params = config.network.layout.pack(*self._stacked_parameters())
        self._reset_for_new_settings(state, config, incremental, explicit_validation)
        return state

    def _member_data(self, X, y, Y, sample_weight, train_rows, validation, entropy: int) -> tuple:
        """``(data, validation, in_bag)``: each member's rows and settings, and out-of-bag validation if asked."""
        member_rows = self._member_rows(train_rows, entropy, sample_weight)
        # Otherwise made after training (``_set_ensemble_attributes``): not held while the members train.
        in_bag = None
        if validation == "out-of-bag":
            in_bag = self._in_bag_mask(member_rows, X.shape[0])
            validation = self._out_of_bag_validation(X, Y, sample_weight, y, in_bag)
        data = TrainingData(X=X, Y=Y, sample_weight=sample_weight, member_rows=member_rows,
                            regularization=self._regularization())
        return data, validation, in_bag

    def _train_and_record(self, data: TrainingData, state, config: TrainConfig, validation, incremental: bool,
                          continuing: bool, record: tuple) -> tuple:
        """Train, then set the fitted attributes; returns ``(state, workers_lost)``.

        From the start a Ctrl-C stops the training at its next step, and once
        the training is done it only marks the fit interrupted: the
        bookkeeping completes, and the model is kept.
        """
        stop = StopSignal()
        with ctrl_c_sets(stop):
            trained = self._train(data, state, config, validation, incremental, parallel=not continuing, stop=stop)
            workers_lost = trained is None
            state = state if workers_lost else trained
            before = dict(self.__dict__)
            try:
                self._record_fit(state, *record)
            except KeyboardInterrupt:
                # Interrupted anyway (a SIGINT handler of the user's raised): training is done, so record it
                # all the same, from the attributes as they were.
                stop.set()
                self.__dict__.clear()
                self.__dict__.update(before)
                self._record_fit(state, *record)
        state.outcome.interrupted |= stop.is_set()
        return state, workers_lost

    def _record_fit(self, state, initial_params, config: TrainConfig, data: TrainingData, y, in_bag, entropy: int,
                    summarised: int, incremental: bool, explicit_validation: bool, epochs_before) -> None:
        """Set the fitted attributes from the trained ``state``; may run twice (see ``_fit_unguarded``)."""
        if events.active:
            events.emit("final_bookkeeping", part="objective", state=state)
        objective = self._fall_back_where_non_finite(state, initial_params, config, data)
        epochs_run = state.progress.n_iter - epochs_before
        self._entropy = entropy
        # The rates the members trained with, which MC dropout samples at (set_params may change dropout since).
        self._fitted_dropout = np.array(data.regularization.dropout, dtype=np.float64)
        self._fitted_gaussian_dropout = bool(data.regularization.gaussian_dropout.any())
        self._fitted_optimizer_settings = self._optimizer_settings(config)
        if not incremental:
            self._fitted_monitor = self._monitor_settings(explicit_validation=explicit_validation)
        self._set_fitted_attributes(state, config, objective, summarised, epochs_run)
        with np.errstate(all="ignore"):  # out-of-bag outputs of members that fell back may still overflow
            if events.active:
                events.emit("final_bookkeeping", part="ensemble")
            self._set_ensemble_attributes(state, data, y, in_bag, objective, summarised, epochs_run)

    def _stacked_parameters(self) -> tuple:
        """``coefs_`` and ``intercepts_`` with a leading member axis (views, no copy)."""
        if self.coefs_[0].ndim == 2:
            return [W[None] for W in self.coefs_], [b[None, None] for b in self.intercepts_]
        return list(self.coefs_), [b[:, None] for b in self.intercepts_]

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
                    f"|x| {largest_magnitude(X[rows]):.3g}); their log-mean was clipped at log(finfo.max) and "
                    "they predict finfo.max. Inputs far outside the training data's scale extrapolate "
                    "exponentially.", UserWarning, stacklevel=4)
        finite = np.isfinite(outputs)
        if not finite.all():
            rows = np.flatnonzero(~finite.all(axis=(0, 2)))
            raise ValueError(
                f"The network's output is not finite on {rows.size} of {outputs.shape[1]} row(s) of X (largest |x| "
                f"{largest_magnitude(X[rows]):.3g}): at this scale the hidden layers overflow. Scale X the way "
                "the training data were scaled (e.g. the same StandardScaler).")
        return outputs

    def _mean_output(self, X) -> np.ndarray:
        """The ensemble's mean output (with ``mc_dropout``, over members and draws), shape (n_samples, n_outputs)."""
        return self._reduce_samples(X, member_mean)

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
        migrate_estimator_state(type(self), state, pickled_version)
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags
