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
let live = new Map(); // mrn -> PatientLive
let openAlarms = []; // AlarmView[], newest first
const POLL_MS = 2000;
// Refreshes without a push: only the ages of readings move meanwhile.
const FALLBACK_MS = 10000;

// A registry may not know a patient's birth date (an unidentified
// emergency admission): say so rather than show a number.
function ageText(p) {
  return p.age_years == null ? "age unknown" : `${p.age_years} y`;
}

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
  // The session ended (deactivated, password changed, too long): lock.
  if (code === "unauthenticated") {
    if (loggedIn) showLocked(null);
    return;
  }
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
      el("div", { class: "meta" }, `${ageText(p)} · ${p.sex}`),
      el("div", { class: "cond", title: p.conditions.join("; ") }, p.conditions.join("; ") || "—"),
      el("div", { class: "tags" }, tags),
      vitalsRow(live.get(p.mrn)));
  }));
}

// NEWS2 clinical response bands (RCP 2017): 0, 1–4 low, 3 in one parameter
// low-medium, 5–6 medium, ≥7 high. The backend computes the score; the UI
// only colours it.
function newsClass(score) {
  if (!score) return "news-none";
  const agg = score.value;
  if (agg >= 7) return "news-high";
  if (agg >= 5) return "news-medium";
  if (score.detail && score.detail.red_score) return "news-lowmed";
  return agg > 0 ? "news-low" : "news-zero";
}

function vitalValue(l, v) {
  if (!l) return null;
  return l.vitals.find((x) => x.vital === v) || null;
}

function showValue(x, digits = 0) {
  if (!x) return "–";
  if (x.value === null) return "no signal";
  return x.value.toFixed(digits);
}

function vitalsRow(l) {
  if (!l || l.vitals.length === 0) return el("div", { class: "vitals empty-vitals" }, "no live data");
  const cell = (label, x, digits, cls = "") =>
    el("span", { class: `v ${cls} ${x && x.stale ? "stale" : ""} ${x && x.value === null ? "lost" : ""}`, "data-vital": label },
      el("small", {}, label), " ", showValue(x, digits));
  const sbp = vitalValue(l, "systolic_bp");
  const dbp = vitalValue(l, "diastolic_bp");
  const bp = sbp ? el("span", { class: `v ${sbp.stale ? "stale" : ""}`, "data-vital": "BP" }, el("small", {}, "BP"), " ",
    `${showValue(sbp)}/${showValue(dbp)}`) : null;
  return el("div", { class: "vitals" },
    cell("HR", vitalValue(l, "heart_rate"), 0, "hr"),
    cell("SpO2", vitalValue(l, "spo2"), 0, "spo2"),
    cell("RR", vitalValue(l, "resp_rate"), 0),
    bp,
    cell("T", vitalValue(l, "temperature_c"), 1),
    el("span", { class: `news ${newsClass(l.news2)}`, title: "NEWS2" },
      l.news2 ? `NEWS2 ${l.news2.value}${l.news2.detail.complete ? "" : "*"}` : "NEWS2 –"));
}

const RANK = { high: 3, medium: 2, low: 1, technical: 0 };

function worstAlarm(mrn) {
  let worst = null;
  for (const a of openAlarms) {
    if (a.mrn === mrn && a.state === "active" && (!worst || RANK[a.priority] > RANK[worst.priority])) worst = a;
  }
  return worst;
}

