"""The first line (manager): access reviews of their reports and the two-person changes that
await a second person.

* ``GET /console/manager`` (step ``console.manager``) — the review items the manager owns
  (or, unowned, of their organisation) still pending in open campaigns; the identity
  changes (reactivations, roles, permissions, policies) pending a second person; the
  disaster declarations pending approval. The manager's own requests are listed as
  awaiting someone else, with no approve button.
* ``POST /console/manager/review`` (``review.decide``) — recertify or revoke ("let
  lapse") one account's items in a campaign (identity's ``decide_review``: only the
  owner, never the holder).
* ``POST /console/manager/change`` (``change.approve``) — approve or reject a pending
  change. The requester (any account of the same person) is refused by the policy (I15i)
  and, behind it, by identity's own two-person rule; the page names the reason.
* ``POST /console/manager/disaster`` (``disaster.approve``) — the second person's
  approval of a declaration (the grant desk, as ``POST /v1/grants/disasters/{id}/approve``).

Every page and every step is one management decision and one audit event
(:mod:`~gridwall.app.web.steps`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gridwall.app.management import StoreParties, same_person
from gridwall.app.web import steps
from gridwall.app.web.core import PREFIX, Caller, Console, FormError, field
from gridwall.app.web.details import localise
from gridwall.app.web.points import run_page
from gridwall.errors import UsageError
from gridwall.interfaces.facts import GrantStep


def review_items(console: Console, caller: Caller) -> list[dict[str, Any]]:
    """Pending items the caller may decide: owned by them, or unowned in their organisation,
    in campaigns whose deadline has not passed (after it they have lapsed); one row per
    account and campaign (the decision covers the account's items)."""
    from gridwall.identity._models import Account, Entitlement, ReviewCampaign, ReviewItem

    me, org, now = steps.person(caller), caller.principal.org, caller.now
    out: dict[tuple[str, str], dict[str, Any]] = {}
    with Session(console.identity.engine) as s:
        q = (
            select(ReviewItem, Entitlement, Account, ReviewCampaign)
            .join(Entitlement, Entitlement.entitlement_id == ReviewItem.entitlement_id)
            .join(Account, Account.account_id == Entitlement.account_id)
            .join(ReviewCampaign, ReviewCampaign.campaign_id == ReviewItem.campaign_id)
            .where(ReviewItem.status == "pending", ReviewCampaign.deadline > now)
            .order_by(ReviewCampaign.deadline, Account.account_id, Entitlement.name)
        )
        for item, ent, acct, camp in s.execute(q):
            mine = item.owner_person_id == me or (item.owner_person_id is None and acct.org == org)
            if not mine or acct.holder_person_id == me:
                continue
            row = out.setdefault(
                (camp.campaign_id, acct.account_id),
                {"campaign_id": camp.campaign_id, "deadline": camp.deadline,
                 "account_id": acct.account_id, "holder": acct.holder_person_id,
                 "entitlements": []},
            )  # fmt: skip
            row["entitlements"].append(f"{ent.kind}: {ent.name}")
    return list(out.values())


def pending_changes(console: Console) -> list[Any]:
    from gridwall.identity import list_changes

    return [c for c in list_changes(console.identity) if c.status == "pending"]


def disaster_desk(console: Console, caller: Caller) -> Any:
    from gridwall.grants._disaster import DisasterDesk

    return DisasterDesk(
        console.engine,
        console.audit_sink,
        console.now,
        actor_org=caller.principal.org,
        parties=StoreParties(console.engine),
    )


def pending_disasters(console: Console, caller: Caller) -> list[dict[str, Any]]:
    if console.engine is None:
        return []
    rows = disaster_desk(console, caller).list()
    return [d for d in rows if d["status"] == "pending_approval"]


def _choice(form: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = field(form, name)
    if value not in allowed:
        raise FormError(name, f"{name}: one of {', '.join(allowed)}")
    return value


def create_router(console: Console) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def page(request: Request) -> Response:
        caller = console.caller(request)
        steps.view(console, request, caller, GrantStep.CONSOLE_MANAGER)
        return console.render(
            request, "manager.html", caller=caller,
            reviews=review_items(console, caller), changes=pending_changes(console),
            disasters=pending_disasters(console, caller), me=steps.person(caller),
        )  # fmt: skip

    @router.get("/manager")
    def manager_page(request: Request) -> Response:
        return run_page(console, request, lambda: page(request))()

    def done(request: Request, caller: Caller, what: str, **values: Any) -> Response:
        return console.render(request, "manager_done.html", caller=caller, what=what, **values)

    async def posted(request: Request) -> dict[str, Any] | None:
        form = await request.form()
        if not console.csrf_ok(request, str(form.get("csrf", ""))):
            return None
        return {k: v for k, v in form.items()}

    @router.post("/manager/review")
    async def review(request: Request) -> Response:
        form = await posted(request)
        if form is None:
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            from gridwall.identity import decide_review

            caller = console.caller(request)
            campaign, account = field(form, "campaign_id"), field(form, "account_id")
            keep = _choice(form, "decision", ("recertify", "revoke")) == "recertify"
            n = steps.change(
                console, request, caller, GrantStep.REVIEW_DECIDE,
                lambda: decide_review(console.identity, campaign, account,
                                      steps.person(caller), caller.now, keep=keep),
                query=f"campaign={campaign} account={account} "
                      f"{'recertify' if keep else 'revoke'}",
                refusals=(UsageError,),
            )  # fmt: skip
            return done(request, caller, "recertified" if keep else "revoked", count=n,
                        campaign=campaign, account=account)  # fmt: skip

        return await run_in_threadpool(guarded(console, request, work))

    @router.post("/manager/change")
    async def decide_change_page(request: Request) -> Response:
        form = await posted(request)
        if form is None:
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            from gridwall.identity import decide_change, list_changes

            caller = console.caller(request)
            text = field(form, "change_id")
            if not text.isdigit():
                raise FormError("change_id", "change_id: a change number")
            approve = _choice(form, "decision", ("approve", "reject")) == "approve"
            change_id = int(text)
            mine = any(
                c.change_id == change_id and c.requested_by == steps.person(caller)
                for c in list_changes(console.identity)
            )
            view = steps.change(
                console, request, caller, GrantStep.CHANGE_APPROVE,
                lambda: decide_change(console.identity, change_id, steps.person(caller),
                                      caller.now, approve=approve),
                query=f"change={change_id} {'approve' if approve else 'reject'}",
                own_request=mine, refusals=(UsageError,),
            )  # fmt: skip
            return done(request, caller, view.status, change=view)

        return await run_in_threadpool(guarded(console, request, work))

    @router.post("/manager/disaster")
    async def approve_disaster(request: Request) -> Response:
        form = await posted(request)
        if form is None:
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            from gridwall.grants._errors import GrantRefused

            caller = console.caller(request)
            disaster_id = field(form, "disaster_id")
            desk = disaster_desk(console, caller)
            p = caller.principal
            try:
                requester = desk.get(disaster_id)["requested_by"]
            except GrantRefused:
                requester = None
            mine = same_person(p, requester, console.identity.person_of)
            steps.change(
                console, request, caller, GrantStep.DISASTER_APPROVE,
                lambda: desk.approve(disaster_id, p.account_id),
                query=f"disaster_id={disaster_id}", own_request=mine,
                refusals=(GrantRefused,), records_itself=True,
            )  # fmt: skip
            return done(request, caller, "disaster_approved", disaster_id=disaster_id)

        return await run_in_threadpool(guarded(console, request, work))

    return router


def guarded(console: Console, request: Request, work: Any) -> Any:
    """``work`` with a step's refusal shown with its reason (403), other refusals as pages."""

    def run() -> Response:
        try:
            return run_page(console, request, work)()
        except steps.StepRefused as e:
            try:
                caller: Caller | None = console.caller(request)
            except Exception:
                caller = None
            return console.render(request, "refused.html", 403, caller=caller,
                                  step=str(e.step), reason=e.reason,
                                  detail=localise(e.detail, console.gettext(request),
                                                  names_field=e.bad_input))  # fmt: skip

    return run
