"""Stochastic optimizers updating a flat ``(m, n_params)`` parameter array in place.

Each row is one member of the ensemble. ``member_scale`` (shape ``(m, 1)``)
multiplies every member's step: 1 for a member still training, 0 for one
that has stopped (``freeze``). A frozen member's parameters *and* optimizer
state stand still, so a member ends the same whether it waited, frozen,
beside members still training or its group of members had finished.

After each ``step``, ``prox_step_sizes()`` gives the step size of the last
update per coordinate, which the L1 proximal step scales its threshold by:
with it, the fixed points of the proximal iteration are exactly the
minimisers of the penalised objective.

Each optimizer names its per-member arrays in ``PER_MEMBER`` (the rows
``skreg._members.take`` and ``concat`` split and merge); its other
attributes are settings every member shares.
"""

import math
from typing import Protocol

import numpy as np

from skreg._compat import migrate_adam_state


class Optimizer(Protocol):
    """What the training loop asks of an optimizer; ``SGD`` and ``Adam`` are the two, for any number of members.

    Every method works on all members at once (rows of ``params``), and
    every per-member array has a leading member axis.
    """

    member_scale: np.ndarray

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        """Update ``params`` in place from ``grads`` (zero in the rows of frozen members)."""

    def prox_step_sizes(self, n_weights: int) -> np.ndarray:
        """Step sizes of the last update on the first ``n_weights`` parameters (for the L1 proximal step)."""

    def freeze(self, members: np.ndarray) -> None:
        """Stop ``members``: no more steps."""

    def reset_members(self, members: np.ndarray) -> None:
        """Forget the state of ``members`` (after their parameters were restored)."""

    def end_epoch(self, samples_seen: int, trained: np.ndarray) -> None:
        """The epoch's schedule, for the members that ``trained``."""

    def reduce_learning_rate(self, members: np.ndarray) -> np.ndarray:
        """Lower the rate of ``members`` out of patience; return those that must stop instead."""


class SGD:
    """Stochastic gradient descent with (Nesterov) momentum.

    Parameters
    ----------
    shape : tuple
        ``(m, n_params)``.
    dtype : numpy dtype
    learning_rate_init : float
    momentum : float
    nesterov : bool
    schedule : {'constant', 'invscaling', 'adaptive'}
    power_t : float
        Exponent of the ``'invscaling'`` schedule.

    Notes
    -----
    The update is ``v <- momentum * v - lr * g`` then ``w <- w + v`` (or, with
    Nesterov, ``w <- w + momentum * v - lr * g``). At a fixed point the
    velocity equals ``-lr * g / (1 - momentum)``, so the effective step size
    used for the L1 proximal threshold is ``lr / (1 - momentum)`` (``lr`` for
    ``momentum=1``, which has no such fixed point).
    """

    PER_MEMBER = ("learning_rate", "member_scale", "velocity", "_work")

    def __init__(self, shape, dtype, *, learning_rate_init, momentum, nesterov, schedule, power_t):
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.nesterov = nesterov
        self.schedule = schedule
        self.power_t = power_t
        self.learning_rate = np.full((shape[0], 1), learning_rate_init, dtype=dtype)
        self.member_scale = np.ones((shape[0], 1), dtype=dtype)
        self.velocity = np.zeros(shape, dtype=dtype)
        self._work = np.empty(shape, dtype=dtype)

    def reset_members(self, members: np.ndarray) -> None:
        """Forget the velocity of ``members`` (after their parameters were restored)."""
        self.velocity[members] = 0

    def freeze(self, members: np.ndarray) -> None:
        """Stop ``members``: no more steps, and no velocity to carry on with.

        Frozen steps would zero the velocity anyway (it is scaled by
        ``member_scale``); zeroing it now makes it so even when no step follows.
        """
        self.member_scale[members] = 0
        self.velocity[members] = 0

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        """Update ``params`` in place from ``grads``."""
        rate = self.learning_rate * self.member_scale
        scaled_grad = np.multiply(grads, rate, out=self._work)
        # A frozen member's velocity is zeroed too, or momentum would keep moving it.
        self.velocity *= self.momentum * self.member_scale
        self.velocity -= scaled_grad
        if self.nesterov:
            params -= scaled_grad
            params += self.momentum * self.velocity
        else:
            params += self.velocity

    def prox_step_sizes(self, n_weights: int) -> np.ndarray:
        """Effective step size per member, shape (m, 1), the same for every weight.

        With ``momentum=1`` the velocity never decays and there is no fixed
        point to scale by (``lr / 0`` would zero every weight): the threshold
        then uses the plain ``lr``.
        """
        rate = self.learning_rate * self.member_scale
        return rate / (1.0 - self.momentum) if self.momentum < 1 else rate

    def end_epoch(self, samples_seen: int, trained: np.ndarray) -> None:
        """Apply the ``'invscaling'`` schedule (scikit-learn's ``lr0 / (t + 1) ** power_t``) to ``trained`` members."""
        if self.schedule == "invscaling":
            self.learning_rate[trained] = self.learning_rate_init / (samples_seen + 1) ** self.power_t

    def reduce_learning_rate(self, members: np.ndarray) -> np.ndarray:
        """Divide the rate of ``members`` by 5 (``'adaptive'``); return which must stop instead.

        A member whose rate is already below 1e-6 stops, as in scikit-learn.
        """
        if self.schedule != "adaptive":
            return members
        exhausted = members & (self.learning_rate[:, 0] <= 1e-6)
        self.learning_rate[members & ~exhausted] /= 5.0
        return exhausted


