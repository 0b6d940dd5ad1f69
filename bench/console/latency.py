"""Console page latency in a real browser on the demo operator (issue 12: p95 < 200 ms).

    nice -n 10 uv run python bench/console/latency.py --points 500 --rounds 30

Builds (or reuses) the demo operator of ``gridwall demo`` under ``--workdir``, serves it
with uvicorn on 127.0.0.1 in this process, and drives Debian's Chromium
(``/usr/bin/chromium``) through Playwright as the demo's NW 託送 operator: load the
terminal key, sign in with password + TOTP, then ``--rounds`` times: home (link click),
search page (link click), search by supply point ID (POST), the supply point (POST) and
its monthly usage (POST). Each page's time is the browser's own navigation timing, from
the click to the ``load`` event (``PerformanceNavigationTiming.duration``): the HTML, its
stylesheet and script, and the terminal script's run.

Two configurations are measured side by side in the same run, alternating round by
round, each in its own browser profile (its own cache): ``cached`` (the shipped headers:
the console's static files are public and immutable under a content-hashed path) and
``no-store`` (every static file marked ``no-store`` like a page, as before the fix: the
browser fetches CSS and JS again on every page). Static-file requests are counted at the
server. Results are appended as one JSON line to ``bench/console/results.jsonl`` and
summarised in ``docs/benchmarks.md`` ("Console page latency").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PAGES = ("home", "search_page", "search", "point", "usage")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def serve(app: Any, port: int) -> Any:
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            server_header=False)  # fmt: skip
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("uvicorn did not start")
        time.sleep(0.05)
    return server


def wait_next_totp_step() -> None:
    """The demo logged every user in at build time: a TOTP code is good once."""
    time.sleep(30 - time.time() % 30 + 0.5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="a fresh folder (default: a temporary one, removed afterwards); an "
                    "old demo folder has live sessions a new sign-in would share (C③)")  # fmt: skip
    ap.add_argument("--port", type=int, default=8799)
    ap.add_argument("--chromium", default=os.environ.get("GRIDWALL_CHROMIUM", "/usr/bin/chromium"))
    ap.add_argument("--out", type=Path, default=HERE / "results.jsonl")
    args = ap.parse_args()

    import pyotp
    from playwright.sync_api import sync_playwright

    from gridwall.app.demo import build_demo
    from gridwall.app.http import security

    tmp = tempfile.TemporaryDirectory(prefix="gridwall-bench-console-")
    workdir = args.workdir or Path(tmp.name)
    demo = build_demo(workdir, supply_points=args.points, progress=False)
    user = demo.user("demo-nw")
    assert user.key_file is not None
    from gridwall.identity import terminal_token

    # the demo's own API session (another network place) would count as shared use (C③)
    now = datetime.now(UTC)
    key = user.key_file.read_text(encoding="utf-8")
    demo.app.state.server.identity.logout(
        user.token, now, terminal_credential=terminal_token(key, now)
    )
    static_hits = {"n": 0}

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith("/console/static/"):
            static_hits["n"] += 1
        await demo.app(scope, receive, send)

    server = serve(counting, args.port)
    base = f"http://127.0.0.1:{args.port}"
    shipped = security.PUBLIC_STATIC
    modes = ("cached", "no-store")
    times: dict[str, dict[str, list[float]]] = {m: {p: [] for p in PAGES} for m in modes}
    parts: dict[str, dict[str, list[float]]] = {m: {"server": [], "after_html": []} for m in modes}
    fetched: dict[str, int] = dict.fromkeys(modes, 0)
    load_before = os.getloadavg()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            pages: dict[str, Any] = {}
            for m in modes:  # one browser profile (and cache) per configuration
                security.PUBLIC_STATIC = shipped if m == "cached" else ()
                ctx = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
                pages[m] = page = ctx.new_page()
                wait_next_totp_step()  # a TOTP code is good once (the demo used this step's)
                page.goto(base + "/console/signin")
                page.set_input_files("#terminal-key", str(user.key_file))
                page.locator("#terminal-form button").click()
                page.wait_for_selector("#terminal-status[data-state=ready]")
                page.fill("#account_id", user.account_id)
                page.fill("#password", user.password)
                page.fill("#totp", pyotp.TOTP(user.totp_secret).now())
                page.locator("form[action='/console/signin'] button").click()
                page.wait_for_load_state()
                if not page.url.endswith("/console/"):
                    problem = page.locator(".problem").all_inner_texts()
                    raise SystemExit(f"sign-in failed: {page.url} {problem}")

            def timed(m: str, name: str, act: Any) -> None:
                page = pages[m]
                act(page)
                page.wait_for_load_state("load")
                nav = page.evaluate(
                    "() => { const n = performance.getEntriesByType('navigation')[0];"
                    " return [n.duration, n.responseStart - n.requestStart,"
                    " n.loadEventEnd - n.responseEnd]; }"
                )
                times[m][name].append(float(nav[0]))
                parts[m]["server"].append(float(nav[1]))
                parts[m]["after_html"].append(float(nav[2]))

            def search(page: Any) -> None:
                page.select_option("#purpose", user.purpose)
                page.fill("#supply_point_id", demo.example_point)
                page.locator("form[action='/console/search'] button[type=submit]").click()

            for rnd in range(args.rounds * 2):
                m = modes[rnd % 2]  # alternating, so both see the same machine load
                security.PUBLIC_STATIC = shipped if m == "cached" else ()
                before = static_hits["n"]
                timed(m, "home", lambda p: p.locator("nav a[href='/console/']").click())
                timed(
                    m, "search_page", lambda p: p.locator("nav a[href='/console/search']").click()
                )
                timed(m, "search", search)
                timed(
                    m,
                    "point",
                    lambda p: p.locator("form[action='/console/point'] button").first.click(),
                )
                timed(
                    m,
                    "usage",
                    lambda p: p.locator("form[action='/console/usage'] button").first.click(),
                )
                fetched[m] += static_hits["n"] - before
            browser.close()
    finally:
        security.PUBLIC_STATIC = shipped
        server.should_exit = True
        demo.close()
        tmp.cleanup()
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "points": args.points,
        "rounds": args.rounds,
        "static_requests_at_server": fetched,
    }
    for m in modes:
        result[m + "_median_parts_ms"] = {
            k: round(statistics.median(v), 1) for k, v in parts[m].items()
        }
    for m, per in times.items():
        result[m] = {
            p: {"n": len(v), "p50_ms": round(statistics.median(v), 1),
                "p95_ms": round(pct(v, 0.95), 1)}
            for p, v in per.items()
        }  # fmt: skip
        every = [x for v in per.values() for x in v]
        result[m]["all"] = {"n": len(every), "p50_ms": round(statistics.median(every), 1),
                            "p95_ms": round(pct(every, 0.95), 1)}  # fmt: skip
    with args.out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(result, ensure_ascii=False) + "\n")
    json.dump(result, sys.stdout, indent=1, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
