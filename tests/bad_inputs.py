"""Every bad input nnrun is known to meet, with the exit code and the words its message must have.

Shared by tests/test_faults.py, which asserts each one, and scripts/error_table.py, which runs
each one with the real ``nnrun`` and writes the messages into docs/errors.md.
"""

from __future__ import annotations

import gzip
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Tuple

import numpy as np

from nnrecipes.smoke import write_california_cache, write_idx, write_idx_dataset

QUICK = ("trainer.epochs=2", "trainer.progress=false", "trainer.plots=false")
ERROR_PREFIXES = ("error:", "nnrun: error:")


def error_lines(output: str) -> List[str]:
    """nnrun's output from its first error line on; [] if it printed none."""
    lines = output.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith(ERROR_PREFIXES)), None)
    return [] if first is None else lines[first:]


# The folder under the fixtures' root that holds users' own (broken) modules: nnrun finds them
# on sys.path (tests) or PYTHONPATH (scripts/error_table.py).
USER_CODE = "user_code"


@dataclass(frozen=True)
class BadInput:
    what: str
    args: Tuple[str, ...]  # "{root}" stands for the folder prepare_fixtures filled
    exit_code: int
    says: str  # words the message must hold
    avoids: str = ""  # words it must not hold (advice that does not apply there)

    def says_in(self, output: str, root: Path) -> bool:
        """Whether ``output`` holds the words the message must have, and none it must not."""
        wanted, unwanted = (text.replace("{root}", str(root)) for text in (self.says, self.avoids))
        return wanted in output and not (unwanted and unwanted in output)

    def command(self, root: Path) -> List[str]:
        """The case's arguments after QUICK; flags first, as Hydra's argument parser wants."""
        args = [arg.replace("{root}", str(root)) for arg in self.args]
        flags = [arg for arg in args if arg.startswith("-")]
        return [*flags, *QUICK, *(arg for arg in args if not arg.startswith("-"))]


def _case(what: str, args: str, says: str, exit_code: int = 2, avoids: str = "") -> BadInput:
    return BadInput(what, tuple(args.split()), exit_code, says, avoids)


def _table(name: str, *more: str) -> str:
    """A dataset=csv command on one of the tables _own_data writes."""
    return " ".join(("dataset=csv", f"dataset.path={{root}}/own/{name}", "dataset.target=price",
                     *more))


def _predict(source: str, run: str = "csv_run") -> str:
    return f"mode=predict checkpoint={{root}}/{run} input={{root}}/own/{source}"


def _images(name: str, *more: str) -> str:
    return " ".join(("dataset=image_folder", f"dataset.path={{root}}/own/{name}", *more))


def _model(name: str) -> str:
    return f"model=custom model.target=bad_nets:{name}"


def _space(name: str) -> str:
    return f"--config-dir={{root}}/spaces mode=search search={name} search.trials=2"


