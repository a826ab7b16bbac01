"""The tables that ship inside scikit-learn: iris, wine, breast cancer, diabetes."""

from __future__ import annotations

import numpy as np

from nnrecipes.core.config import DatasetConfig
from nnrecipes.core.registry import declare
from nnrecipes.core.task import Task
from nnrecipes.data.raw import RawData


def classification(bunch) -> RawData:
    names = [str(name) for name in bunch.target_names]
    return RawData(bunch.data.astype(np.float32), bunch.target.astype(np.int64), names,
                   columns=[str(name) for name in bunch.feature_names])


def regression(bunch) -> RawData:
    return RawData(bunch.data.astype(np.float32), bunch.target.astype(np.float32), None,
                   columns=[str(name) for name in bunch.feature_names])


def load_iris(cfg) -> RawData:
    from sklearn import datasets as sk

    return classification(sk.load_iris())


def load_wine(cfg) -> RawData:
    from sklearn import datasets as sk

    return classification(sk.load_wine())


def load_breast_cancer(cfg) -> RawData:
    from sklearn import datasets as sk

    return classification(sk.load_breast_cancer())


def load_diabetes(cfg) -> RawData:
    from sklearn import datasets as sk

    return regression(sk.load_diabetes())



declare("dataset", "iris", DatasetConfig, load_iris, task=Task.multiclass)
declare("dataset", "wine", DatasetConfig, load_wine, task=Task.multiclass)
declare("dataset", "breast_cancer", DatasetConfig, load_breast_cancer, task=Task.binary)
declare("dataset", "diabetes", DatasetConfig, load_diabetes, task=Task.regression)
