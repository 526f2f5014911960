"""The settings table of docs/serving.md against ``backend.settings.Settings``: every
setting is documented once, under its environment variable, with its real default."""

import re
from pathlib import Path

from backend.settings import Settings

SERVING = Path(__file__).parents[1] / "docs" / "serving.md"
ROW = re.compile(r"^\| `(CODINET_[A-Z_]+)` \| ([^|]+) \|")
# Defaults the table words rather than prints: a computed path, or nothing to import.
WORDED = {"cache_dir": "`<runs>/.cache`", "model_modules": "none"}


def documented() -> dict[str, str]:
    rows = [ROW.match(line) for line in SERVING.read_text().splitlines()]
    names = [row[1] for row in rows if row]
    assert len(names) == len(set(names)), "a setting is documented twice"
    return {row[1]: row[2].strip() for row in rows if row}


def shown(value) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"  # 10.0 s is written 10
    return f"`{value}`"


def test_every_setting_is_documented_with_its_default():
    table = documented()
    fields = Settings.model_fields
    assert set(table) == {f"CODINET_{name.upper()}" for name in fields}
    for name, field in fields.items():
        expected = WORDED.get(name, shown(field.default))
        assert table[f"CODINET_{name.upper()}"] == expected, name
