"""When members stop: patience on a watched score, divergence, and undoing an interrupted epoch."""

import numpy as np

from skreg._members import take
from skreg._train.evaluation import noise_free_objective
from skreg._train.state import TrainConfig, TrainingData, TrainingState


class ImprovementTracker:
    """The stopping record: per-member patience on a score where higher is better, and the best epoch's weights.

    A member's counter grows each epoch its score fails to beat the best by
    ``tol`` and resets otherwise (scikit-learn's rule); ``update`` returns the
    members whose counter exceeded ``n_iter_no_change``. A NaN score (a
    metric undefined on the validation rows) never improves: it is never
    the best, and it counts against patience. ``best_params`` (kept only by
    early stopping on a validation set, else None) are each member's
    weights at its best epoch, put back by ``restore_best``.
    """

    PER_MEMBER = ("best_score", "best_epoch", "count", "best_params")

    def __init__(self, n_members: int, n_iter_no_change: int, tol: float):
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.best_score = np.full(n_members, -np.inf)
        self.best_epoch = np.zeros(n_members, dtype=int)
        self.count = np.zeros(n_members, dtype=int)
        self.best_params = None

    def fresh(self, n_members: int) -> "ImprovementTracker":
        """A record with the same rule for ``n_members`` members that have watched no epoch."""
        return ImprovementTracker(n_members, self.n_iter_no_change, self.tol)

    def copy(self) -> "ImprovementTracker":
        """A copy whose arrays are its own."""
        return take(self, slice(None))

    def update(self, scores: np.ndarray, epochs: np.ndarray, active: np.ndarray) -> tuple:
        """Record one epoch's ``scores``; return ``(improved, out_of_patience)`` masks."""
        short_of_tol = ~(scores >= self.best_score + self.tol)  # NaN is short of it
        self.count = np.where(active, np.where(short_of_tol, self.count + 1, 0), self.count)
        improved = active & (scores > self.best_score)
        self.best_score = np.where(improved, scores, self.best_score)
        self.best_epoch = np.where(improved, epochs, self.best_epoch)
        return improved, active & (self.count > self.n_iter_no_change)

    def can_run_out(self, epochs: int) -> bool:
        """Whether some member's patience can run out within ``epochs`` more epochs (a counter grows one an epoch).

        Only then can the rule act: stop a member, or lower its learning
        rate (``'adaptive'``).
        """
        return int(self.count.max(initial=0)) + epochs > self.n_iter_no_change

    def keep_best(self, params: np.ndarray, improved: np.ndarray, active: np.ndarray) -> None:
        """Keep the weights of members that ``improved`` as their best.

        A member without a finite score yet has no best epoch: it keeps its
        latest weights, not its first.
        """
        if self.best_params is None:
            self.best_params = params.copy()
        keep = improved | (active & np.isneginf(self.best_score))
        self.best_params[keep] = params[keep]

    def restore_best(self, params: np.ndarray, diverged: np.ndarray) -> None:
        """Put each member's best weights back into ``params`` (in place).

        A diverged member needs its best epoch back most of all: its last
        finite weights can be huge. Only one that never had a finite score
        keeps them (it has no best epoch).
        """
        restore = ~diverged | np.isfinite(self.best_score)
        params[restore] = self.best_params[restore]

    def forgive(self, members: np.ndarray) -> None:
        """Reset the counter of ``members`` (after their learning rate was reduced)."""
        self.count[members] = 0


