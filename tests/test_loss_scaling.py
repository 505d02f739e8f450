"""Loss scaling under mixed_float16 (the GPU default): every optimizer a model steps is scaled.

One training step under mixed_float16 must move every group of weights as the
float32 step does from the same weights, data and seed; a non-finite gradient
must skip the step of its own optimizer only and halve that optimizer's scale.
float16 runs (slowly) on this CPU, so this is tested here, not only on GPUs.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasgen  # noqa: E402
from kerasgen.models import REGISTRY  # noqa: E402

TOLERANCE = 0.10  # relative difference of the norms of the float16 and float32 updates
MIN_COSINE = 0.1  # measured 0.26 (WGAN-GP's generator after 5 critic steps) to 0.9999


def _data(name, model, images):
    spec = REGISTRY[name]
    if spec.pairing:
        return tf.data.Dataset.from_tensor_slices((images[:16], images[16:32])).batch(16)
    if spec.indexed:
        return tf.data.Dataset.from_tensor_slices((images[:32], np.arange(32, dtype="int32"))).batch(32)
    steps = getattr(model, "discriminator_steps", 1)
    return tf.data.Dataset.from_tensor_slices(images[: 16 * steps]).batch(16 * steps)


def _groups(model):
    """{name: trainable variables} of each optimizer's share of the model."""
    if isinstance(model, kerasgen.models.CycleGAN):
        return {"generators": model.generator_variables, "discriminators": model.discriminator_variables}
    if isinstance(model, kerasgen.models.GLANN):
        return {"generator": model.generator.trainable_variables, "codes": [model.codes],
                "mapper": model.mapper.trainable_variables}
    if hasattr(model, "discriminator"):
        return {"generator": model.generator.trainable_variables,
                "discriminator": model.discriminator.trainable_variables}
    return {"all": model.trainable_variables}


def _build(name, policy, weights=None):
    keras.mixed_precision.set_global_policy(policy)
    spec = REGISTRY[name]
    kwargs = dict(spec.small_config, seed=0)
    if name == "wgan_gp":
        kwargs["discriminator_steps"] = 5  # the paper's n_critic: the penalty's double backward 5 times
    if spec.indexed:
        kwargs["num_images"] = 32
    model = spec.create(**kwargs)
    model.compile()
    if weights is not None:
        for variable, value in zip(model.weights, weights):
            variable.assign(value)
    return model


def _step_updates(model, data, stages):
    """Per-group weight changes (flattened float64) of one `fit` step per stage."""
    before = {k: [np.array(v.numpy(), np.float64) for v in vs] for k, vs in _groups(model).items()}
    for stage in stages:
        if stage:
            model.stage = stage
        model.fit(data, epochs=1, steps_per_epoch=1, verbose=0)
    return {
        k: np.concatenate([(np.array(v.numpy(), np.float64) - b).ravel() for v, b in zip(vs, before[k])])
        for k, vs in _groups(model).items()
    }


def _optimizers(model):
    names = ("optimizer", "discriminator_optimizer", "code_optimizer", "mapper_optimizer")
    return [getattr(model, n) for n in names if getattr(model, n, None) is not None]


