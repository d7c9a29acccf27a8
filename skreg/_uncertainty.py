r"""Aggregation over ensemble members: out-of-bag estimates, prediction intervals, adaptive scales.

Pure numpy. Member predictions have shape ``(m, n, n_outputs)``; a bag
membership mask ``in_bag`` has shape ``(m, n_train)`` and is True where
member ``k`` trained on row ``i`` (at least once).
"""

import math
from dataclasses import dataclass

import numpy as np

from skreg._network import forward


def out_of_bag_mean(member_predictions: np.ndarray, in_bag: np.ndarray) -> tuple:
    """Mean prediction of the members whose bag excludes each row.

    Parameters
    ----------
    member_predictions : ndarray of shape (m, n, n_outputs)
        Every member's prediction on the training rows.
    in_bag : ndarray of bool, shape (m, n)

    Returns
    -------
    mean : ndarray of shape (n, n_outputs)
        NaN for rows that were in every member's bag.
    n_out : ndarray of shape (n,)
        Number of members each row was out of bag for.
    """
    out_of_bag = (~in_bag).astype(member_predictions.dtype)
    n_out = out_of_bag.sum(axis=0)
    total = np.einsum("mn,mnk->nk", out_of_bag, member_predictions)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n_out[:, None]
    return mean, n_out


def _order_statistic_ranks(level: float, n: int) -> tuple:
    """0-based ranks of ``q-`` (the floor(a(n+1))-th smallest) and ``q+`` (the ceil((1-a)(n+1))-th)."""
    alpha = 1.0 - level
    lower = math.floor(alpha * (n + 1)) - 1
    upper = math.ceil((1.0 - alpha) * (n + 1)) - 1
    return lower, upper


def jackknife_plus_after_bootstrap(test_predictions: np.ndarray, in_bag: np.ndarray, residuals: np.ndarray,
                                   level: float, chunk_rows: int = 256) -> np.ndarray:
    r"""Jackknife+-after-bootstrap prediction intervals (Kim, Xu & Barber, 2020).

    For each training row :math:`i` with leave-bag-out mean
    :math:`\mu_{-i}` and residual :math:`R_i = |y_i - \mu_{-i}(x_i)|`, the
    interval at a new point :math:`x` is

    .. math::

        \big[\, q^-_{\alpha}\{\mu_{-i}(x) - R_i\},\;
               q^+_{\alpha}\{\mu_{-i}(x) + R_i\} \,\big],
        \qquad \alpha = 1 - \text{level},

    :math:`q^-` the :math:`\lfloor\alpha(n+1)\rfloor`-th smallest value and
    :math:`q^+` the :math:`\lceil(1-\alpha)(n+1)\rceil`-th smallest (infinite
    when the rank falls outside ``1..n``).

    Parameters
    ----------
    test_predictions : ndarray of shape (m, n_test, n_outputs)
    in_bag : ndarray of bool, shape (m, n)
        Only the rows out of bag for at least one member are passed.
    residuals : ndarray of shape (n, n_outputs)
    level : float
        Confidence level in (0, 1).
    chunk_rows : int
        Test rows processed at once: memory is ``chunk_rows * n * n_outputs``.

    Returns
    -------
    ndarray of shape (n_test, n_outputs, 2)
    """
    m, n_test, n_outputs = test_predictions.shape
    n = in_bag.shape[1]
    weights = (~in_bag).astype(np.float64)
    weights /= weights.sum(axis=0, keepdims=True)
    residuals = residuals.T  # (n_outputs, n), like every array below: (test rows, outputs, n)
    lower_rank, upper_rank = _order_statistic_ranks(level, n)
    intervals = np.empty((n_test, n_outputs, 2))
    for start in range(0, n_test, chunk_rows):
        stop = min(start + chunk_rows, n_test)
        # mu[t, k, i]: mean over the members that left row i out, at test row t. One matrix product, and
        # order statistics along the contiguous last axis, in place: 2-3x faster than einsum and np.partition.
        mu = _over_members(weights, test_predictions[:, start:stop].astype(np.float64))
        upper = mu + residuals
        intervals[start:stop, :, 1] = _order_statistic_last_axis(upper, upper_rank)
        intervals[start:stop, :, 0] = _order_statistic_last_axis(np.subtract(mu, residuals, out=mu), lower_rank)
    return intervals


