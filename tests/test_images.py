"""MNIST-format pipelines on small IDX files written by a fixture; clear errors for bad data."""


import numpy as np
import pytest
import torch

from nnrecipes.components.datasets.idx import (DEBIAN_FASHION_MNIST, idx_folders, load_idx_split,
                                               read_idx)
from nnrecipes.data import DataError, build_data
from nnrecipes.smoke import write_idx_dataset


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
@pytest.mark.parametrize("model", ["perceptron", "mlp", "cnn"])
def test_image_dataset_trains_from_idx_files(nnrun, idx_data_dir, dataset, model):
    run = nnrun(f"dataset={dataset}", f"model={model}", f"dataset.data_dir={idx_data_dir}",
                "trainer.epochs=1", "dataset.batch_size=32")
    summary = run.summary
    assert summary["samples"] == {"train": 270, "val": 30, "test": 100}
    assert 0 <= summary["test"]["accuracy"] <= 1
    assert (run.dir / "checkpoints" / "best.pt").is_file()


def test_images_stay_uint8_on_the_device(composed, idx_data_dir):
    cfg = composed("dataset=fashion_mnist", f"dataset.data_dir={idx_data_dir}")
    data = build_data(cfg.dataset, cfg.seed, torch.device("cpu"))
    assert data.train.x.dtype == torch.uint8
    assert data.input_shape == (1, 28, 28)
    assert data.num_outputs == 10
    assert data.class_names[0] == "T-shirt/top"
    assert data.stats["input_mean"].shape == (1, 1, 1)


def test_the_cnn_learns_the_synthetic_digits(nnrun, idx_data_dir):
    run = nnrun("dataset=mnist", "model=cnn", f"dataset.data_dir={idx_data_dir}",
                "trainer.epochs=3", "dataset.batch_size=16")
    assert run.summary["test"]["accuracy"] >= 0.9


def test_gz_and_plain_idx_files_read_the_same(tmp_path):
    write_idx_dataset(tmp_path / "plain", compress=False, train=20, test=10)
    write_idx_dataset(tmp_path / "packed", compress=True, train=20, test=10)
    plain = load_idx_split([tmp_path / "plain"], "train", "test data")
    packed = load_idx_split([tmp_path / "packed"], "train", "test data")
    assert plain[0].shape == (20, 1, 28, 28)
    assert np.array_equal(plain[0], packed[0]) and np.array_equal(plain[1], packed[1])


def test_missing_image_data_says_where_it_looked(nnrun, tmp_path, capsys):
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    with pytest.raises(SystemExit) as exit_info:
        nnrun("dataset=fashion_mnist", f"dataset.data_dir={empty}")
    assert exit_info.value.code == 2
    message = capsys.readouterr().out
    assert "Fashion-MNIST train split not found" in message
    assert str(empty / "FashionMNIST" / "raw") in message
    assert "dataset.download=true" in message
    assert "Traceback" not in message


def test_truncated_idx_file_is_a_clear_error(tmp_path):
    write_idx_dataset(tmp_path, compress=False, train=20, test=10)
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(images)


def test_broken_gzip_is_a_clear_error(tmp_path):
    write_idx_dataset(tmp_path, compress=True, train=20, test=10)
    packed = tmp_path / "train-labels-idx1-ubyte.gz"
    packed.write_bytes(packed.read_bytes()[:30])
    with pytest.raises(DataError, match="cannot read"):
        read_idx(packed)


def test_not_an_idx_file_is_a_clear_error(tmp_path):
    bogus = tmp_path / "train-images-idx3-ubyte"
    bogus.write_bytes(b"hello, world")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(bogus)


def test_folder_layouts_that_are_searched(tmp_path):
    folders = idx_folders(str(tmp_path), "FashionMNIST")
    assert folders[:3] == [tmp_path / "FashionMNIST" / "raw", tmp_path / "FashionMNIST", tmp_path]
    assert DEBIAN_FASHION_MNIST in folders
    assert DEBIAN_FASHION_MNIST not in idx_folders(str(tmp_path), "MNIST")


def test_files_directly_in_data_dir_are_found(nnrun, tmp_path):
    write_idx_dataset(tmp_path / "flat", compress=True, train=60, test=20)
    run = nnrun("dataset=mnist", f"dataset.data_dir={tmp_path / 'flat'}", "trainer.epochs=1")
    assert run.summary["samples"]["test"] == 20


def test_data_folder_is_never_written(nnrun, tmp_path):
    source = tmp_path / "readonly"
    write_idx_dataset(source / "MNIST" / "raw", compress=True, train=60, test=20)
    before = sorted(path.name for path in source.rglob("*"))
    nnrun("dataset=mnist", f"dataset.data_dir={source}", "trainer.epochs=1")
    assert sorted(path.name for path in source.rglob("*")) == before


def test_cnn_on_tabular_data_fails_clearly(nnrun, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        nnrun("model=cnn", "dataset=iris", run_dir=tmp_path / "cnn-iris")
    assert exit_info.value.code == 2
    assert "model=cnn needs image data" in capsys.readouterr().out
    assert not (tmp_path / "cnn-iris" / "checkpoints").exists()


def test_too_many_conv_blocks_for_small_images_fails_clearly(nnrun, capsys):
    with pytest.raises(SystemExit):
        nnrun("model=cnn", "dataset=digits", "model.channels=[8,8,8,8]")
    assert "at most 3 fit" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_unavailable_device_is_a_clear_error(nnrun, capsys):
    with pytest.raises(SystemExit) as exit_info:
        nnrun("device=cuda")
    assert exit_info.value.code == 2
    assert "device=cuda was asked for" in capsys.readouterr().out
