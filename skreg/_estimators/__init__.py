"""The estimator layer: parameters, validation, the training problem, fitted attributes.

``base.BaseRegularizedMLP`` is assembled from one mixin per job:
``problem`` (rows, splits, initial state), ``validation`` (the per-epoch
validator), ``plan`` (workers and threads) and ``fitted`` (attributes set
from the trained state); ``classifier`` and ``regressor`` add the targets.
"""
