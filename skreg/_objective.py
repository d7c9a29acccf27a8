r"""The regularized training objective of every member, and its gradient.

.. math::

    J_k(W, b) = \frac{1}{S_k}\sum_i s_{ki}\,\ell(y_i, f_k(x_i))
                + \frac{\alpha_k}{S_k}\,\Omega_k(W),
    \qquad S_k = \sum_i s_{ki}

for member ``k`` with row weights ``s_k`` (sample weights times how often
its draw holds each row). The data term may be a minibatch's weighted mean
(an unbiased estimate of the full one) while ``S_k`` stays the training set's
weight sum, so ``alpha`` means the same for every ``batch_size``. Every
regularization setting (``alpha``, the L1/L2 mix, the dropout rates) is an
array over members, so members with different settings train in one batch.

``Objective`` is the one owner of this formula: the step of sgd and adam
(data term, dropout, smooth penalty gradient, then the L1 proximal step),
L-BFGS, the recorded losses and the gradient checks all go through it, and
``alpha / S`` is computed in its constructor only.
"""

from dataclasses import dataclass

import numpy as np

from skreg._losses import OUTPUT_ACTIVATIONS, output_delta, weighted_mean_loss
from skreg._network import ParameterLayout, backward, dropout_masks, forward
from skreg._penalties import penalty_subgradient, penalty_value, soft_threshold


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
class Regularization:
    """Each member's regularization settings, arrays with a leading member axis.

    ``alpha``, ``l1_share`` and ``l2_share`` have shape (m,): the penalty is
    ``alpha * (l1_share * sum|w| + l2_share * 0.5 * sum w**2)``;
    ``dropout`` has shape (m, n_hidden): each member's drop probability in
    each hidden layer.
    """

    alpha: np.ndarray
    l1_share: np.ndarray
    l2_share: np.ndarray
    dropout: np.ndarray

    @classmethod
    def for_members(cls, n_members: int, *, alpha, l1_share, l2_share, dropout) -> "Regularization":
        """Settings of ``n_members`` members from one value each, or one per member (``dropout``: per layer too)."""
        def per_member(value):
            return np.broadcast_to(np.asarray(value, dtype=np.float64), (n_members,)).copy()

        rates = np.asarray(dropout, dtype=np.float64)
        rates = np.broadcast_to(rates if rates.ndim == 2 else rates[None], (n_members, rates.shape[-1])).copy()
        return cls(per_member(alpha), per_member(l1_share), per_member(l2_share), rates)

    @property
    def n_members(self) -> int:
        return self.alpha.shape[0]

    @property
    def is_noisy(self) -> bool:
        """Whether the step draws random noise (dropout masks) for any member."""
        return bool(self.dropout.any())

    @property
    def noisy_layers(self) -> tuple:
        """Whether any member drops units in each hidden layer."""
        return tuple(bool(rate) for rate in self.dropout.any(axis=0))

    def take(self, members) -> "Regularization":
        """The settings of ``members`` (indices or a slice)."""
        return Regularization(self.alpha[members], self.l1_share[members], self.l2_share[members],
                              self.dropout[members])

    @staticmethod
    def concat(parts: list) -> "Regularization":
        return Regularization(*(np.concatenate([getattr(part, name) for part in parts])
                                for name in ("alpha", "l1_share", "l2_share", "dropout")))


