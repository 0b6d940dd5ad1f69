"""gridwall.reports — evidence a regulator and a retailer can check (issue 14).

* :func:`build_statement` / :func:`statement_html` — the **retailer transparency
  statement**: every access by anyone outside a retailer to the non-public data of its
  customers in a period, each with its audit-log index and inclusion proof against a signed
  checkpoint; NW staff pseudonymised per period (HMAC with an operator secret).
* :func:`build_figures_report` / :func:`figures_html` — a report whose every figure is the
  answer of a declarative query (:mod:`gridwall.figures`) over the log up to a signed
  checkpoint, embedded in it; ``python -m gridwall.audit.standalone report-check`` recomputes
  them from an export.
* :func:`report_html` / :func:`report_pdf` — the same report organised by the
  improvement-plan headings, a chart per figure, Japanese in a font shipped inside an
  installed package, the signed checkpoint embedded.
* :func:`build_disaster_report` / :func:`disaster_html` / :func:`disaster_pdf` — the
  after-action report of one disaster declaration: who accessed what under it, from which
  terminals, inside and outside its area, after its end, and the deletion attestations;
  provable figures like the periodic report's.
* :func:`monthly_statements` — every retailer's statement for one month against one
  checkpoint, plus an index (the monthly statement file).

A library like the other capabilities: it reads the audit log and the retailer's supply
periods only through what the app layer hands in (:class:`LogView`, :data:`SupplyPeriods`),
never a customer table and never another capability.
"""

from __future__ import annotations

from gridwall.reports._disaster import (
    INSIDE,
    OTHER,
    OUTSIDE,
    build_disaster_report,
    disaster_html,
    disaster_pdf,
)
from gridwall.reports._figures import PERIODIC_FIGURES, build_figures_report, figures_html
from gridwall.reports._monthly import monthly_statements, parse_month
from gridwall.reports._render import SECTIONS, report_html, report_pdf
from gridwall.reports._statement import (
    LEGAL_BASES,
    LogView,
    Supply,
    SupplyPeriods,
    build_statement,
    legal_basis,
    pseudonym,
    statement_html,
)

__all__ = [
    "INSIDE",
    "LEGAL_BASES",
    "OTHER",
    "OUTSIDE",
    "PERIODIC_FIGURES",
    "SECTIONS",
    "LogView",
    "Supply",
    "SupplyPeriods",
    "build_disaster_report",
    "build_figures_report",
    "build_statement",
    "disaster_html",
    "disaster_pdf",
    "figures_html",
    "legal_basis",
    "monthly_statements",
    "parse_month",
    "pseudonym",
    "report_html",
    "report_pdf",
    "statement_html",
]
