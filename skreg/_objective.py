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

from dataclasses import dataclass, fields

import numpy as np

from skreg._losses import OUTPUT_ACTIVATIONS, output_delta, weighted_mean_loss
from skreg._network import ParameterLayout, StepBuffers, backward, dropout_masks, forward, mask_plans
from skreg._noise import add_input_noise, noisy_weights, perturb_labels, smoothed_targets
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
    each hidden layer, with Gaussian instead of Bernoulli masks where
    ``gaussian_dropout``. The noise of the step (``input_noise``,
    ``weight_noise``: standard deviations; ``label_noise``: a rate) and
    ``label_smoothing`` have shape (m,) (see ``skreg._noise``).
    """

    alpha: np.ndarray
    l1_share: np.ndarray
    l2_share: np.ndarray
    dropout: np.ndarray
    gaussian_dropout: np.ndarray
    input_noise: np.ndarray
    weight_noise: np.ndarray
    label_smoothing: np.ndarray
    label_noise: np.ndarray

    @classmethod
    def for_members(cls, n_members: int, *, alpha, l1_share, l2_share, dropout, gaussian_dropout=False,
                    input_noise=0.0, weight_noise=0.0, label_smoothing=0.0, label_noise=0.0) -> "Regularization":
        """Settings of ``n_members`` members from one value each, or one per member (``dropout``: per layer too)."""
        def per_member(value, dtype=np.float64):
            return np.broadcast_to(np.asarray(value, dtype=dtype), (n_members,)).copy()

        rates = np.asarray(dropout, dtype=np.float64)
        rates = np.broadcast_to(rates if rates.ndim == 2 else rates[None], (n_members, rates.shape[-1])).copy()
        return cls(per_member(alpha), per_member(l1_share), per_member(l2_share), rates,
                   per_member(gaussian_dropout, bool), per_member(input_noise), per_member(weight_noise),
                   per_member(label_smoothing), per_member(label_noise))

    @property
    def n_members(self) -> int:
        return self.alpha.shape[0]

    @property
    def noisy_members(self) -> np.ndarray:
        """Whether each member's step draws random noise, shape (m,)."""
        return (self.dropout.any(axis=1) | (self.input_noise > 0) | (self.weight_noise > 0)
                | (self.label_noise > 0))

    @property
    def noisy_layers(self) -> tuple:
        """Whether any member drops units in each hidden layer."""
        return tuple(bool(rate) for rate in self.dropout.any(axis=0))

    def take(self, members) -> "Regularization":
        """The settings of ``members`` (indices or a slice)."""
        return Regularization(*(getattr(self, field.name)[members] for field in fields(self)))

    @classmethod
    def concat_members(cls, parts: list) -> "Regularization":
        """The settings of the members of ``parts``, one after the other (``skreg._members.concat``'s hook)."""
        return cls(*(np.concatenate([getattr(part, field.name) for part in parts]) for field in fields(cls)))


