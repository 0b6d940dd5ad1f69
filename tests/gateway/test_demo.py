"""gridwall demo (without serving): the three printed examples behave as printed."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from gridwall.gateway import create_app
from gridwall.gateway._demo import build_demo, describe


def test_demo_examples_over_http(tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "demo", supply_points=300, seed=3, progress=False)
    try:
        text = describe(demo, 8765)
        assert text.count("curl -s http://127.0.0.1:8765/v1/supply-points/") == 3
        client = TestClient(create_app(demo.gateway))
        assert not any(r.path.startswith("/unprotected") for r in client.app.routes)  # type: ignore[attr-defined]
        got = []
        for u in demo.users:
            r = client.get(
                f"/v1/supply-points/{demo.example_point}",
                headers={"Authorization": f"Bearer {u.token}", "X-Gridwall-Terminal": u.terminal,
                         "X-Gridwall-Purpose": u.purpose},
            )  # fmt: skip
            got.append(r.status_code)
        assert got == [200, 404, 200]
        missing = client.get(
            "/v1/supply-points/0600000000000000000000",
            headers={"Authorization": f"Bearer {demo.users[1].token}",
                     "X-Gridwall-Terminal": demo.users[1].terminal,
                     "X-Gridwall-Purpose": demo.users[1].purpose},
        )  # fmt: skip
        assert missing.status_code == 404
    finally:
        demo.close()
