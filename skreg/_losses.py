"""Per-sample losses and their gradients with respect to the output layer.

Each loss is paired with its canonical output activation (squared error with
the identity, binary log-loss with the logistic, log-loss with the softmax,
half Poisson deviance with the exponential),
for which the gradient of the loss with respect to the output layer's
pre-activation is simply ``P - Y``. Arrays may carry a leading member axis:
``Y`` has shape ``(n_samples, n_outputs)`` and ``P`` has shape
``(..., n_samples, n_outputs)``.
"""

import numpy as np
from scipy.special import xlogy


def squared_error(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    r"""Per-sample :math:`\ell_i = \tfrac12 \sum_k (y_{ik} - p_{ik})^2`.

    Summing (not averaging) over outputs keeps each output its own ridge
    problem: with no hidden layer, the fit equals ``Ridge(alpha)``.
    """
    residual = P - Y
    return 0.5 * np.einsum("...k,...k->...", residual, residual)


def _minus_log(probability: np.ndarray) -> np.ndarray:
    """``-log(max(probability, eps))`` in place (a probability of 1 costs 0, 0 costs ``-log(eps)``)."""
    np.maximum(probability, np.finfo(probability.dtype).eps, out=probability)
    np.log(probability, out=probability)
    return np.negative(probability, out=probability)


def log_loss(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    r"""Per-sample multinomial :math:`\ell_i = -\sum_k y_{ik} \log p_{ik}`.

    ``Y`` is one-hot, so the sum is :math:`-\log` of the true class's probability.
    """
    return _minus_log(np.einsum("...k,...k->...", Y, P))


def binary_log_loss(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    r"""Per-sample :math:`\ell_i = -\sum_k [y_{ik}\log p_{ik} + (1-y_{ik})\log(1-p_{ik})]`.

    ``Y`` holds 0/1 indicators, so each term is :math:`-\log` of the
    probability given to the observed value.
    """
    return np.add.reduce(_minus_log(np.where(Y > 0.5, P, 1 - P)), axis=-1)


def soft_log_loss(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    r"""Per-sample :math:`\ell_i = -\sum_k y_{ik} \log p_{ik}` for targets that are distributions (smoothed labels)."""
    tiny = np.finfo(P.dtype).eps
    return -np.einsum("...k,...k->...", Y, np.log(np.maximum(P, tiny)))


def soft_binary_log_loss(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    r"""Per-sample :math:`-\sum_k [y_{ik}\log p_{ik} + (1-y_{ik})\log(1-p_{ik})]` for targets in [0, 1]."""
    tiny = np.finfo(P.dtype).eps
    return -np.add.reduce(Y * np.log(np.maximum(P, tiny)) + (1 - Y) * np.log(np.maximum(1 - P, tiny)), axis=-1)


def half_poisson_deviance(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    r"""Per-sample :math:`\ell_i = \sum_k [p_{ik} - y_{ik}\log p_{ik} + y_{ik}\log y_{ik} - y_{ik}]`."""
    Y = np.broadcast_to(Y, P.shape)
    return np.sum(P - xlogy(Y, P) + xlogy(Y, Y) - Y, axis=-1)


LOSSES = {
    "squared_error": squared_error,
    "log_loss": log_loss,
    "binary_log_loss": binary_log_loss,
    "poisson": half_poisson_deviance,
}

# The same losses for soft targets (label smoothing); the gradient P - Y holds for them too.
SOFT_TARGET_LOSSES = {"log_loss": soft_log_loss, "binary_log_loss": soft_binary_log_loss}

# The output activation that makes ``dl/dZ = P - Y`` for each loss.
OUTPUT_ACTIVATIONS = {
    "squared_error": "identity",
    "log_loss": "softmax",
    "binary_log_loss": "logistic",
    "poisson": "exp",
}


def weighted_mean_loss(loss: str, Y: np.ndarray, P: np.ndarray, weight: np.ndarray,
                       weight_sum: np.ndarray | None = None, soft_targets: bool = False) -> np.ndarray:
    """Weighted mean of the per-sample loss over the sample axis.

    Parameters
    ----------
    loss : str
        A key of ``LOSSES``.
    Y : ndarray of shape (n_samples, n_outputs)
    P : ndarray of shape (..., n_samples, n_outputs)
    weight : ndarray of shape (n_samples,) or (..., n_samples)
        Non-negative sample weights; the mean divides by their sum.
    weight_sum : ndarray of shape (1,) or (..., 1), optional
        ``weight.sum(axis=-1, keepdims=True)`` when the caller has it.
    soft_targets : bool
        ``Y`` holds distributions (smoothed labels), not one-hot labels.

    Returns
    -------
    ndarray of shape P.shape[:-2]
    """
    per_sample = (SOFT_TARGET_LOSSES if soft_targets else LOSSES)[loss](Y, P)
    total = _weighted_sum(per_sample, weight)
    if not np.isfinite(total).all():
        # A row of weight 0 (out of bag, or outside a bootstrap draw) must not
        # turn the mean into NaN through 0 * inf.
        total = _weighted_sum(np.where(weight > 0, per_sample, 0.0), weight)
    if weight_sum is None:
        weight_sum = np.add.reduce(weight, axis=-1, keepdims=True)
    return total / weight_sum[..., 0]


def _weighted_sum(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``sum_n values[..., n] * weight[..., n]``; ``weight`` may lack the member axis (it broadcasts).

    The products, then numpy's pairwise sum along each member's row: that
    sum runs in the same order for a row whatever the number of rows beside
    it, so member k's loss (and early-stopping decisions) do not depend on
    the ensemble's size. (einsum does not promise that: above about 8000
    rows it sums one member's row differently from one of several members'.)
    """
    return np.add.reduce(values * weight, axis=-1)


def output_delta(Y: np.ndarray, P: np.ndarray, weight: np.ndarray, out: np.ndarray,
                 weight_sum: np.ndarray | None = None) -> np.ndarray:
    """Gradient of the weighted mean loss with respect to the output pre-activation.

    ``out = weight[:, None] * (P - Y) / sum(weight)``, written into ``out``
    (which may be ``P`` itself). ``weight`` has shape ``(..., n_samples)`` and
    its sum is taken over the sample axis.
    """
    np.subtract(P, Y, out=out)
    if weight_sum is None:
        weight_sum = np.sum(weight, axis=-1, keepdims=True)
    out *= (weight / weight_sum)[..., None]
    return out
