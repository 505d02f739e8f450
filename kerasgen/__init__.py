"""kerasgen: deep generative models as Keras 3 models, trained with `fit`.

    import kerasgen
    train = kerasgen.datasets.load("fashion_mnist", batch_size=128)   # float32 in [-1, 1]
    vae = kerasgen.models.VAE(latent_dim=16, image_shape=(28, 28, 1))
    vae.compile()
    vae.fit(train, epochs=10)
    images = vae.generate(64, seed=0)
"""

from kerasgen import (
    callbacks,
    datasets,
    distribute,
    export,
    images,
    layers,
    losses,
    metrics,
    models,
    networks,
    precision,
    previews,
    schedules,
    serving,
    testing,
    training_data,
)

__version__ = "0.1.0"

__all__ = ["callbacks", "datasets", "distribute", "export", "images", "layers", "losses", "metrics", "models", "networks",
           "precision", "previews", "schedules", "serving", "testing", "training_data"]