CASES: List[BadInput] = [
    # the command line and the config
    _case("unknown group option", "model=densenet", "model=densenet is not a known model"),
    _case("own model without a target", "model=custom", "model.target is not set"),
    _case("own model that does not import", "model=custom model.target=my_nets:TinyResNet",
          "cannot import my_nets"),
    _case("own model misspelled", "model=custom model.target=math:sqrtt", "did you mean sqrt?"),
    _case("own model that is not a model", "model=custom model.target=math:sqrt",
          "model.target=math:sqrt cannot take these settings"),
    _case("own data set that does not build", "dataset=custom dataset.target=json:loads",
          "dataset.target=json:loads cannot take these settings"),
    _case("unknown preset", "+experiment=fastest", "experiment=fastest is not a known experiment"),
    _case("misspelled key", "optimizer.lrr=0.1", "did you mean lr?"),
    _case("key of another optimizer", "optimizer=adam optimizer.momentum=0.9",
          "optimizer.momentum is not a setting"),
    _case("added key no schema has", "+trainer.epoch=3", "trainer.epoch is not a setting"),
    _case("wrong type", "trainer.epochs=ten", "trainer.epochs=ten is not allowed: must be a whole"),
    _case("fraction for a whole number", "dataset.batch_size=6.5", "must be a whole number"),
    _case("text for a list", "model.hidden_sizes=wide", "model.hidden_sizes must be a list"),
    _case("value outside a choice", "model.activation=swishy", "choose one of relu"),
    _case("null for a required key", "seed=null", "seed cannot be null"),
    _case("section given a value", "trainer=fast", "trainer is a section, not a value"),
    _case("override without '='", "lr", "cannot read the override 'lr'"),
    _case("unbalanced quote", "dataset.data_dir='data", "cannot read the override"),
    _case("sweep values without -m", "optimizer.lr=0.1,0.01", "needs -m"),
    _case("override of a group not in use", "experiment=fashion_fast",
          "'experiment' is not a config group of this run"),
    _case("unknown interpolation", "optimizer.lr=${best_lr}", "Interpolation key 'best_lr'"),
    _case("missing config folder", "--config-dir={root}/no_configs", "no such folder"),
    # values out of range
    _case("zero learning rate", "optimizer.lr=0", "optimizer.lr=0.0 is not allowed"),
    _case("negative learning rate", "optimizer.lr=-0.1", "must be greater than 0"),
    _case("batch size 0", "dataset.batch_size=0", "dataset.batch_size=0 is not allowed"),
    _case("epochs < 1", "trainer.epochs=0", "trainer.epochs=0 is not allowed"),
    _case("dropout >= 1", "model.dropout=1.0", "model.dropout=1.0 is not allowed"),
    _case("label smoothing >= 1", "trainer.label_smoothing=1", "trainer.label_smoothing"),
    _case("patience 0", "trainer.patience=0", "trainer.patience=0 is not allowed"),
    _case("validation size >= data size", "dataset.val_size=500", "leaves no room for training"),
    _case("test split takes everything", "dataset.test_size=0.99", "leaves no room for training"),
    _case("validation split empty", "dataset.limit=4", "gives no validation samples"),
    _case("monitor of another task", "trainer.monitor=r2", "trainer.monitor='r2' is not a"),
    # model, data and device
    _case("CNN on tabular data", "model=cnn", "needs image data"),
    _case("tabular model on images", "model=tabular dataset=digits",
          "model=tabular is for tables (rows of numbers), but dataset=digits is image data"),
    _case("unknown target transform", "dataset=diabetes dataset.target_transform=log",
          "dataset.target_transform"),
    _case("unknown resize rule", "dataset=image_folder dataset.path=photos dataset.resize=stretch",
          "dataset.resize=stretch is not allowed: choose one of squash, crop, pad"),
    _case("unavailable device", "device=mps", "device=mps was asked for"),
    _case("missing data folder", "dataset=mnist dataset.data_dir={root}/nowhere",
          "MNIST train split not found"),
    _case("truncated IDX file", "dataset=mnist dataset.data_dir={root}/truncated_idx",
          "is truncated or corrupt"),
    _case("IDX file with a bad header", "dataset=fashion_mnist dataset.data_dir={root}/bad_idx",
          "bad header"),
    _case("corrupt California cache", "dataset=california dataset.data_dir={root}/bad_cache",
          "cache"),
    # checkpoints
    _case("eval without a checkpoint", "mode=eval", "mode=eval needs checkpoint="),
    _case("missing checkpoint", "mode=eval checkpoint={root}/none.pt", "no checkpoint at"),
    _case("truncated checkpoint", "mode=eval checkpoint={root}/truncated.pt", "is unreadable"),
    _case("file that is not a checkpoint", "mode=eval checkpoint={root}/notes.pt",
          "is unreadable"),
    _case("resume with another model", "resume={root}/run model.hidden_sizes=[8]",
          "model.hidden_sizes is [128, 128] in the checkpoint, [8] now"),
    _case("resume with another data set", "resume={root}/run dataset=wine",
          "dataset.name is 'iris' in the checkpoint, 'wine' now"),
    _case("eval on another data set", "mode=eval checkpoint={root}/run dataset=wine",
          "tests the checkpoint's model on the data set it was trained on"),
    # output folders and training itself
    _case("output folder under a file", "hydra.run.dir={root}/notes.pt/run", "Not a directory"),
    _case("training diverges", "optimizer.lr=1e12", "training diverged: the loss became nan"),
    # values a library would refuse later, or that make no sense (ranges from the schemas)
    _case("seed scikit-learn refuses", "seed=-1", "seed=-1 is not allowed"),
    _case("negative momentum", "optimizer=sgd optimizer.momentum=-1",
          "optimizer.momentum=-1.0 is not allowed"),
    _case("Adam betas outside [0, 1)", "optimizer.betas=[0.9,1.5]",
          "every entry must be in [0, 1)"),
    _case("Adam betas of the wrong length", "optimizer.betas=[0.9]", "exactly 2 entries"),
    _case("CNN kernel 0", "dataset=digits model=cnn model.kernel_size=0",
          "model.kernel_size=0 is not allowed"),
    _case("CNN kernel larger than the images", "dataset=digits model=cnn model.kernel_size=300",
          "larger than the 8x8 images"),
    _case("augmenting tabular data", "dataset=iris dataset.augment=[flip]",
          "works on image data; dataset=iris is tabular"),
    _case("an augmentation that does not exist", "dataset=digits model=cnn "
          "dataset.augment=[crop,rotate]", "'rotate' is not an augmentation; known: crop, flip, "
          "resized_crop"),
    _case("a resized crop of no area", "dataset=digits model=cnn dataset.augment=[resized_crop] "
          "dataset.augment_scale=0", "dataset.augment_scale=0"),
    _case("an embedding that does not exist", "model=mlp model.embedding=fourier",
          "model.embedding='fourier' is not allowed"),
    _case("negative step gamma", "scheduler=step scheduler.gamma=-1", "scheduler.gamma=-1.0"),
    _case("negative min_delta", "trainer.min_delta=-1", "trainer.min_delta=-1.0 is not allowed"),
    _case("negative one-cycle max_lr", "scheduler=onecycle scheduler.max_lr=-1",
          "scheduler.max_lr=-1.0 is not allowed"),
    _case("infinite learning rate", "optimizer.lr=inf", "must be a finite number"),
    _case("cosine floor above the learning rate", "scheduler.min_lr=0.1 optimizer.lr=0.01",
          "must be at most optimizer.lr"),
    _case("flip averaging that is not true or false", "dataset=digits model=cnn "
          "model.flip_average=maybe", "model.flip_average"),
    _case("batch of 1 with batch norm", "model=mlp dataset.batch_size=1 model.batch_norm=true",
          "batch norm needs at least 2 samples"),
    _case("batch size in exponent notation", "dataset.batch_size=1e9",
          "written with digits only"),
    _case("data set epochs 0", "dataset.epochs=0", "dataset.epochs=0 is not allowed"),
    _case("unquoted non-ASCII value", "dataset.data_dir=données", "quote the value"),
    _case("shell completion without a shell", "--shell-completion", "install=bash"),
    # data that is well-formed but inconsistent
    _case("label outside the classes", "dataset=mnist dataset.data_dir={root}/bad_labels",
          "holds label 12, but MNIST has 10 classes"),
    _case("test images of another size", "dataset=mnist dataset.data_dir={root}/other_size",
          "all of one size"),
    _case("IDX header promising more than the file", "dataset=mnist dataset.data_dir={root}/"
          "long_header", "header promises shape (1000000000, 28, 28)"),
    _case("corrupt plain file beside its .gz", "dataset=mnist dataset.data_dir={root}/twin_idx",
          "beside it is not read"),
    _case("folder in place of a data file", "dataset=mnist dataset.data_dir={root}/dir_idx",
          "is not a file (a folder?)"),
    # resume and eval with another setup
    _case("resume with another optimizer", "resume={root}/run optimizer=sgd",
          "optimizer.name is 'adam' in the checkpoint, 'sgd' now"),
    _case("resume with another learning rate", "resume={root}/run optimizer.lr=0.1",
          "optimizer.lr is 0.001 in the checkpoint, 0.1 now"),
    _case("resume with fewer epochs than done", "resume={root}/run trainer.epochs=1",
          "it has trained 2 epochs already"),
    _case("resume of a folder without .hydra", "resume={root}/no_record",
          "has no .hydra/overrides.yaml"),
    _case("eval on images of another size", "mode=eval checkpoint={root}/mnist_run "
          "dataset.data_dir={root}/small_images", "was trained on data of inputs 1x28x28"),
    _case("search resumed from a corrupt study.db", "resume={root}/search",
          "is not a readable Optuna study"),
    _case("search storage that is no URL", "mode=search dataset=breast_cancer search.trials=1 "
          "search.storage=study.db", "search.storage=study.db is not allowed: a database URL"),
    _case("search storage of a database in memory", "mode=search dataset=breast_cancer "
          "search.trials=1 search.storage=sqlite:///", "search.storage=sqlite:/// names no "
          "file: a study in memory is this process's alone"),
    _case("search heartbeat beyond a day", "mode=search dataset=breast_cancer search.trials=1 "
          "search.heartbeat=100000000000", "search.heartbeat=100000000000 is not allowed"),
    _case("search storage that cannot be reached", "mode=search dataset=breast_cancer "
          "search.trials=1 search.storage='postgresql://me@/db?host={root}/no_server'",
          "cannot open the study"),
    # own data: tables
    _case("CSV that does not exist", "dataset=csv dataset.path={root}/own/none.csv "
          "dataset.target=price", "none.csv: no such file"),
    _case("empty CSV", "dataset=csv dataset.path={root}/own/empty.csv dataset.target=price",
          "is empty: no header and no rows"),
    _case("CSV with a header and no rows", "dataset=csv dataset.path={root}/own/header.csv "
          "dataset.target=price", "has a header but no rows"),
    _case("corrupt gzipped CSV", "dataset=csv dataset.path={root}/own/cut.csv.gz "
          "dataset.target=price", "is not a readable CSV file"),
    _case("CSV target not set", "dataset=csv dataset.path={root}/own/homes.csv",
          "dataset.target has no value"),
    _case("target column not in the CSV", "dataset=csv dataset.path={root}/own/homes.csv "
          "dataset.target=prise", "has no column prise; did you mean price?"),
    _case("feature column not in the CSV", "dataset=csv dataset.path={root}/own/homes.csv "
          "dataset.target=price dataset.features=[size,roms]", "did you mean rooms?"),
    _case("target with one class", "dataset=csv dataset.path={root}/own/one_class.csv "
          "dataset.target=price", "has one value"),
    _case("target missing in every row", "dataset=csv dataset.path={root}/own/no_target.csv "
          "dataset.target=price", "is missing in every row"),
    _case("missing values with impute=error", "dataset=csv dataset.path={root}/own/gaps.csv "
          "dataset.target=price dataset.impute=error", "has missing values in size (3), city (2)"),
    _case("binary task for three classes", "dataset=csv dataset.path={root}/own/homes.csv "
          "dataset.target=city dataset.task=binary", "needs two classes"),
    _case("regression of a text column", "dataset=csv dataset.path={root}/own/homes.csv "
          "dataset.target=city dataset.task=regression", "needs numbers"),
    _case("test file with an unknown class", "dataset=csv dataset.path={root}/own/homes.csv "
          "dataset.target=city dataset.test_path={root}/own/other_cities.csv",
          "target classes the training file lacks: west"),
    _case("impute that is not a choice", "dataset=csv dataset.path={root}/own/homes.csv "
          "dataset.target=price dataset.impute=mean", "choose one of median, error (or none)"),
    _case("search on a table whose task is auto", "mode=search dataset=csv "
          "dataset.path={root}/own/homes.csv dataset.target=price", "set dataset.task to"),
    # own data: image folders
    _case("image folder that does not exist", "dataset=image_folder "
          "dataset.path={root}/own/no_images", "no such folder"),
    _case("image folder with one class", "dataset=image_folder dataset.path={root}/own/one_class",
          "at least two; it has only cat"),
    _case("corrupt image", "dataset=image_folder dataset.path={root}/own/corrupt_image",
          "broken.png: unreadable"),
    _case("non-image file in a class folder", "dataset=image_folder "
          "dataset.path={root}/own/with_notes", "notes.txt: not an image file (.txt)"),
    _case("image cache that is not true or false", "dataset=image_folder "
          "dataset.path={root}/own/one_class dataset.cache=sometimes", "dataset.cache"),
    _case("mixed image sizes and no image_size", "dataset=image_folder "
          "dataset.path={root}/own/mixed_sizes", "set dataset.image_size"),
    _case("image channels neither 1 nor 3", "dataset=image_folder dataset.path={root}/own/images "
          "dataset.channels=2", "dataset.channels=2 is not allowed: choose one of 1, 3"),
    # own data: predictions
    _case("predict without an input", "mode=predict checkpoint={root}/csv_run",
          "mode=predict needs input="),
    _case("predict without a checkpoint", "mode=predict input={root}/own/homes.csv",
          "mode=predict needs checkpoint="),
    _case("predict file missing a training column", "mode=predict checkpoint={root}/csv_run "
          "input={root}/own/no_rooms.csv", "lacks the column rooms"),
    _case("predict file with text in a number column", "mode=predict checkpoint={root}/csv_run "
          "input={root}/own/text_size.csv",
          "column size holds text (e.g. 'big') where the training data holds numbers"),
    _case("predict folder without images", "mode=predict checkpoint={root}/image_run "
          "input={root}/own/no_pictures", "holds no image files"),
    # 1. values a table can hold but a network cannot
    _case("infinity in a feature column", _table("inf_size.csv"),
          "column size holds 1 infinite value (row 4)"),
    _case("negative infinity in two columns", _table("minus_inf.csv"),
          "column size holds 2 infinite values"),
    _case("a number beyond float32 in a feature", _table("huge_rooms.csv"),
          "column rooms holds 1 value beyond float32's range"),
    _case("a target beyond float32", _table("huge_price.csv"),
          "column price holds 1 value beyond float32's range"),
    _case("a column too small for float32", _table("tiny_size.csv"),
          "below float32's smallest normal number"),
    _case("infinity in the test table", _table("homes.csv", "dataset.test_path={root}/own/"
                                                "inf_size.csv"), "dataset.test_path="),
    _case("infinity in a prediction's input", _predict("inf_size.csv"),
          "input={root}/own/inf_size.csv: column size holds 1 infinite value",
          avoids="dataset.features"),
    _case("infinity in a user's data set", "dataset=custom dataset.target=bad_data:infinite "
          "dataset.task=regression", "that is NaN, infinite or beyond float32"),
    # 2. data that would change without a word
    _case("duplicate column names", _table("twice.csv"),
          "more than one column of the same name: 'size' (columns 1, 4)"),
    _case("duplicate column names in the test table",
          _table("homes.csv", "dataset.test_path={root}/own/twice.csv"),
          "dataset.test_path={root}/own/twice.csv has more than one column of the same name"),
    _case("duplicate column names at prediction", _predict("twice.csv"),
          "input={root}/own/twice.csv has more than one column of the same name"),
    _case("true/false where the model had numbers", _predict("true_false_rooms.csv"),
          "column rooms holds true/false"),
    _case("unknown folder layout", _images("images", "dataset.layout=kaggle"),
          "dataset.layout=kaggle is not allowed: choose one of auto, classes, splits, csv"),
    _case("a labels CSV naming files that are not there", _images("tagged/missing.csv"),
          "1 of its 3 files are not there (pics/gone.png; line 3); paths are read from the "
          "CSV's folder, {root}/own/tagged"),
    _case("a labels CSV with empty labels", _images("tagged/empty.csv"),
          "2 rows have an empty label (lines 3, 4); give each picture its class"),
    _case("a label separator that never occurs",
          _images("tagged/single.csv", "dataset.label_separator=semicolon"),
          "dataset.label_separator=';' occurs in none of the 2 labels of dataset.path="
          "{root}/own/tagged/single.csv"),
    _case("a label separator for class folders",
          _images("images", "dataset.label_separator=semicolon"),
          "separates the classes of a labels CSV; dataset.path={root}/own/images is a folder"),
    _case("a CSV layout asked of a folder", _images("images", "dataset.layout=csv"),
          "dataset.layout=csv: dataset.path={root}/own/images must be a CSV file"),
    _case("a labels CSV tested on a folder",
          _images("tagged/single.csv", "dataset.test_path={root}/own/images"),
          "dataset.test_path={root}/own/images must be a CSV of file,label too"),
    _case("split layout asked of class folders", _images("images", "dataset.layout=splits"),
          "must hold a train/ folder"),
    _case("16-bit images that 8 bits would flatten", _images("dim_16bit"),
          "which all become grey level"),
    _case("floating-point images", _images("float_images"), "32-bit floating-point pixels"),
    _case("32-bit images beyond 16 bits", _images("wide_images"), "beyond what 8 or 16 bits"),
    # 3. messages that must name the right thing
    _case("a table separated by semicolons", _table("semicolons.csv"),
          "set dataset.delimiter=';'"),
    _case("a .csv separated by tabs", _table("tabs.csv"), "set dataset.delimiter=tab"),
    _case("a delimiter of two characters", _table("homes.csv", "dataset.delimiter=ab"),
          "dataset.delimiter='ab' is not allowed: one character"),
    _case("an empty list of features", _table("homes.csv", "dataset.features=[]"),
          "dataset.features=[] names no column to learn from"),
    _case("text in a number column of the test table",
          _table("homes.csv", "dataset.test_path={root}/own/text_size.csv"),
          "dataset.test_path={root}/own/text_size.csv: column size holds text (e.g. 'big') where "
          "the training data holds numbers"),
    # tables as they come, cross-validation, imbalanced classes
    _case("max_categories of 0", _table("homes.csv", "dataset.max_categories=0"),
          "dataset.max_categories=0 is not allowed: must be at least 1"),
    _case("exclude naming no column", _table("homes.csv", "dataset.exclude=[sise]"),
          "dataset.exclude: dataset.path={root}/own/homes.csv has no column sise; did you mean "
          "size?"),
    _case("exclude naming the target", _table("homes.csv", "dataset.exclude=[price]"),
          "dataset.exclude lists the target column price"),
    _case("exclude leaving no column", _table("homes.csv", "dataset.exclude=[size,rooms,city]"),
          "once dataset.exclude's are left out"),
    _case("exclude that is not a list", _table("homes.csv", "dataset.exclude=size"),
          "dataset.exclude"),
    _case("drop_ids that is not true or false", _table("homes.csv", "dataset.drop_ids=maybe"),
          "dataset.drop_ids"),
    _case("group naming no column", _table("homes.csv", "dataset.group=owner"),
          "dataset.group: dataset.path={root}/own/homes.csv has no column owner"),
    _case("group that is the target", _table("homes.csv", "dataset.group=price"),
          "dataset.group=price is the target column"),
    _case("more folds than groups", _table("homes.csv", "dataset.group=city trainer.folds=5"),
          "groups in the training pool; use at most trainer.folds="),
    _case("no batch per optimizer step", "dataset=iris trainer.accumulate=0",
          "trainer.accumulate=0 is not allowed: must be at least 1"),
    _case("batches per step that are not a whole number", "dataset=iris trainer.accumulate=1.5",
          "trainer.accumulate=1.5 is not allowed: must be a whole number"),
    _case("a weight average that does not move", "dataset=iris trainer.ema=1",
          "trainer.ema=1.0 is not allowed: must be a fraction in (0, 1), or null"),
    _case("a weight average's decay that is not a number", "dataset=iris trainer.ema=high",
          "trainer.ema=high is not allowed: must be a number"),
    _case("a range test whose rate would fall", "mode=lr_find lr_find.start=0.5 lr_find.end=0.1",
          "lr_find.start=0.5 is not allowed: must be below lr_find.end=0.1"),
    _case("a range test of too few steps", "mode=lr_find lr_find.steps=5",
          "lr_find.steps=5 is not allowed: must be at least 10"),
    _case("a precision there is none of", "dataset=iris trainer.precision=fp8",
          "trainer.precision='fp8' is not allowed: choose one of auto, fp32, bf16, fp16"),
    _case("one fold", "dataset=iris trainer.folds=1",
          "trainer.folds=1 is not allowed: must be at least 2"),
    _case("more folds than any class has rows", "dataset=iris trainer.folds=50",
          "trainer.folds=50: the training pool's largest class has"),
    _case("a fold without folds", "dataset=iris trainer.fold=2",
          "trainer.fold=2 is not allowed: needs trainer.folds"),
    _case("a fold beyond the folds", "dataset=iris trainer.folds=3 trainer.fold=4",
          "trainer.fold=4 is not allowed: at most trainer.folds=3"),
    _case("predict with a cross-validation's folder", "mode=predict checkpoint={root}/cv_run "
          "input={root}/own/homes.csv", "is a cross-validation (trainer.folds)"),
    _case("class_weight that is not a choice", "dataset=iris trainer.class_weight=heavy",
          "trainer.class_weight='heavy' is not allowed: none, balanced, or a list"),
    _case("class weights of the wrong count", "dataset=iris trainer.class_weight=[1,2]",
          "trainer.class_weight has 2 weights for 3 classes"),
    _case("a negative class weight", "dataset=iris trainer.class_weight=[1,-1,1]",
          "a list of positive numbers up to 1e+06, one per class"),
    _case("class weights for regression", "dataset=diabetes trainer.class_weight=balanced",
          "weighs classes; a regression task has none"),
    _case("threshold beyond a probability", "dataset=breast_cancer trainer.threshold=1.5",
          "trainer.threshold=1.5 is not allowed: a probability in (0, 1), or tuned"),
    _case("threshold of a multiclass task", "dataset=iris trainer.threshold=tuned",
          "is the decision threshold of a binary task; this one is multiclass"),
    _case("missing values at prediction", _predict("gaps.csv"),
          "has missing values in size (3)", avoids="set dataset.impute"),
    _case("a corrupt image at prediction", _predict("corrupt_image", run="image_run"),
          "Remove them from the input", avoids="dataset.skip_bad"),
    _case("primary config folder that does not exist", "--config-path={root}/no_configs",
          "--config-path={root}/no_configs: no such folder"),
    _case("--cfg of a part that does not exist", "--cfg=jobs", "invalid choice: 'jobs'"),
    # 4. a user's own code
    _case("own model whose forward raises", _model("Raises"),
          "model.target=bad_nets:Raises raised ValueError: my forward is broken (bad_nets.py, "
          "line"),
    _case("own model that returns a tuple", _model("Pair"), "returned a tuple from forward"),
    _case("own model that returns a tuple only in training", _model("PairInTraining"),
          "returned a tuple in training mode"),
    _case("own model without parameters", _model("Empty"), "has no parameters to train"),
    _case("own model with more outputs than classes", _model("Nine"),
          "returned outputs of shape (2, 9) for 2 samples; the data needs one tensor of shape "
          "(2, 3)"),
    _case("own model with whole-number outputs", _model("Whole"),
          "returned a torch.int64 tensor from forward"),
    _case("own model with NaN outputs", _model("NotANumber"), "NaN or infinite outputs"),
    _case("own module that exits on import", "model=custom model.target=exits_on_import:Net",
          "importing exits_on_import called sys.exit(0)"),
    _case("own data set that exits", "dataset=custom dataset.target=bad_data:exits",
          "called sys.exit(3) while building"),
    _case("own data set of text", "dataset=custom dataset.target=bad_data:words",
          "returned x that is not numbers"),
    _case("own data set that raises", "dataset=custom dataset.target=bad_data:raises",
          "did not build: KeyError: 'price' (bad_data.py, line"),
    # 10. search spaces that cannot work, found before the first trial
    _case("search bound that is not a number", _space("text_bound"),
          "search.space.optimizer.lr.low='small' is not allowed: must be a number"),
    _case("search bounds the wrong way round", _space("upside_down"),
          "search.space.optimizer.lr: low=0.1 is above high=0.001"),
    _case("search over a misspelled key", _space("misspelled"),
          "optimizer.lrr is not a setting of optimizer"),
    _case("search entry with an unknown field", _space("unknown_field"),
          "search.space.optimizer.lr.hihg is not a field of a search entry"),
    _case("search value outside a setting's range", _space("negative_lr"),
          "optimizer.lr=-0.1 is not allowed"),
    # 11. failures that must be quick and quiet
    _case("MLflow server that cannot be reached",
          "logger=mlflow logger.mlflow.tracking_uri=http://127.0.0.1:9",
          "logger.mlflow.tracking_uri=http://127.0.0.1:9 cannot be reached"),
    _case("prediction output under a file", _predict("homes.csv") + " output={root}/own/"
          "homes.csv/predicted.csv", "a part of this path is a file, not a folder"),
    # 12. pretrained networks and fine-tuning
    _case("unknown torchvision architecture", _images("images", "model=torchvision",
                                                      "model.arch=resnet19"),
          "model.arch=resnet19 is not a classification model of torchvision; did you mean "
          "resnet18"),
    _case("torchvision network on a table", "dataset=wine model=torchvision",
          "model=torchvision"),
    _case("named weights missing offline", _images("images", "model=torchvision",
                                                   "model.arch=resnet152",
                                                   "model.weights=IMAGENET1K_V2"),
          "resnet152-f82ba261.pth is not in", avoids="Traceback"),
    _case("misspelled weights name", _images("images", "model=torchvision",
                                             "model.weights=IMAGENET"),
          "model.weights=IMAGENET is not a weights name of resnet18; did you mean IMAGENET1K_V1"),
    _case("weights file of another architecture",
          _images("images", "model=torchvision", "model.weights={root}/own/mobilenet.pth"),
          "does not fit model.arch: it lacks conv1.weight"),
    _case("weights file that does not exist",
          _images("images", "model=torchvision", "model.weights={root}/own/missing.pth"),
          "model.weights={root}/own/missing.pth: no such file"),
    _case("weights file that is not a state dict",
          _images("images", "model=torchvision", "model.weights={root}/notes.pt"),
          "is not a state dict saved with torch.save"),
    _case("model.init of another architecture",
          _images("images", "model=resnet", "model.init={root}/image_run"),
          "does not fit this model: its 1.0.weight"),
    _case("model.init of a 1-channel run into a 3-channel model",
          _images("images", "dataset.channels=3", "model.init={root}/image_run"),
          "was trained on 1-channel images, this data has 3 channels"),
    _case("model.init of a run that is not there", "model.init={root}/nowhere",
          "no checkpoint at {root}/nowhere"),
    _case("model.init with only a head for other classes",
          "dataset=wine model=perceptron model.init={root}/mnist_run",
          "nothing to take from it"),
    _case("freezing a model without a backbone", "model=perceptron model.freeze=backbone",
          "has no backbone to freeze"),
    _case("backbone learning rate scale without a backbone",
          "model=perceptron optimizer.backbone_lr_scale=0.1",
          "model=perceptron has no backbone to train more slowly"),
    _case("freezing something that is not a part", "model.freeze=head",
          "model.freeze='head' is not allowed: choose one of auto, none, backbone"),
    _case("unfreeze epoch without freezing", "model.freeze=none trainer.unfreeze_epoch=1",
          "needs model.freeze=backbone or auto"),
    _case("unfreeze epoch of a run started from no weights", "trainer.unfreeze_epoch=1",
          "nothing is frozen, as the run starts from no weights"),
    _case("backbone learning rate scale above 1", "optimizer.backbone_lr_scale=2",
          "optimizer.backbone_lr_scale=2"),
    _case("residual network deeper than the images", _images("images", "model=resnet",
                                                             "model.widths=[8,8,8,8,8,8]"),
          "halving the 12x12 images; at most 4 fit"),
    # 1. sizes and files a network cannot take
    _case("images too small for the network", _images("images", "model=torchvision",
                                                      "model.arch=alexnet", "model.image_size=8"),
          "model=torchvision cannot take 8x8 images: its layers shrink them to nothing before "
          "its head; it takes 64x64"),
    _case("images too large for memory", _images("images", "model=torchvision",
                                                 "model.image_size=100000"),
          "GiB of memory this run may use; make it smaller (model.image_size, "
          "dataset.batch_size, dataset.image_size)"),
    _case("a residual network without widths", "dataset=digits model=resnet model.widths=[]",
          "model.widths=[] is not allowed: must hold 1 to 64 entries"),
    _case("more hidden layers than an MLP trains",
          "model=mlp model.hidden_sizes=[" + ",".join(["8"] * 65) + "]",
          "is not allowed: must hold 0 to 64 entries"),
    _case("widths too large for memory", "model=mlp model.hidden_sizes=[100000,100000]",
          "model=mlp would need about 149.1 GiB to train (10,000,900,003 parameters"),
    _case("weights file holding a non-tensor",
          _images("images", "model=torchvision", "model.weights={root}/own/with_note.pth"),
          "its entry note is a str, not a tensor"),
    _case("weights file of integer tensors",
          _images("images", "model=torchvision", "model.weights={root}/own/integers.pth"),
          "its conv1.weight holds int64 values where the network has floating-point weights"),
    _case("weights file holding NaN",
          _images("images", "model=torchvision", "model.weights={root}/own/nan.pth"),
          "its layer1.0.conv1.weight holds 1 NaN or infinite value of 36864"),
    _case("an nnrun checkpoint as model.weights",
          _images("images", "model=torchvision",
                  "model.weights={root}/image_run/checkpoints/best.pt"),
          "is a checkpoint of an nnrun run, not a network's weights; start from it with "
          "model.init={root}/image_run/checkpoints/best.pt"),
    # 2. names we generate that a table already has
    _case("a date part's name taken by a column", _table("date_part_taken.csv"),
          "the date column sold becomes its parts sold.year, sold.month, sold.day, "
          "sold.weekday, but the table has a column sold.year too"),
    _case("a missing-value marker's name taken by a column", _table("marker_taken.csv"),
          "two encoded columns would both be named 'size (missing)': column size (missing) and "
          "the missing-value marker of column size"),
    _case("the rare bucket's name taken by a category",
          _table("other_taken.csv", "dataset.max_categories=2"),
          "two encoded columns would both be named 'city=(other)': column city's category "
          "'(other)' and the bucket of column city's rare categories"),
    _case("a category's name taken by a column", _table("category_taken.csv"),
          "two encoded columns would both be named 'city=north'"),
    # 4. finished work resumed with other settings
    _case("a cross-validation resumed with another learning rate",
          "resume={root}/cv_run optimizer.lr=0.1",
          "its fold_1 was trained with another setup (optimizer.lr is 0.001 in the checkpoint, "
          "0.1 now); its folds would mix two experiments"),
    _case("a cross-validation resumed with other folds", "resume={root}/cv_run trainer.folds=3",
          "trainer.folds is 2 in the checkpoint, 3 now"),
    _case("a cross-validation resumed with another training setting",
          "resume={root}/cv_run trainer.label_smoothing=0.1",
          "trainer.label_smoothing is 0.0 in the checkpoint, 0.1 now"),
    _case("a cross-validation resumed without its folds",
          "resume={root}/cv_run trainer.folds=null",
          "cannot resume {root}/cv_run as a single run: it is a 2-fold cross-validation"),
    _case("a single run resumed with folds", "resume={root}/run trainer.folds=2",
          "cannot resume {root}/run as a cross-validation: it is a single run"),
    # 10. files a library would warn of
    _case("a TorchScript program as a checkpoint", "mode=eval checkpoint={root}/own/program.pt",
          "{root}/own/program.pt is a TorchScript export, not a checkpoint"),
    _case("a TorchScript program as model.weights",
          _images("images", "model=torchvision", "model.weights={root}/own/program.pt"),
          "model.weights={root}/own/program.pt is a TorchScript program, not a state dict"),
    # 3. splits that cannot be made
    _case("a group column of one group", _table("one_owner.csv", "dataset.group=owner"),
          "dataset.group=owner: the test split takes whole groups, and the table has 1 group "
          "(ann), which leaves none for training"),
    _case("a group column of two groups", _table("two_owners.csv", "dataset.group=owner"),
          "dataset.group=owner: the validation split takes whole groups, and the training pool "
          "has 1 group"),
    # 9. causes that are not the learning rate
    _case("an infinite class weight", "dataset=iris trainer.class_weight=[inf,1,1]",
          "trainer.class_weight=[inf, 1, 1] is not allowed: a list of positive numbers up to "
          "1e+06"),
    _case("a class weight beyond float32", "dataset=iris trainer.class_weight=[1e39,1,1]",
          "trainer.class_weight=[1e+39, 1, 1] is not allowed"),
    _case("class weights all zero", "dataset=iris trainer.class_weight=[0,0,0]",
          "trainer.class_weight=[0, 0, 0] is not allowed: a list of positive numbers"),
    _case("a denormal start of a range test", "mode=lr_find lr_find.start=1e-310",
          "lr_find.start=1e-310 is not allowed: must be in [1e-12, 1)"),
    _case("an absurd end of a range test", "mode=lr_find lr_find.end=1e308",
          "lr_find.end=1e+308 is not allowed: must be in (0, 1000]"),
    # folders that hold results already
    _case("existing run as the run folder", "dataset=wine hydra.run.dir={root}/run",
          "already holds a run"),
    _case("existing sweep as the sweep folder", "-m optimizer.lr=0.1,0.01 "
          "hydra.sweep.dir={root}/sweep", "already holds a sweep"),
]


