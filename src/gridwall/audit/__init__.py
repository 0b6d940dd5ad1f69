"""gridwall.audit — the tamper-evident audit log (改ざん検知可能な監査ログ).

Every access and every denial is appended to an RFC 9162 Merkle log whose signed
checkpoints (C2SP tlog-checkpoint, Ed25519 signed notes) let anyone holding the
public key verify it without trusting the operator.

Public surface:

* :func:`open_log` / :class:`AuditLog` — the :class:`gridwall.interfaces.AuditSink`
  the gateway records to (durable on return, raises :class:`AuditWriteError` otherwise);
* :mod:`gridwall.audit.merkle` — RFC 9162 hashing and proofs;
* :mod:`gridwall.audit.note` — checkpoints, signed notes and keys;
* :mod:`gridwall.audit.standalone` — the export verifier for regulators.

Importing this package is cheap (no database drivers) so the standalone verifier
stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridwall.audit._log import AuditLog, AuditWriteError, open_log

__all__ = ["AuditLog", "AuditWriteError", "open_log"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from gridwall.audit import _log

        return getattr(_log, name)
    raise AttributeError(name)
