"""What a fit trains on and what it leaves behind: the configuration, the data, the state."""

import copy
from dataclasses import dataclass, field

import numpy as np

from skreg._compat import migrate_training_state
from skreg._objective import NetworkSpec, Objective, Regularization
from skreg._optimizers import SGD, Adam, take_optimizer_members


@dataclass(frozen=True)
class TrainConfig:
    """Every training hyperparameter shared by all members, already validated.

    What may differ between members (``alpha``, the penalty's mix, the
    dropout rates) is in ``TrainingData.regularization``.
    """

    network: NetworkSpec
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
    """What each member trains on: its rows, and the regularization it trains under.

    ``member_rows[k]`` indexes the rows of member ``k`` (all rows, or a
    bootstrap draw with repeats); all members have the same number of rows.
    ``total_weight[k]`` is ``S_k``, the sum of sample weights over those rows.
    """

    X: object
    Y: np.ndarray
    sample_weight: np.ndarray
    member_rows: np.ndarray
    regularization: Regularization

    @property
    def n_members(self) -> int:
        return self.member_rows.shape[0]

    def subset(self, members) -> "TrainingData":
        """The same data for some members only (indices, or a slice).

        A contiguous run of members takes a view of ``member_rows``, not a
        copy: groups and chunks of an ensemble then share the draws, which
        for many members on many rows are the largest arrays of a fit.
        """
        return TrainingData(self.X, self.Y, self.sample_weight, take_members(self.member_rows, members),
                            self.regularization.take(members))

    def objective(self, network: NetworkSpec) -> Objective:
        """The objective each member minimises on these rows."""
        return Objective(network, self.regularization, self.total_weight)

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


@dataclass
class TrainingState:
    """Everything a fit leaves behind and a warm-started fit continues from."""

    params: np.ndarray
    optimizer: object = None
    shuffle_rngs: list = None
    noise: list = None  # each member's MemberNoise: the generators of the step's noise
    samples_seen: int = 0
    n_iter: np.ndarray = None
    loss_curve: list = field(default_factory=list)
    active_history: list = field(default_factory=list)
    validation_loss_curve: list = field(default_factory=list)
    validation_score_curve: list = field(default_factory=list)
    tracker: object = None  # stopping.ImprovementTracker: the patience record
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

    def __setstate__(self, state: dict) -> None:
        migrate_training_state(state)
        self.__dict__.update(state)

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
            noise=[self.noise[k] for k in members],
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


def make_optimizer(config: TrainConfig, shape, dtype):
    """The stochastic optimizer named by ``config.solver``."""
    if config.solver == "sgd":
        return SGD(shape, dtype, learning_rate_init=config.learning_rate_init, momentum=config.momentum,
                   nesterov=config.nesterovs_momentum, schedule=config.learning_rate, power_t=config.power_t)
    return Adam(shape, dtype, learning_rate_init=config.learning_rate_init, beta_1=config.beta_1,
                beta_2=config.beta_2, epsilon=config.epsilon)


def new_state(params: np.ndarray, shuffle_rngs: list, noise: list) -> TrainingState:
    """A fresh state around initial parameters."""
    m = params.shape[0]
    return TrainingState(params=params, shuffle_rngs=shuffle_rngs, noise=noise,
                         n_iter=np.zeros(m, dtype=int), stopped=np.zeros(m, dtype=bool),
                         diverged=np.zeros(m, dtype=bool))
