"""The estimator's settings: parameters checked together, and turned into what the training layer takes.

This is where the public regularization parameters (``alpha``, ``penalty``,
``l1_ratio``, ``dropout``) become per-member settings (``Regularization``);
below this layer only the objective and the network read them.
"""

import warnings
from numbers import Integral, Real

import numpy as np

from skreg._network import ParameterLayout
from skreg._objective import NetworkSpec, Regularization
from skreg._penalties import penalty_mix
from skreg._train.state import TrainConfig


class SettingsMixin:
    """Parameters checked together and turned into training settings (part of ``BaseRegularizedMLP``)."""

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
        if self.oob_score and not self.bootstrap:
            raise ValueError("oob_score=True needs bootstrap=True: without bootstrap no row is out of bag.")
        if self.solver == "lbfgs":
            noisy = [name for name, value in self._step_noise().items() if value]
            if noisy:
                raise ValueError(
                    f"{' and '.join(noisy)} > 0 needs a stochastic solver: with solver='lbfgs' the objective would "
                    f"be random. Use solver='adam' or 'sgd', or set {' and '.join(noisy)} to 0."
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

    def _step_noise(self) -> dict:
        """The random noise of the training step, by parameter: a value other than 0 draws noise."""
        return {"dropout": any(self._dropout_rates(len(self._hidden_sizes()))),
                "input_noise": float(self.input_noise), "weight_noise": float(self.weight_noise),
                "label_noise": float(getattr(self, "label_noise", 0.0))}

    def _regularization(self) -> Regularization:
        """Every member's regularization settings: today the same for each of the ``n_estimators`` members."""
        l1_share, l2_share = penalty_mix(self.penalty, self.l1_ratio)
        return Regularization.for_members(
            self.n_estimators, alpha=float(self.alpha), l1_share=l1_share, l2_share=l2_share,
            dropout=self._dropout_rates(len(self._hidden_sizes())), gaussian_dropout=self.dropout_type == "gaussian",
            input_noise=float(self.input_noise), weight_noise=float(self.weight_noise),
            label_smoothing=float(getattr(self, "label_smoothing", 0.0)),
            label_noise=float(getattr(self, "label_noise", 0.0)))

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
            state.stopping = None

    def _monitor_settings(self, explicit_validation: bool) -> tuple:
        """What the stopping rule watches; a warm start that changes it starts the rule afresh.

        Without validation data it watches the training objective, measured
        noise-free at the epoch's end when the step draws noise (dropout,
        noise on inputs, weights or labels) and as the running loss
        otherwise: switching the noise on or off changes it too.
        """
        noisy = any(self._step_noise().values())
        return (self.early_stopping, self.scoring, explicit_validation, self.validation_fraction, noisy)