def targets_of_groups(regularization: Regularization, loss: str):
    """``targets(Y, group)``, the targets a group (slice) of members trains on, or None when no member smooths."""
    if not regularization.label_smoothing.any():
        return None

    def targets(Y: np.ndarray, group) -> np.ndarray:
        return smoothed_targets(Y, regularization.label_smoothing[group], loss)

    return targets


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
        self.smooths_labels = bool(regularization.label_smoothing.any())
        # Which noise the step draws, asked every step.
        self.noise_in = {name: bool(np.any(getattr(regularization, name)))
                         for name in ("dropout", "gaussian_dropout", "input_noise", "weight_noise", "label_noise")}
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
        if self.smooths_labels:  # a flag made once: this runs every step
            Y = smoothed_targets(Y, self.regularization.label_smoothing, network.loss)
        cache = forward(X, coefs, intercepts, network.activation, network.output_activation, masks, buffers)
        output = cache.outputs[-1]
        weight_sum = np.add.reduce(weight, axis=-1, keepdims=True)
        loss = weighted_mean_loss(network.loss, Y, output, weight, weight_sum, self.smooths_labels)
        delta = output_delta(Y, output, weight, out=output, weight_sum=weight_sum)
        backward(cache, coefs, delta, network.activation, grad_coefs, grad_intercepts, buffers)
        return loss

    def dropout_masks(self, n_rows: int, rngs: list, drawing: np.ndarray, dtype, buffers=None,
                      plans: list | None = None) -> list | None:
        """This step's dropout masks for a batch of ``n_rows``, member ``k`` drawing from ``rngs[k]``.

        ``plans``: this step's ``mask_plans(rngs, drawing)``, if the caller keeps them (they then stand
        for ``drawing``).
        """
        settings = self.regularization
        if not self.noise_in["dropout"]:
            return None
        shapes = [(settings.n_members, n_rows, n) for n in self.network.layout.layer_units[1:-1]]
        out = None if buffers is None else buffers.masks
        plans = self.mask_plans(rngs, drawing) if plans is None else plans
        return dropout_masks(shapes, settings.dropout, rngs, dtype, out, plans=plans)

    def mask_plans(self, rngs: list, drawing: np.ndarray) -> list:
        """Who draws each hidden layer's dropout masks, and which members share them (``skreg._network.mask_plans``)."""
        settings = self.regularization
        gaussian = settings.gaussian_dropout if self.noise_in["gaussian_dropout"] else None
        return mask_plans(settings.dropout, rngs, drawing, gaussian)

    def batch_loss_and_gradient(self, params: np.ndarray, X, Y, weight, drawing: np.ndarray,
                                scratch: "StepScratch") -> np.ndarray:
        """One minibatch: its noise drawn, then the data term's and smooth penalty's gradient in ``scratch.grads``.

        ``X`` and ``Y`` are the batch's own member-specific arrays (gathered
        for this step): input and label noise are added to them in place.
        Members not ``drawing`` (stopped) draw nothing. With weight noise the
        gradient is taken at the perturbed weights and the penalty's at the
        stored ones. Returns the batch's data term per member (the L1 part is
        the optimizer's proximal step, ``prox``).
        """
        settings, streams = self.regularization, scratch.streams
        buffers = scratch.buffers_for(weight.shape[-1])
        if self.noise_in["input_noise"]:
            add_input_noise(X, settings.input_noise, streams["input_noise"], drawing, scratch.input_work)
        if self.noise_in["label_noise"]:
            perturb_labels(Y, settings.label_noise, streams["label_noise"], drawing, self.network.loss)
        masks = self.dropout_masks(weight.shape[-1], streams.get("dropout"), drawing, params.dtype, buffers,
                                   scratch.mask_plans(drawing))
        at, views = params, scratch.views
        if self.noise_in["weight_noise"]:
            # The penalty's buffer is free until add_smooth_gradient, below: one member's noise is drawn into it.
            at = noisy_weights(params, self.n_weights, settings.weight_noise, streams["weight_noise"], drawing,
                               scratch.noisy_params, scratch.penalty_work[0])
            views = scratch.noisy_views
        loss = self.data_term_and_gradient(at, scratch.grads, X, Y, weight, masks, buffers, views)
        self.add_smooth_gradient(params, scratch.grads, scratch.penalty_work)
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



# The noise each setting draws, by the name of its random stream.
NOISE_STREAMS = {"dropout": "dropout", "input_noise": "input_noise", "weight_noise": "weight_noise",
                 "label_noise": "label_noise"}


class StepScratch:
    """What every minibatch step of an objective writes, allocated once for a fit's members and batch size.

    Parameters
    ----------
    objective : Objective
    params : ndarray of shape (m, n_params)
        The parameters the steps update (their per-layer views are kept).
    batch_size : int
    n_features : int
    noise : list of MemberNoise
        Each member's random streams; only those of the noise in use are drawn from.
    last_batch_size : int, optional
        The rows of an epoch's last, smaller batch, which gets step buffers of its own too.
    """

    def __init__(self, objective: Objective, params: np.ndarray, batch_size: int, n_features: int, noise: list,
                 last_batch_size: int = 0):
        m, dtype = params.shape[0], params.dtype
        layout, settings = objective.network.layout, objective.regularization
        self.objective = objective
        # A batch allocating its arrays costs more than its size suggests: each array of more than
        # 128 kB is fresh memory the kernel must map, page by page (sys time), at every step.
        self._buffers = {rows: StepBuffers.allocate(layout, m, rows, settings.noisy_layers, dtype)
                         for rows in {batch_size, last_batch_size} - {0}}
        self.grads = np.empty((m, layout.n_params), dtype=dtype)
        self.penalty_work = np.empty((m, layout.n_weights), dtype=dtype)
        self.views = (*layout.views(params), *layout.views(self.grads))
        self.streams = {stream: [member[stream] for member in noise] for name, stream in NOISE_STREAMS.items()
                        if np.any(getattr(settings, name))}
        self.noisy_params = self.noisy_views = self.input_work = None
        if settings.weight_noise.any():
            self.noisy_params = np.empty_like(params)
            self.noisy_views = (*layout.views(self.noisy_params), *layout.views(self.grads))
        if settings.input_noise.any():
            self.input_work = np.empty((batch_size, n_features), dtype=dtype)
        self._mask_plans = (None, None)

    def mask_plans(self, drawing: np.ndarray) -> list | None:
        """The dropout ``Objective.mask_plans`` of a step whose members ``drawing`` draw (None without dropout).

        They change only when members stop, so the last ones are kept: the
        plans cost more Python time than a small batch's masks themselves.
        (The rates and generators are the scratch's own, fixed for its life.)
        """
        if not self.objective.noise_in["dropout"]:
            return None
        key = drawing.tobytes()
        if self._mask_plans[0] != key:
            self._mask_plans = (key, self.objective.mask_plans(self.streams["dropout"], drawing))
        return self._mask_plans[1]

    def buffers_for(self, n_rows: int):
        """The step buffers for a batch of ``n_rows`` (``None``: allocate)."""
        return self._buffers.get(n_rows)
