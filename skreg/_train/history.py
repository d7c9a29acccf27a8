"""Every member's curves, epoch by epoch, and how they are padded for epochs a member did not train."""

import numpy as np

from skreg._members import member_indices


class History:
    """The per-epoch curves of every member: training loss, who trained, validation loss and score.

    Each curve is a list with one entry per epoch, an array over members
    (shape (m,)): ``loss`` (the training objective), ``active`` (which
    members trained that epoch), ``validation_loss`` and
    ``validation_score``. The validation curves are empty until an epoch
    has a validation set, and then follow ``loss`` epoch for epoch (NaN for
    epochs without one), whichever calls (``fit``, ``partial_fit``, warm
    starts) had validation data.

    Entries are never modified once appended, so a copy shares them and
    copies only the lists (a deep copy made every ``partial_fit`` call cost
    time growing with the history). The padding rules for epochs in which a
    member waited frozen, apart from the others or beside them, live here:

    - its loss repeats its standing value (``standing_values``);
    - it is not active;
    - its validation entries are those of validating its frozen weights
      (given), its last ones (the same weights validated again), or NaN
      without a validation set.
    """

    def __init__(self, n_members: int, loss=None, active=None, validation_loss=None, validation_score=None):
        self.n_members = n_members
        self.loss = [] if loss is None else loss
        self.active = [] if active is None else active
        self.validation_loss = [] if validation_loss is None else validation_loss
        self.validation_score = [] if validation_score is None else validation_score

    def __len__(self) -> int:
        """The number of epochs recorded."""
        return len(self.loss)

    def __deepcopy__(self, memo) -> "History":
        # A deep copy of a training state copies its history as ``copy`` does: new lists, the same entries.
        return self.copy()

    def copy(self) -> "History":
        """A history that can grow apart from this one (new lists, the same entries)."""
        return History(self.n_members, list(self.loss), list(self.active), list(self.validation_loss),
                       list(self.validation_score))

    @property
    def validated(self) -> bool:
        """Whether any epoch had a validation set (the validation curves are recorded)."""
        return bool(self.validation_loss)

    def record_epoch(self, loss: np.ndarray, active: np.ndarray) -> None:
        """Append an epoch's training loss and which members trained in it."""
        self.loss.append(loss)
        self.active.append(active.copy())

    def record_validation(self, validation: tuple | None) -> None:
        """Append the last epoch's ``(loss, score)`` on the validation set, NaN for ``None`` (no validation set)."""
        missing = self._missing()
        self._pad_validation(len(self.loss) - 1)
        loss, score = (missing, missing) if validation is None else validation
        self.validation_loss.append(loss)
        self.validation_score.append(score)

    def mark(self) -> tuple:
        """The curves' lengths, to ``truncate`` back to."""
        return len(self.loss), len(self.active), len(self.validation_loss), len(self.validation_score)

    def truncate(self, mark: tuple) -> None:
        """Forget the entries appended since ``mark`` (an epoch undone)."""
        for curve, length in zip(self._curves(), mark, strict=True):
            del curve[length:]

    def with_epochs(self, start: int, loss: list, active: list) -> "History":
        """A new history: this one's first ``start`` epochs, then ``loss`` and ``active``'s epochs.

        Epochs without a validation set: NaN validation entries, if the
        validation curves are recorded. This history is unchanged.
        """
        extended = History(self.n_members, self.loss[:start] + loss, self.active[:start] + active,
                           list(self.validation_loss), list(self.validation_score))
        if extended.validated:
            extended._pad_validation(len(extended.loss))
        return extended

    def waited(self, n_epochs: int, validation: tuple | None = None) -> "History":
        """This history extended to ``n_epochs`` epochs in which its members waited frozen.

        ``validation`` is ``(loss, score)`` of the frozen weights on this
        fit's validation rows, or ``None`` without validation data (NaN
        entries, if the validation curves are recorded). Before the waited
        epochs, epochs without validation get NaN. Returns a new history
        (this one if nothing was waited); this one is unchanged.
        """
        n_waited = n_epochs - len(self.loss)
        if n_waited <= 0:
            return self
        standing = standing_values(self.loss, self.n_members)
        frozen = History(self.n_members, self.loss + [standing] * n_waited,
                         self.active + [np.zeros(self.n_members, dtype=bool)] * n_waited,
                         list(self.validation_loss), list(self.validation_score))
        if validation is None and not self.validated:
            return frozen
        val_loss, val_score = (self._missing(), self._missing()) if validation is None else validation
        frozen._pad_validation(len(self.loss))
        frozen.validation_loss += [val_loss] * n_waited
        frozen.validation_score += [val_score] * n_waited
        return frozen

    def take_members(self, members) -> "History":
        """The curves of ``members`` (see ``skreg._members.take``)."""
        members = member_indices(members, self.n_members)
        return History(len(members), *([entry[members] for entry in curve] for curve in self._curves()))

    @classmethod
    def concat_members(cls, parts: list) -> "History":
        """The curves of several groups of members side by side, each padded to the longest.

        Members of a shorter part finished sooner: they waited frozen, their
        validation entries their last ones (the same weights validated again,
        on the same rows), or NaN if they have none.
        """
        same_curves = zip(*(part._curves() for part in parts), strict=True)
        lengths = [max(len(curve) for curve in curves) for curves in same_curves]
        padded = [part._padded(lengths) for part in parts]
        merged = [[np.concatenate(epoch) for epoch in zip(*same_curve, strict=True)]
                  for same_curve in zip(*(part._curves() for part in padded), strict=True)]
        return cls(sum(part.n_members for part in parts), *merged)

    def _padded(self, lengths: list) -> "History":
        """This history's curves extended to ``lengths`` by the rules of members waiting frozen."""
        n_loss, n_active, n_validation_loss, n_validation_score = lengths
        missing = self._missing()
        last_loss = self.validation_loss[-1] if self.validation_loss else missing
        last_score = self.validation_score[-1] if self.validation_score else missing
        standing = standing_values(self.loss, self.n_members)
        return History(self.n_members, self.loss + [standing] * (n_loss - len(self.loss)),
                       self.active + [np.zeros(self.n_members, dtype=bool)] * (n_active - len(self.active)),
                       self.validation_loss + [last_loss] * (n_validation_loss - len(self.validation_loss)),
                       self.validation_score + [last_score] * (n_validation_score - len(self.validation_score)))

    def _pad_validation(self, n_epochs: int) -> None:
        """NaN validation entries for the epochs up to ``n_epochs`` that had no validation set."""
        missing = self._missing()
        self.validation_loss += [missing] * (n_epochs - len(self.validation_loss))
        self.validation_score += [missing] * (n_epochs - len(self.validation_score))

    def _missing(self) -> np.ndarray:
        return np.full(self.n_members, np.nan)

    def _curves(self) -> tuple:
        return self.loss, self.active, self.validation_loss, self.validation_score


def standing_values(curve: list, n_members: int) -> np.ndarray:
    """Each member's latest finite entry of a per-epoch curve, NaN if it has none.

    What a frozen member's loss curve repeats: after a divergence its
    parameters went back to finite ones, so the non-finite entry of the
    diverging epoch is not repeated. A member that never completed an epoch
    (interrupted in its first) has NaN.
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