def percentile_band(member_predictions: np.ndarray, level: float) -> np.ndarray:
    """Central ``level`` band of the member predictions: a band for f(x), not for y.

    Returns
    -------
    ndarray of shape (n, n_outputs, 2)
    """
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(member_predictions, [tail, 100.0 - tail], axis=0)
    return np.stack([low, high], axis=-1)


# --- Adaptive intervals: normalized jackknife+-after-bootstrap -------------------------------------------------
#
# Each member k gets a noise model s_k(x), a ridge regression of the out-of-bag absolute residuals on the member's
# own last hidden layer and output, fitted on the rows in k's bag (so s_k never saw a row it is out of bag for).
# The scale of row i, sigma_{-i}(x), is built, like mu_{-i}(x), from the members that left row i out only:
#
#     sigma_{-i}(x)^2 = (mean_k s_k(x))^2 + var_k f_k(x),   k over the members whose bag excludes i,
#
# the noise the members' models expect there plus how much the members disagree (which grows off the data).

# Share of the mean scale target below which a noise model is clipped (a linear model can reach 0 or below).
SCALE_FLOOR = 0.1
# Ridge strengths tried, relative to the largest eigenvalue of the standardized Gram matrix (plus infinity:
# a constant noise level), chosen per member and output by generalized cross-validation.
RIDGE_GRID = np.logspace(-6, 2, 25)


def scale_features(X, coefs: list, intercepts: list, activation: str, output_activation: str) -> tuple:
    """Every member's output and noise-model features on ``X``: its last hidden layer and its output.

    Returns
    -------
    outputs : ndarray of shape (m, n, n_outputs)
    features : ndarray of shape (m, n, n_features)
        The last hidden layer's activations followed by the outputs (the
        outputs alone for a network with no hidden layer).
    """
    cache = forward(X, coefs, intercepts, activation, output_activation)
    outputs = cache.outputs[-1]
    if len(coefs) == 1:
        return outputs, outputs
    return outputs, np.concatenate([cache.outputs[-2], outputs], axis=2)


@dataclass
class ScaleModel:
    """Each member's linear noise model: ``max(floor, intercept + features @ coef)``.

    ``coef`` has shape (m, n_features, n_outputs), ``intercept`` and ``floor``
    (m, n_outputs); ``strength`` is the ridge strength GCV chose (inf: constant).
    """

    coef: np.ndarray
    intercept: np.ndarray
    floor: np.ndarray
    strength: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Member ``k``'s noise scale at each row, shape (m, n, n_outputs)."""
        scale = np.matmul(features.astype(np.float64, copy=False), self.coef) + self.intercept[:, None, :]
        return np.maximum(scale, self.floor[:, None, :])


class ScaleMoments:
    """Weighted sums over rows, per member, from which ``fit`` solves the ridge regressions; added in chunks."""

    def __init__(self):
        self.sums = None

    def add(self, features: np.ndarray, weights: np.ndarray, targets: np.ndarray) -> None:
        """``features`` (m, R, p), ``weights`` (m, R) (0 leaves a row out), ``targets`` (R, n_outputs)."""
        features = features.astype(np.float64, copy=False)
        weighted = features * weights[:, :, None]
        part = (weights.sum(axis=1), (weights > 0).sum(axis=1), weighted.sum(axis=1),
                np.matmul(weighted.transpose(0, 2, 1), features), weights @ targets, weights @ targets**2,
                np.einsum("mrp,rk->mpk", weighted, targets))
        self.sums = part if self.sums is None else tuple(a + b for a, b in zip(self.sums, part, strict=True))

    def fit(self) -> ScaleModel:
        """Each member's ridge regression, its strength chosen by generalized cross-validation."""
        S0, N, S1, S2, T1, T2, C = self.sums
        m, p, K = C.shape
        coef, intercept = np.zeros((m, p, K)), np.zeros((m, K))
        strength = np.full((m, K), np.inf)
        floor = np.zeros((m, K))
        for k in range(m):
            coef[k], intercept[k], strength[k], floor[k] = _ridge_gcv(S0[k], N[k], S1[k], S2[k], T1[k], T2[k], C[k])
        return ScaleModel(coef=coef, intercept=intercept, floor=floor, strength=strength)


