"""The nadsim web app: a JSON API and a bilingual page, served by one FastAPI application.

``create_app()`` builds the app; ``nadsim serve`` runs it with uvicorn on 127.0.0.1.

API (all under ``/api``; the OpenAPI schema at ``/openapi.json``):

=========================  ======  ===========================================================
``/api/health``            GET     liveness and version
``/api/meta``              GET     compounds, routes, limits, grades, outputs, installed parts
``/api/simulate``          POST    simulate a regimen for a patient profile (JSON series)
``/api/simulate/csv``      POST    the same as CSV (download)
``/api/simulate/report``   POST    the same as a self-contained HTML report (download)
``/api/parameters``        GET     every model parameter with unit, bounds, source and grade
``/api/evidence``          GET     the mechanism links with their grades and citations
``/api/claims``            GET     the article's claims, their model links and grades
``/api/claims/audit``      POST    start the claim audit for a regimen/profile (202 + job)
``/api/trials``            POST    start a virtual trial as a job (202 + job)
``/api/jobs/{id}``         GET     job status and progress; DELETE cancels
``/api/jobs/{id}/result``  GET     the finished job's result
=========================  ======  ===========================================================

Safety: request bodies are capped (413), every field is validated (422 naming the field),
simulations run in worker processes under a concurrency cap with a time-out that kills the
worker (503/504; :mod:`nadsim.web._workers`), jobs run in separate processes under a cap with a
hard time-out, and nothing a client sends is ever
evaluated as code. Evidence, claim and trial endpoints exist only when the library part they
call is installed (see ``/api/meta`` → ``capabilities``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import swagger_ui_bundle
from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

from nadsim import app as app_verbs
from nadsim._errors import NadsimError
from nadsim._version import __version__
from nadsim.dosing import COMPOUNDS, ROUTES
from nadsim.model import GRADES
from nadsim.web import _service as svc
from nadsim.web._guard import DEFAULT_ALLOWED_HOSTS, HostAllowList
from nadsim.web._workers import Busy, SimulationWorkers, WorkerDied
from nadsim.web.jobs import JobManager, JobsFull
from nadsim.web.schemas import (
    LIMITS,
    ClaimAuditRequest,
    ErrorResponse,
    JobInfo,
    ParameterOut,
    SimulateRequest,
    TrialRequest,
)

__all__ = ["create_app"]

STATIC = Path(str(resources.files("nadsim.web") / "static"))
JOB_ID = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$", description="Job id (32 hex digits).")]


class _BodyLimit:
    """ASGI middleware: refuse request bodies above ``max_bytes`` with 413 (header or stream), and
    bodies that take longer than ``timeout_s`` to arrive with 408 (a slow-body attack)."""

    def __init__(self, app: Any, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_big = JSONResponse({"detail": f"request body larger than {self.max_bytes} bytes",
                                "errors": [{"field": "body", "message": f"at most {self.max_bytes} bytes"}]},
                               status_code=413)
        if length is not None:
            try:
                if int(length) > self.max_bytes:
                    await too_big(scope, receive, send)
                    return
            except ValueError:
                await JSONResponse({"detail": "invalid Content-Length"}, status_code=400)(scope, receive, send)
                return
        body = b""
        more = scope["method"] in ("POST", "PUT", "PATCH", "DELETE")
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while more:
            try:
                msg = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except TimeoutError:
                await JSONResponse({"detail": f"request body not received within {self.timeout_s:g} s",
                                    "errors": [{"field": "body", "message": f"sent within {self.timeout_s:g} s"}]},
                                   status_code=408, headers={"Connection": "close"})(scope, receive, send)
                return
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > self.max_bytes:
                await too_big(scope, receive, send)
                return
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _loc(loc: tuple | list) -> str:
    parts = [str(x) for x in loc if x not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for e in exc.errors():
        msg = str(e.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        out.append({"field": _loc(e.get("loc", ())), "message": msg, "type": str(e.get("type", ""))})
    return out


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
                                "base-uri 'none'; frame-ancestors 'none'"),
}


def _no_job(job_id: str) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": f"no job {job_id}"})


def _info_or_404(job: Any, job_id: str) -> Any:
    """A job's status, or 404 when the manager does not know the id."""
    return _no_job(job_id) if job is None else job.info()


