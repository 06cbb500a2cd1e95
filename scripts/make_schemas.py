"""Regenerate the JSON Schema files in schemas/ from atomdata.schema (run after changing the models)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from atomdata.schema import json_schemas


def render() -> dict[str, str]:
    """File name -> JSON text of every generated schema."""
    return {f"{k}.schema.json": json.dumps(v, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
            for k, v in json_schemas().items()}


if __name__ == "__main__":
    out = ROOT / "schemas"
    out.mkdir(exist_ok=True)
    for name, text in render().items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
