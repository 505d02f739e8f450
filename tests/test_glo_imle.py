"""GLO, IMLE and GLANN: the Laplacian-pyramid loss, the nearest-neighbour search,
code projection, training stages, input checks and save/load."""
from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasgen  # noqa: E402
from kerasgen import losses  # noqa: E402
from kerasgen.models import GLANN, GLO, IMLE  # noqa: E402
from kerasgen.models.imle import nearest_neighbours  # noqa: E402

SMALL = {"latent_dim": 8, "base_filters": 8, "seed": 0}


def to_np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def indexed_data(limit, batch_size=64, shuffle=None, **kwargs):
    return kerasgen.datasets.load(
        "fashion_mnist", split="train", limit=limit, batch_size=batch_size, seed=0,
        with_indices=True, shuffle=shuffle, **kwargs,
    )


def code_norms(model):
    return np.linalg.norm(to_np(model.codes), axis=1)


# ------------------------------------------------------------ Laplacian pyramid L1
def numpy_lap1(x, y, levels):
    """Lap1 straight from the formula: sum_j 4^j |L^j(x - y)|_1 / N, float64."""
    diff = np.asarray(x, np.float64) - np.asarray(y, np.float64)
    batch, _, _, channels = diff.shape
    num_pixels = np.prod(diff.shape[1:])
    taps = np.exp(-np.arange(-2, 3) ** 2 / 2.0)
    kernel = np.outer(taps, taps) / taps.sum() ** 2
    total, current = np.zeros(batch), diff
    for j in range(levels - 1):
        h, w = current.shape[1:3]
        padded = np.pad(current, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
        blurred = sum(kernel[a, b] * padded[:, a:a + h, b:b + w, :] for a in range(5) for b in range(5))
        total += 4.0**j * np.abs(current - blurred).reshape(batch, -1).sum(1) / num_pixels
        current = blurred[:, : h // 2 * 2, : w // 2 * 2].reshape(batch, h // 2, 2, w // 2, 2, channels).mean((2, 4))
    return total + 4.0 ** (levels - 1) * np.abs(current).reshape(batch, -1).sum(1) / num_pixels


def test_laplacian_l1_is_zero_for_identical_images():
    x = np.random.default_rng(0).uniform(-1, 1, (3, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(to_np(losses.laplacian_pyramid_l1(x, x)), np.zeros(3))


@pytest.mark.parametrize("shape, levels", [((12, 12, 2), 3), ((10, 10, 1), 3), ((28, 28, 1), 3), ((8, 8, 3), 1)])
def test_laplacian_l1_matches_numpy(shape, levels):
    rng = np.random.default_rng(1)
    x, y = (rng.uniform(-1, 1, (2, *shape)).astype(np.float32) for _ in range(2))
    np.testing.assert_allclose(
        to_np(losses.laplacian_pyramid_l1(x, y, levels=levels)), numpy_lap1(x, y, levels), rtol=1e-5
    )


def test_laplacian_l1_of_a_one_pixel_impulse_by_hand():
    # An impulse of height 1 at the centre of a 12x12 image, levels=2: the band-pass level is
    # delta - blur(delta), |.|_1 = (1 - k0) + (1 - k0) = 2 (1 - k0) with k0 the kernel's centre
    # weight (all other blur weights are positive and sum to 1 - k0); the low-pass level is
    # avgpool(blur(delta)), whose entries are >= 0 and sum to 1/4, weighted by 4^1.
    x = np.zeros((1, 12, 12, 1), np.float32)
    x[0, 6, 6, 0] = 1.0
    taps = [math.exp(-t * t / 2.0) for t in range(-2, 3)]
    k0 = (taps[2] / sum(taps)) ** 2
    expected = (2.0 * (1.0 - k0) + 4.0 * 0.25) / 144.0
    np.testing.assert_allclose(to_np(losses.laplacian_pyramid_l1(x, np.zeros_like(x), levels=2)), [expected], rtol=1e-5)


def test_constant_offset_is_penalised_only_in_the_low_pass_level():
    x = np.random.default_rng(2).uniform(-1, 1, (2, 28, 28, 1)).astype(np.float32)
    pyramid = losses.laplacian_pyramid(x + 0.25 - x, levels=3)
    for band in pyramid[:-1]:
        np.testing.assert_allclose(to_np(band), 0.0, atol=1e-6)
    np.testing.assert_allclose(to_np(pyramid[-1]), 0.25, atol=1e-6)
    assert pyramid[-1].shape == (2, 7, 7, 1)
    # 28 -> 14 -> 7: the residual's 49 pixels weigh 4^2 * 49 / 784 = 1, so Lap1 = |offset|.
    np.testing.assert_allclose(to_np(losses.laplacian_pyramid_l1(x, x + 0.25)), [0.25, 0.25], rtol=1e-5)


# ------------------------------------------------------------ nearest neighbours
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 4, 5, 1024])
def test_nearest_neighbours_on_a_handmade_set(chunk_size):
    candidates = np.array([[1, 0], [0, 1], [-1, 0], [3, 3], [0, -1]], np.float32)
    queries = np.array([
        [0.0, 0.0],  # four candidates at distance 1: the lowest index wins
        [2.9, 3.2],  # candidate 3
        [-0.9, 0.1],  # candidate 2
        [0.1, -2.0],  # candidate 4
        [0.5, 0.5],  # tie between 0 and 1 (both 0.5): 0
    ], np.float32)
    indices, distances = nearest_neighbours(queries, candidates, chunk_size)
    np.testing.assert_array_equal(to_np(indices), [0, 3, 2, 4, 0])
    np.testing.assert_allclose(to_np(distances), [1.0, 0.05, 0.02, 1.01, 0.5], rtol=1e-5)
    assert indices.dtype == tf.int32


def test_nearest_neighbours_ties_across_chunk_boundaries_keep_the_lowest_index():
    candidates = np.array([[5.0], [1.0], [-1.0], [1.0], [-1.0]], np.float32)
    for chunk_size in (1, 2, 3, 4):
        indices, _ = nearest_neighbours(np.zeros((1, 1), np.float32), candidates, chunk_size)
        assert int(to_np(indices)[0]) == 1, chunk_size


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
def test_nearest_neighbours_match_numpy_brute_force(chunk_size):
    rng = np.random.default_rng(3)
    queries = rng.standard_normal((17, 3, 4)).astype(np.float32)  # flattened to 12 dims
    candidates = rng.standard_normal((103, 3, 4)).astype(np.float32)
    brute = ((queries.reshape(17, 1, -1).astype(np.float64) - candidates.reshape(1, 103, -1)) ** 2).sum(-1)
    indices, distances = nearest_neighbours(queries, candidates, chunk_size)
    np.testing.assert_array_equal(to_np(indices), brute.argmin(1))
    np.testing.assert_allclose(to_np(distances), brute.min(1), rtol=1e-5)


def test_nearest_neighbours_trace_with_unknown_sizes():
    search = tf.function(
        lambda q, c: nearest_neighbours(q, c, 4),
        input_signature=[tf.TensorSpec((None, 3), tf.float32), tf.TensorSpec((None, 3), tf.float32)],
    )
    candidates = np.eye(3, dtype=np.float32)[[2, 0, 1, 2, 1, 0, 0]]
    indices, _ = search(np.eye(3, dtype=np.float32), candidates)
    np.testing.assert_array_equal(to_np(indices), [1, 2, 0])


# ------------------------------------------------------------------- GLO
class NormRecorder(keras.callbacks.Callback):
    """Records the code table's norms after every batch."""

    def __init__(self):
        super().__init__()
        self.norms = []

    def on_train_batch_end(self, batch, logs=None):
        self.norms.append(code_norms(self.model))


def test_glo_codes_stay_on_the_unit_sphere_after_every_step():
    model = GLO(num_images=512, **SMALL)
    model.compile()
    before = to_np(model.codes).copy()
    recorder = NormRecorder()
    model.fit(indexed_data(256), epochs=1, verbose=0, callbacks=[recorder])
    assert len(recorder.norms) == 4
    for norms in recorder.norms:
        np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    after = to_np(model.codes)
    # Only the codes of the images seen (indices < 256) moved.
    assert np.abs(after[:256] - before[:256]).max(axis=1).min() > 1e-6
    np.testing.assert_allclose(after[256:], before[256:], atol=1e-6)


def test_glo_projections():
    codes = np.array([[0.3, 0.4], [3.0, 4.0], [0.0, 0.0]], np.float32)  # norms 0.5, 5, 0
    ball = GLO(num_images=4, projection="ball", **SMALL).project(codes)
    np.testing.assert_allclose(to_np(ball), [[0.3, 0.4], [0.6, 0.8], [0.0, 0.0]], atol=1e-7)
    sphere = GLO(num_images=4, **SMALL).project(codes)
    np.testing.assert_allclose(to_np(sphere), [[0.6, 0.8], [0.6, 0.8], [0.0, 0.0]], atol=1e-7)
    with pytest.raises(ValueError, match="projection must be one of"):
        GLO(num_images=4, projection="cube", **SMALL)


def test_glo_ball_projection_keeps_norms_at_most_one():
    model = GLO(num_images=256, projection="ball", initialization="random", **SMALL)
    model.compile(code_optimizer=keras.optimizers.SGD(100.0))
    model.codes.assign(model.codes * 0.9)  # start inside the ball: some codes leave it, some stay inside
    recorder = NormRecorder()
    model.fit(indexed_data(256), epochs=1, verbose=0, callbacks=[recorder])
    for norms in recorder.norms:
        assert norms.max() <= 1.0 + 1e-6
    final = recorder.norms[-1]
    assert (final > 1.0 - 1e-5).mean() > 0.05  # codes pushed out were put back on the boundary
    assert (final < 0.99).mean() > 0.5  # codes inside the ball are left alone


def test_glo_trains_on_fashion_mnist():
    model = GLO(num_images=1024, **SMALL)
    model.compile()  # Adam(1e-3) for the generator, SGD(10) for the codes
    history = model.fit(indexed_data(1024), epochs=4, verbose=0).history
    assert history["loss"][-1] < 0.85 * history["loss"][0], history
    samples = to_np(model.generate(16, seed=0))
    assert samples.shape == (16, 28, 28, 1) and samples.dtype == np.float32
    assert samples.std(axis=0).mean() > 0.02
    reconstructions = to_np(model.reconstruct_training_images(np.arange(16)))
    assert reconstructions.std(axis=0).mean() > 0.02
    # fit() refreshed the Gaussian fitted to the codes.
    codes = to_np(model.codes).astype(np.float64)
    np.testing.assert_allclose(to_np(model.code_mean), codes.mean(0), atol=1e-5)
    cholesky = to_np(model.code_cholesky).astype(np.float64)
    np.testing.assert_allclose(cholesky @ cholesky.T, np.cov(codes, rowvar=False), atol=1e-5)
    # Interpolation starts and ends at the two reconstructions.
    path = to_np(model.interpolate(3, 7, steps=5))
    assert path.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(path[[0, -1]], reconstructions[[3, 7]], atol=1e-5)


def test_glo_sampling_traces_in_a_tf_function():
    model = GLO(num_images=64, **SMALL)
    serve = tf.function(lambda z: model(z, training=False), input_signature=[tf.TensorSpec((None, 8), tf.float32)])
    z = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_allclose(to_np(serve(z)), to_np(model(z)), atol=1e-6)


def test_glo_pca_initialization():
    images, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="train", limit=256)
    images = kerasgen.datasets.to_value_range(images)
    model = GLO(num_images=256, **SMALL)
    model.initialize_codes_with_pca(images)
    codes = to_np(model.codes)
    np.testing.assert_allclose(np.linalg.norm(codes, axis=1), 1.0, atol=1e-5)
    flat = images.reshape(256, -1).astype(np.float64)
    centered = flat - flat.mean(0)
    projections = centered @ np.linalg.svd(centered, full_matrices=False)[2][:8].T
    projections /= np.linalg.norm(projections, axis=1, keepdims=True)
    np.testing.assert_allclose(np.abs(codes), np.abs(projections), atol=1e-4)  # up to each component's sign
    with pytest.raises(ValueError, match="all 256 training images"):
        model.initialize_codes_with_pca(images[:10])


def test_glo_refuses_data_without_indices_or_out_of_range():
    model = GLO(num_images=128, **SMALL)
    model.compile()
    images_only = kerasgen.datasets.load("fashion_mnist", split="train", limit=64, batch_size=32)
    with pytest.raises(ValueError, match=r"with_indices=True"):
        model.fit(images_only, epochs=1, verbose=0)
    images = next(iter(images_only)).numpy()
    with pytest.raises(ValueError, match=r"with_indices=True"):
        model.fit(images, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"num_images=128"):
        model.fit(indexed_data(256, batch_size=256, shuffle=False), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"int image indices"):
        model.fit(images, np.arange(32, dtype=np.float32), epochs=1, verbose=0)
    model.fit(images, np.arange(32), batch_size=16, epochs=1, verbose=0)  # arrays with indices work


def test_glo_vgg_loss_needs_local_weights():
    with pytest.raises(ValueError, match=r"vgg_weights=None.*local file|local file.*vgg_weights=None"):
        GLO(num_images=8, loss="vgg", **SMALL)
    with pytest.raises(ValueError, match=r"/nonexistent/vgg16\.h5"):
        GLO(num_images=8, loss="vgg", vgg_weights="/nonexistent/vgg16.h5", **SMALL)
    with pytest.raises(ValueError, match="loss must be one of"):
        GLO(num_images=8, loss="l2", **SMALL)


def test_glo_save_load_round_trip(tmp_path):
    model = GLO(num_images=256, **SMALL)
    model.compile()
    model.fit(indexed_data(256), epochs=1, verbose=0)
    path = tmp_path / "glo.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is GLO and loaded.num_images == 256 and loaded.projection == "sphere"
    np.testing.assert_array_equal(to_np(loaded.codes), to_np(model.codes))
    np.testing.assert_allclose(to_np(loaded.generate(8, seed=3)), to_np(model.generate(8, seed=3)), atol=1e-6)
    np.testing.assert_allclose(to_np(loaded.reconstruct_training_images(np.arange(8))), to_np(model.reconstruct_training_images(np.arange(8))), atol=1e-6)
    for original, restored in ((model.optimizer, loaded.optimizer), (model.code_optimizer, loaded.code_optimizer)):
        assert int(restored.iterations) == int(original.iterations) == 4
        assert float(restored.learning_rate) == float(original.learning_rate)


def test_glo_matches_single_device_under_two_replica_mirrored_strategy(mirrored_strategy):
    """One step on 128 images split over 2 replicas = the same step on one device."""
    data = indexed_data(128, batch_size=128, shuffle=False)
    results = []
    for strategy in (tf.distribute.get_strategy(), mirrored_strategy):
        keras.utils.set_random_seed(0)  # same generator initialization for both
        with strategy.scope():
            model = GLO(num_images=128, **SMALL)
            # SGD is linear in the gradient (Adam's first step is ~lr * sign(g): rounding noise
            # in near-zero gradients would flip it), so equal gradients give equal weights.
            model.compile(generator_optimizer=keras.optimizers.SGD(0.1))
        model.fit(data, epochs=1, verbose=0)
        results.append((to_np(model.codes), [to_np(w) for w in model.generator.weights]))
    (codes_one, weights_one), (codes_two, weights_two) = results
    np.testing.assert_allclose(codes_two, codes_one, atol=1e-4)  # SGD(10) amplifies rounding
    assert np.abs(codes_one - to_np(GLO(num_images=128, **SMALL).codes)).max() > 1e-4  # the step did move them
    for one, two in zip(weights_one, weights_two):
        np.testing.assert_allclose(two, one, atol=1e-4)


# ------------------------------------------------------------------- IMLE
def test_imle_trains_on_fashion_mnist():
    model = IMLE(latent_dim=8, hidden_units=(128, 128), seed=0)
    model.compile()
    data = kerasgen.datasets.load("fashion_mnist", split="train", limit=1024, batch_size=64, seed=0)
    history = model.fit(data, epochs=3, verbose=0).history
    assert set(history) == {"loss", "nearest_distance"}
    assert history["loss"][-1] < 0.6 * history["loss"][0], history
    assert history["nearest_distance"][-1] < history["nearest_distance"][0]
    samples = to_np(model.generate(16, seed=0))
    assert samples.shape == (16, 28, 28, 1) and samples.std(axis=0).mean() > 0.05
    np.testing.assert_array_equal(samples, to_np(model.generate(16, seed=0)))


# ------------------------------------------------------------------- GLANN
def test_glann_trains_both_stages_together():
    model = GLANN(num_images=1024, **SMALL)
    model.compile()
    history = model.fit(indexed_data(1024), epochs=3, verbose=0).history
    assert set(history) == {"loss", "mapper_loss"}
    assert history["loss"][-1] < 0.9 * history["loss"][0], history
    assert history["mapper_loss"][-1] < history["mapper_loss"][0], history
    samples = to_np(model.generate(16, seed=0))
    assert samples.shape == (16, 28, 28, 1) and samples.std(axis=0).mean() > 0.02


def test_glann_stages_update_only_their_part():
    model = GLANN(num_images=256, **SMALL)
    model.compile()
    data = indexed_data(256)

    def snapshot():
        return {
            "generator": [to_np(w).copy() for w in model.generator.weights],  # incl. batch-norm statistics
            "codes": [to_np(model.codes).copy()],
            "mapper": [to_np(w).copy() for w in model.mapper.weights],
        }

    def changed(before, after, part):
        return any(not np.array_equal(a, b) for a, b in zip(before[part], after[part]))

    start = snapshot()
    model.fit(data, epochs=1, verbose=0)  # "both" traces a train function that updates everything
    after_both = snapshot()
    assert all(changed(start, after_both, part) for part in ("generator", "codes", "mapper"))

    model.stage = "mapper"  # must retrace: the "both" function would move the generator
    history = model.fit(data, epochs=1, verbose=0).history
    after_mapper = snapshot()
    assert not changed(after_both, after_mapper, "generator")
    assert not changed(after_both, after_mapper, "codes")
    assert changed(after_both, after_mapper, "mapper")
    assert history["loss"][0] > 0  # the GLO loss is still measured

    model.stage = "glo"
    model.fit(data, epochs=1, verbose=0)
    after_glo = snapshot()
    assert not changed(after_mapper, after_glo, "mapper")
    assert changed(after_mapper, after_glo, "generator") and changed(after_mapper, after_glo, "codes")

    with pytest.raises(ValueError, match="stage must be one of"):
        model.stage = "encoder"


def test_glann_noise_dim_and_config():
    model = GLANN(num_images=32, noise_dim=5, stage="mapper", **SMALL)
    assert tuple(model.sample_latents(4).shape) == (4, 5)
    assert tuple(model.mapper.input_shape) == (None, 5)
    images = to_np(model.generate(3, seed=0))
    assert images.shape == (3, 28, 28, 1) and images.dtype == np.float32
    serve = tf.function(lambda e: model(e, training=False), input_signature=[tf.TensorSpec((None, 5), tf.float32)])
    np.testing.assert_allclose(to_np(serve(model.sample_latents(2, seed=1))), to_np(model.generate(2, seed=1)), atol=1e-6)
    config = model.get_config()
    assert config["stage"] == "mapper" and config["noise_dim"] == 5
    rebuilt = GLANN.from_config(config)
    assert rebuilt.stage == "mapper" and rebuilt.noise_dim == 5


def test_first_fit_initializes_codes_with_pca_once():
    """initialization="pca" (the paper's): the first fit sets the codes of the images it sees
    to their principal components; later fits and reloaded models keep the learned codes."""
    images, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="train", limit=256)
    images = kerasgen.datasets.to_value_range(images)
    reference = GLO(num_images=300, initialization="random", **SMALL)
    random_codes = to_np(reference.codes)
    reference.initialize_codes_with_pca(images, np.arange(256))
    expected = to_np(reference.codes)
    np.testing.assert_array_equal(expected[256:], random_codes[256:])  # unseen images keep their codes

    model = GLO(num_images=300, **SMALL)
    model.compile(code_optimizer=keras.optimizers.SGD(0.0))  # frozen codes: what fit starts from
    model.fit(indexed_data(256), epochs=1, verbose=0)
    np.testing.assert_allclose(to_np(model.codes), expected, atol=1e-5)
    assert float(to_np(model.codes_initialized)) == 1.0
    model.codes.assign(expected[::-1])  # other unit codes
    model.fit(indexed_data(256), epochs=1, verbose=0)  # no second initialization
    np.testing.assert_allclose(to_np(model.codes), expected[::-1], atol=1e-5)
