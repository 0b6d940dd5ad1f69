"""The witness's HTTP face (c2sp.org/tlog-witness): ``POST /add-checkpoint``.

A separate, tiny application run by whoever witnesses the operator's log (the regulator,
a retailer) on its own machine — not a route of the operator's server. As the spec says,
requests are not authenticated: a checkpoint is accepted only if the log's signature
verifies and it extends what the witness saw. ``GET /evidence`` lists split views and
inconsistent checkpoints (JSON, with both signed checkpoints of each).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from gridwall.audit._witness import Witness, WitnessRefusal

#: the spec lets a client send at most 63 proof lines; a checkpoint note is small
MAX_BODY = 64 * 1024


def create_witness_app(witness: Witness) -> FastAPI:
    """The FastAPI application of one witness."""
    app = FastAPI(title="gridwall witness", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("request body too large\n", status_code=413)
        try:
            lines = witness.add_checkpoint(body)
        except WitnessRefusal as r:
            return Response(r.body, status_code=r.status, media_type=r.content_type)
        return PlainTextResponse(lines)

    @app.get("/evidence")
    def evidence() -> JSONResponse:
        return JSONResponse([e.as_json() for e in witness.evidence()])

    return app
