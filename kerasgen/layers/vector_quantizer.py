"""Vector quantization for the VQ-VAE (van den Oord, Vinyals & Kavukcuoglu, 2017).

Each D-dimensional encoder output z_e(x) on the latent grid is replaced by its
nearest codebook vector (eq. 1-2):

    k = argmin_j ||z_e(x) - e_j||_2,   z_q(x) = e_k,

and the decoder's gradient is copied straight through to the encoder
(Sec. 3.2): z_e + sg[z_q - z_e] equals z_q in the forward pass and has the
identity Jacobian with respect to z_e.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


def straight_through(encodings, codes):
    """z_e + sg[z_q - z_e]: the codes' values with the identity gradient to `encodings`."""
    encodings = ops.cast(encodings, "float32")
    return encodings + ops.stop_gradient(ops.cast(codes, "float32") - encodings)


def code_statistics(indices, num_codes):
    """`(perplexity, usage)` of a batch of code indices: exp(H(p)) of the codes' empirical
    distribution p over `num_codes` (1 when one code is used, `num_codes` when all are used
    equally), and the fraction of the codebook used at least once."""
    flat = ops.reshape(ops.cast(indices, "int32"), (-1,))
    p = ops.mean(ops.one_hot(flat, num_codes, dtype="float32"), axis=0)
    entropy = -ops.sum(p * ops.log(ops.maximum(p, 1e-10)))
    return ops.exp(entropy), ops.mean(ops.cast(p > 0.0, "float32"))


def _sum_over_replicas(value):
    """`value` summed over the replicas of a `tf.distribute` strategy (itself outside one)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce("sum", value)


@keras.saving.register_keras_serializable(package="kerasgen")
class VectorQuantizer(keras.layers.Layer):
    """A codebook of `num_codes` vectors of size `code_dim` and nearest-code lookup.

    Args:
        num_codes: K, the codebook size (the paper's 512).
        code_dim: D, the size of each code and of the encoder's output channels.
        ema: update the codebook by exponential moving averages (the paper's
            Appendix A.1) instead of by gradient on the codebook loss; the
            codebook is then not trainable.
        decay: gamma of the moving averages (the paper's 0.99).
        epsilon: Laplace smoothing of the averaged cluster sizes, so that an
            unused code never divides by zero.

    Computes in float32 whatever the dtype policy: nearest-code choices and
    codebook statistics need the precision.

    `call(encodings)` returns `(quantized, indices)`: the straight-through
    codes `(B, h, w, D)` float32 and their indices `(B, h, w)` int32.
    """

    def __init__(self, num_codes=512, code_dim=64, *, ema=False, decay=0.99, epsilon=1e-5, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if int(num_codes) < 2 or int(code_dim) < 1:
            raise ValueError(f"num_codes must be >= 2 and code_dim >= 1, got {num_codes} and {code_dim}.")
        if not 0.0 < float(decay) < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}.")
        self.num_codes, self.code_dim = int(num_codes), int(code_dim)
        self.ema, self.decay, self.epsilon = bool(ema), float(decay), float(epsilon)
        # Uniform in +-sqrt(3 / K): Sonnet's VQ initializer (variance scaling, fan-in K).
        self.codebook = self.add_weight(
            shape=(self.num_codes, self.code_dim), name="codebook", trainable=not self.ema,
            initializer=keras.initializers.VarianceScaling(1.0, "fan_in", "uniform"),
            # Under a strategy every replica computes the same EMA update from all-reduced sums.
            aggregation="mean" if self.ema else "none")
        if self.ema:
            # N_i = 1 and m_i = e_i: each code starts as the mean of one pseudo-observation at its initial
            # value, so a code no encoding picks keeps it (ratio m_i / N_i constant) instead of being sent
            # to m_i / eps, far from the data, by a zero count.
            self.cluster_size = self.add_weight(shape=(self.num_codes,), name="ema_cluster_size",
                                                initializer="ones", trainable=False, aggregation="mean")
            self.code_sum = self.add_weight(shape=(self.num_codes, self.code_dim), name="ema_code_sum",
                                            initializer="zeros", trainable=False, aggregation="mean")
            self.code_sum.assign(self.codebook)
        self.built = True

    def nearest(self, encodings):
        """Encodings `(..., D)` -> int32 indices `(...)` of the nearest codes in Euclidean distance."""
        flat = ops.reshape(ops.cast(encodings, "float32"), (-1, self.code_dim))
        codebook = ops.convert_to_tensor(self.codebook)
        # ||z||^2 - 2 z.e + ||e||^2; ||z||^2 is the same for every code and left out.
        distances = ops.sum(ops.square(codebook), axis=1)[None, :] - 2.0 * ops.matmul(flat, ops.transpose(codebook))
        indices = ops.cast(ops.argmin(distances, axis=1), "int32")
        return ops.reshape(indices, ops.shape(encodings)[:-1])

    def lookup(self, indices):
        """Int indices `(...)` -> float32 codes `(..., D)`."""
        return ops.take(ops.convert_to_tensor(self.codebook), ops.cast(indices, "int32"), axis=0)

    def call(self, encodings):
        indices = self.nearest(encodings)
        return straight_through(encodings, self.lookup(indices)), indices

    def update_codebook(self, encodings, indices):
        """One EMA step (Appendix A.1, eq. 6-8) on a batch; requires `ema=True`.

            N_i <- gamma N_i + (1 - gamma) n_i,
            m_i <- gamma m_i + (1 - gamma) sum_{j: k_j = i} z_e_j,
            e_i <- m_i / N~_i,

        n_i the batch's count of code i (over all replicas of a strategy) and
        N~_i = (N_i + eps) / (n + K eps) * n the Laplace-smoothed count.
        """
        if not self.ema:
            raise ValueError("update_codebook needs VectorQuantizer(ema=True); without it the codebook "
                             "learns by gradient on the codebook loss.")
        flat = ops.reshape(ops.stop_gradient(ops.cast(encodings, "float32")), (-1, self.code_dim))
        one_hot = ops.one_hot(ops.reshape(ops.cast(indices, "int32"), (-1,)), self.num_codes, dtype="float32")
        counts = _sum_over_replicas(ops.sum(one_hot, axis=0))
        sums = _sum_over_replicas(ops.matmul(ops.transpose(one_hot), flat))
        gamma = self.decay
        cluster_size = gamma * self.cluster_size + (1.0 - gamma) * counts
        code_sum = gamma * self.code_sum + (1.0 - gamma) * sums
        total = ops.sum(cluster_size)
        smoothed = (cluster_size + self.epsilon) / (total + self.num_codes * self.epsilon) * total
        self.cluster_size.assign(cluster_size)
        self.code_sum.assign(code_sum)
        self.codebook.assign(code_sum / smoothed[:, None])

    def compute_output_spec(self, encodings):
        return (keras.KerasTensor(encodings.shape, "float32"), keras.KerasTensor(encodings.shape[:-1], "int32"))

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        config.update(num_codes=self.num_codes, code_dim=self.code_dim, ema=self.ema, decay=self.decay,
                      epsilon=self.epsilon)
        return config