class Objective:
    """``J_k`` of each member on training rows whose weights sum to ``total_weight[k]``.

    Parameters
    ----------
    network : NetworkSpec
    regularization : Regularization
    total_weight : ndarray of shape (m,)
        ``S_k``, the sum of member ``k``'s row weights over the training set.
    """

    def __init__(self, network: NetworkSpec, regularization: Regularization, total_weight: np.ndarray):
        self.network = network
        self.regularization = regularization
        self.total_weight = np.asarray(total_weight, dtype=np.float64)
        # The one place alpha / S is computed.
        self.penalty_scale = regularization.alpha / self.total_weight
        self.l1_scale = self.penalty_scale * regularization.l1_share
        self.l2_scale = self.penalty_scale * regularization.l2_share
        self.has_l1 = bool(np.any(self.l1_scale > 0))
        self.has_l2 = bool(np.any(self.l2_scale > 0))
        self._factors = {}

    def take(self, members) -> "Objective":
        """The objective of ``members`` (indices or a slice) only."""
        return Objective(self.network, self.regularization.take(members), self.total_weight[members])

    @property
    def n_weights(self) -> int:
        return self.network.layout.n_weights

    def _factor(self, name: str, dtype) -> np.ndarray:
        """``l1_scale`` or ``l2_scale`` as an (m, 1) array of the parameters' dtype, made once per dtype."""
        key = (name, dtype)
        if key not in self._factors:
            self._factors[key] = getattr(self, name).astype(dtype)[:, None]
        return self._factors[key]

    # ------------------------------------------------------------------
    # Values
    # ------------------------------------------------------------------

    def penalty(self, params: np.ndarray, with_l1: bool = True) -> np.ndarray:
        """``(alpha/S) Omega(W)`` per member (its L2 part only without ``with_l1``), exactly 0 without penalty."""
        shares = self.regularization
        l1_share = shares.l1_share if with_l1 else 0.0
        omega = penalty_value(params[:, : self.n_weights], l1_share, shares.l2_share)
        return np.where(self.penalty_scale > 0, self.penalty_scale * omega, 0.0)

    def value(self, data_loss: np.ndarray, params: np.ndarray) -> np.ndarray:
        """``J`` per member from its data term ``data_loss`` at ``params``."""
        if not (self.has_l1 or self.has_l2):
            return data_loss
        return data_loss + self.penalty(params)

    # ------------------------------------------------------------------
    # Gradients and steps
    # ------------------------------------------------------------------

    def data_term_and_gradient(self, params: np.ndarray, grads: np.ndarray, X, Y: np.ndarray, weight: np.ndarray,
                               masks=None, buffers=None, views=None) -> np.ndarray:
        """Weighted mean loss of each member, its gradient written into ``grads``.

        Parameters
        ----------
        params, grads : ndarray of shape (m, n_params)
        X : batch input (see ``skreg._network``)
        Y : ndarray of shape (n, n_outputs) or (m, n, n_outputs)
        weight : ndarray of shape (n,) or (m, n)
        masks : list, optional
            Dropout masks per hidden layer (held fixed, e.g. for a gradient check).
        buffers : StepBuffers, optional
            Preallocated activations and deltas for this batch size.
        views : tuple, optional
            ``(coefs, intercepts, grad_coefs, grad_intercepts)``, the per-layer
            views of ``params`` and ``grads`` when the caller keeps them.

        Returns
        -------
        ndarray of shape (m,)
        """
        network = self.network
        if views is None:
            views = (*network.layout.views(params), *network.layout.views(grads))
        coefs, intercepts, grad_coefs, grad_intercepts = views
        cache = forward(X, coefs, intercepts, network.activation, network.output_activation, masks, buffers)
        output = cache.outputs[-1]
        weight_sum = np.add.reduce(weight, axis=-1, keepdims=True)
        loss = weighted_mean_loss(network.loss, Y, output, weight, weight_sum)
        delta = output_delta(Y, output, weight, out=output, weight_sum=weight_sum)
        backward(cache, coefs, delta, network.activation, grad_coefs, grad_intercepts, buffers)
        return loss

    def noise(self, n_rows: int, rngs: list, drawing: np.ndarray, dtype, buffers=None) -> list | None:
        """This step's dropout masks for a batch of ``n_rows``, member ``k`` drawing from ``rngs[k]``.

        Members not ``drawing`` (stopped) leave their streams untouched.
        """
        if not self.regularization.is_noisy:
            return None
        units = self.network.layout.layer_units[1:-1]
        shapes = [(self.regularization.n_members, n_rows, n) for n in units]
        out = None if buffers is None else buffers.masks
        return dropout_masks(shapes, self.regularization.dropout, rngs, dtype, out, drawing=drawing)

    def batch_loss_and_gradient(self, params: np.ndarray, grads: np.ndarray, X, Y, weight, rngs: list,
                                drawing: np.ndarray, buffers=None, views=None, work=None) -> np.ndarray:
        """One minibatch: noise drawn, the data term's gradient plus the smooth penalty's in ``grads``.

        Returns the batch's data term per member (the L1 part is the
        optimizer's proximal step, ``prox``).
        """
        masks = self.noise(weight.shape[-1], rngs, drawing, params.dtype, buffers)
        loss = self.data_term_and_gradient(params, grads, X, Y, weight, masks, buffers, views)
        self.add_smooth_gradient(params, grads, work)
        return loss

    def add_smooth_gradient(self, params: np.ndarray, grads: np.ndarray, work: np.ndarray | None = None) -> None:
        """Add the L2 part's gradient ``(alpha/S) r_2 W`` to the weights' (``work``: a weights-sized buffer)."""
        if self.has_l2:
            n_weights = self.n_weights
            grads[:, :n_weights] += np.multiply(params[:, :n_weights], self._factor("l2_scale", params.dtype), out=work)

    def prox(self, params: np.ndarray, optimizer) -> None:
        """The L1 part's proximal step after ``optimizer``'s update: soft-threshold the weights, exact zeros.

        The threshold is ``step size * (alpha/S) r_1`` per coordinate, the
        step sizes of the update just made (``optimizer.prox_step_sizes``).
        """
        if self.has_l1:
            n_weights = self.n_weights
            threshold = optimizer.prox_step_sizes(n_weights) * self._factor("l1_scale", params.dtype)
            soft_threshold(params[:, :n_weights], threshold)

    def smooth_value_and_gradient(self, params: np.ndarray, X, Y, weight, masks=None) -> tuple:
        """The data term plus the L2 part, and its gradient (what L-BFGS-B sees besides the split L1 part)."""
        grads = np.empty_like(params)
        loss = self.data_term_and_gradient(params, grads, X, Y, weight, masks)
        self.add_smooth_gradient(params, grads)
        return loss + self.penalty(params, with_l1=False), grads

    def value_and_gradient(self, params: np.ndarray, X, Y, weight, masks=None) -> tuple:
        """The full objective ``J`` of each member and its (sub)gradient, for checks against finite differences.

        The L1 part contributes ``sign(w)`` (0 at exactly 0), the gradient
        away from zero; the solvers handle the non-smooth point themselves.

        Returns
        -------
        J : ndarray of shape (m,)
        grads : ndarray of shape (m, n_params)
        """
        grads = np.empty_like(params)
        loss = self.data_term_and_gradient(params, grads, X, Y, weight, masks)
        weights = params[:, : self.n_weights]
        shares = self.regularization
        subgradient = penalty_subgradient(weights, shares.l1_share[:, None], shares.l2_share[:, None])
        grads[:, : self.n_weights] += self.penalty_scale[:, None] * subgradient
        return self.value(loss, params), grads

