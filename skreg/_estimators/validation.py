"""Validation losses and scores of the members while they train, and the checks made before the first epoch."""

import warnings
from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import check_scoring

from skreg._members import take
from skreg._train.evaluation import member_losses_in_groups
from skreg._train.state import TrainConfig


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


class ValidationMixin:
    """The validator the training loop calls each epoch (part of ``BaseRegularizedMLP``)."""

    def _validator(self, config: TrainConfig, validation, members: np.ndarray):
        """``_make_validator`` for ``members``, or None without validation data."""
        return self._make_validator(config, validation, members) if validation else None

    def _make_validator(self, config: TrainConfig, validation, members: np.ndarray):
        """``validate(params, members=None) -> (loss, score)`` for ``members``, each on its own validation rows.

        The validation weights are shared, shape (n_val,), or per member,
        shape (n_members, n_val) (out-of-bag rows). The ``members`` argument
        of ``validate`` (indices into these members) says whose parameters
        ``params`` holds, when only some of them still train.
        """
        X_val, Y_val, group_weight_val, y_val = validation
        if group_weight_val.ndim == 2:
            group_weight_val = take(group_weight_val, members, view=True)
        network = config.network
        scorer = None if self.scoring is None else check_scoring(self, scoring=self.scoring)
        group_members = members

        def validate(params, members=None):
            weight_val = group_weight_val
            if members is not None and weight_val.ndim == 2:
                weight_val = take(weight_val, members, view=True)
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
