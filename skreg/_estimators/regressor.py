"""RegularizedMLPRegressor."""

import dataclasses
import math
import warnings
from numbers import Real

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from skreg._docs import ATTRIBUTES, NOTES, PARAMETERS
from skreg._estimators.base import BaseRegularizedMLP, _solver_is_stochastic, member_mean
from skreg._estimators.fitted import OUT_OF_BAG_CHUNK_ROWS
from skreg._html_repr import DocumentationLinkMixin
from skreg._network import prediction_product_flops
from skreg._train.blas import blas_threads_for
from skreg._train.evaluation import input_nbytes
from skreg._uncertainty import (
    ScaleModel,
    ScaleMoments,
    adaptive_jackknife_plus_after_bootstrap,
    jackknife_plus_after_bootstrap,
    out_of_bag_weights,
    percentile_band,
    scale_features,
    training_scales,
)


def _member_std(outputs: np.ndarray) -> np.ndarray:
    """Standard deviation over members (axis 0), scaled first so huge predictions cannot overflow."""
    scale = np.max(np.abs(outputs), axis=0)
    scale[scale == 0] = 1.0
    return scale * np.std(outputs / scale, axis=0)


# Bytes of every member's activations on one chunk of rows when applying the adaptive scales.
SCALE_CHUNK_BYTES = 2**25
# Learning them at the end of a fit, a chunk's features and their weighted copies (float64, about 4 arrays)
# stay within a sixteenth of X's size each, as the rest of the final bookkeeping stays within a fraction of X.
FIT_SCALE_CHUNK_MIN_BYTES = 2**20