def _ridge_gcv(S0, N, S1, S2, T1, T2, C) -> tuple:
    """Weighted ridge regression with an unpenalized intercept on standardized features, from row sums.

    GCV(a) = (RSS(a) / S0) / (1 - (df(a) + 1) / N)^2 over ``RIDGE_GRID`` and a = inf, per output.
    Returns ``(coef (p, K), intercept (K,), strength (K,), floor (K,))``.
    """
    p, K = C.shape
    tiny = np.finfo(np.float64).tiny
    if S0 <= 0 or N < 3:
        mean = np.where(S0 > 0, T1 / max(S0, tiny), 0.0)
        return np.zeros((p, K)), mean, np.full(K, np.inf), np.maximum(SCALE_FLOOR * mean, tiny)
    mean_target = T1 / S0
    feature_mean = S1 / S0
    centered = S2 - np.outer(S1, S1) / S0
    std = np.sqrt(np.maximum(np.diag(centered), 0.0) / S0)
    usable = std > 1e-10 * max(std.max(), tiny)
    scale = np.where(usable, std, np.inf)
    gram = centered / np.outer(scale, scale)
    cross = (C - np.outer(S1, T1) / S0) / scale[:, None]
    total = np.maximum(T2 - T1**2 / S0, 0.0)
    eigenvalues, vectors = np.linalg.eigh(gram)
    eigenvalues = np.maximum(eigenvalues, 0.0)
    projected = vectors.T @ cross  # (p, K)
    best_gcv = total / S0 / (1.0 - 1.0 / N) ** 2  # a = inf: the intercept alone
    best_strength = np.full(K, np.inf)
    largest = eigenvalues.max() if eigenvalues.size else 0.0
    if largest > 0:
        for strength in largest * RIDGE_GRID:
            shrink = 1.0 / (eigenvalues + strength)
            rss = total - ((2.0 * shrink - eigenvalues * shrink**2)[:, None] * projected**2).sum(axis=0)
            df = float(np.sum(eigenvalues * shrink)) + 1.0
            if df >= N:
                continue
            gcv = np.maximum(rss, 0.0) / S0 / (1.0 - df / N) ** 2
            better = gcv < best_gcv
            best_gcv = np.where(better, gcv, best_gcv)
            best_strength = np.where(better, strength, best_strength)
    coef = np.zeros((p, K))
    for j in range(K):
        if np.isfinite(best_strength[j]):
            coef[:, j] = vectors @ (projected[:, j] / (eigenvalues + best_strength[j]))
    coef /= scale[:, None]  # back to the features' own units (0 for constant features)
    intercept = mean_target - feature_mean @ coef
    return coef, intercept, best_strength, np.maximum(SCALE_FLOOR * mean_target, tiny)


def out_of_bag_weights(in_bag: np.ndarray) -> np.ndarray:
    """``w[k, i] = 1 / #{members out of bag for i}`` where member k left row i out, else 0; shape (m, n)."""
    weights = (~in_bag).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights /= weights.sum(axis=0, keepdims=True)
    return np.nan_to_num(weights, nan=0.0)


def training_scales(outputs: np.ndarray, member_scales: np.ndarray, weights: np.ndarray) -> np.ndarray:
    r""":math:`\sigma_{-i}(x_i)` of training rows from the members that left each one out.

    ``outputs`` and ``member_scales`` (m, R, K) on rows ``i``, ``weights``
    (m, R) their ``out_of_bag_weights``. Returns (R, K).
    """
    outputs = outputs.astype(np.float64, copy=False)
    w = weights[:, :, None]
    centered = outputs - outputs.mean(axis=0)
    first = np.sum(w * centered, axis=0)
    spread = np.maximum(np.sum(w * centered**2, axis=0) - first**2, 0.0)
    noise = np.sum(w * member_scales, axis=0)
    return np.sqrt(noise**2 + spread)


