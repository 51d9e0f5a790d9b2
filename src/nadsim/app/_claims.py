"""The claim verbs: the article's claims as the model reads them, and their audit for one
patient and regimen (``nadsim claims`` and the web page's claim audit)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nadsim.dosing import Regimen
from nadsim.evidence import AuditResult, Claim, load_claims
from nadsim.evidence import audit_claims as _audit
from nadsim.library import get_model

__all__ = ["AuditRequest", "audit_claims", "claim_catalogue"]


@dataclass(frozen=True)
class AuditRequest:
    """One audit (every field parsed into canonical units; ``None``: the audit's default)."""

    regimen: Regimen | None = None
    until_h: float | None = None
    #: covariates as :func:`nadsim.library.get_model` takes them (:func:`patient_profile`)
    profile: Mapping[str, float] = field(default_factory=dict)
    evidence: str | None = None
    samples: int = 4
    seed: int = 0
    workers: int | None = None


def audit_claims(request: AuditRequest) -> AuditResult:
    """Check every claim under the request's regimen and profile (:func:`nadsim.evidence.audit_claims`)."""
    return _audit(regimen=request.regimen, until_h=request.until_h, profile=dict(request.profile),
                  evidence=request.evidence, n_samples=request.samples, seed=request.seed, workers=request.workers)


def claim_catalogue(model: str = "full") -> tuple[Claim, ...]:
    """The claims table, checked against the model ``model`` (its links and outputs)."""
    return load_claims(model=get_model(model))