function renderAlarms() {
  const box = document.getElementById("alarms");
  const active = openAlarms.filter((a) => a.state === "active");
  active.sort((a, b) => RANK[b.priority] - RANK[a.priority] || b.raised.localeCompare(a.raised));
  if (active.length === 0) {
    box.replaceChildren();
    return;
  }
  box.replaceChildren(...active.slice(0, 8).map((a) => el("div", {
    class: `alarm alarm-${a.priority}`, "data-alarm": String(a.id), role: "alert",
  },
    el("span", { class: "marker" }, { high: "***", medium: "**", low: "*", technical: "INOP" }[a.priority]),
    el("span", { class: "where" }, a.bed ? `Bed ${a.bed}` : "System"),
    el("span", { class: "msg" }, a.message),
    el("span", { class: "who" }, a.patient || ""),
    a.escalated_to ? el("span", { class: "esc" }, `escalated to ${a.escalated_to}`) : null,
    a.mrn ? el("button", { class: "open", onclick: () => openPatient(a.mrn) }, "Open") : null,
    el("button", { class: "ack", onclick: () => ackAlarm(a.id) }, "Acknowledge"))));
}

async function ackAlarm(id) {
  try {
    await invoke("ack_alarm", { id, note: null });
    await pollAlarms();
  } catch (err) {
    showError(err);
  }
}

async function pollAlarms() {
  try {
    openAlarms = await invoke("list_alarms", { openOnly: true });
    renderAlarms();
    for (const card of document.querySelectorAll(".bed")) {
      const worst = worstAlarm(card.dataset.mrn);
      card.classList.remove("alarm-high", "alarm-medium", "alarm-low", "alarm-technical");
      if (worst) card.classList.add(`alarm-${worst.priority}`);
    }
  } catch (err) {
    showError(err);
  }
}

async function pollWard() {
  try {
    const all = await invoke("ward_live");
    live = new Map(all.map((l) => [l.mrn, l]));
    for (const card of document.querySelectorAll(".bed")) {
      const row = card.querySelector(".vitals");
      if (row) row.replaceWith(vitalsRow(live.get(card.dataset.mrn)));
    }
    if (selected) renderLiveDetail(live.get(selected));
  } catch (err) {
    showError(err);
  }
}

function renderLiveDetail(l) {
  const box = document.getElementById("live");
  if (!box || !l) return;
  const rows = l.vitals.map((x) => el("tr", { class: x.stale ? "stale" : "" },
    el("td", {}, x.label), el("td", { class: "num" }, showValue(x, x.vital === "temperature_c" ? 1 : 0)),
    el("td", {}, x.unit), el("td", { class: "age" }, x.age_s < 120 ? `${x.age_s} s ago` : `${Math.round(x.age_s / 60)} min ago`)));
  const n = l.news2;
  const news = n ? el("div", { class: `news-box ${newsClass(n)}` },
    el("strong", {}, `NEWS2 ${n.value}${n.detail.complete ? "" : " (partial)"}`),
    el("div", {}, n.detail.clinical_risk ? `clinical risk: ${n.detail.clinical_risk}` : ""),
    n.detail.missing && n.detail.missing.length ? el("div", { class: "missing" }, `missing: ${n.detail.missing.join(", ").replaceAll("_", " ")}`) : null,
    el("div", { class: "muted" }, n.detail.monitoring_frequency || "")) : el("div", { class: "muted" }, "No NEWS2 yet");
  const hr = l.ecg_hr ? el("div", {}, `ECG heart rate ${Math.round(l.ecg_hr.value)} /min`) : null;
  const r = l.cardiac_risk;
  const risk = r ? el("div", { class: "risk", id: "cardiac-risk" },
    el("strong", {}, `Cardiac risk ${Math.round(r.value)} (${r.detail.level})`),
    r.detail.contributors && r.detail.contributors.length
      ? el("ul", {}, r.detail.contributors.slice(0, 3).map((c) => el("li", {}, `${c.detail} (+${Math.round(c.points)})`)))
      : null) : null;
  const events = l.ecg_events.length ? el("ul", { class: "events" }, l.ecg_events.map((e) =>
    el("li", {}, `${new Date(e.at).toLocaleTimeString()} ${e.detail.event} ${e.detail.finding ? e.detail.finding.kind : e.detail.kind}`))) : null;
  box.replaceChildren(news, risk, el("table", { class: "live-vitals" }, rows), hr, events);
}

