"""Evidence: grades, the evidence filter, attribution of predictions to grades, and the claim audit."""

from nadsim.evidence._claims import CLAIMS_FILE as CLAIMS_FILE
from nadsim.evidence._claims import AuditResult as AuditResult
from nadsim.evidence._claims import Claim as Claim
from nadsim.evidence._claims import audit_claims as audit_claims
from nadsim.evidence._claims import audit_title as audit_title
from nadsim.evidence._claims import claims_head as claims_head
from nadsim.evidence._claims import load_claims as load_claims
from nadsim.evidence._claims import render_claims as render_claims
from nadsim.evidence._grades import CONTEXT_LINKS as CONTEXT_LINKS
from nadsim.evidence._grades import GRADE_ORDER as GRADE_ORDER
from nadsim.evidence._grades import Attribution as Attribution
from nadsim.evidence._grades import apply_evidence_filter as apply_evidence_filter
from nadsim.evidence._grades import attribute_by_grade as attribute_by_grade
from nadsim.evidence._grades import check_grade as check_grade

__all__ = [
    "CLAIMS_FILE",
    "CONTEXT_LINKS",
    "GRADE_ORDER",
    "Attribution",
    "AuditResult",
    "Claim",
    "apply_evidence_filter",
    "attribute_by_grade",
    "audit_claims",
    "audit_title",
    "check_grade",
    "claims_head",
    "load_claims",
    "render_claims",
]