# One model per optimizer arrangement: two players (DCGAN), a penalty with its own gradient tape
# (WGAN-GP), three optimizers with IndexedSlices gradients (GLANN). A single Keras-wrapped optimizer
# (VAE) is test_apply_gradients_unscales_exactly_what_it_scaled; CycleGAN's two players are DCGAN's
# code path with more networks (and cost 73 s of float16 on this CPU).
@pytest.mark.parametrize("name, stages", [
    ("dcgan", [None]), ("wgan_gp", [None]), ("glann", ["glo", "mapper"]),
])
def test_a_mixed_float16_step_moves_every_weight_group_as_the_float32_step(name, stages, fashion_mnist_subset):
    """The loss scale starts at 2^15 and halves on every skipped (overflowing) step, as in training;
    the first step every optimizer applies is compared with the float32 step from the same state."""
    images = fashion_mnist_subset[0][:80]
    reference = _build(name, "float32")
    if isinstance(reference, kerasgen.models.GLANN):
        reference.initialize_codes_with_pca(images[:32], np.arange(32))
    weights = [v.numpy() for v in reference.weights]
    keras.utils.set_random_seed(0)
    expected = _step_updates(reference, _data(name, reference, images), stages)
    expected_steps = [int(opt.iterations.numpy()) for opt in _optimizers(reference)]

    model = _build(name, "mixed_float16", weights)
    optimizers = _optimizers(model)
    for optimizer in optimizers:
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer), optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
    initial = [v.numpy() for v in model.weights], [[v.numpy() for v in opt.variables] for opt in optimizers]
    scale = 2.0**15
    while True:  # what LossScaleOptimizer's dynamics do, with the state rewound after each skipped step
        for variable, value in zip(model.weights, initial[0]):
            variable.assign(value)
        for optimizer, values in zip(optimizers, initial[1]):
            for variable, value in zip(optimizer.variables, values):
                variable.assign(value)
            optimizer.dynamic_scale.assign(scale)
        keras.utils.set_random_seed(0)
        updates = _step_updates(model, _data(name, model, images), stages)
        if [int(opt.iterations.numpy()) for opt in optimizers] == expected_steps:
            break
        scale /= 2
        assert scale >= 1, f"{name}: every loss scale overflowed"
    for group, delta in expected.items():
        assert np.linalg.norm(delta) > 0, (name, group, "the float32 step did not move it")
        # Adam's first step is about -lr * sign(gradient) per weight, so its norm is what a missing or
        # doubled scale changes (unscaled gradients divided by 2^15 moved a DCGAN generator 72% less);
        # signs of near-zero gradients differ between float16 and float32, so directions agree only broadly.
        ratio = np.linalg.norm(updates[group]) / np.linalg.norm(delta)
        cosine = updates[group] @ delta / (np.linalg.norm(updates[group]) * np.linalg.norm(delta))
        print(f"update ratio {name} {group}: norm {ratio:.4f}, cosine {cosine:.3f}, loss scale {scale:g}")  # pytest -s
        assert abs(ratio - 1.0) < TOLERANCE, (name, group, f"loss scale {scale:g}", ratio)
        assert cosine > MIN_COSINE, (name, group, f"loss scale {scale:g}", cosine)


def test_apply_gradients_unscales_exactly_what_it_scaled():
    """SGD shows a missing or doubled scale at once: the update must be -lr * gradient, whatever the scale."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = kerasgen.models.AutoEncoder(latent_dim=2)
    model.compile(keras.optimizers.SGD(0.5))
    variable = model.encoder.trainable_weights[0]
    model.optimizer.build(model.trainable_variables)
    model.optimizer.dynamic_scale.assign(1024.0)
    before = variable.numpy()
    coefficients = np.random.default_rng(0).uniform(-1, 1, variable.shape).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.cast(tf.reduce_sum(keras.ops.cast(variable, "float16") * tf.constant(coefficients, "float16")),
                       "float32")
    model.apply_gradients(tape, loss, [variable])
    np.testing.assert_allclose(variable.numpy(), before - 0.5 * coefficients.astype("float16"), rtol=1e-3, atol=1e-4)


def test_a_non_finite_gradient_skips_only_its_optimizer_and_halves_its_scale():
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = kerasgen.models.DCGAN(latent_dim=8, base_filters=8, seed=0)
    model.compile()
    model.generate(2)  # builds the networks
    d_optimizer, g_optimizer = model.discriminator_optimizer, model.optimizer
    d_scale, g_scale = float(d_optimizer.dynamic_scale.numpy()), float(g_optimizer.dynamic_scale.numpy())
    d_before = [v.numpy() for v in model.discriminator_variables]

    with tf.GradientTape() as tape:
        bad = tf.reduce_sum(model.discriminator_variables[0]) * float("inf")
    model.apply_gradients(tape, bad, model.discriminator_variables, d_optimizer)
    assert float(d_optimizer.dynamic_scale.numpy()) == d_scale / 2
    assert int(d_optimizer.iterations.numpy()) == 0  # the step was skipped
    for before, variable in zip(d_before, model.discriminator_variables):
        np.testing.assert_array_equal(variable.numpy(), before)

    assert float(g_optimizer.dynamic_scale.numpy()) == g_scale  # the other optimizer is untouched
    with tf.GradientTape() as tape:
        good = tf.reduce_mean(tf.cast(model.generator(tf.ones((2, 8)), training=True), "float32"))
    model.apply_gradients(tape, good, model.generator_variables)
    assert float(g_optimizer.dynamic_scale.numpy()) == g_scale  # a finite step keeps the scale
    assert int(g_optimizer.iterations.numpy()) == 1


def test_loss_scales_are_saved_and_restored(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = kerasgen.models.DCGAN(latent_dim=8, base_filters=8, seed=0)
    model.compile()
    model.generate(2)
    model.optimizer.dynamic_scale.assign(512.0)
    model.discriminator_optimizer.dynamic_scale.assign(64.0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.discriminator_optimizer, keras.optimizers.LossScaleOptimizer)
    assert float(loaded.optimizer.dynamic_scale.numpy()) == 512.0
    assert float(loaded.discriminator_optimizer.dynamic_scale.numpy()) == 64.0