class Adam:
    """Adam (Kingma & Ba, 2014) with scikit-learn's bias correction.

    ``lr_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` (``t`` counted per
    member) and
    ``w <- w - lr_t * m / (sqrt(v) + epsilon)``; the per-coordinate step size
    is ``lr_t / (sqrt(v) + epsilon)``.

    The moments are stored rescaled, ``first_moment = m / (1 - beta_1)`` and
    ``second_moment = v / (1 - beta_2)``, so that each moment's update is two
    array passes (``m~ <- beta_1 m~ + g``) instead of three; the step folds
    the constants back into its rate and epsilon.

    ``beta_1**t`` and ``beta_2**t`` are kept as running products, one
    multiplication per step. Unlike a power function, a multiplication is
    rounded the same by every CPU and every numpy build (vectorised ``pow``
    rounds differently from Python's on AVX-512), so a member's updates do
    not depend on the machine's instruction set or on how many members
    train beside it.
    """

    PER_MEMBER = ("t", "beta_1_power", "beta_2_power", "member_scale", "first_moment", "second_moment",
                  "_denominator", "_work", "_rate")

    def __init__(self, shape, dtype, *, learning_rate_init, beta_1, beta_2, epsilon):
        self.learning_rate_init = learning_rate_init
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.t = np.zeros((shape[0], 1))
        self.beta_1_power = np.ones((shape[0], 1))
        self.beta_2_power = np.ones((shape[0], 1))
        self.member_scale = np.ones((shape[0], 1), dtype=dtype)
        self.first_moment = np.zeros(shape, dtype=dtype)
        self.second_moment = np.zeros(shape, dtype=dtype)
        self._denominator = np.empty(shape, dtype=dtype)
        self._work = np.empty(shape, dtype=dtype)
        self._rate = np.zeros((shape[0], 1), dtype=dtype)

    def __setstate__(self, state):
        migrate_adam_state(state)
        self.__dict__.update(state)

    def reset_members(self, members: np.ndarray) -> None:
        """Forget the moments of ``members`` (after their parameters were restored)."""
        self.first_moment[members] = 0
        self.second_moment[members] = 0

    def freeze(self, members: np.ndarray) -> None:
        """Stop ``members``: no more steps; their moments and step count stand still."""
        self.member_scale[members] = 0

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        """Update ``params`` in place from ``grads`` (zero in the rows of frozen members)."""
        # Steps are counted per member: a frozen member's count stands still, so a
        # member's updates do not depend on which other members it trains beside.
        self.t += self.member_scale
        all_training = bool(self.member_scale.all())
        decay_1, decay_2 = (self.beta_1, self.beta_2) if all_training else self._frozen_decays()
        self.beta_1_power *= decay_1
        self.beta_2_power *= decay_2
        work = self._work
        # Cast as the float decays are when multiplied into a float32 array, so both cases round alike.
        self.first_moment *= np.asarray(decay_1, dtype=work.dtype)
        self.first_moment += grads
        np.multiply(grads, grads, out=work)
        self.second_moment *= np.asarray(decay_2, dtype=work.dtype)
        self.second_moment += work
        self._rate = self._step_rate(all_training)
        # sqrt(v) + epsilon = sqrt(1 - beta_2) * (sqrt(v~) + epsilon / sqrt(1 - beta_2))
        np.sqrt(self.second_moment, out=self._denominator)
        self._denominator += self.epsilon / math.sqrt(1.0 - self.beta_2)
        np.divide(self.first_moment, self._denominator, out=work)
        work *= self._rate
        params -= work

    def _frozen_decays(self) -> tuple:
        """Per-member ``(beta_1, beta_2)``, 1 for frozen members, whose moments and powers then stand still.

        The caller gives a frozen member a zero gradient row, so ``m~ <- 1 * m~ + 0``.
        Multiplying by the float ``beta_1`` or by an array holding it rounds
        the same, so members that all train need no per-member array.
        """
        frozen = self.member_scale == 0
        return np.where(frozen, 1.0, self.beta_1), np.where(frozen, 1.0, self.beta_2)

    def _step_rate(self, all_training: bool) -> np.ndarray:
        """``member_scale * lr_t * (1 - beta_1) / sqrt(1 - beta_2)`` per member, the rate of the rescaled moments.

        Shape (m, 1). A member frozen before its first step has no rate (0).
        """
        bias_1 = 1.0 - self.beta_1_power
        if not all_training:
            bias_1[self.t == 0] = 1.0  # 1 - beta_1**0 = 0: a division by zero, multiplied by 0 below
        rate = np.sqrt(1.0 - self.beta_2_power)
        rate *= self.learning_rate_init * (1.0 - self.beta_1) / math.sqrt(1.0 - self.beta_2)
        rate /= bias_1
        return np.multiply(rate, self.member_scale, out=self._rate)

    def prox_step_sizes(self, n_weights: int) -> np.ndarray:
        """Per-coordinate step size of the last update on the first ``n_weights`` parameters.

        The update was ``rate * m~ / denominator`` with ``m~ = m / (1 - beta_1)``.
        """
        return (self._rate / (1.0 - self.beta_1)) / self._denominator[:, :n_weights]

    def end_epoch(self, samples_seen: int, trained: np.ndarray) -> None:
        """Adam has no epoch schedule."""

    def reduce_learning_rate(self, members: np.ndarray) -> np.ndarray:
        """Adam has no adaptive schedule: every member asked to reduce stops."""
        return members
