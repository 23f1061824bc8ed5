"""Imports one of the extension-less Python scripts in scripts/ as a module, for its tests."""

import importlib.machinery
import importlib.util
import os
import sys

SCRIPTS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
REPO = os.path.dirname(SCRIPTS)


def load(name: str):
    """`load("check-references")` → the script as a module named `check_references`."""
    loader = importlib.machinery.SourceFileLoader(
        name.replace("-", "_"), os.path.join(SCRIPTS, name)
    )
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module
