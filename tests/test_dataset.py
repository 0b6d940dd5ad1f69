from pathlib import Path

import pytest

from gridwall import dataset
from gridwall.errors import InputError


def test_csv_roundtrip_and_errors(tmp_path: Path) -> None:
    with dataset.CsvTableWriter(tmp_path, dataset.DISASTERS) as w:
        w.write(
            {
                "disaster_id": "D1",
                "area": ["大阪府/堺市", "奈良県"],
                "start_at": "2026-09-01T00:00:00+09:00",
                "end_at": "2026-09-05T00:00:00+09:00",
            }
        )
    rows = list(dataset.iter_rows(tmp_path / "disasters.csv", dataset.DISASTERS))
    assert rows[0][0] == 2
    assert rows[0][1]["area"] == ["大阪府/堺市", "奈良県"]
    p = tmp_path / "disasters.csv"
    p.write_text(p.read_text() + "D2,奈良県,2026-09-01T00:00:00,2026-09-02T00:00:00+09:00\n")
    with pytest.raises(InputError) as e:
        list(dataset.iter_rows(p, dataset.DISASTERS))
    assert "disasters.csv:3 [start_at]" in str(e.value)
