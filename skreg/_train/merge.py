"""Putting members trained apart (in groups, chunks, or after leaving the batch) back into one state."""

import numpy as np

from skreg._optimizers import concatenate_optimizers
from skreg._train.history import frozen_validation, pad_activity, pad_curve
from skreg._train.state import TrainingState
from skreg._train.stopping import ImprovementTracker


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
                padded.append(pad_activity(curve, state.n_members, length))
            elif name.startswith("validation"):
                filler = frozen_validation(curve, state.n_members, validated)
                padded.append(pad_curve(curve, state.n_members, length, filler))
            else:
                padded.append(pad_curve(curve, state.n_members, length))
        return [np.concatenate(epoch) for epoch in zip(*padded, strict=True)]

    merged = TrainingState(
        params=stack("params"),
        optimizer=(concatenate_optimizers([state.optimizer for state in states])
                   if states[0].optimizer is not None else None),
        shuffle_rngs=[rng for state in states for rng in state.shuffle_rngs],
        noise=[streams for state in states for streams in state.noise],
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


def in_member_order(states: list, members: list) -> TrainingState:
    """One state from states of disjoint ``members`` (index arrays) and equally long curves, in member order."""
    if len(states) == 1:
        return states[0]
    merged = concatenate_states(states)
    return merged.subset(np.argsort(np.concatenate(members), kind="stable"))
