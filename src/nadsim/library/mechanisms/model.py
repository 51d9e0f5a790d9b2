"""Mechanism modules downstream of tissue NAD+ (issue #3), as parts to compose with nad_core.

Structure only: every number lives in ``parameters.toml`` beside this file; the causal chain,
its grades and the reasoning behind each choice are in ``docs/mechanisms.md``.

Four groups named by the article, each carried to HAM-D-17:

1. **Energy and neurotransmitters.** Brain NAD+/NADH (NADH held at its baseline), a mitochondrial
   ATP capacity that saturates in free NAD+, the tryptophan split between serotonin and the
   kynurenine pathway (IDO induced by inflammation; the pathway is also the de novo NAD+ route, a
   small gated boundary flux into liver NAAD), and a catecholamine index whose only biochemical
   route (BH4 regeneration by NADH-dependent QDPR) is graded E and off by default (``e_cat = 0``).
2. **SIRT1 and inflammation.** SIRT1 activity = NAD+ saturation with competitive nicotinamide
   inhibition (Km 29 uM, Ki 60 uM) on *free* NAD+; leukocyte SIRT1 damps NF-kB, which drives IL-6
   and TNF-alpha; IL-6 drives hepatic CRP (half-life 19 h). The IL-6 drive is set from the
   profile's CRP. HAM-D follows the *inflammatory tone* (IL-6, TNF-alpha and CRP together), with
   the pooled anti-inflammatory SMD applied at the CRP of the trials' own patients and a CRP
   modifier that can turn the benefit into harm at low CRP (Raison 2013).
3. **Sirtuins and stress.** Cortisol (half-life 93 min) with a clock-driven diurnal drive and a
   chronic stressor whose effect SIRT1 may buffer; stress load integrates cortisol over days.
4. **Clock and sleep.** A Stuart-Landau limit cycle (intrinsic period 24.2 h) in polar form:
   amplitude ``clk_amp`` relaxes to sqrt(mu), with mu set by SIRT1; phase ``clk_phase`` is kept
   relative to the light cycle and obeys the Adler equation (light enters through its first
   harmonic, coupling ~1/amplitude), so it is constant when entrained and drifts by 2 pi per
   ~24.2*24/0.2 h when free-running. The oscillating output is ``clock_BMAL1 = amp*cos(angle)``.
   CLOCK/BMAL1 swings brain NAMPT (a small, gated, moiety-balanced extra NAMPT flux), so NAD+
   cycles daily; sleep quality follows amplitude and phase alignment.

Every causal step is a :class:`~nadsim.model.Link` with a 0/1 gate parameter. Gates multiply the
*deviation from baseline* of their step, so switching a gate off never moves the baseline.
"""

from __future__ import annotations

from pathlib import Path

from nadsim.model import (
    AssignmentRule,
    Link,
    Parameter,
    Provenance,
    Reaction,
    State,
    load_parameters,
    rxn,
)

PARAMETERS = Path(__file__).with_name("parameters.toml")

