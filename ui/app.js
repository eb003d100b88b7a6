// Wardwatch's web front end. It only displays: every decision is made by the
// backend (wardwatch-core) behind Tauri commands. Errors arrive as
// { code, message }; the UI branches on `code`, never on the message text.
"use strict";

const invoke = (cmd, args) => window.__TAURI__.core.invoke(cmd, args);

const CLASS_LABELS = {
  beta_blocker: "β-blocker",
  anticoagulant: "anticoagulant",
  antiarrhythmic: "antiarrhythmic",
  insulin: "insulin",
};

let patients = [];
let selected = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function showError(err) {
  const box = document.getElementById("error");
  const code = err && err.code ? err.code : "internal";
  const message = err && err.message ? err.message : String(err);
  const advice = {
    permission_denied: "Ask an administrator for access.",
    not_found: "The record may have been removed or merged.",
    storage: "The local store could not be read. Restart Wardwatch; if it persists, call IT.",
  }[code] || "";
  box.replaceChildren(el("strong", {}, message), advice ? el("div", {}, advice) : null);
  box.dataset.code = code;
  box.hidden = false;
}

function matches(p, q) {
  if (!q) return true;
  const hay = [p.name, p.mrn, p.bed, p.ward, ...p.conditions].join(" ").toLowerCase();
  return hay.includes(q.toLowerCase());
}

function renderBeds() {
  const q = document.getElementById("filter").value.trim();
  const shown = patients.filter((p) => matches(p, q));
  const beds = document.getElementById("beds");
  document.getElementById("count").textContent =
    `${shown.length} of ${patients.length} patients`;
  if (patients.length === 0) {
    beds.replaceChildren(el("div", { class: "empty" },
      "No patients yet. An administrator imports the registry with ",
      el("code", {}, "wardwatchctl import patients FILE"), "."));
    return;
  }
  beds.replaceChildren(...shown.map((p) => {
    const tags = [];
    if (p.spo2_scale === "2") tags.push(el("span", { class: "tag scale2" }, "SpO2 scale 2"));
    for (const c of p.medication_classes) tags.push(el("span", { class: `tag ${c}` }, CLASS_LABELS[c] || c));
    return el("button", {
      class: "bed" + (selected === p.mrn ? " selected" : ""),
      role: "listitem",
      "data-mrn": p.mrn,
      onclick: () => openPatient(p.mrn),
    },
      el("div", { class: "head" },
        el("span", { class: "num" }, `${p.ward || ""} · bed ${p.bed || "–"}`),
        el("span", { class: "num" }, p.mrn)),
      el("div", { class: "name" }, p.name),
      el("div", { class: "meta" }, `${p.age_years} y · ${p.sex}`),
      el("div", { class: "cond", title: p.conditions.join("; ") }, p.conditions.join("; ") || "—"),
      el("div", { class: "tags" }, tags));
  }));
}

function fmt(v, unit) { return v === null || v === undefined ? "—" : `${v} ${unit}`; }

async function openPatient(mrn) {
  selected = mrn;
  renderBeds();
  const panel = document.getElementById("detail");
  try {
    const p = await invoke("show_patient", { mrn });
    const b = p.baseline;
    const list = (xs, none) => xs.length ? el("ul", {}, xs.map((x) => el("li", {}, x))) : none;
    panel.replaceChildren(
      el("button", { class: "close", onclick: closePatient, "aria-label": "Close" }, "×"),
      el("h2", { id: "detail-name" }, `${p.family_name}, ${p.given_name}`),
      el("div", { class: "sub" }, `${p.mrn} · ${p.age_years} y · ${p.sex} · ${p.ward || ""} bed ${p.bed || "–"}`),
      el("dl", {},
        el("dt", {}, "Attending"), el("dd", {}, p.attending || "—"),
        el("dt", {}, "Conditions"), el("dd", {}, list(p.conditions, "none recorded")),
        el("dt", {}, "Medications"), el("dd", {}, list(p.medications, "none recorded")),
        el("dt", {}, "Allergies"), el("dd", {}, list(p.allergies, "none recorded")),
        el("dt", {}, "Baseline"), el("dd", {},
          `HR ${fmt(b.hr_bpm, "/min")}, RR ${fmt(b.rr_per_min, "/min")}, SBP ${fmt(b.sbp_mmhg, "mmHg")}, ` +
          `SpO2 ${fmt(b.spo2_pct, "%")}, T ${fmt(b.temp_c, "°C")}`),
        el("dt", {}, "NEWS2 SpO2"), el("dd", {}, `scale ${p.spo2_scale}`),
        el("dt", {}, "Alerts"), el("dd", {}, p.alert_consent ? "consents to alerts" : "no consent to alerts"),
        el("dt", {}, "Admitted"), el("dd", {}, p.admitted_at ? new Date(p.admitted_at).toLocaleString() : "—")));
    panel.hidden = false;
  } catch (err) {
    showError(err);
  }
}

function closePatient() {
  selected = null;
  document.getElementById("detail").hidden = true;
  renderBeds();
}

async function start() {
  document.getElementById("filter").addEventListener("input", renderBeds);
  try {
    const s = await invoke("session");
    document.getElementById("session").textContent = `${s.user} (${s.role})`;
    patients = await invoke("list_patients");
    const wards = [...new Set(patients.map((p) => p.ward).filter(Boolean))];
    if (wards.length === 1) document.getElementById("ward-title").textContent = `Ward ${wards[0]}`;
    renderBeds();
  } catch (err) {
    showError(err);
  }
}

start();
