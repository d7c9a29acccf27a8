"""The epoch loop of the stochastic solvers (sgd, adam): batches, steps, epochs, members leaving the batch."""

import copy
import functools
import threading
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from skreg._members import concat_in_order, take
from skreg._objective import Objective, StepScratch
from skreg._random import first_holders
from skreg._train import events
from skreg._train.interrupts import even_if_interrupted
from skreg._train.progress import GroupReport
from skreg._train.state import TrainConfig, TrainingData, TrainingState, make_optimizer
from skreg._train.stopping import EpochStart, FiniteGuard, check_finite_epoch, update_stopping, watched_scores


class Workspace:
    """What every step of a fit reuses: the objective, its step scratch, and the batch buffers, allocated once.

    Batches are gathered into, and run through, preallocated arrays: one set
    for full-size batches, one for an epoch's last, smaller batch (so at
    most twice one batch's arrays, held for the fit).
    """

    def __init__(self, objective: Objective, data: TrainingData, state: TrainingState, batch_size: int):
        self.objective = objective
        self.batch_size = batch_size
        last_batch_size = data.member_rows.shape[1] % batch_size
        self.scratch = StepScratch(objective, state.params, batch_size, data.X.shape[1], state.streams.noise,
                                   last_batch_size)
        self.shared_input = shares_batches(state, objective)
        self._batches = {rows: self._batch_arrays(data, state.n_members, rows)
                         for rows in {batch_size, last_batch_size} - {0}}

    def _batch_arrays(self, data: TrainingData, m: int, rows: int) -> tuple:
        """``(X, Y, weight)`` arrays a batch of ``rows`` is gathered into (X None for sparse input)."""
        # Every member reads its own (batch, ...) slice, one member included: a
        # single net is computed exactly as member k of an ensemble is. Members
        # that share their batches read one (batch, n_features) array.
        lead = (m, rows)
        input_lead = (rows,) if self.shared_input else lead
        X = None if sp.issparse(data.X) else np.empty(input_lead + data.X.shape[1:], dtype=data.X.dtype)
        return X, np.empty(lead + data.Y.shape[1:], dtype=data.Y.dtype), np.empty(lead, dtype=data.sample_weight.dtype)

    def batch_arrays(self, rows: int) -> tuple:
        """The ``(X, Y, weight)`` arrays of a batch of ``rows``, or Nones (allocate) for a size not kept."""
        return self._batches.get(rows, (None, None, None))


def epoch_order(data: TrainingData, state: TrainingState, shuffle: bool) -> np.ndarray:
    """Each member's rows for this epoch, shuffled by its own generator.

    Every member of ``state`` starts the epoch training (stopped members
    have left the batch), so each generator draws once per epoch it trains.
    Members that hold one generator (a unit, ``skreg._random.first_holders``)
    have the same rows: it shuffles them once, for all of them.
    """
    if not shuffle:
        return data.member_rows
    # Filled row by row (``permutation`` is a copy then ``shuffle``): one (m, n_draws) array, not a list and a stack.
    order = np.empty(data.member_rows.shape, dtype=data.member_rows.dtype)
    holders = first_holders(state.streams.shuffle)
    for k, (rows, rng) in enumerate(zip(data.member_rows, state.streams.shuffle, strict=True)):
        if holders[k] == k:
            order[k] = rows
            rng.shuffle(order[k])
        else:
            order[k] = order[holders[k]]
    return order


def shares_batches(state: TrainingState, objective: Objective) -> bool:
    """Whether the members (more than one) share their batches, so that they can read one input array.

    They do when they hold one shuffle generator, which shuffles their rows
    once for them all (``epoch_order``; such members have the same rows,
    ``MemberStreams``), and no noise is added to each member's input.
    """
    shuffle = state.streams.shuffle
    return len(shuffle) > 1 and all(rng is shuffle[0] for rng in shuffle) and not objective.noise_in["input_noise"]


def gather_batch(data: TrainingData, rows: np.ndarray, workspace: Workspace) -> tuple:
    """``(X, Y, weight)`` of a batch, each with a leading member axis (a list of sparse matrices for sparse X).

    Members that share their batches (``Workspace.shared_input``) read one
    input: a 2-D array or one sparse matrix.
    """
    X_out, Y_out, weight_out = workspace.batch_arrays(rows.shape[-1])
    # The rows are valid indices: mode="clip" only spares numpy the bounds
    # check, which with ``out=`` means buffering the whole batch (10x slower).
    if workspace.shared_input:
        X = data.X[rows[0]] if sp.issparse(data.X) else data.X.take(rows[0], axis=0, out=X_out, mode="clip")
    elif sp.issparse(data.X):
        X = [data.X[member_rows] for member_rows in rows]
    else:
        X = data.X.take(rows, axis=0, out=X_out, mode="clip")
    Y = data.Y.take(rows, axis=0, out=Y_out, mode="clip")
    weight = data.sample_weight.take(rows, out=weight_out, mode="clip")
    return X, Y, weight


