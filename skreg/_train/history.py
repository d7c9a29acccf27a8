"""Per-epoch curves of every member, and how a member's curves are padded while it waits frozen."""


import numpy as np

from skreg._train.state import TrainingState


def pad_curve(curve: list, n_members: int, length: int, filler: np.ndarray | None = None) -> list:
    """Extend a per-epoch curve to ``length`` epochs in which its members stood frozen.

    Each frozen epoch gets ``filler``; by default each member repeats its
    latest finite entry (``standing_values``), and members that never
    completed an epoch (interrupted in their first) get NaN.
    """
    filler = standing_values(curve, n_members) if filler is None else filler
    return curve + [filler] * (length - len(curve))


def frozen_validation(curve: list, n_members: int, validated: bool) -> np.ndarray:
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


def pad_activity(history: list, n_members: int, length: int) -> list:
    """Extend a per-epoch activity record to ``length`` epochs in which no member trained."""
    return history + [np.zeros(n_members, dtype=bool)] * (length - len(history))


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
