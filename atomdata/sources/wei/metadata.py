"""Interpreting the Wei benchmark's metadata table: column names, units, pairing rows with images.

Column names are matched case- and punctuation-insensitively, with the unit in
parentheses read from the name when present ("pixel size (pm)", "PSNR (dB)");
the mapping to record fields is the table in :mod:`atomdata.sources.wei.reader`.
Every value the schema rejects is kept with the reason, never dropped.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, Optional

from atomdata.schema import Lattice, Provenance, QualityMetrics
from atomdata.sources.wei._fields import (
    ALIASES,
    KNOWN,
    METRICS,
    finite_or_none,
    first_error,
    jsonable,
    length_scale,
    normalise,
    parse_material,
)
from atomdata.sources.wei._fields import space_group as parse_space_group

__all__ = ["WeiMetadata", "WEI_SOURCE_ID", "WEI_DOI", "WEI_SOURCE"]

#: Foundry/MDF source id of the published Wei benchmark.
WEI_SOURCE_ID = "foundry_wei_atom_locating_benchmark_v1.1"
#: DOI of the published Wei benchmark.
WEI_DOI = "10.18126/e73h-3w6n"
#: Where every record of the file comes from.
WEI_SOURCE = f"Wei et al., Microsc. Microanal. 29(2):552-562 (2023); Foundry {WEI_SOURCE_ID}, DOI {WEI_DOI}"


class WeiMetadata:
    """The metadata rows of a Wei file, paired with its images (in the images' order).

    Parameters
    ----------
    names : list of str
        Image member names, in the order of the split.
    index, rows : list
        The table's index and its rows (dicts), as read from the file.
    match : {"name", "order"}
        How rows are paired with images (see :class:`~atomdata.sources.wei.reader.WeiSplit`).
    default_pixel_size_A : float, optional
        Pixel size [Å/px] for images whose row has none.
    fail : callable
        Raises the reader's format error with a message (so errors name the file).
    """

    def __init__(self, names: list[str], index: list, rows: list[dict], *, match: Literal["name", "order"],
                 default_pixel_size_A: Optional[float], fail: Callable[[str], None]):
        self.names = names
        self.match = match
        self.default_pixel_size_A = default_pixel_size_A
        self._fail = fail
        self.columns_map = self._map_columns(rows[0].keys() if rows else [])
        self.metadata_columns = list(rows[0].keys()) if rows else []
        self.rows = self._pair_rows(names, index, rows)

    def _map_columns(self, columns) -> dict[str, tuple[str, str]]:
        """target key -> (original column name, unit from the name)."""
        out: dict[str, tuple[str, str]] = {}
        for col in columns:
            norm, unit = normalise(str(col))
            key = ALIASES.get(norm)
            if key is None and norm.startswith("pixel_size"):
                key = "pixel_size"
            if key is not None and key not in out:
                out[key] = (col, unit)
        return out

    def _pair_rows(self, names: list[str], index: list, rows: list[dict]) -> list[dict]:
        if self.match == "order":
            if len(rows) != len(names):
                self._fail(f"match='order' needs one metadata row per image: {len(rows)} rows, {len(names)} images")
            return rows
        wanted = set(names)
        candidates = [("the metadata index", [str(v) for v in index])]
        if "name" in self.columns_map:
            col = self.columns_map["name"][0]
            candidates.append((f"metadata column {col!r}", [str(r.get(col)) for r in rows]))
        for _, keys in candidates:
            by_key = dict(zip(keys, rows))
            if wanted <= set(by_key):
                return [by_key[n] for n in names]
        shown = ", ".join(f"{label}: {keys[:3]}" for label, keys in candidates)
        self._fail(
            f"cannot pair metadata rows with images by name: image names are e.g. {names[:3]}, {shown}. "
            f"Pass match='order' if the rows are in the images' natural name order ({len(rows)} rows, "
            f"{len(names)} images)"
        )

    def value(self, i: int, key: str):
        """``(value, unit from the column name)`` of field ``key`` for image ``i`` (``(None, "")`` if absent)."""
        spec = self.columns_map.get(key)
        return (None, "") if spec is None else (self.rows[i].get(spec[0]), spec[1])

    def pixel_size_A(self, i: int) -> float:
        """Pixel size [Å/px] of image ``i`` (from its row, else the default; else a format error)."""
        value, unit = self.value(i, "pixel_size")
        v = finite_or_none(value)
        if v is not None and v > 0:
            col = self.columns_map["pixel_size"][0]
            norm = normalise(str(col))[0]
            if not unit:
                unit = {"pixel_size_a": "A", "pixel_size_angstrom": "A", "pixel_size_nm": "nm"}.get(norm, "pm")
            return v * length_scale(unit, 1.0) / 100.0
        if self.default_pixel_size_A is not None:
            return float(self.default_pixel_size_A)
        self._fail(
            f"image {self.names[i]!r} has no usable pixel size in the metadata (got {value!r} from column "
            f"{self.columns_map.get('pixel_size', ('<none>',))[0]!r}); pass pixel_size_A=... to open_wei"
        )

    def kind(self, i: int) -> Optional[str]:
        """``"simulated"``, ``"experimental"`` or None when the row does not say."""
        value, _ = self.value(i, "type")
        text = str(value).strip().lower() if value is not None else ""
        if text.startswith("sim"):
            return "simulated"
        if text.startswith("exp"):
            return "experimental"
        return None

    def formula_axis(self, i: int) -> tuple[Optional[str], Optional[str]]:
        material, _ = self.value(i, "material")
        orientation, _ = self.value(i, "orientation")
        return parse_material(None if material is None else str(material), orientation)

    def subset(self, i: int) -> str:
        """Subset name ``<material>_<sim|exp>`` of image ``i``."""
        formula, _ = self.formula_axis(i)
        slug = KNOWN[formula][3] if formula in KNOWN else re.sub(r"[^a-z0-9]", "", (formula or "unknown").lower())
        kind = {"simulated": "sim", "experimental": "exp"}.get(self.kind(i) or "", "unknown")
        return f"{slug or 'unknown'}_{kind}"

    def fields(self, i: int, pixel_size_A: float) -> tuple[Lattice, QualityMetrics, Provenance, dict]:
        """Lattice, quality metrics, provenance and ``extra`` of image ``i`` from its row.

        ``extra`` holds the member name, the source, every unmapped column
        (``wei_metadata``) and every rejected value with its reason (``wei_invalid``).
        """
        row = self.rows[i]
        used = {spec[0] for key, spec in self.columns_map.items()}
        extra: dict[str, Any] = {"wei_name": self.names[i], "source_id": WEI_SOURCE_ID, "doi": WEI_DOI}
        invalid: dict[str, Any] = {}

        metrics: dict[str, Any] = {}
        for key in METRICS:
            value, unit = self.value(i, key)
            if value is None:
                continue
            v = finite_or_none(value)
            if v is None:
                invalid[self.columns_map[key][0]] = {"value": jsonable(value), "error": "not a finite number"}
                continue
            if key == "resolution_pm" and unit:
                v *= length_scale(unit, 1.0)
            try:
                QualityMetrics(pixel_size_A=1.0, **{key: {"nominal": v}})
            except ValueError as e:
                invalid[self.columns_map[key][0]] = {"value": v, "error": first_error(e)}
                continue
            metrics[key] = {"nominal": v}
        quality = QualityMetrics(pixel_size_A=float(pixel_size_A), **metrics)

        formula, axis = self.formula_axis(i)
        sg_value, _ = self.value(i, "space_group")
        space_group = parse_space_group(sg_value)
        if sg_value is not None and space_group is None:
            invalid[self.columns_map["space_group"][0]] = {"value": jsonable(sg_value),
                                                            "error": "not a space-group number 1-230"}
        kind, known_sg, a_A, _ = KNOWN.get(formula, ("other", None, None, None))
        lattice_kw: dict[str, Any] = dict(
            material=formula or "unknown", formula=formula or "unknown", zone_axis=axis or "[000]",
            space_group=space_group if space_group is not None else known_sg, kind=kind, a_A=a_A,
        )
        if formula is None or axis is None:
            lattice_kw["description"] = "material or zone axis not given in a recognised form in the Wei metadata"
            material_value, _ = self.value(i, "material")
            if material_value is not None:
                invalid[self.columns_map["material"][0]] = {
                    "value": jsonable(material_value), "error": "expected e.g. 'WS2[0001]' or 'SrTiO3[100]'"}
        try:
            lattice = Lattice(**lattice_kw)
        except ValueError as e:
            invalid["lattice"] = {"value": {k: jsonable(v) for k, v in lattice_kw.items()}, "error": first_error(e)}
            lattice = Lattice(material="unknown", formula="unknown", zone_axis="[000]", kind="other",
                              description="material not recognised in the Wei metadata")

        kind_value = self.kind(i)
        if kind_value is None:
            type_value, _ = self.value(i, "type")
            extra["provenance_kind_guessed"] = True
            if type_value is not None:
                invalid[self.columns_map["type"][0]] = {"value": jsonable(type_value),
                                                         "error": "expected 'simulated' or 'experimental'"}
        provenance = Provenance(
            kind=kind_value or "simulated",
            simulator="Wei et al. 2023 (source dataset)" if kind_value != "experimental" else None,
            source=WEI_SOURCE,
        )

        unmapped = {str(k): jsonable(v) for k, v in row.items() if k not in used}
        if unmapped:
            extra["wei_metadata"] = unmapped
        if invalid:
            extra["wei_invalid"] = invalid
        return lattice, quality, provenance, extra