# (name, source, target, grade, citations, English, Japanese)
_LINKS: tuple[tuple[str, str, str, str, tuple[str, ...], str, str], ...] = (
    ("nad_sirt1", "NAD+ (brain, leukocytes)", "SIRT1 activity", "D",
     ("doi:10.1021/bi049592e", "kinetics.csv SIRT1 Km (Bockwoldt 2019 Table S2)"),
     "SIRT1 activity rises and saturates with free NAD+ (Km 29 uM)",
     "遊離NAD+の増加でSIRT1活性が上がり、飽和する(Km 29 µM)"),
    ("nam_sirt1", "nicotinamide", "SIRT1 activity", "D",
     ("doi:10.1021/bi049592e", "kinetics.csv SIRT1 KiP"),
     "nicotinamide released from NAD+ inhibits SIRT1 (Ki 60 uM)",
     "NAD+から生じるニコチンアミドがSIRT1を阻害する(Ki 60 µM)"),
    ("sirt1_nfkb", "SIRT1 activity (leukocytes)", "NF-kB activity", "D",
     ("doi:10.1038/sj.emboj.7600244",),
     "SIRT1 deacetylates RelA/p65 and damps NF-kB transcription (cell lines)",
     "SIRT1がRelA/p65を脱アセチル化しNF-κBの転写を弱める(培養細胞)"),
    ("nfkb_il6", "NF-kB activity", "IL-6 and TNF-alpha", "D",
     ("doi:10.1128/MCB.10.5.2327",),
     "NF-kB drives IL-6 (and TNF-alpha) gene expression",
     "NF-κBがIL-6(およびTNF-α)遺伝子の発現を促す"),
    ("il6_crp", "IL-6", "CRP", "B",
     ("PMID:7554393", "kinetics.csv IL-6 -> CRP timing after cytokine administration"),
     "IL-6 drives hepatic CRP synthesis; CRP is cleared with a ~19 h half-life",
     "IL-6が肝臓のCRP産生を促し、CRPは半減期約19時間で消失する"),
    ("crp_hamd", "inflammatory tone (IL-6, TNF-alpha, CRP)", "HAM-D", "A",
     ("PMID:25322082", "PMID:30834514", "PMID:22945416"),
     "lowering inflammatory tone eases depressive symptoms, more so the higher baseline CRP; at low CRP it may worsen them (anti-inflammatory RCTs)",
     "炎症の程度を下げると抑うつ症状が和らぐ。ベースラインのCRPが高いほど効果が大きく、CRPが低いと悪化しうる(抗炎症薬のRCT)"),
    ("il6_ido", "IL-6 (inflammatory tone)", "IDO / kynurenine", "B",
     ("doi:10.1038/s41380-020-00951-9",),
     "inflammation shifts tryptophan from serotonin to the kynurenine pathway (KYN/TRP up in MDD)",
     "炎症でトリプトファンがセロトニン経路からキヌレニン経路へ振り向けられる(うつ病でKYN/TRP比が上昇)"),
    ("kyn_hamd", "tryptophan available for serotonin", "HAM-D", "B",
     ("doi:10.1101/2022.06.13.22276359", "doi:10.1016/j.neubiorev.2018.03.023"),
     "lower tryptophan for serotonin synthesis goes with more depressive symptoms (observational)",
     "セロトニン合成に回るトリプトファンの減少は抑うつ症状の増加と関連する(観察研究)"),
    ("kyn_denovo", "kynurenine pathway flux", "de novo NAD+ (liver)", "D",
     ("kinetics.csv: ~95% of tryptophan catabolism via the kynurenine pathway",),
     "extra kynurenine-pathway flux adds de novo NAD+ supply (small feedback into the metabolome)",
     "キヌレニン経路の流量増加がde novo NAD+合成を少し増やす(代謝モデルへの小さなフィードバック)"),
    ("nad_atp", "brain NAD+", "mitochondrial ATP capacity", "D",
     ("doi:10.1126/science.aad5168",),
     "free NAD+ limits NAD+-dependent dehydrogenases feeding oxidative phosphorylation",
     "遊離NAD+が酸化的リン酸化に電子を送る脱水素酵素の律速になりうる"),
    ("atp_hamd", "brain ATP capacity", "HAM-D", "E",
     (),
     "better brain energy supply eases fatigue and low mood (hypothesis; no human trial)",
     "脳のエネルギー供給改善が疲労感や気分低下を和らげる(仮説、ヒト試験なし)"),
    ("nad_cat", "brain NAD+/NADH", "catecholamine synthesis", "E",
     (),
     "NAD(H) cofactor regeneration (BH4 via NADH-dependent QDPR) supports dopamine synthesis; NAD+ itself is not a cofactor",
     "補酵素再生(NADH依存のQDPRによるBH4再生)がドーパミン合成を支える。NAD+自体は補酵素ではない"),
    ("cat_hamd", "catecholamine synthesis", "HAM-D", "E",
     (),
     "more catecholamine synthesis eases depressive symptoms (monoamine hypothesis, weight assumed)",
     "カテコールアミン合成の増加が抑うつ症状を和らげる(モノアミン仮説、重みは仮定)"),
    ("sirt1_clock", "SIRT1 activity (brain)", "clock amplitude", "C",
     ("doi:10.1016/j.cell.2008.07.002", "doi:10.1016/j.cell.2008.06.050", "doi:10.1016/j.cell.2013.05.027"),
     "SIRT1 deacetylates BMAL1/PER2 and sustains clock amplitude (mice)",
     "SIRT1がBMAL1/PER2を脱アセチル化し時計の振幅を保つ(マウス)"),
    ("clock_nampt", "CLOCK/BMAL1", "NAMPT (brain NAD+ salvage)", "C",
     ("doi:10.1126/science.1171641", "doi:10.1126/science.1170803"),
     "CLOCK/BMAL1 drives NAMPT, so NAD+ cycles daily (mice); small feedback into the metabolome",
     "CLOCK/BMAL1がNAMPTを駆動しNAD+が日内変動する(マウス)。代謝モデルへの小さなフィードバック"),
    ("clock_sleep", "clock amplitude and phase", "sleep quality", "B",
     ("doi:10.1126/science.284.5423.2177",),
     "a weak or misaligned circadian rhythm degrades sleep (human observational/experimental)",
     "概日リズムが弱い、またはずれていると睡眠の質が下がる(ヒト観察・実験研究)"),
    ("sleep_hamd", "sleep quality", "HAM-D", "B",
     ("PMID:21300408", "doi:10.1186/s12888-016-1075-3"),
     "poor sleep goes with more depression (insomnia OR 2.1-2.6 for later depression)",
     "睡眠不良は抑うつの増加と関連する(不眠による後のうつ病のOR 2.1-2.6)"),
    ("sirt1_hpa", "SIRT1 activity (brain)", "cortisol (HPA axis)", "C",
     ("doi:10.1016/j.cell.2011.10.054", "doi:10.1038/nature14659"),
     "SIRT1 modulates the stress response (mice, sign disputed); SIRT1 locus associated with MDD",
     "SIRT1がストレス応答を調節する(マウス、方向は議論あり)。SIRT1遺伝子座はうつ病と関連"),
    ("stress_hamd", "stress load (cortisol)", "HAM-D", "B",
     ("doi:10.1097/PSY.0b013e31820ad12b",),
     "HPA-axis hyperactivity goes with depression (observational meta-analysis)",
     "HPA軸の過活動はうつ病と関連する(観察研究のメタ解析)"),
    ("placebo_hamd", "expectancy and study visits (any arm)", "HAM-D", "A",
     ("PMID:27726982", "doi:10.1136/bmj-2021-067606", "PMID:18303940",
      "kinetics.csv Posternak & Zimmerman visit effect"),
     "any treatment arm, placebo drips included, improves with expectancy and visits by a number of points that does not grow with severity",
     "プラセボ点滴を含むどの治療群でも、期待と通院で改善する。改善点数は重症度とともに増えない"),
    ("course_hamd", "time in care", "HAM-D", "B",
     ("PMC3509755",),
     "depressive symptoms partly remit by natural course (wait-list controls improve ~4 HAM-D points)",
     "抑うつ症状は自然経過でも一部改善する(待機群で約4点の改善)"),
)

