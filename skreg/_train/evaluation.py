"""Noise-free losses of every member on whole data sets, in groups of members whose outputs stay small."""


import numpy as np
import scipy.sparse as sp

from skreg._losses import weighted_mean_loss
from skreg._network import predict_members, prediction_product_flops
from skreg._objective import Objective, targets_of_groups
from skreg._train import events
from skreg._train.blas import blas_threads_for
from skreg._train.state import TrainConfig, TrainingData


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
    targets = targets_of_groups(data.regularization, config.network.loss)
    losses, finite, total_weight = member_losses_in_groups(config.network, params, data.X, data.Y, data.row_weights,
                                                           targets)
    with np.errstate(all="ignore"):
        objective = Objective(config.network, data.regularization, total_weight).value(losses, params)
    return objective, finite


def member_losses_in_groups(network, params: np.ndarray, X, Y: np.ndarray, weight_of, targets=None) -> tuple:
    """Each member's weighted mean loss on ``(X, Y)`` without dropout, evaluated in groups of members.

    ``weight_of(group)`` gives the row weights of a group of members (a
    slice): shared, shape (n,), or per member, shape (len(group), n). The
    groups (``objective_groups``) keep the members' outputs and weights on
    all rows to a fraction of X's size, whatever the number of members.
    ``targets(Y, group)``, if given, gives the targets a group trains on
    (smoothed labels); by default ``Y`` itself.

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
            group_targets = Y if targets is None else targets(Y, group)
            losses.append(weighted_mean_loss(network.loss, group_targets, output, weight,
                                             soft_targets=targets is not None))
        group_size = output.shape[0]
        weight_sums.append(np.broadcast_to(np.sum(weight, axis=-1, dtype=np.float64), (group_size,)))
    return np.concatenate(losses), np.concatenate(finite), np.concatenate(weight_sums)


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
        if events.active:
            events.emit("prediction")
        return predict_members(X, coefs, intercepts, activation, output_activation)


def input_nbytes(X) -> int:
    """Bytes of a dense or sparse training input."""
    if sp.issparse(X):
        return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    return X.nbytes
