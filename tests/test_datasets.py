"""Tests for kerasgen.datasets: local Fashion-MNIST, IDX parsing, arrays, image folders, TFDS."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gzip  # noqa: E402
import struct  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasgen import datasets  # noqa: E402
from kerasgen.datasets import DatasetError  # noqa: E402

HAVE_FASHION = os.path.isfile(
    os.path.join(datasets.FASHION_MNIST_DIR, "t10k-images-idx3-ubyte.gz"))
needs_fashion = pytest.mark.skipif(not HAVE_FASHION, reason="dataset-fashion-mnist not installed")


def write_idx(path, array, gz=False, code=0x08):
    """Write `array` as an IDX file by hand: 2 zero bytes, type code, ndim, big-endian dims."""
    array = np.asarray(array)
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path


def make_idx_dir(tmp_path, n=12, n_labels=None, gz=True):
    """A folder with train-/t10k- IDX files of random 5x4 uint8 images."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 5, 4), dtype=np.uint8)
    labels = rng.integers(0, 10, n if n_labels is None else n_labels, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    for prefix in ("train", "t10k"):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
    return images, labels


def first(ds):
    """First element of a dataset as NumPy."""
    return next(iter(ds.as_numpy_iterator()))


def all_batches(ds):
    """Concatenate all image batches of an image-only dataset."""
    return np.concatenate(list(ds.as_numpy_iterator()))


# ----------------------------------------------------------------------------- real Fashion-MNIST
@needs_fashion
def test_fashion_mnist_default_range():
    x = first(datasets.load("fashion_mnist", split="test", batch_size=64, limit=256))
    assert x.dtype == np.float32 and x.shape == (64, 28, 28, 1)
    assert -1.0 <= x.min() < -0.99 and 0.99 < x.max() <= 1.0


@needs_fashion
def test_fashion_mnist_unit_range_and_labels():
    x, y = first(datasets.load("fashion-mnist", split="test", batch_size=64, limit=256,
                               with_labels=True, value_range=(0, 1)))
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.99
    assert y.dtype == np.int32 and y.shape == (64,) and 0 <= y.min() and y.max() <= 9
    assert len(datasets.FASHION_MNIST_CLASSES) == 10


@needs_fashion
def test_fashion_mnist_split_sizes():
    x, y = datasets.load_arrays("fashion_mnist", split="train")
    assert x.shape == (60000, 28, 28, 1) and x.dtype == np.uint8 and y.shape == (60000,)
    x, y = datasets.load_arrays("fashion_mnist", split="test")
    assert x.shape == (10000, 28, 28, 1) and y.dtype == np.int32
    with pytest.raises(DatasetError, match="valid splits"):
        datasets.load_arrays("fashion_mnist", split="validation")


@needs_fashion
def test_fashion_mnist_shuffle_seeded():
    kwargs = dict(split="test", batch_size=32, limit=512, shuffle=True, seed=3)
    a = datasets.load("fashion_mnist", **kwargs)
    b = datasets.load("fashion_mnist", **kwargs)
    epoch1, epoch2 = all_batches(a), all_batches(a)
    np.testing.assert_array_equal(epoch1, all_batches(b))
    assert not np.array_equal(epoch1, epoch2)
    unshuffled = all_batches(datasets.load("fashion_mnist", split="test", batch_size=32, limit=512))
    np.testing.assert_array_equal(np.sort(epoch1, axis=0), np.sort(unshuffled, axis=0))


@needs_fashion
def test_fashion_mnist_label_filter():
    ds = datasets.load("fashion_mnist", split="test", batch_size=100, labels=[0, 1],
                       with_labels=True, limit=300)
    y = np.concatenate([yb for _, yb in ds.as_numpy_iterator()])
    assert len(y) == 300 and set(np.unique(y)) == {0, 1}


# ----------------------------------------------------------------------------- IDX files
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, gz):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1, 255], np.uint8)
    assert np.array_equal(datasets.read_idx(write_idx(tmp_path / "im", images, gz)), images)
    assert np.array_equal(datasets.read_idx(write_idx(tmp_path / "lb", labels, gz)), labels)


