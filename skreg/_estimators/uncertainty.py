"""Samples of the fitted network for prediction: its members, or members x MC-dropout draws (part of the base)."""

import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skreg._estimators.fitted import largest_magnitude
from skreg._mc_dropout import mc_dropout_blocks
from skreg._network import prediction_product_flops
from skreg._random import member_keys
from skreg._train.blas import blas_threads_for


class UncertaintyMixin:
    """What every prediction is computed from: each member's output, or with ``mc_dropout=T``, T per member."""

    def _fitted_dropout_rates(self) -> np.ndarray:
        """The drop rates each member trained with, shape (m, n_hidden)."""
        rates = getattr(self, "_fitted_dropout", None)
        if rates is None:  # fitted before the rates were recorded: the current setting
            rates = self._regularization().dropout
        n_members = self._stacked_parameters()[0][0].shape[0]
        return np.broadcast_to(np.asarray(rates, dtype=np.float64), (n_members, len(self.coefs_) - 1))

    def _n_draws(self) -> int:
        """Masks drawn per member: ``mc_dropout``, or 0 (with a warning) when the members have no dropout."""
        draws = int(self.mc_dropout)
        if draws and not self._fitted_dropout_rates().any():
            warnings.warn(
                f"mc_dropout={draws}, but the network was trained without dropout (dropout=0 for every layer and "
                "member): there is no dropout to sample, so it predicts with the deterministic network. Fit with "
                "dropout > 0 to use MC dropout.", UserWarning, stacklevel=4)
            return 0
        if draws and getattr(self, "_fitted_gaussian_dropout", False):
            raise ValueError(f"mc_dropout={draws} samples Bernoulli dropout masks, but the network was trained with "
                             "dropout_type='gaussian'. Fit with dropout_type='bernoulli' to use MC dropout, or set "
                             "mc_dropout=0.")
        return draws

    def _reduce_samples(self, X, reduce):
        """``reduce(samples)`` over the network's samples on ``X``, one block of rows at a time.

        ``samples`` has shape (S, rows, n_outputs): the members' outputs
        (S = n_members), or with MC dropout every member's output under each
        of its ``mc_dropout`` draws (S = n_members * mc_dropout). ``reduce``
        returns an array, or a tuple of arrays, with the rows on axis 0;
        the blocks' results are concatenated. Without MC dropout it is
        called once, on every row.
        """
        check_is_fitted(self, "coefs_")
        draws = self._n_draws()
        if not draws:
            return reduce(self._member_outputs(X))
        X = self._validate_X(X)
        coefs, intercepts = self._stacked_parameters()
        rates = self._fitted_dropout_rates()
        keys = member_keys(getattr(self, "_entropy", 0), "mc_dropout", range(rates.shape[0]), draws)
        parts, clipped, bad = [], [], []
        with blas_threads_for(prediction_product_flops(X, coefs)), np.errstate(all="ignore"):
            for rows, outputs in mc_dropout_blocks(X, coefs, intercepts, self.activation, self.out_activation_,
                                                   rates, keys):
                samples = outputs.reshape(-1, *outputs.shape[2:])
                if self.out_activation_ == "exp":
                    overflowed = np.isposinf(samples)
                    samples[overflowed] = np.finfo(samples.dtype).max
                    clipped.append(rows.start + np.flatnonzero(overflowed.any(axis=(0, 2))))
                finite = np.isfinite(samples).all(axis=(0, 2))
                if not finite.all():
                    bad.append(rows.start + np.flatnonzero(~finite))
                    continue
                if not bad:
                    parts.append(reduce(samples))
        self._check_sampled(X, np.concatenate(clipped) if clipped else [], np.concatenate(bad) if bad else [])
        if isinstance(parts[0], tuple):
            return tuple(np.concatenate(column) for column in zip(*parts, strict=True))
        return np.concatenate(parts)

    def _check_sampled(self, X, clipped, bad) -> None:
        """The warning and error of ``_finite_outputs``, for rows of ``X`` found across blocks."""
        if len(clipped):
            warnings.warn(
                f"The Poisson mean exp(z) overflows on {len(clipped)} of {X.shape[0]} row(s) of X (largest |x| "
                f"{largest_magnitude(X[clipped]):.3g}) in some MC-dropout draw; its log-mean was clipped at "
                "log(finfo.max). Inputs far outside the training data's scale extrapolate exponentially.",
                UserWarning, stacklevel=4)
        if len(bad):
            raise ValueError(
                f"The network's output is not finite on {len(bad)} of {X.shape[0]} row(s) of X (largest |x| "
                f"{largest_magnitude(X[bad]):.3g}) in some MC-dropout draw: at this scale the hidden layers "
                "overflow. Scale X the way the training data were scaled (e.g. the same StandardScaler).")