LINKS: tuple[Link, ...] = tuple(
    Link(name=n, source=s, target=tg, grade=g, gate=f"g_{n}", citations=c, description=en, description_ja=ja)
    for n, s, tg, g, c, en, ja in _LINKS
)


def _gate_parameters() -> dict[str, Parameter]:
    """One dimensionless 0/1 gate per link, on by default; its grade is the link's grade."""
    out = {}
    for ln in LINKS:
        out[ln.gate] = Parameter(
            name=ln.gate, value=1.0, unit="dimensionless", bounds=(0.0, 1.0),
            provenance=Provenance(kind="assumed", grade=ln.grade, source="; ".join(ln.citations),
                                  note=f"gate of link {ln.name}: 1 active, 0 no effect"),
            tags=("gate",),
        )
    return out


#: the clock's angle: clock time turned into radians plus the phase state
ANGLE = "2 * pi * (t + t_clock0) / T_day + clk_phase"


def _rules() -> list[AssignmentRule]:
    g = "g_"
    return [
        # --- SIRT1 (brain: clock, HPA, energy; leukocytes: NF-kB)
        AssignmentRule("NADfree_b", f"f_free_NAD * (NADref_b + {g}nad_sirt1 * (NAD_b - NADref_b))", "uM",
                       "free brain NAD+ seen by SIRT1"),
        AssignmentRule("NAMeff_b", f"NAMref_b + {g}nam_sirt1 * (NAM_b - NAMref_b)", "uM"),
        AssignmentRule("SIRT1_activity",
                       "NADfree_b / (Km_SIRT1_NAD * (1 + NAMeff_b / Ki_SIRT1_NAM) + NADfree_b)", "",
                       "brain SIRT1 activity, fraction of Vmax"),
        AssignmentRule("NADfree_wbc", f"f_free_NAD * (NADref_wbc + {g}nad_sirt1 * (NAD_wbc - NADref_wbc))", "uM"),
        AssignmentRule("NAMeff_p", f"NAMref_p + {g}nam_sirt1 * (NAM_p - NAMref_p)", "uM"),
        AssignmentRule("SIRT1_immune",
                       "NADfree_wbc / (Km_SIRT1_NAD * (1 + NAMeff_p / Ki_SIRT1_NAM) + NADfree_wbc)", "",
                       "leukocyte SIRT1 activity, fraction of Vmax"),
        AssignmentRule("NFkB_activity",
                       f"max(1 - {g}sirt1_nfkb * e_NFkB_SIRT1 * (SIRT1_immune / SIRT1_ref_imm - 1), 0.05)", "",
                       "NF-kB transcriptional activity relative to baseline"),
        AssignmentRule("IL6_drive", f"IL6_0 * (1 + {g}nfkb_il6 * (NFkB_activity - 1))", "pg/mL",
                       "IL-6 level that production sustains"),
        # TNF-alpha is an NF-kB target with a short plasma life: an algebraic index, 1 at baseline
        AssignmentRule("TNF_index", f"1 + {g}nfkb_il6 * (NFkB_activity ** e_TNF_NFkB - 1)", "",
                       "plasma TNF-alpha relative to the profile's baseline"),
        # --- tryptophan split and energy
        AssignmentRule("IDO_activity",
                       f"IDO0 * (1 + {g}il6_ido * ((IL6_pl / IL6_0) ** n_IDO_IL6 - 1))", "",
                       "IDO activity relative to a healthy reference"),
        AssignmentRule("KP_flux", "f_TDO + (1 - f_TDO) * IDO_activity", "",
                       "kynurenine-pathway flux relative to a healthy reference"),
        AssignmentRule("kynurenine", "KYN_ref * KP_flux", "uM", "plasma kynurenine"),
        AssignmentRule("tryptophan", "TRP_ref / KP_flux", "uM", "plasma tryptophan"),
        AssignmentRule("serotonin_index", "1 / KP_flux", "",
                       "serotonin synthesis (TPH2 unsaturated in tryptophan) relative to healthy"),
        AssignmentRule("brain_redox", "NAD_b / NADH0_b", "", "brain NAD+/NADH (NADH at baseline)"),
        AssignmentRule("ATP_capacity",
                       f"1 + {g}nad_atp * (f_free_NAD * NAD_b / (K_ATP_NAD + f_free_NAD * NAD_b) / ATP_raw_ref - 1)", "",
                       "brain mitochondrial ATP capacity relative to baseline"),
        AssignmentRule("catecholamine_index", f"1 + {g}nad_cat * e_cat * (brain_redox / redox_ref_b - 1)", "",
                       "catecholamine synthesis relative to baseline"),
        # --- clock and sleep
        AssignmentRule("clock_amplitude", "clk_amp", "", "amplitude of the CLOCK/BMAL1 oscillator"),
        AssignmentRule("clock_BMAL1", f"clk_amp * cos({ANGLE})", "",
                       "CLOCK/BMAL1 transcriptional output (oscillates with a 24 h period when entrained)"),
        AssignmentRule("clock_mu", f"A0_age ** 2 * (1 + {g}sirt1_clock * e_clock_SIRT1 * (SIRT1_activity / SIRT1_ref_b - 1))", "",
                       "target squared amplitude, set by SIRT1"),
        AssignmentRule("phase_alignment", "cos(clk_phase - psi_ref)", "",
                       "cosine of the clock's phase error against its baseline entrained phase"),
        AssignmentRule("sleep_quality",
                       f"min(max(SQ0 + {g}clock_sleep * (w_sleep_amp * (clk_amp / A0_age - 1)"
                       " + w_sleep_align * (phase_alignment - 1)), 0), 1)", "",
                       "sleep quality index (0-1; 1 - PSQI/21 at baseline)"),
        # --- HPA axis
        AssignmentRule("cortisol_drive",
                       f"C_mean * (1 + a_cort_circ * clk_amp / A0_age * cos({ANGLE} - phi_cort))"
                       f" * (1 + stress_level * (1 - {g}sirt1_hpa * e_HPA_SIRT1 * (SIRT1_activity / SIRT1_ref_b - 1)))",
                       "uM", "cortisol level that production sustains"),
        # --- reported levels (outputs are rules; the states carry the dynamics)
        AssignmentRule("IL6", "IL6_pl", "pg/mL", "plasma IL-6"),
        AssignmentRule("CRP", "CRP_pl", "mg/L", "plasma C-reactive protein"),
        AssignmentRule("cortisol", "cortisol_pl", "uM", "plasma cortisol"),
        AssignmentRule("stress_load", "stress_acc", "", "cortisol exposure over days, relative to a healthy mean"),
        # --- depression endpoint: contributions in HAM-D points (positive = improvement)
        # inflammatory tone: a weighted mean of ln IL-6, ln TNF-alpha and ln CRP relative to baseline,
        # so the benefit is not carried by CRP alone (the agents behind SMD_antiinfl target TNF, IL-6, COX)
        AssignmentRule("inflammatory_tone_drop",
                       "w_tone_IL6 * log(IL6_0 / IL6_pl) - w_tone_TNF * log(TNF_index) + w_tone_CRP * log(CRP0 / CRP_pl)",
                       "", "fall of ln inflammatory tone from baseline (positive = less inflammation)"),
        AssignmentRule("HAMD_inflammation", f"{g}crp_hamd * beta_infl * m_CRP * inflammatory_tone_drop", "dimensionless"),
        AssignmentRule("HAMD_kynurenine", f"{g}kyn_hamd * beta_kyn * log(KP0 / KP_flux)", "dimensionless"),
        AssignmentRule("HAMD_energy", f"{g}atp_hamd * beta_atp * (ATP_capacity - 1)", "dimensionless"),
        AssignmentRule("HAMD_catecholamine", f"{g}cat_hamd * beta_cat * (catecholamine_index - 1)", "dimensionless"),
        AssignmentRule("HAMD_stress", f"{g}stress_hamd * beta_stress * (S_ref - stress_acc)", "dimensionless"),
        AssignmentRule("HAMD_sleep", f"{g}sleep_hamd * beta_sleep * (sleep_quality - SQ0)", "dimensionless"),
        AssignmentRule("mood_target",
                       "HAMD_inflammation + HAMD_kynurenine + HAMD_energy + HAMD_catecholamine + HAMD_stress + HAMD_sleep",
                       "dimensionless", "mechanism-driven HAM-D improvement the pathways currently support"),
        AssignmentRule("trial_time", "trial_on * max(t - t_trial_start, 0 * T_day)", "h", "time since treatment start"),
        # placebo-arm improvement in points: it falls (never grows) with baseline severity (Kirsch 2008)
        AssignmentRule("HAMD_course", f"{g}course_hamd * nat_course * (1 - exp(-trial_time / tau_nat))", "dimensionless",
                       "improvement by natural course"),
        AssignmentRule("HAMD_placebo",
                       f"{g}placebo_hamd * pbo_specific * (1 - exp(-trial_time / tau_pbo))", "dimensionless",
                       "improvement by expectancy and visits (any arm)"),
        AssignmentRule("HAMD", "min(max(HAMD0 - HAMD_course - HAMD_placebo - mood, 0), 52)", "dimensionless",
                       "HAM-D-17 total (research model, not medical advice)"),
        AssignmentRule("PHQ9", "min(PHQ9_per_HAMD * HAMD, 27)", "dimensionless", "PHQ-9 equivalent of HAM-D (population-level map)"),
    ]