def test_read_idx_other_dtypes(tmp_path):
    ints = np.array([[-3, 70000], [1, 2]], np.int32)
    floats = np.array([0.5, -2.25], np.float32)
    assert np.array_equal(datasets.read_idx(write_idx(tmp_path / "i", ints, code=0x0C)), ints)
    assert np.array_equal(datasets.read_idx(write_idx(tmp_path / "f", floats, code=0x0D)), floats)


def test_read_idx_bad_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x12\x34\x08\x01" + b"\0" * 20)
    with pytest.raises(DatasetError, match=r"0x00000803.*0x00000801.*corrupt or not IDX"):
        datasets.read_idx(path)


def test_read_idx_truncated(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 10, 28, 28) + b"\0" * 100)
    with pytest.raises(DatasetError, match=r"implies 7840 data bytes, but found 100.*re-"):
        datasets.read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\0" * 1000)[:30])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz"):
        datasets.read_idx(path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="gzip"):
        datasets.read_idx(path)


def test_idx_dir_source(tmp_path):
    images, labels = make_idx_dir(tmp_path, n=12)
    x, y = first(datasets.load(str(tmp_path), batch_size=12, with_labels=True, shuffle=False))
    assert x.shape == (12, 5, 4, 1)
    np.testing.assert_allclose(x[..., 0], images / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_array_equal(y, labels)
    for kwargs in ({"source": "idx", "data_dir": tmp_path},
                   {"source": "fashion_mnist", "data_dir": str(tmp_path)}):
        x2, y2 = datasets.load_arrays(split="test", **kwargs)
        np.testing.assert_array_equal(x2[..., 0], images)


def test_idx_count_mismatch(tmp_path):
    make_idx_dir(tmp_path, n=12, n_labels=11, gz=False)
    with pytest.raises(DatasetError, match="12 images but labels of shape"):
        datasets.load_arrays("idx", data_dir=tmp_path)


def test_idx_missing_file(tmp_path):
    make_idx_dir(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte") as info:
        datasets.load_arrays("fashion_mnist", split="test", data_dir=tmp_path)
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
    assert "data_dir=" in str(info.value)


def test_fashion_offline_fallback_message(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setenv(datasets.FASHION_MNIST_ENV, str(tmp_path))
    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(DatasetError) as info:
        datasets.load("fashion_mnist")
    message = str(info.value)
    assert "not found locally" in message and "apt-get install dataset-fashion-mnist" in message
    assert "data_dir=" in message and "online" in message


# ----------------------------------------------------------------------------- NumPy arrays
def test_arrays_uint8_and_float():
    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 256, (10, 6, 6, 3), dtype=np.uint8)
    u8[0, 0, 0, 0], u8[0, 0, 0, 1] = 0, 255
    x = first(datasets.load(u8, batch_size=10, shuffle=False))
    assert x.shape == (10, 6, 6, 3) and x.dtype == np.float32 and x.min() == -1 and x.max() == 1
    floats = u8.astype(np.float32) / 255.0
    xf = first(datasets.load(floats, batch_size=10, shuffle=False, value_range=(0, 1)))
    np.testing.assert_allclose(xf, floats, atol=1e-6)
    assert np.array_equal(datasets.load_arrays(floats)[0], u8)


def test_arrays_rank3_and_labels():
    images = np.zeros((7, 4, 4), np.uint8)
    labels = np.arange(7)
    x, y = first(datasets.load((images, labels), batch_size=4, with_labels=True, shuffle=False))
    assert x.shape == (4, 4, 4, 1) and y.dtype == np.int32 and list(y) == [0, 1, 2, 3]
    batches = list(datasets.load(images, batch_size=4, drop_remainder=True))
    assert len(batches) == 1
    with pytest.raises(DatasetError, match="no labels"):
        datasets.load(images, with_labels=True)


@pytest.mark.parametrize("images, pattern", [
    (np.zeros((4, 4), np.uint8), "expected NHW or NHWC"),
    (np.zeros((2, 4, 4, 2), np.uint8), "expected 1, 3 or 4"),
    (np.full((2, 4, 4), 2.0, np.float32), r"float in \[0, 1\]"),
    (np.zeros((0, 4, 4), np.uint8), "empty dataset"),
])
def test_arrays_errors(images, pattern):
    with pytest.raises(DatasetError, match=pattern):
        datasets.load(images)


def test_argument_errors():
    images = np.zeros((3, 4, 4), np.uint8)
    with pytest.raises(DatasetError, match="lo < hi"):
        datasets.load(images, value_range=(1, 0))
    with pytest.raises(DatasetError, match="batch_size"):
        datasets.load(images, batch_size=0)
    with pytest.raises(DatasetError, match="counts must match"):
        datasets.load((images, [1, 2]))


def test_to_value_range():
    x = np.array([0, 255], np.uint8)
    np.testing.assert_allclose(datasets.to_value_range(x, (-1, 1)), [-1, 1])
    np.testing.assert_allclose(datasets.to_value_range(np.array([0.5]), (0, 2)), [1.0])
    t = datasets.to_value_range(tf.constant(x), (0.0, 1.0))
    assert t.dtype == tf.float32 and np.allclose(t.numpy(), [0, 1])


# ----------------------------------------------------------------------------- image folders
def write_png(path, size=(6, 5), mode="L", value=0):
    from PIL import Image
    Image.new(mode, (size[1], size[0]), value).save(path)


def test_image_folder_with_labels(tmp_path):
    for label, name in enumerate(["cat", "dog"]):
        (tmp_path / name).mkdir()
        for i in range(3):
            write_png(tmp_path / name / f"{i}.png", value=255 * label)
    x, y = datasets.load_arrays(tmp_path)
    assert x.shape == (6, 6, 5, 1) and x.dtype == np.uint8
    assert list(y) == [0, 0, 0, 1, 1, 1] and x[y == 1].min() == 255
    xb, yb = first(datasets.load(str(tmp_path), batch_size=6, with_labels=True, shuffle=False,
                                 color_mode="rgb"))
    assert xb.shape == (6, 6, 5, 3) and list(yb) == list(y)


def test_image_folder_size_mismatch_and_resize(tmp_path):
    write_png(tmp_path / "a.png", size=(6, 5))
    write_png(tmp_path / "b.jpg", size=(8, 8), mode="RGB")
    with pytest.raises(DatasetError, match=r"b\.jpg.*image_size="):
        datasets.load(tmp_path)
    x, y = datasets.load_arrays(tmp_path, image_size=(4, 3), color_mode="grayscale")
    assert x.shape == (2, 4, 3, 1) and y is None


def test_missing_directory():
    with pytest.raises(DatasetError, match="not an existing directory"):
        datasets.load("./no/such/folder")


# ----------------------------------------------------------------------------- TFDS
def test_tfds_mock_mnist():
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=20):
        x, y = first(datasets.load("mnist", batch_size=8, with_labels=True, seed=0))
        images, labels = datasets.load_arrays("mnist", split="test", limit=5)
    assert x.shape == (8, 28, 28, 1) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0 and y.dtype == np.int32
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.uint8 and labels.shape == (5,)


def test_tfds_mock_fashion_mnist_empty_data_dir(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds
    calls = []
    real_load = tfds.load
    monkeypatch.setattr(tfds, "load", lambda *a, **k: calls.append(a) or real_load(*a, **k))
    with tfds.testing.mock_data(num_examples=10):
        ds = datasets.load("fashion_mnist", split="test", batch_size=4, data_dir=str(tmp_path),
                           value_range=(0, 1), labels=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        batches = list(ds.as_numpy_iterator())
    assert calls and calls[0][0] == "fashion_mnist"
    assert [b.shape for b in batches] == [(4, 28, 28, 1), (4, 28, 28, 1), (2, 28, 28, 1)]
    assert all(b.dtype == np.float32 and b.min() >= 0 and b.max() <= 1 for b in batches)


def test_tfds_unknown_name():
    with pytest.raises(DatasetError, match="not a TFDS builder") as info:
        datasets.load("definitely_not_a_dataset_xyz")
    assert "fashion_mnist" in str(info.value)


def test_with_indices_name_each_image_whatever_the_shuffle():
    """(images, indices) batches: index i is always the i-th selected image (GLO/GLANN codes)."""
    reference, _ = datasets.load_arrays("fashion_mnist", split="train", labels=[1, 7], limit=300)
    ds = datasets.load("fashion_mnist", labels=[1, 7], limit=300, batch_size=64, with_indices=True, seed=3)
    seen = []
    for images, indices in ds:
        assert images.dtype == tf.float32 and indices.dtype == tf.int32
        expected = datasets.to_value_range(reference[indices.numpy()])
        np.testing.assert_array_equal(images.numpy(), expected)
        seen.extend(indices.numpy().tolist())
    assert sorted(seen) == list(range(300)) and seen != list(range(300))  # all once, shuffled
    with pytest.raises(datasets.DatasetError, match="cannot be combined"):
        datasets.load("fashion_mnist", with_labels=True, with_indices=True)


def test_tfds_mock_with_indices():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        ds = datasets.load("mnist", batch_size=5, with_indices=True, seed=0)
        indices = np.concatenate([i.numpy() for _, i in ds])
    assert sorted(indices.tolist()) == list(range(12))


# ----------------------------------------------------------------------------- two domains
def sobel_edges_by_hand(image, threshold):
    """Edge map of one 2-D grey image in [0, 1] with explicit loops (zeros outside the image)."""
    padded = np.pad(image.astype(np.float64), 1)
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)
    out = np.zeros(image.shape, np.uint8)
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            window = padded[i:i + 3, j:j + 3]
            gx, gy = (window * kx).sum(), (window * kx.T).sum()
            out[i, j] = 255 if np.hypot(gx, gy) / 4 > threshold else 0
    return out


def test_edge_map_matches_a_hand_computed_sobel_and_keeps_images_apart():
    square = np.zeros((6, 6), np.uint8)
    square[2:4, 2:4] = 255
    edges = datasets.edge_map(square[None])
    assert edges.shape == (1, 6, 6, 1) and edges.dtype == np.uint8
    # A unit step gives |gradient| / 4 = 1 next to it and nothing two pixels away.
    assert edges[0, 2, 1, 0] == 255 and edges[0, 0, 5, 0] == 0
    np.testing.assert_array_equal(edges[0, :, :, 0], sobel_edges_by_hand(square / 255.0, 0.2))
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (3, 9, 7, 3), dtype=np.uint8)
    for threshold in (0.1, 0.4):
        maps = datasets.edge_map(batch, threshold=threshold)
        for image, edge in zip(batch, maps):  # each image on its own: nothing leaks across the batch
            np.testing.assert_array_equal(edge[..., 0], sobel_edges_by_hand(image.mean(axis=-1) / 255.0, threshold))
    with pytest.raises(DatasetError, match=r"threshold=1.5 must be in \(0, 1\)"):
        datasets.edge_map(batch, threshold=1.5)


def test_load_pairs_keeps_pairs_aligned_through_shuffling():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (50, 6, 5, 1), dtype=np.uint8)
    b = 255 - a  # in [-1, 1]: b = -a, so every pair can be checked
    seen = []
    for xa, xb in datasets.load_pairs(a, b, batch_size=16, seed=1).as_numpy_iterator():
        assert xa.dtype == xb.dtype == np.float32
        np.testing.assert_allclose(xb, -xa, atol=1e-6)
        seen.extend(xa.reshape(len(xa), -1).tolist())
    expected = datasets.to_value_range(a).reshape(50, -1).tolist()
    assert sorted(seen) == sorted(expected) and seen != expected  # every pair once, shuffled
    xa, xb = first(datasets.load_pairs(a, b, split="test", batch_size=50, value_range=(0, 1)))
    np.testing.assert_allclose(xa, a / 255.0, atol=1e-6)  # not shuffled outside training splits
    with pytest.raises(DatasetError, match="as many images in source_a as in source_b, got 50 and 49"):
        datasets.load_pairs(a, b[:49])


