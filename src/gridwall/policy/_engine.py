"""The policy engine: Cedar decides every field group of every request.

An :class:`~gridwall.interfaces.facts.AccessRequest` is made only of finite
enumerations and booleans, so it is a complete decision class: two equal requests
always get the same decision. The engine therefore asks Cedar once per distinct
request (one ``is_authorized_batch`` call over the field groups) and memoises the
result; the live path is a dictionary lookup after the first time. Cedar stays
the single source of truth: nothing is decided outside it.

Fail closed: any error (a Cedar diagnostic, a malformed request, an "allow"
without a determining policy) denies every field, and the error is recorded as
the reason in the decision's policy ids.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cedarpy

from gridwall.interfaces.facts import FIELDS, AccessRequest, Decision, FieldDecision
from gridwall.policy._cedar import PolicyBundle, cedar_requests

#: Prefix of the reason recorded when the engine denied because of an error.
ERROR_PREFIX = "error:"

#: Distinct request classes remembered (then the cache starts over). A live service
#: sees a few thousand; each entry costs ~0.5 KB (the key), decisions are shared.
_DEFAULT_CACHE_LIMIT = 100_000


class PolicyEngine:
    """Decides :class:`AccessRequest` s with the Cedar policies of a :class:`PolicyBundle`.

    The schema and policies are parsed and validated once, at construction; a
    policy set that does not validate raises :class:`gridwall.errors.InputError`.
    """

    def __init__(
        self,
        bundle: PolicyBundle | None = None,
        *,
        cache_limit: int = _DEFAULT_CACHE_LIMIT,
    ) -> None:
        self.bundle = bundle if bundle is not None else PolicyBundle.from_directory()
        self._cache: dict[AccessRequest, dict[str, FieldDecision]] = {}
        # one shared field map per distinct decision (many classes decide alike)
        self._interned: dict[tuple[FieldDecision, ...], dict[str, FieldDecision]] = {}
        self._cache_limit = cache_limit
        self.cedar_calls = 0

    @classmethod
    def from_directory(cls, path: Path) -> PolicyEngine:
        """An engine over ``path/schema.cedarschema`` and ``path/*.cedar``."""
        return cls(PolicyBundle.from_directory(path))

    @property
    def policy_ids(self) -> tuple[str, ...]:
        """The ``@id`` of every loaded policy, in file order."""
        return tuple(self.bundle.ids.values())

    def decide(self, request: AccessRequest) -> Decision:
        """Decide every field group of ``request`` (cached per request class)."""
        fields = self._cache.get(request)
        if fields is None:
            fields, ok = self._evaluate(request)
            if ok:  # errors are not cached: the next request asks Cedar again
                if len(self._cache) >= self._cache_limit:
                    self._cache.clear()
                    self._interned.clear()
                fields = self._interned.setdefault(tuple(fields.values()), fields)
                self._cache[request] = fields
        return Decision(request=request, fields=dict(fields))

    def decide_uncached(self, request: AccessRequest) -> Decision:
        """Ask Cedar now, bypassing (and not filling) the cache."""
        fields, _ = self._evaluate(request)
        return Decision(request=request, fields=fields)

    def clear_cache(self) -> None:
        self._cache.clear()

    @property
    def cache_size(self) -> int:
        return len(self._cache)

    def _evaluate(self, request: AccessRequest) -> tuple[dict[str, FieldDecision], bool]:
        """One Cedar batch over the field groups; ``(fields, ok)``."""
        b = self.bundle
        try:
            reqs = cedar_requests(request)
            self.cedar_calls += 1
            results = cedarpy.is_authorized_batch(reqs, b.policy_set, b.entities, b.schema)
            if len(results) != len(FIELDS):
                raise RuntimeError(f"Cedar answered {len(results)} of {len(FIELDS)} requests")
            out: dict[str, FieldDecision] = {}
            for f, res in zip(FIELDS, results, strict=True):
                diag = res.diagnostics
                if diag.errors:
                    raise RuntimeError(f"Cedar error on field {f}: {'; '.join(diag.errors)}")
                ids = tuple(sorted(b.policy_id(r) for r in diag.reasons))
                if res.decision is cedarpy.Decision.Allow:
                    if not ids:
                        raise RuntimeError(f"Cedar allowed {f} without a determining policy")
                    out[f] = FieldDecision(True, ids)
                elif res.decision is cedarpy.Decision.Deny:
                    out[f] = FieldDecision(False, ids)
                else:
                    raise RuntimeError(f"Cedar gave no decision for {f}")
            return out, True
        except Exception as e:  # fail closed on anything at all
            reason = f"{ERROR_PREFIX}{type(e).__name__}: {e}"[:300]
            return {f: FieldDecision(False, (reason,)) for f in FIELDS}, False


_default: PolicyEngine | None = None
_default_lock = threading.Lock()


def default_engine() -> PolicyEngine:
    """The process-wide engine over the shipped policies (built on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = PolicyEngine()
    return _default
