/* nadsim web page: regimen builder, patient profile, charts, evidence, claims, parameters, trials.
 * Plain JavaScript, no build step, no CDN: Plotly is served by the app from the plotly package.
 * Every label comes from /static/i18n/{en,ja}.json; switching the language re-renders everything.
 */
"use strict";

const S = {
  lang: "en",
  dict: {},
  dicts: {},
  meta: null,
  request: null,
  result: null,
  params: null,
  evidence: null,
  claims: null,
  audit: null,
  status: null,
  trialResult: null,
};

const GRADE_COLORS = { A: "#1a7f37", B: "#2f81f7", C: "#bf8700", D: "#d4622b", E: "#8c959f" };
const PALETTE = ["#1f6feb", "#d4622b", "#1a7f37", "#8250df", "#bf3989", "#0a8a8a", "#9a6700", "#57606a"];
const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => Array.from(document.querySelectorAll(sel));

/* ------------------------------------------------------------------ i18n */
function t(key, vars) {
  let s = S.dict[key];
  if (s === undefined) s = (S.dicts.en || {})[key];
  if (s === undefined) return key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, v);
  return s;
}

function label(name, description) {
  const key = `var.${name}`;
  if (S.dict[key] !== undefined) return S.dict[key];
  if ((S.dicts.en || {})[key] !== undefined) return S.dicts.en[key];
  return description || name.replaceAll("_", " ");
}

async function loadDict(lang) {
  if (!S.dicts[lang]) {
    const r = await fetch(`/static/i18n/${lang}.json`);
    S.dicts[lang] = await r.json();
  }
  return S.dicts[lang];
}

