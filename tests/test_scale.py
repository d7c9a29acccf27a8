"""Scale: memory of large ensembles' fits, the memory estimate that refuses impossible fits."""

import concurrent.futures
import threading
import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from threadpoolctl import threadpool_info, threadpool_limits

import skreg._memory
import skreg._train.blas
import skreg._train.evaluation
from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor
from skreg._losses import weighted_mean_loss
from skreg._members import take
from skreg._network import predict_members
from skreg._objective import Objective
from skreg._train import events
from skreg._train.state import TrainingData


@pytest.fixture(autouse=True)
def single_blas_thread():
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def many_rows():
    """50 000 x 20 float32 regression rows: X is 4 MB, 20 members' (m, n) float64 arrays 8 MB each."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50_000, 20), dtype=np.float32)
    y = X[:, :3].sum(axis=1) + rng.standard_normal(50_000, dtype=np.float32)
    return X, y


def _traced_fit(model, X, y) -> tuple:
    """``(training peak, final bookkeeping peak)`` in bytes traced beyond what was live before each part.

    The final bookkeeping starts with the final objective (event ``final_bookkeeping``) and ends
    with the fit: ``loss_``, the out-of-bag estimates, ``estimators_``.
    """
    marks = {}

    def final_bookkeeping_starts(part, **payload):
        if part == "objective":
            marks["training"] = tracemalloc.get_traced_memory()[1] - marks["start"]
            marks["final_start"] = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()

    tracemalloc.start()
    try:
        marks["start"] = tracemalloc.get_traced_memory()[0]
        with events.listening(final_bookkeeping=final_bookkeeping_starts):
            model.fit(X, y)
        final = tracemalloc.get_traced_memory()[1] - marks["final_start"]
    finally:
        tracemalloc.stop()
    return marks["training"], final


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning", "ignore::UserWarning")
@pytest.mark.parametrize("settings, training_bound", [({"oob_score": True}, 3.0), ({"early_stopping": True}, 4.5)])
def test_final_bookkeeping_of_a_large_ensemble_takes_a_fraction_of_X(many_rows, settings, training_bound):
    # Before it was chunked, the final objective alone held every member's row counts (int64), row
    # weights and outputs on all rows at once (5 x X here), and training every member's int64 draws,
    # twice while shuffling them, and out-of-bag validation all members' outputs on all rows
    # (9.6 and 12.7 x X). Here the (m, n) int32 draws take 1 x X, as X has only 20 float32 columns.
    X, y = many_rows
    model = RegularizedMLPRegressor(hidden_layer_sizes=(8,), max_iter=2, n_estimators=20, bootstrap=True,
                                    random_state=0, **settings)
    training, final = _traced_fit(model, X, y)
    assert final < 1.0 * X.nbytes, f"final bookkeeping peak {final / X.nbytes:.2f} x X"
    assert training < training_bound * X.nbytes, f"training peak {training / X.nbytes:.2f} x X"


@pytest.mark.parametrize("bootstrap", [True, False])
def test_objective_in_groups_of_members_is_bitwise_the_objective_of_all_at_once(bootstrap, monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3000, 5))
    y = rng.integers(0, 3, 3000)
    weight = rng.random(3000)
    model = RegularizedMLPClassifier(hidden_layer_sizes=(7,), max_iter=2, n_estimators=7, bootstrap=bootstrap,
                                     random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, sample_weight=weight)
    state = model._training_state
    config = model._train_config(5, 3, 3000)
    Y = model._label_binarizer.transform(y).astype(float)
    data = TrainingData(X, Y, weight, np.stack(model.estimators_samples_), model._regularization())
    # All members at once, as the objective was computed before it was evaluated in groups.
    counts = np.stack([np.bincount(rows, minlength=3000) for rows in data.member_rows])
    row_weight = weight * counts
    coefs, intercepts = config.network.layout.views(state.params)
    output = predict_members(X, coefs, intercepts, config.network.activation, config.network.output_activation)
    objective = Objective(config.network, data.regularization, row_weight.sum(axis=1, dtype=np.float64))
    expected = objective.value(weighted_mean_loss(config.network.loss, Y, output, row_weight), state.params)
    # A budget of nothing: one member at a time.
    monkeypatch.setattr(skreg._train.evaluation, "OBJECTIVE_GROUP_MIN_BYTES", 0)
    assert [g.stop - g.start for g in skreg._train.evaluation.objective_groups(7, 3000, 3, X.dtype, 0)] == [1] * 7
    assert_array_equal(skreg._train.evaluation.noise_free_objective(data, state.params, config), expected)
    assert model.loss_ == float(np.mean(expected))


def test_members_taken_as_a_contiguous_run_share_the_rows():
    rows = np.arange(40, dtype=np.int32).reshape(5, 8)
    cases = {"run": ([1, 2, 3], True), "slice": (slice(1, 4), True), "mask": ([True, False, True, False, False], False),
             "unordered": ([3, 1], False), "gaps": ([0, 2], False)}
    for members, shared in cases.values():
        taken = take(rows, members, view=True)
        assert_array_equal(taken, rows[members])
        assert np.shares_memory(taken, rows) == shared
    shared = np.broadcast_to(np.arange(8), (5, 8))
    taken = take(shared, [0, 3], view=True)
    assert_array_equal(taken, shared[[0, 3]])
    assert taken.strides[0] == 0


# --------------------------------------------------------------------------
# The memory estimate
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def forty_rows():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 5))
    return X, X[:, 0] + 0.1 * rng.standard_normal(40)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_a_fit_beyond_the_available_memory_is_refused_before_it_starts(forty_rows, solver, monkeypatch):
    X, y = forty_rows
    monkeypatch.setattr(skreg._memory, "available_memory_bytes", lambda: 2**30)
    model = RegularizedMLPRegressor(hidden_layer_sizes=(100,), n_estimators=100_000, solver=solver)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"n_estimators=100000 .*hidden_layer_sizes=\(100,\).* GiB .*1\.0 GiB"):
            model.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**24  # refused before the members' arrays were allocated
    assert not hasattr(model, "coefs_")
    # A fit within the memory goes ahead.
    RegularizedMLPRegressor(hidden_layer_sizes=(100,), n_estimators=3, solver=solver, max_iter=5).fit(X, y)


def test_no_check_where_the_available_memory_cannot_be_read(forty_rows, monkeypatch):
    X, y = forty_rows
    monkeypatch.setattr(skreg._memory, "available_memory_bytes", lambda: None)
    monkeypatch.setattr(skreg._memory, "estimated_fit_bytes", lambda *args: 2**80)
    RegularizedMLPRegressor(hidden_layer_sizes=(4,), max_iter=5).fit(X, y)


def test_n_estimators_beyond_any_machine_is_refused(forty_rows):
    if skreg._memory.available_memory_bytes() is None:
        pytest.skip("the available memory cannot be read here")
    X, y = forty_rows
    with pytest.raises(ValueError, match="n_estimators=1000000000000"):
        RegularizedMLPRegressor(n_estimators=10**12).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("settings", [{"hidden_layer_sizes": (100,)}, {"hidden_layer_sizes": (10,), "bootstrap": True},
                                      {"hidden_layer_sizes": (30, 30), "solver": "sgd"}])
def test_the_estimate_is_close_below_the_traced_peak(forty_rows, settings):
    X, y = forty_rows
    model = RegularizedMLPRegressor(n_estimators=500, max_iter=1, random_state=0, **settings)
    config = model._train_config(5, 1, 40)
    estimate = skreg._memory.estimated_fit_bytes(500, config.network.layout.layer_units, 40, config.batch_size, 8,
                                                 config.solver)
    tracemalloc.start()
    try:
        model.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 0.5 * peak < estimate < 1.2 * peak


# --------------------------------------------------------------------------
# BLAS threads for prediction
# --------------------------------------------------------------------------

def _blas_threads() -> set:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.fixture
def two_blas_threads():
    with threadpool_limits(limits=2):
        if _blas_threads() != {2}:
            pytest.skip("BLAS cannot run two threads here")
        yield


def test_small_products_run_on_one_blas_thread_and_large_ones_as_set(two_blas_threads):
    with skreg._train.blas.blas_threads_for(1e7):
        assert _blas_threads() == {1}
    assert _blas_threads() == {2}
    with skreg._train.blas.blas_threads_for(skreg._train.blas.SINGLE_THREAD_FLOPS):
        assert _blas_threads() == {2}


@pytest.fixture
def fitted_and_spied():
    """A small fitted ensemble, test rows, and the BLAS threads each ``predict_members`` call ran with."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RegularizedMLPRegressor(hidden_layer_sizes=(16, 16), n_estimators=4, max_iter=3, random_state=0)
        model.fit(X, X[:, 0])
    seen = []

    def spy():
        seen.append((threading.current_thread() is threading.main_thread(), _blas_threads()))

    with events.listening(prediction=spy):
        yield model, rng.standard_normal((9000, 6)), seen


def test_a_prediction_from_the_main_thread_runs_on_one_blas_thread(two_blas_threads, fitted_and_spied):
    model, X_test, seen = fitted_and_spied
    model.predict(X_test)
    model.predict(X_test, return_std=True)
    assert seen and all(threads == {1} for _, threads in seen)
    assert _blas_threads() == {2}


def test_concurrent_predictions_leave_the_limits_as_they_were(two_blas_threads, fitted_and_spied):
    model, X_test, seen = fitted_and_spied
    expected = model.predict(X_test)
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(model.predict, X_test) for _ in range(24)]
        # The main thread predicts meanwhile, limiting BLAS and restoring it while the others run.
        main_results = [model.predict(X_test) for _ in range(6)]
        results = [future.result() for future in futures] + main_results
    for result in results:
        assert_array_equal(result, expected)
    assert all(threads == {1} for in_main, threads in seen if in_main)
    assert _blas_threads() == {2}
