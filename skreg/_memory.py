"""What a fit will need in memory, estimated before anything is allocated, and what the machine has.

Pure arithmetic on the problem's sizes, so that a fit far beyond the
machine (``n_estimators=10**6``) is refused with a clear message instead of
being killed by the operating system halfway through.
"""

import os

GIB = 2.0**30

# Copies of the flat (m, n_params) parameters that a stochastic fit holds: the parameters, their copy
# from before training, the gradients, the optimizer's state (Adam's two moments; SGD's velocity and a
# work array), the divergence guard's two copies and the last complete epoch's.
PARAMETER_COPIES = 8
# Python objects per member (random generators, the member estimator of ``estimators_``, ...): measured
# about 6-8 kB kept per member, counted low.
PYTHON_BYTES_PER_MEMBER = 4096


def estimated_fit_bytes(n_members: int, layer_units: tuple, n_draws: int, batch_size: int, itemsize: int,
                        solver: str) -> int:
    """A low estimate of the bytes a fit allocates beyond its input data.

    Parameters
    ----------
    n_members : int
    layer_units : tuple of int
        ``(n_features, *hidden_layer_sizes, n_outputs)``.
    n_draws : int
        Rows each member trains on.
    batch_size : int
    itemsize : int
        Bytes of one float of the parameters (4 or 8).
    solver : str

    Returns
    -------
    int
        Bytes: every member's parameter copies, rows (int32 draws and their epoch order) and Python
        objects, plus the activations and deltas of one step (all members on a minibatch; for
        'lbfgs', one member on all rows). The real peak is somewhat higher (optimizer work arrays,
        temporaries), never lower by much.
    """
    n_params = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:], strict=True))
    units = sum(layer_units)
    per_member = PYTHON_BYTES_PER_MEMBER + 8 * n_draws
    if solver == "lbfgs":
        # Members are optimised one after the other on all their rows.
        per_member += 2 * n_params * itemsize
        one_at_a_time = 2 * n_draws * units * itemsize + PARAMETER_COPIES * n_params * 8
        return int(n_members * per_member + one_at_a_time)
    per_member += PARAMETER_COPIES * n_params * itemsize + 2 * min(batch_size, n_draws) * units * itemsize
    return int(n_members * per_member)


def available_memory_bytes() -> int | None:
    """Memory this process can still take, or None where it cannot be read.

    Linux: ``MemAvailable`` of ``/proc/meminfo`` (free memory plus what the
    kernel can reclaim), bounded by a cgroup v2 limit; elsewhere the free
    physical pages from ``sysconf``, if the system reports them.
    """
    available = _meminfo_available()
    if available is None:
        try:
            available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            return None
    limit = _cgroup_room()
    return available if limit is None else min(available, limit)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """Room left under this process's cgroup v2 memory limit, None without a limit."""
    try:
        with open("/sys/fs/cgroup/memory.max") as limit_file:
            limit = limit_file.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as current_file:
            return max(int(limit) - int(current_file.read().strip()), 0)
    except (OSError, ValueError):
        return None
