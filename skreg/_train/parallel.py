"""Training members: one call for a group, groups side by side in threads of this process."""

import threading

from skreg._members import concat
from skreg._train import events
from skreg._train.blas import blas_controller, one_blas_thread_per_group
from skreg._train.interrupts import StopSignal, ctrl_c_sets, even_if_interrupted
from skreg._train.lbfgs import fit_lbfgs
from skreg._train.progress import GroupReport
from skreg._train.state import TrainConfig, TrainingData, TrainingState
from skreg._train.stochastic import fit_stochastic


def train_members(data: TrainingData, state: TrainingState, config: TrainConfig, validate=None,
                  incremental: bool = False, stop: threading.Event | None = None,
                  report: GroupReport | None = None) -> TrainingState:
    """Train the members of ``state`` with the configured solver; returns the state.

    A module-level function so that parallel workers (joblib, dask) can run
    it on a chunk of members.

    A Ctrl-C sets ``stop`` (a new one if none is given) instead of raising
    KeyboardInterrupt, when no caller has already arranged it (``ctrl_c_sets``,
    in the main thread, of this process: a parent's or a joblib worker's):
    training stops at the next step, never halfway through an epoch's
    bookkeeping (curves, validation, stopping record).
    """
    stop = StopSignal() if stop is None else stop
    with ctrl_c_sets(stop):
        if config.solver == "lbfgs":
            state = fit_lbfgs(data, state, config, stop)
        else:
            state = fit_stochastic(data, state, config, validate, max_epochs=1 if incremental else None,
                                   check_stopping=not incremental, stop=stop, report=report)
    state.outcome.interrupted |= stop.is_set()  # Ctrl-C after the last step: nothing to undo, but it was pressed
    if events.active:
        events.emit("group_end", state=state, stop=stop)
    return state


def side_by_side_groups(n_members: int) -> int:
    """How many groups of members to train at once in threads of this process.

    As many as BLAS may use threads here (``cpu_count // n_jobs`` inside a
    loky worker, 1 under a user's ``threadpool_limits(1)``), and only from
    the main thread: BLAS thread limits are process-wide, so nested groups
    started from worker threads (dask, joblib's threading backend) would
    undo each other's limits.
    """
    if n_members < 2 or threading.current_thread() is not threading.main_thread():
        return 1
    blas_threads = max((library["num_threads"] for library in blas_controller().info()), default=1)
    return min(n_members, blas_threads)


def train_side_by_side(groups: list, config: TrainConfig, incremental: bool = False,
                       stop: threading.Event | None = None, lanes: list | None = None) -> TrainingState:
    """Train groups of members at once, one thread per lane of groups, each on one BLAS thread.

    An ensemble member's matrix products are small (a batch of a few hundred
    rows times a hidden layer): splitting each of them over two cores gains
    little, while two groups on two cores also split the element-wise work
    and the Python overhead of a step. Members are independent and draw from
    their own streams, so the result is the same as training them together.

    The calling (main) thread trains the first lane itself, so a Ctrl-C
    lands in a training loop, which stops at the step and keeps the last
    complete epoch, and tells the other groups to do the same (a group not
    begun yet then trains no epoch).

    Parameters
    ----------
    groups : list of tuple
        ``(data, state, validate, report)`` per group of fresh members, as
        ``train_members`` takes them.
    stop : threading.Event, optional
        Set, it stops every group at its next step (a new one if not given);
        an interruption in any group sets it.
    lanes : list of list of int, optional
        The groups each thread trains, one after another (default: a thread
        per group). One lane trains in the calling thread, which may be any
        (a joblib worker's): BLAS limits are then set as for one group.

    Returns
    -------
    TrainingState
        The groups' states concatenated in order.
    """
    stop = StopSignal() if stop is None else stop
    lanes = [[index] for index in range(len(groups))] if lanes is None else lanes
    if events.active:
        events.emit("side_by_side", sizes=[group[1].n_members for group in groups])
    outcomes = [None] * len(groups)
    finished = [threading.Event() for _ in lanes]

    def train_lane(lane):
        try:
            for index in lanes[lane]:
                try:
                    data, state, validate, report = groups[index]
                    outcomes[index] = train_members(data, state, config, validate, incremental, stop, report)
                except BaseException as error:
                    outcomes[index] = error
                    stop.set()
        finally:
            finished[lane].set()

    # Several lanes start only from the main thread (side_by_side_groups): the process-wide limit is its to set.
    one_blas_thread = blas_controller().limit(limits=1) if len(lanes) > 1 else one_blas_thread_per_group()
    with one_blas_thread, ctrl_c_sets(stop):
        _run_in_threads(train_lane, finished, stop)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    merged, cut_short = even_if_interrupted(concat, outcomes)
    # Also a Ctrl-C after every group's last step: nothing to undo, but it was pressed.
    merged.outcome.interrupted |= cut_short or stop.is_set()
    return merged


def _run_in_threads(train_lane, finished: list, stop: threading.Event) -> None:
    """``train_lane(0)`` here and ``train_lane(i)`` for the others in threads; returns when all finished."""
    waiting_for = []
    try:
        for index in range(1, len(finished)):
            # Waited for from before start(): start() may be interrupted after the thread runs.
            waiting_for.append(finished[index])
            _start_thread(train_lane, index, finished[index])
        train_lane(0)
    except BaseException:
        stop.set()
        raise
    finally:
        _wait_interruptibly(waiting_for, stop)


def _start_thread(target, index: int, finished: threading.Event) -> None:
    """Start ``target(index)`` in a daemon thread; if it cannot start, mark it ``finished`` (nothing else will)."""
    try:
        threading.Thread(target=target, args=(index,), daemon=True).start()
    except RuntimeError:
        finished.set()
        raise


def _wait_interruptibly(finished: list, stop: threading.Event) -> None:
    """Wait until every event in ``finished`` is set, in short slices; a KeyboardInterrupt meanwhile sets ``stop``.

    Short slices let the main thread run the Ctrl-C handler (``ctrl_c_sets``)
    while it waits, even when the signal landed on another thread. Events,
    not ``Thread.join``: an interrupted ``join`` can mark a running thread as
    finished (CPython issue 90882).
    """
    for event in finished:
        while True:
            try:
                if event.wait(timeout=0.1):
                    break
            except KeyboardInterrupt:
                stop.set()
