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