async function setLang(lang) {
  S.dict = await loadDict(lang);
  S.lang = lang;
  try { localStorage.setItem("nadsim.lang", lang); } catch (e) { /* private mode */ }
  document.documentElement.lang = lang;
  for (const el of $$("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of $$("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  $("#lang-toggle").setAttribute("lang", lang === "en" ? "ja" : "en");
  document.title = `nadsim — ${t("app.subtitle")}`;
  if (S.meta) {
    $("#disclaimer-text").textContent = S.meta.disclaimer[lang];
    $("#about-disclaimer").textContent = S.meta.disclaimer[lang];
    $("#footer-version").textContent = t("footer.version", { version: S.meta.version });
  }
  renderProfileNote();
  if (S.status) setStatus("", S.status.isError, S.status.key, S.status.extra);
  if (S.result) { renderCharts(); renderSummary(); renderIntervals(); }
  if (S.params) renderParams();
  if (S.evidence) renderEvidence();
  if (S.claims) renderClaims();
  for (const kind of Object.keys(JOBS)) renderJob(kind);
  if (S.trialResult) renderTrialResult();
}

/* ------------------------------------------------------------------ helpers */
function fmt(x, digits = 4) {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  if (typeof x !== "number") return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toLocaleString(S.lang === "ja" ? "ja-JP" : "en-US");
}

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function pct(x) {
  return x === null || x === undefined ? "—" : (x >= 0 ? "+" : "") + x.toFixed(1) + "%";
}

function unit(u) {
  return u === "dimensionless" ? "" : (u || "");
}

function badge(grade) {
  return `<span class="badge g-${esc(grade)}" title="${esc(t("grade." + grade))}">${esc(grade)}</span>`;
}

function sourceLink(src) {
  const s = String(src || "");
  const out = [];
  for (const part of s.split(/[;,]\s*/)) {
    const p = part.trim();
    if (!p) continue;
    let m;
    if ((m = p.match(/^(?:doi:)?\s*(10\.\d{4,9}\/\S+)$/i))) out.push(`<a href="https://doi.org/${esc(m[1])}" target="_blank" rel="noopener noreferrer">${esc(p)}</a>`);
    else if ((m = p.match(/^PMID:?\s*(\d+)$/i))) out.push(`<a href="https://pubmed.ncbi.nlm.nih.gov/${esc(m[1])}/" target="_blank" rel="noopener noreferrer">${esc(p)}</a>`);
    else if ((m = p.match(/^(PMC\d+)$/i))) out.push(`<a href="https://www.ncbi.nlm.nih.gov/pmc/articles/${esc(m[1])}/" target="_blank" rel="noopener noreferrer">${esc(p)}</a>`);
    else out.push(esc(p));
  }
  return out.join("; ");
}

function setStatus(text, isError = false, key = null, extra = "") {
  S.status = key ? { key, extra, isError } : null;
  if (key) text = `${t(key)}${extra ? " " + extra : ""}`;
  const el = $("#status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

async function api(path, options = {}) {
  const r = await fetch(path, options);
  if (!r.ok) {
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    const err = new Error(body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : `HTTP ${r.status}`);
    err.status = r.status;
    err.body = body;
    throw err;
  }
  return r;
}

/* ------------------------------------------------------------------ form */
function num(id) {
  const v = $(id).value;
  return v === "" ? null : Number(v);
}

function buildRequest() {
  const route = $("#route").value;
  const regimen = {
    compound: $("#compound").value,
    route,
    dose_mg: num("#dose"),
    doses: Math.round(num("#doses") || 1),
  };
  if (regimen.doses > 1) regimen.every_h = num("#every");
  if (route === "iv") {
    if ($("#inf-mode-duration").checked) regimen.infusion_min = num("#infusion-min");
    else { regimen.infusion_volume_mL = num("#inf-volume"); regimen.infusion_rate_mL_min = num("#inf-rate"); }
  }
  return {
    regimen,
    profile: {
      age_y: num("#age"), weight_kg: num("#weight"), crp_mg_L: num("#crp"), hamd: num("#hamd"), psqi: num("#psqi"),
    },
    until_h: num("#until"),
    min_grade: $("#min-grade").value,
    uncertainty: { samples: Math.round(num("#samples") || 0), seed: 0, level: 0.9 },  // 5-95 % band
    intervals: { draws: Math.round(num("#interval-draws") || 0), seed: 0 },  // 90 % prediction intervals
    trial_context: $("#trial-context").checked,
  };
}

function syncForm() {
  const iv = $("#route").value === "iv";
  $("#infusion-box").hidden = !iv;
  const byDuration = $("#inf-mode-duration").checked;
  $("#inf-duration-row").hidden = !byDuration;
  $("#inf-volume-row").hidden = byDuration;
  $("#every").disabled = Math.round(num("#doses") || 1) <= 1;
}

function markInvalid(errors) {
  for (const el of $$("#sim-form input, #sim-form select")) el.removeAttribute("aria-invalid");
  for (const e of errors || []) {
    const leaf = String(e.field || "").split(".").pop();
    const el = document.querySelector(`#sim-form [name="${CSS.escape(leaf)}"]`);
    if (el) el.setAttribute("aria-invalid", "true");
  }
}

function renderProfileNote() {
  const note = $("#profile-note");
  if (!S.result) {
    note.textContent = S.meta && !S.meta.capabilities.profile ? t("profile.unused") : "";
    return;
  }
  const used = S.result.metadata.applied.profile;
  note.textContent = used.length ? `${t("profile.used")} ${used.map((k) => t("profile.key." + k)).join(", ")}` : t("profile.unused");
}

async function runSimulation(ev) {
  if (ev) ev.preventDefault();
  const req = buildRequest();
  const btn = $("#run");
  btn.disabled = true;
  btn.textContent = t("action.running");
  setStatus(t("action.running"));
  markInvalid([]);
  try {
    const r = await api("/api/simulate", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req),
    });
    S.result = await r.json();
    S.request = req;
    renderCharts();
    renderSummary();
    renderIntervals();
    renderProfileNote();
    $("#csv").disabled = false;
    $("#report").disabled = false;
    setStatus("", false, "status.done", S.result.regimen);
    document.body.dataset.simulated = "1";
  } catch (err) {
    markInvalid(err.body && err.body.errors);
    setStatus(`${t("status.error")}: ${err.message}`, true);
  } finally {
    btn.disabled = false;
    btn.textContent = t("action.run");
  }
}

async function download(path, filename, okKey) {
  if (!S.request) return;
  try {
    const r = await api(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(S.request),
    });
    const blob = await r.blob();
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    setStatus("", false, okKey);
  } catch (err) {
    setStatus(`${t("status.error")}: ${err.message}`, true);
  }
}

/* ------------------------------------------------------------------ charts */
const PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

function baseLayout(yTitle) {
  return {
    margin: { l: 62, r: 14, t: 10, b: 40 },
    font: { family: getComputedStyle(document.documentElement).fontFamily, size: 12, color: "#1b2733" },
    xaxis: { title: { text: t("chart.time"), standoff: 8 }, automargin: true, gridcolor: "#eef1f4", zeroline: false },
    yaxis: { title: { text: yTitle, standoff: 8 }, automargin: true, gridcolor: "#eef1f4", zeroline: false },
    // the legend sits at the bottom of the figure, below the axis title, in as many rows as it
    // needs (withLegend sets the margin): at 390 px a legend inside the plot hid the axis title
    legend: { orientation: "h", yref: "container", yanchor: "bottom", y: 0, x: 0, font: { size: 11 } },
    hovermode: "x unified",
    paper_bgcolor: "#fff",
    plot_bgcolor: "#fff",
    shapes: doseShapes(),
  };
}

function withLegend(layout, data) {
  const shown = data.filter((d) => d.showlegend !== false).length;
  const perRow = window.innerWidth < 600 ? 2 : 4;
  layout.margin.b = 24 + 22 * Math.ceil(shown / perRow);  // axis title: automargin adds its room
  return layout;
}

function doseShapes() {
  if (!S.result) return [];
  return S.result.doses.map((d) => ({
    type: d.end_h > d.time_h ? "rect" : "line", xref: "x", yref: "paper",
    x0: d.time_h, x1: Math.max(d.end_h, d.time_h), y0: 0, y1: 1,
    fillcolor: "rgba(31,111,235,0.08)", line: { width: d.end_h > d.time_h ? 0 : 1, color: "rgba(31,111,235,0.45)", dash: "dot" },
    layer: "below",
  }));
}

function hexA(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

function traces(names, transform, yUnitsInName, bands = true) {
  const out = [];
  const x = S.result.time_h;
  names.forEach((n, i) => {
    const s = S.result.series[n];
    const color = PALETTE[i % PALETTE.length];
    const tr = transform(s);
    const name = label(n, s.description) + (yUnitsInName && unit(s.unit) ? ` (${unit(s.unit)})` : "");
    if (bands && s.lower && s.upper) {
      out.push({ x, y: tr(s.lower), type: "scatter", mode: "lines", line: { width: 0 }, hoverinfo: "skip", showlegend: false, legendgroup: n });
      out.push({ x, y: tr(s.upper), type: "scatter", mode: "lines", line: { width: 0 }, fill: "tonexty",
                 fillcolor: hexA(color, 0.18), name: `${name} · ${t("chart.band")}`, hoverinfo: "skip", showlegend: false, legendgroup: n });
    }
    if (bands && s.interval) {
      // the 90 % prediction interval: dashed edges, so it reads apart from the mechanism band
      const edge = { color: hexA(color, 0.7), width: 1, dash: "dash" };
      out.push({ x, y: tr(s.interval.lower), type: "scatter", mode: "lines", line: edge, hoverinfo: "skip", showlegend: false, legendgroup: n,
                 name: `${name} · ${t("chart.interval")}` });
      out.push({ x, y: tr(s.interval.upper), type: "scatter", mode: "lines", line: edge, fill: "tonexty",
                 fillcolor: hexA(color, 0.10), name: `${name} · ${t("chart.interval")}`, hoverinfo: "skip", showlegend: false, legendgroup: n });
    }
    out.push({ x, y: tr(s.values), type: "scatter", mode: "lines", name, line: { color, width: 2 }, legendgroup: n,
               hovertemplate: `%{y:.4g} ${esc(unit(s.unit))}<extra>${esc(label(n, s.description))}</extra>` });
  });
  return out;
}

function clearEmpty(id) {
  const el = document.getElementById(id);
  const p = el.querySelector(".empty");
  if (p) p.remove();
  return el;
}

function showEmpty(id, key) {
  const el = document.getElementById(id);
  if (window.Plotly) Plotly.purge(el);
  el.innerHTML = `<p class="empty" data-i18n="${key}">${esc(t(key))}</p>`;
}

function renderCharts() {
  if (!S.result || !window.Plotly) return;
  const series = S.result.series;
  const group = (g) => Object.keys(series).filter((n) => series[n].group === g);
  const pct = document.querySelector('input[name="nad_scale"]:checked').value === "pct";

  const nad = group("nad");
  // % change from the same patient simulated without dosing at the same times (not from t = 0,
  // which would count the daily rhythm as a response)
  const toPct = (s) => (arr) => arr.map((v, i) => (v === null || !s.undosed[i] ? null : 100 * (v - s.undosed[i]) / s.undosed[i]));
  const ident = () => (arr) => arr.slice(); // new arrays: Plotly.react skips recalculation on same references
  // bands only on the absolute scale (a draw's own baseline differs from the nominal one)
  const nadTraces = traces(nad, pct ? toPct : ident, !pct, !pct);
  Plotly.react(clearEmpty("chart-nad"), nadTraces,
               withLegend(baseLayout(pct ? t("chart.pct") : `${t("chart.conc")} (uM)`), nadTraces), PLOT_CONFIG);

  const markers = group("markers");
  const mk = baseLayout(`${t("chart.conc")} (uM)`);
  mk.yaxis.type = "log";
  // log axis from 1e-3 of the largest value: solver round-off near zero (1e-60 uM) would swamp it
  let top = 0;
  for (const n of markers) for (const v of series[n].values) if (v > top) top = v;
  if (top > 0) { mk.yaxis.range = [Math.log10(top) - 3.5, Math.log10(top) + 0.2]; mk.yaxis.dtick = 1; mk.yaxis.exponentformat = "power"; }
  const mkTraces = traces(markers, ident, false);
  Plotly.react(clearEmpty("chart-markers"), mkTraces, withLegend(mk, mkTraces), PLOT_CONFIG);

  const hamd = group("hamd");
  if (hamd.length) {
    const lay = baseLayout(t("chart.hamd"));
    // at least +-3 points around the course, so that small modelled changes are not blown up
    const iv = (n) => (series[n].interval ? [...series[n].interval.lower, ...series[n].interval.upper] : []);
    const vals = hamd.flatMap((n) => [...series[n].values, ...(series[n].lower || []), ...(series[n].upper || []), ...iv(n)]).filter((v) => v !== null);
    const lo = Math.min(...vals), hi = Math.max(...vals), mid = (lo + hi) / 2, half = Math.max((hi - lo) / 2 + 0.5, 3);
    lay.yaxis.range = [Math.max(0, mid - half), Math.min(52, mid + half)];
    const hTraces = traces(hamd, ident, false);
    Plotly.react(clearEmpty("chart-hamd"), hTraces, withLegend(lay, hTraces), PLOT_CONFIG);
  } else {
    showEmpty("chart-hamd", "chart.hamd.missing");
  }
  const mech = group("mechanisms").filter((n) => series[n].key); // the rest are in the CSV
  $("#mech-card").hidden = mech.length === 0;
  if (mech.length) {
    const toRel = (s) => (arr) => arr.map((v) => (v === null || !s.values[0] ? v : v / s.values[0]));
    const lay = baseLayout(`${t("chart.value")} / ${t("summary.baseline")}`);
    // no bands here: each parameter draw has its own baseline, so a band of value / nominal
    // baseline would show the spread of levels, not of the response
    const mTraces = traces(mech, toRel, false, false);
    Plotly.react(document.getElementById("chart-mechanisms"), mTraces, withLegend(lay, mTraces), PLOT_CONFIG);
  }
}

function renderSummary() {
  const rows = S.result.summary;
  const head = `<tr><th>${esc(t("summary.output"))}</th><th>${esc(t("summary.unit"))}</th><th class="num">${esc(t("summary.baseline"))}</th>
    <th class="num">${esc(t("summary.change"))}</th><th class="num">${esc(t("summary.tpeak"))}</th>
    <th class="num">${esc(t("summary.endchange"))}</th><th class="num">${esc(t("summary.auc"))}</th></tr>`;
  const body = rows.map((r) => `<tr><td>${esc(label(r.variable, S.result.series[r.variable] && S.result.series[r.variable].description))}</td><td>${esc(unit(r.unit))}</td>
    <td class="num">${fmt(r.baseline)}</td><td class="num">${fmt(r.largest_change)} (${pct(r.largest_change_pct)})</td>
    <td class="num">${fmt(r.time_of_largest_change_h, 3)}</td><td class="num">${fmt(r.end_change)} (${pct(r.end_change_pct)})</td>
    <td class="num">${fmt(r.auc_change)} ${esc(r.auc_unit)}</td></tr>`).join("");
  $("#summary").innerHTML = head + body;
  const m = S.result.metadata;
  $("#run-meta").textContent = t("run.meta", { model: m.model, points: m.n_points, secs: m.compute_s.toFixed(2) });
  // in a trial context the reference run is the placebo arm (nadsim.app.simulate_regimen)
  $("#summary-note").textContent = t(m.applied.trial_context ? "summary.reference.trial" : "summary.reference");
}

function renderIntervals() {
  const iv = S.result && S.result.metadata.intervals;
  $("#intervals-card").hidden = !iv;
  if (!iv) return;
  const head = `<tr><th>${esc(t("summary.output"))}</th><th>${esc(t("summary.unit"))}</th><th class="num">${esc(t("intervals.median"))}</th>
    <th class="num">${esc(t("intervals.range"))}</th><th class="num">${esc(t("intervals.change"))}</th>
    <th class="num">${esc(t("intervals.change_range"))}</th></tr>`;
  const signed = (x) => (x === null || x === undefined ? "–" : (x > 0 ? "+" : "") + fmt(x));
  const body = iv.rows.map((r) => `<tr><td>${esc(label(r.variable, S.result.series[r.variable] && S.result.series[r.variable].description))}</td>
    <td>${esc(unit(r.unit))}</td><td class="num">${fmt(r.median)}</td><td class="num">${fmt(r.lower)} – ${fmt(r.upper)}</td>
    <td class="num">${signed(r.change_median)}</td><td class="num">${signed(r.change_lower)} – ${signed(r.change_upper)}</td></tr>`).join("");
  $("#intervals").innerHTML = head + body;
  const source = iv.source === "posterior" ? t("intervals.source.posterior") : t("intervals.source.prior");
  $("#intervals-meta").textContent = t("intervals.meta", { time: fmt(iv.time_h), draws: iv.draws, source, failed: iv.failed_draws });
}

/* ------------------------------------------------------------------ parameters */
async function loadParams() {
  if (S.params) return;
  const r = await api("/api/parameters");
  S.params = await r.json();
  renderParams();
}

function renderParams() {
  const q = $("#params-q").value.trim().toLowerCase();
  const g = $("#params-grade").value;
  const k = $("#params-kind").value;
  const rows = S.params.filter((p) => (!g || p.grade === g) && (!k || p.kind === k) &&
    (!q || p.name.toLowerCase().includes(q) || (p.note || "").toLowerCase().includes(q) || (p.source || "").toLowerCase().includes(q)));
  const head = `<tr><th>${esc(t("params.name"))}</th><th class="num">${esc(t("params.value"))}</th><th>${esc(t("params.unit"))}</th>
    <th class="num">${esc(t("params.bounds"))}</th><th>${esc(t("params.kind"))}</th><th>${esc(t("params.grade"))}</th>
    <th>${esc(t("params.source"))}</th><th>${esc(t("params.note"))}</th></tr>`;
  const body = rows.map((p) => `<tr><td><code>${esc(p.name)}</code></td><td class="num">${fmt(p.value)}</td><td>${esc(p.unit)}</td>
    <td class="num">${fmt(p.bounds[0], 3)} – ${fmt(p.bounds[1], 3)}</td><td>${esc(t("kind." + p.kind))}</td><td>${badge(p.grade)}</td>
    <td>${sourceLink(p.source)}${p.locator ? `<br><span class="muted">${esc(p.locator)}</span>` : ""}</td>
    <td>${esc(p.expr ? `= ${p.expr}` : "")}${p.expr && p.note ? "<br>" : ""}${esc(p.note)}</td></tr>`).join("");
  $("#params-table").innerHTML = head + body;
  $("#params-count").textContent = t("params.count", { n: rows.length });
}

/* ------------------------------------------------------------------ evidence */
function renderLegend() {
  $("#grade-legend").innerHTML = Object.keys(GRADE_COLORS).map((g) =>
    `<span><span class="swatch" style="background:${GRADE_COLORS[g]}"></span>${esc(t("grade." + g))}</span>`).join("");
}

async function loadEvidence() {
  renderLegend();
  if (!S.meta.capabilities.evidence) { $("#evidence-missing").hidden = false; $("#evidence-chart").hidden = true; return; }
  if (!S.evidence) S.evidence = await (await api("/api/evidence")).json();
  renderEvidence();
}

function nodeLabel(n) {
  const key = `node.${n}`;
  return S.dict[key] !== undefined ? S.dict[key] : n;
}

function renderEvidence() {
  renderLegend();
  const links = S.evidence.links || [];
  const nodes = [];
  const idx = (n) => { let i = nodes.indexOf(n); if (i < 0) { nodes.push(n); i = nodes.length - 1; } return i; };
  const src = [], dst = [], colors = [], custom = [];
  for (const l of links) {
    src.push(idx(l.source)); dst.push(idx(l.target));
    colors.push(hexA(GRADE_COLORS[l.grade] || "#8c959f", l.active === false ? 0.15 : 0.55));
    custom.push(`${l.grade} · ${S.lang === "ja" && l.description_ja ? l.description_ja : (l.description || l.name)}`);
  }
  const el = document.getElementById("evidence-chart");
  el.hidden = false;
  if (window.Plotly && links.length) {
    Plotly.react(el, [{
      type: "sankey", arrangement: "snap",
      node: { label: nodes.map(nodeLabel), pad: 18, thickness: 14, color: "#c9d6e3", line: { width: 0 } },
      link: { source: src, target: dst, value: links.map(() => 1), color: colors, customdata: custom,
              hovertemplate: "%{source.label} → %{target.label}<br>%{customdata}<extra></extra>" },
    }], { margin: { l: 10, r: 10, t: 10, b: 10 }, font: { size: 12 } }, PLOT_CONFIG);
  }
  const head = `<tr><th>${esc(t("evidence.source"))}</th><th>${esc(t("evidence.target"))}</th><th>${esc(t("evidence.grade"))}</th>
    <th>${esc(t("evidence.description"))}</th><th>${esc(t("evidence.citations"))}</th></tr>`;
  const body = links.map((l) => `<tr><td>${esc(nodeLabel(l.source))}</td><td>${esc(nodeLabel(l.target))}</td><td>${badge(l.grade)}</td>
    <td>${esc(S.lang === "ja" && l.description_ja ? l.description_ja : l.description)}</td>
    <td>${(l.citations || []).map(sourceLink).join("; ")}</td></tr>`).join("");
  $("#evidence-table").innerHTML = head + body;
}

/* ------------------------------------------------------------------ claims */
async function loadClaims() {
  if (!S.meta.capabilities.claims) { $("#claims-missing").hidden = false; $("#audit-box").hidden = true; return; }
  if (!S.claims) S.claims = await (await api("/api/claims")).json();
  renderClaims();
}

const VERDICT_COLORS = { supported: "#1a7f37", plausible: "#bf8700", small: "#57606a", opposite: "#c0392b",
                         consistent: "#1a7f37", inconsistent: "#c0392b" };

function renderClaims() {
  const ja = S.lang === "ja";
  if (S.audit) {
    const rows = S.audit[S.lang].claims;
    const head = `<tr><th>${esc(t("claims.claim"))}</th><th>${esc(t("claims.grade"))}</th><th>${esc(t("claims.verdict"))}</th>
      <th>${esc(t("claims.check"))}</th><th>${esc(t("claims.basis"))}</th></tr>`;
    const body = rows.map((c) => `<tr><td><strong>${esc(c.claim)}</strong></td><td>${badge(c.grade)}</td>
      <td><span class="verdict" style="border-color:${VERDICT_COLORS[c.verdict_class] || "#57606a"};color:${VERDICT_COLORS[c.verdict_class] || "#57606a"}">${esc(t("verdict." + c.verdict_class))}</span>
      <div class="muted">${esc(c.verdict)}</div>${c.safety ? `<div class="safety">${esc(t("claims.safety"))}: ${esc(c.safety)}</div>` : ""}</td>
      <td>${esc(c.check)}</td><td>${esc(c.basis)}</td></tr>`).join("");
    $("#claims-table").innerHTML = head + body;
    return;
  }
  const rows = (S.claims && S.claims.claims) || [];
  const head = `<tr><th>${esc(t("claims.claim"))}</th><th>${esc(t("claims.grade"))}</th><th>${esc(t("claims.verdict"))}</th>
    <th>${esc(t("claims.links"))}</th><th>${esc(t("claims.basis"))}</th></tr>`;
  const body = rows.map((c) => `<tr><td><strong>${esc(ja ? c.text_ja : c.text)}</strong></td><td>${badge(c.grade)}</td>
    <td class="muted">${esc(t("claims.notrun"))}</td><td>${c.links.map((l) => `<code>${esc(l)}</code>`).join(" ") || "—"}</td>
    <td>${esc(ja ? c.basis_ja : c.basis)}</td></tr>`).join("");
  $("#claims-table").innerHTML = head + body;
}

/* ------------------------------------------------------------------ jobs (trials, audits) */
const JOBS = {
  trial: { prefix: "trial", job: null, timer: null, onDone: (res) => { S.trialResult = res; renderTrialResult(); } },
  claims: { prefix: "audit", job: null, timer: null, onDone: (res) => { S.audit = res.result; renderClaims(); } },
};

function renderJob(kind) {
  const j = JOBS[kind];
  if (!j.job) return;
  const job = j.job;
  $(`#${j.prefix}-status`).textContent = t(`trials.status.${job.status}`);
  $(`#${j.prefix}-progress`).value = job.progress;
  $(`#${j.prefix}-message`).textContent = job.error ? job.error.message : (job.status === "running" ? job.message : "");
  $(`#${j.prefix}-cancel`).disabled = !["queued", "running"].includes(job.status);
  $(`#${j.prefix}-start`).disabled = ["queued", "running"].includes(job.status);
}

async function startJob(kind, path, body) {
  const j = JOBS[kind];
  try {
    const r = await api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    j.job = await r.json();
    renderJob(kind);
    pollJob(kind);
  } catch (err) {
    $(`#${j.prefix}-message`).textContent = `${t("status.error")}: ${err.message}`;
  }
}

function pollJob(kind) {
  const j = JOBS[kind];
  clearTimeout(j.timer);
  j.timer = setTimeout(async () => {
    try {
      j.job = await (await api(`/api/jobs/${j.job.id}`)).json();
      renderJob(kind);
      if (["queued", "running"].includes(j.job.status)) pollJob(kind);
      else if (j.job.status === "done") j.onDone(await (await api(`/api/jobs/${j.job.id}/result`)).json());
    } catch (err) {
      $(`#${j.prefix}-message`).textContent = `${t("status.error")}: ${err.message}`;
    }
  }, 500);
}

async function cancelJob(kind) {
  const j = JOBS[kind];
  if (!j.job) return;
  j.job = await (await api(`/api/jobs/${j.job.id}`, { method: "DELETE" })).json();
  renderJob(kind);
}

function startAudit() {
  const sim = buildRequest();
  S.audit = null;
  startJob("claims", "/api/claims/audit", { regimen: sim.regimen, profile: sim.profile, min_grade: sim.min_grade,
    until_h: num("#audit-until"), samples: Math.round(num("#audit-samples") || 0) });
}

/* ------------------------------------------------------------------ trials */
function initTrials() {
  if (!S.meta.capabilities.trials) { $("#trials-box").hidden = true; $("#trials-missing").hidden = false; }
}

function startTrial() {
  const sim = buildRequest();
  const regimen = { ...sim.regimen };
  if (!regimen.every_h) regimen.every_h = 24;
  S.trialResult = null;
  $("#trial-table").innerHTML = "";
  startJob("trial", "/api/trials", { regimen, profile: sim.profile, n_per_arm: num("#trial-n"), weeks: num("#trial-weeks"),
                                     seed: num("#trial-seed") || 0 });
}

function renderTrialResult() {
  const res = (S.trialResult && S.trialResult.result) || {};
  const order = ["hamd_change", "response", "remission", "nad_change", "crp_change"];
  const rank = (e) => (order.includes(e) ? order.indexOf(e) : order.length);
  const rows = (res.table || []).slice().sort((a, b) => rank(a.endpoint) - rank(b.endpoint) || (a.arm === "placebo" ? -1 : 1));
  if (rows.length) {
    const cols = Object.keys(rows[0]);
    const cell = (c, v) => {
      if (c === "endpoint") return esc(t("trials.ep." + v) === "trials.ep." + v ? v : t("trials.ep." + v));
      if (c === "arm") return esc(t("trials.arm." + v) === "trials.arm." + v ? v : t("trials.arm." + v));
      if (c === "unit") return esc(unit(v));
      return esc(typeof v === "number" ? fmt(v) : (v ?? "—"));
    };
    $("#trial-table").innerHTML = `<tr>${cols.map((c) => `<th class="${c === "endpoint" || c === "arm" || c === "unit" ? "" : "num"}">${esc(t("trials.col." + c))}</th>`).join("")}</tr>` +
      rows.map((r) => `<tr>${cols.map((c) => `<td class="${typeof r[c] === "number" ? "num" : ""}">${cell(c, r[c])}</td>`).join("")}</tr>`).join("");
  }
  const curves = res.curves || null;
  if (curves && window.Plotly) {
    const tr = Object.entries(curves.arms || {}).map(([arm, c], i) => ({
      x: curves.time_weeks, y: c.mean, name: t("trials.arm." + arm) === "trials.arm." + arm ? arm : t("trials.arm." + arm),
    type: "scatter", mode: "lines+markers",
      line: { color: PALETTE[i % PALETTE.length] },
      error_y: c.sd ? { type: "data", array: c.sd, visible: true, thickness: 1 } : undefined,
    }));
    const lay = baseLayout(label(curves.variable || "HAMD"));
    lay.shapes = [];
    lay.xaxis.title.text = t("trials.week");
    lay.xaxis.dtick = 1;
    Plotly.react(document.getElementById("trial-chart"), tr, withLegend(lay, tr), PLOT_CONFIG);
  }
}

/* ------------------------------------------------------------------ tabs and start */
function showTab(name, focus = false) {
  for (const b of $$(".tab")) {
    const on = b.dataset.tab === name;
    b.classList.toggle("active", on);
    b.setAttribute("aria-selected", on ? "true" : "false");
    b.tabIndex = on ? 0 : -1;
    if (on && focus) b.focus();
  }
  for (const p of $$(".panel")) {
    const on = p.id === `panel-${name}`;
    p.classList.toggle("active", on);
    p.hidden = !on;
  }
  const loaders = { parameters: loadParams, evidence: loadEvidence, claims: loadClaims };
  if (loaders[name]) loaders[name]().catch((err) => setStatus(`${t("status.error")}: ${err.message}`, true));
  if (name === "results" && S.result) renderCharts();
}

function preset() {
  $("#compound").value = "NMN";
  $("#route").value = "iv";
  $("#dose").value = 300;
  $("#inf-mode-volume").checked = true;
  $("#inf-volume").value = 100;
  $("#inf-rate").value = 5;
  $("#doses").value = 1;
  $("#until").value = 72;
  syncForm();
}

async function main() {
  let lang = "en";
  try { lang = localStorage.getItem("nadsim.lang") || (navigator.language || "en").slice(0, 2); } catch (e) { /* ignore */ }
  if (!["en", "ja"].includes(lang)) lang = "en";
  await loadDict("en");
  S.meta = await (await api("/api/meta")).json();
  // the default patient is the API's (the model's own covariates, as `nadsim simulate` uses them)
  const p = S.meta.defaults.profile;
  for (const [id, key] of [["#age", "age_y"], ["#weight", "weight_kg"], ["#crp", "crp_mg_L"], ["#hamd", "hamd"], ["#psqi", "psqi"]]) {
    $(id).value = p[key];
  }
  $("#samples").max = S.meta.limits.max_samples;
  if (!S.meta.capabilities.uncertainty) { $("#samples").disabled = true; $("#samples-note").hidden = false; $("#samples-hint").hidden = true; }
  initTrials();
  await setLang(lang);

  $("#lang-toggle").addEventListener("click", () => setLang(S.lang === "en" ? "ja" : "en"));
  for (const b of $$(".tab")) b.addEventListener("click", () => showTab(b.dataset.tab));
  // WAI-ARIA tabs: arrow keys, Home and End move between tabs
  $(".tabs").addEventListener("keydown", (ev) => {
    const tabs = $$(".tab");
    const i = tabs.findIndex((b) => b.getAttribute("aria-selected") === "true");
    const j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
    if (j === undefined) return;
    ev.preventDefault();
    showTab(tabs[(j + tabs.length) % tabs.length].dataset.tab, true);
  });
  $("#sim-form").addEventListener("submit", runSimulation);
  for (const el of $$("#sim-form input, #sim-form select")) el.addEventListener("input", syncForm);
  $("#preset").addEventListener("click", preset);
  $("#csv").addEventListener("click", () => download("/api/simulate/csv", "nadsim-simulation.csv", "status.csv"));
  $("#report").addEventListener("click", () => download(`/api/simulate/report?lang=${S.lang}`, `nadsim-report-${S.lang}.html`, "status.report"));
  for (const r of $$('input[name="nad_scale"]')) r.addEventListener("change", renderCharts);
  for (const id of ["#params-q", "#params-grade", "#params-kind"]) $(id).addEventListener("input", () => S.params && renderParams());
  $("#trial-start").addEventListener("click", startTrial);
  $("#trial-cancel").addEventListener("click", () => cancelJob("trial"));
  $("#audit-start").addEventListener("click", startAudit);
  $("#audit-cancel").addEventListener("click", () => cancelJob("claims"));
  syncForm();
  setStatus("", false, "status.ready");
  document.body.dataset.ready = "1";
  // open on the article's regimen (the form's defaults), already simulated: a chart without a click
  await runSimulation();
}

document.addEventListener("DOMContentLoaded", () => {
  main().catch((err) => setStatus(`Error: ${err.message}`, true));
});