def create_app(*, limits: dict[str, float] | None = None, jobs: JobManager | None = None,
               workers: SimulationWorkers | None = None,
               allowed_hosts: Iterable[str] = DEFAULT_ALLOWED_HOSTS) -> FastAPI:
    """Build the nadsim web app.

    Parameters
    ----------
    limits : overrides of :data:`nadsim.web.schemas.LIMITS` for the runtime limits (concurrency,
        time-outs, body size); the field bounds of the request models are fixed.
    jobs : a job manager to use (tests pass one with short time-outs).
    workers : the simulation worker processes to use (tests pass ones with other targets).
    allowed_hosts : names the ``Host`` header may carry (loopback by default; ``"*"``: any); a
        request for another host gets 400 (DNS rebinding).

    Notes
    -----
    Jobs run in processes started from a ``forkserver``; as with any :mod:`multiprocessing` code,
    a script that serves the app itself must guard its entry point with
    ``if __name__ == "__main__":`` (``nadsim serve`` does).
    """
    lim = {**LIMITS, **(limits or {})}
    runner = workers or SimulationWorkers(int(lim["max_concurrent_simulations"]), int(lim["max_queued_simulations"]),
                                          float(lim["simulation_timeout_s"]))
    caps = svc.capabilities()
    manager = jobs or JobManager(max_concurrent=int(lim["max_concurrent_jobs"]),
                                 max_stored=int(lim["max_stored_jobs"]), timeout_s=float(lim["job_timeout_s"]))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # the solver's machine code for the page's model, compiled once per machine (~30 s) or
        # loaded, before the first request: the 60 s limit of a request must not pay for it
        await asyncio.to_thread(svc.prepare_solver)
        if caps["trials"] or caps["claims"]:
            manager.start()
            manager.warm_up()  # the first job then starts in milliseconds, not after the library import
        runner.prestart()
        yield
        manager.shutdown()
        runner.shutdown()

    app = FastAPI(
        title="nadsim",
        version=__version__,
        description=("NAD+ precursor QSP simulator: dosing -> NAD+ metabolome -> mechanisms -> depression "
                     "score. " + svc.disclaimers()["en"]),
        lifespan=lifespan,
        docs_url=None,  # FastAPI's Swagger UI loads its assets from a CDN: /docs below serves them locally
        redoc_url=None,
    )
    app.state.jobs = manager
    app.state.runner = runner
    app.add_middleware(_BodyLimit, max_bytes=int(lim["max_request_bytes"]), timeout_s=float(lim["body_timeout_s"]))
    app.add_middleware(HostAllowList, allowed=tuple(allowed_hosts))  # outermost: before anything else runs

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(RequestValidationError)
    async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"field": "body", "message": "invalid request"}
        return JSONResponse(status_code=422, content={
            "detail": f"`{first['field']}`: {first['message']}", "errors": errors})

    @app.exception_handler(NadsimError)
    async def _on_nadsim(request: Request, exc: NadsimError) -> JSONResponse:
        body = exc.to_dict()
        body["field"] = svc.request_field(exc.field)
        return JSONResponse(status_code=422, content={"detail": f"`{body['field']}`: {exc}", "errors": [body]})

    @app.exception_handler(Busy)
    async def _on_busy(request: Request, exc: Busy) -> JSONResponse:
        return JSONResponse(status_code=503, headers={"Retry-After": "2"},
                            content={"detail": "too many simulations are running; retry shortly"})

    @app.exception_handler(WorkerDied)
    async def _on_worker_died(request: Request, exc: WorkerDied) -> JSONResponse:
        return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                            content={"detail": f"{exc}; a fresh worker is starting, retry shortly"})

    @app.exception_handler(TimeoutError)
    async def _on_timeout(request: Request, exc: TimeoutError) -> JSONResponse:
        return JSONResponse(status_code=504, content={
            "detail": f"the simulation ran past the {runner.timeout_s:g} s limit and was stopped; shorten until_h "
                      "or the regimen"})

    # ------------------------------------------------------------------ page and assets
    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Swagger UI from the swagger-ui-bundle package (no CDN); its start script is ours."""
        return HTMLResponse((STATIC / "docs.html").read_text(encoding="utf-8"))

    app.mount("/vendor/swagger-ui", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger-ui")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> FileResponse:
        import plotly

        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # ------------------------------------------------------------------ API
    @app.get("/api/health", tags=["meta"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/meta", tags=["meta"])
    async def meta() -> dict[str, Any]:

        model = app_verbs.base_model()
        desc = svc._descriptions(model)
        outputs = [{"name": n, "unit": model.unit_of(n), "description": desc.get(n, ""),
                    "group": svc._group_of(n, model)} for n in svc._variables(model, {r.name for r in model.rules})]
        return {
            "version": __version__,
            "model": model.name,
            "model_hash": model.hash(),
            "compounds": {k: {"form": c.form, "molar_mass_g_mol": c.molar_mass} for k, c in COMPOUNDS.items()},
            "routes": dict(ROUTES),
            "grades": dict(GRADES),
            "limits": lim,
            "outputs": outputs,
            "capabilities": caps,
            "defaults": SimulateRequest().model_dump(),
            "disclaimer": svc.disclaimers(),
        }

    @app.post("/api/simulate", tags=["simulate"])
    async def simulate(req: SimulateRequest) -> dict[str, Any]:
        """Simulate one regimen for one patient; series per output, summary and run metadata."""
        return await runner.run("simulate", req)

    @app.post("/api/simulate/csv", tags=["simulate"], response_class=PlainTextResponse,
              responses={200: {"content": {"text/csv": {}}}})
    async def simulate_csv(req: SimulateRequest) -> Response:
        result = await runner.run("simulate", req)
        return Response(svc.csv_text(result), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="nadsim-simulation.csv"',
                                 **svc.csv_headers(result)})

    @app.post("/api/simulate/report", tags=["simulate"], response_class=HTMLResponse)
    async def simulate_report(req: SimulateRequest, lang: Literal["en", "ja"] = "en") -> Response:
        text = await runner.run("report", req, lang)
        return Response(text, media_type="text/html; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="nadsim-report-{lang}.html"'})

    @app.get("/api/parameters", tags=["model"], response_model=list[ParameterOut])
    async def parameters(grade: Literal["A", "B", "C", "D", "E"] | None = None,
                         kind: Literal["measured", "derived", "fitted", "assumed"] | None = None,
                         q: Annotated[str | None, Query(max_length=64)] = None) -> list[dict[str, Any]]:
        """Every parameter with unit, bounds, provenance (kind, grade, source, locator, note)."""
        rows = svc.parameters_table()
        if grade:
            rows = [r for r in rows if r["grade"] == grade]
        if kind:
            rows = [r for r in rows if r["kind"] == kind]
        if q:
            ql = q.lower()
            rows = [r for r in rows if ql in r["name"].lower() or ql in r["note"].lower() or ql in r["source"].lower()]
        return rows

    if caps["evidence"]:
        @app.get("/api/evidence", tags=["evidence"])
        async def evidence() -> dict[str, Any]:
            """The evidence-graded causal links of the mechanism chain."""
            return svc.evidence_payload()

    if caps["claims"]:
        @app.get("/api/claims", tags=["evidence"])
        async def claims() -> dict[str, Any]:
            """The article's claims (both languages) with the model links and grade each rests on."""
            return await runner.run("claims_catalogue")

        @app.post("/api/claims/audit", tags=["evidence"], status_code=202, response_model=JobInfo,
                  responses={429: {"description": "too many jobs stored"}})
        async def start_audit(req: ClaimAuditRequest) -> Any:
            """Start the claim audit for a regimen and profile as a job; poll ``/api/jobs/{id}``."""
            return _submit("claims", req.model_dump())

    if caps["trials"]:
        @app.post("/api/trials", tags=["trials"], status_code=202, response_model=JobInfo,
                  responses={429: {"description": "too many jobs stored"}})
        async def start_trial(req: TrialRequest) -> Any:
            """Start a virtual trial (placebo vs the regimen) as a job; poll ``/api/jobs/{id}``."""
            return _submit("trial", req.model_dump())

    def _submit(kind: str, payload: dict[str, Any]) -> Any:
        try:
            job = manager.submit(kind, payload)
        except JobsFull as exc:
            return JSONResponse(status_code=429, headers={"Retry-After": "10"}, content={"detail": str(exc)})
        return job.info()

    @app.get("/api/jobs", tags=["jobs"], response_model=list[JobInfo])
    async def list_jobs() -> Any:
        """Every remembered job (trials, claim audits), oldest first."""
        return [j.info() for j in manager.list()]

    @app.get("/api/jobs/{job_id}", tags=["jobs"], response_model=JobInfo,
             responses={404: {"description": "no such job"}})
    async def job_status(job_id: JOB_ID) -> Any:
        """Status and progress (0-1) of a job."""
        return _info_or_404(manager.get(job_id), job_id)

    @app.delete("/api/jobs/{job_id}", tags=["jobs"], response_model=JobInfo,
                responses={404: {"description": "no such job"}})
    async def cancel_job(job_id: JOB_ID) -> Any:
        """Cancel a queued or running job (its process is terminated)."""
        return _info_or_404(manager.cancel(job_id), job_id)

    @app.get("/api/jobs/{job_id}/result", tags=["jobs"],
             responses={404: {"description": "no such job"}, 409: {"description": "job not finished"}})
    async def job_result(job_id: JOB_ID) -> Any:
        """The result of a finished job."""
        job = manager.get(job_id)
        if job is None:
            return _no_job(job_id)
        if job.status != "done":
            return JSONResponse(status_code=409, content={"detail": f"job is {job.status}", "job": job.info()})
        return {"job": job.info(), "result": job.result, "disclaimer": svc.disclaimers()}

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, with the 422 body the handlers above really write (issue #15: the
        published one was FastAPI's ``{"detail": [...]}``, which no 422 of this API matched)."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            comps = schema.setdefault("components", {}).setdefault("schemas", {})
            body = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
            comps.update(body.pop("$defs", {}))
            comps["HTTPValidationError"] = body
            comps.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