def prepare_fixtures(root: Path, run_nnrun: Callable[..., None]) -> None:
    """The files the cases point at: broken data, broken checkpoints, one trained run."""
    write_idx_dataset(root / "truncated_idx" / "MNIST" / "raw", compress=False)
    images = root / "truncated_idx" / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    write_idx_dataset(root / "bad_idx" / "FashionMNIST" / "raw", compress=False)
    (root / "bad_idx" / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(b"junk")
    write_california_cache(root / "bad_cache" / "sklearn")
    cache = next((root / "bad_cache" / "sklearn").iterdir())
    cache.write_bytes(cache.read_bytes()[:100])
    _inconsistent_idx(root)
    # model=mlp: the cases resuming it name the MLP's and Adam's settings
    run_nnrun("model=mlp", "trainer.epochs=2", "trainer.plots=false",
              f"hydra.run.dir={root / 'run'}")
    checkpoint = (root / "run" / "checkpoints" / "best.pt").read_bytes()
    (root / "truncated.pt").write_bytes(checkpoint[: len(checkpoint) // 2])
    (root / "notes.pt").write_text("not a checkpoint\n")
    shutil.copytree(root / "run", root / "no_record")
    shutil.rmtree(root / "no_record" / ".hydra")
    shutil.copytree(root / "run", root / "search")
    (root / "search" / ".hydra" / "overrides.yaml").write_text("- mode=search\n")
    (root / "search" / "study.db").write_text("not a database\n")
    (root / "sweep" / "0").mkdir(parents=True)
    (root / "sweep" / "multirun.yaml").write_text("hydra: {}\n")
    _own_data(root / "own")
    _new_surfaces(root / "own")
    _label_tables(root / "own" / "tagged")
    _user_code(root / USER_CODE)
    _search_spaces(root / "spaces" / "search")
    _pretrained(root / "own")
    run_nnrun("dataset=csv", f"dataset.path={root / 'own' / 'homes.csv'}", "dataset.target=price",
              "dataset.impute=error", "trainer.epochs=1", "trainer.plots=false",
              f"hydra.run.dir={root / 'csv_run'}")
    run_nnrun("dataset=iris", "model=mlp", "trainer.folds=2", "trainer.epochs=1",
              "trainer.plots=false", f"hydra.run.dir={root / 'cv_run'}")
    run_nnrun("dataset=image_folder", f"dataset.path={root / 'own' / 'images'}",
              "trainer.epochs=1", "trainer.plots=false", f"hydra.run.dir={root / 'image_run'}")
    write_idx_dataset(root / "good_mnist", compress=True)
    run_nnrun("dataset=mnist", f"dataset.data_dir={root / 'good_mnist'}", "model=perceptron",
              "trainer.epochs=1", "trainer.plots=false", f"hydra.run.dir={root / 'mnist_run'}")


def _label_tables(folder: Path) -> None:
    """Two pictures and CSVs listing them (file,label), each wrong in one way."""
    from PIL import Image

    (folder / "pics").mkdir(parents=True)
    for index in range(2):
        Image.new("RGB", (8, 8), (40 + 100 * index, 0, 0)).save(folder / "pics" / f"{index}.png")
    tables = {"missing": ["pics/0.png,red", "pics/gone.png,red", "pics/1.png,blue"],
              "empty": ["pics/0.png,red", "pics/1.png,", "pics/0.png, "],
              "single": ["pics/0.png,red", "pics/1.png,blue green"]}
    for name, rows in tables.items():
        (folder / f"{name}.csv").write_text("file,label\n" + "\n".join(rows) + "\n")


def _pretrained(own: Path) -> None:
    """A state-dict file of mobilenet_v3_small: the weights of another network for resnet18."""
    import torch
    from torchvision import models

    torch.save(models.get_model("mobilenet_v3_small", weights=None).state_dict(),
               own / "mobilenet.pth")
    with warnings.catch_warnings():  # torch 2.14 calls TorchScript deprecated; users have it
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(torch.nn.Linear(2, 2)).save(str(own / "program.pt"))
    resnet = models.get_model("resnet18", weights=None).state_dict()
    torch.save({**resnet, "note": "trained on my laptop"}, own / "with_note.pth")
    torch.save({key: value.long() for key, value in resnet.items()}, own / "integers.pth")
    broken = {**resnet, "layer1.0.conv1.weight": resnet["layer1.0.conv1.weight"].clone()}
    broken["layer1.0.conv1.weight"][0, 0, 0, 0] = float("nan")
    torch.save(broken, own / "nan.pth")


def _inconsistent_idx(root: Path) -> None:
    """MNIST folders whose files are each well-formed but do not fit together."""
    folders = {name: root / name / "MNIST" / "raw" for name in
               ("bad_labels", "other_size", "long_header", "twin_idx", "dir_idx", "small_images")}
    for name, folder in folders.items():
        write_idx_dataset(folder, compress=name == "twin_idx")
        if name == "twin_idx":
            write_idx_dataset(folder, compress=False)
    labels = folders["bad_labels"] / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:8] + bytes([12]) + labels.read_bytes()[9:])
    write_idx(folders["other_size"] / "t10k-images-idx3-ubyte",
              np.zeros((100, 14, 14), np.uint8), compress=False)
    images = folders["long_header"] / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:4] + (10**9).to_bytes(4, "big") +
                       images.read_bytes()[8:])
    (folders["twin_idx"] / "train-labels-idx1-ubyte").write_bytes(b"junk")
    (folders["dir_idx"] / "train-images-idx3-ubyte").unlink()
    (folders["dir_idx"] / "train-images-idx3-ubyte").mkdir()
    for split, count in (("train", 300), ("t10k", 100)):
        write_idx(folders["small_images"] / f"{split}-images-idx3-ubyte",
                  np.zeros((count, 14, 14), np.uint8), compress=False)


