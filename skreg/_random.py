"""Independent random streams derived from one ``random_state``.

``random_state`` gives one root entropy; every consumer of randomness
(initialisation, validation split, bootstrap draws, shuffling, each kind of
noise in the training step: dropout, input, weight and label noise, and the
dropout masks drawn at prediction time by MC dropout) gets
its own stream, and within each stream every ensemble member gets its own
generator, keyed by ``(stream, member)``. Turning on a new consumer (say,
dropout) therefore changes nothing else, and member ``k`` of an ensemble is
reproducible on its own, whatever the ensemble size or the number of jobs.
"""

import numpy as np
from sklearn.utils import check_random_state

# New streams go at the end: a stream's index is part of its seed, so the others keep theirs.
STREAMS = ("init", "split", "bootstrap", "shuffle", "dropout", "mc_dropout", "input_noise", "weight_noise",
           "label_noise")


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


def member_keys(entropy: int, stream: str, members, n_keys: int) -> np.ndarray:
    """``n_keys`` 64-bit keys per member in ``members`` for ``stream``, shape (len(members), n_keys).

    Member ``k``'s keys come from its own ``(stream, k)`` seed sequence, so
    they are the same whatever the other members, and the first ``j`` of
    them are the same for any ``n_keys >= j`` (a seed sequence's words are a
    prefix of its longer outputs).
    """
    index = STREAMS.index(stream)
    keys = [np.random.SeedSequence(entropy, spawn_key=(index, int(k))).generate_state(n_keys, dtype=np.uint64)
            for k in members]
    return np.array(keys, dtype=np.uint64).reshape(len(keys), n_keys)


def first_holders(generators: list, drawing=None) -> np.ndarray:
    """For each member, the first member holding the same generator object (among those ``drawing``, if given).

    Members may hold one generator (the members of a CV search whose fits
    alone would draw the same numbers, ``SearchMembersMixin``): it then
    draws once for all of them, as often as it would for one. A member not
    drawing is its own holder.
    """
    holders = np.arange(len(generators))
    first = {}
    for k, generator in enumerate(generators):
        if drawing is None or drawing[k]:
            holders[k] = first.setdefault(id(generator), k)
    return holders


class MemberNoise:
    """One member's generators for the noise of the training step, one per kind, each made on first use.

    Indexed by stream name (``noise["dropout"]``, ``noise["input_noise"]``,
    ...). A kind of noise that is never used never costs a generator, and
    turning one on leaves the others' draws as they were.
    """

    def __init__(self, entropy: int, member: int):
        self.entropy = entropy
        self.member = member
        self._generators = {}

    def __getitem__(self, stream: str) -> np.random.Generator:
        generator = self._generators.get(stream)
        if generator is None:
            generator = self._generators[stream] = member_generators(self.entropy, stream, [self.member])[0]
        return generator

    def share(self, stream: str, other: "MemberNoise") -> None:
        """Draw ``stream`` from ``other``'s generator itself: one draw then serves both (``first_holders``)."""
        self._generators[stream] = other[stream]

    @classmethod
    def around(cls, dropout_generator: np.random.Generator) -> "MemberNoise":
        """The noise streams of a member whose dropout generator is ``dropout_generator`` (as pickled by 0.4)."""
        seed = dropout_generator.bit_generator.seed_seq
        # skreg's generators are keyed (stream, member); any other generator counts as member 0's.
        member = seed.spawn_key[1] if len(seed.spawn_key) > 1 else 0
        noise = cls(int(seed.entropy), int(member))
        noise._generators["dropout"] = dropout_generator
        return noise


def member_noise(entropy: int, members) -> list:
    """``MemberNoise`` of each member in ``members``."""
    return [MemberNoise(entropy, int(k)) for k in members]