def test_load_pairs_from_two_folders_pairs_by_file_name(tmp_path):
    for domain, value in (("A", 0), ("B", 255)):
        (tmp_path / domain).mkdir()
        for name in ("0001.png", "0002.png", "0003.png"):
            write_png(tmp_path / domain / name, value=value)
    xa, xb = first(datasets.load_pairs(tmp_path / "A", tmp_path / "B", batch_size=3))
    assert xa.shape == xb.shape == (3, 6, 5, 1) and xa.max() == -1.0 and xb.min() == 1.0
    os.rename(tmp_path / "B" / "0002.png", tmp_path / "B" / "0002b.png")
    with pytest.raises(DatasetError, match=r"image 1 is '0002.png' in A and '0002b.png' in B"):
        datasets.load_pairs(tmp_path / "A", tmp_path / "B")


def test_load_unpaired_goes_once_through_the_larger_domain():
    a = (np.arange(10, dtype=np.uint8) * 10)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)
    b = (np.arange(25, dtype=np.uint8) * 10)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)

    def ids(ds):
        pairs = [(xa[:, 0, 0, 0], xb[:, 0, 0, 0]) for xa, xb in ds.as_numpy_iterator()]
        return (np.round(np.concatenate([p[0] for p in pairs]) * 255).astype(int) // 10,
                np.round(np.concatenate([p[1] for p in pairs]) * 255).astype(int) // 10)

    ds = datasets.load_unpaired(a, b, batch_size=8, seed=3, value_range=(0, 1))
    ids_a, ids_b = ids(ds)
    assert sorted(ids_b) == list(range(25)) and list(ids_b) != list(range(25))  # B once, shuffled
    assert len(ids_a) == 25 and set(ids_a) == set(range(10))  # A repeated to match
    for start in (0, 10):  # each pass through A holds every A image once (reshuffled per pass)
        assert sorted(ids_a[start:start + 10]) == list(range(10))
    again_a, again_b = ids(ds)
    assert list(again_b) != list(ids_b)  # a new order every epoch ...
    replay_a, replay_b = ids(datasets.load_unpaired(a, b, batch_size=8, seed=3, value_range=(0, 1)))
    assert list(replay_a) == list(ids_a) and list(replay_b) == list(ids_b)  # ... reproducible by seed
    with pytest.raises(DatasetError, match=r"must be a pair \(classes of A, classes of B\)"):
        datasets.load_unpaired(a, b, labels=[7, 9])
    with pytest.raises(DatasetError, match="one split name or a pair"):
        datasets.load_unpaired(a, b, split=("a", "b", "c"))


def test_tfds_two_domains_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        ds = datasets.load_unpaired("cycle_gan/horse2zebra", "cycle_gan/horse2zebra", split=("trainA", "trainB"),
                                    image_size=(32, 32), batch_size=4, seed=0)
        shapes = [(xa.shape, xb.shape) for xa, xb in ds.as_numpy_iterator()]
        assert shapes == [((4, 32, 32, 3), (4, 32, 32, 3)), ((2, 32, 32, 3), (2, 32, 32, 3))]
        # Photos of every size need resizing before they can be batched.
        with pytest.raises(DatasetError, match=r"varying size.*image_size=\(h, w\)"):
            datasets.load_unpaired("cycle_gan/horse2zebra", "cycle_gan/horse2zebra", split=("trainA", "trainB"))
        xa, xb = first(datasets.load_pairs("mnist", "mnist", split=("train", "test"), batch_size=6))
        assert xa.shape == xb.shape == (6, 28, 28, 1)


@needs_fashion
def test_fashion_mnist_translation_tasks():
    edges, images = first(datasets.fashion_mnist_translation("paired", split="test", batch_size=16, shuffle=False))
    raw, _ = datasets.load_arrays("fashion_mnist", split="test", limit=16)
    np.testing.assert_allclose(images, datasets.to_value_range(raw), atol=1e-6)
    np.testing.assert_array_equal(edges, datasets.to_value_range(datasets.edge_map(raw)))
    assert set(np.unique(edges)) == {-1.0, 1.0}
    sneakers, boots = first(datasets.fashion_mnist_translation("unpaired", split="test", batch_size=64, seed=0))
    by_class = {label: {image.tobytes() for image in datasets.load_arrays(
        "fashion_mnist", split="test", labels=[label])[0]} for label in (7, 9)}

    def as_bytes(batch):
        return {np.round((image + 1) * 127.5).astype(np.uint8).tobytes() for image in batch}

    assert as_bytes(sneakers) <= by_class[7] and as_bytes(boots) <= by_class[9]
    other = first(datasets.fashion_mnist_translation("unpaired", split="test", batch_size=8, classes=(0, 6)))
    assert other[0].shape == (8, 28, 28, 1)
    with pytest.raises(DatasetError, match="'paired' or 'unpaired'"):
        datasets.fashion_mnist_translation("aligned")
