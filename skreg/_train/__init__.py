"""The training layer: it knows nothing of scikit-learn.

It receives clean arrays, a ``TrainConfig`` and random generators, and
updates a ``TrainingState`` that survives between calls (``warm_start`` and
``partial_fit`` continue it). Read in this order: ``state`` (what is
trained), ``stochastic`` (the epoch loop of sgd and adam) with ``stopping``
and ``history``, ``lbfgs``, then ``parallel`` (groups of members side by
side), ``interrupts`` (Ctrl-C) and ``blas`` (thread limits).
"""