def adaptive_jackknife_plus_after_bootstrap(test_predictions: np.ndarray, test_scales: np.ndarray,
                                            in_bag: np.ndarray, residuals: np.ndarray, scales: np.ndarray,
                                            level: float, chunk_rows: int = 64) -> np.ndarray:
    r"""Normalized jackknife+-after-bootstrap intervals: residuals in units of a leave-bag-out scale.

    With :math:`R_i = |y_i - \mu_{-i}(x_i)| / \sigma_{-i}(x_i)`, the interval at ``x`` is

    .. math::

        \big[\, q^-_{\alpha}\{\mu_{-i}(x) - R_i\,\sigma_{-i}(x)\},\;
               q^+_{\alpha}\{\mu_{-i}(x) + R_i\,\sigma_{-i}(x)\} \,\big],

    where :math:`\sigma_{-i}` (see ``training_scales``) is made from the
    members whose bag excludes row ``i``, as :math:`\mu_{-i}` is: row ``i``'s
    score is computed the way a new point's is, which is what the
    jackknife+ argument needs. With a constant scale it is
    ``jackknife_plus_after_bootstrap``.

    Parameters
    ----------
    test_predictions, test_scales : ndarray of shape (m, n_test, n_outputs)
        Every member's output and noise model at the test rows.
    in_bag : ndarray of bool, shape (m, n)
        Only rows out of bag for at least one member.
    residuals, scales : ndarray of shape (n, n_outputs)
        :math:`|y_i - \mu_{-i}(x_i)|` and :math:`\sigma_{-i}(x_i)`.
    level : float
    chunk_rows : int
        Test rows at once: memory is about ``6 * chunk_rows * n * n_outputs`` floats.

    Returns
    -------
    ndarray of shape (n_test, n_outputs, 2)
    """
    m, n_test, n_outputs = test_predictions.shape
    n = in_bag.shape[1]
    weights = out_of_bag_weights(in_bag)
    normalized = (residuals / scales).T  # (n_outputs, n): every array below is (test rows, outputs, n)
    lower_rank, upper_rank = _order_statistic_ranks(level, n)
    intervals = np.empty((n_test, n_outputs, 2))
    for start in range(0, n_test, chunk_rows):
        stop = min(start + chunk_rows, n_test)
        outputs = test_predictions[:, start:stop].astype(np.float64)
        center = outputs.mean(axis=0)
        centered = outputs - center
        mu = _over_members(weights, centered)
        scale = _over_members(weights, centered * centered)
        scale -= mu * mu
        np.maximum(scale, 0.0, out=scale)  # the members' variance ...
        noise = _over_members(weights, test_scales[:, start:stop].astype(np.float64))
        noise *= noise
        scale += noise  # ... plus their noise models' squared mean
        np.sqrt(scale, out=scale)
        scale *= normalized  # R_i sigma_{-i}(x)
        mu += center[:, :, None]
        upper = np.add(mu, scale, out=noise)
        intervals[start:stop, :, 1] = _order_statistic_last_axis(upper, upper_rank)
        lower = np.subtract(mu, scale, out=mu)
        intervals[start:stop, :, 0] = _order_statistic_last_axis(lower, lower_rank)
    return intervals


def _order_statistic_last_axis(values: np.ndarray, rank: int) -> np.ndarray:
    """The ``rank``-th smallest (0-based) along the last axis, partitioning ``values`` in place; +-inf outside."""
    n = values.shape[-1]
    if rank < 0 or rank >= n:
        return np.full(values.shape[:-1], -np.inf if rank < 0 else np.inf)
    values.partition(rank, axis=-1)
    return values[..., rank]


def _over_members(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``out[t, k, i] = sum_m weights[m, i] * values[m, t, k]``, as one matrix product, ``i`` contiguous."""
    m, t, k = values.shape
    return (values.reshape(m, t * k).T @ weights).reshape(t, k, -1)
