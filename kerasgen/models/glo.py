"""Generative Latent Optimization, GLO (Bojanowski, Joulin, Lopez-Paz & Szlam,
2018, "Optimizing the Latent Space of Generative Networks"), and GLANN
(Hoshen, Li & Malik, 2019, "Non-Adversarial Image Synthesis with Generative
Latent Nearest Neighbors").

GLO gives every training image x_i its own learnable latent code z_i on the
unit sphere and fits a generator and the codes jointly, with no encoder and no
discriminator:

    min_{theta, z_1..z_N}  1/N sum_i  l(G_theta(z_i), x_i)   s.t. ||z_i||_2 = 1

with l the Laplacian-pyramid L1 loss (`kerasgen.losses.laplacian_pyramid_l1`).
Each step updates theta and the codes of the batch, then projects the codes
back onto the sphere. The learned codes are not distributed as any simple
prior; the paper samples by fitting a full-covariance Gaussian to them.

GLANN replaces that Gaussian with an IMLE-trained mapper T from noise
e ~ N(0, I) to the code space: every code pulls the nearest of m mapped noise
vectors towards itself (`kerasgen.models.imle`), so T covers all the codes.
Samples are G(T(e)).

Training data are `(images, indices)` batches, the index of each image naming
its code: `kerasgen.datasets.load(..., with_indices=True)`.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kerasgen import losses, networks, previews, serving
from kerasgen.models.base import (
    BATCH_LOCATION,
    GenerativeModel,
    SeparateOptimizers,
    assert_that,
    input_errors_as_value_errors,
    sampler,
    split_batch,
)
from kerasgen.models.imle import nearest_neighbours
from kerasgen.models.registry import register

LOSSES = ("laplacian", "mse", "vgg")
PROJECTIONS = ("sphere", "ball")
INITIALIZATIONS = ("pca", "random")
# VGG16 layers compared by the perceptual loss (relu outputs of the first three blocks).
VGG_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3")


def default_pyramid_levels(image_shape):
    """Levels of the Laplacian pyramid: halve while the side is >= 8 (28 -> 14 -> 7: 3 levels)."""
    height, width = image_shape[0], image_shape[1]
    levels = 1
    while min(height, width) >= 8:
        height, width, levels = height // 2, width // 2, levels + 1
    return levels


@register(
    "glo",
    family="generator",
    data="indexed_images",
    summary="one learned code per training image on the unit sphere, Laplacian-pyramid L1 loss; samples from a Gaussian fitted to the codes",
    paper="Bojanowski et al., 2018",
    small_config={"latent_dim": 8, "num_images": 2048, "base_filters": 8},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class GLO(SeparateOptimizers, GenerativeModel):
    """Generative Latent Optimization (Bojanowski et al., 2018).

    Args:
        latent_dim: size d of the codes (default 32).
        image_shape: `(H, W, C)` (default 28x28x1).
        num_images: N, the number of training images = rows of the code
            table. Training indices must lie in [0, N).
        generator: optional Keras model `z -> images in value_range`; the
            default is the DCGAN generator of the paper
            (`networks.dcgan_generator`, width `base_filters`).
        loss: "laplacian" (the paper's Lap1, default), "mse" (pixel mean
            squared error) or "vgg" (Lap1 plus the mean absolute difference
            of VGG16 features, GLANN's perceptual loss; needs `vgg_weights`).
        projection: "sphere" (default, the paper: every code is put back on
            the unit L2 sphere after each step) or "ball" (only codes with
            norm > 1 are rescaled to norm 1).
        vgg_weights: local path of Keras's VGG16 `include_top=False` ImageNet
            weights file, for `loss="vgg"` (nothing is downloaded).
        base_filters: width of the default DCGAN generator (64 in the paper).
        pyramid_levels: levels of the Laplacian pyramid (None: halve while
            the side is >= 8, i.e. 3 for 28x28 and 5 for 64x64).
        initialization: "pca" (default, the paper's): the first `fit` sets
            each seen image's code to its top-d principal components,
            projected; "random": codes drawn from N(0, I) with `seed` and
            projected (also the starting value of codes PCA never sets).
        value_range, seed: see `GenerativeModel`.

    Optimizers: `compile()` without arguments uses Adam(1e-3) for the
    generator and the paper's SGD with learning rate 10 for the codes. The
    paper uses SGD for both (Section 4: "we use SGD to optimize both theta and
    z, setting the learning rate for theta at 1 and the learning rate of z at
    10"), but in our Fashion-MNIST check that setting does not train the
    default generator: with base_filters=64, latent_dim=32, 4096 images
    (PCA-initialized codes), batch 128 and 8 epochs, SGD(1) for the generator
    stalls at a Lap1 loss of 0.78 with dotted, blank reconstructions, while
    Adam(1e-3) reaches 0.14 with recognisable ones (the tiny base_filters=8
    generator trains with either). Plain SGD on the codes keeps the paper's
    per-code update: a code moves only when its image is in the batch, by
    10 / batch_size times its example's gradient (the loss is the batch
    mean). `compile(generator_optimizer=..., code_optimizer=...)` takes any
    other pair, e.g. `keras.optimizers.SGD(1.0)` for the paper's;
    `model.optimizer` is the generator's.

    Batch norm: the default generator's batch-norm layers use momentum 0.9
    (PyTorch's default, that of the paper's code) instead of Keras's 0.99.
    Unit-norm codes give the first layers activation variances near 1e-3,
    and with 0.99 the moving variance keeps its initial 1 for thousands of
    steps, so inference-mode images (generate, reconstruct) come out black.

    Sampling: at the end of every `fit` (and on `fit_code_distribution()`)
    a full-covariance Gaussian N(mu, Sigma) is fitted to the code table and
    stored as `code_mean` and the Cholesky factor `code_cholesky` L of Sigma
    (non-trainable variables, saved with the model). `call(z)` maps
    z ~ N(0, I_d) to G(mu + z L^T); `generate(n, seed)` samples it.
    `reconstruct_training_images(indices)` = G(z_indices); `interpolate(a, b)` walks between
    two codes.

    Reported by `fit` and `evaluate`: `loss`, the reconstruction loss of the
    batch from its codes.
    """

    loss_names = ("loss",)
    NETWORKS = ("generator",)

    def __init__(
        self,
        latent_dim=32,
        image_shape=(28, 28, 1),
        *,
        num_images=60000,
        generator=None,
        loss="laplacian",
        projection="sphere",
        vgg_weights=None,
        base_filters=64,
        pyramid_levels=None,
        initialization="pca",
        **kwargs,
    ):
        super().__init__(latent_dim, image_shape, **kwargs)
        if initialization not in INITIALIZATIONS:
            raise ValueError(f"initialization must be one of {INITIALIZATIONS}, got {initialization!r}.")
        self.initialization = initialization
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
        if projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}.")
        if int(num_images) < 1:
            raise ValueError(f"num_images must be a positive integer (the training set size), got {num_images}.")
        self.num_images = int(num_images)
        self.loss = loss
        self.projection = projection
        self.vgg_weights = vgg_weights
        self.base_filters = int(base_filters)
        self.pyramid_levels = int(pyramid_levels or default_pyramid_levels(self.image_shape))
        self.vgg = self.build_vgg() if loss == "vgg" else None
        if generator is None:
            # Glorot kernels, not DCGAN's N(0, 0.02): GLO's figures and its code step sizes (the
            # paper's SGD(10) on the codes) were measured with them; N(0, 0.02) shrinks the
            # gradients reaching the codes. Batch-norm momentum is DCGAN's 0.9, which keeps the
            # moving statistics up with unit-norm codes (see "Batch norm" in the docstring).
            generator = networks.dcgan_generator(
                self.latent_dim, self.image_shape, base_filters=self.base_filters, value_range=self.value_range,
                kernel_initializer="glorot_uniform",
            )
        self.generator = generator
        # Drawn once from the model seed (or Keras's global seed), so the initial codes are reproducible.
        code_seed = self.seed if self.seed is not None else int(np.random.randint(2**31 - 1))

        def initial_codes(shape, dtype=None):
            return self.project(keras.random.normal(shape, seed=code_seed, dtype="float32"))

        # float32 whatever the precision policy, and never autocast: codes are data, not layer weights.
        self.codes = self.add_weight(
            shape=(self.num_images, self.latent_dim), initializer=initial_codes, dtype="float32",
            trainable=True, autocast=False, name="codes",
        )
        # 1 once the codes hold their PCA initialization (saved, so a resumed run keeps its codes).
        self.codes_initialized = self.add_weight(
            shape=(), initializer="zeros", dtype="float32", trainable=False, autocast=False, name="codes_initialized",
        )
        self.code_mean = self.add_weight(
            shape=(self.latent_dim,), initializer="zeros", dtype="float32",
            trainable=False, autocast=False, name="code_mean",
        )
        self.code_cholesky = self.add_weight(
            shape=(self.latent_dim, self.latent_dim), initializer="identity", dtype="float32",
            trainable=False, autocast=False, name="code_cholesky",
        )
        self.built = True  # every weight exists already

    # ------------------------------------------------------------- networks
    def build_vgg(self):
        """VGG16 feature extractor (frozen) for `loss="vgg"`, from the local `vgg_weights` file."""
        path = self.vgg_weights
        if not path or not os.path.isfile(os.fspath(path)):
            raise ValueError(
                f"loss='vgg' needs the ImageNet weights of VGG16 as a local file, got vgg_weights={path!r}. "
                "Pass vgg_weights='/path/to/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5' (the file "
                "keras.applications.VGG16(weights='imagenet', include_top=False) downloads to ~/.keras/models/ "
                "on a machine with internet access), or use loss='laplacian', the paper's default."
            )
        height, width = max(32, self.image_shape[0]), max(32, self.image_shape[1])
        vgg = keras.applications.VGG16(weights=os.fspath(path), include_top=False, input_shape=(height, width, 3))
        features = keras.Model(vgg.input, [vgg.get_layer(name).output for name in VGG_LAYERS], name="vgg_features")
        features.trainable = False
        return features

    def vgg_features(self, images):
        """VGG16 activations of images in `value_range` (grey tiled to RGB, resized to >= 32, caffe-normalized)."""
        pixels = self.to_unit_interval(images) * 255.0
        if self.image_shape[-1] == 1:
            pixels = ops.repeat(pixels, 3, axis=-1)
        size = tuple(int(d) for d in self.vgg.input.shape[1:3])
        if size != self.image_shape[:2]:
            pixels = ops.image.resize(pixels, size)
        rgb = keras.applications.vgg16.preprocess_input(pixels)
        return [ops.cast(f, "float32") for f in self.vgg(rgb, training=False)]

    # --------------------------------------------------------------- codes
    def project(self, codes):
        """Codes onto the unit sphere ("sphere") or into the unit ball ("ball"), row by row."""
        norms = ops.sqrt(ops.sum(ops.square(codes), axis=-1, keepdims=True))
        if self.projection == "sphere":
            return codes / ops.maximum(norms, 1e-12)
        return codes / ops.maximum(norms, 1.0)

    def project_codes(self):
        """Projects the whole code table in place (after each update)."""
        self.codes.assign(self.project(self.codes.value))

    def initialize_codes_with_pca(self, images, indices=None):
        """The paper's initialization: codes = the images' top-d principal components, projected.

        `fit` calls it on its first run when `initialization="pca"` (the default),
        with every image the training data holds.

        Args:
            images: all `num_images` training images, in index order (row i is
                the image with index i), shape `(num_images, H, W, C)` or
                flattened; or, with `indices`, the images of those indices
                (the other codes keep their values). NumPy does the PCA: an
                eigen-decomposition of the D x D pixel covariance, accumulated
                in float64 over blocks of images, so memory is O(D^2) beyond
                the images themselves.
            indices: optional `(n,)` int indices of `images` in [0, num_images).
        """
        flat = np.asarray(images).reshape(len(images), -1)
        if indices is not None:
            indices = np.asarray(indices).reshape(-1)
            self.check_indices(indices)
            if len(indices) != len(flat) or len(np.unique(indices)) != len(indices):
                raise ValueError(f"Got {len(indices)} indices ({len(np.unique(indices))} distinct) for {len(flat)} images.")
        elif flat.shape[0] != self.num_images:
            raise ValueError(
                f"initialize_codes_with_pca needs all {self.num_images} training images in index order, "
                f"got {flat.shape[0]}."
            )
        if flat.shape[1] < self.latent_dim:
            raise ValueError(f"Images have {flat.shape[1]} pixels, fewer than latent_dim={self.latent_dim}.")
        block = 4096
        mean = flat.mean(axis=0, dtype=np.float64)
        covariance = np.zeros((flat.shape[1], flat.shape[1]))
        for start in range(0, len(flat), block):
            centered = flat[start : start + block].astype(np.float64) - mean
            covariance += centered.T @ centered
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        top = eigenvectors[:, np.argsort(eigenvalues)[::-1][: self.latent_dim]]
        # Fix each component's sign (largest loading positive) so the result is deterministic.
        top = top * np.where(top[np.argmax(np.abs(top), axis=0), np.arange(top.shape[1])] < 0, -1.0, 1.0)
        codes = np.concatenate(
            [(flat[start : start + block].astype(np.float64) - mean) @ top for start in range(0, len(flat), block)]
        )
        codes = keras.ops.convert_to_numpy(self.project(codes.astype(np.float32)))
        if indices is not None:
            table = np.array(keras.ops.convert_to_numpy(self.codes))
            table[indices] = codes
            codes = table
        self.codes.assign(codes)
        self.codes_initialized.assign(1.0)

    def _initialize_codes_from(self, x, y=None):
        """PCA-initializes the codes from `fit`'s data (arrays or a dataset of (images, indices))."""
        if isinstance(x, tf.data.Dataset):
            seen, images, indices, total = set(), [], [], 0
            for batch in x:  # one pass; stops early on a repeated (infinite) dataset
                batch_images, batch_indices = split_batch(batch)
                batch_indices = np.asarray(batch_indices).reshape(-1)
                fresh = np.array([i not in seen for i in batch_indices])
                seen.update(batch_indices.tolist())
                images.append(np.asarray(batch_images)[fresh])
                indices.append(batch_indices[fresh])
                total += len(batch_indices)
                if len(seen) >= self.num_images or total >= 2 * self.num_images:
                    break
            images, indices = np.concatenate(images), np.concatenate(indices)
        else:
            images, indices = split_batch((x, y) if y is not None else x)
            indices = np.asarray(indices).reshape(-1)
            indices, first = np.unique(indices, return_index=True)
            images = np.asarray(images)[first]
        self.initialize_codes_with_pca(images, indices)

    def fit_code_distribution(self):
        """Fits N(mu, Sigma) to the code table; stores mu and the Cholesky factor of Sigma.

        Called at the end of every `fit`. Returns `(mean, cholesky)` as NumPy arrays.
        """
        codes = np.asarray(keras.ops.convert_to_numpy(self.codes), dtype=np.float64)
        mean = codes.mean(axis=0)
        centered = codes - mean
        covariance = centered.T @ centered / max(len(codes) - 1, 1)
        jitter = 1e-6 * max(float(np.trace(covariance)) / self.latent_dim, 1e-6)
        cholesky = np.linalg.cholesky(covariance + jitter * np.eye(self.latent_dim))
        self.code_mean.assign(mean.astype(np.float32))
        self.code_cholesky.assign(cholesky.astype(np.float32))
        return mean, cholesky

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit` on `(images, indices)` batches, then `fit_code_distribution()`.

        The first `fit` of a model built with `initialization="pca"` first sets
        the codes of the images it sees to their principal components (the
        paper's initialization; random unit codes make the generator start by
        averaging all images, which takes many epochs to undo on 60,000 codes).
        """
        if self.initialization == "pca" and float(self.codes_initialized.numpy()) == 0.0 and x is not None:
            self.check_training_data(x, y, kwargs.get("batch_size"))
            with input_errors_as_value_errors():  # the initializing pass reads checked batches too
                self._initialize_codes_from(self.checked_batches(x) if isinstance(x, tf.data.Dataset) else x, y)
        history = super().fit(x, y, *args, **kwargs)
        self.fit_code_distribution()
        return history

    # -------------------------------------------------------------- checks
    def check_batch(self, images, second, whole):
        """Images as in every model, and int image indices `(batch,)` in `[0, num_images)`."""
        super().check_batch(images, second, whole)
        self.check_indices(second)

    def batch_assertions(self, batch, number):
        """Images as in every model, and image indices in `[0, num_images)`."""
        checks = super().batch_assertions(batch, number)
        _, indices = split_batch(batch)
        if indices is not None:
            indices = tf.cast(indices, tf.int64)
            checks.append(assert_that(
                tf.reduce_all(tf.logical_and(indices >= 0, indices < self.num_images)),
                self._indices_template(BATCH_LOCATION), tf.reduce_min(indices), tf.reduce_max(indices), number,
            ))
        return checks

    def _indices_template(self, location=""):
        return (
            f"{type(self).__name__} was built with num_images={self.num_images} codes, got image indices in "
            f"[{{}}, {{}}]{location}. Build the model with num_images equal to the number of training images (e.g. "
            "num_images=len(images)), and load them with kerasgen.datasets.load(..., with_indices=True)."
        )

    def check_indices(self, indices):
        """ValueError unless `indices` are int positions in [0, num_images)."""
        name = type(self).__name__
        if indices is None:
            raise ValueError(
                f"{name} learns one latent code per training image and trains on (images, indices) "
                "batches, the index naming the image's code; got images only. Load the data with "
                "kerasgen.datasets.load(..., with_indices=True), or call fit(images, np.arange(len(images)))."
            )
        values = np.asarray(indices)
        if not np.issubdtype(values.dtype, np.integer) or values.ndim != 1:
            raise ValueError(
                f"{name} expects int image indices of shape (batch,), got dtype {values.dtype} and shape "
                f"{values.shape}. Load the data with kerasgen.datasets.load(..., with_indices=True)."
            )
        if values.size and (values.min() < 0 or values.max() >= self.num_images):
            raise ValueError(self._indices_template().format(values.min(), values.max()))

    def _indexed_batch(self, data):
        images, indices = split_batch(data)
        if indices is None:
            self.check_indices(None)
        indices = ops.cast(indices, "int32")
        # Later batches are not checked by check_training_data; fail loudly instead of gathering garbage.
        tf.debugging.assert_non_negative(indices, message="GLO image indices must be >= 0")
        tf.debugging.assert_less(
            indices, self.num_images,
            message=f"GLO image indices must be < num_images={self.num_images}; build the model with "
            "num_images = the number of training images",
        )
        return ops.cast(images, "float32"), indices

    # -------------------------------------------------------------- losses
    def reconstruction_loss(self, images, reconstructions):
        """`(batch,)` loss l(G(z_i), x_i): Lap1, pixel MSE, or Lap1 + VGG feature L1."""
        if self.loss == "mse":
            return losses.mean_squared_error(images, reconstructions)
        lap1 = losses.laplacian_pyramid_l1(images, reconstructions, levels=self.pyramid_levels)
        if self.loss == "vgg":
            for real, fake in zip(self.vgg_features(images), self.vgg_features(reconstructions)):
                lap1 = lap1 + ops.mean(ops.reshape(ops.abs(real - fake), (ops.shape(real)[0], -1)), axis=-1)
        return lap1

    def _generate(self, codes, training=False):
        return ops.cast(self.generator(codes, training=training), "float32")

    def _batch_codes(self, indices):
        # Gathering from the variable itself gives IndexedSlices gradients: only the batch's rows move.
        return tf.gather(self.codes.value, indices)

    # ----------------------------------------------------------- algorithm
    def glo_step(self, images, indices):
        """One joint step on theta and the batch's codes, then the projection. Returns the loss."""
        with tf.GradientTape() as tape:
            reconstructions = self._generate(self._batch_codes(indices), training=True)
            loss = ops.mean(self.reconstruction_loss(images, reconstructions))
        self.apply_gradient_groups(
            tape, loss, [(self.generator.trainable_variables, self.optimizer), ([self.codes], self.code_optimizer)]
        )
        self.project_codes()
        return loss

    def glo_loss(self, images, indices):
        """The batch's reconstruction loss, no update (inference mode)."""
        reconstructions = self._generate(self._batch_codes(indices), training=False)
        return ops.mean(self.reconstruction_loss(images, reconstructions))

    def train_step(self, data):
        images, indices = self._indexed_batch(data)
        return self.record(loss=self.glo_step(images, indices))

    def test_step(self, data):
        images, indices = self._indexed_batch(data)
        return self.record(loss=self.glo_loss(images, indices))

    # ----------------------------------------------------------- public API
    def call(self, z, training=False):
        """z ~ N(0, I) `(batch, latent_dim)` -> G(mu + z L^T), images in `value_range` (float32)."""
        z = ops.cast(z, "float32")
        codes = self.code_mean + ops.matmul(z, ops.transpose(self.code_cholesky))
        return self._generate(codes, training=training)

    @sampler
    def generate(self, num_samples, seed=None):
        """`num_samples` images from the Gaussian fitted to the codes (int `seed` = reproducible)."""
        return self.call(self.sample_latents(num_samples, seed))

    def reconstruct_training_images(self, indices):
        """G(z_i) for training-image indices `(n,)`: the images as the model has learned them.

        (Not `reconstruct`: that name maps images to images in the autoencoders.)
        """
        indices = np.asarray(indices, dtype=np.int32).reshape(-1)
        self.check_indices(indices)
        return self._generate(ops.take(self.codes, indices, axis=0), training=False)

    def interpolate(self, index_a, index_b, steps=8):
        """`steps` images along the straight line between the codes of two training images
        (each point projected like the codes, so on the sphere for "sphere")."""
        indices = np.asarray([index_a, index_b], dtype=np.int32)
        self.check_indices(indices)
        start, end = ops.take(self.codes, indices, axis=0)
        t = ops.reshape(ops.linspace(0.0, 1.0, int(steps)), (-1, 1))
        return self._generate(self.project((1.0 - t) * start + t * end), training=False)

    # ------------------------------------------------------------- protocol
    def serving_endpoints(self):
        """`serving_default(z) -> {images, images_uint8}`: z ~ N(0, I) through the fitted Gaussian and G."""
        return {"serving_default": serving.generator_endpoint(self)}

    def previews(self, images=None, labels=None, targets=None, num_samples=64, seed=0, **options):
        """Samples."""
        return previews.samples(self, num_samples, seed)

    # ------------------------------------------------------------ compile
    OPTIMIZERS = (("generator_optimizer", "optimizer", "generator_variables"),
                  ("code_optimizer", "code_optimizer", "code_variables"))

    @property
    def code_variables(self):
        return [self.codes]

    def default_optimizers(self):
        """(generator, codes) optimizers of `compile()`: Adam(1e-3) and the paper's SGD(10)
        (the paper's SGD(1) for the generator does not train it; see the class docstring)."""
        return keras.optimizers.Adam(1e-3), keras.optimizers.SGD(10.0)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_images=self.num_images,
            loss=self.loss,
            projection=self.projection,
            vgg_weights=None if self.vgg_weights is None else os.fspath(self.vgg_weights),
            base_filters=self.base_filters,
            pyramid_levels=self.pyramid_levels,
            initialization=self.initialization,
        )
        return config


@register(
    "glann",
    family="generator",
    data="indexed_images",
    summary="GLO, then an IMLE mapper from noise to the GLO latent space",
    paper="Hoshen et al., 2019",
    small_config={"latent_dim": 8, "num_images": 2048, "base_filters": 8},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class GLANN(GLO):
    """Generative Latent Nearest Neighbours (Hoshen, Li & Malik, 2019).

    GLO (codes, generator G, Laplacian loss; see `GLO`) plus a mapper T, an
    MLP from noise e ~ N(0, I_noise_dim) to the code space, trained by IMLE:
    for a batch's codes z_i, draw m = samples_per_example * n noise vectors,
    find for each z_i the nearest mapped T(e_j) (squared Euclidean distance,
    exact search), and take a gradient step on 1/n sum_i ||z_i - T(e_sigma(i))||^2.
    Samples are x = G(T(e)).

    The paper trains the stages one after the other: GLO to convergence,
    then the mapper on the final codes. `stage` chooses what a `fit` step
    updates:

    - "glo": only the generator and the codes (the mapper is untouched);
    - "mapper": only the mapper (generator and codes are untouched);
    - "both" (default): a GLO step, then a mapper step towards the batch's
      freshly updated codes, so the mapper chases the codes as they move.

    Setting `model.stage` makes the next `fit` retrace its train function.
    Both losses are measured in every stage (the frozen part without update),
    so the reported values stay meaningful.

    Args:
        latent_dim: size of the GLO codes (default 32).
        image_shape, num_images, generator, loss, projection, vgg_weights,
            base_filters, pyramid_levels, value_range, seed: see `GLO`.
        noise_dim: size of the mapper's noise input (default latent_dim).
        mapper: optional Keras model `e (batch, noise_dim) -> (batch, latent_dim)`;
            default `networks.mlp_mapper` (two hidden layers of 256 units).
        stage: "glo", "mapper" or "both" (see above).
        samples_per_example: m / n for the IMLE mapper step (default 10).
        distance_chunk: candidates per distance matrix in the search.

    `compile()` takes `generator_optimizer`, `code_optimizer` (defaults as in
    `GLO`) and `mapper_optimizer` (default Adam(1e-3)). Reported: `loss` (the
    GLO loss) and `mapper_loss` (mean squared distance from each code to its
    selected mapped noise).
    """

    loss_names = ("loss", "mapper_loss")
    NETWORKS = ("generator", "mapper")
    STAGES = ("glo", "mapper", "both")

    def __init__(
        self,
        latent_dim=32,
        image_shape=(28, 28, 1),
        *,
        noise_dim=None,
        mapper=None,
        stage="both",
        samples_per_example=10,
        distance_chunk=1024,
        **kwargs,
    ):
        super().__init__(latent_dim, image_shape, **kwargs)
        if int(samples_per_example) < 1:
            raise ValueError(f"samples_per_example must be >= 1, got {samples_per_example}.")
        if int(distance_chunk) < 1:
            raise ValueError(f"distance_chunk must be >= 1, got {distance_chunk}.")
        self.noise_dim = int(noise_dim or self.latent_dim)
        self.samples_per_example = int(samples_per_example)
        self.distance_chunk = int(distance_chunk)
        self.mapper = mapper or networks.mlp_mapper(self.noise_dim, self.latent_dim)
        self.stage = stage

    @property
    def stage(self):
        """"glo", "mapper" or "both": what a training step updates."""
        return self._stage

    @stage.setter
    def stage(self, value):
        if value not in self.STAGES:
            raise ValueError(f"stage must be one of {self.STAGES}, got {value!r}.")
        self._stage = value
        # train_step branches on the stage in Python: the traced function must be rebuilt.
        self.train_function = None

    def sample_latents(self, num_samples, seed=None):
        """`(num_samples, noise_dim)` draws of the mapper's noise e ~ N(0, I)."""
        return keras.random.normal(
            (num_samples, self.noise_dim), seed=self.seed_generator if seed is None else seed
        )

    def _map(self, noise, training=False):
        return ops.cast(self.mapper(noise, training=training), "float32")

    def mapper_step(self, indices, update=True):
        """IMLE on the codes of the batch: each code pulls its nearest of m mapped noises.

        Returns the mean squared distance from the codes to their selected
        mapped noises (the mapper loss); `update=False` only measures it.
        """
        targets = ops.stop_gradient(self._batch_codes(indices))
        noise = self.sample_latents(ops.shape(indices)[0] * self.samples_per_example)
        mapped = ops.stop_gradient(self._map(noise, training=False))
        nearest, distances = nearest_neighbours(targets, mapped, self.distance_chunk)
        if not update:
            return ops.mean(distances)
        selected = ops.take(noise, nearest, axis=0)
        with tf.GradientTape() as tape:
            loss = ops.mean(ops.sum(ops.square(targets - self._map(selected, training=True)), axis=-1))
        self.apply_gradients(tape, loss, self.mapper.trainable_variables, self.mapper_optimizer)
        return loss

    def train_step(self, data):
        images, indices = self._indexed_batch(data)
        if self.stage == "mapper":
            loss = self.glo_loss(images, indices)
        else:
            loss = self.glo_step(images, indices)
        mapper_loss = self.mapper_step(indices, update=self.stage != "glo")
        return self.record(loss=loss, mapper_loss=mapper_loss)

    def test_step(self, data):
        images, indices = self._indexed_batch(data)
        return self.record(loss=self.glo_loss(images, indices), mapper_loss=self.mapper_step(indices, update=False))

    # ----------------------------------------------------------- public API
    def call(self, noise, training=False):
        """e `(batch, noise_dim)` -> G(T(e)), images in `value_range` (float32)."""
        return self._generate(self._map(noise, training=training), training=training)

    @sampler
    def generate(self, num_samples, seed=None):
        """`num_samples` images G(T(e)), e ~ N(0, I_noise_dim) (int `seed` = reproducible)."""
        return self.call(self.sample_latents(num_samples, seed))

    def serving_endpoints(self):
        """`serving_default(z) -> {images, images_uint8}` with z ~ N(0, I) of width `noise_dim`: G(T(z))."""
        return {"serving_default": serving.generator_endpoint(self, self.noise_dim)}

    # ------------------------------------------------------------ compile
    OPTIMIZERS = GLO.OPTIMIZERS + (("mapper_optimizer", "mapper_optimizer", "mapper_variables"),)

    @property
    def mapper_variables(self):
        return self.mapper.trainable_variables

    def default_optimizers(self):
        """GLO's two, plus Adam(1e-3) for the mapper."""
        return (*super().default_optimizers(), keras.optimizers.Adam(1e-3))

    def get_config(self):
        config = super().get_config()
        config.update(
            noise_dim=self.noise_dim,
            stage=self.stage,
            samples_per_example=self.samples_per_example,
            distance_chunk=self.distance_chunk,
        )
        return config
