"""``dataset=digits``: scikit-learn's 8x8 handwritten digits, as images."""

from __future__ import annotations

import numpy as np

from nnrecipes.components.datasets.idx import DIGIT_CLASSES
from nnrecipes.core.config import DatasetConfig
from nnrecipes.core.registry import declare
from nnrecipes.core.task import Task
from nnrecipes.data.raw import RawData


def load_digits(cfg) -> RawData:
    from sklearn import datasets as sk

    bunch = sk.load_digits()
    # Grey levels 0-16 fit in uint8, so digits travel like the other image sets.
    images = bunch.images.astype(np.uint8)[:, None, :, :]
    return RawData(images, bunch.target.astype(np.int64), DIGIT_CLASSES)


declare("dataset", "digits", DatasetConfig, load_digits, task=Task.multiclass, image=True)
