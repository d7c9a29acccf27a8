"""The network: parameter layout, initialisation, forward and backward passes.

Every array carries a leading *member* axis: an ensemble of ``m`` networks
is one set of arrays, and a single network is ``m = 1``. All parameters of
member ``k`` live in row ``k`` of one flat array of shape ``(m, n_params)``,
laid out as ``[W_0, ..., W_{L-1}, b_0, ..., b_{L-1}]``; the per-layer
weights ``W_l`` of shape ``(m, fan_in, fan_out)`` and biases ``b_l`` of shape
``(m, 1, fan_out)`` are views into it. Keeping the weights first makes the
penalised part one contiguous block per member, and keeping each member in one
row lets an optimizer update (or freeze) whole members with broadcasting.

The network input ``X`` of a batch may be shared by all members (a 2-D array
or sparse matrix of shape ``(n, n_features)``) or member-specific (a 3-D
array of shape ``(m, n, n_features)``, or a list of ``m`` sparse matrices).
"""

import functools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from skreg._activations import ACTIVATIONS, DERIVATIVES
from skreg._members import consecutive_runs
from skreg._random import first_holders


@dataclass(frozen=True)
class ParameterLayout:
    """Where each layer's weights and biases sit in a member's parameter row."""

    layer_units: tuple

    @property
    def n_layers(self) -> int:
        """Number of weight matrices (hidden layers + output layer)."""
        return len(self.layer_units) - 1

    # Cached: the training loop asks for these every step.
    @cached_property
    def weight_shapes(self) -> list:
        return list(zip(self.layer_units[:-1], self.layer_units[1:], strict=True))

    @cached_property
    def n_weights(self) -> int:
        return sum(fan_in * fan_out for fan_in, fan_out in self.weight_shapes)

    @cached_property
    def n_params(self) -> int:
        return self.n_weights + sum(self.layer_units[1:])

    def views(self, flat: np.ndarray) -> tuple:
        """Per-layer views ``(coefs, intercepts)`` into ``flat`` of shape (m, n_params)."""
        m = flat.shape[0]
        coefs, intercepts = [], []
        start = 0
        for fan_in, fan_out in self.weight_shapes:
            stop = start + fan_in * fan_out
            coefs.append(flat[:, start:stop].reshape(m, fan_in, fan_out))
            start = stop
        for fan_out in self.layer_units[1:]:
            intercepts.append(flat[:, start : start + fan_out].reshape(m, 1, fan_out))
            start += fan_out
        return coefs, intercepts

    def pack(self, coefs: list, intercepts: list) -> np.ndarray:
        """Stack per-layer arrays of shape (m, fan_in, fan_out) / (m, 1, fan_out) into one flat array."""
        m = coefs[0].shape[0]
        return np.concatenate([a.reshape(m, -1) for a in [*coefs, *intercepts]], axis=1)


def glorot_bound(fan_in: int, fan_out: int, activation: str) -> float:
    """Half-width of the Glorot-uniform initialisation (factor 2 for logistic units)."""
    factor = 2.0 if activation == "logistic" else 6.0
    return float(np.sqrt(factor / (fan_in + fan_out)))


def initialize(layout: ParameterLayout, activation: str, rngs: list, dtype) -> np.ndarray:
    """Glorot-uniform weights and biases, member ``k`` drawn from ``rngs[k]``.

    Returns
    -------
    ndarray of shape (len(rngs), layout.n_params)
    """
    flat = np.empty((len(rngs), layout.n_params), dtype=dtype)
    coefs, intercepts = layout.views(flat)
    for k, rng in enumerate(rngs):
        for W, b, (fan_in, fan_out) in zip(coefs, intercepts, layout.weight_shapes, strict=True):
            bound = glorot_bound(fan_in, fan_out, activation)
            W[k] = rng.uniform(-bound, bound, (fan_in, fan_out))
            b[k] = rng.uniform(-bound, bound, (1, fan_out))
    return flat


