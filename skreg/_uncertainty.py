r"""Aggregation over ensemble members: out-of-bag estimates and prediction intervals.

Pure numpy. Member predictions have shape ``(m, n, n_outputs)``; a bag
membership mask ``in_bag`` has shape ``(m, n_train)`` and is True where
member ``k`` trained on row ``i`` (at least once).
"""

import math

import numpy as np


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
    lower_rank, upper_rank = _order_statistic_ranks(level, n)
    intervals = np.empty((n_test, n_outputs, 2))
    for start in range(0, n_test, chunk_rows):
        stop = min(start + chunk_rows, n_test)
        # mu[t, i, k]: mean over the members that left row i out, at test row t.
        mu = np.einsum("mi,mtk->tik", weights, test_predictions[:, start:stop].astype(np.float64))
        intervals[start:stop, :, 0] = _order_statistic(mu - residuals, lower_rank)
        intervals[start:stop, :, 1] = _order_statistic(mu + residuals, upper_rank)
    return intervals


def _order_statistic(values: np.ndarray, rank: int) -> np.ndarray:
    """The ``rank``-th smallest (0-based) along axis 1; -inf/+inf outside the range."""
    n = values.shape[1]
    if rank < 0:
        return np.full((values.shape[0], values.shape[2]), -np.inf)
    if rank >= n:
        return np.full((values.shape[0], values.shape[2]), np.inf)
    return np.partition(values, rank, axis=1)[:, rank]


def percentile_band(member_predictions: np.ndarray, level: float) -> np.ndarray:
    """Central ``level`` band of the member predictions: a band for f(x), not for y.

    Returns
    -------
    ndarray of shape (n, n_outputs, 2)
    """
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(member_predictions, [tail, 100.0 - tail], axis=0)
    return np.stack([low, high], axis=-1)
