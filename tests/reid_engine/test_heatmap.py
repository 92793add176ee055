"""Explain heatmaps: the photo <-> token-grid mapping, mutual-match heat, and the overlay."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from reid_engine.errors import InvalidInputError
from reid_engine.heatmap import (
    SquareLayout,
    colormap_lut,
    explain,
    explain_tokens,
    overlay,
    upsample_to_image,
)
from reid_engine.images import fit_square


def _marker_photo(size, at):
    """A grey photo with a small white square centred at ``at``."""
    img = np.full((size[1], size[0], 3), 60, np.uint8)
    x, y = at
    img[max(0, y - 3) : y + 4, max(0, x - 3) : x + 4] = 255
    return Image.fromarray(img)


def _bright_centre(square: Image.Image) -> tuple[float, float]:
    a = np.asarray(square.convert("L"), np.float32)
    ys, xs = np.nonzero(a > 160)
    return float(xs.mean()) + 0.5, float(ys.mean()) + 0.5


@pytest.mark.parametrize("mode", ["pad", "center-crop", "squash"])
@pytest.mark.parametrize("size", [(301, 157), (157, 301), (224, 224), (640, 480)])
def test_layout_matches_fit_square(mode, size):
    at = (size[0] * 2 // 5, size[1] * 3 // 5)
    square = fit_square(_marker_photo(size, at), 224, mode=mode)
    layout = SquareLayout.of(size, 224, mode)
    u, v = layout.to_square(at[0] + 0.5, at[1] + 0.5)
    found = _bright_centre(square)
    assert abs(found[0] - u) < 1.5 and abs(found[1] - v) < 1.5
    back = layout.to_image(u, v)
    assert back == pytest.approx((at[0] + 0.5, at[1] + 0.5))


def test_cell_coverage_marks_padding_of_a_wide_photo():
    layout = SquareLayout.of((400, 100), 224, "pad")  # content: 224 x 56, rows 84..140
    cov = layout.cell_coverage((16, 16))
    assert cov.shape == (16, 16)
    assert np.allclose(cov[:5], 0) and np.allclose(cov[-5:], 0)
    assert np.allclose(cov[7:9], 1)
    # Total covered area equals the photo's area in the square.
    assert cov.sum() * (224 / 16) ** 2 == pytest.approx(224 * 56, rel=1e-3)


def test_image_to_grid_of_ones_is_the_coverage():
    layout = SquareLayout.of((120, 300), 224, "pad")
    grid = layout.image_to_grid(np.ones((300, 120)), (16, 16))
    assert np.allclose(grid, layout.cell_coverage((16, 16)), atol=1e-5)


@pytest.mark.parametrize("mode", ["pad", "center-crop", "squash"])
def test_a_hot_cell_lands_where_its_patch_came_from(mode):
    size = (320, 200)
    layout = SquareLayout.of(size, 224, mode)
    grid = np.zeros((16, 16))
    grid[9, 5] = 1.0
    heat = layout.grid_to_image(grid)
    assert heat.shape == (200, 320) and heat.dtype == np.float32
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    # The centre of cell (9, 5) in square pixels, mapped back into the photo.
    expect = layout.to_image((5 + 0.5) * 14, (9 + 0.5) * 14)
    assert abs(x - expect[0]) <= 1 / layout.scale[0] + 1 and abs(y - expect[1]) <= 1 / layout.scale[1] + 1


def test_upsample_constant_grid_is_constant_inside_the_photo():
    heat = upsample_to_image(np.full((16, 16), 0.7), (333, 111), "pad")
    assert heat.shape == (111, 333)
    assert np.allclose(heat, 0.7, atol=1e-5)


def test_center_crop_leaves_cut_away_sides_cold():
    heat = upsample_to_image(np.ones((16, 16)), (400, 200), "center-crop")
    assert np.allclose(heat[:, :90], 0) and np.allclose(heat[:, 110:290], 1)


def test_explain_tokens_identical_grids_are_hot_and_padding_cold():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(4, 4, 8)).astype(np.float32)
    t /= np.linalg.norm(t, axis=-1, keepdims=True)
    valid = np.ones((4, 4))
    valid[0] = 0  # a padding row
    q, m = explain_tokens(t, t, valid, valid)
    assert q.shape == m.shape == (4, 4) and q.dtype == np.float32
    assert np.allclose(q[1:], 1.0) and np.allclose(q[0], 0.0)


def test_explain_tokens_unrelated_grids_are_cold():
    a = np.eye(32, dtype=np.float32)[:16].reshape(4, 4, 32)
    b = np.eye(32, dtype=np.float32)[16:].reshape(4, 4, 32)  # orthogonal to every token of a
    q, m = explain_tokens(a, b)
    assert np.allclose(q, 0) and np.allclose(m, 0)
    # One shared token lights exactly its own cell in both grids.
    b2 = b.copy()
    b2[3, 3] = a[1, 2]
    q, m = explain_tokens(a, b2)
    assert q[1, 2] == pytest.approx(1.0) and m[3, 3] == pytest.approx(1.0)
    assert q.sum() == pytest.approx(1.0) and m.sum() == pytest.approx(1.0)


def test_explain_tokens_rejects_mismatched_grids():
    with pytest.raises(InvalidInputError):
        explain_tokens(np.zeros((4, 4, 8)), np.zeros((4, 4, 9)))
    with pytest.raises(InvalidInputError):
        explain_tokens(np.zeros((4, 4, 8)), np.zeros((4, 4, 8)), q_valid=np.ones((3, 3)))


def test_explain_gives_one_map_per_photo_at_its_size(tiny_embedder):
    import photos

    a, _ = photos.dog_image(3, (200, 150), variant=1)
    b, _ = photos.dog_image(3, (120, 160), variant=2)
    qa, mb = explain(tiny_embedder, a, b)
    assert qa.shape == (150, 200) and mb.shape == (160, 120)
    for h in (qa, mb):
        assert h.dtype == np.float32 and h.min() >= 0.0 and h.max() <= 1.0
    again = explain(tiny_embedder, a, b)
    assert np.array_equal(again[0], qa) and np.array_equal(again[1], mb)
    same_q, same_m = explain(tiny_embedder, a, a)
    assert np.allclose(same_q, same_m) and same_q.mean() > 0.9


def test_overlay_tints_only_where_hot():
    img = Image.new("RGB", (40, 30), (10, 200, 30))
    cold = overlay(img, np.zeros((30, 40)))
    assert np.array_equal(np.asarray(cold), np.asarray(img))
    hot = overlay(img, np.ones((30, 40)), alpha=1.0, colormap="gray")
    assert np.all(np.asarray(hot) == 255)
    half = np.zeros((30, 40), np.float32)
    half[:, 20:] = 1
    mixed = np.asarray(overlay(img, half, alpha=0.5))
    assert np.array_equal(mixed[:, :20], np.asarray(img)[:, :20])
    assert not np.array_equal(mixed[:, 20:], np.asarray(img)[:, 20:])


def test_overlay_resizes_a_grid_and_checks_arguments():
    img = Image.new("L", (64, 48), 128)
    out = overlay(img, np.linspace(0, 1, 16).reshape(4, 4))
    assert out.mode == "RGB" and out.size == (64, 48)
    with pytest.raises(InvalidInputError):
        overlay(img, np.zeros((48, 64)), alpha=1.5)
    with pytest.raises(InvalidInputError):
        overlay(img, np.zeros((48, 64)), colormap="rainbow")


def test_colormaps_run_from_cold_to_hot():
    lut = colormap_lut("inferno")
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert lut[0].sum() < lut[-1].sum()


def test_uncrop_heat_places_a_crop_heatmap_on_the_photo():
    from reid_engine.heatmap import uncrop_heat

    full = uncrop_heat(np.ones((20, 30)), (50, 10, 30, 20), (100, 40))
    assert full.shape == (40, 100) and full.sum() == 600 and full[10, 50] == 1 and full[9, 50] == 0
    with pytest.raises(InvalidInputError):
        uncrop_heat(np.ones((5, 5)), (0, 0, 30, 20), (100, 40))
