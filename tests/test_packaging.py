"""pyproject.toml lists every package folder, so a non-editable install is complete too."""

from __future__ import annotations

import tomllib

from embedded_aws.template import REPO_ROOT

PACKAGE_ROOTS = {
    "modelops": "layers/modelops/modelops",
    "modelops_train": "jobs/train/modelops_train",
}


def test_every_package_folder_is_listed() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == PACKAGE_ROOTS
    found = set()
    for top, folder in PACKAGE_ROOTS.items():
        root = REPO_ROOT / folder
        for init in root.rglob("__init__.py"):
            relative = init.parent.relative_to(root).parts
            found.add(".".join((top, *relative)))
    assert set(config["packages"]) == found