def input_matmul(X, W: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``X @ W`` for a shared or member-specific, dense or sparse input batch.

    Returns an array of shape (m, n, fan_out).
    """
    if isinstance(X, list) or sp.issparse(X):
        if out is None:
            n = X[0].shape[0] if isinstance(X, list) else X.shape[0]
            out = np.empty((W.shape[0], n, W.shape[2]), dtype=W.dtype)
        for k in range(W.shape[0]):
            out[k] = (X[k] if isinstance(X, list) else X) @ W[k]
        return out
    return np.matmul(X, W, out=out)


def input_gradient(X, delta: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``X.T @ delta`` into ``out`` of shape (m, n_features, fan_out)."""
    if isinstance(X, list) or sp.issparse(X):
        for k in range(delta.shape[0]):
            out[k] = ((X[k] if isinstance(X, list) else X).T @ delta[k])
        return out
    XT = X.T if X.ndim == 2 else X.transpose(0, 2, 1)
    return np.matmul(XT, delta, out=out)


def dropout_masks(shapes: list, rates: np.ndarray, rngs: list, dtype, out: list | None = None,
                  drawing: np.ndarray | None = None, gaussian: np.ndarray | None = None,
                  plans: list | None = None) -> list:
    r"""Inverted-dropout masks :math:`M_l = \mathrm{Bernoulli}(1-p_{kl}) / (1-p_{kl})`, member ``k`` at its own rate.

    Parameters
    ----------
    shapes : list of tuple
        ``(m, n, units)`` for each hidden layer.
    rates : ndarray of shape (m, n_hidden)
        Drop probability ``p_kl`` of member ``k`` in hidden layer ``l``.
    rngs : list of numpy.random.Generator
        One generator per member; member ``k``'s masks come from ``rngs[k]`` only.
    out : list of (ndarray or None), optional
        Preallocated mask arrays, one per hidden layer.
    drawing : ndarray of bool, optional
        Members whose masks are drawn (default all); the others' generators
        are left untouched and their masks keep every unit.
    gaussian : ndarray of bool of shape (m,), optional
        Members whose masks are Gaussian, :math:`N(1, p/(1-p))` (the variance
        of inverted Bernoulli dropout at rate ``p``), instead of Bernoulli.
    plans : list, optional
        ``mask_plans(rates, rngs, drawing, gaussian)``, when the caller keeps them from step to step;
        given, they stand for ``drawing`` and ``gaussian`` (which are then not read): the caller must
        make them anew when those change.

    Returns
    -------
    list
        Per hidden layer: a mask array, a ``SharedMasks``, or ``None`` where
        no member drops.

    A member whose rate in a layer is 0 draws nothing for it and keeps every
    unit (a mask of ones): its stream, and so its later masks, are those it
    would have trained alone with that rate. Members holding one generator
    share its draw, each turned into a mask at its own rate (they must
    drop units in the same layers, or the generator would draw for one
    where alone it would not); runs of such members at one rate share one
    mask (``SharedMasks``).
    """
    plans = mask_plans(rates, rngs, drawing, gaussian) if plans is None else plans
    out = out if out is not None else [None] * len(shapes)
    masks = []
    for plan, shape, buffer in zip(plans, shapes, out, strict=True):
        if plan is None:
            masks.append(None)
            continue
        buffer = buffer if buffer is not None else np.empty(shape, dtype=dtype)
        make = _shared_masks if plan.shared else _member_masks
        masks.append(make(buffer, rngs, plan))
    return masks


@dataclass(frozen=True, eq=False)
class LayerMaskPlan:
    """Who draws one hidden layer's dropout masks in a step, and which members' masks are the same.

    It depends on the rates, on which generator each member holds and on
    which members draw (``mask_plans``), not on the draws: a training loop
    keeps it from step to step.

    Attributes
    ----------
    rates : ndarray of shape (m,)
    draws : ndarray of bool of shape (m,)
        Members drawing a mask (a rate above 0, and drawing this step).
    normal : ndarray of bool of shape (m,)
        Drawing members whose masks are Gaussian.
    holders : ndarray of int of shape (m,)
        Each member's generator's first holder (``first_holders``).
    runs : tuple of slice
        Runs of consecutive members whose masks are the same (one
        generator's draw at one rate), or that draw none.
    shared : bool
        Whether members share draws and runs of them share masks: the
        masks are then made once per run (``SharedMasks``).
    """

    rates: np.ndarray
    draws: np.ndarray
    normal: np.ndarray
    holders: np.ndarray
    runs: tuple
    shared: bool

    @cached_property
    def drawn_by(self) -> list:
        """The members whose generators draw: each drawing member that is its generator's first holder."""
        return np.flatnonzero(self.draws & (self.holders == np.arange(len(self.holders)))).tolist()

    @cached_property
    def mask_runs(self) -> list:
        """The runs that get a mask, holders' own runs last (until then their rows hold the raw draws)."""
        drawing = [run for run in self.runs if self.draws[run.start]]
        return sorted(drawing, key=lambda run: self.holders[run.start] == run.start)


def mask_plans(rates: np.ndarray, rngs: list, drawing: np.ndarray | None = None,
               gaussian: np.ndarray | None = None) -> list:
    """One ``LayerMaskPlan`` per hidden layer (None where no member drops); arguments as ``dropout_masks``."""
    plans = []
    for layer_rates in rates.T:
        if not layer_rates.any():
            plans.append(None)
            continue
        draws = layer_rates > 0 if drawing is None else drawing & (layer_rates > 0)
        normal = np.zeros(len(rngs), dtype=bool) if gaussian is None else gaussian & draws
        holders = first_holders(rngs, draws)
        runs = tuple(_runs_of_equal_masks(holders, layer_rates, draws))
        drawing_holders = holders[draws].tolist()
        shared = len(set(drawing_holders)) < len(drawing_holders) and len(runs) < len(rngs)
        plans.append(LayerMaskPlan(layer_rates, draws, normal, holders, runs, shared))
    return plans


def _member_masks(mask: np.ndarray, rngs: list, plan: LayerMaskPlan) -> np.ndarray:
    """One layer's masks, member by member, into ``mask`` of shape (m, n, units)."""
    rates, draws, normal, holders = plan.rates, plan.draws, plan.normal, plan.holders
    for k, rng in enumerate(rngs):
        if holders[k] != k:
            mask[k] = mask[holders[k]]  # one generator's draw, for every member holding it
        elif normal[k]:
            rng.standard_normal(dtype=mask.dtype, out=mask[k])
        elif draws[k]:
            rng.random(dtype=mask.dtype, out=mask[k])
        else:
            mask[k] = 1.0  # kept: a fixed mask, not whatever the buffer held
    if not normal.any():
        _bernoulli_masks(mask, rates)
    else:
        bernoulli = ~normal
        _bernoulli_masks(mask[bernoulli], rates[bernoulli], out=mask, members=bernoulli)
        _gaussian_masks(mask, rates, normal)
    return mask


def _runs_of_equal_masks(holders: np.ndarray, rates: np.ndarray, draws: np.ndarray) -> list:
    """Runs of consecutive members whose masks are the same: one generator's draw at one rate, or none."""
    return consecutive_runs([(holder, rate) if drawn else None
                             for holder, rate, drawn in zip(holders.tolist(), rates.tolist(), draws.tolist(),
                                                            strict=True)])


def _shared_masks(mask: np.ndarray, rngs: list, plan: LayerMaskPlan) -> "SharedMasks":
    """One layer's masks as one (n, units) mask per run of members that share it (``SharedMasks``).

    Each run's mask is written in the run's first row of ``mask`` (the
    layer's buffer, shape (m, n, units)): a generator's draw goes to its
    holder's row, the holder's own run starts there, and the other runs at
    its rates read the draw before that row becomes a mask.
    """
    normal, holders = plan.normal, plan.holders
    for k in plan.drawn_by:
        if normal[k]:
            rngs[k].standard_normal(dtype=mask.dtype, out=mask[k])
        else:
            rngs[k].random(dtype=mask.dtype, out=mask[k])
    for run in plan.mask_runs:
        first, rows = run.start, slice(run.start, run.start + 1)
        draw = mask[holders[first]][None]
        if normal[first]:
            np.copyto(mask[rows], draw)
            _gaussian_masks(mask[rows], plan.rates[rows], np.ones(1, dtype=bool))
        else:
            _bernoulli_masks(draw, plan.rates[rows], out=mask[rows], members=slice(None))
    return SharedMasks(plan.runs, tuple(mask[run.start] if plan.draws[run.start] else None for run in plan.runs))


@dataclass(frozen=True)
class SharedMasks:
    """A layer's dropout masks when runs of members share one: ``masks[i]`` (n, units), or None, for ``runs[i]``.

    Members that hold one generator and drop at one rate have the same
    masks (a CV search's members of one fold that differ only in
    ``alpha``): each run's mask is made once, and never copied per member.
    """

    runs: tuple
    masks: tuple

    def apply(self, A: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """``A`` times each run's mask (a run without one keeps ``A``), into ``out``."""
        out = np.empty_like(A) if out is None else out
        for run, mask in zip(self.runs, self.masks, strict=True):
            if mask is None:
                out[run] = A[run]
            else:
                np.multiply(A[run], mask, out=out[run])
        return out

    def scale_gradient(self, delta: np.ndarray) -> None:
        """Multiply ``delta`` by each run's mask, in place."""
        for run, mask in zip(self.runs, self.masks, strict=True):
            if mask is not None:
                delta[run] *= mask


def _bernoulli_masks(uniform: np.ndarray, rates: np.ndarray, out: np.ndarray | None = None,
                     members: np.ndarray | None = None) -> None:
    """Uniform draws to inverted Bernoulli masks, in place (or into ``out[members]``)."""
    # Rates compared and scales made in the mask's dtype, as a Python float rate would be.
    threshold = rates.astype(uniform.dtype)[:, None, None]
    scale = (1.0 / (1.0 - rates)).astype(uniform.dtype)[:, None, None]
    if out is None:
        np.multiply(uniform >= threshold, scale, out=uniform)
    else:
        out[members] = (uniform >= threshold) * scale


def _gaussian_masks(mask: np.ndarray, rates: np.ndarray, members: np.ndarray) -> None:
    """Standard normal draws of ``members`` to :math:`1 + \\sqrt{p/(1-p)}\\,z`, in place."""
    for k in np.flatnonzero(members):
        mask[k] *= np.sqrt(rates[k] / (1.0 - rates[k]))
        mask[k] += 1.0


@dataclass
class StepBuffers:
    """The arrays a training step writes, allocated once per fit for each batch size (the full, an epoch's last).

    ``activations[l]``: layer ``l``'s pre-activation, then (in place) its
    activation, shape (m, n, units); ``dropped[l]``: a hidden layer's
    activation times its mask, where some member drops units there (else
    ``None``); ``masks[l]``: that layer's dropout mask; ``deltas[l]``: the
    gradient with respect to hidden layer ``l``'s pre-activation.
    """

    activations: list
    dropped: list
    masks: list
    deltas: list

    @classmethod
    def allocate(cls, layout: "ParameterLayout", n_members: int, n_rows: int, noisy_layers, dtype) -> "StepBuffers":
        """Buffers for batches of ``n_rows``; ``noisy_layers[l]``: whether hidden layer ``l`` has dropout."""
        def new(units):
            return np.empty((n_members, n_rows, units), dtype=dtype)

        hidden = layout.layer_units[1:-1]
        return cls(
            activations=[new(units) for units in layout.layer_units[1:]],
            dropped=[new(units) if noisy else None for units, noisy in zip(hidden, noisy_layers, strict=True)],
            masks=[new(units) if noisy else None for units, noisy in zip(hidden, noisy_layers, strict=True)],
            deltas=[new(units) for units in hidden],
        )


@dataclass
class ForwardCache:
    """What ``backward`` needs from ``forward``.

    ``outputs[l]`` is layer ``l``'s activation ``f(Z_l)`` before dropout;
    ``inputs[l]`` is what layer ``l`` received (``inputs[0]`` is the batch,
    ``inputs[l + 1] = outputs[l] * masks[l]``).
    """

    inputs: list
    outputs: list
    masks: list


def forward(X, coefs: list, intercepts: list, activation: str, output_activation: str,
            masks: list | None = None, buffers: StepBuffers | None = None) -> ForwardCache:
    """Run the network forward.

    Parameters
    ----------
    X : array or sparse matrix of shape (n, n_features) or (m, n, n_features), or list of sparse
    coefs, intercepts : list of ndarray of shape (m, fan_in, fan_out) and (m, 1, fan_out)
    activation : str
        Hidden activation, a key of ``ACTIVATIONS``.
    output_activation : str
    masks : list of (ndarray or None), optional
        Dropout mask per hidden layer; ``None`` (or missing) means no dropout.
    buffers : StepBuffers, optional
        Preallocated arrays for this batch size, reused across calls.

    Returns
    -------
    ForwardCache
        ``cache.outputs[-1]`` is the network output of shape (m, n, n_outputs).
    """
    n_layers = len(coefs)
    masks = masks if masks is not None else [None] * (n_layers - 1)
    inputs, outputs = [X], []
    for layer in range(n_layers):
        A_in = inputs[-1]
        Z = None if buffers is None else buffers.activations[layer]
        Z = input_matmul(A_in, coefs[layer], Z) if layer == 0 else np.matmul(A_in, coefs[layer], out=Z)
        Z += intercepts[layer]
        is_output = layer == n_layers - 1
        A = ACTIVATIONS[output_activation if is_output else activation](Z)
        outputs.append(A)
        if not is_output:
            mask = masks[layer]
            dropped = None if buffers is None else buffers.dropped[layer]
            if mask is None:
                inputs.append(A)
            elif isinstance(mask, SharedMasks):
                inputs.append(mask.apply(A, dropped))
            else:
                inputs.append(np.multiply(A, mask, out=dropped))
    return ForwardCache(inputs=inputs, outputs=outputs, masks=masks)


def backward(cache: ForwardCache, coefs: list, delta: np.ndarray, activation: str,
             grad_coefs: list, grad_intercepts: list, buffers: StepBuffers | None = None) -> None:
    """Back-propagate ``delta = dJ/dZ_out`` and write the parameter gradients.

    Parameters
    ----------
    cache : ForwardCache
        From the ``forward`` call that produced the output.
    coefs : list of ndarray of shape (m, fan_in, fan_out)
    delta : ndarray of shape (m, n, n_outputs)
        Gradient of the objective's data term with respect to the output
        layer's pre-activation (already weighted and normalised).
    activation : str
        Hidden activation.
    grad_coefs, grad_intercepts : list of ndarray
        Written in place; same shapes as the parameters.
    buffers : StepBuffers, optional
        Preallocated arrays for this batch size (its ``deltas`` are written).
    """
    derivative = DERIVATIVES[activation]
    ones = _row_of_ones(delta.shape[-2], delta.dtype)
    for layer in range(len(coefs) - 1, -1, -1):
        A_in = cache.inputs[layer]
        if layer == 0:
            input_gradient(A_in, delta, out=grad_coefs[0])
        else:
            np.matmul(A_in.transpose(0, 2, 1), delta, out=grad_coefs[layer])
        np.matmul(ones, delta, out=grad_intercepts[layer])
        if layer == 0:
            break
        out = buffers.deltas[layer - 1] if buffers is not None else None
        delta = _times_transpose(delta, coefs[layer], out)
        mask = cache.masks[layer - 1]
        if isinstance(mask, SharedMasks):
            mask.scale_gradient(delta)
        elif mask is not None:
            delta *= mask
        derivative(cache.outputs[layer - 1], delta)


@functools.lru_cache(maxsize=16)
def _row_of_ones(n: int, dtype) -> np.ndarray:
    """A read-only ``(1, n)`` row of ones, made once per batch size.

    Bias gradients are column sums of the deltas; as a product with a row of
    ones they run in BLAS, about twice as fast as ``np.sum`` over the batch axis.
    """
    ones = np.ones((1, n), dtype=dtype)
    ones.flags.writeable = False
    return ones


def _times_transpose(delta: np.ndarray, W: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``delta @ W.T`` per member; an outer product by broadcasting when ``W`` has one column.

    With a single output (regression), numpy's matmul makes a product of
    inner dimension 1 several times slower than the same broadcast multiply.
    """
    W_T = W.transpose(0, 2, 1)
    if W.shape[2] == 1:
        return np.multiply(delta, W_T, out=out)
    return np.matmul(delta, W_T, out=out)


# Bytes of one block of hidden activations, (members, rows, widest layer), when predicting in blocks.
ACTIVATION_BLOCK_BYTES = 2**19


def prediction_blocks(coefs: list) -> tuple:
    """``(rows, members)`` per block of a prediction, so that a block of activations stays cache-sized.

    The element-wise passes of a forward pass (bias, activation) run at
    cache speed only while a block fits in the CPU's cache: one thread
    predicted 5000 rows with ten (64, 64) nets in 24 ms in blocks of 1024
    rows of one member, against 55 ms in blocks of 4096 rows of all ten.
    Wide nets keep at least 1024 rows per block, which their matrix
    products need to run well on several BLAS threads.

    The rows per block depend on the layer widths only, never on the number
    of members, and are a power of two: a member's outputs are then bitwise
    the same whichever members it is predicted beside (BLAS rounds blocks of
    other heights differently), and blocks align with 4096-row chunks.
    """
    itemsize = coefs[0].dtype.itemsize
    widest = max(W.shape[2] for W in coefs)
    fitting_rows = max(ACTIVATION_BLOCK_BYTES // (widest * itemsize), 1)
    rows = int(np.clip(2 ** int(np.log2(fitting_rows)), 1024, 4096))
    members = max(1, ACTIVATION_BLOCK_BYTES // (rows * widest * itemsize))
    return rows, members


def prediction_product_flops(X, coefs: list) -> int:
    """Flops of the largest single matrix product ``predict_members`` makes (one member, one block of rows)."""
    block_rows, _ = prediction_blocks(coefs)
    rows = min(X.shape[0], block_rows)
    return 2 * rows * max(W.shape[1] * W.shape[2] for W in coefs)


def predict_members(X, coefs: list, intercepts: list, activation: str, output_activation: str) -> np.ndarray:
    """Every member's output on ``X``, computed in blocks of rows and members (``prediction_blocks``).

    Memory beyond the result stays bounded by one block, whatever ``n``.

    Returns
    -------
    ndarray of shape (m, n, n_outputs)
    """
    block_rows, block_members = prediction_blocks(coefs)
    n = X.shape[0]
    m, n_outputs = coefs[-1].shape[0], coefs[-1].shape[2]
    result = np.empty((m, n, n_outputs), dtype=coefs[0].dtype)
    for start in range(0, n, block_rows):
        rows = slice(start, min(start + block_rows, n))
        for first in range(0, m, block_members):
            members = slice(first, first + block_members)
            cache = forward(X[rows], [W[members] for W in coefs], [b[members] for b in intercepts], activation,
                            output_activation)
            result[members, rows] = cache.outputs[-1]
    return result
