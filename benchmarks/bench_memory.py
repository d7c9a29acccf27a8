"""Peak memory of an ensemble fit beyond its training data, each fit in a fresh process.

Usage::

    python benchmarks/bench_memory.py [--only NAME[,NAME...]] [--epochs N]

Workloads (float32 regression, 50 features, hidden (32,), adam, batch 200, ``bootstrap=True``):

* ``20x1M``: 20 members on 1 000 000 rows (X = 200 MB);
* ``50x200k``: 50 members on 200 000 rows (X = 40 MB);
* ``1x1M``: one network on 1 000 000 rows, for reference.

Each fit runs in a child process of its own, twice:

* **RSS**: the child resets its peak resident set size (Linux ``/proc/self/clear_refs``), fits, and
  reports the peak (``VmHWM``) minus the resident size just before the fit, so X and the imports are
  not counted; this includes BLAS buffers and allocator slack.
* **traced**: tracemalloc runs during the fit (numpy reports its buffers to it; deterministic). The
  peak is split into the training part and the final bookkeeping (everything from the final objective
  on: ``loss_``, out-of-bag estimates, ``estimators_``).

Figures are MB and multiples of X (``X.nbytes``). Target: the whole fit's peak beyond X at most 1 x X
for 20 members on 1M x 50 float32.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

MB = 1024.0**2
WORKLOADS = {"20x1M": (20, 1_000_000), "50x200k": (50, 200_000), "1x1M": (1, 1_000_000)}
N_FEATURES = 50


def _status_kb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(name: str, mode: str, epochs: int) -> dict:
    """Fit one workload in this (fresh) process; the figures as a dict."""
    import tracemalloc
    import warnings

    import numpy as np

    from skreg import RegularizedMLPRegressor
    from skreg._train import events

    n_members, n_rows = WORKLOADS[name]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, N_FEATURES), dtype=np.float32)
    y = X[:, :5].sum(axis=1) + rng.standard_normal(n_rows, dtype=np.float32)
    model = RegularizedMLPRegressor(hidden_layer_sizes=(32,), max_iter=epochs, n_estimators=n_members,
                                    bootstrap=n_members > 1, random_state=0, tol=0.0, n_iter_no_change=10**9)
    warnings.simplefilter("ignore")
    result = {"name": name, "X_MB": X.nbytes / MB}
    if mode == "rss":
        reset = _reset_peak_rss()
        before = _status_kb("VmRSS")
        if not reset or before is None:  # no Linux /proc: the peak since start, less accurate
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        model.fit(X, y)
        result["seconds"] = time.perf_counter() - start
        peak = _status_kb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result["rss_MB"] = (peak - before) / 1024.0
        return result
    phases = {}

    def final_bookkeeping_starts(part, **payload):
        if part == "objective":  # training is done: the final objective comes first
            phases["training"] = tracemalloc.get_traced_memory()[1] - phases["start"]
            tracemalloc.reset_peak()
            phases["start_final"] = tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    phases["start"] = tracemalloc.get_traced_memory()[0]
    with events.listening(final_bookkeeping=final_bookkeeping_starts):
        model.fit(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    result["traced_training_MB"] = phases["training"] / MB
    # The final part's peak counts what training left allocated beyond the start (the fitted state).
    result["traced_final_MB"] = (peak - phases["start"]) / MB
    result["traced_MB"] = max(result["traced_training_MB"], result["traced_final_MB"])
    return result


def run(name: str, mode: str, epochs: int) -> dict:
    command = [sys.executable, __file__, "--child", name, "--mode", mode, "--epochs", str(epochs)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{name} ({mode}) failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(WORKLOADS), help=f"comma-separated subset of {', '.join(WORKLOADS)}")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--modes", default="rss,traced", help="rss, traced or both")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="rss", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.mode, args.epochs)))
        return
    import skreg

    print(f"skreg {skreg.__version__} from {os.path.dirname(skreg.__file__)}; python {sys.version.split()[0]}; "
          f"{args.epochs} epoch(s); each fit in a fresh process")
    header = f"{'workload':10} {'X MB':>7} {'RSS MB':>8} {'xX':>6} {'traced MB':>10} {'xX':>6} " \
             f"{'training':>9} {'final':>7} {'fit s':>6}"
    print(header)
    print("-" * len(header))
    modes = args.modes.split(",")
    for name in args.only.split(","):
        rss = run(name, "rss", args.epochs) if "rss" in modes else {}
        traced = run(name, "traced", args.epochs) if "traced" in modes else {}
        x_mb = (rss or traced)["X_MB"]
        nan = float("nan")
        print(f"{name:10} {x_mb:7.0f} {rss.get('rss_MB', nan):8.0f} {rss.get('rss_MB', nan) / x_mb:6.2f} "
              f"{traced.get('traced_MB', nan):10.0f} {traced.get('traced_MB', nan) / x_mb:6.2f} "
              f"{traced.get('traced_training_MB', nan):9.0f} {traced.get('traced_final_MB', nan):7.0f} "
              f"{rss.get('seconds', nan):6.1f}", flush=True)
    print("RSS = peak resident memory of the fit beyond what the process held before it (X included there);\n"
          "traced = tracemalloc peak of numpy/Python allocations during the fit, split into training and the\n"
          "final bookkeeping (loss_, out-of-bag estimates, estimators_); xX = multiple of X.nbytes.")


if __name__ == "__main__":
    main()
