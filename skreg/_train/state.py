"""What a fit trains on and what it leaves behind: the configuration, the data, the state."""

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np

from skreg._compat import migrate_training_state
from skreg._members import concat_fields, take_rows
from skreg._objective import NetworkSpec, Objective, Regularization
from skreg._optimizers import SGD, Adam
from skreg._random import first_holders
from skreg._train.history import History


@dataclass(frozen=True)
class TrainConfig:
    """Every training hyperparameter shared by all members, already validated.

    What may differ between members (``alpha``, the penalty's mix, the
    dropout rates) is in ``TrainingData.regularization``.

    ``keeps_best_loss``: whether the best watched training objective is
    reported (the fitted ``best_loss_``). Without it (the members of a CV
    search, which report none) a noisy step's noise-free objective is
    measured only in the epochs where the stopping rule can act on it.
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
    keeps_best_loss: bool = True


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

    def take_members(self, members) -> "TrainingData":
        """The same data for some members only (see ``skreg._members.take``), read-only: always views.

        A contiguous run of members takes a view of ``member_rows``, not a
        copy: groups and chunks of an ensemble then share the draws, which
        for many members on many rows are the largest arrays of a fit.
        """
        return TrainingData(self.X, self.Y, self.sample_weight, take_rows(self.member_rows, members),
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


@dataclass
class MemberStreams:
    """Each member's own random generators for its steps: the epoch's shuffle, and the step's noise.

    ``noise[k]`` is member ``k``'s ``MemberNoise``: one generator per kind of
    noise (dropout masks, input, weight and label noise), made on first use.

    Members may hold one generator (a CV search's, whose fits alone would
    draw the same numbers): it then draws once for all of them
    (``skreg._random.first_holders``). Such members share their shuffle
    generator, and so their rows and batches, and follow each other.
    """

    PER_MEMBER = ("shuffle", "noise")

    shuffle: list
    noise: list


@dataclass
class Progress:
    """How far each member got: its epochs, whether it stopped (this call) or diverged (for good).

    ``n_iter`` counts on over warm starts and ``partial_fit`` calls, as the
    curves do. ``samples_seen`` (rows seen by the members still training,
    the ``'invscaling'`` schedule's clock) is shared: merged members take
    the largest.
    """

    PER_MEMBER = ("n_iter", "stopped", "diverged")
    SHARED = {"samples_seen": max}

    n_iter: np.ndarray
    stopped: np.ndarray
    diverged: np.ndarray
    samples_seen: int = 0


@dataclass
class Outcome:
    """How the last training call ended, for its warnings.

    ``solver_failures[k]``: L-BFGS-B's message if member ``k``'s
    optimisation ended abnormally (line search failure, ...), else None.
    Merged members were interrupted, or reached ``max_iter``, if any was.
    """

    PER_MEMBER = ("solver_failures",)
    SHARED = {"interrupted": any, "reached_max_iter": any}

    solver_failures: list
    interrupted: bool = False
    reached_max_iter: bool = False


@dataclass
class TrainingState:
    """Everything a fit leaves behind and a warm-started fit continues from, every part per member.

    ``params`` (m, n_params); ``optimizer`` (SGD or Adam, None until a
    stochastic solver made it); ``streams``; ``history`` (the curves);
    ``progress``; ``stopping`` (the patience record with the best epoch's
    weights, None until a stopping rule watched an epoch); ``outcome``.
    ``skreg._members.take`` and ``concat`` split and merge it.
    """

    PER_MEMBER = ("params", "optimizer", "streams", "history", "progress", "stopping", "outcome")

    params: np.ndarray
    streams: MemberStreams
    history: History
    progress: Progress
    outcome: Outcome
    optimizer: object = None
    stopping: object = None  # stopping.ImprovementTracker

    def __setstate__(self, state: dict) -> None:
        migrate_training_state(state)
        self.__dict__.update(state)

    @property
    def n_members(self) -> int:
        return self.params.shape[0]

    def copy(self) -> "TrainingState":
        """An independent copy to train on (its history copied as ``History.copy`` does: cheaply)."""
        return copy.deepcopy(self)

    @classmethod
    def concat_members(cls, parts: list) -> "TrainingState":
        """The members of ``parts`` as one state (see ``skreg._members.concat``).

        A part without a stopping record (a group interrupted in its first
        epoch), beside parts with one, gets a fresh record; a part without
        best weights, beside parts with them, stands in its weights.
        """
        template = next((part.stopping for part in parts if part.stopping is not None), None)
        if template is not None:
            keep_best = any(part.stopping is not None and part.stopping.best_params is not None for part in parts)
            parts = [_with_stopping_record(part, template, keep_best) for part in parts]
        return concat_fields(parts)


def _with_stopping_record(part: TrainingState, template, keep_best: bool) -> TrainingState:
    """``part``, or a copy of it with a stand-in stopping record (``part`` itself is unchanged)."""
    record = part.stopping
    if record is not None and (record.best_params is not None or not keep_best):
        return part
    record = template.fresh(part.n_members) if record is None else copy.copy(record)
    if keep_best:
        record.best_params = part.params
    return dataclasses.replace(part, stopping=record)


def shares_generators(state: TrainingState) -> bool:
    """Whether some members of ``state`` hold one generator (``MemberStreams``): a member not its own first holder."""
    holders = first_holders(state.streams.shuffle)
    return bool((holders != np.arange(len(holders))).any())


def with_own_generators(part: TrainingState) -> TrainingState:
    """``part`` of a state whose members share generators, given copies of its own (in place).

    Members that hold one generator draw from it in one batch; when they
    train apart (groups in threads) each part needs its own copy, at the
    same point of the stream: the draws are then the same. Members of
    ``part`` that shared one generator share its copy.
    """
    part.streams = copy.deepcopy(part.streams)
    return part


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
    progress = Progress(n_iter=np.zeros(m, dtype=int), stopped=np.zeros(m, dtype=bool),
                        diverged=np.zeros(m, dtype=bool))
    return TrainingState(params=params, streams=MemberStreams(shuffle_rngs, noise), history=History(m),
                         progress=progress, outcome=Outcome([None] * m))
