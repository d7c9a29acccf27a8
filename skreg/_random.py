"""Independent random streams derived from one ``random_state``.

``random_state`` gives one root entropy; every consumer of randomness
(initialisation, validation split, bootstrap draws, shuffling, dropout) gets
its own stream, and within each stream every ensemble member gets its own
generator, keyed by ``(stream, member)``. Turning on a new consumer (say,
dropout) therefore changes nothing else, and member ``k`` of an ensemble is
reproducible on its own, whatever the ensemble size or the number of jobs.
"""

import numpy as np
from sklearn.utils import check_random_state

STREAMS = ("init", "split", "bootstrap", "shuffle", "dropout")


def root_entropy(random_state) -> int:
    """The one integer every stream of a fit derives from.

    An int is used as is; a ``RandomState`` (or ``None``: the global one)
    is asked for one draw, as scikit-learn estimators do.
    """
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def member_generators(entropy: int, stream: str, members) -> list:
    """One generator per member in ``members`` for ``stream``."""
    index = STREAMS.index(stream)
    return [np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(index, int(k)))) for k in members]


def stream_seed(entropy: int, stream: str) -> int:
    """An integer seed for a whole-fit stream (e.g. for ``train_test_split``)."""
    generator = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(STREAMS.index(stream),)))
    return int(generator.integers(np.iinfo(np.int32).max))
