"""The fitted attributes: set from the trained state, per member, out of bag, and the warnings of a fit."""

import warnings
from abc import abstractmethod

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from skreg._losses import OUTPUT_ACTIVATIONS
from skreg._train.evaluation import objective_and_finite_outputs, predict_members_sized
from skreg._train.state import TrainConfig, TrainingData
from skreg._uncertainty import out_of_bag_mean

# Rows per chunk of out-of-bag bookkeeping: the members' outputs on a chunk stay bounded.
OUT_OF_BAG_CHUNK_ROWS = 4096


# How a fit that cannot give finite values is refused; the first sentences are scikit-learn's MLP's.
NON_FINITE_FIT = ("Solver produced non-finite parameter weights. The input data may contain large values and need "
                  "to be preprocessed.")


def largest_magnitude(X) -> float:
    """``max |x|`` of a dense or sparse ``X`` (0 when empty)."""
    values = X.data if sp.issparse(X) else np.asarray(X)
    return float(np.max(np.abs(values))) if values.size else 0.0


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


class FittedMixin:
    """Turning a trained state into fitted attributes (part of ``BaseRegularizedMLP``)."""

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
        self.t_ = int(state.progress.samples_seen)
        history = state.history
        self.loss_curve_ = self._extended_curve("loss_curve_", history.loss, summarised)
        self._summarised_epochs = len(history)
        self.loss_ = float(np.mean(objective))
        recorded = history.validated
        self.validation_loss_curve_ = (self._extended_curve("validation_loss_curve_", history.validation_loss,
                                                            summarised) if recorded else None)
        self.validation_scores_ = (self._extended_curve("validation_scores_", history.validation_score, summarised)
                                   if recorded else None)
        record = state.stopping
        if self._stopped_on_validation(state):
            self.best_validation_score_ = _mean_over_members(self._best_scores(state))
            self.best_iteration_ = int(np.max(record.best_epoch)) if sklearn_shapes else record.best_epoch
            self.best_loss_ = None
        else:
            scored = recorded and not np.isnan(self.validation_scores_).all()  # NaN everywhere: no best score
            self.best_validation_score_ = float(np.nanmax(self.validation_scores_)) if scored else None
            self.best_iteration_ = None
            self.best_loss_ = None if record is None else -_mean_over_members(self._best_scores(state))

    def _extended_curve(self, name: str, curve: list, summarised: int) -> list:
        """The fitted curve ``name`` brought up to date with ``curve`` (see ``_extend_means``)."""
        return _extend_means(getattr(self, name, None) if summarised else None, curve, summarised)

    @staticmethod
    def _best_scores(state) -> np.ndarray:
        """The stopping record's best score per member, NaN for a member that never had a finite score.

        Such a member was interrupted or diverged in its first epoch; the
        ensemble's best score is the mean over the others.
        """
        return np.where(np.isneginf(state.stopping.best_score), np.nan, state.stopping.best_score)

    def _stopped_on_validation(self, state) -> bool:
        """Whether early stopping watched a validation set (and restored its best epoch).

        Called by ``_warn_about``, after the fit is recorded, where an
        interruption would lose it: no Python call here (not ``History.validated``).
        """
        return self.early_stopping and bool(state.history.validation_loss) and state.stopping is not None

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
            state.progress.diverged |= bad
            objective, finite_outputs = objective_and_finite_outputs(data, state.params, config)
            still = bad & ~finite_outputs
            if still.any():
                raise ValueError(
                    f"{NON_FINITE_FIT} The network's output is not finite on the training data (largest |x| "
                    f"{largest_magnitude(data.X):.3g}), even at the starting weights of {int(still.sum())} "
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
        diverged, outcome = state.progress.diverged, state.outcome
        if diverged.any():
            warnings.warn(
                f"Training diverged (non-finite loss) for {int(diverged.sum())} of {state.n_members} "
                "network(s); their last finite weights (with early stopping, their best epoch's) were kept. Lower "
                f"learning_rate_init (now {self.learning_rate_init}) or scale the inputs.", ConvergenceWarning,
                stacklevel=3)
        if self._stopped_on_validation(state) and not incremental and not outcome.interrupted:
            never_scored = np.isneginf(state.stopping.best_score) & ~diverged
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
        elif outcome.interrupted:
            warnings.warn("Training interrupted by the user; the last complete epoch's (or best) weights "
                          "were kept.", UserWarning, stacklevel=3)
        # filter, not a comprehension (a Python call, at which an interruption after the fit would lose it).
        failures = list(filter(None, outcome.solver_failures))
        if failures:
            warnings.warn(f"L-BFGS failed to converge for {len(failures)} of {state.n_members} network(s) "
                          f"({failures[0]}).", ConvergenceWarning, stacklevel=3)
        if outcome.reached_max_iter and not incremental and not outcome.interrupted:
            solver = "L-BFGS" if self.solver == "lbfgs" else "Stochastic Optimizer"
            warnings.warn(f"{solver}: Maximum iterations ({self.max_iter}) reached and the optimization "
                          "hasn't converged yet.", ConvergenceWarning, stacklevel=3)

    def _member_estimator(self, coefs: list, intercepts: list, feature_names: bool = True):
        """A fitted single-network estimator of the same class around one member's weights.

        Without ``feature_names`` it has no ``feature_names_in_``: the
        validator hands the scorer validated arrays, which would otherwise
        warn every epoch that X has no feature names (scikit-learn gh-24846).
        """
        # A member (and the validation scorer's view of one) predicts with its deterministic network.
        member = type(self)(**{**self.get_params(deep=False), "n_estimators": 1, "bootstrap": False,
                               "oob_score": False, "n_jobs": None, "mc_dropout": 0})
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
            member.t_ = int(state.progress.samples_seen)
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
        history = state.history

        def trained_epochs(start):
            return [epoch for epoch in range(start, len(history.active)) if history.active[epoch][k]]

        def member_curve(name, curve):
            before = getattr(earlier, name, None)
            start = 0 if before is None else summarised
            return (before or []) + [float(curve[epoch][k]) for epoch in trained_epochs(start)]

        member.loss_curve_ = member_curve("loss_curve_", history.loss)
        member.validation_loss_curve_ = member.validation_scores_ = None
        if history.validated:
            member.validation_loss_curve_ = member_curve("validation_loss_curve_", history.validation_loss)
            member.validation_scores_ = member_curve("validation_scores_", history.validation_score)

    def _set_member_best(self, member, state, k: int) -> None:
        """Member ``k``'s ``best_*`` attributes, by the estimator's own rules (``_set_fitted_attributes``)."""
        best = None if state.stopping is None else float(self._best_scores(state)[k])
        if self._stopped_on_validation(state):
            member.best_validation_score_, member.best_iteration_ = best, int(state.stopping.best_epoch[k])
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