def _own_data(own: Path) -> None:
    """Tables and image folders, each wrong in one way."""
    import pandas as pd
    from PIL import Image

    own.mkdir(parents=True)
    rng = np.random.default_rng(0)
    homes = pd.DataFrame({"size": rng.uniform(20, 200, 60).round(1), "rooms": rng.integers(1, 6, 60),
                          "city": rng.choice(["north", "south", "east"], 60)})
    homes["price"] = homes["size"] * 3 + homes["rooms"]
    homes.to_csv(own / "homes.csv", index=False)
    (own / "empty.csv").write_text("")
    (own / "header.csv").write_text("size,price\n")
    (own / "cut.csv.gz").write_bytes(gzip.compress(homes.to_csv(index=False).encode())[:60])
    homes.assign(price=5.0).to_csv(own / "one_class.csv", index=False)
    homes.assign(price=np.nan).to_csv(own / "no_target.csv", index=False)
    gaps = homes.copy()
    gaps.loc[:2, "size"] = np.nan
    gaps.loc[5:6, "city"] = np.nan
    gaps.to_csv(own / "gaps.csv", index=False)
    homes.assign(city="west").to_csv(own / "other_cities.csv", index=False)
    homes.drop(columns="rooms").to_csv(own / "no_rooms.csv", index=False)
    homes.assign(size="big").to_csv(own / "text_size.csv", index=False)
    for folder, files in (("images", {"cat": 6, "dog": 6}), ("one_class", {"cat": 3}),
                          ("corrupt_image", {"cat": 3, "dog": 3}),
                          ("with_notes", {"cat": 3, "dog": 3}),
                          ("mixed_sizes", {"cat": 3, "dog": 3})):
        for name, count in files.items():
            (own / folder / name).mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 255, (12, 12), dtype=np.uint8)
                Image.fromarray(pixels).save(own / folder / name / f"{index}.png")
    (own / "corrupt_image" / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    (own / "with_notes" / "cat" / "notes.txt").write_text("taken in the garden\n")
    (own / "no_pictures").mkdir()
    (own / "no_pictures" / "readme.txt").write_text("no pictures here\n")
    Image.fromarray(np.zeros((20, 16), np.uint8)).save(own / "mixed_sizes" / "dog" / "big.png")


def _new_surfaces(own: Path) -> None:
    """Tables and images each wrong in a way that pandas or Pillow would pass on silently."""
    import pandas as pd
    from PIL import Image

    homes = pd.read_csv(own / "homes.csv")
    homes.assign(size=homes["size"].where(homes.index != 3, np.inf)).to_csv(
        own / "inf_size.csv", index=False)
    homes.assign(size=homes["size"].where(~homes.index.isin([1, 7]), -np.inf)).to_csv(
        own / "minus_inf.csv", index=False)
    homes.assign(rooms=homes["rooms"].astype(float).where(homes.index != 2, 1e39)).to_csv(
        own / "huge_rooms.csv", index=False)
    homes.assign(price=homes["price"].where(homes.index != 9, -1e40)).to_csv(
        own / "huge_price.csv", index=False)
    homes.assign(size=homes["size"] * 1e-45).to_csv(own / "tiny_size.csv", index=False)
    twice = homes.copy()
    twice.insert(3, "size_again", homes["size"] * 2)
    twice.to_csv(own / "twice.csv", index=False, header=["size", "rooms", "city", "size",
                                                          "price"])
    homes.assign(rooms=[index % 2 == 0 for index in range(len(homes))]).to_csv(
        own / "true_false_rooms.csv", index=False)
    homes.to_csv(own / "semicolons.csv", index=False, sep=";")
    homes.assign(sold=pd.date_range("2020-01-01", periods=len(homes)).astype(str),
                 **{"sold.year": 2019}).to_csv(own / "date_part_taken.csv", index=False)
    homes.assign(size=homes["size"].where(homes.index % 7 != 0),
                 **{"size (missing)": 1.0}).to_csv(own / "marker_taken.csv", index=False)
    homes.assign(city=np.where(homes.index % 2, "(other)", homes["city"])).to_csv(
        own / "other_taken.csv", index=False)
    homes.assign(**{"city=north": 1.0}).to_csv(own / "category_taken.csv", index=False)
    homes.assign(owner="ann").to_csv(own / "one_owner.csv", index=False)
    homes.assign(owner=np.where(homes.index % 2, "ann", "bob")).to_csv(own / "two_owners.csv",
                                                                       index=False)
    homes.to_csv(own / "tabs.csv", index=False, sep="\t")
    rng = np.random.default_rng(1)
    for folder, mode, values in (("dim_16bit", "I;16", (0, 100)),
                                 ("float_images", "F", (0, 1)),
                                 ("wide_images", "I", (0, 70000))):
        for name in ("cat", "dog"):
            (own / folder / name).mkdir(parents=True)
            for index in range(3):
                pixels = rng.uniform(*values, (12, 12))
                image = Image.fromarray(pixels.astype({"I;16": np.uint16, "F": np.float32,
                                                       "I": np.int32}[mode]))
                image.save(own / folder / name / f"{index}.{'png' if mode == 'I;16' else 'tif'}")


BAD_NETS = """
import torch
from torch import nn


class _Base(nn.Module):
    def __init__(self, input_shape, num_outputs, width=None):
        super().__init__()
        self.layer = nn.Linear(int(torch.tensor(input_shape).prod()), width or num_outputs)

    def forward(self, x):
        return self.layer(x.flatten(1).float())


class Raises(_Base):
    def forward(self, x):
        raise ValueError("my forward is broken")


class Pair(_Base):
    def forward(self, x):
        return super().forward(x), x


class PairInTraining(_Base):
    def forward(self, x):
        out = super().forward(x)
        return (out, x) if self.training else out


class Empty(nn.Module):
    def __init__(self, input_shape, num_outputs):
        super().__init__()
        self.num_outputs = num_outputs

    def forward(self, x):
        return torch.zeros(len(x), self.num_outputs)


class Nine(_Base):
    def __init__(self, input_shape, num_outputs):
        super().__init__(input_shape, num_outputs, width=9)


class Whole(_Base):
    def forward(self, x):
        return super().forward(x).long()


class NotANumber(_Base):
    def forward(self, x):
        return super().forward(x) * float("nan")
"""

BAD_DATA = """
import sys

import numpy as np


def infinite():
    x = np.random.default_rng(0).normal(size=(60, 3))
    x[5, 1] = np.inf
    return x, x.sum(axis=1)


def exits():
    sys.exit(3)


def words():
    return np.array([["a", "b"]] * 40), np.arange(40) % 2


def raises():
    table = {"size": [1, 2]}
    return table["price"]
"""


def _user_code(folder: Path) -> None:
    """Users' own modules, each wrong in one way (model classes, data functions)."""
    folder.mkdir(parents=True)
    (folder / "bad_nets.py").write_text(BAD_NETS)
    (folder / "bad_data.py").write_text(BAD_DATA)
    (folder / "exits_on_import.py").write_text("import sys\nsys.exit(0)\n")


SPACES = {
    "text_bound": "optimizer.lr: {low: small, high: 0.1}",
    "upside_down": "optimizer.lr: {low: 0.1, high: 0.001}",
    "misspelled": "optimizer.lrr: {low: 0.001, high: 0.1}",
    "unknown_field": "optimizer.lr: {low: 0.001, hihg: 0.1}",
    "negative_lr": "optimizer.lr: {low: -0.1, high: 0.1}",
}


def _search_spaces(folder: Path) -> None:
    """Search spaces that cannot work, each in its own YAML of the search group."""
    folder.mkdir(parents=True)
    for name, entry in SPACES.items():
        (folder / f"{name}.yaml").write_text(f"defaults:\n  - schema/search@_here_\n  - _self_\n"
                                             f"space:\n  {entry}\n")