def _states() -> list[State]:
    return [
        State("clk_amp", "", "gamma_clock * clk_amp * (1 - clk_amp ** 2 / clock_mu)", "A0_age",
              "clock amplitude (polar form of a Stuart-Landau limit cycle)"),
        State("clk_phase", "", "omega_clock - Omega_day - K_light * A0_age / clk_amp * sin(clk_phase - psi_light)",
              "psi_ref", "clock phase relative to the light cycle (rad); constant when entrained"),
        State("IL6_pl", "pg/mL", "k_IL6 * (IL6_drive - IL6_pl)", "IL6_0", "plasma IL-6"),
        State("CRP_pl", "mg/L", "k_CRP * (CRP0 * (1 + g_il6_crp * (IL6_pl / IL6_0 - 1)) ** n_CRP_IL6 - CRP_pl)", "CRP0",
              "plasma C-reactive protein (hepatic synthesis driven by IL-6)"),
        State("cortisol_pl", "uM", "k_cort * (cortisol_drive - cortisol_pl)", "C_mean * S_ref", "plasma cortisol"),
        State("stress_acc", "", "(cortisol_pl / C_mean - stress_acc) / tau_stress", "S_ref",
              "cortisol exposure over days, relative to a healthy mean"),
        State("mood", "dimensionless", "(mood_target - mood) / tau_mood", "0 * HAMD0",
              "HAM-D improvement carried by the mechanisms (lags the pathway signals)"),
    ]


