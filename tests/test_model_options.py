"""Options that change what the network sees or is: image augmentation, numeric embeddings."""

import json

import pytest
import torch
from torch import nn

from nnrecipes.components.models.cnn import CNN
from nnrecipes.components.models.mlp import MLP, PeriodicEmbedding
from nnrecipes.core.config import ConfigError
from nnrecipes.data import Split
from nnrecipes.run.augment import build_augment, random_crop, random_flip, random_resized_crop
from nnrecipes.run.engine import EpochPlan, train_one_epoch


def shifts(image, padding):
    """Every image ``random_crop`` may make of ``image``: shifted by up to padding, zero-filled."""
    size = image.shape[-1]
    padded = torch.nn.functional.pad(image, (padding,) * 4)
    return [padded[:, top:top + size, left:left + size]
            for top in range(2 * padding + 1) for left in range(2 * padding + 1)]


def test_random_crop_shifts_each_image_within_the_padding_and_keeps_shape_and_type():
    torch.manual_seed(0)
    images = torch.randint(1, 256, (64, 1, 8, 8), dtype=torch.uint8)
    cropped = random_crop(images, padding=2)
    assert cropped.shape == images.shape and cropped.dtype == torch.uint8
    for original, result in zip(images, cropped):
        assert any(torch.equal(result, candidate) for candidate in shifts(original, 2))
    # a fresh draw per image: not every image got the same shift
    moved = {next(i for i, c in enumerate(shifts(o, 2)) if torch.equal(r, c))
             for o, r in zip(images, cropped)}
    assert len(moved) > 5


