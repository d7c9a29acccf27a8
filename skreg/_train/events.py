"""Named moments of a fit that a listener can watch, count or interrupt: the seam the tests use.

The training and estimator layers announce a few moments of a fit (the
list below). Nothing listens in normal use, and then an announcement costs
one module attribute read, no call and no allocation: every site reads

.. code-block:: python

    if events.active:
        events.emit("step", state=state, X=X, Y=Y, weight=weight, stop=stop)

A test listens with ``listening``, and its handler may raise (a
``KeyboardInterrupt`` stands for Ctrl-C at that moment, any other exception
for a failure there), send a SIGINT, count, or record what it is given:

.. code-block:: python

    def interrupt_the_third(state, **payload):
        ...

    with events.listening(epoch_start=interrupt_the_third):
        model.fit(X, y)

Handlers are registered for the whole process, before training starts, and
run in the thread that announces the moment (groups of members trained side
by side announce theirs from their own threads), so a handler that counts
must take a lock. Members trained in other processes (joblib's loky workers)
announce nothing here. The payload arrays are the training's own: a handler
that writes into them changes the fit (``gradient`` does that on purpose).

The events, when each is announced, and its payload:

``side_by_side`` (``sizes``: members per group)
    Groups of members are about to train at once, in threads (``parallel.train_side_by_side``).
``epoch_start`` (``state``, ``stop``)
    An epoch of sgd or adam begins (``stochastic.run_epoch``), before its rows are drawn.
``step`` (``state``, ``X``, ``Y``, ``weight``, ``stop``)
    A minibatch step begins, its batch gathered.
``gradient`` (``state``, ``grads``, writable)
    The step's gradient is computed; the optimizer has not read it yet.
``validation`` (``state``)
    The epoch's validation losses and scores are about to be recorded.
``lbfgs_member`` (``member``: its index, ``stop``)
    L-BFGS begins one member's optimisation.
``lbfgs_evaluation`` (no payload)
    L-BFGS evaluates one member's objective and gradient.
``group_end`` (``state``, ``stop``)
    A group of members has trained (``parallel.train_members`` returns).
``final_bookkeeping`` (``part``, and ``state`` with the first)
    Training is done and the fit sets its attributes: ``part="objective"``
    as it computes the final objective (``loss_``) and checks it is finite,
    from the trained ``state``, then ``"ensemble"`` as it sets
    ``estimators_`` and the out-of-bag estimates.
``prediction`` (no payload)
    The members' outputs on a block of rows are about to be computed, under
    the BLAS thread limits in force for them.

``stop`` is the fit's stop request (a ``threading.Event``): a handler that
sends a SIGINT can wait on it to know the main thread has acted on it.
"""

import contextlib
import threading

EVENTS = frozenset({"side_by_side", "epoch_start", "step", "gradient", "validation", "lbfgs_member",
                    "lbfgs_evaluation", "group_end", "final_bookkeeping", "prediction"})

# Whether any handler is registered: the one thing an announcing site reads when nobody listens.
active = False
# event -> tuple of handlers; replaced whole, never changed in place, so ``emit`` reads it without a lock.
_handlers: dict = {}
_lock = threading.Lock()


def emit(event: str, **payload) -> None:
    """Call every handler of ``event`` with ``payload``, in the order they were registered."""
    for handler in _handlers.get(event, ()):
        handler(**payload)


@contextlib.contextmanager
def listening(**handlers):
    """Call ``handlers[event](**payload)`` at every ``event`` announced while the context is active.

    Keyword names are events (``EVENTS``); an unknown one raises
    ValueError, so a misspelt event cannot silently listen to nothing.
    Contexts nest: each handler of an event is called in turn.
    """
    unknown = set(handlers) - EVENTS
    if unknown:
        raise ValueError(f"Unknown training events {sorted(unknown)}; the events are {sorted(EVENTS)}.")
    _register(handlers, add=True)
    try:
        yield
    finally:
        _register(handlers, add=False)


def _register(handlers: dict, add: bool) -> None:
    global active, _handlers
    with _lock:
        updated = dict(_handlers)
        for event, handler in handlers.items():
            current = list(updated.get(event, ()))
            if add:
                current.append(handler)
            else:
                current.remove(handler)
            if current:
                updated[event] = tuple(current)
            else:
                updated.pop(event, None)
        _handlers = updated
        active = bool(updated)
