"""Where the members train: chunks over joblib workers, groups side by side, BLAS threads."""

import contextlib

import numpy as np
from joblib import effective_n_jobs
from sklearn.utils.parallel import Parallel, delayed

from skreg._members import concat, consecutive_runs, take
from skreg._random import first_holders
from skreg._train.blas import one_blas_thread_per_group
from skreg._train.interrupts import StopSignal
from skreg._train.parallel import side_by_side_groups, train_members, train_side_by_side
from skreg._train.progress import GroupReport, ProgressReport
from skreg._train.state import TrainConfig, TrainingData, shares_generators, with_own_generators


def _group_report(report, group):
    """Group ``group``'s handle on ``report`` (None without a report)."""
    return None if report is None else GroupReport(report, group)


def _parts(state, groups: list) -> list:
    """``state`` taken apart into ``groups`` of members, no generator drawn from by two of them."""
    parts = [take(state, group) for group in groups]
    if shares_generators(state):  # trained at once, in threads (or joblib's threading backend)
        parts = [with_own_generators(part) for part in parts]
    return parts


def sharing_runs(state, members: np.ndarray) -> list:
    """``members`` (consecutive) in runs that train as one batch: members sharing their batches, or all the others.

    Members that hold one shuffle generator share their batches
    (``MemberStreams``); without such members, ``[members]`` itself.
    """
    holders = first_holders([state.streams.shuffle[k] for k in members]).tolist()
    if len(set(holders)) == len(members):
        return [members]
    return [members[run] for run in consecutive_runs(holders)]


# A lane whose hidden activations of one batch take more bytes trains its runs of members one after another.
RUN_SPLIT_BYTES = 2**20


def _runs_pay(config: TrainConfig, lanes: list, itemsize: int) -> bool:
    """Whether a lane's runs of members sharing their batches should train one after another.

    Apart, a run's arrays stay in the CPU's cache and its members read one
    input, but each run's step makes the step's numpy calls again: a (64,)
    net's batch of 200 rows is worth it (14 members: 1.4 MB of activations),
    a (16,) net's batch of 32 is not (57 kB, where the calls are the cost).
    """
    widest = max(config.network.layout.layer_units[1:-1], default=1)
    largest_lane = max(len(lane) for lane in lanes)
    return largest_lane * config.batch_size * widest * itemsize > RUN_SPLIT_BYTES


def _lanes_of(groups: list, lanes: list) -> list:
    """The indices of the groups (runs, in order) that make up each lane."""
    sizes = np.cumsum([len(lane) for lane in lanes])
    ends = np.cumsum([len(group) for group in groups])
    lane_of = np.searchsorted(sizes, ends, side="left")
    return [np.flatnonzero(lane_of == lane).tolist() for lane in range(len(lanes))]


def _members_label(members: np.ndarray) -> str:
    """How ``verbose`` lines name a chunk or group of members."""
    return f"member {members[0]}" if len(members) == 1 else f"members {members[0]}-{members[-1]}"


class TrainingPlanMixin:
    """Splitting the members over workers and threads (part of ``BaseRegularizedMLP``)."""

    def _train(self, data: TrainingData, state, config: TrainConfig, validation, incremental: bool,
               parallel: bool, stop: StopSignal):
        """Train all members, in chunks over joblib workers when ``n_jobs`` asks for it.

        Members draw from their own random streams, so the result depends
        neither on ``n_jobs`` nor on how a chunk is split further (see
        ``_train_chunk``). A warm-started or incremental fit continues in this
        process, as one group.

        Setting ``stop`` (Ctrl-C) stops every member at its next step, in
        worker processes too, which send back what they trained. Returns
        None if a KeyboardInterrupt reached joblib itself (a SIGINT handler
        of the user's, which Ctrl-C raises through): joblib then stops its
        workers and their state is lost; ``state`` is untouched (the workers
        trained copies).
        """
        members = np.arange(state.n_members)
        if not parallel:
            with self._blas_threads_of_a_group():
                return train_members(data, state, config, self._validator(config, validation, members), incremental,
                                     stop, _group_report(self._progress_report(config, members, incremental), 0))
        n_chunks = min(effective_n_jobs(self.n_jobs), state.n_members)
        if n_chunks <= 1:
            return self._train_chunk(data, state, config, validation, incremental, members, stop)
        chunks = np.array_split(members, n_chunks)
        with stop.shared_with_workers():
            try:
                states = Parallel(n_jobs=n_chunks)(
                    delayed(self._train_chunk)(take(data, chunk, view=True), part, config, validation, incremental,
                                               chunk, stop)
                    for chunk, part in zip(chunks, _parts(state, chunks), strict=True)
                )
            except KeyboardInterrupt:
                stop.set()  # workers that joblib cannot stop (threads) stop at their next step
                return None
        return concat(states)

    def _train_chunk(self, data: TrainingData, state, config: TrainConfig, validation, incremental: bool,
                     members: np.ndarray, stop: StopSignal):
        """Train a fresh chunk of ``members``, in lanes side by side when this process has the cores for it.

        Each lane is still trained as one batched ensemble, but for members
        that share their batches (a CV search's members of one fold) when
        the lane's arrays outgrow the CPU's cache (``_runs_pay``): each run
        of those then trains as a batch of its own, one after another in the
        lane, reading one input.
        """
        n_lanes = side_by_side_groups(state.n_members)
        lanes = np.array_split(np.arange(state.n_members), max(n_lanes, 1))
        groups = lanes
        if _runs_pay(config, lanes, state.params.dtype.itemsize):
            groups = [run for lane in lanes for run in sharing_runs(state, lane)]
        report = self._progress_report(config, members, incremental)
        if len(groups) <= 1:
            with self._blas_threads_of_a_group():
                return train_members(data, state, config, self._validator(config, validation, members),
                                     incremental, stop, _group_report(report, 0))
        parts = _parts(state, groups)
        # Every group joins the report before any trains: it shows an epoch once all groups have finished it.
        return train_side_by_side(
            [(take(data, group, view=True), part, self._validator(config, validation, members[group]),
              _group_report(report, index))
             for index, (group, part) in enumerate(zip(groups, parts, strict=True))],
            config, incremental, stop, lanes=_lanes_of(groups, lanes),
        )

    def _progress_report(self, config: TrainConfig, members: np.ndarray, incremental: bool):
        """The ``verbose`` report of these members' training (None when quiet): one for all their groups.

        A chunk trained in a joblib worker reports apart, its lines prefixed by its members.
        """
        if not config.verbose:
            return None
        label = _members_label(members) if len(members) < self.n_estimators else ""
        return ProgressReport(len(members), 1 if incremental else config.max_iter, label=label)

    def _blas_threads_of_a_group(self):
        """A single net keeps every BLAS thread; an ensemble's members train on one, in every grouping."""
        return one_blas_thread_per_group() if self.n_estimators > 1 else contextlib.nullcontext()
