"""The training loop: epochs, minibatches, stopping, divergence, history.

Knows nothing of scikit-learn: it receives clean arrays, a ``TrainConfig``
and random generators, and updates a ``TrainingState`` that survives between
calls (``warm_start`` and ``partial_fit`` continue it).
"""

import contextlib
import copy
import functools
import mmap
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

from skreg._losses import weighted_mean_loss
from skreg._network import dropout_masks, predict_members, prediction_product_flops
from skreg._objective import (
    NetworkSpec,
    PenaltySpec,
    data_term_and_gradient,
    objective_and_gradient,
    penalty_scale,
)
from skreg._optimizers import SGD, Adam, concatenate_optimizers, take_optimizer_members
from skreg._penalties import penalty_value, soft_threshold


@dataclass(frozen=True)
class TrainConfig:
    """Every training hyperparameter, already validated."""

    network: NetworkSpec
    penalty: PenaltySpec
    dropout: tuple
    solver: str
    batch_size: int
    max_iter: int
    shuffle: bool
    tol: float
    n_iter_no_change: int
    learning_rate: str
    learning_rate_init: float
    power_t: float
    momentum: float
    nesterovs_momentum: bool
    beta_1: float
    beta_2: float
    epsilon: float
    max_fun: int
    verbose: bool
    early_stopping: bool = False


# Entries of the (members, draws) arrays that per-member bookkeeping gathers at once.
GATHER_CHUNK_ENTRIES = 2**20


