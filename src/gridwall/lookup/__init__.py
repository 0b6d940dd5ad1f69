"""The equal-footing supply-point lookup (供給地点の住所検索): Japanese address normalisation
(住所正規化) and a search over the operator's supply points that every retailer — affiliated
or independent — gets alike. It returns supply point IDs (供給地点特定番号), equipment and the
normalised address; never a name or phone number. See ``docs/lookup.md``.

* :func:`normalize` → :class:`NormalizedAddress` — the parser (pure, offline);
* :func:`build_index` / :class:`LookupIndex` — the search index over the operator's points;
  :func:`sync_index` (after a load: :func:`refresh_index` of the changed points, or a build),
  :func:`ensure_index` (build it unless current), :func:`index_state`;
* :class:`LookupService` — one lookup with specificity, cap, rate limit, policy and audit;
* :mod:`gridwall.app.http.lookup` — the FastAPI router (``POST /v1/lookup``).

Importing the package is cheap (``gridwall --help`` loads its CLI); the parts load on use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridwall.lookup._index import (
        ACCEPT_SCORE,
        INDEX_VERSION,
        BuildReport,
        Candidate,
        IndexNotCurrent,
        LookupIndex,
        RefreshReport,
        SyncReport,
        build_index,
        ensure_index,
        index_state,
        refresh_index,
        sync_index,
    )
    from gridwall.lookup._normalize import NormalizedAddress, normalize
    from gridwall.lookup._service import (
        RESULT_CAP,
        IndexUnavailable,
        LookupAnswer,
        LookupService,
        RateLimited,
        SpecificityError,
        TokenBucket,
    )

_WHERE = {
    "ACCEPT_SCORE": "_index",
    "BuildReport": "_index",
    "Candidate": "_index",
    "LookupIndex": "_index",
    "build_index": "_index",
    "INDEX_VERSION": "_index",
    "IndexNotCurrent": "_index",
    "RefreshReport": "_index",
    "SyncReport": "_index",
    "ensure_index": "_index",
    "index_state": "_index",
    "refresh_index": "_index",
    "sync_index": "_index",
    "NormalizedAddress": "_normalize",
    "normalize": "_normalize",
    "RESULT_CAP": "_service",
    "IndexUnavailable": "_service",
    "LookupAnswer": "_service",
    "LookupService": "_service",
    "RateLimited": "_service",
    "SpecificityError": "_service",
    "TokenBucket": "_service",
}

__all__ = [
    "ACCEPT_SCORE",
    "INDEX_VERSION",
    "RESULT_CAP",
    "BuildReport",
    "Candidate",
    "IndexNotCurrent",
    "IndexUnavailable",
    "LookupAnswer",
    "LookupIndex",
    "LookupService",
    "NormalizedAddress",
    "RateLimited",
    "RefreshReport",
    "SpecificityError",
    "SyncReport",
    "TokenBucket",
    "build_index",
    "ensure_index",
    "index_state",
    "normalize",
    "refresh_index",
    "sync_index",
]


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(name)
    return getattr(import_module(f"gridwall.lookup.{mod}"), name)
