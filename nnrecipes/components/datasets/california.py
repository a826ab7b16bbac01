"""``dataset=california``: California housing, from scikit-learn's cache file (no network)."""

from __future__ import annotations

from pathlib import Path
from typing import List

from nnrecipes.components.datasets.sklearn_tables import regression
from nnrecipes.core.config import DatasetConfig
from nnrecipes.core.registry import declare
from nnrecipes.core.task import Task
from nnrecipes.data.errors import DataError, DataNotFound
from nnrecipes.data.raw import RawData
from nnrecipes.data.stand_ins import write_california_cache

CALIFORNIA_CACHE = "cal_housing_py3.pkz"


def california_homes(data_dir: str) -> List[Path]:
    """Where nnrun looks for scikit-learn's California cache, in order."""
    from sklearn import datasets as sk

    root = Path(data_dir).expanduser().resolve()
    return [root / "sklearn", root, Path(sk.get_data_home())]


def load_california(cfg) -> RawData:
    homes = california_homes(cfg.data_dir)
    found = next((home for home in homes if (home / CALIFORNIA_CACHE).exists()), None)
    if found is not None and not (found / CALIFORNIA_CACHE).is_file():
        raise DataError(f"{found / CALIFORNIA_CACHE} is not a file (a folder?): nnrun expects "
                        f"scikit-learn's cache file there")
    if found is None and not cfg.download:
        looked = "\n".join(f"  {home / CALIFORNIA_CACHE}" for home in homes)
        raise DataNotFound(
            "California housing not found. nnrun looked for scikit-learn's cache file in:\n"
            f"{looked}\n"
            "Supply it: copy cal_housing_py3.pkz into one of these folders, point "
            "dataset.data_dir (or NNRECIPES_DATA) at a folder that holds it, or pass "
            "dataset.download=true on a machine with network access.")
    home = found or homes[0]
    from sklearn import datasets as sk

    try:
        bunch = sk.fetch_california_housing(data_home=str(home), download_if_missing=cfg.download)
    except OSError as error:  # URLError is an OSError: no network, or the server refused
        raise DataError(f"California housing could not be downloaded into {home}: {error}. "
                        "Copy cal_housing_py3.pkz there by hand instead.") from error
    except Exception as error:
        raise DataError(f"California housing cache {home / CALIFORNIA_CACHE} is unreadable "
                        f"({type(error).__name__}: {error}); delete it and supply it again.") \
            from error
    return regression(bunch)



declare("dataset", "california", DatasetConfig, load_california, task=Task.regression,
        stand_in=lambda root: write_california_cache(root / "sklearn"))
