"""The `kerasgen` command line: train, sample, export, evaluate.

    kerasgen train vae --epochs 5 --out runs/vae      # model.keras, PNG grids, TensorBoard logs
    kerasgen train vae --epochs 10 --out runs/vae --resume
    kerasgen sample runs/vae --num 64 --out grid.png
    kerasgen export runs/vae --out saved_models/vae_fashion_mnist
    kerasgen evaluate saved_models/dcgan_fashion_mnist --num-samples 10000
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import os
import sys
import time

import keras


def _parse_model_arg(text):
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _bounded(convert, what, accept):
    """An argparse type: `convert(text)`, a usage error unless `accept(value)`; `what` names the range."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    return parse


_positive_int = _bounded(int, "a positive integer", lambda value: value >= 1)
_non_negative_int = _bounded(int, "a non-negative integer", lambda value: value >= 0)
_positive_float = _bounded(float, "a positive finite number", lambda value: 0 < value < float("inf"))


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
    train.add_argument("--dataset", default=None, help="dataset name, IDX folder or image folder (default: fashion_mnist)")
    train.add_argument("--data-dir", default=None, help="folder holding the dataset files (IDX files for fashion_mnist)")
    train.add_argument(
        "--dataset-b", default=None,
        help="translation models: domain B (outputs) beside --dataset as domain A, e.g. two image folders; "
        "without it, pix2pix learns Fashion-MNIST edge maps -> images and cyclegan two Fashion-MNIST classes",
    )
    train.add_argument(
        "--classes", type=int, nargs=2, default=None, metavar=("A", "B"),
        help="cyclegan on fashion_mnist: the classes of domains A and B (default: 7 9, sneakers -> ankle boots)",
    )
    train.add_argument("--epochs", type=_positive_int, default=None, help="training epochs in all, resumed ones included (default: 5)")
    train.add_argument(
        "--batch-size", type=_positive_int, default=None,
        help="images per update: 128 for autoencoders/VAEs; for GANs the real minibatch m of each "
        "discriminator step (default 64), so fit batches hold k * m images; 32 pairs for translation models",
    )
    train.add_argument("--latent-dim", type=_positive_int, default=None, help="latent size (default: the model's own)")
    train.add_argument("--learning-rate", type=_positive_float, default=None,
                       help="optimizer learning rate (default: the paper's); with --resume, applied to the resumed run")
    train.add_argument("--limit", type=_positive_int, default=None, help="train on the first N images only (quick runs)")
    train.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    train.add_argument(
        "--strategy", default="auto", choices=["auto", "default", "mirrored", "multi_worker"],
        help="tf.distribute strategy: auto = MirroredStrategy over 2+ local GPUs, else none; "
        "multi_worker reads TF_CONFIG (see kerasgen.distribute)",
    )
    train.add_argument(
        "--precision", default=None, choices=["auto", "float32", "mixed_bfloat16", "mixed_float16"],
        help="dtype policy; auto = mixed_float16 on GPUs, on CPUs the faster of float32 and mixed_bfloat16 "
        "(measured once per CPU, see kerasgen.precision)",
    )
    train.add_argument("--out", default=None, help="run folder (default: runs/MODEL)")
    train.add_argument(
        "--resume", action="store_true",
        help="continue the run in --out from its last complete epoch (model, optimizer and noise state) up to "
        "--epochs; other options default to the run's own and must match it (except --learning-rate)",
    )
    train.add_argument(
        "--overwrite", action="store_true",
        help="train from scratch in an --out that already holds a run (its model is replaced once the "
        "new run's first epoch is saved)",
    )
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
    sample.add_argument("--num", type=_positive_int, default=64, help="number of images (default: 64)")
    sample.add_argument("--labels", type=int, nargs="*", default=None, help="class labels for conditional models")
    sample.add_argument("--seed", type=int, default=None, help="sampling seed (default: random)")
    sample.add_argument("--out", default="samples.png", help="output PNG (default: samples.png)")
    sample.set_defaults(handler=sample_command)

    export = commands.add_parser(
        "export",
        help="export a trained run as a versioned SavedModel for TF Serving",
        description="Write RUN's model as OUT/<version>/saved_model.pb with named serving signatures "
        "(the layout tensorflow_model_server --model_base_path=OUT expects).",
    )
    export.add_argument("run", help="run folder written by `kerasgen train`, or a .keras file")
    export.add_argument("--out", required=True, help="model base directory, e.g. saved_models/vae_fashion_mnist")
    export.add_argument("--version", type=_non_negative_int, default=None, help="version number (default: next integer)")
    export.set_defaults(handler=export_command)

    evaluate = commands.add_parser(
        "evaluate",
        help="score a run or SavedModel: FID, KID, precision/recall in a named feature space",
        description="Generate --num-samples images from RUN (a run folder, .keras file, SavedModel version "
        "folder or TF Serving base folder) and compare them with the dataset's test split. Prints and writes "
        "JSON; the feature space is named next to every number. --train-classifier DATASET trains (or loads "
        "from cache) the domain classifier used as the default offline feature space and prints its accuracy.",
    )
    evaluate.add_argument("run", nargs="?", help="run folder, .keras file or SavedModel folder to score")
    evaluate.add_argument("--num-samples", type=_positive_int, default=10_000, help="generated images (default: 10000)")
    evaluate.add_argument(
        "--features", default="fashion_mnist_classifier", choices=["fashion_mnist_classifier", "inception"],
        help="feature space (default: fashion_mnist_classifier, trained by kerasgen; inception needs --inception-weights)",
    )
    evaluate.add_argument("--inception-weights", default=None, help="local InceptionV3 (no top) weights file")
    evaluate.add_argument("--dataset", default="fashion_mnist", help="real images: this dataset's test split")
    evaluate.add_argument("--data-dir", default=None, help="folder holding the dataset files")
    evaluate.add_argument("--train-classifier", metavar="DATASET", default=None,
                          help="train/cache the domain classifier of DATASET and report its test accuracy")
    evaluate.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    evaluate.add_argument("--out", default=None, help="JSON output (default: RUN/evaluation.json for a run folder, else ./evaluation.json)")
    evaluate.set_defaults(handler=evaluate_command)
    return parser


