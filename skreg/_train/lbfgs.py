"""The full-batch solver: L-BFGS-B on each member's objective, L1 through bound constraints."""

import threading

import numpy as np
import scipy.optimize

from skreg._objective import Objective
from skreg._train import events
from skreg._train.blas import single_threaded_scipy_blas
from skreg._train.interrupts import even_if_interrupted
from skreg._train.state import TrainConfig, TrainingData, TrainingState


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
    outcome = state.outcome
    outcome.reached_max_iter, outcome.interrupted, outcome.solver_failures = False, False, [None] * state.n_members
    try:
        for k in range(state.n_members):
            weight = data.row_weights([k])[0]  # one member's at a time: (m, n) weights can outgrow X
            if stop is not None and stop.is_set():
                # Interrupted before this member's turn: it and those after it keep their weights.
                outcome.interrupted = True
                outcome.solver_failures[k:] = ["not reached: interrupted before its turn, it keeps its weights"] * (
                    state.n_members - k)
                break
            if events.active:
                events.emit("lbfgs_member", member=k, stop=stop)
            objective = Objective(config.network, data.regularization.take([k]), np.array([weight.sum()]))
            row, n_iter, curve, result = _lbfgs_member(objective, data, config, state.params[k], weight, stop)
            if not np.all(np.isfinite(row)):
                state.progress.diverged[k] = True
                continue
            # Member k's result in assignments with no call between (an interruption keeps all or none of it);
            # a warm start counts on, as the history does.
            curves[k], state.params[k] = curve, row
            state.progress.n_iter[k] += n_iter
            outcome.reached_max_iter |= result.status == 1
            if stop is not None and stop.is_set():
                outcome.interrupted = True
            elif result.status not in (0, 1):
                outcome.solver_failures[k] = (f"status={result.status}: {str(result.message).rstrip(': ')}; "
                                              "scale the inputs (e.g. StandardScaler) or try solver='adam'")
    except KeyboardInterrupt:
        outcome.interrupted = True
        if stop is not None:
            stop.set()
    # len() of the list, not of the history: no Python call out here, where an interruption would escape.
    _, cut_short = even_if_interrupted(_record_lbfgs_curves, state, curves, len(state.history.loss))
    if cut_short:
        outcome.interrupted = True
        if stop is not None:
            stop.set()
    return state


def _lbfgs_member(objective: Objective, data: TrainingData, config: TrainConfig, row: np.ndarray,
                  weight: np.ndarray, stop: threading.Event | None = None) -> tuple:
    """Minimise one member's ``objective`` with L-BFGS-B; returns ``(row, n_iter, loss_curve, result)``.

    ``result`` is SciPy's ``OptimizeResult`` (its ``status`` says how the optimisation ended).

    With an L1 part, every weight is split as ``w = w+ - w-`` with
    ``w+, w- >= 0`` (bounds L-BFGS-B handles exactly), turning ``|w|`` into
    the linear ``w+ + w-``: weights whose both parts sit at their bound are
    exactly zero.
    """
    n_weights = objective.n_weights
    dtype = row.dtype
    split = objective.has_l1
    l1_scale = float(objective.l1_scale[0])

    def fun(theta):
        if events.active:
            events.emit("lbfgs_evaluation")
        params = (_join_l1(theta, n_weights) if split else theta).astype(dtype)[None]
        with np.errstate(all="ignore"):  # a non-finite objective is L-BFGS-B's to handle, and checked after
            value, grads = objective.smooth_value_and_gradient(params, data.X, data.Y, weight)
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


def _split_l1(row: np.ndarray, n_weights: int) -> np.ndarray:
    """``[w, b] -> [max(w, 0), max(-w, 0), b]`` so that ``|w|`` becomes linear."""
    weights = row[:n_weights]
    return np.concatenate([np.maximum(weights, 0), np.maximum(-weights, 0), row[n_weights:]])


def _join_l1(theta: np.ndarray, n_weights: int) -> np.ndarray:
    return np.concatenate([theta[:n_weights] - theta[n_weights : 2 * n_weights], theta[2 * n_weights :]])


def _record_lbfgs_curves(state: TrainingState, curves: list, recorded: int) -> None:
    """Append each member's L-BFGS iterations to the ``recorded`` epochs of the history, padded to the longest.

    A member done sooner repeats its last value, inactive; one never run has NaN. The history is replaced in
    one assignment, so this can run again after an interruption.
    """
    loss, active = [], []
    for iteration in range(max(len(curve) for curve in curves)):
        loss.append(np.array([curve[min(iteration, len(curve) - 1)] if curve else np.nan for curve in curves]))
        active.append(np.array([iteration < len(curve) for curve in curves]))
    state.history = state.history.with_epochs(recorded, loss, active)
