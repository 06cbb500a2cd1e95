"""The recipes ``atomdata build`` knows, by dataset name: one entry per simulated dataset.

A task adds its dataset here (its recipe lives in ``atomdata.sim.<technique>``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from atomdata.sim.hrtem.benchmark import DATASET_NAME as HRTEM_DATASET
from atomdata.sim.hrtem.benchmark import hrtem_config
from atomdata.sim.recipe import Recipe
from atomdata.sim.stem.benchmark import DATASET_NAME, benchmark_config
from atomdata.sim.stem.recipe_v11 import VERSION as V11
from atomdata.sim.stem.recipe_v11 import v11_config

__all__ = ["RECIPES", "DEFAULT_BUILD", "get_recipe"]


def _benchmark(version: Optional[str], quick: bool) -> Recipe:
    """The atom-column benchmark: 1.0.0 (``sim.stem.benchmark``) or 1.1.0 (``sim.stem.recipe_v11``)."""
    if version is not None and version.split("-")[0] == V11:
        return v11_config(version=version, quick=quick)
    return benchmark_config(version=version, quick=quick)


#: dataset name -> factory ``(version or None, quick) -> Recipe``
RECIPES: dict[str, Callable[..., Recipe]] = {
    DATASET_NAME: _benchmark,
    HRTEM_DATASET: lambda version, quick: hrtem_config(version=version, quick=quick),
}
#: The dataset ``atomdata build`` makes when no name is given.
DEFAULT_BUILD = DATASET_NAME


def get_recipe(name: Optional[str] = None, version: Optional[str] = None, *, quick: bool = False) -> Recipe:
    """The recipe of dataset ``name`` (default atomdata's atom-column benchmark) at ``version``.

    Raises ``ValueError`` naming the buildable datasets, or the versions a recipe knows.

    Examples
    --------
    >>> get_recipe(quick=True).version
    '1.0.0-quick'
    >>> get_recipe(version="1.1.0").version
    '1.1.0'
    """
    name = DEFAULT_BUILD if name is None else name
    if name not in RECIPES:
        raise ValueError(f"Unknown dataset {name!r}. Datasets atomdata can build: {', '.join(sorted(RECIPES))}.")
    return RECIPES[name](version, quick)