def train_step(X, Y, weight, state: TrainingState, workspace: Workspace) -> np.ndarray:
    """One minibatch update of every member; returns the batch's mean loss per member."""
    objective, grads = workspace.objective, workspace.scratch.grads
    loss = objective.batch_loss_and_gradient(state.params, X, Y, weight, ~state.progress.stopped, workspace.scratch)
    if events.active:
        events.emit("gradient", state=state, grads=grads)
    if state.progress.stopped.any():
        # A frozen member's optimizer state stands still; its gradient, which
        # may not even be finite (inf * 0 is NaN), must not reach it.
        grads[state.progress.stopped] = 0
    state.optimizer.step(state.params, grads)
    objective.prox(state.params, state.optimizer)
    return loss


def run_epoch(data: TrainingData, state: TrainingState, config: TrainConfig, workspace: Workspace,
              guard: FiniteGuard, stop: threading.Event | None = None) -> np.ndarray:
    """One pass over every member's rows; returns the weighted mean batch loss per member.

    Raises KeyboardInterrupt at the next step once ``stop`` is set (another
    group of members, trained beside this one, was interrupted).
    """
    if events.active:
        events.emit("epoch_start", state=state, stop=stop)
    order = epoch_order(data, state, config.shuffle)
    loss_sum = np.zeros(state.n_members)
    weight_sum = np.zeros(state.n_members)
    for start in range(0, order.shape[1], workspace.batch_size):
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        X, Y, weight = gather_batch(data, order[:, start : start + workspace.batch_size], workspace)
        guard.before_step(state.params)
        training = ~state.progress.stopped
        if events.active:
            events.emit("step", state=state, X=X, Y=Y, weight=weight, stop=stop)
        batch_loss = train_step(X, Y, weight, state, workspace)
        guard.after_step(state, batch_loss)
        # Only the batches a member trained on count towards its epoch loss.
        batch_weight = np.add.reduce(weight, axis=-1) * training
        loss_sum += np.where(np.isfinite(batch_loss), batch_loss, 0.0) * batch_weight
        weight_sum += batch_weight
    state.progress.samples_seen += order.shape[1]
    return loss_sum / weight_sum


@dataclass
class EpochLines:
    """Where a group reports its epochs, and how many its curves held before this call (lines count this call's)."""

    report: GroupReport | None
    epochs_before: int = 0