#: Options that define a run, with their defaults. `--resume` takes the run's own
#: value for each one not given and refuses a different one (changing the data or
#: the architecture mid-run is a new run, not a resumed one).
RUN_OPTIONS = {"dataset": "fashion_mnist", "data_dir": None, "dataset_b": None, "classes": None,
               "batch_size": None, "limit": None, "seed": 0, "precision": "auto", "model_arg": {}}
DEFAULT_EPOCHS = 5


def _json_value(value):
    """`value` as it comes back from JSON (tuples as lists), for comparisons with a stored run."""
    return json.loads(json.dumps(value))


def _run_folder(args):
    """The run folder `--out` (default runs/MODEL), or a one-line exit if it cannot be one."""
    out = args.out or os.path.join("runs", args.model)
    if os.path.exists(out) and not os.path.isdir(out):
        sys.exit(f"--out {out} is a file, not a folder: pass a folder for the run (it is created if missing).")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as error:
        sys.exit(f"Cannot create the run folder --out {out}: {error.strerror or error}.")
    return out


def _existing_run(callbacks, model_path, args):
    """The checkpoint state of the run in `model_path`'s folder (None if none); exits where training
    would resume nothing or overwrite a run without --overwrite."""
    out = os.path.dirname(model_path)
    state_name = os.path.basename(callbacks.AtomicModelCheckpoint.state_path(model_path))
    try:
        state = callbacks.recover_checkpoint(model_path)  # also finishes a commit a kill interrupted
    except callbacks.CheckpointError as error:
        if not args.overwrite:
            sys.exit(f"Cannot {'resume' if args.resume else 'train'}: {error}")
        state = None
    has_model = os.path.exists(model_path)
    if args.resume and args.overwrite:
        sys.exit("--resume continues the run in --out and --overwrite replaces it: pass one of them.")
    if args.resume and state is not None:
        try:
            callbacks.check_checkpoint(model_path)  # a damaged model is the first thing to report
        except callbacks.CheckpointError as error:
            sys.exit(f"Cannot resume: {error}")
    if args.resume and state is None:
        if has_model:
            sys.exit(
                f"Cannot resume: {model_path} has no {state_name} beside it, so kerasgen cannot tell which epoch "
                "it holds or check that it is complete. It is left untouched: copy it elsewhere to keep it, "
                "then train with --overwrite to start from scratch in this folder, or pick another --out."
            )
        sys.exit(f"Cannot resume: nothing to resume in {out} (no model.keras and {state_name}). "
                 "Run without --resume to start training there.")
    if not args.resume and not args.overwrite and (state is not None or has_model):
        held = f"epoch {state['epochs_completed']} of a run" if state else "a model.keras"
        sys.exit(
            f"{out} already holds {held}; kerasgen never overwrites a run silently. Pass --resume to continue "
            "it, --overwrite to train from scratch and replace it, or another --out."
        )
    return state


