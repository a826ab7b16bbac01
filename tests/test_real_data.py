"""The project's own loaders on the real data in ../shared/data (NNRECIPES_TEST_DATA)."""

import pytest
from omegaconf import OmegaConf

from nnrecipes.components.datasets.california import load_california
from nnrecipes.components.datasets.idx import idx_folders, load_fashion_mnist, load_idx_split


def dataset_cfg(data_dir):
    return OmegaConf.create({"data_dir": str(data_dir), "download": False})


def test_real_fashion_mnist_loads_from_gz_files(shared_data):
    raw = load_fashion_mnist(dataset_cfg(shared_data))
    assert raw.x.shape == (60000, 1, 28, 28) and raw.x.dtype.name == "uint8"
    assert raw.test[0].shape == (10000, 1, 28, 28)
    assert sorted(set(raw.y.tolist())) == list(range(10))
    assert raw.class_names[9] == "Ankle boot"


def test_real_mnist_test_split_loads(shared_data):
    images, labels = load_idx_split(idx_folders(str(shared_data), "MNIST"), "test", "MNIST")
    assert images.shape == (10000, 1, 28, 28)
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_real_california_housing_loads_from_the_sklearn_cache(shared_data):
    raw = load_california(dataset_cfg(shared_data))
    assert raw.x.shape == (20640, 8)
    assert raw.y.mean() == pytest.approx(2.0686, abs=1e-4)


def test_california_mlp_reaches_the_tutorial_r2(nnrun, shared_data):
    run = nnrun("dataset=california", "model=mlp", f"dataset.data_dir={shared_data}")
    assert run.summary["test"]["r2"] >= 0.74


@pytest.mark.slow
def test_fashion_mnist_cnn_reaches_the_tutorial_accuracy(nnrun, shared_data):
    run = nnrun("model=cnn", "dataset=fashion_mnist", f"dataset.data_dir={shared_data}")
    assert run.summary["test"]["accuracy"] >= 0.915


@pytest.mark.slow
def test_california_plr_beats_the_gradient_boosting_baseline(nnrun, shared_data):
    run = nnrun("+experiment=california_plr", f"dataset.data_dir={shared_data}")
    r2 = run.summary["test"]["r2"]
    assert r2 >= 0.84 and r2 > run.summary["baseline"]["hist_gradient_boosting"]["r2"]
