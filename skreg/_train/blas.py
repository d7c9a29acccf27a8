"""How many BLAS threads the products of training and prediction get."""

import contextlib
import functools
import threading
from pathlib import Path

from threadpoolctl import ThreadpoolController


@functools.cache
def threadpool_controller() -> ThreadpoolController:
    """threadpoolctl's handle on the loaded thread pools (looked up once: it scans the disk)."""
    return ThreadpoolController()


def blas_controller():
    """Every BLAS library loaded (numpy's and SciPy's)."""
    return threadpool_controller().select(user_api="blas")


def _scipy_blas_controller():
    """The BLAS libraries shipped inside SciPy, or None."""
    controller = threadpool_controller()
    scipy_libraries = [lib.filepath for lib in controller.lib_controllers if "scipy" in Path(lib.filepath).parts[-2]]
    return controller.select(filepath=scipy_libraries) if scipy_libraries else None


@contextlib.contextmanager
def one_blas_thread_per_group():
    """BLAS on one thread, as every group of members side by side has, while a lone group trains.

    A product split over several BLAS threads can round differently from the
    same product on one thread. Ensemble members therefore always train on
    one BLAS thread, whether beside other groups, alone in a joblib worker
    that has threads to spare, or in one group: member k then ends bitwise
    the same whatever the ensemble size, ``n_jobs`` or the number of cores.
    Limits are process-wide, so this applies from the main thread only (as
    ``side_by_side_groups``); elsewhere BLAS keeps its threads.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with blas_controller().limit(limits=1):
        yield


@contextlib.contextmanager
def single_threaded_scipy_blas():
    """Run SciPy's own BLAS on one thread (numpy's BLAS keeps its threads).

    L-BFGS-B's internal work is on vectors of a few thousand entries, where
    a multi-threaded OpenBLAS spends its time waking threads: with 2 threads
    here each iteration took ~13 ms instead of ~0.25 ms.
    """
    scipy_blas = _scipy_blas_controller()
    if scipy_blas is None:
        yield
        return
    with scipy_blas.limit(limits=1):
        yield


# Flops of one matrix product below which it runs on one BLAS thread when predicting. Measured on 2 cores
# shared with other processes: 2 OpenBLAS threads took 3-60x longer than one for every product of a
# prediction block (up to 4096 x 64 x 64 and 1024 x 256 x 256: 1e7-1.3e8 flops), as a descheduled thread
# stalls each call for a time slice; only products of ~5e8 flops and more gained from a second thread.
SINGLE_THREAD_FLOPS = 2**30


def blas_threads_for(flops_per_product: float):
    """A context running BLAS on one thread for products below ``SINGLE_THREAD_FLOPS``, from the main thread.

    Other threads leave the limits alone (predictions may run in several
    user threads at once): limits are process-wide, so one thread's restore
    would undo another's limit, and OpenBLAS (0.3.31) ignores a limit set
    from another thread once the main thread has set one. BLAS may round a
    product split over threads differently in the last bits, so a prediction
    made from another thread can differ there from the main thread's.
    """
    if flops_per_product >= SINGLE_THREAD_FLOPS or threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()
    return blas_controller().limit(limits=1)