def fit_stochastic(data: TrainingData, state: TrainingState, config: TrainConfig, validate=None,
                   max_epochs: int | None = None, check_stopping: bool = True,
                   stop: threading.Event | None = None, report: GroupReport | None = None) -> TrainingState:
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
    report : GroupReport, optional
        Where this group's epochs are reported (``verbose``).
    """
    max_epochs = config.max_iter if max_epochs is None else max_epochs
    _start_call(state, config)
    lines = EpochLines(report, epochs_before=len(state.history.loss))
    parts, part_members, live, members = _train_in_batch(data, state, config, validate, max_epochs, check_stopping,
                                                         stop, lines)
    state, cut_short = even_if_interrupted(_rejoin, parts, part_members, live, members, validate, state, config)
    if report is not None:
        # The training is done: a Ctrl-C while the report ends its line only marks the fit interrupted.
        cut_short |= even_if_interrupted(report.finish)[1]
    if cut_short:
        state.outcome.interrupted, state.outcome.reached_max_iter = True, False
        if stop is not None:
            stop.set()
    return state


def _train_in_batch(data: TrainingData, state: TrainingState, config: TrainConfig, validate, max_epochs: int,
                    check_stopping: bool, stop: threading.Event | None, lines: EpochLines) -> tuple:
    """The epochs of ``fit_stochastic``: returns ``(parts, part_members, live, members)`` for ``_rejoin``.

    Members that stopped leave the batched computation at the end of their
    epoch (``parts``, each with its ``part_members``, indices in ``state``);
    they wait apart and join the others (``live``, ``members``) at the end.
    """
    parts, part_members = [], []
    live, members, guard = state, np.arange(state.n_members), FiniteGuard(state.params)
    epochs_left = max_epochs
    try:
        while True:
            stopped = live.progress.stopped
            if stopped.any() and not stopped.all():  # some, not all, members stopped: they leave
                leaving, staying = np.flatnonzero(stopped), np.flatnonzero(~stopped)
                # One assignment: an interruption finds the members all in the batch, or apart.
                parts, part_members, members, live, guard = (
                    parts + [take(live, leaving)], part_members + [members[leaving]], members[staying],
                    take(live, staying), take(guard, staying))
            if epochs_left == 0 or live.progress.stopped.all() or live.outcome.interrupted:
                break
            epochs_left -= _run_epochs(take(data, members, view=True), live, config,
                                       _validator_for(validate, members, state), epochs_left, check_stopping,
                                       stop, guard, lines)
    except KeyboardInterrupt:
        # Between two epochs (each is recorded whole or not at all): the members stop as they are.
        live.outcome.interrupted = True
        if stop is not None:
            stop.set()
    return parts, part_members, live, members


def _start_call(state: TrainingState, config: TrainConfig) -> None:
    """Every member starts the call training but the diverged; the optimizer is made if there is none."""
    if state.optimizer is None:
        state.optimizer = make_optimizer(config, state.params.shape, state.params.dtype)
    state.progress.stopped = state.progress.diverged.copy()
    state.optimizer.member_scale[:] = 1
    state.optimizer.freeze(state.progress.stopped)
    state.outcome.interrupted = False


def _rejoin(parts: list, part_members: list, live: TrainingState, members: np.ndarray, validate,
            group_state: TrainingState, config: TrainConfig) -> TrainingState:
    """The group's state from its members apart (``parts``) and those still in the batch (``live``).

    Changes none of the states it is given (so it can run again), except
    that ``live``, when no member left the batch, is the result itself.
    """
    waited = [_wait_frozen(part, len(live.history), _validator_for(validate, part_indices, group_state))
              for part, part_indices in zip(parts, part_members, strict=True)]
    state = concat_in_order(waited + [live], part_members + [members])
    state.outcome.reached_max_iter = not state.progress.stopped.all() and not state.outcome.interrupted
    record = state.stopping
    if validate is not None and config.early_stopping and record is not None and record.best_params is not None:
        record.restore_best(state.params, state.progress.diverged)
    return state


def _wait_frozen(part: TrainingState, n_epochs: int, validate) -> TrainingState:
    """``part`` with the epochs up to ``n_epochs`` that its members waited, frozen, apart from the batch.

    As if they had waited in it (``History.waited``), their frozen weights
    validated on this fit's validation rows. A member may have stopped
    before this fit's first epoch, so its last entry can come from an
    earlier fit. Returns a copy with a new history; ``part`` is unchanged.
    """
    if n_epochs <= len(part.history):
        return part
    validation = None
    if validate is not None:
        with np.errstate(all="ignore"):
            validation = validate(part.params)
    frozen = copy.copy(part)
    frozen.history = part.history.waited(n_epochs, validation)
    return frozen


def _validator_for(validate, members: np.ndarray, group_state: TrainingState):
    """``validate`` restricted to ``members`` of the group (all of them: ``validate`` itself)."""
    if validate is None or len(members) == group_state.n_members:
        return validate
    return functools.partial(validate, members=members)


def _run_epochs(data: TrainingData, state: TrainingState, config: TrainConfig, validate, max_epochs: int,
                check_stopping: bool, stop: threading.Event | None, guard: "FiniteGuard",
                lines: EpochLines) -> int:
    """Train ``state``'s members for up to ``max_epochs`` epochs; returns how many ran.

    Every member of ``state`` starts each epoch training; the loop returns
    after the first epoch in which a member stopped, so that
    ``fit_stochastic`` can take it out of the batch. (A member that diverges
    mid-epoch is frozen for the rest of that epoch by the step itself.)
    """
    stop_on_validation = validate is not None and config.early_stopping
    params = state.params
    batch_size = min(config.batch_size, data.member_rows.shape[1])
    workspace = Workspace(data.objective(config.network), data, state, batch_size)
    epochs_run = 0
    start = EpochStart(state)
    try:
        while epochs_run < max_epochs and not state.progress.stopped.any():
            active = ~state.progress.stopped
            with np.errstate(over="ignore", invalid="ignore"):
                data_loss = run_epoch(data, state, config, workspace, guard, stop)
                state.progress.n_iter += active
                state.history.record_epoch(workspace.objective.value(data_loss, params), active)
            check_finite_epoch(state, guard)
            state.optimizer.end_epoch(state.progress.samples_seen, active)
            active &= ~state.progress.diverged
            if validate is not None or state.history.validated:
                with np.errstate(all="ignore"):
                    if events.active:
                        events.emit("validation", state=state)
                    state.history.record_validation(None if validate is None else validate(params))
            if check_stopping:
                scores = watched_scores(data, state, config, stop_on_validation, max_epochs - epochs_run)
                update_stopping(state, config, scores, active, keep_best=stop_on_validation)
            # The epoch is recorded whole: from here on an interruption keeps it.
            start, epochs_run = EpochStart(state), epochs_run + 1
            if lines.report is not None:
                lines.report.epoch(state, active, len(state.history.loss) - lines.epochs_before)
    except KeyboardInterrupt:
        # Cut short in a step or in its bookkeeping, the epoch is undone: weights, curves, counters.
        start.restore(state)
        state.outcome.interrupted = True
        if stop is not None:
            stop.set()
    return epochs_run
