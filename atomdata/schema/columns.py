"""Labelled atomic columns: one :class:`Column` model and the array form :class:`ColumnSet`.

Positions are ``(x, y)`` in pixels: x = column index, y = row index, origin at
the centre of the top-left pixel. A *target* column is one that is scored (e.g.
HAADF-visible); the others are kept as labels but not scored.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema, field_validator

from atomdata.schema.checks import check_finite

__all__ = ["Column", "ColumnSet", "ColumnsField"]

_STRICT = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class Column(BaseModel):
    """One projected atomic column: the label of a benchmark image.

    ``x``, ``y`` are in pixels (x = column index, y = row index, origin at the
    centre of the top-left pixel).
    """

    model_config = _STRICT

    x: float = Field(description="Column position x [px] (column index).")
    y: float = Field(description="Column position y [px] (row index).")
    species: str = Field(min_length=1, description="Column type, e.g. 'Sr', 'Ti-O', 'O', 'W', 'S2'.")
    target: bool = Field(
        default=True,
        description="True when the column counts as ground truth for scoring (HAADF-visible).",
    )

    @field_validator("x", "y")
    @classmethod
    def _checkcheck_finite(cls, v, info):
        return check_finite(info.field_name, v)


@dataclass(frozen=True, eq=False)
class ColumnSet:
    """The labelled columns of one image as arrays (fast for thousands of columns).

    Parameters
    ----------
    xy : ndarray, shape (N, 2), float64
        Column positions (x, y) [px]; x = column index, y = row index, origin at
        the centre of the top-left pixel.
    species : ndarray, shape (N,), str
        Column type per column, e.g. 'Sr', 'Ti-O', 'O'.
    target : ndarray, shape (N,), bool
        Whether each column is a scoring target. Non-target columns (e.g. O in
        HAADF images of SrTiO3) are kept as labels but not scored.

    Examples
    --------
    >>> cs = ColumnSet.from_arrays([[3.0, 4.5]], ["Sr"])
    >>> cs.target_xy
    array([[3. , 4.5]])
    """

    xy: np.ndarray
    species: np.ndarray
    target: np.ndarray

    def __post_init__(self):
        xy = np.asarray(self.xy, dtype=np.float64)
        if xy.size == 0:
            xy = xy.reshape(0, 2)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError(f"column positions must have shape (N, 2) as (x, y) px, got {xy.shape}")
        species = np.asarray(self.species, dtype=str).reshape(-1)
        target = np.asarray(self.target, dtype=bool).reshape(-1)
        n = xy.shape[0]
        if species.shape[0] != n or target.shape[0] != n:
            raise ValueError(
                f"column arrays disagree in length: xy has {n}, species {species.shape[0]}, "
                f"target {target.shape[0]}"
            )
        if n and not np.isfinite(xy).all():
            bad = int(np.flatnonzero(~np.isfinite(xy).all(axis=1))[0])
            raise ValueError(f"column {bad} has a non-finite position {xy[bad].tolist()} (x, y px)")
        if n and (species == "").any():
            raise ValueError(f"column {int(np.flatnonzero(species == '')[0])} has an empty species")
        object.__setattr__(self, "xy", xy)
        object.__setattr__(self, "species", species)
        object.__setattr__(self, "target", target)

    @classmethod
    def from_arrays(cls, xy, species, target=None) -> ColumnSet:
        """Build from positions (x, y) [px], species names and optional target flags (default all True)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if isinstance(species, str):
            species = [species] * xy.shape[0]
        if target is None:
            target = np.ones(xy.shape[0], dtype=bool)
        return cls(xy, np.asarray(species, dtype=str), np.asarray(target, dtype=bool))

    @classmethod
    def empty(cls) -> ColumnSet:
        """A set with no columns."""
        return cls(np.zeros((0, 2)), np.zeros(0, dtype=str), np.zeros(0, dtype=bool))

    @classmethod
    def from_columns(cls, columns: Iterable[Column | dict]) -> ColumnSet:
        """Build from :class:`Column` models or dicts with keys x, y, species, target."""
        cols = [c if isinstance(c, Column) else Column.model_validate(c) for c in columns]
        if not cols:
            return cls.empty()
        return cls(
            np.array([[c.x, c.y] for c in cols], dtype=np.float64),
            np.array([c.species for c in cols], dtype=str),
            np.array([c.target for c in cols], dtype=bool),
        )

    def to_columns(self) -> list[Column]:
        """Return the columns as a list of :class:`Column` models."""
        return [
            Column(x=float(x), y=float(y), species=str(s), target=bool(t))
            for (x, y), s, t in zip(self.xy, self.species, self.target)
        ]

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    def __eq__(self, other) -> bool:
        if not isinstance(other, ColumnSet):
            return NotImplemented
        return (
            np.array_equal(self.xy, other.xy)
            and np.array_equal(self.species, other.species)
            and np.array_equal(self.target, other.target)
        )

    def __repr__(self) -> str:
        kinds = ", ".join(f"{s}: {int((self.species == s).sum())}" for s in self.species_names)
        return f"ColumnSet({len(self)} columns, {int(self.target.sum())} targets; {kinds})"

    @property
    def species_names(self) -> list[str]:
        """Sorted unique species names."""
        return sorted(set(self.species.tolist()))

    @property
    def target_xy(self) -> np.ndarray:
        """Positions (x, y) [px] of the scoring-target columns, shape (M, 2)."""
        return self.xy[self.target]

    def subset(self, mask) -> ColumnSet:
        """Columns selected by a boolean mask or index array."""
        return ColumnSet(self.xy[mask], self.species[mask], self.target[mask])

    def check_inside(self, shape: tuple[int, int]) -> None:
        """Raise ``ValueError`` if a column lies outside an image of ``shape = (H, W)``.

        Inside means ``-0.5 <= x < W - 0.5`` and ``-0.5 <= y < H - 0.5`` (pixel
        centres at integer coordinates).
        """
        if not len(self):
            return
        h, w = shape
        x, y = self.xy[:, 0], self.xy[:, 1]
        bad = (x < -0.5) | (x >= w - 0.5) | (y < -0.5) | (y >= h - 0.5)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"column {i} at (x, y) = ({x[i]:.3f}, {y[i]:.3f}) px lies outside the image of "
                f"shape (H, W) = ({h}, {w}); valid x is [-0.5, {w - 0.5}), y is [-0.5, {h - 0.5})"
            )


def to_column_set(v: Any) -> ColumnSet:
    if isinstance(v, ColumnSet):
        return v
    if v is None:
        return ColumnSet.empty()
    if isinstance(v, (list, tuple)):
        return ColumnSet.from_columns(v)
    raise TypeError(f"columns must be a ColumnSet or a list of columns, got {type(v).__name__}")


ColumnsField = Annotated[
    ColumnSet,
    BeforeValidator(to_column_set),
    PlainSerializer(lambda cs: [c.model_dump() for c in cs.to_columns()], return_type=list),
    WithJsonSchema({"type": "array", "items": Column.model_json_schema(), "description": "Labelled columns."}),
]
