"""What keeps models pickled by earlier versions loading: old module paths and state migrations.

Every migration lives here, called from the ``__setstate__`` of the class
it migrates, so that the classes themselves describe only today's state.
"""

import importlib
import inspect
import sys
import types

import numpy as np

from skreg._random import MemberNoise

# Modules that held pickled classes in earlier versions and no longer exist, with what they held:
# a pickle names a class by module and name, so each name must be found where the pickle looks.
LEGACY_MODULES = {
    "skreg._classifier": {"RegularizedMLPClassifier": "skreg._estimators.classifier"},
    "skreg._regressor": {"RegularizedMLPRegressor": "skreg._estimators.regressor"},
    "skreg._training": {"TrainingState": "skreg._train.state", "ImprovementTracker": "skreg._train.stopping"},
}


def register_legacy_modules() -> None:
    """Make each old module path an alias module holding today's classes (for ``pickle`` and ``skops``)."""
    for old_name, names in LEGACY_MODULES.items():
        if old_name in sys.modules:
            continue
        alias = types.ModuleType(old_name, f"Old path of {', '.join(names)}, kept for pickles of skreg <= 0.4.")
        for name, module in names.items():
            setattr(alias, name, getattr(importlib.import_module(module), name))
        sys.modules[old_name] = alias


def migrate_estimator_state(estimator_class: type, state: dict, pickled_version: str) -> None:
    """Bring an estimator's pickled ``__dict__`` up to this version's, in place."""
    if pickled_version == "0.1.0":
        _adam_moments_from_0_1(state.get("_training_state"))
    _default_new_parameters(estimator_class, state)


def _default_new_parameters(estimator_class: type, state: dict) -> None:
    """Parameters added since the pickle was made take their default, which keeps the pickled behaviour."""
    for name, parameter in inspect.signature(estimator_class.__init__).parameters.items():
        if parameter.default is not inspect.Parameter.empty and name not in state:
            state[name] = parameter.default


def _adam_moments_from_0_1(training_state) -> None:
    """Rescale the Adam moments of a 0.1.0 pickle, which stored m and v, to 0.2's m/(1-beta_1) and v/(1-beta_2).

    A warm start from such a pickle then continues exactly as 0.1.0 would have.
    """
    optimizer = getattr(training_state, "optimizer", None)
    if hasattr(optimizer, "second_moment"):  # an Adam
        optimizer.first_moment /= 1.0 - optimizer.beta_1
        optimizer.second_moment /= 1.0 - optimizer.beta_2


# The flat fields of a TrainingState pickled by skreg <= 0.4 (and 0.5's development versions before the parts).
FLAT_TRAINING_STATE_FIELDS = ("optimizer", "shuffle_rngs", "dropout_rngs", "samples_seen", "n_iter", "loss_curve",
                              "active_history", "validation_loss_curve", "validation_score_curve", "tracker",
                              "best_params", "stopped", "diverged", "interrupted", "reached_max_iter",
                              "solver_failures")


def migrate_training_state(state: dict) -> None:
    """A TrainingState pickled with flat fields (skreg <= 0.4): group them into today's parts, in place.

    Fields an older version did not have get what a fit then left: every
    epoch active (before 0.3 recorded it), no solver failures (before 0.4).
    The best epoch's weights join the patience record, which now holds them.
    """
    if "history" in state:
        return
    from skreg._train.history import History
    from skreg._train.state import MemberStreams, Outcome, Progress

    old = {name: state.pop(name, None) for name in FLAT_TRAINING_STATE_FIELDS}
    m = state["params"].shape[0]
    loss = old["loss_curve"] or []
    active = old["active_history"]
    active = [np.ones(m, dtype=bool) for _ in loss] if active is None else active
    state["history"] = History(m, loss, active, old["validation_loss_curve"] or [], old["validation_score_curve"] or [])
    # Each member's dropout generator becomes the dropout stream of its noise streams (one per kind of noise).
    state["streams"] = MemberStreams(old["shuffle_rngs"], [MemberNoise.around(rng) for rng in old["dropout_rngs"]])

    def flags(name, dtype):
        return np.zeros(m, dtype=dtype) if old[name] is None else old[name]

    state["progress"] = Progress(flags("n_iter", int), flags("stopped", bool), flags("diverged", bool),
                                 old["samples_seen"] or 0)
    failures = old["solver_failures"] or {}
    state["outcome"] = Outcome([failures.get(k) for k in range(m)], bool(old["interrupted"]),
                               bool(old["reached_max_iter"]))
    state["optimizer"], state["stopping"] = old["optimizer"], old["tracker"]
    if old["tracker"] is not None:
        old["tracker"].best_params = old["best_params"]


def migrate_adam_state(state: dict) -> None:
    """An Adam pickled by 0.3 or earlier had only the step count: rebuild the running powers, in place."""
    if "beta_1_power" in state:
        return
    state["beta_1_power"] = state["beta_1"] ** state["t"]
    state["beta_2_power"] = state["beta_2"] ** state["t"]
    # Their one-member optimizers kept the step rate as a float.
    state["_rate"] = np.broadcast_to(state["_rate"], state["t"].shape).astype(state["_work"].dtype)

