"""Some members of an ensemble, or several ensembles' members as one: ``take`` and ``concat``.

Everything a fit keeps per member has a leading member axis, and these two
functions are each other's inverse over it, whatever the thing:

- an ndarray: its rows;
- a list of per-member objects (random generators, messages): its items;
- ``None``: ``None`` (a part not made yet, in every piece);
- an object whose class names its per-member fields in ``PER_MEMBER``
  (each taken or concatenated in turn) and the rule for each field the
  members share in ``SHARED`` (``{"samples_seen": max}``); every other
  field is a setting all pieces agree on, kept from the first;
- an object with its own ``take_members(members)`` and
  ``concat_members(parts)`` (a classmethod), for parts with rules of their
  own (the per-epoch curves pad to the longest).

Nothing is guessed from shapes: a field is per-member because its class says so.
"""

import copy

import numpy as np


def member_indices(members, n_members: int) -> np.ndarray:
    """``members`` (indices, a boolean mask, or a slice) as an array of indices."""
    if isinstance(members, slice):
        return np.arange(n_members)[members]
    members = np.asarray(members)
    return np.flatnonzero(members) if members.dtype == bool else members.astype(np.intp, copy=False)


def take(value, members, *, view: bool = False):
    """The part of ``value`` for ``members`` (indices in the order wanted, a boolean mask, or a slice).

    Arrays are copied, as ``array[indices]`` copies them: a state taken
    apart is trained in place without touching the one it came from. With
    ``view=True`` (data read, never written) they are views where they can
    be (see ``take_rows``), so that groups of a big ensemble share its
    bootstrap draws. Per-member objects in lists are the same objects.
    """
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if view:
            return take_rows(value, members)
        return value[members].copy() if isinstance(members, slice) else value[member_indices(members, len(value))]
    if isinstance(value, list):
        return [value[k] for k in member_indices(members, len(value))]
    if hasattr(value, "take_members"):
        return value.take_members(members)
    taken = copy.copy(value)
    for name in type(value).PER_MEMBER:
        setattr(taken, name, take(getattr(value, name), members, view=view))
    return taken


def take_rows(rows: np.ndarray, members) -> np.ndarray:
    """``rows[members]``, as a view where it can be.

    A slice, or indices forming a contiguous ascending run, gives a view;
    rows shared by every member (a broadcast, stride 0) stay a broadcast.
    """
    if isinstance(members, slice):
        return rows[members]
    members = member_indices(members, rows.shape[0])
    if rows.strides[0] == 0:
        return np.broadcast_to(rows[0], (members.size, *rows.shape[1:]))
    if members.size and np.array_equal(members, np.arange(members[0], members[0] + members.size)):
        return rows[members[0] : members[0] + members.size]
    return rows[members]


def concat(parts: list):
    """One value for the members of ``parts``, in order: the inverse of ``take``.

    Parts may be ``None`` only all together (callers stand in for a part
    missing from some pieces, as only they know its rule).
    """
    first = parts[0]
    if all(part is None for part in parts):
        return None
    if any(part is None for part in parts):
        raise ValueError(f"cannot concatenate members of which only some have a {type(first).__name__}")
    if isinstance(first, np.ndarray):
        return np.concatenate(parts)
    if isinstance(first, list):
        return [item for part in parts for item in part]
    if hasattr(type(first), "concat_members"):
        return type(first).concat_members(parts)
    return concat_fields(parts)


def concat_fields(parts: list):
    """``concat`` of objects declaring ``PER_MEMBER`` (and ``SHARED``) fields, field by field."""
    cls = type(parts[0])
    merged = copy.copy(parts[0])
    for name in cls.PER_MEMBER:
        setattr(merged, name, concat([getattr(part, name) for part in parts]))
    for name, rule in getattr(cls, "SHARED", {}).items():
        setattr(merged, name, rule(getattr(part, name) for part in parts))
    return merged


def concat_in_order(parts: list, members: list):
    """One value from ``parts``, which hold disjoint ``members`` (index arrays, every member once), in member order."""
    if len(parts) == 1:
        return parts[0]
    return take(concat(parts), np.argsort(np.concatenate(members), kind="stable"))


def consecutive_runs(keys: list) -> list:
    """Slices of the runs of equal consecutive ``keys`` (one per member), in order.

    Plain Python: it runs every step over a few members, where numpy's
    calls would cost more than the loop.
    """
    starts = [k for k in range(len(keys)) if k == 0 or keys[k] != keys[k - 1]]
    return [slice(start, stop) for start, stop in zip(starts, starts[1:] + [len(keys)], strict=True)]
