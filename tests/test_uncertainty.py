"""MC dropout, the classifier's uncertainty split, adaptive intervals, and the route through Pipelines.

Small, robust versions of the claims that ``benchmarks/bench_uncertainty.py`` measures at full size:
loose bounds that hold for any seed here, on any CPU and under load (no timing).
"""

import pickle
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skreg
from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor, _mc_dropout
from skreg._mc_dropout import mc_dropout_blocks, mc_dropout_masks, predictive_entropies, row_keys
from skreg._random import member_keys
from skreg._uncertainty import ScaleMoments

pytestmark = [pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
              pytest.mark.filterwarnings("ignore:.*never out of bag:UserWarning")]


def heteroscedastic_sine(n, seed):
    """y = sin(x) + noise whose std grows linearly from 0.05 to 0.5 over x in [-3, 3]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, n)
    return x[:, None], np.sin(x) + (0.05 + 0.075 * (x + 3)) * rng.normal(size=n)


@pytest.fixture(scope="module")
def sine():
    return heteroscedastic_sine(800, 0), heteroscedastic_sine(4000, 1)


@pytest.fixture(scope="module")
def bagged_sine(sine):
    (X, y), _ = sine
    return RegularizedMLPRegressor(hidden_layer_sizes=(32,), n_estimators=12, bootstrap=True, learning_rate_init=0.01,
                                   max_iter=150, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def dropout_regressor(sine):
    (X, y), _ = sine
    return RegularizedMLPRegressor(hidden_layer_sizes=(32, 16), n_estimators=3, dropout=0.2, learning_rate_init=0.01,
                                   max_iter=60, mc_dropout=8, random_state=0).fit(X, y)


# --- MC dropout -------------------------------------------------------------------------------------------------

def test_masks_drop_at_the_rate_and_rescale():
    keys = row_keys(np.random.default_rng(0).normal(size=(20_000, 3)))
    mask = mc_dropout_masks(keys, np.array([7, 8], dtype=np.uint64), np.array([[0.3], [0.0]]), (33,), np.float64)[0]
    dropped = mask[0] == 0
    assert abs(dropped.mean() - 0.3) < 0.01
    assert np.allclose(mask[0][~dropped], 1 / 0.7)
    assert np.all(np.abs(dropped.mean(axis=0) - 0.3) < 0.03)  # every unit, both halves of the hashes
    assert np.all(mask[1] == 1.0)  # a member with rate 0 keeps every unit
    assert abs(np.corrcoef(dropped[:, 0], dropped[:, 17])[0, 1]) < 0.05


def test_a_row_gets_its_masks_wherever_it_sits():
    X = np.random.default_rng(1).normal(size=(300, 4))
    X[5] = X[100]  # a repeated row
    order = np.random.default_rng(2).permutation(300)
    keys = row_keys(X)
    assert keys[5] == keys[100] and len(np.unique(keys)) == 299
    np.testing.assert_array_equal(row_keys(X[order]), keys[order])
    np.testing.assert_array_equal(row_keys(sp.csr_matrix(X)), keys)
    np.testing.assert_array_equal(row_keys(X.astype(np.float32).astype(np.float64)),
                                  row_keys(X.astype(np.float32)))
    np.testing.assert_array_equal(row_keys(np.where(X > 0, X, -0.0) + 0 * X), row_keys(np.where(X > 0, X, 0.0)))


def test_member_keys_depend_on_the_member_and_prefix_on_the_draws():
    keys = member_keys(3, "mc_dropout", range(4), 5)
    np.testing.assert_array_equal(member_keys(3, "mc_dropout", [2], 3)[0], keys[2, :3])
    assert len(np.unique(keys)) == keys.size
    assert not np.array_equal(member_keys(4, "mc_dropout", range(4), 5), keys)


def test_mc_dropout_predictions_are_a_function_of_x(dropout_regressor, sine):
    _, (X_test, _) = sine
    model = dropout_regressor
    mean, std = model.predict(X_test, return_std=True)
    again = model.predict(X_test, return_std=True)
    np.testing.assert_array_equal(mean, again[0])
    np.testing.assert_array_equal(std, again[1])
    order = np.random.default_rng(0).permutation(len(X_test))
    np.testing.assert_allclose(model.predict(X_test[order]), mean[order], rtol=1e-12, atol=1e-12)
    halves = np.concatenate([model.predict(X_test[:1234]), model.predict(X_test[1234:])])
    np.testing.assert_allclose(halves, mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(model.predict(sp.csr_matrix(X_test)), mean, rtol=1e-12, atol=1e-12)
    assert not np.allclose(mean, model.set_params(mc_dropout=0).predict(X_test))
    model.set_params(mc_dropout=8)


def test_blocks_of_any_size_give_the_same_draws(dropout_regressor, sine, monkeypatch):
    _, (X_test, _) = sine
    expected = dropout_regressor.predict(X_test, return_std=True)
    monkeypatch.setattr(_mc_dropout, "MC_OUTPUT_BLOCK_BYTES", 2**12)  # blocks of 64 rows
    assert _mc_dropout.mc_dropout_rows(dropout_regressor._stacked_parameters()[0], 8) == 64
    small_blocks = dropout_regressor.predict(X_test, return_std=True)
    for a, b in zip(expected, small_blocks, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_more_draws_keep_the_first_ones_and_members_their_own(dropout_regressor, sine):
    _, (X_test, _) = sine
    coefs, intercepts = dropout_regressor._stacked_parameters()
    rates = dropout_regressor._fitted_dropout_rates()
    args = (X_test[:500], coefs, intercepts, "relu", "identity", rates)
    few = np.concatenate([out for _, out in mc_dropout_blocks(*args, member_keys(0, "mc_dropout", range(3), 3))], 2)
    many = np.concatenate([out for _, out in mc_dropout_blocks(*args, member_keys(0, "mc_dropout", range(3), 6))], 2)
    np.testing.assert_array_equal(few, many[:, :3])
    alone = np.concatenate([out for _, out in mc_dropout_blocks(
        X_test[:500], [W[1:2] for W in coefs], [b[1:2] for b in intercepts], "relu", "identity", rates[1:2],
        member_keys(0, "mc_dropout", [1], 3))], 2)
    np.testing.assert_array_equal(alone[0], few[1])
    assert len({few[0, t].tobytes() for t in range(3)}) == 3  # the draws differ


def test_mc_dropout_is_thread_safe(dropout_regressor, sine):
    _, (X_test, _) = sine
    expected = dropout_regressor.predict(X_test)
    results = [None] * 4

    def run(i):
        results[i] = dropout_regressor.predict(X_test)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)


def test_mc_dropout_samples_the_rates_the_network_trained_with(dropout_regressor, sine):
    _, (X_test, _) = sine
    model = pickle.loads(pickle.dumps(dropout_regressor))
    expected = model.predict(X_test)
    model.set_params(dropout=0.0)
    np.testing.assert_array_equal(model.predict(X_test), expected)
    assert all(member.mc_dropout == 0 for member in model.estimators_)


def test_mc_dropout_without_dropout_warns_and_predicts_deterministically(bagged_sine, sine):
    _, (X_test, _) = sine
    expected = bagged_sine.predict(X_test)
    model = pickle.loads(pickle.dumps(bagged_sine)).set_params(mc_dropout=5)
    with pytest.warns(UserWarning, match="trained without dropout"):
        np.testing.assert_array_equal(model.predict(X_test), expected)


def test_mc_dropout_std_grows_outside_the_training_range():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, 600)
    X, y = x[:, None], np.sin(2 * x) + 0.1 * rng.normal(size=600)
    net = RegularizedMLPRegressor(hidden_layer_sizes=(64,), dropout=0.2, mc_dropout=30, learning_rate_init=0.01,
                                  max_iter=200, random_state=0).fit(X, y)
    _, inside = net.predict(np.linspace(-2, 2, 100)[:, None], return_std=True)
    _, outside = net.predict(np.r_[np.linspace(-5, -4, 50), np.linspace(4, 5, 50)][:, None], return_std=True)
    assert outside.mean() > 2 * inside.mean()
    band = net.predict_interval(X[:5], method="percentile")  # a single net's draws make a band
    assert np.all(band[:, 1] > band[:, 0])


def test_single_network_without_mc_dropout_has_no_percentile_band(sine):
    (X, y), _ = sine
    net = RegularizedMLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="needs an ensemble"):
        net.predict_interval(X, method="percentile")


def test_mc_dropout_rejects_bad_values(sine):
    (X, y), _ = sine
    for bad in (-1, 1.5, "10"):
        with pytest.raises(ValueError, match="mc_dropout"):
            RegularizedMLPRegressor(mc_dropout=bad, max_iter=2).fit(X, y)


# --- The classifier's uncertainty ------------------------------------------------------------------------------

def test_entropy_split_by_hand():
    samples = np.array([[[0.9, 0.1]], [[0.1, 0.9]]])  # two confident samples that disagree
    total, expected, mutual = predictive_entropies(samples, "softmax")
    h = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))
    np.testing.assert_allclose(total, np.log(2))
    np.testing.assert_allclose(expected, h)
    np.testing.assert_allclose(mutual, np.log(2) - h)
    binary = predictive_entropies(samples[:, :, 1:], "logistic")
    for a, b in zip(binary, (total, expected, mutual), strict=True):
        np.testing.assert_allclose(a, b)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(300, centers=[[-2, 0], [2, 0], [0, 2.5]], cluster_std=0.7, random_state=0)
    return X, y


def test_predict_uncertainty_splits_the_entropy(blobs):
    X, y = blobs
    model = RegularizedMLPClassifier(hidden_layer_sizes=(16,), n_estimators=6, bootstrap=True, dropout=0.1,
                                     learning_rate_init=0.01, max_iter=80, random_state=0).fit(X, y)
    for draws in (0, 5):
        model.set_params(mc_dropout=draws)
        result = model.predict_uncertainty(X)
        assert set(result) == {"entropy", "expected_entropy", "mutual_information"}
        assert all(value.shape == (len(X),) for value in result.values())
        assert np.all(result.mutual_information >= 0)
        np.testing.assert_allclose(result.entropy, result.expected_entropy + result.mutual_information, atol=1e-12)
        proba = model.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_allclose(result.entropy, -np.sum(proba * np.log(np.clip(proba, 1e-300, None)), axis=1),
                                   atol=1e-9)


def test_mutual_information_is_higher_away_from_the_data(blobs):
    X, y = blobs
    model = RegularizedMLPClassifier(hidden_layer_sizes=(32,), n_estimators=10, bootstrap=True,
                                     learning_rate_init=0.01, max_iter=150, random_state=0).fit(X, y)
    grid = np.stack(np.meshgrid(np.linspace(-6, 6, 25), np.linspace(-5, 7, 25)), -1).reshape(-1, 2)
    far = grid[np.min(np.linalg.norm(grid[:, None] - X[None], axis=2), axis=1) > 1.5]
    assert model.predict_uncertainty(far).mutual_information.mean() > \
        3 * model.predict_uncertainty(X).mutual_information.mean()


def test_one_deterministic_network_has_no_mutual_information(blobs):
    X, y = blobs
    for target in (y, y == 0, np.stack([y == 0, y == 1], axis=1)):
        net = RegularizedMLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, target)
        result = net.predict_uncertainty(X)
        assert np.all(result.mutual_information == 0)
        np.testing.assert_array_equal(result.entropy, result.expected_entropy)


# --- Adaptive intervals ------------------------------------------------------------------------------------------

def coverage_and_width(interval, y, where):
    covered = (y >= interval[:, 0]) & (y <= interval[:, 1])
    return covered[where].mean(), (interval[:, 1] - interval[:, 0])[where].mean()


def test_adaptive_intervals_follow_the_noise(bagged_sine, sine):
    _, (X_test, y_test) = sine
    quiet = X_test[:, 0] < 0
    plain = bagged_sine.predict_interval(X_test, 0.8)
    adaptive = bagged_sine.predict_interval(X_test, 0.8, adaptive=True)
    cover_quiet, width_quiet = coverage_and_width(adaptive, y_test, quiet)
    cover_noisy, width_noisy = coverage_and_width(adaptive, y_test, ~quiet)
    assert width_noisy > 1.5 * width_quiet
    assert 0.68 < cover_quiet < 0.93 and 0.68 < cover_noisy < 0.93
    assert abs(coverage_and_width(adaptive, y_test, slice(None))[0] - 0.8) < 0.05
    # The plain interval has one width: it over-covers the quiet half and under-covers the noisy one.
    assert coverage_and_width(plain, y_test, quiet)[0] > coverage_and_width(plain, y_test, ~quiet)[0] + 0.15


def test_adaptive_intervals_widen_outside_the_data(bagged_sine):
    inside = np.array([[-2.9], [-2.7], [2.7], [2.9]])
    outside = np.array([[-4.0], [-3.8], [3.8], [4.0]])
    width_in = np.diff(bagged_sine.predict_interval(inside, adaptive=True), axis=1).ravel()
    width_out = np.diff(bagged_sine.predict_interval(outside, adaptive=True), axis=1).ravel()
    assert width_out[:2].mean() > width_in[:2].mean() and width_out[2:].mean() > width_in[2:].mean()


def test_adaptive_intervals_match_plain_ones_where_the_noise_is_constant():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (800, 3))
    y = X[:, 0] - X[:, 1] ** 2 + 0.3 * rng.normal(size=800)
    X_test = rng.uniform(-2, 2, (2000, 3))
    y_test = X_test[:, 0] - X_test[:, 1] ** 2 + 0.3 * rng.normal(size=2000)
    model = RegularizedMLPRegressor(hidden_layer_sizes=(32,), n_estimators=12, bootstrap=True, learning_rate_init=0.01,
                                    max_iter=150, random_state=0).fit(X, y)
    plain = coverage_and_width(model.predict_interval(X_test), y_test, slice(None))
    adaptive = coverage_and_width(model.predict_interval(X_test, adaptive=True), y_test, slice(None))
    assert abs(adaptive[0] - 0.9) < 0.04
    assert adaptive[1] < 1.08 * plain[1]


def test_adaptive_intervals_for_several_outputs_and_after_pickling(sine):
    (X, y), (X_test, _) = sine
    Y = np.stack([y, 2 * y], axis=1)
    model = RegularizedMLPRegressor(hidden_layer_sizes=(16,), n_estimators=6, bootstrap=True, learning_rate_init=0.01,
                                    max_iter=40, random_state=0).fit(X, Y)
    interval = model.predict_interval(X_test, adaptive=True)
    assert interval.shape == (len(X_test), 2, 2) and np.all(interval[..., 1] > interval[..., 0])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict_interval(X_test, adaptive=True), interval)


def test_adaptive_intervals_survive_skops(bagged_sine, sine):
    skops_io = pytest.importorskip("skops.io")
    _, (X_test, _) = sine
    loaded = skops_io.loads(skops_io.dumps(bagged_sine), trusted=skreg.SKOPS_TRUSTED_TYPES)
    np.testing.assert_array_equal(loaded.predict_interval(X_test[:200], adaptive=True),
                                  bagged_sine.predict_interval(X_test[:200], adaptive=True))


def test_adaptive_needs_jackknife_and_a_bootstrap(bagged_sine, sine):
    (X, y), _ = sine
    with pytest.raises(ValueError, match="adaptive=True needs method='jackknife\\+ab'"):
        bagged_sine.predict_interval(X, method="percentile", adaptive=True)
    with pytest.raises(ValueError, match="adaptive must be"):
        bagged_sine.predict_interval(X, adaptive="yes")
    plain = RegularizedMLPRegressor(hidden_layer_sizes=(8,), n_estimators=2, max_iter=5, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="bootstrap=True"):
        plain.predict_interval(X, adaptive=True)
    old = pickle.loads(pickle.dumps(bagged_sine))
    del old._oob_scales
    with pytest.raises(ValueError, match="refit"):
        old.predict_interval(X, adaptive=True)


def test_scale_regression_is_constant_without_signal_and_finds_a_trend():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(1, 2000, 5))
    weights = np.ones((1, 2000))
    flat = ScaleMoments()
    flat.add(features, weights, np.abs(rng.normal(size=(2000, 1))))
    flat_scale = flat.fit().predict(features)[0, :, 0]
    assert flat_scale.std() < 0.05 * flat_scale.mean()  # GCV keeps it (nearly) constant
    trend = ScaleMoments()
    trend.add(features, weights, (1 + 0.5 * features[0, :, :1]) ** 2)
    fitted = trend.fit().predict(features)[0, :, 0]
    assert np.corrcoef(fitted, features[0, :, 0])[0, 1] > 0.9


# --- Through scikit-learn's wrappers -----------------------------------------------------------------------------

def test_predict_interval_through_pipeline_search_and_target_transform(sine):
    (X, y), (X_test, _) = sine
    X, X_test, y = 10 * X + 5, 10 * X_test[:50] + 5, y + 3
    regressor = RegularizedMLPRegressor(hidden_layer_sizes=(16,), n_estimators=5, bootstrap=True,
                                        learning_rate_init=0.01, max_iter=30, random_state=0)
    pipe = make_pipeline(StandardScaler(), regressor).fit(X, y)
    expected = pipe[-1].predict_interval(pipe[:-1].transform(X_test), 0.8, adaptive=True)
    np.testing.assert_array_equal(skreg.predict_interval(pipe, X_test, 0.8, adaptive=True), expected)
    search = GridSearchCV(pipe, {"regularizedmlpregressor__alpha": [1e-4]}, cv=2).fit(X, y)
    assert skreg.predict_interval(search, X_test).shape == (50, 2)

    scaled = TransformedTargetRegressor(pipe, transformer=StandardScaler()).fit(X, y)
    inner = scaled.regressor_[-1].predict_interval(scaled.regressor_[:-1].transform(X_test))
    scaler = scaled.transformer_
    np.testing.assert_allclose(skreg.predict_interval(scaled, X_test), inner * scaler.scale_ + scaler.mean_)
    logged = TransformedTargetRegressor(pipe, func=np.log, inverse_func=np.exp).fit(X, y)
    bounds = skreg.predict_interval(logged, X_test)
    assert np.all(bounds[:, 0] > 0) and np.all(bounds[:, 1] > bounds[:, 0])
    flipped = TransformedTargetRegressor(pipe, func=np.negative, inverse_func=np.negative,
                                         check_inverse=False).fit(X, y)
    assert np.all(np.diff(skreg.predict_interval(flipped, X_test), axis=1) > 0)  # a decreasing map: sorted


def test_predict_uncertainty_through_a_pipeline(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), RegularizedMLPClassifier(hidden_layer_sizes=(8,), n_estimators=3,
                                                                    max_iter=20, random_state=0)).fit(X, y)
    result = skreg.predict_uncertainty(pipe, X)
    np.testing.assert_array_equal(result.mutual_information,
                                  pipe[-1].predict_uncertainty(pipe[0].transform(X)).mutual_information)
    with pytest.raises(TypeError, match="needs a RegularizedMLPRegressor"):
        skreg.predict_interval(pipe, X)
    with pytest.raises(TypeError, match="needs a RegularizedMLPClassifier"):
        skreg.predict_uncertainty(make_pipeline(StandardScaler(), RegularizedMLPRegressor(max_iter=2)).fit(X, y), X)


def test_nothing_changes_for_mc_dropout_zero(sine):
    (X, y), (X_test, _) = sine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = RegularizedMLPRegressor(hidden_layer_sizes=(8,), n_estimators=3, dropout=0.2, max_iter=5,
                                        random_state=0).fit(X, y)
    outputs = model._member_outputs(X_test)
    np.testing.assert_array_equal(model.predict(X_test), outputs.mean(axis=0).ravel())