async function drawEcg(mrn) {
  const canvas = document.getElementById("ecg");
  if (!canvas || selected !== mrn) return;
  try {
    const strip = await invoke("ecg_strip", { mrn, seconds: 6 });
    const g = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height;
    g.clearRect(0, 0, w, h);
    g.strokeStyle = "#1f3b2c";
    for (let x = 0; x < w; x += 20) { g.beginPath(); g.moveTo(x, 0); g.lineTo(x, h); g.stroke(); }
    for (let y = 0; y < h; y += 20) { g.beginPath(); g.moveTo(0, y); g.lineTo(w, y); g.stroke(); }
    const xs = strip.samples_mv;
    canvas.dataset.samples = String(xs.length);
    if (xs.length < 2) return;
    g.strokeStyle = "#46d37a";
    g.lineWidth = 1.5;
    g.beginPath();
    let pen = false;
    xs.forEach((v, i) => {
      const x = (i / (strip.fs_hz * 6)) * w;
      const y = h / 2 - v * (h / 4); // 2 mV full height
      if (Number.isNaN(v) || v === null) { pen = false; return; }
      if (pen) g.lineTo(x, y); else g.moveTo(x, y);
      pen = true;
    });
    g.stroke();
  } catch (err) {
    showError(err);
  }
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
      el("div", { class: "sub" }, `${p.mrn} · ${ageText(p)} · ${p.sex} · ${p.ward || ""} bed ${p.bed || "–"}`),
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
        el("dt", {}, "Admitted"), el("dd", {}, p.admitted_at ? new Date(p.admitted_at).toLocaleString() : "—")),
      el("h3", {}, "Live"),
      el("canvas", { id: "ecg", width: "360", height: "120", "aria-label": "ECG lead II, last 6 seconds" }),
      el("div", { id: "live" }));
    panel.hidden = false;
    renderLiveDetail(live.get(mrn));
    drawEcg(mrn);
  } catch (err) {
    showError(err);
  }
}

function closePatient() {
  selected = null;
  document.getElementById("detail").hidden = true;
  renderBeds();
}

// Whether anything watches this store's streams: with no runtime, no alarm
// can be raised, which the ward must see (a technical alarm, not silence).
async function pollRuntime() {
  const box = document.getElementById("runtime");
  try {
    const r = await invoke("runtime_status");
    box.dataset.state = r.state;
    if (r.state === "none" || r.state === "stopped") {
      box.replaceChildren(
        el("span", { class: "marker" }, "INOP"),
        el("span", { class: "msg" }, r.detail));
      box.hidden = false;
    } else {
      box.hidden = true;
    }
    document.getElementById("session").title = r.detail;
  } catch (err) {
    showError(err);
  }
}

// Login, lock and quick user switch. While locked (nobody logged in, or the
// window left idle), the locked screen shows every bed with its worst
// alarm, from the runtime's context, and no patient data; notifications
// keep sounding from the runtime whatever the window shows.
let loggedIn = false;
let lockTimer = null;
let lockAfterMs = 600000;
let lockedPoll = null;
let started = false;

function showLocked(suggested) {
  loggedIn = false;
  document.body.classList.add("is-locked");
  document.getElementById("locked").hidden = false;
  document.getElementById("lock").hidden = true;
  document.getElementById("session").textContent = "locked";
  // Nothing of a patient stays in the window, shown or hidden.
  selected = null;
  patients = [];
  live = new Map();
  openAlarms = [];
  document.getElementById("detail").replaceChildren();
  document.getElementById("detail").hidden = true;
  document.getElementById("beds").replaceChildren();
  document.getElementById("alarms").replaceChildren();
  const user = document.getElementById("login-user");
  if (suggested && !user.value) user.value = suggested;
  document.getElementById("login-password").value = "";
  pollLocked();
  if (!lockedPoll) lockedPoll = setInterval(pollLocked, POLL_MS);
}