def _reactions(nampt_brain_rate: str) -> list[Reaction]:
    return [
        rxn("NAMPT_clock_b", {"NAM_b": -1, "NMN_b": 1},
            f"g_clock_nampt * A_NAMPT_clock * clk_amp / A0_age * cos({ANGLE}) * {nampt_brain_rate}",
            "CLOCK/BMAL1-driven daily swing of brain NAMPT (+/- A_NAMPT_clock of its flux; net flux never negative)",
            grade="C"),
        # The change enters where the baseline de novo supply does (the lumped dietary input to
        # liver nicotinamide): a fall in kynurenine flux then lowers that input instead of
        # drawing hepatic NAAD below zero.
        rxn("KP_denovo", {"NAM_l": 1}, "g_kyn_denovo * f_denovo * R_diet * (KP_flux / KP0 - 1)",
            "change of de novo NAD+ synthesis from tryptophan with kynurenine-pathway flux (0 at baseline)",
            boundary=True, grade="D"),
    ]


OUTPUTS = (
    "SIRT1_activity", "SIRT1_immune", "NFkB_activity", "IL6", "TNF_index", "CRP", "inflammatory_tone_drop", "kynurenine", "tryptophan",
    "serotonin_index", "catecholamine_index", "brain_redox", "ATP_capacity", "clock_amplitude",
    "clock_BMAL1", "phase_alignment", "sleep_quality", "cortisol", "stress_load", "HAMD", "PHQ9",
)

#: profile parameters set by apply_profile; never sampled as uncertain
PROFILE_PARAMETERS = ("CRP0", "HAMD0", "age", "PSQI0", "trial_on", "t_trial_start", "t_clock0")


def parts(nampt_brain_rate: str) -> dict:
    """The mechanism pieces; ``nampt_brain_rate`` is nad_core's brain NAMPT rate expression."""
    params = load_parameters(PARAMETERS)
    params.update(_gate_parameters())
    return {
        "species": (),
        "states": tuple(_states()),
        "reactions": tuple(_reactions(nampt_brain_rate)),
        "rules": tuple(_rules()),
        "parameters": params,
        "links": LINKS,
        "outputs": OUTPUTS,
    }
