r"""The training step's noise beyond dropout: on the inputs, on the weights, on the labels.

Every function works on a batch with a leading member axis, member ``k`` at
its own scale and drawing from its own generator ``rngs[k]``; members not
``drawing`` (stopped) and members at scale 0 draw nothing, so their streams
stay where they would be without that noise.

In expectation (Bishop 1995; Szegedy et al. 2016):

- input noise :math:`x + \sigma\varepsilon` on a linear model with squared
  error adds :math:`\tfrac12\sigma^2\|w\|^2` to each row's loss: ridge with
  ``alpha = n * sigma**2`` in skreg's objective;
- weight noise :math:`w + \sigma\varepsilon` on the same model adds
  :math:`\tfrac12\sigma^2\|x\|^2`, which does not depend on ``w``: the
  minimiser stays the unpenalised one (on a network it favours flat minima);
- label noise at rate ``q`` has the expected target of label smoothing at
  ``epsilon = q``: :math:`(1-q)\,y + q/K`.
"""

import numpy as np


def add_input_noise(X: np.ndarray, scales: np.ndarray, rngs: list, drawing: np.ndarray, work: np.ndarray) -> None:
    """``X[k] += scales[k] * N(0, 1)`` in place, for each member drawing at a scale above 0.

    ``X`` is a member-specific batch of shape (m, n, n_features); ``work`` a
    buffer of shape ``X.shape[1:]`` (or larger) of X's dtype.
    """
    noise = work[: X.shape[1]]
    for k in np.flatnonzero(drawing & (scales > 0)):
        rngs[k].standard_normal(dtype=X.dtype, out=noise)
        noise *= X.dtype.type(scales[k])
        X[k] += noise


def noisy_weights(params: np.ndarray, n_weights: int, scales: np.ndarray, rngs: list, drawing: np.ndarray,
                  out: np.ndarray, work: np.ndarray) -> np.ndarray:
    """``params`` with ``scales[k] * N(0, 1)`` added to member ``k``'s weights (not its biases), into ``out``.

    ``work`` is a buffer of ``n_weights`` entries of the parameters' dtype.
    """
    np.copyto(out, params)
    for k in np.flatnonzero(drawing & (scales > 0)):
        noise = rngs[k].standard_normal(dtype=params.dtype, out=work)
        noise *= params.dtype.type(scales[k])
        out[k, :n_weights] += noise
    return out


def perturb_labels(Y: np.ndarray, rates: np.ndarray, rngs: list, drawing: np.ndarray, loss: str) -> None:
    """Randomly perturb the targets of a member-specific batch ``Y`` (m, n, n_outputs) in place.

    With softmax classes (``'log_loss'``) each row's label is replaced with
    probability ``q`` by a class drawn uniformly; with binary outputs each
    output is flipped with probability ``q / 2``. Either way the expected
    target is ``(1 - q) y + q / K``.
    """
    n_rows, n_outputs = Y.shape[1], Y.shape[2]
    for k in np.flatnonzero(drawing & (rates > 0)):
        rng = rngs[k]
        if loss == "log_loss":
            replaced = np.flatnonzero(rng.random(n_rows) < rates[k])
            Y[k, replaced] = 0.0
            Y[k, replaced, rng.integers(0, n_outputs, replaced.size)] = 1.0
        else:
            flipped = rng.random((n_rows, n_outputs)) < rates[k] / 2
            Y[k][flipped] = 1.0 - Y[k][flipped]


def smoothed_targets(Y: np.ndarray, smoothing: np.ndarray, loss: str, out: np.ndarray | None = None) -> np.ndarray:
    """Label smoothing of member ``k`` at ``smoothing[k]``: ``(1 - eps) y + eps / K``, shape (m, n, n_outputs).

    ``K`` is the number of classes for softmax outputs and 2 for each binary
    output. ``Y`` is shared, (n, n_outputs), or per member, (m, n, n_outputs);
    ``out`` may be ``Y`` itself when it is per member.
    """
    n_values = Y.shape[-1] if loss == "log_loss" else 2
    keep = (1.0 - smoothing).astype(Y.dtype)[:, None, None]
    spread = (smoothing / n_values).astype(Y.dtype)[:, None, None]
    result = np.multiply(Y, keep, out=out)
    result += spread
    return result
