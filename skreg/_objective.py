r"""The training objective and its gradient, for every member at once.

.. math::

    J(W, b) = \frac{1}{S}\sum_i s_i\,\ell(y_i, f(x_i))
              + \frac{\alpha}{S}\,\Omega(W),
    \qquad S = \sum_i s_i

where the data term may be a minibatch's weighted mean (an unbiased
estimate of the full one) while ``S`` stays the training set's weight sum,
so ``alpha`` means the same for every ``batch_size``.
"""

from dataclasses import dataclass

import numpy as np

from skreg._losses import OUTPUT_ACTIVATIONS, output_delta, weighted_mean_loss
from skreg._network import ParameterLayout, backward, forward
from skreg._penalties import penalty_subgradient, penalty_value


@dataclass(frozen=True)
class NetworkSpec:
    """What defines the function a network computes and the loss it is trained on."""

    layout: ParameterLayout
    activation: str
    loss: str

    @property
    def output_activation(self) -> str:
        return OUTPUT_ACTIVATIONS[self.loss]


@dataclass(frozen=True)
class PenaltySpec:
    """``alpha * (l1_share * sum|w| + l2_share * 0.5 * sum w**2)``."""

    alpha: float
    l1_share: float
    l2_share: float

    @property
    def has_l1(self) -> bool:
        return self.alpha > 0 and self.l1_share > 0

    @property
    def has_l2(self) -> bool:
        return self.alpha > 0 and self.l2_share > 0


def data_term_and_gradient(spec: NetworkSpec, params: np.ndarray, grads: np.ndarray, X, Y: np.ndarray,
                           weight: np.ndarray, masks=None, buffers=None, delta_buffers=None,
                           views=None) -> np.ndarray:
    """Weighted mean loss of each member, its gradient written into ``grads``.

    Parameters
    ----------
    spec : NetworkSpec
    params, grads : ndarray of shape (m, n_params)
    X : batch input (see ``skreg._network``)
    Y : ndarray of shape (n, n_outputs) or (m, n, n_outputs)
    weight : ndarray of shape (n,) or (m, n)
    masks : list, optional
        Dropout masks per hidden layer (held fixed, e.g. for a gradient check).
    buffers, delta_buffers : list of ndarray, optional
        Preallocated activations and deltas (see ``forward``/``backward``).
    views : tuple, optional
        ``(coefs, intercepts, grad_coefs, grad_intercepts)``, the per-layer
        views of ``params`` and ``grads`` when the caller keeps them.

    Returns
    -------
    ndarray of shape (m,)
        The weighted mean loss of each member.
    """
    if views is None:
        views = (*spec.layout.views(params), *spec.layout.views(grads))
    coefs, intercepts, grad_coefs, grad_intercepts = views
    cache = forward(X, coefs, intercepts, spec.activation, spec.output_activation, masks, buffers)
    output = cache.outputs[-1]
    weight_sum = np.add.reduce(weight, axis=-1, keepdims=True)
    loss = weighted_mean_loss(spec.loss, Y, output, weight, weight_sum)
    delta = output_delta(Y, output, weight, out=output, weight_sum=weight_sum)
    backward(cache, coefs, delta, spec.activation, grad_coefs, grad_intercepts, delta_buffers)
    return loss


def penalty_scale(penalty: PenaltySpec, total_weight: np.ndarray) -> np.ndarray:
    """``alpha / S`` per member, shape (m,)."""
    return penalty.alpha / np.asarray(total_weight, dtype=np.float64)


def objective_and_gradient(spec: NetworkSpec, penalty: PenaltySpec, params: np.ndarray, X, Y, weight,
                           total_weight, masks=None) -> tuple:
    """The full objective J of each member and its (sub)gradient.

    The L1 part contributes ``sign(w)`` (0 at exactly 0), the gradient away
    from zero; solvers handle the non-smooth point themselves.

    Returns
    -------
    J : ndarray of shape (m,)
    grads : ndarray of shape (m, n_params)
    """
    grads = np.empty_like(params)
    loss = data_term_and_gradient(spec, params, grads, X, Y, weight, masks)
    n_weights = spec.layout.n_weights
    scale = penalty_scale(penalty, total_weight)
    weights = params[:, :n_weights]
    objective = loss + scale * penalty_value(weights, penalty.l1_share, penalty.l2_share)
    grads[:, :n_weights] += scale[:, None] * penalty_subgradient(weights, penalty.l1_share, penalty.l2_share)
    return objective, grads
