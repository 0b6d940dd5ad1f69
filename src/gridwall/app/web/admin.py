"""The administrator (NW IT): persons, accounts, terminals, HR import, training.

* ``GET /console/admin`` (step ``console.admin``) — persons with their assignment now and
  latest training, accounts with their state now (decided as at request time), terminals
  (enrolled, revoked).
* ``POST /console/admin/terminal`` (``terminal.retire``) — retire (revoke) a terminal and
  end its sessions (identity's ``revoke_terminal``).
* ``POST /console/admin/hr/preview`` (``hr.import``) — the HR change file (CSV, as
  ``gridwall hr import``) applied by identity's own code in a transaction that is rolled
  back: the page shows exactly which accounts it would revoke, the watch-list entries and
  the warnings, or every bad row by line and field; nothing is written. The confirm form
  carries the file and its SHA-256.
* ``POST /console/admin/hr/apply`` (``hr.import``) — applies the same file (refused if its
  SHA-256 is not the previewed one), all or nothing.
* ``POST /console/admin/training`` (``training.attest``) — record a person's training
  completion (never one's own).

Every page and every step is one management decision and one audit event
(:mod:`~gridwall.app.web.steps`).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gridwall.app.web import steps
from gridwall.app.web.core import PREFIX, Caller, Console, FormError, field
from gridwall.app.web.manager import guarded
from gridwall.app.web.points import run_page
from gridwall.errors import InputError, UsageError
from gridwall.interfaces.facts import GrantStep

#: the largest HR file the page takes (characters)
MAX_HR_FILE = 1_000_000


def directory(console: Console, caller: Caller) -> dict[str, Any]:
    """Persons, accounts and terminals as identity decides them now."""
    from gridwall.identity._models import Account, Person, Training
    from gridwall.identity._models import Terminal as TerminalRow
    from gridwall.identity._state import (
        account_state,
        assignments_by_person,
        lapsed_by_account,
        pick_at,
    )

    now = caller.now
    with Session(console.identity.engine) as s:
        # A few queries for the whole directory, not a handful per person (issue 12).
        assignments = assignments_by_person(s)
        lapsed = lapsed_by_account(s, now)
        trained: dict[str, Any] = {}
        for pid, done in s.execute(
            select(Training.person_id, func.max(Training.completed_on)).group_by(Training.person_id)
        ):
            trained[pid] = done
        persons = []
        for p in s.scalars(select(Person).order_by(Person.person_id)):
            asg = pick_at(assignments.get(p.person_id, []), now)
            persons.append({"person_id": p.person_id, "name": p.name,
                            "org": asg.org if asg else "", "role": asg.role if asg else "",
                            "training": trained.get(p.person_id)})  # fmt: skip
        accounts = []
        for a in s.scalars(select(Account).order_by(Account.account_id)):
            v = account_state(
                s,
                a,
                now,
                assignments=assignments.get(a.holder_person_id, []),
                lapsed=lapsed.get(a.account_id, []),
            )
            accounts.append(
                {
                    "account_id": a.account_id,
                    "holder": a.holder_person_id,
                    "org": a.org,
                    "state": v.state.value,
                    "reason": v.reason or "",
                }
            )
        terminals = [
            {"device_id": t.device_id, "org": t.owner_org, "kind": t.kind,
             "enrolled_at": t.enrolled_at, "revoked_at": t.revoked_at,
             "active": t.revoked_at is None or t.revoked_at > now}
            for t in s.scalars(select(TerminalRow).order_by(TerminalRow.device_id))
        ]  # fmt: skip
    return {"persons": persons, "accounts": accounts, "terminals": terminals}


class _DryRun:
    """Identity with a unit of work that is rolled back: the real code path, nothing kept
    (its events are dropped with it)."""

    def __init__(self, svc: Any) -> None:
        self._svc = svc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._svc, name)

    @contextmanager
    def transaction(self) -> Iterator[tuple[Session, list[dict[str, Any]]]]:
        with Session(self._svc.engine) as s:
            try:
                yield s, []
            finally:
                s.rollback()


def hr_file(form: Mapping[str, Any]) -> str:
    value = form.get("hr_file")
    if not isinstance(value, str) or not value.strip():
        raise FormError("hr_file", "hr_file is required (the CSV of HR changes)")
    if len(value) > MAX_HR_FILE:
        raise FormError("hr_file", f"hr_file is longer than {MAX_HR_FILE} characters")
    return value.replace("\r\n", "\n")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_hr(svc: Any, text: str, name: str, now: Any) -> Any:
    """Parse and apply ``text`` as an HR change file named ``name`` (errors name its lines)."""
    from gridwall.identity import apply_hr_changes, read_hr_file

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_text(text, encoding="utf-8")
        rows = read_hr_file(path)
    return apply_hr_changes(svc, rows, name, now)


def input_errors(e: InputError) -> list[str]:
    inner = getattr(e, "errors", None)
    return [str(x) for x in inner] if inner else [str(e)]


def create_router(console: Console) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/admin")
    def admin_page(request: Request) -> Response:
        def work() -> Response:
            caller = console.caller(request)
            steps.view(console, request, caller, GrantStep.CONSOLE_ADMIN)
            return console.render(request, "admin.html", caller=caller,
                                  **directory(console, caller))  # fmt: skip

        return run_page(console, request, work)()

    async def posted(request: Request) -> dict[str, Any] | None:
        form = await request.form(max_part_size=MAX_HR_FILE * 4)
        if not console.csrf_ok(request, str(form.get("csrf", ""))):
            return None
        return {k: v for k, v in form.items()}

    def done(request: Request, caller: Caller, what: str, **values: Any) -> Response:
        return console.render(request, "admin_done.html", caller=caller, what=what, **values)

    @router.post("/admin/terminal")
    async def retire(request: Request) -> Response:
        form = await posted(request)
        if form is None:
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            caller = console.caller(request)
            device = field(form, "device_id")
            steps.change(
                console, request, caller, GrantStep.TERMINAL_RETIRE,
                lambda: console.identity.revoke_terminal(device, caller.now),
                query=f"terminal={device} retire", refusals=(UsageError,),
            )  # fmt: skip
            return done(request, caller, "retired", device=device)

        return await run_in_threadpool(guarded(console, request, work))

    @router.post("/admin/hr/preview")
    async def hr_preview(request: Request) -> Response:
        form = await posted(request)
        if form is None:
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            caller = console.caller(request)
            text = hr_file(form)
            name = field(form, "file_name", required=False) or "hr-changes.csv"

            def preview() -> dict[str, Any]:
                try:
                    return {"report": run_hr(_DryRun(console.identity), text, name, caller.now),
                            "errors": []}  # fmt: skip
                except InputError as e:
                    return {"report": None, "errors": input_errors(e)}

            out = steps.change(
                console, request, caller, GrantStep.HR_IMPORT, preview,
                query=f"HR preview {name} sha256={digest(text)}",
            )  # fmt: skip
            return console.render(request, "hr_preview.html", caller=caller, text=text,
                                  name=name, digest=digest(text), **out)  # fmt: skip

        return await run_in_threadpool(guarded(console, request, work))

    @router.post("/admin/hr/apply")
    async def hr_apply(request: Request) -> Response:
        form = await posted(request)
        if form is None:
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            caller = console.caller(request)
            text = hr_file(form)
            name = field(form, "file_name", required=False) or "hr-changes.csv"
            if field(form, "digest") != digest(text):
                raise FormError("digest", "the file differs from the one previewed")
            report = steps.change(
                console, request, caller, GrantStep.HR_IMPORT,
                lambda: run_hr(console.identity, text, name, caller.now),
                query=f"HR import {name} sha256={digest(text)}",
                refusals=(InputError, UsageError),
            )  # fmt: skip
            return done(request, caller, "hr_applied", report=report, name=name)

        return await run_in_threadpool(guarded(console, request, work))

    @router.post("/admin/training")
    async def training(request: Request) -> Response:
        form = await posted(request)
        if form is None:
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            from gridwall.identity import attest_training

            caller = console.caller(request)
            person = field(form, "person_id")
            text = field(form, "completed_on")
            try:
                on = date.fromisoformat(text)
            except ValueError:
                raise FormError("completed_on", "completed_on: a date (YYYY-MM-DD)") from None
            steps.change(
                console, request, caller, GrantStep.TRAINING_ATTEST,
                lambda: attest_training(console.identity, person, on,
                                        steps.person(caller), caller.now),
                query=f"training person={person} completed_on={on}", refusals=(UsageError,),
            )  # fmt: skip
            return done(request, caller, "trained", person=person, on=on)

        return await run_in_threadpool(guarded(console, request, work))

    return router