def _resolve_run_options(args, state):
    """Fills the options left unset: from the resumed run's record, else the defaults.

    Exits when --resume gets an option whose value differs from the run's own.
    """
    recorded = (state or {}).get("run") if args.resume else None
    differences = []
    for name, default in RUN_OPTIONS.items():
        given = dict(args.model_arg) if name == "model_arg" else getattr(args, name)
        unset = given is None or given == {}
        if recorded is not None and name in recorded:
            own = recorded[name]
            if name == "model_arg" and not unset:
                differences += [f"--model-arg {key}={value!r} (the run's: {own.get(key, 'the default')!r})"
                                for key, value in given.items() if _json_value(value) != own.get(key, object())]
            elif not unset and _json_value(given) != own:
                differences.append(f"--{name.replace('_', '-')} {given} (the run's: {own})")
            given = own
        elif unset:
            given = default
        setattr(args, name, given)
    if differences:
        sys.exit(
            "Cannot resume with options that differ from the run's own: " + "; ".join(differences) + ". "
            "Drop them (the run's values are used), or start a new run in another --out."
        )


def _set_learning_rate(model, learning_rate):
    """Sets the learning rate of the model's optimizer (and discriminator's); returns the old one."""
    old = None
    for optimizer in (model.optimizer, getattr(model, "discriminator_optimizer", None)):
        if optimizer is None:
            continue
        inner = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer's own rate is unused
        if isinstance(inner._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            sys.exit(f"--learning-rate cannot replace the learning-rate schedule of {type(model).__name__}'s "
                     "optimizer; drop it, or change the schedule in Python.")
        old = float(keras.ops.convert_to_numpy(optimizer.learning_rate)) if old is None else old
        optimizer.learning_rate.assign(learning_rate)
    return old


def _record(args, batch_size):
    """What defines the run, stored in its checkpoint state for --resume."""
    run = {name: _json_value(dict(args.model_arg) if name == "model_arg" else getattr(args, name))
           for name in RUN_OPTIONS}
    run.update(model=args.model, batch_size=batch_size, learning_rate=args.learning_rate)
    return run


def train_command(args):
    from kerasgen import callbacks, distribute, models, precision

    spec = models.get(args.model)
    out = _run_folder(args)
    model_path = os.path.join(out, "model.keras")
    state = _existing_run(callbacks, model_path, args)
    _resolve_run_options(args, state)
    strategy = distribute.get_strategy(args.strategy)  # before any other TF op (multi-worker needs it)
    keras.utils.set_random_seed(args.seed)
    print(f"Precision policy: {precision.set_precision(args.precision)}; "
          f"{strategy.num_replicas_in_sync} replica(s) ({type(strategy).__name__})")

    if args.resume:
        try:
            with strategy.scope():
                model, initial_epoch = callbacks.load_checkpoint(model_path)
        except callbacks.CheckpointError as error:
            sys.exit(f"Cannot resume: {error}")
        if type(model) is not spec.cls:
            sys.exit(
                f"Cannot resume: {model_path} holds a {type(model).__name__} model, not {spec.cls.__name__}; "
                "pick another --out or the matching model name."
            )
        if args.latent_dim and args.latent_dim != model.latent_dim:
            sys.exit(f"Cannot resume with --latent-dim {args.latent_dim}: the run's model has latent_dim "
                     f"{model.latent_dim}. Drop --latent-dim, or start a new run in another --out.")
        epochs = args.epochs or state.get("epochs_requested", DEFAULT_EPOCHS)
        if epochs < initial_epoch:
            sys.exit(f"Cannot resume to --epochs {epochs}: {model_path} already holds {initial_epoch} epochs. "
                     f"Pass --epochs larger than {initial_epoch} to train further.")
        if epochs == initial_epoch:
            print(f"{model_path} already holds all {epochs} epochs: nothing to do (pass a larger --epochs "
                  "to train further).")
            return
        if args.learning_rate:
            old = _set_learning_rate(model, args.learning_rate)
            print(f"Learning rate set to {args.learning_rate:g} for the resumed epochs (the run used {old:g}).")
        print(f"Resuming {model_path} after epoch {initial_epoch} of {epochs}.")
    else:
        epochs = args.epochs or DEFAULT_EPOCHS
        with strategy.scope():
            model, initial_epoch = _new_model(spec, args), 0

    # --batch-size is images per update (a GAN's m; the model says how many a fit batch holds, k * m
    # for a GAN) and global: the strategy splits it over its replicas.
    batch_size = args.batch_size or model.default_batch_size
    data = _data_options(args)
    train = _or_exit(lambda: spec.data.load(
        split="train", batch_size=model.fit_batch_size(batch_size), value_range=model.value_range,
        seed=args.seed + initial_epoch, limit=args.limit, drop_remainder=model.drop_remainder, **data))
    # Held-out examples the model previews itself on (reconstructions, translations, ...).
    examples = spec.data.examples(count=32 if spec.pairing else 2048, value_range=model.value_range, **data)
    sample_grid = callbacks.SampleGrid(os.path.join(out, "samples"), seed=args.seed, **examples)

    nan_guard = callbacks.TerminateOnNaN()
    checkpoint = callbacks.AtomicModelCheckpoint(model_path, run=_record(args, batch_size))
    history = model.fit(
        train,
        epochs=epochs,
        initial_epoch=initial_epoch,
        # The guard first: it stops a diverged epoch before anything draws or saves it.
        callbacks=[nan_guard, sample_grid, keras.callbacks.TensorBoard(os.path.join(out, "logs")), checkpoint],
    )
    if nan_guard.message:
        sys.exit(f"{nan_guard.message} {_what_is_saved(callbacks, model_path, checkpoint, args.resume)}")
    summary = {"model": args.model, "args": {k: v for k, v in vars(args).items() if k != "handler"},
               "initial_epoch": initial_epoch, "epochs": epochs,
               "history": {k: [float(x) for x in v] for k, v in history.history.items()}}
    with open(os.path.join(out, "run.json"), "w") as handle:
        json.dump(summary, handle, indent=2, default=str)
    print(f"Wrote {model_path}, sample grids in {os.path.join(out, 'samples')}, TensorBoard logs in {os.path.join(out, 'logs')}")


def _what_is_saved(callbacks, model_path, checkpoint, resumed):
    """One sentence saying what a diverged run left on disk, read from the disk."""
    state = callbacks.recover_checkpoint(model_path)
    if state is None or not os.path.exists(model_path):
        return "Nothing was saved: no epoch of this run completed with finite weights."
    held = state["epochs_completed"]
    if checkpoint.saved_epochs or resumed:
        return (f"{model_path} holds epoch {held}, the last complete epoch with finite weights: continue from it "
                "with --resume and a lower --learning-rate.")
    return (f"No epoch of this run was saved; {model_path} still holds epoch {held} of the run it replaced, "
            "untouched.")


def _data_options(args):
    """The data options of the command line, as `TrainingData.load` takes them."""
    return dict(dataset=args.dataset, data_dir=args.data_dir, dataset_b=args.dataset_b, classes=args.classes)


def _or_exit(load):
    """`load()`, or a one-line exit for data that cannot serve the model (e.g. one domain for two)."""
    try:
        return load()
    except ValueError as error:
        sys.exit(f"Cannot load the training data: {error}")


def _new_model(spec, args):
    """Builds and compiles the model named on the command line (paper-default optimizers)."""
    model_kwargs = dict(args.model_arg)
    if args.latent_dim:
        if "latent_dim" not in inspect.signature(spec.cls).parameters:
            sys.exit(f"{spec.name} has no latent code: drop --latent-dim (use --model-arg to size it).")
        model_kwargs["latent_dim"] = args.latent_dim
    # What follows from the data: image_shape, and num_images (one code per image) or source_shape.
    shapes = _or_exit(lambda: spec.data.shape_arguments(limit=args.limit, **_data_options(args)))
    for key, value in shapes.items():
        model_kwargs.setdefault(key, value)
    model = spec.create(seed=args.seed, **model_kwargs)
    model.compile()
    if args.learning_rate:
        _set_learning_rate(model, args.learning_rate)
    return model


def load_run(path):
    """Loads the model of a run folder (its model.keras) or a .keras file."""
    import kerasgen  # noqa: F401  (registers the serializable classes)

    model_path = os.path.join(path, "model.keras") if os.path.isdir(path) else path
    if not os.path.exists(model_path):
        sys.exit(f"No trained model at {model_path}: pass a run folder written by `kerasgen train` or a .keras file.")
    return keras.models.load_model(model_path)


def sample_command(args):
    from kerasgen import images

    model = load_run(args.run)
    _require_sampler(model)
    kwargs = {"seed": args.seed}
    if getattr(model, "num_classes", None):
        kwargs["labels"] = args.labels
    try:
        generated = keras.ops.convert_to_numpy(model.generate(args.num, **kwargs))
    except ValueError as error:  # labels of the wrong count or range
        sys.exit(f"Cannot sample: {error}")
    # Conditional samples default to labels 0, 1, 2, ...: one class per column.
    images.save_grid(generated, args.out, model.value_range, columns=getattr(model, "num_classes", None))
    print(f"Wrote {args.num} samples to {args.out}")


def _require_sampler(model):
    """Exits with a message unless `model` can sample new images (`generate`)."""
    if hasattr(model, "translate"):
        sys.exit(f"{type(model).__name__} translates images instead of sampling them: its training run writes "
                 "translation grids in RUN/samples; in Python, call model.translate(images).")
    if not hasattr(model, "generate"):
        sys.exit(f"{type(model).__name__} cannot sample new images (it has no prior); use a run of a generative model.")


def export_command(args):
    from kerasgen import export

    model = load_run(args.run)
    path = export.save_for_serving(model, args.out, version=args.version)
    print(f"Wrote {path} with signatures {', '.join(export.signature_names(model))}")


#: How a client draws each kind of sampling input (`kerasgen.serving.KINDS`): N(0, I) or U[0, 1).
PRIOR_DRAWS = {
    "latent": lambda rng, shape: rng.normal(size=shape),
    "noise": lambda rng, shape: rng.uniform(size=shape),
}
#: Input kinds of exports written before the metadata recorded them, by input name.
_KIND_OF_NAME = {"z": "latent", "noise": "noise", "images": "images", "labels": "labels"}


def _saved_model_generator(path):
    """(generate(n, seed), value_range) for a SavedModel version folder or TF Serving base folder.

    Samples through `serving_default`, drawing each input from its prior
    (`PRIOR_DRAWS`; labels cycle 0, 1, 2, ...); exits if it takes images.
    """
    import numpy as np
    import tensorflow as tf

    versions = [d for d in os.listdir(path) if d.isdigit()] if not os.path.exists(os.path.join(path, "saved_model.pb")) else []
    version = os.path.join(path, max(versions, key=int)) if versions else path
    with open(os.path.join(version, "assets.extra", "kerasgen_export.json")) as handle:
        meta = json.load(handle)
    signature = tf.saved_model.load(version).signatures["serving_default"]
    _, specs = signature.structured_input_signature
    kinds = meta.get("inputs", {}).get("serving_default") or {name: _KIND_OF_NAME.get(name) for name in specs}
    unsampled = [name for name, kind in kinds.items() if kind not in PRIOR_DRAWS and kind != "labels"]
    if unsampled:
        sys.exit(f"{version} ({meta['model']}) serves serving_default({', '.join(specs)}): it maps "
                 f"{', '.join(unsampled)} to images and has no prior to sample from.")

    def generate(count, seed):
        rng = np.random.default_rng(seed)
        inputs = {}
        for name, spec in specs.items():
            if kinds[name] == "labels":
                inputs[name] = tf.constant(np.arange(count, dtype="int32") % meta["num_classes"])
            else:
                inputs[name] = tf.constant(PRIOR_DRAWS[kinds[name]](rng, (count, *spec.shape[1:])).astype("float32"))
        return signature(**inputs)["images"].numpy()

    return generate, tuple(meta["value_range"])


def evaluate_command(args):

    from kerasgen import callbacks, datasets
    from kerasgen.metrics import evaluation, features

    if args.train_classifier:
        extractor = features.train_domain_classifier(args.train_classifier)
        print(f"{extractor.name}: test accuracy {extractor.test_accuracy:.4f}")
        if not args.run:
            return
    if not args.run:
        sys.exit("Name a run folder, .keras file or SavedModel folder to evaluate (or pass --train-classifier).")
    if args.features == "inception":
        if not args.inception_weights:
            sys.exit("--features inception needs --inception-weights PATH (ImageNet weights cannot be downloaded here).")
        extractor = features.inception_extractor(args.inception_weights)
    else:
        extractor = features.get_extractor(args.features)

    if os.path.isdir(args.run) and not os.path.exists(os.path.join(args.run, "model.keras")):
        generate, value_range = _saved_model_generator(args.run)
    else:
        model = load_run(args.run)
        _require_sampler(model)
        value_range = model.value_range

        def generate(count, seed):
            return keras.ops.convert_to_numpy(model.generate(count, seed=seed))

    real, _ = datasets.load_arrays(args.dataset, split="test", data_dir=args.data_dir)
    real = datasets.to_value_range(real, extractor.value_range)
    result = evaluation.evaluate_generator(
        lambda count, seed: callbacks.rescale_images(generate(count, seed), value_range, extractor.value_range),
        real, extractor, num_samples=args.num_samples, seed=args.seed,
    )
    if hasattr(extractor, "test_accuracy"):
        result["feature_extractor_test_accuracy"] = extractor.test_accuracy
    result["run"] = args.run
    is_run_folder = os.path.exists(os.path.join(args.run, "model.keras"))
    out = args.out or (os.path.join(args.run, "evaluation.json") if is_run_folder else "evaluation.json")
    with open(out, "w") as handle:
        json.dump(result, handle, indent=2, default=float)
    print(json.dumps(result, indent=2, default=float))
    print(f"Wrote {out}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.time()
    args.handler(args)
    print(f"Done in {time.time() - start:.1f} s.")


if __name__ == "__main__":
    main()