async function pollLocked() {
  if (loggedIn) return;
  try {
    const beds = await invoke("locked_overview");
    document.getElementById("locked-beds").replaceChildren(...beds.map((b) => el("div", {
      class: "locked-bed" + (b.alarm ? ` alarm-${b.alarm.priority}` : ""),
      role: "listitem",
    }, [b.ward, b.bed ? `bed ${b.bed}` : null].filter(Boolean).join(" · ") || "—",
      b.alarm ? el("div", { class: "kind" }, b.alarm.kind.replaceAll("_", " ")) : null)));
  } catch (err) {
    showError(err);
  }
}

function armLockTimer() {
  if (lockTimer) clearTimeout(lockTimer);
  if (loggedIn) lockTimer = setTimeout(lockNow, lockAfterMs);
}

async function lockNow() {
  try {
    await invoke("lock");
  } catch (err) {
    showError(err);
  }
  showLocked(null);
}

async function unlocked(s) {
  loggedIn = true;
  document.body.classList.remove("is-locked");
  document.getElementById("locked").hidden = true;
  document.getElementById("lock").hidden = false;
  document.getElementById("error").hidden = true;
  document.getElementById("session").textContent = `${s.user} (${s.role})`;
  armLockTimer();
  patients = await invoke("list_patients");
  const wards = [...new Set(patients.map((p) => p.ward).filter(Boolean))];
  if (wards.length === 1) document.getElementById("ward-title").textContent = `Ward ${wards[0]}`;
  renderBeds();
  await pollWard();
  await pollAlarms();
  if (!started) {
    started = true;
    startPolling();
  }
}

async function submitLogin(e) {
  e.preventDefault();
  const box = document.getElementById("login-error");
  box.hidden = true;
  try {
    await invoke("login", {
      username: document.getElementById("login-user").value.trim(),
      password: document.getElementById("login-password").value,
    });
    document.getElementById("login-password").value = "";
    await unlocked(await invoke("session"));
  } catch (err) {
    document.getElementById("login-password").value = "";
    box.textContent = err && err.message ? err.message : String(err);
    box.dataset.code = err && err.code ? err.code : "internal";
    box.hidden = false;
  }
}

function startPolling() {
  // Pushed: the backend says when the store changed (the runtime's data,
  // another workstation's acknowledgement); the slow timer only keeps
  // the ages of the readings current.
  const whenIn = (f) => () => (loggedIn ? f() : null);
  if (window.__TAURI__.event) {
    let pushed = 0;
    window.__TAURI__.event.listen("store-changed", async () => {
      pushed += 1;
      document.body.dataset.pushed = String(pushed);
      if (loggedIn) await Promise.all([pollWard(), pollAlarms()]);
      else await pollLocked();
    });
    // "Open patient" on a desktop notification.
    window.__TAURI__.event.listen("alarm-action", async (e) => {
      if (!loggedIn) return;
      await pollAlarms();
      const a = openAlarms.find((x) => x.id === e.payload);
      if (a && a.mrn) openPatient(a.mrn);
    });
  }
  setInterval(whenIn(pollWard), FALLBACK_MS);
  setInterval(whenIn(pollAlarms), FALLBACK_MS);
  setInterval(() => loggedIn && selected && drawEcg(selected), 1000);
}

async function start() {
  document.getElementById("filter").addEventListener("input", renderBeds);
  document.getElementById("login").addEventListener("submit", submitLogin);
  document.getElementById("lock").addEventListener("click", lockNow);
  for (const ev of ["keydown", "pointerdown", "wheel"]) {
    document.addEventListener(ev, armLockTimer, { passive: true });
  }
  try {
    await pollRuntime();
    setInterval(pollRuntime, POLL_MS);
    const s = await invoke("session");
    lockAfterMs = s.lock_after_s * 1000;
    if (s.user) await unlocked(s);
    else showLocked(s.suggested_user);
  } catch (err) {
    showError(err);
  }
}

start();
