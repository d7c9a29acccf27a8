"""What ``verbose`` shows while members train: one report for the whole fit, whatever its groups.

Groups of members train side by side in threads and report their epochs as
they finish them; the report waits until every group still training has
finished epoch ``e`` before it shows epoch ``e``, so a fit reads as one,
in order. On a terminal one line is rewritten in place (epoch, members
still training, best score so far, elapsed and remaining time); in a log,
each epoch gets a line of its own that starts as scikit-learn's does
(``Iteration N, loss = ...``), which scripts parse.
"""

import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Epoch:
    """One epoch as the groups reported it so far."""

    losses: list = field(default_factory=list)
    validation_losses: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    training: int = 0
    groups: set = field(default_factory=set)


class ProgressReport:
    """The progress of one fit of ``n_members`` members for up to ``max_epochs`` epochs.

    Parameters
    ----------
    n_members : int
    max_epochs : int
    stream : file-like, optional
        Where lines go (default ``sys.stdout`` at the time of each line).
    in_place : bool, optional
        Rewrite one line (default: whether ``stream`` is a terminal).
    clock : callable, optional
        Seconds, for the elapsed and remaining times (``time.perf_counter``).
    label : str, optional
        Prefix naming the members of this report, for a chunk of them
        trained in another process (``"members 0-4"``).
    """

    def __init__(self, n_members: int, max_epochs: int, stream=None, in_place: bool | None = None,
                 clock=time.perf_counter, label: str = ""):
        self.n_members = n_members
        self.max_epochs = max_epochs
        self._stream = stream
        self._in_place = in_place
        self._clock = clock
        self._label = f"[{label}] " if label else ""
        self._started = clock()
        self._lock = threading.Lock()
        self._epochs = {}
        self._groups = set()
        self._finished = set()
        self._shown = 0
        self._best = -np.inf
        self._width = 0

    @property
    def stream(self):
        return sys.stdout if self._stream is None else self._stream

    @property
    def in_place(self) -> bool:
        if self._in_place is not None:
            return self._in_place
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def join(self, group) -> None:
        """Register ``group`` (any hashable name) before it reports its first epoch."""
        with self._lock:
            self._groups.add(group)

    def epoch(self, group, epoch: int, losses: np.ndarray, trained: np.ndarray, validation_losses=None,
              validation_scores=None, training_after: int = 0) -> None:
        """``group`` finished epoch ``epoch`` (1-based, counted in this call); per-member values of that epoch.

        ``trained`` selects the members that trained in it (their values are
        averaged); ``training_after`` is how many of the group's members are
        still training after it.
        """
        with self._lock:
            entry = self._epochs.setdefault(epoch, _Epoch())
            entry.losses.extend(np.asarray(losses)[trained].tolist())
            if validation_losses is not None:
                entry.validation_losses.extend(np.asarray(validation_losses)[trained].tolist())
                entry.validation_scores.extend(np.asarray(validation_scores)[trained].tolist())
            entry.training += training_after
            entry.groups.add(group)
            self._show_complete_epochs()

    def finish(self, group) -> None:
        """``group`` trains no more; once every group has finished, the report ends its line."""
        with self._lock:
            self._finished.add(group)
            self._show_complete_epochs()
            if self._finished >= self._groups and self.in_place and self._width:
                self.stream.write("\n")
                self.stream.flush()
                self._width = 0

    def _show_complete_epochs(self) -> None:
        """Show every next epoch that all groups still training have reported."""
        while self._shown + 1 in self._epochs:
            entry = self._epochs[self._shown + 1]
            if not entry.groups >= self._groups - self._finished:
                return
            self._shown += 1
            del self._epochs[self._shown]
            self._show(self._shown, entry)

    def _show(self, epoch: int, entry: _Epoch) -> None:
        loss = _mean(entry.losses)
        scored = bool(entry.validation_scores)
        watched = _mean(entry.validation_scores) if scored else -loss
        if np.isfinite(watched):
            self._best = max(self._best, watched)
        elapsed = self._clock() - self._started
        if self.in_place:
            self._rewrite(self._status_line(epoch, entry, scored, elapsed))
        else:
            self.stream.write(self._label + self._log_line(epoch, entry, loss, elapsed) + "\n")
        self.stream.flush()

    def _log_line(self, epoch: int, entry: _Epoch, loss: float, elapsed: float) -> str:
        line = f"Iteration {epoch}, loss = {loss:.8f}"
        if entry.validation_losses:
            line += f", validation loss = {_mean(entry.validation_losses):.8f}"
            line += f", validation score = {_mean(entry.validation_scores):.6f}"
        if self.n_members > 1:
            line += f", members training = {entry.training}/{self.n_members}"
        return line + f", elapsed = {elapsed:.2f} s"

    def _status_line(self, epoch: int, entry: _Epoch, scored: bool, elapsed: float) -> str:
        best = f"best validation score {self._best:.6f}" if scored else f"best loss {-self._best:.6f}"
        remaining = elapsed / epoch * (self.max_epochs - epoch)
        members = f", {entry.training}/{self.n_members} members training" if self.n_members > 1 else ""
        return (f"{self._label}epoch {epoch}/{self.max_epochs}{members}, {best}, elapsed {_duration(elapsed)}, "
                f"at most {_duration(remaining)} left")

    def _rewrite(self, line: str) -> None:
        """Replace the current terminal line by ``line`` (padded over a longer previous one)."""
        self.stream.write("\r" + line.ljust(self._width))
        self._width = len(line)


def _mean(values: list) -> float:
    """The mean of the finite values (a member that diverged does not count), NaN if none."""
    finite = [value for value in values if np.isfinite(value)]
    return float(np.mean(finite)) if finite else float("nan")


def _duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"`` or ``"1 h 02 min"``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class GroupReport:
    """One group of members' handle on the fit's ``ProgressReport``: what the epoch loop calls."""

    report: ProgressReport
    group: object = 0

    def __post_init__(self):
        self.report.join(self.group)

    def epoch(self, state, active_before: np.ndarray, epoch: int) -> None:
        """The group's state after its ``epoch``-th epoch of this call; ``active_before``: who trained in it."""
        history = state.history
        trained = active_before if active_before.any() else np.ones_like(active_before)
        validation = (history.validation_loss[-1], history.validation_score[-1]) if history.validated else (None,
                                                                                                            None)
        self.report.epoch(self.group, epoch, history.loss[-1], trained, *validation,
                          training_after=int((~state.progress.stopped).sum()))

    def finish(self) -> None:
        self.report.finish(self.group)
