"""The `kerasgen` command line: train, sample.

    kerasgen train vae --epochs 5 --out runs/vae      # model.keras, PNG grids, TensorBoard logs
    kerasgen sample runs/vae --num 64 --out grid.png
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time


def _parse_model_arg(text):
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def build_parser():
    from kerasgen.models import REGISTRY

    parser = argparse.ArgumentParser(
        prog="kerasgen",
        description="Train and sample deep generative models (Keras 3).",
        epilog="Run `kerasgen COMMAND --help` for the options of a command.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models_help = "; ".join(f"{name}: {spec.summary}" for name, spec in REGISTRY.items())
    train = commands.add_parser(
        "train",
        help="train a zoo model and write model.keras, sample grids and TensorBoard logs",
        description=f"Train a model from the zoo. Models: {models_help}.",
    )
    train.add_argument("model", choices=sorted(REGISTRY), help="which model to train")
    train.add_argument("--dataset", default="fashion_mnist", help="dataset name, IDX folder or image folder (default: fashion_mnist)")
    train.add_argument("--data-dir", default=None, help="folder holding the dataset files (IDX files for fashion_mnist)")
    train.add_argument("--epochs", type=int, default=5, help="training epochs (default: 5)")
    train.add_argument("--batch-size", type=int, default=128, help="global batch size (default: 128)")
    train.add_argument("--latent-dim", type=int, default=None, help="latent size (default: the model's own)")
    train.add_argument("--learning-rate", type=float, default=None, help="optimizer learning rate (default: the paper's)")
    train.add_argument("--limit", type=int, default=None, help="train on the first N images only (quick runs)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--out", default=None, help="run folder (default: runs/MODEL)")
    train.add_argument(
        "--model-arg", action="append", type=_parse_model_arg, default=[], metavar="KEY=VALUE",
        help="extra model constructor argument, e.g. --model-arg beta=4 (repeatable)",
    )
    train.set_defaults(handler=train_command)

    sample = commands.add_parser(
        "sample",
        help="write a PNG grid of samples from a trained run",
        description="Generate images from a run folder (or a .keras file) and write them as one PNG grid.",
    )
    sample.add_argument("run", help="run folder written by `kerasgen train`, or a .keras file")
    sample.add_argument("--num", type=int, default=64, help="number of images (default: 64)")
    sample.add_argument("--labels", type=int, nargs="*", default=None, help="class labels for conditional models")
    sample.add_argument("--seed", type=int, default=None, help="sampling seed (default: random)")
    sample.add_argument("--out", default="samples.png", help="output PNG (default: samples.png)")
    sample.set_defaults(handler=sample_command)
    return parser


def train_command(args):
    import keras

    from kerasgen import callbacks, datasets, models

    spec = models.get(args.model)
    keras.utils.set_random_seed(args.seed)
    out = args.out or os.path.join("runs", args.model)
    os.makedirs(out, exist_ok=True)

    model_kwargs = dict(args.model_arg)
    if args.latent_dim:
        model_kwargs["latent_dim"] = args.latent_dim
    probe = datasets.load_arrays(args.dataset, split="train", data_dir=args.data_dir, limit=1)[0]
    model = spec.create(image_shape=probe.shape[1:], seed=args.seed, **model_kwargs)

    load_kwargs = dict(
        batch_size=args.batch_size, value_range=model.value_range, data_dir=args.data_dir,
        with_labels=spec.conditional, seed=args.seed,
    )
    train = datasets.load(args.dataset, split="train", limit=args.limit, **load_kwargs)
    held_out, held_out_labels = _held_out(datasets, args, model.value_range)

    optimizer = None
    if args.learning_rate:
        optimizer = keras.optimizers.Adam(args.learning_rate)
    model.compile(optimizer=optimizer)
    model_path = os.path.join(out, "model.keras")
    history = model.fit(
        train,
        epochs=args.epochs,
        callbacks=[
            callbacks.SampleGrid(os.path.join(out, "samples"), images=held_out, labels=held_out_labels, seed=args.seed),
            keras.callbacks.TensorBoard(os.path.join(out, "logs")),
            keras.callbacks.TerminateOnNaN(),
            callbacks.AtomicModelCheckpoint(model_path),
        ],
    )
    losses = history.history.get("loss", [])
    if losses and losses[-1] != losses[-1]:
        sys.exit(
            f"Training stopped: the loss became NaN in epoch {len(losses)}. "
            "Lower --learning-rate or check the data range; the last good model is in " + model_path
        )
    summary = {"model": args.model, "args": {k: v for k, v in vars(args).items() if k != "handler"},
               "history": {k: [float(x) for x in v] for k, v in history.history.items()}}
    with open(os.path.join(out, "run.json"), "w") as handle:
        json.dump(summary, handle, indent=2)
    print(f"Wrote {model_path}, sample grids in {os.path.join(out, 'samples')}, TensorBoard logs in {os.path.join(out, 'logs')}")


def _held_out(datasets, args, value_range, count=2048):
    images, labels = datasets.load_arrays(args.dataset, split="test", data_dir=args.data_dir, limit=count)
    return datasets.to_value_range(images, value_range), labels


def load_run(path):
    """Loads the model of a run folder (its model.keras) or a .keras file."""
    import keras

    import kerasgen  # noqa: F401  (registers the serializable classes)

    model_path = os.path.join(path, "model.keras") if os.path.isdir(path) else path
    if not os.path.exists(model_path):
        sys.exit(f"No trained model at {model_path}: pass a run folder written by `kerasgen train` or a .keras file.")
    return keras.models.load_model(model_path)


def sample_command(args):
    import keras

    from kerasgen import images

    model = load_run(args.run)
    if not hasattr(model, "generate"):
        sys.exit(f"{type(model).__name__} cannot sample new images (it has no prior); use a VAE or GAN run.")
    kwargs = {"seed": args.seed}
    if getattr(model, "num_classes", None):
        kwargs["labels"] = args.labels
    generated = keras.ops.convert_to_numpy(model.generate(args.num, **kwargs))
    # Conditional samples default to labels 0, 1, 2, ...: one class per column.
    images.save_grid(generated, args.out, model.value_range, columns=getattr(model, "num_classes", None))
    print(f"Wrote {args.num} samples to {args.out}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.time()
    args.handler(args)
    print(f"Done in {time.time() - start:.1f} s.")


if __name__ == "__main__":
    main()