@dataclass
class TrainingData:
    """The rows each member trains on.

    ``member_rows[k]`` indexes the rows of member ``k`` (all rows, or a
    bootstrap draw with repeats); all members have the same number of rows.
    ``total_weight[k]`` is ``S_k``, the sum of sample weights over those rows.
    """

    X: object
    Y: np.ndarray
    sample_weight: np.ndarray
    member_rows: np.ndarray

    @property
    def n_members(self) -> int:
        return self.member_rows.shape[0]

    def subset(self, members) -> "TrainingData":
        """The same data for some members only (indices, or a slice).

        A contiguous run of members takes a view of ``member_rows``, not a
        copy: groups and chunks of an ensemble then share the draws, which
        for many members on many rows are the largest arrays of a fit.
        """
        return TrainingData(self.X, self.Y, self.sample_weight, take_members(self.member_rows, members))

    def row_weights(self, members=slice(None)) -> np.ndarray:
        """Each member's weight on each row: sample weight times how often its draw holds the row.

        Integer repeats weigh a row exactly as repeating it does, which lets
        full-batch computations skip materialising the draws. Shape (m, n),
        or (len(members), n) for some ``members`` (indices or a slice).
        """
        n_rows = self.Y.shape[0]
        counts = np.stack([np.bincount(rows, minlength=n_rows) for rows in self.member_rows[members]])
        return self.sample_weight * counts.astype(self.sample_weight.dtype)

    @property
    def total_weight(self) -> np.ndarray:
        # In chunks of members: the same sums as over all members' gathered weights at once, without them.
        m, n_draws = self.member_rows.shape
        chunk = max(1, GATHER_CHUNK_ENTRIES // max(n_draws, 1))
        return np.concatenate([self.sample_weight[self.member_rows[first : first + chunk]].sum(axis=1, dtype=np.float64)
                               for first in range(0, m, chunk)])


def row_index_dtype(n_rows: int):
    """The smallest index type for ``n_rows`` rows: int32 below 2**31 (half the memory of int64 draws)."""
    return np.int32 if n_rows < 2**31 else np.int64


def take_members(member_rows: np.ndarray, members) -> np.ndarray:
    """``member_rows[members]``, as a view where it can be.

    A slice, or indices forming a contiguous ascending run, gives a view;
    rows shared by every member (a broadcast, stride 0) stay a broadcast.
    """
    if isinstance(members, slice):
        return member_rows[members]
    members = np.asarray(members)
    members = np.flatnonzero(members) if members.dtype == bool else members
    if member_rows.strides[0] == 0:
        return np.broadcast_to(member_rows[0], (members.size, member_rows.shape[1]))
    if members.size and np.array_equal(members, np.arange(members[0], members[0] + members.size)):
        return member_rows[members[0] : members[0] + members.size]
    return member_rows[members]


class ImprovementTracker:
    """Per-member patience counter on a score where higher is better.

    A member's counter grows each epoch its score fails to beat the best by
    ``tol`` and resets otherwise (scikit-learn's rule); ``update`` returns the
    members whose counter exceeded ``n_iter_no_change``. A NaN score (a
    metric undefined on the validation rows) never improves: it is never
    the best, and it counts against patience.
    """

    def __init__(self, n_members: int, n_iter_no_change: int, tol: float):
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.best_score = np.full(n_members, -np.inf)
        self.best_epoch = np.zeros(n_members, dtype=int)
        self.count = np.zeros(n_members, dtype=int)

    def update(self, scores: np.ndarray, epochs: np.ndarray, active: np.ndarray) -> tuple:
        """Record one epoch's ``scores``; return ``(improved, out_of_patience)`` masks."""
        short_of_tol = ~(scores >= self.best_score + self.tol)  # NaN is short of it
        self.count = np.where(active, np.where(short_of_tol, self.count + 1, 0), self.count)
        improved = active & (scores > self.best_score)
        self.best_score = np.where(improved, scores, self.best_score)
        self.best_epoch = np.where(improved, epochs, self.best_epoch)
        return improved, active & (self.count > self.n_iter_no_change)

    def forgive(self, members: np.ndarray) -> None:
        """Reset the counter of ``members`` (after their learning rate was reduced)."""
        self.count[members] = 0


@dataclass
class TrainingState:
    """Everything a fit leaves behind and a warm-started fit continues from."""

    params: np.ndarray
    optimizer: object = None
    shuffle_rngs: list = None
    dropout_rngs: list = None
    samples_seen: int = 0
    n_iter: np.ndarray = None
    loss_curve: list = field(default_factory=list)
    active_history: list = field(default_factory=list)
    validation_loss_curve: list = field(default_factory=list)
    validation_score_curve: list = field(default_factory=list)
    tracker: ImprovementTracker = None
    best_params: np.ndarray = None
    stopped: np.ndarray = None
    diverged: np.ndarray = None
    interrupted: bool = False
    reached_max_iter: bool = False
    # L-BFGS-B's message for each member whose optimisation ended abnormally (line search failure, ...).
    solver_failures: dict = field(default_factory=dict)

    @property
    def n_members(self) -> int:
        return self.params.shape[0]

    def copy(self) -> "TrainingState":
        """An independent copy to train on.

        The per-epoch curves are copied shallowly (new lists, same arrays):
        their entries are never modified once appended, and a deep copy of
        them made every ``partial_fit`` call cost time growing with history.
        """
        curves = (self.loss_curve, self.active_history, self.validation_loss_curve, self.validation_score_curve)
        return copy.deepcopy(self, memo={id(curve): list(curve) for curve in curves})

    def subset(self, members: np.ndarray) -> "TrainingState":
        """The state of ``members`` (indices, in that order), every per-member part taken (copied).

        Splits fresh members into groups and chunks, takes stopped members
        out of the batch, and puts merged states back in member order.
        """
        def rows(curve):
            return [entry[members] for entry in curve]

        taken = TrainingState(
            params=self.params[members],
            optimizer=None if self.optimizer is None else take_optimizer_members(self.optimizer, members),
            shuffle_rngs=[self.shuffle_rngs[k] for k in members],
            dropout_rngs=[self.dropout_rngs[k] for k in members],
            samples_seen=self.samples_seen,
            n_iter=self.n_iter[members],
            loss_curve=rows(self.loss_curve),
            active_history=rows(self.active_history),
            validation_loss_curve=rows(self.validation_loss_curve),
            validation_score_curve=rows(self.validation_score_curve),
            best_params=None if self.best_params is None else self.best_params[members],
            stopped=self.stopped[members],
            diverged=self.diverged[members],
            interrupted=self.interrupted,
            reached_max_iter=self.reached_max_iter,
            solver_failures={new: self.solver_failures[old] for new, old in enumerate(members)
                             if old in getattr(self, "solver_failures", {})},
        )
        if self.tracker is not None:
            taken.tracker = copy.copy(self.tracker)
            for name in ("best_score", "best_epoch", "count"):
                setattr(taken.tracker, name, getattr(self.tracker, name)[members])
        return taken


def _pad_curve(curve: list, n_members: int, length: int, filler: np.ndarray | None = None) -> list:
    """Extend a per-epoch curve to ``length`` epochs in which its members stood frozen.

    Each frozen epoch gets ``filler``; by default each member repeats its
    latest finite entry (``standing_values``), and members that never
    completed an epoch (interrupted in their first) get NaN.
    """
    filler = standing_values(curve, n_members) if filler is None else filler
    return curve + [filler] * (length - len(curve))


def _frozen_validation(curve: list, n_members: int, validated: bool) -> np.ndarray:
    """A frozen member's validation entry: its last (the same weights validated again), or NaN without validation."""
    return curve[-1] if validated and curve else np.full(n_members, np.nan)


def standing_values(curve: list, n_members: int) -> np.ndarray:
    """Each member's latest finite entry of a per-epoch curve, NaN if it has none.

    What a frozen member's curve repeats: after a divergence its parameters
    went back to finite ones, so the non-finite entry of the diverging epoch
    is not repeated.
    """
    standing = np.full(n_members, np.nan)
    missing = np.ones(n_members, dtype=bool)
    for entry in reversed(curve):
        found = missing & np.isfinite(entry)
        standing[found] = entry[found]
        missing &= ~found
        if not missing.any():
            break
    return standing


def _pad_activity(history: list, n_members: int, length: int) -> list:
    """Extend a per-epoch activity record to ``length`` epochs in which no member trained."""
    return history + [np.zeros(n_members, dtype=bool)] * (length - len(history))


def concatenate_states(states: list, validated: bool = True) -> TrainingState:
    """One state for the members of several states trained apart (in order).

    The curves of states that finished sooner are padded as if their members
    had waited frozen beside the others: the loss curve with standing values,
    the validation curves with the last entry (``validated``: the others were
    validated) or NaN.
    """
    def stack(name):
        return np.concatenate([getattr(state, name) for state in states])

    def stack_curves(name):
        length = max(len(getattr(state, name)) for state in states)
        padded = []
        for state in states:
            curve = getattr(state, name)
            if name == "active_history":
                padded.append(_pad_activity(curve, state.n_members, length))
            elif name.startswith("validation"):
                filler = _frozen_validation(curve, state.n_members, validated)
                padded.append(_pad_curve(curve, state.n_members, length, filler))
            else:
                padded.append(_pad_curve(curve, state.n_members, length))
        return [np.concatenate(epoch) for epoch in zip(*padded, strict=True)]

    merged = TrainingState(
        params=stack("params"),
        optimizer=(concatenate_optimizers([state.optimizer for state in states])
                   if states[0].optimizer is not None else None),
        shuffle_rngs=[rng for state in states for rng in state.shuffle_rngs],
        dropout_rngs=[rng for state in states for rng in state.dropout_rngs],
        samples_seen=max(state.samples_seen for state in states),
        n_iter=stack("n_iter"),
        loss_curve=stack_curves("loss_curve"),
        active_history=stack_curves("active_history"),
        validation_loss_curve=stack_curves("validation_loss_curve"),
        validation_score_curve=stack_curves("validation_score_curve"),
        stopped=stack("stopped"),
        diverged=stack("diverged"),
        interrupted=any(state.interrupted for state in states),
        reached_max_iter=any(state.reached_max_iter for state in states),
        solver_failures=_renumbered_failures(states),
    )
    template = next((state.tracker for state in states if state.tracker is not None), None)
    if template is not None:
        # A group interrupted in its first epoch has no tracker yet: a fresh one stands in.
        trackers = [state.tracker or ImprovementTracker(state.n_members, template.n_iter_no_change, template.tol)
                    for state in states]
        merged.tracker = ImprovementTracker(merged.n_members, template.n_iter_no_change, template.tol)
        for name in ("best_score", "best_epoch", "count"):
            setattr(merged.tracker, name, np.concatenate([getattr(tracker, name) for tracker in trackers]))
    if any(state.best_params is not None for state in states):
        merged.best_params = np.concatenate(
            [state.params if state.best_params is None else state.best_params for state in states])
    return merged


def _renumbered_failures(states: list) -> dict:
    """The states' ``solver_failures``, keyed by member index in the concatenated state."""
    failures, offset = {}, 0
    for state in states:
        failures.update({offset + k: message for k, message in getattr(state, "solver_failures", {}).items()})
        offset += state.n_members
    return failures


def _in_member_order(states: list, members: list) -> TrainingState:
    """One state from states of disjoint ``members`` (index arrays) and equally long curves, in member order."""
    if len(states) == 1:
        return states[0]
    merged = concatenate_states(states)
    return merged.subset(np.argsort(np.concatenate(members), kind="stable"))


def make_optimizer(config: TrainConfig, shape, dtype):
    """The stochastic optimizer named by ``config.solver``."""
    if config.solver == "sgd":
        return SGD(shape, dtype, learning_rate_init=config.learning_rate_init, momentum=config.momentum,
                   nesterov=config.nesterovs_momentum, schedule=config.learning_rate, power_t=config.power_t)
    return Adam(shape, dtype, learning_rate_init=config.learning_rate_init, beta_1=config.beta_1,
                beta_2=config.beta_2, epsilon=config.epsilon)


def new_state(params: np.ndarray, shuffle_rngs: list, dropout_rngs: list) -> TrainingState:
    """A fresh state around initial parameters."""
    m = params.shape[0]
    return TrainingState(params=params, shuffle_rngs=shuffle_rngs, dropout_rngs=dropout_rngs,
                         n_iter=np.zeros(m, dtype=int), stopped=np.zeros(m, dtype=bool),
                         diverged=np.zeros(m, dtype=bool))


# --------------------------------------------------------------------------
# Stochastic solvers (sgd, adam)
# --------------------------------------------------------------------------

class Workspace:
    """What every step of a fit reuses: buffers allocated once, views and factors computed once.

    Full-size batches are gathered into, and run through, preallocated
    arrays; only a last, smaller batch allocates its own.
    """

    def __init__(self, config: TrainConfig, data: TrainingData, params: np.ndarray, batch_size: int):
        m, dtype = params.shape[0], params.dtype
        layout = config.network.layout
        units = layout.layer_units[1:]
        self.batch_size = batch_size
        self.forward = []
        for layer, n_units in enumerate(units):
            self.forward.append(np.empty((m, batch_size, n_units), dtype=dtype))
            has_dropout = layer < len(config.dropout) and config.dropout[layer] > 0
            self.forward.append(np.empty((m, batch_size, n_units), dtype=dtype) if has_dropout else None)
        self.deltas = [np.empty((m, batch_size, n), dtype=dtype) for n in units[:-1]]
        self.masks = [np.empty((m, batch_size, n), dtype=dtype) if rate > 0 else None
                      for n, rate in zip(units[:-1], config.dropout, strict=True)]
        self.grads = np.empty((m, layout.n_params), dtype=dtype)
        self.penalty_work = np.empty((m, layout.n_weights), dtype=dtype)
        self.views = (*layout.views(params), *layout.views(self.grads))
        # Every member reads its own (batch, ...) slice, one member included: a
        # single net is computed exactly as member k of an ensemble is.
        lead = (m, batch_size)
        self.X = None if sp.issparse(data.X) else np.empty(lead + data.X.shape[1:], dtype=data.X.dtype)
        self.Y = np.empty(lead + data.Y.shape[1:], dtype=data.Y.dtype)
        self.weight = np.empty(lead, dtype=data.sample_weight.dtype)
        scale = penalty_scale(config.penalty, data.total_weight)
        self.l2_factor = (scale * config.penalty.l2_share).astype(dtype)[:, None]
        self.l1_factor = (scale * config.penalty.l1_share).astype(dtype)[:, None]

    def for_batch(self, n_rows: int) -> tuple:
        """Forward, delta and mask buffers for a batch of ``n_rows`` (``None``: allocate)."""
        if n_rows == self.batch_size:
            return self.forward, self.deltas, self.masks
        return None, None, None


def epoch_order(data: TrainingData, state: TrainingState, shuffle: bool) -> np.ndarray:
    """Each member's rows for this epoch, shuffled by its own generator.

    Every member of ``state`` starts the epoch training (stopped members
    have left the batch), so each generator draws once per epoch it trains.
    """
    if not shuffle:
        return data.member_rows
    # Filled row by row (``permutation`` is a copy then ``shuffle``): one (m, n_draws) array, not a list and a stack.
    order = np.empty(data.member_rows.shape, dtype=data.member_rows.dtype)
    for member_order, rows, rng in zip(order, data.member_rows, state.shuffle_rngs, strict=True):
        member_order[:] = rows
        rng.shuffle(member_order)
    return order


def gather_batch(data: TrainingData, rows: np.ndarray, workspace: Workspace) -> tuple:
    """``(X, Y, weight)`` of a batch, each with a leading member axis (a list of sparse matrices for sparse X)."""
    full = rows.shape[-1] == workspace.batch_size
    # The rows are valid indices: mode="clip" only spares numpy the bounds
    # check, which with ``out=`` means buffering the whole batch (10x slower).
    if sp.issparse(data.X):
        X = [data.X[member_rows] for member_rows in rows]
    else:
        X = data.X.take(rows, axis=0, out=workspace.X if full else None, mode="clip")
    Y = data.Y.take(rows, axis=0, out=workspace.Y if full else None, mode="clip")
    weight = data.sample_weight.take(rows, out=workspace.weight if full else None, mode="clip")
    return X, Y, weight


def apply_penalty_gradient(params, grads, n_weights: int, factor: np.ndarray, work: np.ndarray) -> None:
    """Add the smooth (L2) part's gradient ``(alpha/S) r_2 W`` to the weights' gradient."""
    grads[:, :n_weights] += np.multiply(params[:, :n_weights], factor, out=work)


def apply_l1_prox(params, optimizer, n_weights: int, factor: np.ndarray) -> None:
    """Soft-threshold the weights by ``step size * (alpha/S) * r_1``: exact zeros."""
    soft_threshold(params[:, :n_weights], optimizer.prox_step_sizes(n_weights) * factor)


def train_step(X, Y, weight, state: TrainingState, config: TrainConfig, workspace: Workspace) -> np.ndarray:
    """One minibatch update of every member; returns the batch's mean loss per member."""
    n_rows = weight.shape[-1]
    buffers, delta_buffers, mask_buffers = workspace.for_batch(n_rows)
    masks = None
    if any(config.dropout):
        units = config.network.layout.layer_units[1:-1]
        shapes = [(state.n_members, n_rows, n) for n in units]
        masks = dropout_masks(shapes, config.dropout, state.dropout_rngs, state.params.dtype, mask_buffers,
                              drawing=~state.stopped)
    loss = data_term_and_gradient(config.network, state.params, workspace.grads, X, Y, weight, masks,
                                  buffers, delta_buffers, workspace.views)
    n_weights = config.network.layout.n_weights
    if config.penalty.has_l2:
        apply_penalty_gradient(state.params, workspace.grads, n_weights, workspace.l2_factor, workspace.penalty_work)
    if state.stopped.any():
        # A frozen member's optimizer state stands still; its gradient, which
        # may not even be finite (inf * 0 is NaN), must not reach it.
        workspace.grads[state.stopped] = 0
    state.optimizer.step(state.params, workspace.grads)
    if config.penalty.has_l1:
        apply_l1_prox(state.params, state.optimizer, n_weights, workspace.l1_factor)
    return loss


class FiniteGuard:
    """Keeps, per member, the latest parameters known to give a finite loss.

    A batch loss is evaluated at the parameters *before* its step, so a
    finite loss at step ``j`` certifies the parameters of step ``j - 1``;
    when a member's loss turns non-finite, its certified parameters are
    restored and it is frozen. One copy per step; the arrays are swapped,
    not copied, when every member is finite.
    """

    def __init__(self, params: np.ndarray):
        self.certified = params.copy()
        self._before_step = params.copy()

    def before_step(self, params: np.ndarray) -> None:
        np.copyto(self._before_step, params)

    def subset(self, members: np.ndarray) -> "FiniteGuard":
        """The guard of ``members`` (indices) only, with what it has certified for them."""
        taken = copy.copy(self)
        taken.certified, taken._before_step = self.certified[members], self._before_step[members]
        return taken

    def after_step(self, state: "TrainingState", batch_loss: np.ndarray) -> None:
        # A stopped member did not move: whatever its batch loss, it has not diverged.
        finite = np.isfinite(batch_loss) | state.stopped
        if finite.all():
            self.certified, self._before_step = self._before_step, self.certified
        else:
            self.certified[finite] = self._before_step[finite]
            freeze_diverged(state, ~finite & ~state.diverged, self.certified)
        if state.diverged.any():
            # A frozen member's step is scaled by 0, but 0 * inf is NaN: pin it back.
            state.params[state.diverged] = self.certified[state.diverged]


def freeze_diverged(state: TrainingState, members: np.ndarray, good_params: np.ndarray) -> None:
    """Restore finite parameters of ``members`` and stop them for good."""
    if not members.any():
        return
    state.params[members] = good_params[members]
    state.optimizer.reset_members(members)
    state.optimizer.freeze(members)
    state.diverged |= members
    state.stopped |= members


def run_epoch(data: TrainingData, state: TrainingState, config: TrainConfig, workspace: Workspace,
              guard: FiniteGuard, stop: threading.Event | None = None) -> np.ndarray:
    """One pass over every member's rows; returns the weighted mean batch loss per member.

    Raises KeyboardInterrupt at the next step once ``stop`` is set (another
    group of members, trained beside this one, was interrupted).
    """
    order = epoch_order(data, state, config.shuffle)
    loss_sum = np.zeros(state.n_members)
    weight_sum = np.zeros(state.n_members)
    for start in range(0, order.shape[1], workspace.batch_size):
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        X, Y, weight = gather_batch(data, order[:, start : start + workspace.batch_size], workspace)
        guard.before_step(state.params)
        training = ~state.stopped
        batch_loss = train_step(X, Y, weight, state, config, workspace)
        guard.after_step(state, batch_loss)
        # Only the batches a member trained on count towards its epoch loss.
        batch_weight = np.add.reduce(weight, axis=-1) * training
        loss_sum += np.where(np.isfinite(batch_loss), batch_loss, 0.0) * batch_weight
        weight_sum += batch_weight
    state.samples_seen += order.shape[1]
    return loss_sum / weight_sum


def penalised_loss(data_loss: np.ndarray, params: np.ndarray, config: TrainConfig, total_weight) -> np.ndarray:
    """``data_loss + (alpha/S) Omega(W)`` per member."""
    if config.penalty.alpha == 0:
        return data_loss
    weights = params[:, : config.network.layout.n_weights]
    omega = penalty_value(weights, config.penalty.l1_share, config.penalty.l2_share)
    return data_loss + penalty_scale(config.penalty, total_weight) * omega


def noise_free_objective(data: TrainingData, params: np.ndarray, config: TrainConfig) -> np.ndarray:
    """J of each member at ``params`` on its own training rows, without dropout: ``loss_``, shape (m,)."""
    return objective_and_finite_outputs(data, params, config)[0]


def objective_and_finite_outputs(data: TrainingData, params: np.ndarray, config: TrainConfig) -> tuple:
    """``noise_free_objective``, and whether each member's outputs are finite on every row of ``data.X``.

    The rows a member gives weight 0 (zero sample weights, out of bag, the
    validation split) do not reach its objective, but are predicted all the
    same: the one forward pass tells both (``member_losses_in_groups``).

    Returns
    -------
    objective : ndarray of shape (m,)
    finite_outputs : ndarray of bool, shape (m,)
    """
    losses, finite, total_weight = member_losses_in_groups(config.network, params, data.X, data.Y, data.row_weights)
    with np.errstate(all="ignore"):
        objective = penalised_loss(losses, params, config, total_weight)
    return objective, finite


def member_losses_in_groups(network, params: np.ndarray, X, Y: np.ndarray, weight_of) -> tuple:
    """Each member's weighted mean loss on ``(X, Y)`` without dropout, evaluated in groups of members.

    ``weight_of(group)`` gives the row weights of a group of members (a
    slice): shared, shape (n,), or per member, shape (len(group), n). The
    groups (``objective_groups``) keep the members' outputs and weights on
    all rows to a fraction of X's size, whatever the number of members.

    Returns
    -------
    losses : ndarray of shape (m,)
    finite_outputs : ndarray of bool, shape (m,)
        Whether each member's outputs are finite on every row of ``X``
        (rows of weight 0 included).
    weight_sums : ndarray of shape (m,)
    """
    coefs, intercepts = network.layout.views(params)
    budget = max(input_nbytes(X) // 4, OBJECTIVE_GROUP_MIN_BYTES)
    losses, finite, weight_sums = [], [], []
    for group in objective_groups(params.shape[0], Y.shape[0], network.layout.layer_units[-1], params.dtype, budget):
        weight = weight_of(group)
        with np.errstate(all="ignore"):
            output = predict_members_sized(X, [W[group] for W in coefs], [b[group] for b in intercepts],
                                           network.activation, network.output_activation)
            finite.append(np.isfinite(output).all(axis=(1, 2)))
            losses.append(weighted_mean_loss(network.loss, Y, output, weight))
        group_size = output.shape[0]
        weight_sums.append(np.broadcast_to(np.sum(weight, axis=-1, dtype=np.float64), (group_size,)))
    return np.concatenate(losses), np.concatenate(finite), np.concatenate(weight_sums)


def watched_scores(data: TrainingData, state: TrainingState, config: TrainConfig, on_validation: bool) -> np.ndarray:
    """What the stopping rule watches this epoch, per member, higher is better.

    The validation score, or minus the training objective. Without noise in
    the step that is the epoch's running minibatch loss (scikit-learn's
    rule, at no extra cost). With dropout the running loss is measured on
    thinned networks and jumps with the masks: one lucky epoch would never
    be beaten and the fit would stop on noise, so the objective is then
    measured noise-free at the epoch's end (one forward pass over the
    training rows).
    """
    if on_validation:
        return state.validation_score_curve[-1]
    if any(config.dropout):
        return -noise_free_objective(data, state.params, config)
    return -state.loss_curve[-1]


def check_finite_epoch(state: TrainingState, guard: FiniteGuard) -> None:
    """Freeze members whose epoch objective or parameters are not finite.

    The batch losses only certify the parameters *before* each step; the
    last step of an epoch, or a penalty gone wild, shows up here.
    """
    finite = np.isfinite(state.loss_curve[-1]) & np.isfinite(state.params).all(axis=1)
    freeze_diverged(state, ~finite & ~state.diverged, guard.certified)


def update_stopping(state: TrainingState, config: TrainConfig, scores: np.ndarray, active: np.ndarray,
                    keep_best: bool) -> None:
    """Patience bookkeeping for one epoch: best snapshot, schedule, stopping."""
    if state.tracker is None:
        state.tracker = ImprovementTracker(state.n_members, config.n_iter_no_change, config.tol)
    improved, out_of_patience = state.tracker.update(scores, state.n_iter, active)
    if keep_best:
        if state.best_params is None:
            state.best_params = state.params.copy()
        # A member without a finite score yet has no best epoch: it keeps its latest weights, not its first.
        keep = improved | (active & np.isneginf(state.tracker.best_score))
        state.best_params[keep] = state.params[keep]
    must_stop = state.optimizer.reduce_learning_rate(out_of_patience)
    state.tracker.forgive(out_of_patience & ~must_stop)
    state.stopped |= must_stop
    state.optimizer.freeze(must_stop)


def record_validation(state: TrainingState, validate) -> None:
    """Append this epoch's validation loss and score, NaN for epochs without a validation set.

    The validation curves stay aligned with ``loss_curve`` epoch for epoch,
    whichever calls (``fit``, ``partial_fit``, warm starts) had validation data.
    """
    pad_validation_curves(state, len(state.loss_curve) - 1)
    missing = np.full(state.n_members, np.nan)
    val_loss, val_score = validate(state.params) if validate is not None else (missing, missing)
    state.validation_loss_curve.append(val_loss)
    state.validation_score_curve.append(val_score)


def pad_validation_curves(state: TrainingState, n_epochs: int) -> None:
    """Give the epochs up to ``n_epochs`` that had no validation set NaN validation entries."""
    missing = np.full(state.n_members, np.nan)
    state.validation_loss_curve += [missing] * (n_epochs - len(state.validation_loss_curve))
    state.validation_score_curve += [missing] * (n_epochs - len(state.validation_score_curve))


@dataclass
class EpochProgress:
    """What ``verbose`` lines need to know of a whole group while only some of its members train."""

    started: float
    label: str
    n_group: int
    epochs_before: int = 0  # epochs in the group's curves before this call: lines count this call's, as n_iter_ does


def report_epoch(state: TrainingState, active_before: np.ndarray, progress: EpochProgress) -> None:
    """One line per epoch for ``verbose=True``, prefixed by ``[label]`` when one group of members reports.

    It starts as scikit-learn's does, ``Iteration N, loss = ...``, which scripts parse.
    """
    members = active_before if active_before.any() else np.ones_like(active_before)
    line = f"[{progress.label}] " if progress.label else ""
    epoch = len(state.loss_curve) - progress.epochs_before
    line += f"Iteration {epoch}, loss = {state.loss_curve[-1][members].mean():.8f}"
    if state.validation_loss_curve:
        line += f", validation loss = {state.validation_loss_curve[-1][members].mean():.8f}"
        line += f", validation score = {state.validation_score_curve[-1][members].mean():.6f}"
    if progress.n_group > 1:
        line += f", members training = {int((~state.stopped).sum())}/{progress.n_group}"
    line += f", elapsed = {time.perf_counter() - progress.started:.2f} s"
    print(line, flush=True)


def fit_stochastic(data: TrainingData, state: TrainingState, config: TrainConfig, validate=None,
                   max_epochs: int | None = None, check_stopping: bool = True,
                   stop: threading.Event | None = None, label: str = "") -> TrainingState:
    """Train every member with sgd or adam for up to ``max_epochs`` epochs.

    Parameters
    ----------
    data : TrainingData
    state : TrainingState
        Updated in place (and returned). Its optimizer is created if missing,
        kept otherwise, so a warm start continues Adam's moments and SGD's
        velocity and schedule.
    config : TrainConfig
    validate : callable, optional
        ``validate(params) -> (loss, score)``, both of shape (m,), on each
        member's validation rows; score is higher-is-better. Its curves are
        recorded; with ``config.early_stopping`` each member also stops on
        its own validation score and gets the parameters of its best epoch
        back (otherwise stopping watches the training loss).
    max_epochs : int, optional
        Defaults to ``config.max_iter``.
    check_stopping : bool
        ``False`` for ``partial_fit``: no patience bookkeeping.
    stop : threading.Event, optional
        Shared with groups of members trained beside this one: set, it
        interrupts this group; an interruption here sets it.
    label : str
        Names this group's members in ``verbose`` lines (``"members 0-4"``).
    """
    max_epochs = config.max_iter if max_epochs is None else max_epochs
    if state.optimizer is None:
        state.optimizer = make_optimizer(config, state.params.shape, state.params.dtype)
    state.stopped = state.diverged.copy()
    state.optimizer.member_scale[:] = 1
    state.optimizer.freeze(state.stopped)
    state.interrupted = False
    progress = EpochProgress(time.perf_counter(), label, state.n_members, epochs_before=len(state.loss_curve))
    # Members that stopped leave the batched computation at the end of their
    # epoch; they wait apart and join the others again at the end.
    parts, part_members = [], []
    live, members, guard = state, np.arange(state.n_members), FiniteGuard(state.params)
    epochs_left = max_epochs
    try:
        while True:
            if live.stopped.any() and not live.stopped.all():  # some, not all, members stopped: they leave
                leaving, staying = np.flatnonzero(live.stopped), np.flatnonzero(~live.stopped)
                # One assignment: an interruption finds the members all in the batch, or apart.
                parts, part_members, members, live, guard = (
                    parts + [live.subset(leaving)], part_members + [members[leaving]], members[staying],
                    live.subset(staying), guard.subset(staying))
            if epochs_left == 0 or live.stopped.all() or live.interrupted:
                break
            epochs_left -= _run_epochs(data.subset(members), live, config, _validator_for(validate, members, state),
                                       epochs_left, check_stopping, stop, guard, progress)
    except KeyboardInterrupt:
        # Between two epochs (each is recorded whole or not at all): the members stop as they are.
        live.interrupted = True
        if stop is not None:
            stop.set()
    state, cut_short = _even_if_interrupted(_rejoin, parts, part_members, live, members, validate, state, config)
    if cut_short:
        state.interrupted, state.reached_max_iter = True, False
        if stop is not None:
            stop.set()
    return state


def _rejoin(parts: list, part_members: list, live: TrainingState, members: np.ndarray, validate,
            group_state: TrainingState, config: TrainConfig) -> TrainingState:
    """The group's state from its members apart (``parts``) and those still in the batch (``live``).

    Changes none of the states it is given (so it can run again), except
    that ``live``, when no member left the batch, is the result itself.
    """
    waited = [_wait_frozen(part, len(live.loss_curve), _validator_for(validate, part_indices, group_state))
              for part, part_indices in zip(parts, part_members, strict=True)]
    state = _in_member_order(waited + [live], part_members + [members])
    state.reached_max_iter = not state.stopped.all() and not state.interrupted
    if validate is not None and config.early_stopping and state.best_params is not None:
        # A diverged member needs its best epoch back most of all: its last finite weights can be huge. Only
        # one that never had a finite validation score keeps them (it has no best epoch).
        restore = ~state.diverged
        if state.tracker is not None:
            restore |= np.isfinite(state.tracker.best_score)
        state.params[restore] = state.best_params[restore]
    return state


def _even_if_interrupted(finish, *args) -> tuple:
    """``(finish(*args), False)``, or, if a KeyboardInterrupt cut ``finish`` short, ``(finish(*args), True)``.

    For the steps that put together work already done (the states of
    groups, the fitted attributes), which must not change what they read:
    run again, they start from the same inputs, and the work is kept. A
    second interruption propagates.
    """
    try:
        return finish(*args), False
    except KeyboardInterrupt:
        return finish(*args), True


def _wait_frozen(part: TrainingState, n_epochs: int, validate) -> TrainingState:
    """``part`` with the epochs up to ``n_epochs`` that its members waited, frozen, apart from the batch.

    As if they had waited in it: the loss curve repeats standing values, and
    the validation curves get the frozen weights validated on this fit's
    validation rows (NaN without). A member may have stopped before this
    fit's first epoch, so its last entry can come from an earlier fit.
    Returns a copy with new curves; ``part`` itself is unchanged.
    """
    waited = n_epochs - len(part.loss_curve)
    if waited <= 0:
        return part
    frozen = copy.copy(part)
    validated_before = len(part.loss_curve)
    frozen.loss_curve = _pad_curve(part.loss_curve, part.n_members, n_epochs)
    frozen.active_history = _pad_activity(part.active_history, part.n_members, n_epochs)
    if validate is None and not part.validation_loss_curve:
        return frozen
    missing = np.full(part.n_members, np.nan)
    with np.errstate(all="ignore"):
        val_loss, val_score = validate(part.params) if validate is not None else (missing, missing)
    frozen.validation_loss_curve = (_pad_curve(part.validation_loss_curve, part.n_members, validated_before, missing)
                                    + [val_loss] * waited)
    frozen.validation_score_curve = (_pad_curve(part.validation_score_curve, part.n_members, validated_before,
                                                missing) + [val_score] * waited)
    return frozen


def _validator_for(validate, members: np.ndarray, group_state: TrainingState):
    """``validate`` restricted to ``members`` of the group (all of them: ``validate`` itself)."""
    if validate is None or len(members) == group_state.n_members:
        return validate
    return functools.partial(validate, members=members)


def _run_epochs(data: TrainingData, state: TrainingState, config: TrainConfig, validate, max_epochs: int,
                check_stopping: bool, stop: threading.Event | None, guard: "FiniteGuard",
                progress: EpochProgress) -> int:
    """Train ``state``'s members for up to ``max_epochs`` epochs; returns how many ran.

    Every member of ``state`` starts each epoch training; the loop returns
    after the first epoch in which a member stopped, so that
    ``fit_stochastic`` can take it out of the batch. (A member that diverges
    mid-epoch is frozen for the rest of that epoch by the step itself.)
    """
    stop_on_validation = validate is not None and config.early_stopping
    params = state.params
    workspace = Workspace(config, data, params, min(config.batch_size, data.member_rows.shape[1]))
    total_weight = data.total_weight
    epochs_run = 0
    start = EpochStart(state)
    try:
        while epochs_run < max_epochs and not state.stopped.any():
            active = ~state.stopped
            with np.errstate(over="ignore", invalid="ignore"):
                data_loss = run_epoch(data, state, config, workspace, guard, stop)
            state.n_iter += active
            with np.errstate(over="ignore", invalid="ignore"):
                state.loss_curve.append(penalised_loss(data_loss, params, config, total_weight))
            check_finite_epoch(state, guard)
            state.active_history.append(active.copy())
            state.optimizer.end_epoch(state.samples_seen, active)
            active &= ~state.diverged
            if validate is not None or state.validation_loss_curve:
                with np.errstate(all="ignore"):
                    record_validation(state, validate)
            if check_stopping:
                scores = watched_scores(data, state, config, stop_on_validation)
                update_stopping(state, config, scores, active, keep_best=stop_on_validation)
            # The epoch is recorded whole: from here on an interruption keeps it.
            start, epochs_run = EpochStart(state), epochs_run + 1
            if config.verbose:
                report_epoch(state, active, progress)
    except KeyboardInterrupt:
        # Cut short in a step or in its bookkeeping, the epoch is undone: weights, curves, counters.
        start.restore(state)
        state.interrupted = True
        if stop is not None:
            stop.set()
    return epochs_run


class EpochStart:
    """What an epoch changes in a ``TrainingState``, as it was before the epoch; ``restore`` puts it back.

    An interruption can land in a step (leaving it half done) or anywhere in
    the epoch's bookkeeping (the loss appended but not the validation, the
    patience counted but not the best weights...). Going back to the start
    leaves the members exactly as after their last complete epoch, with the
    curves and counters of exactly those epochs. The optimizer's moments and
    the random streams are not rewound: a warm start after an interruption
    continues from where the steps left them.
    """

    CURVES = ("loss_curve", "active_history", "validation_loss_curve", "validation_score_curve")

    def __init__(self, state: TrainingState):
        self.params = state.params.copy()
        self.n_iter, self.stopped, self.diverged = state.n_iter.copy(), state.stopped.copy(), state.diverged.copy()
        self.samples_seen = state.samples_seen
        self.lengths = [len(getattr(state, name)) for name in self.CURVES]
        self.best_params = None if state.best_params is None else state.best_params.copy()
        self.tracker = None
        if state.tracker is not None:
            self.tracker = copy.copy(state.tracker)
            for name in ("best_score", "best_epoch", "count"):
                setattr(self.tracker, name, getattr(state.tracker, name).copy())

    def restore(self, state: TrainingState) -> None:
        state.params[:] = self.params  # in place: the workspace and the caller hold this array
        state.n_iter, state.stopped, state.diverged = self.n_iter, self.stopped, self.diverged
        state.samples_seen = self.samples_seen
        for name, length in zip(self.CURVES, self.lengths, strict=True):
            del getattr(state, name)[length:]
        state.best_params, state.tracker = self.best_params, self.tracker


def train_members(data: TrainingData, state: TrainingState, config: TrainConfig, validate=None,
                  incremental: bool = False, stop: threading.Event | None = None, label: str = "") -> TrainingState:
    """Train the members of ``state`` with the configured solver; returns the state.

    A module-level function so that parallel workers (joblib, dask) can run
    it on a chunk of members.

    A Ctrl-C sets ``stop`` (a new one if none is given) instead of raising
    KeyboardInterrupt, when no caller has already arranged it (``ctrl_c_sets``,
    in the main thread, of this process: a parent's or a joblib worker's):
    training stops at the next step, never halfway through an epoch's
    bookkeeping (curves, validation, stopping record).
    """
    stop = StopSignal() if stop is None else stop
    with ctrl_c_sets(stop):
        if config.solver == "lbfgs":
            state = fit_lbfgs(data, state, config, stop)
        else:
            state = fit_stochastic(data, state, config, validate, max_epochs=1 if incremental else None,
                                   check_stopping=not incremental, stop=stop, label=label)
    state.interrupted |= stop.is_set()  # Ctrl-C after the last step: nothing to undo, but it was pressed
    return state


# --------------------------------------------------------------------------
# Groups of members side by side, one thread each
# --------------------------------------------------------------------------

def side_by_side_groups(n_members: int) -> int:
    """How many groups of members to train at once in threads of this process.

    As many as BLAS may use threads here (``cpu_count // n_jobs`` inside a
    loky worker, 1 under a user's ``threadpool_limits(1)``), and only from
    the main thread: BLAS thread limits are process-wide, so nested groups
    started from worker threads (dask, joblib's threading backend) would
    undo each other's limits.
    """
    if n_members < 2 or threading.current_thread() is not threading.main_thread():
        return 1
    blas_threads = max((library["num_threads"] for library in _blas_controller().info()), default=1)
    return min(n_members, blas_threads)


@contextlib.contextmanager
def one_blas_thread_per_group():
    """BLAS on one thread, as every group of members side by side has, while a lone group trains.

    A product split over several BLAS threads can round differently from the
    same product on one thread. Ensemble members therefore always train on
    one BLAS thread, whether beside other groups, alone in a joblib worker
    that has threads to spare, or in one group: member k then ends bitwise
    the same whatever the ensemble size, ``n_jobs`` or the number of cores.
    Limits are process-wide, so this applies from the main thread only (as
    ``side_by_side_groups``); elsewhere BLAS keeps its threads.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with _blas_controller().limit(limits=1):
        yield


def train_side_by_side(groups: list, config: TrainConfig, incremental: bool = False,
                       stop: threading.Event | None = None) -> TrainingState:
    """Train groups of members at once, one thread per group, each on one BLAS thread.

    An ensemble member's matrix products are small (a batch of a few hundred
    rows times a hidden layer): splitting each of them over two cores gains
    little, while two groups on two cores also split the element-wise work
    and the Python overhead of a step. Members are independent and draw from
    their own streams, so the result is the same as training them together.

    The calling (main) thread trains the first group itself, so a Ctrl-C
    lands in a training loop, which stops at the step and keeps the last
    complete epoch, and tells the other groups to do the same.

    Parameters
    ----------
    groups : list of tuple
        ``(data, state, validate, label)`` per group of fresh members, as
        ``train_members`` takes them.

    stop : threading.Event, optional
        Set, it stops every group at its next step (a new one if not given);
        an interruption in any group sets it.

    Returns
    -------
    TrainingState
        The groups' states concatenated in order.
    """
    stop = StopSignal() if stop is None else stop
    outcomes = [None] * len(groups)
    finished = [threading.Event() for _ in groups]

    def train_group(index):
        try:
            data, state, validate, label = groups[index]
            outcomes[index] = train_members(data, state, config, validate, incremental, stop, label)
        except BaseException as error:
            outcomes[index] = error
            stop.set()
        finally:
            finished[index].set()

    waiting_for = []
    with _blas_controller().limit(limits=1), ctrl_c_sets(stop):
        try:
            for index in range(1, len(groups)):
                # Waited for from before start(): start() may be interrupted after the thread runs.
                waiting_for.append(finished[index])
                _start_thread(train_group, index, finished[index])
            train_group(0)
        except BaseException:
            stop.set()
            raise
        finally:
            _wait_interruptibly(waiting_for, stop)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    merged, cut_short = _even_if_interrupted(concatenate_states, outcomes, groups[0][2] is not None)
    # Also a Ctrl-C after every group's last step: nothing to undo, but it was pressed.
    merged.interrupted |= cut_short or stop.is_set()
    return merged


def _start_thread(target, index: int, finished: threading.Event) -> None:
    """Start ``target(index)`` in a daemon thread; if it cannot start, mark it ``finished`` (nothing else will)."""
    try:
        threading.Thread(target=target, args=(index,), daemon=True).start()
    except RuntimeError:
        finished.set()
        raise


class StopSignal(threading.Event):
    """A request to stop training, seen by every group of members at its next step, in threads or processes.

    An event within a process. While ``shared_with_workers()`` is active it
    is also kept in a one-byte memory-mapped file, which the copies pickled
    into joblib's worker processes on this machine open and read as cheaply
    as an event: a Ctrl-C in the parent then stops the members training
    there at their next step, and the workers send back what they trained;
    an interruption in a worker stops the others too. A copy that cannot
    open the file (a worker on another machine) sees only the interruptions
    of its own process.
    """

    def __init__(self):
        super().__init__()
        self._path = None
        self._shared = None

    def is_set(self) -> bool:
        if super().is_set():
            return True
        shared = self._shared
        try:
            if shared is None or not shared[0]:
                return False
        except ValueError:  # closed meanwhile: the fit it was shared for is over
            return False
        super().set()
        return True

    def set(self) -> None:
        super().set()
        shared = self._shared
        if shared is not None:
            with contextlib.suppress(ValueError):
                shared[0] = 1

    @contextlib.contextmanager
    def shared_with_workers(self):
        """Keep the signal in a file that copies in other processes (``pickle``) read and write."""
        descriptor, path = tempfile.mkstemp(prefix="skreg-stop-")
        try:
            os.write(descriptor, b"\x01" if self.is_set() else b"\x00")
            self._shared, self._path = mmap.mmap(descriptor, 1), path
            yield self
        finally:
            self.is_set()  # a worker's request becomes this event's
            shared, self._shared, self._path = self._shared, None, None
            if shared is not None:
                shared.close()
            os.close(descriptor)
            with contextlib.suppress(OSError):
                os.remove(path)

    def __reduce__(self):
        return _stop_signal_from, (self._path, self.is_set())


def _stop_signal_from(path: str | None, is_set: bool) -> StopSignal:
    """A ``StopSignal`` unpickled in another process: shared through ``path`` if this machine has it."""
    stop = StopSignal()
    if path is not None:
        try:
            with open(path, "r+b") as file:
                stop._shared = mmap.mmap(file.fileno(), 1)
            stop._path = path
        except (OSError, ValueError):
            pass  # another machine: only this process's own interruptions stop it
    if is_set:
        stop.set()
    return stop


@contextlib.contextmanager
def ctrl_c_sets(stop: threading.Event):
    """While members train, Ctrl-C sets ``stop`` instead of raising KeyboardInterrupt.

    Every group, the main thread's included, then stops at its next step as
    if interrupted, whatever the main thread was doing when the signal came
    (starting a thread, training, waiting, an epoch's bookkeeping). Only
    Python's default handler is replaced, and only in the main thread (the
    only one that receives signals, and the only one allowed to set handlers).
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    if not in_main_thread or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_interruptibly(finished: list, stop: threading.Event) -> None:
    """Wait until every event in ``finished`` is set, in short slices; a KeyboardInterrupt meanwhile sets ``stop``.

    Short slices let the main thread run the Ctrl-C handler (``ctrl_c_sets``)
    while it waits, even when the signal landed on another thread. Events,
    not ``Thread.join``: an interrupted ``join`` can mark a running thread as
    finished (CPython issue 90882).
    """
    for event in finished:
        while True:
            try:
                if event.wait(timeout=0.1):
                    break
            except KeyboardInterrupt:
                stop.set()


# --------------------------------------------------------------------------
# Full-batch solver (L-BFGS)
# --------------------------------------------------------------------------

def _split_l1(row: np.ndarray, n_weights: int) -> np.ndarray:
    """``[w, b] -> [max(w, 0), max(-w, 0), b]`` so that ``|w|`` becomes linear."""
    weights = row[:n_weights]
    return np.concatenate([np.maximum(weights, 0), np.maximum(-weights, 0), row[n_weights:]])


def _join_l1(theta: np.ndarray, n_weights: int) -> np.ndarray:
    return np.concatenate([theta[:n_weights] - theta[n_weights : 2 * n_weights], theta[2 * n_weights :]])


def _lbfgs_member(data: TrainingData, config: TrainConfig, row: np.ndarray, weight: np.ndarray,
                  total_weight: float, stop: threading.Event | None = None) -> tuple:
    """Minimise one member's J with L-BFGS-B; returns ``(row, n_iter, loss_curve, result)``.

    ``result`` is SciPy's ``OptimizeResult`` (its ``status`` says how the optimisation ended).

    With an L1 part, every weight is split as ``w = w+ - w-`` with
    ``w+, w- >= 0`` (bounds L-BFGS-B handles exactly), turning ``|w|`` into
    the linear ``w+ + w-``: weights whose both parts sit at their bound are
    exactly zero.
    """
    network, penalty = config.network, config.penalty
    n_weights = network.layout.n_weights
    dtype = row.dtype
    split = penalty.has_l1
    smooth = PenaltySpec(penalty.alpha, 0.0, penalty.l2_share)
    l1_scale = penalty.alpha * penalty.l1_share / total_weight
    total = np.array([total_weight])

    def fun(theta):
        params = (_join_l1(theta, n_weights) if split else theta).astype(dtype)[None]
        with np.errstate(all="ignore"):  # a non-finite objective is L-BFGS-B's to handle, and checked after
            value, grads = objective_and_gradient(network, smooth, params, data.X, data.Y, weight, total)
        grad = grads[0].astype(np.float64)
        if not split:
            return float(value[0]), grad
        positive_and_negative = theta[: 2 * n_weights]
        value = float(value[0]) + l1_scale * positive_and_negative.sum()
        grad_w = grad[:n_weights]
        return value, np.concatenate([grad_w + l1_scale, -grad_w + l1_scale, grad[n_weights:]])

    theta0 = row.astype(np.float64)
    bounds = None
    if split:
        theta0 = _split_l1(theta0, n_weights)
        bounds = [(0, None)] * (2 * n_weights) + [(None, None)] * (theta0.size - 2 * n_weights)
    curve = []

    def after_iteration(intermediate_result):
        curve.append(float(intermediate_result.fun))
        if stop is not None and stop.is_set():
            raise StopIteration  # interrupted: SciPy ends here and returns this iterate

    result = scipy.optimize.minimize(
        fun, theta0, jac=True, method="L-BFGS-B", bounds=bounds, callback=after_iteration,
        options={"maxfun": config.max_fun, "maxiter": config.max_iter, "gtol": config.tol},
    )
    theta = _join_l1(result.x, n_weights) if split else result.x
    return theta.astype(dtype), result.nit, curve, result


@contextlib.contextmanager
def single_threaded_scipy_blas():
    """Run SciPy's own BLAS on one thread (numpy's BLAS keeps its threads).

    L-BFGS-B's internal work is on vectors of a few thousand entries, where
    a multi-threaded OpenBLAS spends its time waking threads: with 2 threads
    here each iteration took ~13 ms instead of ~0.25 ms.
    """
    scipy_blas = _scipy_blas_controller()
    if scipy_blas is None:
        yield
        return
    with scipy_blas.limit(limits=1):
        yield


@functools.cache
def _threadpool_controller() -> ThreadpoolController:
    """threadpoolctl's handle on the loaded thread pools (looked up once: it scans the disk)."""
    return ThreadpoolController()


def _blas_controller():
    """Every BLAS library loaded (numpy's and SciPy's)."""
    return _threadpool_controller().select(user_api="blas")


# Flops of one matrix product below which it runs on one BLAS thread when predicting. Measured on 2 cores
# shared with other processes: 2 OpenBLAS threads took 3-60x longer than one for every product of a
# prediction block (up to 4096 x 64 x 64 and 1024 x 256 x 256: 1e7-1.3e8 flops), as a descheduled thread
# stalls each call for a time slice; only products of ~5e8 flops and more gained from a second thread.
SINGLE_THREAD_FLOPS = 2**30


def blas_threads_for(flops_per_product: float):
    """A context running BLAS on one thread for products below ``SINGLE_THREAD_FLOPS``, from the main thread.

    Other threads leave the limits alone (predictions may run in several
    user threads at once): limits are process-wide, so one thread's restore
    would undo another's limit, and OpenBLAS (0.3.31) ignores a limit set
    from another thread once the main thread has set one. BLAS may round a
    product split over threads differently in the last bits, so a prediction
    made from another thread can differ there from the main thread's.
    """
    if flops_per_product >= SINGLE_THREAD_FLOPS or threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()
    return _blas_controller().limit(limits=1)


# The final objective and the validation losses evaluate groups of members whose row weights and outputs on
# all rows take at most a quarter of X's size (and this much, on small data): a fraction of X, whatever m.
OBJECTIVE_GROUP_MIN_BYTES = 2**22


def objective_groups(n_members: int, n_rows: int, n_outputs: int, dtype, budget: int) -> list:
    """Slices of members whose final objective is evaluated together, each within about ``budget`` bytes.

    A group's row weights, outputs and per-row losses take about
    ``n_rows * (8 + itemsize * (3 * n_outputs + 3))`` bytes per member.
    Each member's loss is bitwise the same in any group (see
    ``skreg._losses._weighted_sum``).
    """
    per_member = n_rows * (8 + np.dtype(dtype).itemsize * (3 * n_outputs + 3))
    size = int(min(n_members, max(1, budget // max(per_member, 1))))
    return [slice(start, min(start + size, n_members)) for start in range(0, n_members, size)]


def predict_members_sized(X, coefs: list, intercepts: list, activation: str, output_activation: str) -> np.ndarray:
    """``predict_members`` on one BLAS thread when its products are small (``blas_threads_for``).

    Its blocks' products are small: on two threads, each one stalled whenever
    another process held a core (a 20-member predict on 200k rows took 15 s
    instead of 0.5 s on one thread).
    """
    with blas_threads_for(prediction_product_flops(X, coefs)):
        return predict_members(X, coefs, intercepts, activation, output_activation)


def input_nbytes(X) -> int:
    """Bytes of a dense or sparse training input."""
    if sp.issparse(X):
        return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    return X.nbytes


def _scipy_blas_controller():
    """The BLAS libraries shipped inside SciPy, or None."""
    controller = _threadpool_controller()
    scipy_libraries = [lib.filepath for lib in controller.lib_controllers if "scipy" in Path(lib.filepath).parts[-2]]
    return controller.select(filepath=scipy_libraries) if scipy_libraries else None


def fit_lbfgs(data: TrainingData, state: TrainingState, config: TrainConfig,
              stop: threading.Event | None = None) -> TrainingState:
    """Minimise each member's full-batch objective with L-BFGS-B, one member at a time.

    A member's bootstrap repeats become integer sample weights, which give
    the same objective as repeated rows.
    """
    with single_threaded_scipy_blas():
        return _fit_lbfgs_members(data, state, config, stop)


def _fit_lbfgs_members(data: TrainingData, state: TrainingState, config: TrainConfig,
                       stop: threading.Event | None) -> TrainingState:
    curves = [[] for _ in range(state.n_members)]
    state.reached_max_iter = False
    state.interrupted = False
    state.solver_failures = {}
    try:
        for k in range(state.n_members):
            weight = data.row_weights([k])[0]  # one member's at a time: (m, n) weights can outgrow X
            if stop is not None and stop.is_set():
                # Interrupted before this member's turn: it and those after it keep their weights.
                state.interrupted = True
                state.solver_failures.update({j: "not reached: interrupted before its turn, it keeps its "
                                                 "weights" for j in range(k, state.n_members)})
                break
            row, n_iter, curve, result = _lbfgs_member(data, config, state.params[k], weight, weight.sum(), stop)
            if not np.all(np.isfinite(row)):
                state.diverged[k] = True
                continue
            # Member k's result in assignments with no call between (an interruption keeps all or none of it);
            # a warm start counts on, as loss_curve does.
            curves[k], state.params[k] = curve, row
            state.n_iter[k] += n_iter
            state.reached_max_iter |= result.status == 1
            if stop is not None and stop.is_set():
                state.interrupted = True
            elif result.status not in (0, 1):
                state.solver_failures[k] = (f"status={result.status}: {str(result.message).rstrip(': ')}; scale "
                                            "the inputs (e.g. StandardScaler) or try solver='adam'")
    except KeyboardInterrupt:
        state.interrupted = True
        if stop is not None:
            stop.set()
    _, cut_short = _even_if_interrupted(_record_lbfgs_curves, state, curves, len(state.loss_curve))
    if cut_short:
        state.interrupted = True
        if stop is not None:
            stop.set()
    return state


def _record_lbfgs_curves(state: TrainingState, curves: list, recorded: int) -> None:
    """Append each member's L-BFGS iterations to the ``recorded`` epochs of the curves, padded to the longest."""
    loss_curve, active_history = [], []
    for iteration in range(max(len(curve) for curve in curves)):
        loss_curve.append(np.array([curve[min(iteration, len(curve) - 1)] if curve else np.nan for curve in curves]))
        active_history.append(np.array([iteration < len(curve) for curve in curves]))
    state.loss_curve, state.active_history = (state.loss_curve[:recorded] + loss_curve,
                                              state.active_history[:recorded] + active_history)
    if state.validation_loss_curve:
        pad_validation_curves(state, len(state.loss_curve))
