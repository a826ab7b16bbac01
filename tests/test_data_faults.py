"""IDX files that are well-formed in parts but inconsistent: labels outside the classes, images of
another size, headers that promise more (or less) than the file holds, a broken plain file beside
its .gz. Whatever the damage, nnrun trains or stops with a one-line error naming a file it read,
never an internal error."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bad_inputs import QUICK, error_lines
from conftest import run_cli
from nnrecipes.smoke import write_idx, write_idx_dataset

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte")
COUNTS = {"train": 300, "t10k": 100}


def _labels(folder, draw_split, index, value):
    path = folder / f"{draw_split}-labels-idx1-ubyte"
    data = bytearray(path.read_bytes())
    data[8 + index % COUNTS[draw_split]] = value
    path.write_bytes(bytes(data))
    return path.name


def _shape(folder, split, count, height, width):
    path = folder / f"{split}-images-idx3-ubyte"
    write_idx(path, np.zeros((count, height, width), dtype=np.uint8), compress=False)
    return path.name


def _header(folder, name, offset, value):
    path = folder / name
    data = bytearray(path.read_bytes())
    data[offset] = value
    path.write_bytes(bytes(data))
    return path.name


def _length(folder, name, change):
    path = folder / name
    data = path.read_bytes()
    path.write_bytes(data[:change] if change < 0 else data + bytes(change))
    return path.name


SPLIT = st.sampled_from(sorted(COUNTS))
CORRUPTIONS = st.one_of(
    st.tuples(st.just(_labels), SPLIT, st.integers(0, 299), st.integers(0, 255)),
    st.tuples(st.just(_shape), SPLIT, st.sampled_from([0, 1, 100, 300, 301]),
              st.integers(1, 40), st.integers(1, 40)),
    st.tuples(st.just(_header), st.sampled_from(FILES), st.integers(0, 15), st.integers(0, 255)),
    st.tuples(st.just(_length), st.sampled_from(FILES),
              st.integers(-50, 50).filter(lambda change: change != 0)),
)
FOLDERS = itertools.count()


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(corruption=CORRUPTIONS, gz_twin=st.booleans())
def test_corrupt_idx_files_train_or_name_the_file(corruption, gz_twin, tmp_path, capsys):
    root = tmp_path / f"case{next(FOLDERS)}"
    folder = root / "MNIST" / "raw"
    if gz_twin:  # good .gz files beside the plain ones that get broken
        write_idx_dataset(folder, compress=True)
    write_idx_dataset(folder, compress=False)
    corrupt, *arguments = corruption
    touched = corrupt(folder, *arguments)
    code = run_cli("dataset=mnist", f"dataset.data_dir={root}", "model=perceptron", *QUICK,
                   "trainer.epochs=1", "trainer.baseline=off", f"hydra.run.dir={root / 'run'}")
    output = capsys.readouterr()
    text = output.out + output.err
    event(f"{corrupt.__name__}: exit {code}")
    assert "Traceback" not in text and "internal error" not in text, (corruption, text)
    assert code in (0, 2), (corruption, text)
    if code == 2:
        said = "\n".join(error_lines(text))
        assert len(said.splitlines()) == 1, said
        assert "-ubyte" in said, said  # names one of the files it read
        if corrupt is _labels:
            assert touched in said, said
