"""gridwall.monitor — periodic analysis of access logs (アクセスログの定期分析).

Reads an operator dataset's events (gridwall's own and legacy systems' logs, the latter through
a declarative mapping) against its reference tables, runs one declarative rule per detector —
written once as ibis expressions, executed on DuckDB or Spark — and writes ``alerts.jsonl``
with the evidence. See ``docs/monitoring.md``.

Public surface: :func:`scan` / :func:`write_alerts` (``gridwall monitor scan``),
:func:`load_mapping` / :func:`import_log` (``gridwall monitor import-log``); the rule
catalogue is :data:`gridwall.monitor.rules.RULES`.
"""

from gridwall.monitor._mapping import import_log, load_mapping
from gridwall.monitor._run import ScanResult, scan, write_alerts

__all__ = ["ScanResult", "import_log", "load_mapping", "scan", "write_alerts"]