def test_random_flip_mirrors_about_half_the_images_and_nothing_else():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (1000, 3, 4, 4), dtype=torch.uint8)
    flipped = random_flip(images)
    same = [torch.equal(a, b) for a, b in zip(images, flipped)]
    mirrored = [torch.equal(a.flip(-1), b) for a, b in zip(images, flipped)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 400 < sum(mirrored) < 600


def test_random_resized_crop_stretches_a_part_of_each_image_over_it_a_fresh_box_each():
    torch.manual_seed(0)
    # each pixel says its column: 0, 30, ..., 210 across every row
    columns = (torch.arange(8) * 30).to(torch.uint8).expand(500, 1, 8, 8).clone()
    # the whole image at a scale of 1 (the box cannot be larger): nothing moves
    assert torch.equal(random_resized_crop(columns, min_scale=1.0), columns)
    cropped = random_resized_crop(columns, min_scale=0.35)
    assert cropped.shape == columns.shape and cropped.dtype == torch.uint8
    rows = cropped[:, 0].long()
    # a stretch, not a mirror: columns still rise left to right, rows all alike
    assert (rows.diff(dim=-1) >= 0).all() and (rows == rows[:, :1]).all()
    spans = rows[:, 0, -1] - rows[:, 0, 0]
    assert (spans < 210).float().mean() > 0.9  # most boxes are narrower than the image
    assert len(set(rows[:, 0, 0].tolist())) > 20  # and start at many places
    assert spans.min() >= 0.35 * 210 * 0.75 * 0.5  # at least the smallest box's width


class Recorder(nn.Module):
    """A model that keeps every batch it is given."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.batches = []

    def forward(self, x):
        self.batches.append(x.clone())
        return self.weight * x.float().flatten(1)[:, :3]


def test_training_batches_are_augmented_and_keep_their_labels():
    # Image i is filled with its label: after a shift of at most 2 pixels and a mirror, the
    # centre pixel still says which label the model was trained against.
    torch.manual_seed(0)
    labels = torch.randint(0, 3, (100,))
    images = labels.to(torch.uint8)[:, None, None, None].expand(100, 1, 8, 8).clone()
    model, targets = Recorder(), []
    loss = lambda out, y: targets.append(y.clone()) or out.sum() * 0  # noqa: E731
    augment = build_augment(["crop", "flip"], padding=2)
    train_one_epoch(model, Split(images, labels), torch.optim.SGD(model.parameters(), lr=0.1),
                    loss, EpochPlan(batch_size=32, augment=augment))
    seen = torch.cat(model.batches)
    assert seen.shape == (100, 1, 8, 8)
    assert torch.equal(seen[:, 0, 4, 4].long(), torch.cat(targets))
    assert (seen == 0).any()  # the crops did shift zeros in


def test_an_unknown_augmentation_names_the_known_ones():
    with pytest.raises(ConfigError, match="'rotate' is not an augmentation; known: crop, flip"):
        build_augment(["crop", "rotate"], padding=2)


def test_augmented_image_training_runs_end_to_end(nnrun, idx_data_dir):
    run = nnrun("dataset=fashion_mnist", "model=cnn", f"dataset.data_dir={idx_data_dir}",
                "dataset.augment=[resized_crop,crop,flip]", "trainer.epochs=2")
    assert run.summary["status"] == "completed" and run.summary["epochs_run"] == 2


def test_convs_per_block_stacks_convolutions_before_each_pool_and_keeps_the_default_layout():
    def convs(network):
        return [(m.in_channels, m.out_channels) for m in network if isinstance(m, nn.Conv2d)]

    one = CNN((1, 28, 28), 10, channels=[8, 16])
    two = CNN((1, 28, 28), 10, channels=[8, 16], convs_per_block=2)
    assert convs(one) == [(1, 8), (8, 16)]
    assert convs(two) == [(1, 8), (8, 8), (8, 16), (16, 16)]
    assert sum(isinstance(m, nn.MaxPool2d) for m in two) == 2
    assert two(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    # one conv a block keeps the layer numbering that older checkpoints were saved with
    assert list(one.state_dict())[:3] == ["0.weight", "1.weight", "1.bias"]
    assert isinstance(one[2], nn.MaxPool2d) and isinstance(one[3], nn.ReLU)


@pytest.mark.parametrize("convs_per_block", [1, 2])
def test_pooling_before_the_blocks_relu_gives_the_same_outputs_and_gradients(convs_per_block):
    torch.manual_seed(0)
    network = CNN((1, 28, 28), 10, channels=[8, 16, 16], convs_per_block=convs_per_block)
    # the order older nnrecipes built: ReLU, then max-pool, same weights
    layers = list(network)
    pools = [i for i, layer in enumerate(layers) if isinstance(layer, nn.MaxPool2d)]
    for i in pools:
        layers[i], layers[i + 1] = layers[i + 1], layers[i]
    relu_first = nn.Sequential(*layers)
    assert all(isinstance(relu_first[i - 1], nn.ReLU) for i, layer in enumerate(relu_first)
               if isinstance(layer, nn.MaxPool2d))
    images = torch.randn(6, 1, 28, 28)
    outputs = []
    for model in (network, relu_first):  # in training mode: batch statistics, dropout's masks
        torch.manual_seed(1)
        outputs.append(model(images))
    assert torch.equal(outputs[0], outputs[1])
    gradients = [torch.autograd.grad(out.square().sum(), list(network.parameters()))
                 for out in outputs]
    for mine, theirs in zip(*gradients):
        assert torch.equal(mine, theirs)


def test_a_cnn_with_two_convs_per_block_trains_and_its_checkpoint_evaluates_alone(nnrun):
    run = nnrun("dataset=digits", "model=cnn", "model.convs_per_block=2", "trainer.epochs=2")
    assert run.summary["status"] == "completed"
    assert (run.dir / "model.txt").read_text().count("Conv2d") == 6
    evaluated = nnrun("mode=eval", f"checkpoint={run.dir}")
    again = json.loads((evaluated.dir / "eval.json").read_text())["test"]["accuracy"]
    assert again == pytest.approx(run.summary["test"]["accuracy"], abs=1e-6)


def test_periodic_embedding_gives_each_feature_its_own_frequencies_and_layer():
    torch.manual_seed(0)
    embedding = PeriodicEmbedding(features=3, frequencies=4, size=5, scale=0.1)
    x = torch.randn(7, 3)
    out = embedding(x)
    assert out.shape == (7, 15) and (out >= 0).all()
    # feature 1's numbers depend on feature 1 alone
    changed = x.clone()
    changed[:, 1] += 1.0
    difference = (embedding(changed) - out).abs().reshape(7, 3, 5).sum(dim=(0, 2))
    assert difference[0] == 0 and difference[2] == 0 and difference[1] > 0


def test_an_mlp_with_periodic_embeddings_composes_trains_and_reloads(nnrun):
    run = nnrun("dataset=diabetes", "model=mlp", "model.embedding=periodic",
                "model.embedding_size=8", "model.frequencies=16", "trainer.epochs=3")
    assert run.summary["status"] == "completed"
    assert "PeriodicEmbedding" in (run.dir / "model.txt").read_text()
    plain = MLP((10,), 1, [128, 128])
    assert run.summary["parameters"] > sum(p.numel() for p in plain.parameters())
    rows = run.metrics_rows()
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    evaluated = nnrun("mode=eval", f"checkpoint={run.dir}")
    again = json.loads((evaluated.dir / "eval.json").read_text())["test"]["r2"]
    assert again == pytest.approx(run.summary["test"]["r2"], abs=1e-6)


def test_an_ensemble_trains_each_member_and_predicts_their_mean():
    from nnrecipes.components.models.mlp import mlp_network
    from nnrecipes.core.task import make_loss

    torch.manual_seed(0)
    network = mlp_network((6,), 3, ensemble=4, hidden_sizes=[16])
    x, y = torch.randn(10, 6), torch.randint(0, 3, (10,))
    with torch.no_grad():
        members = network.train()(x)
    assert members.shape == (10, 4, 3)
    assert torch.allclose(network.eval()(x), members.mean(dim=1), atol=1e-6)
    each = [torch.nn.functional.cross_entropy(members[:, i], y) for i in range(4)]
    assert make_loss("multiclass", {})(members, y) == pytest.approx(float(sum(each) / 4), 1e-6)
    # the members differ: their own input scales and last layers
    assert not torch.allclose(members[:, 0], members[:, 1])


@pytest.mark.parametrize("dataset, metric", [("breast_cancer", "accuracy"), ("diabetes", "r2")])
def test_an_ensemble_composes_trains_and_its_checkpoint_evaluates_alone(nnrun, dataset, metric):
    run = nnrun(f"dataset={dataset}", "model=mlp", "model.ensemble=4",
                "model.embedding=periodic", "trainer.epochs=3")
    assert run.summary["status"] == "completed"
    evaluated = nnrun("mode=eval", f"checkpoint={run.dir}")
    again = json.loads((evaluated.dir / "eval.json").read_text())["test"][metric]
    assert again == pytest.approx(run.summary["test"][metric], abs=1e-6)


def test_a_checkpoint_from_before_these_options_still_resumes(nnrun, capsys):
    from conftest import run_cli

    """Keys a schema gains later are taken at their defaults for an older checkpoint; a new
    value of one is still a different setup."""
    run = nnrun("dataset=wine", "model=mlp", "trainer.epochs=2")
    for name in ("last.pt", "best.pt"):
        path = run.dir / "checkpoints" / name
        state = torch.load(path, weights_only=True)
        for key in ("embedding", "embedding_size", "frequencies", "frequency_scale", "ensemble"):
            del state["config"]["model"][key]
        for key in ("augment", "augment_padding"):
            del state["config"]["dataset"][key]
        torch.save(state, path)
    assert run_cli(f"resume={run.dir}", "trainer.epochs=3", "model.ensemble=2",
                   "trainer.progress=false") == 2
    assert "model.ensemble is 1 in the checkpoint, 2 now" in capsys.readouterr().out
    resumed = nnrun(f"resume={run.dir}", "trainer.epochs=3", run_dir=run.dir)
    assert resumed.summary["status"] == "completed" and resumed.summary["epochs_run"] == 3


def test_flip_average_evaluates_the_mean_of_the_image_and_its_mirror_and_exports_with_it(
        nnrun, tmp_path):
    torch.manual_seed(0)
    plain = CNN((1, 28, 28), 10, channels=[8, 16])
    averaged = CNN((1, 28, 28), 10, channels=[8, 16], flip_average=True)
    averaged.load_state_dict(plain.state_dict())
    images = torch.randn(5, 1, 28, 28)
    plain.eval(), averaged.eval()
    expected = (plain(images) + plain(images.flip(-1))) / 2
    assert torch.allclose(averaged(images), expected, atol=1e-6)
    assert not torch.allclose(averaged(images), plain(images), atol=1e-3)
    plain.train(), averaged.train()  # training steps see the image as it is
    torch.manual_seed(1)
    trained = plain(images)
    torch.manual_seed(1)
    assert torch.equal(averaged(images), trained)

    run = nnrun("dataset=digits", "model=cnn", "model.flip_average=true",
                "dataset.augment=[flip]", "trainer.epochs=2")
    assert "flip_average=true for a model trained without" not in \
        (run.dir / "nnrun.log").read_text()
    unflipped = nnrun("dataset=digits", "model=cnn", "model.flip_average=true",
                      "trainer.epochs=1", run_dir=tmp_path / "unflipped")
    assert "model.flip_average=true for a model trained without mirror images" in \
        (unflipped.dir / "nnrun.log").read_text()
    evaluated = nnrun("mode=eval", f"checkpoint={run.dir}")
    again = json.loads((evaluated.dir / "eval.json").read_text())["test"]["accuracy"]
    assert again == pytest.approx(run.summary["test"]["accuracy"], abs=1e-6)
    import onnxruntime

    from nnrecipes.components.models import model_from_checkpoint
    from nnrecipes.export import main as export
    from nnrecipes.records.checkpoint import load_checkpoint

    assert export([str(run.dir), "--format", "onnx", "--output", str(tmp_path / "out")]) == 0
    saved = load_checkpoint(run.dir, "best.pt")
    assert saved["config"]["model"]["flip_average"] is True
    model = model_from_checkpoint(saved).eval()
    digits = torch.randint(0, 17, (4, 1, 8, 8), dtype=torch.uint8)
    session = onnxruntime.InferenceSession(str(tmp_path / "out" / "model.onnx"))
    exported = session.run(None, {session.get_inputs()[0].name: digits.numpy()})[0]
    assert torch.allclose(torch.from_numpy(exported), model(digits).detach(), atol=1e-4)
