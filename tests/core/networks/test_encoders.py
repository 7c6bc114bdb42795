"""Visual encoders: every ``vis_encode_type`` takes images below its natural minimum, and several
observations (vectors and images) are encoded into one concatenated feature vector."""

from __future__ import annotations

import pytest
import torch

from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import ObservationSpec
from mlx_core.networks.encoders import ObservationEncoder, VisualEncoder

KINDS = ["simple", "nature_cnn", "resnet", "match3", "fully_connected"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("side", [1, 3, 8, 40])
def test_every_encoder_takes_small_and_large_images(kind: str, side: int) -> None:
    encoder = VisualEncoder((side, side + 1, 2), 16, kind)
    images = torch.rand(5, side, side + 1, 2)
    features = encoder(images)
    assert features.shape == (5, 16)
    features.sum().backward()  # gradients reach the convolutions
    assert all(p.grad is not None for p in encoder.parameters())


def test_resnet_halves_the_image_per_stage() -> None:
    encoder = VisualEncoder((12, 12, 1), 8, "resnet")
    # 12 -> 6 -> 3 -> 2 pixels, 32 channels
    assert encoder.dense[0].in_features == 32 * 2 * 2


def test_match3_keeps_every_cell() -> None:
    encoder = VisualEncoder((5, 6, 3), 8, "match3")
    assert encoder.dense[0].in_features == 144 * 5 * 6


def test_unknown_encoder_is_rejected_by_the_settings() -> None:
    with pytest.raises(ValueError, match="vis_encode_type"):
        NetworkSettings(vis_encode_type="resnet50")


@pytest.mark.parametrize("kind", ["simple", "resnet"])
def test_vector_and_two_images_are_concatenated(kind: str) -> None:
    specs = (ObservationSpec((3,)), ObservationSpec((8, 8, 1)), ObservationSpec((6, 6, 3)))
    encoder = ObservationEncoder(specs, NetworkSettings(hidden_units=10, vis_encode_type=kind))
    assert encoder.out_size == 3 + 10 + 10
    obs = [torch.randn(4, 3), torch.rand(4, 8, 8, 1), torch.rand(4, 6, 6, 3)]
    features = encoder(obs)
    assert features.shape == (4, 23)
    torch.testing.assert_close(features[:, :3], obs[0])  # the vector part comes first, as given
    # each image has its own encoder: changing the second image changes only its 10 columns
    changed = encoder([obs[0], obs[1], torch.rand(4, 6, 6, 3)])
    torch.testing.assert_close(changed[:, :13], features[:, :13])
    assert not torch.allclose(changed[:, 13:], features[:, 13:])
