"""When members stop: patience on a watched score, divergence, and undoing an interrupted epoch."""

import copy

import numpy as np

from skreg._train.evaluation import noise_free_objective
from skreg._train.state import TrainConfig, TrainingData, TrainingState


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


def watched_scores(data: TrainingData, state: TrainingState, config: TrainConfig, on_validation: bool) -> np.ndarray:
    """What the stopping rule watches this epoch, per member, higher is better.

    The validation score, or minus the training objective. Without noise in
    the step that is the epoch's running minibatch loss (scikit-learn's
    rule, at no extra cost). With dropout the running loss is measured on
    thinned networks and jumps with the masks: one lucky epoch would never
    be beaten and the fit would stop on noise, so the objective is then
    measured noise-free at the epoch's end (one forward pass over the
    training rows). Each member by its own rule: in a batch whose members
    have different dropout rates, those without dropout still watch their
    running loss, as each would alone.
    """
    if on_validation:
        return state.validation_score_curve[-1]
    scores = -state.loss_curve[-1]
    noisy = np.flatnonzero(data.regularization.dropout.any(axis=1))
    if noisy.size:
        scores = scores.copy()
        scores[noisy] = -noise_free_objective(data.subset(noisy), state.params[noisy], config)
    return scores


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


def check_finite_epoch(state: TrainingState, guard: FiniteGuard) -> None:
    """Freeze members whose epoch objective or parameters are not finite.

    The batch losses only certify the parameters *before* each step; the
    last step of an epoch, or a penalty gone wild, shows up here.
    """
    finite = np.isfinite(state.loss_curve[-1]) & np.isfinite(state.params).all(axis=1)
    freeze_diverged(state, ~finite & ~state.diverged, guard.certified)


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