def _scale_chunk_rows(coefs: list, budget: int = SCALE_CHUNK_BYTES) -> int:
    """Rows per chunk of the adaptive scales: every member's widest layer on them within ``budget`` bytes.

    A power of two from 64 to ``OUT_OF_BAG_CHUNK_ROWS``, so the chunks align with prediction blocks.
    """
    per_row = coefs[0].shape[0] * max(W.shape[2] for W in coefs) * 8
    fitting = max(budget // per_row, 1)
    return int(min(OUT_OF_BAG_CHUNK_ROWS, max(64, 2 ** int(np.log2(fitting)))))


class RegularizedMLPRegressor(RegressorMixin, DocumentationLinkMixin, BaseRegularizedMLP):
    __doc__ = (
        """Multi-layer perceptron regressor with L2/L1/elastic-net penalties, dropout,
    early stopping, ensembles and uncertainty.

    A drop-in upgrade of scikit-learn's ``MLPRegressor``: the same parameters
    with the same meaning, plus the regularizers it lacks.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        'squared_error' is :math:`\\tfrac12\\sum_k (y_k - \\hat y_k)^2` per row
        with an identity output; 'poisson' is the half Poisson deviance with
        an exponential output (``y`` must be non-negative).

    """
        + PARAMETERS
        + """

    Attributes
    ----------
    """
        + ATTRIBUTES
        + """

    oob_score_ : float
        R² of the out-of-bag predictions (only with ``oob_score=True``).

    oob_prediction_ : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        Mean prediction of the members each training row was out of bag for
        (NaN for rows in every bag; only with ``oob_score=True``).

    See Also
    --------
    RegularizedMLPClassifier : The classifier.
    sklearn.neural_network.MLPRegressor : What this upgrades.

    Notes
    -----
"""
        + NOTES
        + """

    For several outputs the squared error is summed over outputs (so each
    output is its own ridge problem); scikit-learn's ``loss_`` averages over
    outputs instead, so our ``loss_`` is ``n_outputs`` times theirs.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skreg import RegularizedMLPRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), RegularizedMLPRegressor(
    ...     hidden_layer_sizes=(32,), dropout=0.1, learning_rate_init=0.01,
    ...     max_iter=300, random_state=0)).fit(X, y / 100)
    >>> model.predict(X[:2]).shape
    (2,)
    """
    )

    _parameter_constraints: dict = {
        **BaseRegularizedMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }
    _y_numeric = True

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        penalty="l2",
        l1_ratio=0.5,
        dropout=0.0,
        dropout_type="bernoulli",
        input_noise=0.0,
        weight_noise=0.0,
        mc_dropout=0,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        scoring=None,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        n_estimators=1,
        bootstrap=False,
        max_samples=None,
        oob_score=False,
        n_jobs=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            penalty=penalty, l1_ratio=l1_ratio, dropout=dropout, dropout_type=dropout_type,
            input_noise=input_noise, weight_noise=weight_noise, mc_dropout=mc_dropout, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, scoring=scoring,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, n_estimators=n_estimators, bootstrap=bootstrap, max_samples=max_samples,
            oob_score=oob_score, n_jobs=n_jobs,
        )
        self.loss = loss

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
        """Fit the model to data matrix X and targets y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the loss and in the penalty's normaliser S.
        X_val, y_val : array-like, default=None
            An explicit validation set, used instead of a split of the
            training rows; pass both or neither. Its loss and score are
            recorded every epoch (``validation_loss_curve_``...); with
            ``early_stopping=True`` training also stops on it and restores
            the best epoch's weights.
        sample_weight_val : array-like of shape (n_val_samples,), default=None
            Weights of the validation rows.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, X_val=X_val, y_val=y_val, sample_weight_val=sample_weight_val)

    @available_if(_solver_is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _encode_targets(self, y, *, first_call, classes=None, name="y"):
        Y = np.asarray(y)
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        if first_call:
            self._n_targets = Y.shape[1]
        elif Y.shape[1] != self._n_targets:
            raise ValueError(f"{name} has {Y.shape[1]} output(s) but the model was fitted with {self._n_targets}.")
        if self.loss == "poisson" and np.any(Y < 0):
            raise ValueError(f"loss='poisson' needs non-negative targets {name}.")
        return Y

    def _loss_name(self):
        return self.loss

    def _set_out_of_bag(self, oob_mean, n_out, Y, y):
        # Residuals of the leave-bag-out means feed the jackknife+-after-bootstrap intervals.
        self._oob_residuals = np.abs(Y - oob_mean)
        self._oob_usable = n_out > 0
        if not self.oob_score:
            return
        self.oob_prediction_ = self._shape_output(oob_mean)
        seen = n_out > 0
        if not seen.any():
            raise ValueError("oob_score=True, but there are no out-of-bag rows (every row is in every member's bag): "
                             "use more samples or more members (n_estimators).")
        with np.errstate(over="ignore", invalid="ignore"):  # huge targets overflow R²'s sums of squares
            self.oob_score_ = float(r2_score(Y[seen], oob_mean[seen]))

    def _set_ensemble_attributes(self, state, data, *args, **kwargs):
        # After the out-of-bag residuals: the scales that make predict_interval(adaptive=True) follow the noise.
        super()._set_ensemble_attributes(state, data, *args, **kwargs)
        for name in ("_oob_scales", "_oob_scale_model"):
            self.__dict__.pop(name, None)
        if hasattr(self, "_oob_residuals"):
            # Its products (rows x features x features per member) are small: on one BLAS thread, as predictions.
            with blas_threads_for(0):
                self._fit_adaptive_scales(data.X, data.sample_weight)

    def _fit_adaptive_scales(self, X, sample_weight) -> None:
        """Each member's noise model, and every training row's leave-bag-out scale (``skreg._uncertainty``).

        Member ``k``'s model regresses ``sqrt(pi/2) |y_i - mu_{-i}(x_i)|``
        (the noise std for Gaussian residuals) on its own last hidden layer
        and output, over the rows in its bag, by ridge regression with its
        strength chosen by GCV: a constant when nothing predicts the
        residuals. Two passes over the training rows, in chunks.
        """
        coefs, intercepts = self._stacked_parameters()
        step = _scale_chunk_rows(coefs, max(input_nbytes(X) // 16, FIT_SCALE_CHUNK_MIN_BYTES))
        chunks = [slice(start, min(start + step, X.shape[0])) for start in range(0, X.shape[0], step)]
        moments = ScaleMoments()
        for rows in chunks:  # targets and weights made chunk by chunk too: whole, they add to the fit's peak
            usable = self._oob_usable[rows] & (sample_weight[rows] > 0)
            targets = np.where(usable[:, None], self._oob_residuals[rows], 0.0) * math.sqrt(math.pi / 2)
            row_weights = np.where(usable, sample_weight[rows], 0.0)
            _, features = self._scale_features(X[rows], coefs, intercepts)
            moments.add(features, self._in_bag[:, rows] * row_weights, targets)
        model = moments.fit()
        scales = np.zeros(self._oob_residuals.shape)
        for rows in chunks:
            outputs, features = self._scale_features(X[rows], coefs, intercepts)
            scales[rows] = training_scales(outputs, model.predict(features), out_of_bag_weights(self._in_bag[:, rows]))
        # Plain arrays, not the dataclass: skops loads them without a new type to trust.
        self._oob_scale_model, self._oob_scales = dataclasses.asdict(model), scales

    def _scale_features(self, X, coefs, intercepts) -> tuple:
        """``scale_features`` on one BLAS thread when its products are small, as predictions are."""
        with blas_threads_for(prediction_product_flops(X, coefs)), np.errstate(all="ignore"):
            return scale_features(X, coefs, intercepts, self.activation, self.out_activation_)

    def _member_outputs_and_scales(self, X) -> tuple:
        """Every member's output and noise model on ``X``, each (m, n_samples, n_outputs), in blocks of rows."""
        X = self._validate_X(X)
        coefs, intercepts = self._stacked_parameters()
        block_rows = _scale_chunk_rows(coefs)
        model = ScaleModel(**self._oob_scale_model)
        outputs = np.empty((coefs[0].shape[0], X.shape[0], self.n_outputs_), dtype=coefs[0].dtype)
        scales = np.empty(outputs.shape)
        for start in range(0, X.shape[0], block_rows):
            rows = slice(start, min(start + block_rows, X.shape[0]))
            outputs[:, rows], features = self._scale_features(X[rows], coefs, intercepts)
            scales[:, rows] = model.predict(features)
        return self._finite_outputs(outputs, X), scales

    def predict(self, X, return_std=False):
        """Predicted values: the mean over ensemble members (and MC-dropout draws).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the standard deviation across members (with
            ``mc_dropout=T``, across members and their T draws each): how
            much the fitted function varies between members (with
            ``bootstrap=True``, between resamples of the training set) or
            dropout masks -- not the noise of y around it, and not the
            model's bias. A single network without MC dropout has no spread:
            its std is zero, with a warning.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        y_std : ndarray of the same shape, only with ``return_std=True``

        Raises
        ------
        ValueError
            If the network's outputs on ``X`` are not finite (inputs so far
            beyond the training data's scale that the hidden layers
            overflow). With ``loss='poisson'`` a mean ``exp(z)`` that
            overflows is clipped to the largest float instead, with a warning.
        """
        check_is_fitted(self)
        if not return_std:
            return self._shape_output(self._mean_output(X))
        mean, std = self._reduce_samples(X, lambda samples: (member_mean(samples), _member_std(samples)))
        if len(self.estimators_) == 1 and not (self.mc_dropout and self._fitted_dropout_rates().any()):
            warnings.warn("predict(return_std=True) on a single network (n_estimators=1): there is no spread "
                          "across members, so the std is 0. Fit an ensemble (n_estimators >= 2, bootstrap=True) "
                          "for a spread, or use predict_interval for a prediction interval.", UserWarning,
                          stacklevel=2)
        return self._shape_output(mean), self._shape_output(std)

    def predict_interval(self, X, confidence_level=0.9, method="jackknife+ab", adaptive=False):
        r"""Interval bounds at each row of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        confidence_level : float, default=0.9
            Target coverage, in (0, 1); at least 0.5 for 'jackknife+ab',
            whose guarantee is empty below it and whose bounds can cross.
        method : {'jackknife+ab', 'percentile'}, default='jackknife+ab'
            'jackknife+ab': a prediction interval for a *new observation* y,
            by jackknife+-after-bootstrap (Kim, Xu & Barber, 2020) from the
            out-of-bag residuals stored at fit time, with no refit. Needs
            ``bootstrap=True``. Its coverage is guaranteed to be at least
            ``1 - 2 * (1 - confidence_level)`` for exchangeable data, and is
            close to ``confidence_level`` in practice. With
            ``early_stopping=True`` the out-of-bag rows also chose each
            member's best epoch, which makes their residuals (and
            ``oob_score_``) slightly optimistic; pass ``X_val``/``y_val`` to
            keep them apart. It uses the deterministic members, as their
            out-of-bag residuals were computed, whatever ``mc_dropout``.

            'percentile': the central ``confidence_level`` band of the member
            predictions (with ``mc_dropout=T``, of the members' T draws
            each). It shows how much the fit varies between members
            (with bootstrap members, between resamples of the training set)
            or dropout masks: the model's variance only. It is *not* a
            prediction interval for y (on noisy data it covers far fewer new
            observations), nor a confidence band for the true f(x): it
            carries none of the model's bias, so where the model underfits
            it misses f(x) far more often than ``confidence_level`` says. An
            ensemble of different initialisations alone (``bootstrap=False``)
            only reflects the random starts.
        adaptive : bool, default=False
            With 'jackknife+ab' only: measure each out-of-bag residual in
            units of a scale :math:`\sigma_{-i}` before taking the quantile,
            and scale the interval at ``x`` back by :math:`\sigma_{-i}(x)`,
            so that its width follows the local noise and widens where the
            members disagree (off the data):
            :math:`\sigma_{-i}(x)^2 = \bar s_{-i}(x)^2 + \operatorname{var}_{-i} f_k(x)`,
            over the members whose bag excludes row ``i``, where member
            ``k``'s noise model :math:`s_k` is a ridge regression (strength
            chosen by generalized cross-validation) of the out-of-bag
            absolute residuals on its last hidden layer and output, fitted
            at fit time on the rows in its bag. Row ``i``'s score is formed
            from members that never trained on it, as a new point's is, so
            the jackknife+ argument carries over, up to a second-order leak:
            the noise models' targets, other rows' out-of-bag residuals, can
            involve members that trained on row ``i``. Measured marginal
            coverage stays within 0.03 of ``confidence_level`` (README).
            Where the noise does not vary, the width is about that of
            ``adaptive=False``.

        Returns
        -------
        ndarray of shape (n_samples, 2) or (n_samples, n_outputs, 2)
            Lower and upper bounds (for several outputs, per output).
        """
        check_is_fitted(self)
        if not isinstance(confidence_level, Real) or isinstance(confidence_level, bool) or not 0 < confidence_level < 1:
            raise ValueError(f"confidence_level must be a real number in (0, 1), got {confidence_level!r}.")
        if not isinstance(adaptive, (bool, np.bool_)):
            raise ValueError(f"adaptive must be True or False, got {adaptive!r}.")
        if method == "jackknife+ab":
            if confidence_level < 0.5:
                raise ValueError(f"method='jackknife+ab' needs confidence_level >= 0.5, got {confidence_level!r}: "
                                 "below it the interval's bounds can cross.")
            interval = self._jackknife_interval(X, confidence_level, adaptive)
        elif method == "percentile":
            if adaptive:
                raise ValueError("adaptive=True needs method='jackknife+ab': the percentile band has no residuals "
                                 "to scale.")
            if len(self.estimators_) < 2 and not (self.mc_dropout and self._fitted_dropout_rates().any()):
                raise ValueError("method='percentile' needs an ensemble (n_estimators >= 2) or MC dropout "
                                 "(mc_dropout >= 2 on a network trained with dropout).")
            interval = self._reduce_samples(X, lambda samples: percentile_band(samples, confidence_level))
        else:
            raise ValueError(f"method must be 'jackknife+ab' or 'percentile', got {method!r}.")
        return interval[:, 0, :] if self.n_outputs_ == 1 else interval

    def _jackknife_interval(self, X, confidence_level, adaptive=False):
        if not hasattr(self, "_in_bag"):
            raise ValueError("method='jackknife+ab' needs out-of-bag rows: fit with bootstrap=True "
                             "(and n_estimators >= 2), or use method='percentile'.")
        if adaptive and not hasattr(self, "_oob_scales"):
            raise ValueError("adaptive=True needs the scales skreg >= 0.5 learns at fit time: refit the model.")
        usable = getattr(self, "_oob_usable", None)  # absent from 0.3 pickles, which counted every row
        usable = ~self._in_bag.all(axis=0) if usable is None else usable
        never_out = int((self._in_bag.all(axis=0)).sum())
        if never_out:
            warnings.warn(
                f"{never_out} training row(s) were never out of bag and are left out of the "
                "interval; raise n_estimators to use every row.", UserWarning, stacklevel=3)
        if not usable.any():
            raise ValueError("No training row was ever out of bag: raise n_estimators.")
        in_bag, residuals = self._in_bag[:, usable], self._oob_residuals[usable]
        if adaptive:
            outputs, scales = self._member_outputs_and_scales(X)
            # About six arrays of chunk_rows * n_usable * n_outputs floats: keep them near 64 MB.
            chunk_rows = max(1, 8_000_000 // (6 * in_bag.shape[1] * self.n_outputs_))
            with blas_threads_for(2 * chunk_rows * in_bag.size * self.n_outputs_):
                return adaptive_jackknife_plus_after_bootstrap(outputs, scales, in_bag, residuals,
                                                               self._oob_scales[usable], confidence_level, chunk_rows)
        outputs = self._member_outputs(X)
        # Memory is chunk_rows * n_usable * n_outputs floats: keep it near 64 MB.
        chunk_rows = max(1, 8_000_000 // (in_bag.shape[1] * self.n_outputs_))
        return jackknife_plus_after_bootstrap(outputs, in_bag, residuals, confidence_level, chunk_rows)

    def _prediction_from_output(self, output):
        """``predict``'s values from the (mean) network output."""
        return self._shape_output(output)

    def _shape_output(self, values):
        return values.ravel() if values.shape[1] == 1 else values
