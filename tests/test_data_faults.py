"""IDX files that are well-formed in parts but inconsistent: labels outside the classes, images of
another size, headers that promise more (or less) than the file holds, a broken plain file beside
its .gz. Whatever the damage, nnrun trains or stops with a one-line error naming a file it read,
never an internal error."""

from __future__ import annotations

import itertools

import numpy as np
from bad_inputs import QUICK, error_lines
from conftest import run_cli
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

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


# Random small tables: column types, missing cells, non-finite and extreme numbers, duplicate and
# unicode names, delimiters. Whatever they hold, nnrun trains or stops with one line (exit 2).
NAMES = st.sampled_from(["a", "b", "x1", "x1", "größe", "名前", "total price", "y", "", "a.1"])
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([1e38, -3e38, 1e39, 1e-40, 1e-320, 0.0, 7.0]),
                    st.integers(-10**20, 10**20))
WORDS = st.sampled_from(["north", "south", "N/A", "", "True", "5", "5.0", "é", "a;b", 'x"y'])
COLUMN = st.one_of(
    st.tuples(st.just("numbers"), NUMBERS),
    st.tuples(st.just("booleans"), st.booleans()),
    st.tuples(st.just("words"), WORDS),
    st.tuples(st.just("mixed"), st.one_of(NUMBERS, WORDS, st.booleans())),
)
DELIMITERS = st.sampled_from([",", ";", "\t", "|"])


@st.composite
def tables(draw):
    rows = draw(st.integers(6, 30))
    kinds = draw(st.lists(COLUMN, min_size=2, max_size=5))
    names = [draw(NAMES) for _ in kinds]
    columns = []
    for kind, _ in kinds:
        values = {"numbers": NUMBERS, "booleans": st.booleans(), "words": WORDS,
                  "mixed": st.one_of(NUMBERS, WORDS, st.booleans())}[kind]
        cells = draw(st.lists(st.one_of(values, st.none()), min_size=rows, max_size=rows))
        columns.append(cells)
    if draw(st.booleans()):  # a learnable target: a few classes, or numbers
        columns[-1] = draw(st.lists(st.sampled_from(["yes", "no", 1, 2, 3, 0.5, 9.25]),
                                    min_size=rows, max_size=rows))
    return names, columns, draw(DELIMITERS), draw(st.booleans())


def _write_table(path, names, columns, delimiter) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(names)
        for row in zip(*columns):
            writer.writerow(["" if cell is None else cell for cell in row])


def _one_clear_line_or_success(code: int, text: str, what) -> None:
    assert "Traceback" not in text and "internal error" not in text, (what, text)
    assert code in (0, 2), (what, text)
    if code == 2:
        said = error_lines(text)
        assert len(said) == 1, (what, said)


# 20 examples each in CI; 150 each with derandomize=False found nothing more (2026-12-02).
@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(table=tables())
def test_random_tables_train_or_stop_with_one_line(table, tmp_path, capsys):
    names, columns, delimiter, say_delimiter = table
    root = tmp_path / f"table{next(FOLDERS)}"
    root.mkdir()
    path = root / "table.csv"
    _write_table(path, names, columns, delimiter)
    target = names[-1].replace("'", "\\'")
    extra = [f"dataset.delimiter={'tab' if delimiter == chr(9) else repr(delimiter)}"] \
        if say_delimiter else []
    code = run_cli("dataset=csv", f"dataset.path={path}", f"dataset.target='{target}'", *extra,
                   *QUICK, "trainer.epochs=1", "trainer.baseline=off", "dataset.impute=median",
                   f"hydra.run.dir={root / 'run'}")
    output = capsys.readouterr()
    event(f"exit {code}")
    _one_clear_line_or_success(code, output.out + output.err, table)


# Random image folders: every mode Pillow writes (bilevel, grey, palette, colour, with
# transparency, CMYK, 16-bit), truncated files, text files, empty folders, odd sizes.
MODES = ("1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "truncated", "text", "empty")


def _write_image(path, kind: str, size, rng) -> None:
    from PIL import Image

    if kind == "text":
        path.with_suffix(".txt").write_text("not a picture\n")
        return
    if kind == "empty":
        path.write_bytes(b"")
        return
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if kind == "I;16":
        image = Image.fromarray(pixels[..., 0].astype(np.uint16) * 257)  # mode I;16
    elif kind not in ("RGB", "truncated"):
        image = image.convert(kind)
    suffix = ".tif" if kind == "CMYK" else ".png"
    image.save(path.with_suffix(suffix))
    if kind == "truncated":
        data = path.with_suffix(suffix).read_bytes()
        path.with_suffix(suffix).write_bytes(data[: len(data) // 2])


@st.composite
def image_folders(draw):
    classes = draw(st.integers(0, 3))
    sizes = st.sampled_from([(8, 8), (8, 8), (12, 9), (1, 1)])
    folders = [draw(st.lists(st.tuples(st.sampled_from(MODES), sizes), max_size=5))
               for _ in range(classes)]
    settings_ = {"image_size": draw(st.sampled_from([None, 8])),
                 "channels": draw(st.sampled_from([1, 3])),
                 "skip_bad": draw(st.booleans())}
    return folders, settings_


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(folder=image_folders())
def test_random_image_folders_train_or_stop_with_one_line(folder, tmp_path, capsys):
    classes, chosen = folder
    root = tmp_path / f"images{next(FOLDERS)}"
    rng = np.random.default_rng(0)
    for label, files in enumerate(classes):
        (root / "photos" / f"class{label}").mkdir(parents=True)
        for index, (kind, size) in enumerate(files):
            _write_image(root / "photos" / f"class{label}" / f"{index}", kind, size, rng)
    root.mkdir(exist_ok=True)
    settings_ = [f"dataset.{key}={'null' if value is None else str(value).lower()}"
                 for key, value in chosen.items()]
    code = run_cli("dataset=image_folder", f"dataset.path={root / 'photos'}", "model=mlp",
                   *settings_, *QUICK, "trainer.epochs=1", f"hydra.run.dir={root / 'run'}")
    output = capsys.readouterr()
    event(f"exit {code}")
    _one_clear_line_or_success(code, output.out + output.err, folder)
