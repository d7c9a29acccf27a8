"""The training events (``skreg._train.events``): the seam the interruption and spying tests listen through."""

import sys
import threading
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from skreg import RegularizedMLPRegressor
from skreg._train import events
from skreg._train.parallel import side_by_side_groups


@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (60, 3))
    return X, X[:, 0] + rng.normal(0, 0.3, 60)


def _fit_announcing(params, X, y, **fit_params) -> set:
    """The events a fit of ``params`` announces (from every thread), with a prediction."""
    seen, lock = set(), threading.Lock()

    def recorder(event):
        def record(**payload):
            with lock:
                seen.add(event)
        return record

    with events.listening(**{event: recorder(event) for event in events.EVENTS}), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        RegularizedMLPRegressor(**params).fit(X, y, **fit_params).predict(X)
    return seen


def test_every_event_is_announced_by_some_fit(regression):
    """A reshape of the training that drops an announcement fails here, naming the event."""
    X, y = regression
    small = {"hidden_layer_sizes": (4,), "max_iter": 3, "random_state": 0}
    with threadpool_limits(limits=2):
        side_by_side = side_by_side_groups(2) == 2  # not on a machine whose BLAS has one thread
        stochastic = _fit_announcing({**small, "n_estimators": 2, "early_stopping": True}, X, y)
    lbfgs = _fit_announcing({**small, "solver": "lbfgs"}, X, y)
    assert stochastic | lbfgs == events.EVENTS - (set() if side_by_side else {"side_by_side"})
    assert {"lbfgs_member", "lbfgs_evaluation"}.isdisjoint(stochastic)


def test_nobody_listening_means_no_announcement_is_made(regression):
    """With no handler, no site calls ``emit``: the whole cost is reading ``events.active``."""
    X, y = regression
    calls = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code is events.emit.__code__:
            calls.append(None)

    assert not events.active
    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        with threadpool_limits(limits=1), warnings.catch_warnings():  # one group, all in this thread
            warnings.simplefilter("ignore")
            RegularizedMLPRegressor(hidden_layer_sizes=(4,), max_iter=3, n_estimators=2, early_stopping=True,
                                    random_state=0).fit(X, y).predict(X)
    finally:
        sys.setprofile(previous)
    assert calls == []


def test_handlers_nest_run_in_order_and_leave_with_their_context():
    heard = []
    with events.listening(step=lambda **payload: heard.append(("outer", payload))):
        assert events.active
        with events.listening(step=lambda **payload: heard.append(("inner", payload)),
                              epoch_start=lambda **payload: heard.append(("epoch", payload))):
            events.emit("step", state=1)
            events.emit("epoch_start", state=2)
        events.emit("step", state=3)
        events.emit("epoch_start", state=4)  # nobody listens to it any more
    assert not events.active
    events.emit("step", state=5)
    assert heard == [("outer", {"state": 1}), ("inner", {"state": 1}), ("epoch", {"state": 2}),
                     ("outer", {"state": 3})]


def test_a_handler_that_raises_leaves_its_context_clean():
    def fail(**payload):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), events.listening(step=fail):
        events.emit("step")
    assert not events.active


def test_a_misspelt_event_is_refused():
    with pytest.raises(ValueError, match="Unknown training events \\['epoch_begin'\\]"):
        with events.listening(epoch_begin=print):
            pass
    assert not events.active
