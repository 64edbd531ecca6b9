"""Releases people can follow: one version per distribution, in its pyproject.toml; the
ranges between the repository's own distributions hold the versions they release together;
the changelog has a section for what comes next."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

import crossrank

ROOT = Path(__file__).parents[2]
LLAMA_INDEX_KINDS = ["retrievers", "postprocessor", "vector-stores", "tools"]


def _projects() -> dict[str, dict]:
    files = [ROOT / "pyproject.toml", *sorted((ROOT / "integrations").glob("*/pyproject.toml"))]
    projects = [tomllib.loads(file.read_text())["project"] for file in files]
    return {project["name"]: project for project in projects}


def test_each_distribution_sets_its_version_once_in_pyproject():
    projects = _projects()
    assert set(projects) == {
        "crossrank",
        "langchain-crossrank",
        "llama-index-crossrank",
        *(f"llama-index-{kind}-crossrank" for kind in LLAMA_INDEX_KINDS),
    }
    for name, project in projects.items():
        assert "version" not in project.get("dynamic", []), name
        assert str(Version(project["version"])) == project["version"], name
    assert crossrank.__version__ == projects["crossrank"]["version"] == version("crossrank")


def test_ranges_between_our_distributions_hold_the_versions_released_together():
    projects = _projects()
    checked = 0
    for name, project in projects.items():
        for line in project.get("dependencies", []):
            requirement = Requirement(line)
            if requirement.name in projects:
                ours = projects[requirement.name]["version"]
                assert requirement.specifier.contains(ours), (name, line, ours)
                checked += 1
    assert checked == 12  # 5 on crossrank, 4 in the meta-package, 3 between LlamaIndex kinds


def test_the_llama_index_meta_package_installs_every_kind_and_holds_no_code():
    meta = _projects()["llama-index-crossrank"]
    assert {Requirement(line).name for line in meta["dependencies"]} == {
        f"llama-index-{kind}-crossrank" for kind in LLAMA_INDEX_KINDS
    }
    folder = ROOT / "integrations" / "llama-index"
    assert not list(folder.glob("llama_index/**/*.py"))
    for kind in LLAMA_INDEX_KINDS:
        package = ROOT / "integrations" / f"llama-index-{kind}-crossrank" / "llama_index"
        assert (package / kind.replace("-", "_") / "crossrank" / "py.typed").is_file()


def test_the_changelog_keeps_an_unreleased_section_and_the_policy():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.MULTILINE)
    assert headings and headings[0] == "Unreleased"
    released = [Version(heading) for heading in headings[1:]]
    assert released == sorted(released, reverse=True)
    assert "## Deprecation policy" in changelog
    for heading in headings[1:]:  # each released version links to its comparison
        assert re.search(rf"^\[{re.escape(heading)}\]: ", changelog, flags=re.MULTILINE)
