"""Property-based API fuzzing with Schemathesis against the published OpenAPI schema.

Every operation is called with generated requests, valid and invalid; no response may be a
server error (5xx). Bounded for CI: a handful of examples per operation, deterministic
(Hypothesis ``derandomize``), so the whole module runs in well under 2 minutes. The trial job
target is replaced by a 1 s sleep so that fuzzing tests the HTTP layer, not trial compute.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from nadsim.web import create_app
from nadsim.web._guard import DEFAULT_ALLOWED_HOSTS
from nadsim.web.jobs import JobManager

_jobs = JobManager(max_concurrent=1, max_stored=8, timeout_s=5.0,
                   targets={"trial": "nadsim.web._service:sleep_job", "claims": "nadsim.web._service:sleep_job"})
_app = create_app(jobs=_jobs, allowed_hosts=(*DEFAULT_ALLOWED_HOSTS, "testserver"))
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)
# Positive and negative (schema-violating) requests; the exhaustive boundary "coverage" phase is
# left out because every valid simulate request at the 8-week limit costs seconds of solver time.
schema.config.phases.update(phases=["examples", "fuzzing"])
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True)


@pytest.fixture(scope="module", autouse=True)
def _stop_jobs():
    yield
    _jobs.shutdown()


@schema.parametrize()
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_no_server_errors(case):
    response = case.call(timeout=120)
    # every documented response (422 included: issue #15) matches its published schema
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
