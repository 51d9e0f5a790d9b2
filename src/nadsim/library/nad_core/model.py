"""The NAD+ metabolome of a reference adult (nad_core v1).

Structure only: every number lives in ``parameters.toml`` beside this file. The choices
behind each process, with their sources, are explained in ``docs/model.md``.

Compartments: plasma, erythrocytes (``rbc``), leukocytes (``wbc``, the PBMC fraction),
liver, skeletal muscle, brain, a lumped ``other`` tissue, the small-intestinal lumen (oral
doses), the colon (where what escapes absorption meets the microbiota), and the excreta (urine,
faeces).

Two slow processes set the blood-pool timing (issue #13): erythrocyte NAD+ turns over in days
(Berven: blood NAD+ plateaus after ~2 weeks and washes out with t1/2 ~6 d, while its metabolites
move faster), and precursor that escapes small-intestinal absorption reaches the colon after
the orocaecal transit time (1-2.5 h), where microbial nicotinamidase makes nicotinic acid that is
absorbed and enters NAD+ through the Preiss-Handler pathway (NAAD), later than the direct route. Concentrations are uM, amounts umol, time h, fluxes umol/h.

Every species carries one pyridine (nicotinamide/nicotinate) ring, so the moiety is
conserved by every reaction except the boundary fluxes: dietary intake and doses.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from nadsim.model import AssignmentRule, Compartment, Model, Reaction, Species, load_parameters, rxn

PARAMETERS = Path(__file__).with_name("parameters.toml")

#: solid tissues with a full salvage pathway: suffix -> (compartment, description)
TISSUES = {
    "l": ("liver", "liver"),
    "m": ("muscle", "skeletal muscle"),
    "b": ("brain", "brain"),
    "o": ("other", "other tissues (lumped rest of body)"),
}
BLOOD_CELLS = {"rbc": "erythrocytes", "wbc": "leukocytes (PBMC)"}
PLASMA_SPECIES = ("NMN", "NR", "NAM", "NA", "NAD", "MeNAM", "PY")
EXCRETED = ("NAM", "MeNAM", "PY", "NAD", "NMN", "NR", "NA")
GUT_SPECIES = ("NAD", "NMN", "NR", "NAM")
COLON_SPECIES = ("NR", "NAM", "NA")
#: compounds that can be dosed, and the species a dose enters
COMPOUNDS = ("NMN", "NR", "NAD", "NAM")


def _species() -> list[Species]:
    init = {"NAD": "NAD0_plasma", "NAM": "NAM0"}
    out = [Species(f"{x}_p", "plasma", initial=init.get(x), description=f"plasma {x}") for x in PLASMA_SPECIES]
    out += [Species("NAD_rbc", "rbc", initial="NAD0_rbc", description="erythrocyte NAD+"),
            Species("NAD_wbc", "wbc", initial="NAD0_wbc", description="leukocyte (PBMC) NAD+"),
            Species("NAAD_wbc", "wbc", description="leukocyte NAAD (repletion marker)")]
    for s, (comp, desc) in TISSUES.items():
        init = {"NAM": "NAM0", "NAD": f"NAD0_{s}"}
        out += [Species(f"{x}_{s}", comp, initial=init.get(x), description=f"{desc} {x}")
                for x in ("NR", "NMN", "NAM", "NAD")]
    out += [Species("NA_l", "liver", description="liver nicotinic acid"),
            Species("NAAD_l", "liver", description="liver NAAD"),
            Species("NAAD_m", "muscle", description="skeletal-muscle NAAD (biopsy marker of NR use)"),
            Species("MeNAM_m", "muscle", description="skeletal-muscle N1-methylnicotinamide")]
    out += [Species(f"{x}_g", "gut", description=f"small-intestinal lumen {x} (oral doses)") for x in GUT_SPECIES]
    out += [Species(f"{x}_c", "colon", description=f"colonic lumen {x} (unabsorbed oral dose)") for x in COLON_SPECIES]
    out += [Species(f"{x}_u", "urine", accumulates=True, description=f"cumulative urinary {x}") for x in EXCRETED]
    out += [Species("lost_f", "faeces", accumulates=True, description="cumulative unabsorbed oral dose")]
    return out


def _tissue_reactions(s: str, comp: str) -> list[Reaction]:
    V = f"V_{comp}"
    r = [
        rxn(f"NR_transport_{s}", {"NR_p": -1, f"NR_{s}": 1}, f"PS_NR_{s} * (NR_p - NR_{s})",
            "equilibrative nucleoside transport of NR (ENT1/2)", grade="C"),
        rxn(f"NAM_transport_{s}", {"NAM_p": -1, f"NAM_{s}": 1}, f"PS_NAM_{s} * (NAM_p - NAM_{s})",
            "passive, flow-limited nicotinamide exchange", grade="D"),
        rxn(f"NMN_uptake_{s}", {"NMN_p": -1, f"NMN_{s}": 1}, f"sw_Slc12a8 * PS_NMN_{s} * NMN_p",
            "direct NMN uptake (Slc12a8; debated, off by default)", grade="C"),
        rxn(f"NRK_{s}", {f"NR_{s}": -1, f"NMN_{s}": 1},
            f"{V} * Vmax_NRK_{s} * NR_{s} / (Km_NRK_NR + NR_{s})", "NR kinase (NMRK1/2)", grade="D"),
        rxn(f"NAMPT_{s}", {f"NAM_{s}": -1, f"NMN_{s}": 1},
            f"{V} * Vmax_NAMPT_{s} * NAM_{s} / (Km_NAMPT_app_{s} * (1 + NAD_{s} / Ki_NAMPT_NAD) + NAM_{s})",
            "NAMPT salvage, competitively feedback-inhibited by NAD+", grade="D"),
        rxn(f"NMNAT_{s}", {f"NMN_{s}": -1, f"NAD_{s}": 1},
            f"{V} * Vmax_NMNAT_{s} * NMN_{s} / (Km_NMNAT_NMN + NMN_{s})", "NMNAT1-3", grade="D"),
        rxn(f"NAD_consumption_{s}", {f"NAD_{s}": -1, f"NAM_{s}": 1}, f"{V} * k_cons_{s} * NAD_{s}",
            "NAD+ consumers (CD38, PARPs, sirtuins) releasing nicotinamide", grade="C"),
    ]
    return r


def _muscle_marker_reactions() -> list[Reaction]:
    """What a muscle biopsy sees rise after oral NR while NAD+ itself does not (Elhassan 2019):
    NAAD, made from the NR-derived nucleotide pool by deamidation (Trammell 2016: heavy-labelled
    NR labels NAAD as much as NAD+, and NA is not formed, so NMN -> NaMN -> NAAD -> NAD+), and
    the methylated clearance product MeNAM from muscle NNMT, which leaves to plasma."""
    return [
        rxn("NMN_deamidation_m", {"NMN_m": -1, "NAAD_m": 1}, "V_muscle * k_NMN_deamid * NMN_m",
            "NMN deamidation to NaMN and adenylation to NAAD (lumped; Trammell 2016)", grade="C"),
        rxn("NADS_m", {"NAAD_m": -1, "NAD_m": 1}, "V_muscle * k_NADS * NAAD_m",
            "NAD synthetase (first order far below its Km)", grade="D"),
        rxn("NNMT_m", {"NAM_m": -1, "MeNAM_m": 1}, "V_muscle * Vmax_NNMT_m * NAM_m / (Km_NNMT_NAM + NAM_m)",
            "skeletal-muscle nicotinamide N-methyltransferase", grade="D"),
        rxn("MeNAM_transport_m", {"MeNAM_m": -1, "MeNAM_p": 1}, "PS_NAM_m * (MeNAM_m - MeNAM_p)",
            "flow-limited MeNAM exchange with plasma (same permeability-surface product as NAM)", grade="D"),
    ]


def _blood_cell_reactions(c: str) -> list[Reaction]:
    V = f"V_{c}"
    out = [
        rxn(f"NAMPT_{c}", {"NAM_p": -1, f"NAD_{c}": 1},
            f"{V} * Vmax_NAMPT_{c} * NAM_p / (Km_NAMPT_app_{c} * (1 + NAD_{c} / Ki_NAMPT_NAD) + NAM_p)",
            "salvage of plasma nicotinamide (NAMPT + NMNAT lumped)", grade="D"),
        rxn(f"NRK_{c}", {"NR_p": -1, f"NAD_{c}": 1},
            f"{V} * Vmax_NRK_{c} * NR_p / (Km_NRK_NR + NR_p)",
            "NR uptake and phosphorylation (ENT + NRK + NMNAT lumped)", grade="D"),
        rxn(f"NAD_consumption_{c}", {f"NAD_{c}": -1, "NAM_p": 1}, f"{V} * k_cons_{c} * NAD_{c}",
            "NAD+ turnover, nicotinamide released to plasma", grade="C"),
    ]
    if c == "wbc":
        out += [
            # Trammell 2016: PBMC NAAD, undetectable before NR, is labelled from NR like NAD+ (the
            # NR-derived nucleotide is deamidated, NMN -> NaMN -> NAAD), and lags the NAD+ peak
            rxn("NR_deamidation_wbc", {"NR_p": -1, "NAAD_wbc": 1},
                f"f_NAAD_wbc * {V} * Vmax_NRK_{c} * NR_p / (Km_NRK_NR + NR_p)",
                "share of NR-derived NMN deamidated to NaMN and adenylated to NAAD", grade="C"),
            rxn("NAPRT_wbc", {"NA_p": -1, "NAAD_wbc": 1},
                "V_wbc * Vmax_NAPRT_wbc * NA_p / (Km_NAPRT_NA + NA_p)",
                "Preiss-Handler: NAPRT + NMNAT (NA -> NaMN -> NAAD)", grade="D"),
            rxn("NADS_wbc", {"NAAD_wbc": -1, "NAD_wbc": 1}, "V_wbc * k_NADS * NAAD_wbc",
                "NAD synthetase (first order far below its Km)", grade="D"),
        ]
    else:
        out.append(rxn("NAPRT_rbc", {"NA_p": -1, "NAD_rbc": 1},
                       "V_rbc * Vmax_NAPRT_rbc * NA_p / (Km_NAPRT_NA + NA_p)",
                       "Preiss-Handler pathway in erythrocytes (lumped)", grade="D"))
    return out


def _reactions() -> list[Reaction]:
    r: list[Reaction] = []
    # --- boundary fluxes: the only sources of the moiety
    r.append(rxn("diet", {"NAM_l": 1}, "R_diet",
                 "dietary niacin equivalents and de novo synthesis, entering the liver", boundary=True, grade="B"))
    for x in COMPOUNDS:
        r.append(rxn(f"infusion_{x}", {f"{x}_p": 1}, f"inf_{x}", f"intravenous infusion of {x}", boundary=True, grade="A"))
    # --- plasma
    r += [
        rxn("CD73_plasma", {"NMN_p": -1, "NR_p": 1},
            "V_plasma * Vmax_CD73 * NMN_p / (Km_CD73_NMN + NMN_p)", "ecto-5'-nucleotidase (CD73) NMN -> NR", grade="C"),
        rxn("PNP_plasma", {"NR_p": -1, "NAM_p": 1},
            "V_plasma * Vmax_PNP_p * NR_p / (Km_PNP_NR + NR_p)", "purine nucleoside phosphorylase NR -> NAM", grade="C"),
        rxn("ENPP_plasma", {"NAD_p": -1, "NMN_p": 1}, "V_plasma * k_ENPP * NAD_p",
            "ecto-pyrophosphatase (ENPP1) NAD+ -> NMN", grade="C"),
        rxn("CD38_plasma", {"NAD_p": -1, "NAM_p": 1},
            "V_plasma * Vmax_CD38_p * NAD_p / (Km_CD38_NAD + NAD_p)", "ecto-NADase (CD38) NAD+ -> ADPR + NAM", grade="C"),
        rxn("NAD_release", {"NAD_o": -1, "NAD_p": 1}, "V_other * k_NAD_release * NAD_o",
            "release of cellular NAD+ to plasma (lysis, connexin channels)", grade="C"),
        rxn("AOX", {"MeNAM_p": -1, "PY_p": 1}, "CL_AOX * MeNAM_p",
            "hepatic aldehyde oxidase, MeNAM -> 2PY/4PY", grade="B"),
    ]
    for x in EXCRETED:
        r.append(rxn(f"renal_{x}", {f"{x}_p": -1, f"{x}_u": 1}, f"CL_ren_{x} * {x}_p", f"urinary excretion of {x}", grade="B"))
    # --- tissues
    for s, (comp, _) in TISSUES.items():
        r += _tissue_reactions(s, comp)
    r += [
        rxn("PNP_l", {"NR_l": -1, "NAM_l": 1}, "V_liver * Vmax_PNP_l * NR_l / (Km_PNP_NR + NR_l)",
            "hepatic NR phosphorolysis (first pass)", grade="C"),
        rxn("NA_transport_l", {"NA_p": -1, "NA_l": 1}, "PS_NA_l * (NA_p - NA_l)", "hepatic nicotinic acid uptake", grade="D"),
        rxn("NAPRT_l", {"NA_l": -1, "NAAD_l": 1}, "V_liver * Vmax_NAPRT_l * NA_l / (Km_NAPRT_NA + NA_l)",
            "Preiss-Handler: NAPRT + NMNAT", grade="D"),
        rxn("NADS_l", {"NAAD_l": -1, "NAD_l": 1}, "V_liver * k_NADS * NAAD_l", "NAD synthetase", grade="D"),
        rxn("NNMT", {"NAM_l": -1, "MeNAM_p": 1}, "V_liver * Vmax_NNMT * NAM_l / (Km_NNMT_NAM + NAM_l)",
            "hepatic nicotinamide N-methyltransferase; MeNAM leaves to plasma", grade="B"),
    ]
    r += _muscle_marker_reactions()
    for c in BLOOD_CELLS:
        r += _blood_cell_reactions(c)
    # --- gut lumen (oral doses)
    r += [
        rxn("gut_NAD_hydrolysis", {"NAD_g": -1, "NMN_g": 1}, "V_gut * k_gut_NAD * NAD_g", "luminal NAD+ hydrolysis", grade="C"),
        rxn("gut_NMN_dephosphorylation", {"NMN_g": -1, "NR_g": 1}, "V_gut * k_gut_NMN * NMN_g",
            "luminal/brush-border NMN -> NR", grade="C"),
        rxn("gut_NMN_absorption", {"NMN_g": -1, "NMN_l": 1}, "sw_Slc12a8 * V_gut * ka_NMN * NMN_g",
            "intact NMN absorption (Slc12a8; debated, off by default)", grade="C"),
        rxn("gut_NR_absorption", {"NR_g": -1, "NR_l": 1}, "V_gut * ka_NR * NR_g", "NR absorption to the portal vein", grade="C"),
        rxn("gut_NR_hydrolysis", {"NR_g": -1, "NAM_g": 1}, "V_gut * k_gut_NR * NR_g", "NR -> NAM in gut lumen and wall", grade="C"),
        rxn("gut_NAM_absorption", {"NAM_g": -1, "NAM_l": 1}, "V_gut * ka_NAM * NAM_g", "NAM absorption", grade="B"),
        # what escapes absorption leaves the small intestine after the orocaecal transit time
        rxn("transit_NR", {"NR_g": -1, "NR_c": 1}, "V_gut * k_transit * NR_g", "orocaecal transit of NR", grade="B"),
        rxn("transit_NAM", {"NAM_g": -1, "NAM_c": 1}, "V_gut * k_transit * NAM_g", "orocaecal transit of NAM", grade="B"),
        rxn("colon_NR_hydrolysis", {"NR_c": -1, "NAM_c": 1}, "V_colon * k_gut_NR * NR_c",
            "microbial NR -> NAM in the colon", grade="C"),
        rxn("colon_deamidation", {"NAM_c": -1, "NA_c": 1}, "V_colon * k_deamid * NAM_c",
            "microbial nicotinamidase (PncA) NAM -> NA in the colon", grade="C"),
        rxn("colon_NAM_absorption", {"NAM_c": -1, "NAM_l": 1}, "V_colon * ka_colon * NAM_c",
            "colonic NAM absorption", grade="C"),
        rxn("colon_NA_absorption", {"NA_c": -1, "NA_l": 1}, "V_colon * ka_colon * NA_c",
            "colonic NA absorption to the portal vein", grade="C"),
        rxn("faecal_loss", {"NA_c": -1, "lost_f": 1}, "V_colon * k_faecal * NA_c", "unabsorbed remainder", grade="E"),
    ]
    return r


def _rules() -> list[AssignmentRule]:
    wb = "(NAD_rbc * V_rbc + NAD_wbc * V_wbc + NAD_p * V_plasma) / (V_rbc + V_wbc + V_plasma)"
    rules = [
        AssignmentRule("whole_blood_NAD", wb, "uM", "whole-blood NAD+ (what most trials measure)"),
        AssignmentRule("pbmc_NAD", "NAD_wbc", "uM", "PBMC NAD+"),
        AssignmentRule("pbmc_NAAD", "NAAD_wbc", "uM", "PBMC NAAD"),
        AssignmentRule("liver_NAD", "NAD_l", "uM", "liver NAD+"),
        AssignmentRule("muscle_NAD", "NAD_m", "uM", "skeletal-muscle NAD+"),
        AssignmentRule("muscle_NAAD", "NAAD_m", "uM", "skeletal-muscle NAAD"),
        AssignmentRule("muscle_MeNAM", "MeNAM_m", "uM", "skeletal-muscle N1-methylnicotinamide"),
        AssignmentRule("brain_NAD", "NAD_b", "uM", "brain NAD+"),
        AssignmentRule("brain_NAM", "NAM_b", "uM", "brain nicotinamide"),
    ]
    rules += [AssignmentRule(f"plasma_{x}", f"{x}_p", "uM", f"plasma {x}") for x in PLASMA_SPECIES]
    rules += [AssignmentRule(f"urine_{x}_rate", f"CL_ren_{x} * {x}_p", "umol/h", f"urinary excretion rate of {x}")
              for x in ("NAM", "MeNAM", "PY", "NAD")]
    return rules


OUTPUTS = (
    "whole_blood_NAD", "pbmc_NAD", "pbmc_NAAD", "plasma_NMN", "plasma_NR", "plasma_NAM", "plasma_NA",
    "plasma_NAD", "plasma_MeNAM", "plasma_PY", "liver_NAD", "muscle_NAD", "muscle_NAAD", "muscle_MeNAM",
    "brain_NAD", "brain_NAM",
    "urine_NAM_rate", "urine_MeNAM_rate", "urine_PY_rate", "urine_NAD_rate",
)

COMPARTMENTS = (
    Compartment("plasma", "V_plasma", "blood plasma"),
    Compartment("rbc", "V_rbc", "erythrocytes"),
    Compartment("wbc", "V_wbc", "leukocytes"),
    Compartment("liver", "V_liver", "liver"),
    Compartment("muscle", "V_muscle", "skeletal muscle"),
    Compartment("brain", "V_brain", "brain"),
    Compartment("other", "V_other", "other tissues, lumped"),
    Compartment("gut", "V_gut", "small-intestinal lumen (nominal volume: contents are amounts)"),
    Compartment("colon", "V_colon", "colonic lumen (nominal volume: contents are amounts)"),
    Compartment("urine", "V_urine", "collected urine (nominal volume: contents are amounts)"),
    Compartment("faeces", "V_faeces", "faeces (nominal volume)"),
)


def parts() -> dict:
    """The pieces of nad_core, for composing larger models."""
    return {
        "compartments": COMPARTMENTS,
        "species": tuple(_species()),
        "reactions": tuple(_reactions()),
        "rules": tuple(_rules()),
        "parameters": load_parameters(PARAMETERS),
        "dose_targets": {
            **{(x, "iv_bolus"): f"{x}_p" for x in COMPOUNDS},
            **{(x, "oral"): f"{x}_g" for x in COMPOUNDS},
        },
        "infusion_inputs": {(x, "iv"): f"inf_{x}" for x in COMPOUNDS},
        "outputs": OUTPUTS,
    }


@lru_cache(maxsize=1)
def build() -> Model:
    """Build and self-check the NAD+ metabolome model (cached; models are immutable)."""
    return Model(name="nad_core", description=__doc__ or "", **parts())