def watched_scores(data: TrainingData, state: TrainingState, config: TrainConfig, on_validation: bool,
                   epochs_left: int) -> np.ndarray:
    """What the stopping rule watches this epoch, per member, higher is better.

    The validation score, or minus the training objective. Without noise in
    the step that is the epoch's running minibatch loss (scikit-learn's
    rule, at no extra cost). With dropout the running loss is measured on
    thinned networks and jumps with the masks: one lucky epoch would never
    be beaten and the fit would stop on noise, so the objective is then
    measured noise-free at the epoch's end (one forward pass over the
    training rows). Each member by its own rule: in a batch whose members
    have different settings, those whose step draws no noise still watch
    their running loss, as each would alone.

    That pass is skipped when nothing can read it: the best loss is not
    reported (``config.keeps_best_loss``) and no member's patience can run
    out in the ``epochs_left`` epochs (this one included). The noisy members
    then record their running loss, which nothing reads.
    """
    if on_validation:
        return state.history.validation_score[-1]
    scores = -state.history.loss[-1]
    noisy = np.flatnonzero(data.regularization.noisy_members)
    record = state.stopping or ImprovementTracker(state.n_members, config.n_iter_no_change, config.tol)
    if noisy.size and (config.keeps_best_loss or record.can_run_out(epochs_left)):
        scores[noisy] = -noise_free_objective(data.take_members(noisy), state.params[noisy], config)
    return scores


def update_stopping(state: TrainingState, config: TrainConfig, scores: np.ndarray, active: np.ndarray,
                    keep_best: bool) -> None:
    """Patience bookkeeping for one epoch: best snapshot, schedule, stopping."""
    if state.stopping is None:
        state.stopping = ImprovementTracker(state.n_members, config.n_iter_no_change, config.tol)
    improved, out_of_patience = state.stopping.update(scores, state.progress.n_iter, active)
    if keep_best:
        state.stopping.keep_best(state.params, improved, active)
    must_stop = state.optimizer.reduce_learning_rate(out_of_patience)
    state.stopping.forgive(out_of_patience & ~must_stop)
    state.progress.stopped |= must_stop
    state.optimizer.freeze(must_stop)


class FiniteGuard:
    """Keeps, per member, the latest parameters known to give a finite loss.

    A batch loss is evaluated at the parameters *before* its step, so a
    finite loss at step ``j`` certifies the parameters of step ``j - 1``;
    when a member's loss turns non-finite, its certified parameters are
    restored and it is frozen. One copy per step; the arrays are swapped,
    not copied, when every member is finite. ``take(guard, members)``
    keeps what it has certified for ``members``.
    """

    PER_MEMBER = ("certified", "_before_step")

    def __init__(self, params: np.ndarray):
        self.certified = params.copy()
        self._before_step = params.copy()

    def before_step(self, params: np.ndarray) -> None:
        np.copyto(self._before_step, params)

    def after_step(self, state: "TrainingState", batch_loss: np.ndarray) -> None:
        progress = state.progress
        # A stopped member did not move: whatever its batch loss, it has not diverged.
        finite = np.isfinite(batch_loss) | progress.stopped
        if finite.all():
            self.certified, self._before_step = self._before_step, self.certified
        else:
            self.certified[finite] = self._before_step[finite]
            freeze_diverged(state, ~finite & ~progress.diverged, self.certified)
        if progress.diverged.any():
            # A frozen member's step is scaled by 0, but 0 * inf is NaN: pin it back.
            state.params[progress.diverged] = self.certified[progress.diverged]


def freeze_diverged(state: TrainingState, members: np.ndarray, good_params: np.ndarray) -> None:
    """Restore finite parameters of ``members`` and stop them for good."""
    if not members.any():
        return
    state.params[members] = good_params[members]
    state.optimizer.reset_members(members)
    state.optimizer.freeze(members)
    state.progress.diverged |= members
    state.progress.stopped |= members


def check_finite_epoch(state: TrainingState, guard: FiniteGuard) -> None:
    """Freeze members whose epoch objective or parameters are not finite.

    The batch losses only certify the parameters *before* each step; the
    last step of an epoch, or a penalty gone wild, shows up here.
    """
    finite = np.isfinite(state.history.loss[-1]) & np.isfinite(state.params).all(axis=1)
    freeze_diverged(state, ~finite & ~state.progress.diverged, guard.certified)


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

    def __init__(self, state: TrainingState):
        self.params = state.params.copy()
        self.progress = take(state.progress, slice(None))
        self.history = state.history.mark()
        self.stopping = None if state.stopping is None else state.stopping.copy()

    def restore(self, state: TrainingState) -> None:
        state.params[:] = self.params  # in place: the workspace and the caller hold this array
        state.progress, state.stopping = self.progress, self.stopping
        state.history.truncate(self.history)
