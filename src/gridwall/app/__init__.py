"""gridwall.app — the composed application (合成ルート): every capability as one server.

* :func:`create_server_app` — the FastAPI app over one store: gateway (customer data),
  identity (login, sessions, terminals), grants (disaster mode, agreements, consents,
  sealed exports), the equal-footing lookup, all auditing to one tamper-evident log with
  one event per request. ``app.state.server`` (:class:`Server`) holds the parts.
* ``gridwall serve`` and ``gridwall demo`` (:mod:`gridwall.app.cli.serve`).

Importing the package is cheap; the parts load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridwall.app.server import Server, create_server_app

_WHERE = {"Server": "server", "create_server_app": "server"}

__all__ = ["Server", "create_server_app"]


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'gridwall.app' has no attribute {name!r}")
    return getattr(import_module(f"gridwall.app.{mod}"), name)
