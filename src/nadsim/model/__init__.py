"""Model definition layer: pure data, imports no solver."""

from nadsim.model._expr import Expr as Expr
from nadsim.model._expr import parse_expr as parse_expr
from nadsim.model._grading import GRADE_ORDER as GRADE_ORDER
from nadsim.model._grading import apply_evidence_filter as apply_evidence_filter
from nadsim.model._grading import check_grade as check_grade
from nadsim.model._grading import weakest as weakest
from nadsim.model._model import AssignmentRule as AssignmentRule
from nadsim.model._model import Compartment as Compartment
from nadsim.model._model import Link as Link
from nadsim.model._model import Model as Model
from nadsim.model._model import Reaction as Reaction
from nadsim.model._model import Species as Species
from nadsim.model._model import State as State
from nadsim.model._model import rxn as rxn
from nadsim.model._parameter import GRADES as GRADES
from nadsim.model._parameter import Parameter as Parameter
from nadsim.model._parameter import Provenance as Provenance
from nadsim.model._parameter import load_parameters as load_parameters

__all__ = [
    "GRADES",
    "GRADE_ORDER",
    "AssignmentRule",
    "Compartment",
    "Expr",
    "Link",
    "Model",
    "Parameter",
    "Provenance",
    "Reaction",
    "Species",
    "State",
    "apply_evidence_filter",
    "check_grade",
    "load_parameters",
    "parse_expr",
    "rxn",
    "weakest",
]
