"""Print the dependency ranges that this repository's distributions declare, one a line.

Usage:
    python tests/installed/declared.py EXTRA ...   (the core's extras; the adapters' [test])

The lowest-versions tier gives these to ``uv pip install --resolution lowest-direct`` beside
the built wheels: uv lowers only the requirements it is handed, and a wheel's own
dependencies would otherwise count as transitive, resolved to their newest releases.
Requirements between our own distributions are left out (the wheels satisfy them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _projects() -> dict[str, dict]:
    files = [ROOT / "pyproject.toml", *sorted((ROOT / "integrations").glob("*/pyproject.toml"))]
    projects = (tomllib.loads(file.read_text())["project"] for file in files)
    return {project["name"]: project for project in projects}


def declared(core_extras: list[str]) -> list[str]:
    """Every range our distributions declare, with the core's ``core_extras`` and the
    adapters' ``test`` extras, except those on our own distributions."""
    projects = _projects()
    wanted = {name: {"test"} for name in projects if name != "crossrank"}
    wanted["crossrank"] = set(core_extras)
    found: list[str] = []
    seen: set[tuple[str, str]] = set()

    def add(name: str, extras: set[str]) -> None:
        project = projects[name]
        lines = list(project.get("dependencies", []))
        for extra in sorted(extras):
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            lines += project.get("optional-dependencies", {}).get(extra, [])
        for line in lines:
            requirement = Requirement(line)
            if requirement.name in projects:  # ours: the wheels provide it, with its extras
                add(requirement.name, set(requirement.extras))
            elif line not in found:
                found.append(line)

    for name, extras in wanted.items():
        add(name, extras)
    return found


if __name__ == "__main__":
    print("\n".join(declared(sys.argv[1:])))  # noqa: T201
