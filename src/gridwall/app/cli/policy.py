"""``gridwall policy check`` and ``gridwall policy explain``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from gridwall.errors import CheckFailed, UsageError
from gridwall.interfaces.facts import (
    FIELDS,
    AccessRequest,
    AccountKind,
    AccountState,
    Action,
    AgreementState,
    ConsentState,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    DisasterState,
    GrantFacts,
    OrgKind,
    PrincipalFacts,
    Purpose,
    Recipient,
    Relation,
    ResourceFacts,
    RetailerKind,
    Role,
)

policy_app = typer.Typer(
    help="Access policy: prove the invariants, explain a decision.", no_args_is_help=True
)

_POLICIES_HELP = "Folder with schema.cedarschema and *.cedar (default: the shipped policies)."


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")


def _engine(policies: Path | None) -> Any:
    from gridwall.policy._engine import PolicyEngine, default_engine

    if policies is None:
        return default_engine()
    if not policies.is_dir():
        raise UsageError(f"--policies {policies}: not a folder")
    return PolicyEngine.from_directory(policies)


def _management_engine(policies: Path | None, err: Any) -> Any:
    """The grant-management engine: ``DIR/manage/`` of ``--policies DIR`` (the shipped
    management policies, said so, when that folder has none)."""
    from gridwall.policy._manage import MANAGE_DIR, ManagementEngine, default_management_engine

    if policies is None:
        return default_management_engine()
    if not (policies / MANAGE_DIR).is_dir():
        err.print(f"{policies}: no {MANAGE_DIR}/ folder; checking the shipped management policies")
        return default_management_engine()
    return ManagementEngine.from_directory(policies / MANAGE_DIR)


def _case_engine(policies: Path | None, err: Any) -> Any:
    """The case-workflow engine: ``DIR/cases/`` of ``--policies DIR`` (the shipped case
    policies, said so, when that folder has none)."""
    from gridwall.policy._cases import CASES_DIR, CaseEngine, default_case_engine

    if policies is None:
        return default_case_engine()
    if not (policies / CASES_DIR).is_dir():
        err.print(f"{policies}: no {CASES_DIR}/ folder; checking the shipped case policies")
        return default_case_engine()
    return CaseEngine.from_directory(policies / CASES_DIR)


@policy_app.command("check")
def check_cmd(
    policies: Path | None = typer.Option(None, "--policies", help=_POLICIES_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    samples: int = typer.Option(
        2000, "--samples", min=0, help="Live-engine decisions compared with the proof (I11)."
    ),
) -> None:
    """Prove invariants I1-I16 over the whole request space (customer data, grant
    management and the case workflow); exit 1 on a violation."""
    from rich.console import Console
    from rich.table import Table

    from gridwall.policy._cases import check_cases
    from gridwall.policy._checker import check
    from gridwall.policy._manage import check_management

    err = Console(stderr=True)
    engine = _engine(policies)
    manage = _management_engine(policies, err)
    cases = _case_engine(policies, err)
    with err.status("checking the policy invariants") as status:
        report = check(engine, samples=samples, progress=lambda m: status.update(m))
        status.update("checking the grant-management invariants (I15)")
        mreport = check_management(manage)
        status.update("checking the case-workflow invariants (I16)")
        creport = check_cases(cases)
    # all three have id/text/classes/…
    rows: list[Any] = [*report.results, *mreport.results, *creport.results]
    if as_json:
        doc = report.to_json()
        doc["ok"] = report.ok and mreport.ok and creport.ok
        doc["management"] = {
            "ok": mreport.ok,
            "raw_space": mreport.raw_space,
            "classes": mreport.classes,
            "class_counts": mreport.class_counts,
            "errors": mreport.errors,
        }
        doc["cases"] = {
            "ok": creport.ok,
            "raw_space": creport.raw_space,
            "classes": creport.classes,
            "class_counts": creport.class_counts,
            "errors": creport.errors,
        }
        doc["invariants"] += [
            {
                "id": r.id,
                "description": r.text,
                "classes_checked": r.classes,
                "violations": r.violations,
                "counterexample": r.counterexample,
            }
            for r in [*mreport.results, *creport.results]
        ]
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        out = Console()
        t = Table(title="gridwall policy check")
        t.add_column("invariant")
        t.add_column("description")
        t.add_column("classes checked", justify="right")
        t.add_column("violations", justify="right")
        for r in rows:
            style = "red" if r.violations else "green"
            t.add_row(r.id, r.text, f"{r.classes:,}", f"[{style}]{r.violations:,}[/{style}]")
        out.print(t)
        out.print(
            f"{report.raw_space:,} (request, field) pairs in {report.classes:,} classes, "
            f"settled in {report.regions:,} regions; {report.cedar_evaluations:,} Cedar "
            f"evaluations of single policies; {report.engine_samples:,} live decisions "
            f"compared; {report.seconds:.1f} s"
        )
        out.print(
            f"grant management: {mreport.raw_space:,} requests in {mreport.classes:,} "
            "classes, every class decided by the live engine"
        )
        out.print(
            f"case workflow: {creport.raw_space:,} requests in {creport.classes:,} classes, "
            "composed from single-policy decisions and compared with the live engine"
        )
        for r in rows:
            if r.counterexample is not None:
                out.print(f"[red]{r.id} counterexample:[/red]")
                out.print_json(json.dumps(r.counterexample, ensure_ascii=False))
        for e in [*report.errors, *mreport.errors, *creport.errors]:
            out.print(f"[red]error:[/red] {e}")
    if not (report.ok and mreport.ok and creport.ok):
        bad = [r.id for r in rows if r.violations]
        errors = [*report.errors, *mreport.errors, *creport.errors]
        raise CheckFailed(
            "policy check failed: "
            + (f"violated {', '.join(bad)}" if bad else "")
            + ("; " if bad and errors else "")
            + (f"{len(errors)} error(s)" if errors else "")
        )


@policy_app.command("explain")
def explain_cmd(
    org: OrgKind = typer.Option(..., "--org", help="Principal's organisation kind."),
    role: Role = typer.Option(..., "--role"),
    purpose: Purpose = typer.Option(..., "--purpose"),
    action: Action = typer.Option(Action.VIEW, "--action"),
    device: DeviceKind = typer.Option(..., "--device", help="Terminal kind."),
    relation: Relation = typer.Option(Relation.NOT_APPLICABLE, "--relation"),
    retailer_kind: RetailerKind = typer.Option(RetailerKind.NONE, "--retailer-kind"),
    account_kind: AccountKind = typer.Option(AccountKind.PERSONAL, "--account-kind"),
    account_state: AccountState = typer.Option(AccountState.ACTIVE, "--account-state"),
    untrained: bool = typer.Option(False, "--untrained", help="No current training."),
    device_owner: DeviceOwner = typer.Option(DeviceOwner.SAME_ORG, "--device-owner"),
    device_invalid: bool = typer.Option(False, "--device-invalid"),
    lrs: bool = typer.Option(False, "--lrs", help="The point is under last-resort supply."),
    fit: bool = typer.Option(False, "--fit", help="The point has a FIT contract."),
    disaster: DisasterState = typer.Option(DisasterState.NONE, "--disaster"),
    agreement: AgreementState = typer.Option(AgreementState.NONE, "--agreement"),
    agreement_field: list[str] = typer.Option(
        [], "--agreement-field", help="A field group the agreement names (repeatable)."
    ),
    consent: ConsentState = typer.Option(ConsentState.NONE, "--consent"),
    recipient: Recipient = typer.Option(Recipient.NONE, "--recipient"),
    policies: Path | None = typer.Option(None, "--policies", help=_POLICIES_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Decide one request class and show, per field group, the deciding policy ids."""
    unknown = sorted(set(agreement_field) - set(FIELDS))
    if unknown:
        raise UsageError(f"--agreement-field: unknown field group(s) {', '.join(unknown)}")
    request = AccessRequest(
        principal=PrincipalFacts(
            org, retailer_kind, role, account_kind, account_state, not untrained
        ),
        device=DeviceFacts(device, device_owner, not device_invalid),
        action=action,
        purpose=purpose,
        resource=ResourceFacts(relation, lrs, fit),
        grants=GrantFacts(disaster, agreement, frozenset(agreement_field), consent, recipient),
    )
    decision = _engine(policies).decide(request)
    if as_json:
        from gridwall.policy._space import describe

        doc = {
            "request": describe(request),
            "fields": {
                f: {"allowed": d.allowed, "policy_ids": list(d.policy_ids)}
                for f, d in decision.fields.items()
            },
        }
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="decision")
    t.add_column("field group")
    t.add_column("decision")
    t.add_column("decided by")
    for f, d in decision.fields.items():
        verdict = "[green]allow[/green]" if d.allowed else "[red]deny[/red]"
        t.add_row(f, verdict, ", ".join(d.policy_ids) or "default deny (no permit matched)")
    Console().print(t)
    print(f"allowed: {', '.join(sorted(decision.allowed_fields)) or '(nothing)'}", file=sys.stderr)
