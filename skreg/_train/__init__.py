"""The training layer: it knows nothing of scikit-learn.

It receives clean arrays, a ``TrainConfig`` and random generators, and
updates a ``TrainingState`` that survives between calls (``warm_start`` and
``partial_fit`` continue it). Every part of the state is per member, split
and merged by ``skreg._members.take`` and ``concat``. Read in this order:
``state`` (what is trained), ``history`` (the curves), ``stochastic`` (the
epoch loop of sgd and adam) with ``stopping``, ``lbfgs``, then ``parallel``
(groups of members side by side), ``interrupts`` (Ctrl-C) and ``blas``
(thread limits).
"""
