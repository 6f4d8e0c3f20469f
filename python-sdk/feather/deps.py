"""The model's environment: imports found in its code (AST), mapped to installed distributions."""
from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from typing import Any

DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def imported_modules(source: str, filename: str) -> set[str]:
    """Top-level module names imported anywhere in the file (relative imports excluded)."""
    tree = ast.parse(source, filename)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def own_modules(directory: str) -> set[str]:
    """Modules that live in the model directory itself (x.py files and packages)."""
    names = set()
    for entry in os.listdir(directory):
        path = os.path.join(directory, entry)
        if entry.endswith(".py"):
            names.add(entry[:-3])
        elif os.path.isdir(path) and os.path.isfile(os.path.join(path, "__init__.py")):
            names.add(entry)
    return names


def _dpkg_owner(path: str) -> str | None:
    if not shutil.which("dpkg-query"):
        return None
    try:
        out = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0 or ":" not in out.stdout:
        return None
    return out.stdout.split(":", 1)[0].split(",")[0].strip()


def _module_origin(module: str) -> str | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin and spec.origin not in ("built-in", "frozen"):
        return spec.origin
    locations = list(spec.submodule_search_locations or [])
    return locations[0] if locations else None


def _declared_name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement, 1)[0].strip().lower().replace("_", "-")


def scan(code_files: list[str], directory: str, declared_python: list[str],
         declared_system: list[str]) -> dict[str, Any]:
    """Returns the environment section of the metadata.

    python_packages: declared requirements plus, for each third-party import, `dist==version` of
    the distribution installed here (not added when a declared system package provides the module).
    imports: what each third-party import resolved to, for people reading the metadata.
    """
    modules: set[str] = set()
    for rel in code_files:
        if not rel.endswith(".py"):
            continue
        path = os.path.join(directory, rel)
        with open(path, encoding="utf-8") as fh:
            modules |= imported_modules(fh.read(), path)
    local = own_modules(directory)
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    third_party = sorted(m for m in modules if m not in stdlib and m not in local and m != "feather")
    dists = importlib.metadata.packages_distributions()
    declared_names = {_declared_name(r) for r in declared_python}
    packages = {_declared_name(r): r for r in declared_python}
    imports = []
    for module in third_party:
        entry: dict[str, Any] = {"module": module}
        origin = _module_origin(module)
        owner = _dpkg_owner(origin) if origin and origin.startswith(DEBIAN_DIST_PACKAGES) else None
        if owner:
            entry["debian_package"] = owner
        names = dists.get(module, [])
        if names:
            dist = names[0]
            version = importlib.metadata.version(dist)
            entry["distribution"] = dist
            entry["version"] = version
        if owner and owner in declared_system:
            entry["provided_by"] = "system_packages"
        elif names and _declared_name(names[0]) in declared_names:
            entry["provided_by"] = "python_packages"
        elif names:
            key = _declared_name(names[0])
            packages.setdefault(key, f"{names[0]}=={entry['version']}")
            entry["provided_by"] = "python_packages"
        else:
            entry["provided_by"] = None
            entry["note"] = (f"importable here from the Debian package {owner}; declare it in system_packages"
                             if owner else "not installed where inspect ran; declare it in python_packages or system_packages"
                             if origin is None else "not from a known distribution; declare the package that provides it")
        imports.append(entry)
    return {
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "python_packages": sorted(packages.values(), key=str.lower),
        "system_packages": sorted(set(declared_system)),
        "imports": imports,
    }
