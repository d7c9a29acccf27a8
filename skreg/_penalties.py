r"""Weight penalties: value, gradient of the smooth part, proximal step of the L1 part.

Every penalty is written as the elastic-net mix

.. math::

    \Omega(W) = r_1 \sum_l \sum_{ij} |w^{(l)}_{ij}|
              + r_2 \, \tfrac12 \sum_l \|W^{(l)}\|_F^2

with ``(r_1, r_2) = (0, 1)`` for ``'l2'``, ``(1, 0)`` for ``'l1'``,
``(l1_ratio, 1 - l1_ratio)`` for ``'elasticnet'`` and ``(0, 0)`` for
``None``. Only weights are penalised, never biases. Arrays have shape
``(m, n_weights)``: one row of weights per member.
"""

import numpy as np


def penalty_mix(penalty: str | None, l1_ratio: float) -> tuple:
    """The L1 and L2 shares ``(r_1, r_2)`` of a penalty name."""
    return {
        None: (0.0, 0.0),
        "l2": (0.0, 1.0),
        "l1": (1.0, 0.0),
        "elasticnet": (float(l1_ratio), 1.0 - float(l1_ratio)),
    }[penalty]


def penalty_value(weights: np.ndarray, l1_share, l2_share) -> np.ndarray:
    """Omega of each member's weights, shape (m,); the shares are scalars or one per member, shape (m,).

    A member whose share of a part is 0 gets exactly nothing from it (not ``0 * inf``).
    """
    l1_share, l2_share = np.asarray(l1_share, dtype=np.float64), np.asarray(l2_share, dtype=np.float64)
    value = np.zeros(weights.shape[0], dtype=np.float64)
    if np.any(l1_share):
        value += np.where(l1_share > 0, l1_share * np.abs(weights).sum(axis=1, dtype=np.float64), 0.0)
    if np.any(l2_share):
        squares = np.einsum("mi,mi->m", weights, weights, dtype=np.float64)
        value += np.where(l2_share > 0, l2_share * 0.5 * squares, 0.0)
    return value


def penalty_subgradient(weights: np.ndarray, l1_share, l2_share) -> np.ndarray:
    """Gradient of Omega (``sign(w)`` for the L1 part, 0 at exactly zero); shares broadcast against ``weights``."""
    return l1_share * np.sign(weights) + l2_share * weights


def soft_threshold(weights: np.ndarray, threshold) -> None:
    r"""Proximal step of :math:`\tau\sum|w|` in place: :math:`w \leftarrow \mathrm{sign}(w)\max(|w|-\tau, 0)`.

    ``threshold`` is a scalar or an array broadcastable to ``weights``
    (per-coordinate step sizes of a preconditioned optimizer). Weights whose
    magnitude is below the threshold become exactly 0.0.
    """
    weights -= np.clip(weights, -threshold, threshold)
