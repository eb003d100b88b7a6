// Wardwatch's window. It only displays and asks: every decision (scores,
// alarm states, who may do what) is the backend's, behind Tauri commands.
// Updates are pushed (`store-changed`); a slow timer only keeps the ages of
// readings current.
import "./crash";
import "./locale";
import { listen } from "@tauri-apps/api/event";
import "./style.css";
import { api, asUiError } from "./api";
import { AlarmSound, type SoundState } from "./audio";
import { byId, el } from "./dom";
import { EcgSweep } from "./ecg";
import {
  LOCALE,
  MARKER,
  MEDICATION_LABELS,
  RANK,
  ageOf,
  dateTimeText,
  ageText,
  heartRateText,
  matches,
  moveFocus,
  newsClass,
  newsText,
  sortPatients,
  timeText,
  type SortKey,
  valueText,
  vitalOf,
  worstAlarm,
} from "./format";
import type { HistoryView } from "./history";
import { chartForm } from "./chart";
import { alarmLog } from "./alarms";
import { adminView, dataView } from "./admin";
import { sessionNotice } from "./session";
import type { AlarmView, PatientLive, PatientSummary, RuntimeStatus, Session, Trend, UiError } from "./types";

// Updates are pushed (`store-changed`, `runtime-status`); the window asks
// on its own only when no push came for this long (a broken store watch).
const FALLBACK_MS = 10000;
const TRENDS_EVERY_MS = 60000;
const ECG_SECONDS = 8;

const state = {
  session: null as Session | null,
  patients: [] as PatientSummary[],
  live: new Map<string, PatientLive>(),
  trends: new Map<string, Trend>(),
  alarms: [] as AlarmView[],
  selected: null as string | null,
  sort: (localStorage.getItem("ww.sort") as SortKey | null) ?? "bed",
  loggedIn: false,
  lockAfterMs: 600000,
  /// When the idle lock falls (ms since the epoch), null while locked.
  idleLockAt: null as number | null,
  lastPush: 0,
  lastTrends: 0,
};

let lockTimer: number | null = null;
let ecg: EcgSweep | null = null;
let history: HistoryView | null = null;

const sound = new AlarmSound(showSound);

// ---------------------------------------------------------------- errors

function showError(err: unknown): void {
  const e = asUiError(err);
  if (e.code === "unauthenticated") {
    if (state.loggedIn) showLocked(null);
    return;
  }
  const advice: Record<string, string> = {
    permission_denied: "Ask an administrator for access.",
    forbidden: "Ask an administrator for access.",
    not_found: "The record may have been removed or merged.",
    storage: "The local store could not be read. Restart Wardwatch; if it persists, call IT.",
  };
  const box = byId("error");
  const hint = advice[e.code];
  box.replaceChildren(el("strong", {}, e.message), ...(hint ? [el("div", {}, hint)] : []),
    el("button", { type: "button", class: "dismiss", onclick: () => { box.hidden = true; } }, "Dismiss"));
  box.dataset.code = e.code;
  box.hidden = false;
}

// ---------------------------------------------------------------- ward

function tile(p: PatientSummary): HTMLElement {
  const l = state.live.get(p.mrn);
  const worst = worstAlarm(state.alarms, p.mrn);
  const tags = [
    p.spo2_scale === "2" ? el("span", { class: "tag scale2" }, "SpO2 scale 2") : null,
    ...p.medication_classes.map((c) => el("span", { class: `tag ${c}` }, MEDICATION_LABELS[c] ?? c)),
  ];
  const card = el(
    "button",
    {
      class: `bed${state.selected === p.mrn ? " selected" : ""}${worst ? ` alarm-${worst.priority}` : ""}`,
      role: "listitem",
      "data-mrn": p.mrn,
      type: "button",
      onclick: () => void openPatient(p.mrn),
    },
    el("div", { class: "head" }, el("span", { class: "where" }, `${p.ward ?? ""} · bed ${p.bed ?? "–"}`), el("span", { class: "num mrn" }, p.mrn)),
    el("div", { class: "name" }, p.name),
    el("div", { class: "meta" }, `${ageText(p.age_years)} · ${p.sex}`),
    worstRow(worst),
    vitalsRow(l),
    el("canvas", { class: "spark", width: "220", height: "34", "aria-hidden": "true" }),
    el("div", { class: "cond", title: p.conditions.join("; ") }, p.conditions.join("; ") || "—"),
    el("div", { class: "tags" }, tags),
  );
  drawSpark(card.querySelector("canvas.spark"), state.trends.get(p.mrn));
  return card;
}

function worstRow(worst: AlarmView | null): HTMLElement | null {
  return worst
    ? el("div", { class: `worst alarm-${worst.priority}`, "data-priority": worst.priority },
        el("span", { class: "marker" }, MARKER[worst.priority]), " ", worst.message)
    : null;
}

function vitalsRow(l: PatientLive | undefined): HTMLElement {
  if (!l || l.vitals.length === 0) return el("div", { class: "vitals empty-vitals" }, "no live data");
  const cell = (label: string, key: Parameters<typeof vitalOf>[1], cls = "") => {
    const x = vitalOf(l, key);
    if (!x) return null;
    return el(
      "span",
      {
        class: `v ${cls}${x.stale ? " stale" : ""}${x.value === null ? " lost" : ""}`,
        "data-vital": label,
        title: `${x.label}: ${ageOf(x.age_s)} ago`,
      },
      el("small", {}, label),
      " ",
      valueText(x),
      x.stale ? el("small", { class: "age" }, ` ${ageOf(x.age_s)}`) : null,
    );
  };
  const sbp = vitalOf(l, "systolic_bp");
  const dbp = vitalOf(l, "diastolic_bp");
  const bp = sbp
    ? el("span", { class: `v${sbp.stale ? " stale" : ""}`, "data-vital": "BP" }, el("small", {}, "BP"), " ", `${valueText(sbp)}/${valueText(dbp)}`)
    : null;
  return el(
    "div",
    { class: "vitals" },
    cell("HR", "heart_rate", "hr"),
    cell("SpO2", "spo2", "spo2"),
    cell("RR", "resp_rate"),
    bp,
    cell("T", "temperature_c"),
    el("span", { class: `news ${newsClass(l.news2)}`, title: l.news2?.detail.clinical_risk ?? "NEWS2" }, newsText(l.news2)),
  );
}

function drawSpark(canvas: HTMLCanvasElement | null, t: Trend | undefined): void {
  if (!canvas || !t) return;
  const dpr = window.devicePixelRatio || 1;
  const w = 220;
  const h = 34;
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const g = canvas.getContext("2d");
  if (!g) return;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  const css = getComputedStyle(document.documentElement);
  const line = (ys: (number | null)[], lo: number, hi: number, colour: string) => {
    g.strokeStyle = colour;
    g.lineWidth = 1.2;
    g.beginPath();
    let pen = false;
    ys.forEach((y, i) => {
      if (y == null) {
        pen = false;
        return;
      }
      const px = (i / Math.max(1, ys.length - 1)) * (w - 2) + 1;
      const py = h - 2 - ((Math.min(hi, Math.max(lo, y)) - lo) / (hi - lo)) * (h - 4);
      if (pen) g.lineTo(px, py);
      else g.moveTo(px, py);
      pen = true;
    });
    g.stroke();
  };
  line(t.heart_rate, 30, 180, css.getPropertyValue("--c-hr").trim() || "#4ade80");
  line(t.spo2, 80, 100, css.getPropertyValue("--c-spo2").trim() || "#38bdf8");
  canvas.dataset.points = String(t.heart_rate.filter((v) => v != null).length);
}

function renderBeds(): void {
  const q = byId<HTMLInputElement>("filter").value.trim();
  const shown = sortPatients(state.patients.filter((p) => matches(p, q)), state.sort, state.live, state.alarms);
  const beds = byId("beds");
  setText(byId("count"), `${shown.length} of ${state.patients.length} patients`);
  if (state.patients.length === 0) {
    beds.replaceChildren(
      el("div", { class: "empty" }, "No patients yet. An administrator imports the registry with ", el("code", {}, "wardwatchctl import patients FILE"), "."),
    );
    return;
  }
  // The same beds in the same order (a live update): patch each tile in
  // place — no new elements, the sparklines untouched, focus kept.
  const current = [...beds.querySelectorAll<HTMLElement>(":scope > .bed")];
  if (current.length === shown.length && current.every((c, i) => c.dataset.mrn === shown[i]?.mrn)) {
    current.forEach((card, i) => {
      const p = shown[i];
      if (p) patchTile(card, p);
    });
    return;
  }
  const focused = (document.activeElement as HTMLElement | null)?.dataset?.mrn;
  beds.replaceChildren(...shown.map(tile));
  if (focused) beds.querySelector<HTMLElement>(`.bed[data-mrn="${CSS.escape(focused)}"]`)?.focus();
}

/// Makes `old` look like `now` with the least DOM change: children that
/// differ (class, text or title) are replaced one by one, so a changed
/// heart rate repaints one number, not the ward (48 tiles each second).
function patchChildren(old: Element, now: Element): void {
  if (old.className !== now.className) old.className = now.className;
  const a = old.children;
  const b = now.children;
  const same =
    a.length === b.length &&
    [...a].every((x, i) => x.getAttribute("data-vital") === b[i]?.getAttribute("data-vital"));
  if (!same || a.length === 0) {
    if (old.textContent !== now.textContent || old.innerHTML !== now.innerHTML) old.replaceWith(now);
    return;
  }
  [...b].forEach((n, i) => {
    const o = a[i];
    if (o && (o.className !== n.className || o.textContent !== n.textContent || o.getAttribute("title") !== n.getAttribute("title"))) {
      o.replaceWith(n.cloneNode(true));
    }
  });
}

/// Brings a tile up to date: its alarm outline, worst alarm and vitals.
function patchTile(card: HTMLElement, p: PatientSummary): void {
  const worst = worstAlarm(state.alarms, p.mrn);
  const cls = `bed${state.selected === p.mrn ? " selected" : ""}${worst ? ` alarm-${worst.priority}` : ""}`;
  if (card.className !== cls) card.className = cls;
  const parts: [string, HTMLElement | null][] = [
    [".worst", worstRow(worst)],
    [".vitals", vitalsRow(state.live.get(p.mrn))],
  ];
  for (const [part, now] of parts) {
    const old = card.querySelector(part);
    if (old && now) {
      patchChildren(old, now);
    } else if (old) {
      old.remove();
    } else if (now) {
      card.querySelector(".meta")?.after(now);
    }
  }
}

function onBedsKey(e: KeyboardEvent): void {
  const cards = [...document.querySelectorAll<HTMLElement>("#beds .bed")];
  const i = cards.indexOf(document.activeElement as HTMLElement);
  if (i < 0) return;
  const first = cards[0];
  const columns = first ? Math.max(1, Math.round(byId("beds").clientWidth / first.offsetWidth)) : 1;
  const next = moveFocus(i, cards.length, columns, e.key);
  if (next !== i && next >= 0) {
    e.preventDefault();
    cards[next]?.focus();
  }
}

// ---------------------------------------------------------------- alarms

function renderAlarms(): void {
  const box = byId("alarms");
  const active = state.alarms.filter((a) => a.state === "active");
  active.sort((a, b) => RANK[b.priority] - RANK[a.priority] || b.raised.localeCompare(a.raised, LOCALE));
  const shown = JSON.stringify(active.slice(0, 8).map((a) => [a.id, a.priority, a.message, a.bed, a.patient, a.escalated_to]));
  if (box.dataset.shown === shown) {
    soundFor(active);
    return;
  }
  box.dataset.shown = shown;
  box.replaceChildren(
    ...active.slice(0, 8).map((a) =>
      el(
        "div",
        { class: `alarm alarm-${a.priority}`, "data-alarm": String(a.id), role: "alert" },
        el("span", { class: "marker" }, MARKER[a.priority]),
        el("span", { class: "where" }, a.bed ? `Bed ${a.bed}` : "System"),
        el("span", { class: "msg" }, a.message),
        el("span", { class: "who" }, a.patient ?? ""),
        a.escalated_to ? el("span", { class: "esc" }, `escalated to ${a.escalated_to}`) : null,
        a.mrn ? el("button", { type: "button", class: "open", onclick: () => void openPatient(a.mrn ?? "") }, "Open") : null,
        el("button", { type: "button", class: "ack", onclick: () => void ackAlarm(a.id) }, "Acknowledge"),
      ),
    ),
  );
  soundFor(active);
}

/// What sounds: the worst alarm nobody has acknowledged yet.
function soundFor(active: AlarmView[]): void {
  let worst: AlarmView | null = null;
  for (const a of active) if (!worst || RANK[a.priority] > RANK[worst.priority]) worst = a;
  sound.set(worst ? worst.priority : null);
}

async function ackAlarm(id: number): Promise<void> {
  try {
    await api.ackAlarm(id, null);
    await refreshAlarms();
  } catch (err) {
    showError(err);
  }
}

async function refreshAlarms(): Promise<void> {
  try {
    state.alarms = await api.listAlarms(true);
    renderAlarms();
    renderBeds();
    if (!byId("alarm-log").hidden) await alarmLog(byId("alarm-log"), showError, openPatient);
  } catch (err) {
    showError(err);
  }
}

/// Sets what differs only: an unchanged write still makes the engine
/// restyle and repaint, which every second adds up.
function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}
function setClass(node: HTMLElement, cls: string): void {
  if (node.className !== cls) node.className = cls;
}
function setHidden(node: HTMLElement, hidden: boolean): void {
  if (node.hidden !== hidden) node.hidden = hidden;
}

function showSound(s: SoundState, pausedLeftMs: number): void {
  const box = byId("sound");
  if (document.body.dataset.sound !== s) document.body.dataset.sound = s;
  const pause = byId<HTMLButtonElement>("sound-pause");
  setClass(box, `sound sound-${s}`);
  if (s === "unavailable") {
    setText(box, "ALARM SOUND UNAVAILABLE");
    setHidden(pause, true);
  } else if (s === "blocked") {
    setText(box, "ALARM SOUND BLOCKED: click anywhere in the window");
    setHidden(pause, true);
  } else if (s === "paused") {
    const m = Math.floor(pausedLeftMs / 60000);
    const sec = Math.floor((pausedLeftMs % 60000) / 1000);
    setText(box, `AUDIO PAUSED ${m}:${String(sec).padStart(2, "0")}`);
    setHidden(pause, false);
    setText(pause, "Resume audio");
  } else {
    setText(box, s === "silent" ? "audio on" : `sounding: ${s}`);
    setHidden(pause, s === "silent");
    setText(pause, "Pause audio 2 min");
  }
}

// ---------------------------------------------------------------- patient

async function openPatient(mrn: string): Promise<void> {
  state.selected = mrn;
  renderBeds();
  const panel = byId("detail");
  try {
    const p = await api.showPatient(mrn);
    const b = p.baseline;
    const fmt = (v: number | null, unit: string) => (v == null ? "—" : `${v} ${unit}`);
    const list = (xs: string[], none: string) => (xs.length ? el("ul", {}, xs.map((x) => el("li", {}, x))) : none);
    ecg?.stop();
    const canvas = el("canvas", { id: "ecg", class: "ecg", "aria-label": "ECG lead II, live sweep at 25 mm/s" });
    const pulse = el("canvas", { id: "pulse", class: "pulse", hidden: "", "aria-label": "no pulse wave" });
    ecg = new EcgSweep(canvas, pulse);
    panel.replaceChildren(
      el("button", { type: "button", class: "close", onclick: closePatient, "aria-label": "Close" }, "×"),
      el("h2", { id: "detail-name" }, `${p.family_name}, ${p.given_name}`),
      el("div", { class: "sub" }, `${p.mrn} · ${ageText(p.age_years)} · ${p.sex} · ${p.ward ?? ""} bed ${p.bed ?? "–"}`),
      el("div", { class: "actions" },
        el("button", { type: "button", id: "open-history", onclick: () => void openHistory(p.mrn, `${p.family_name}, ${p.given_name}`) }, "History"),
        el("button", { type: "button", id: "open-chart", onclick: () => toggleChart(p.mrn) }, "Chart observations")),
      el("div", { id: "chart-slot" }),
      el("h3", {}, "Live"),
      canvas,
      pulse,
      el("div", { id: "live" }),
      el("h3", {}, "Record"),
      el(
        "dl",
        {},
        el("dt", {}, "Attending"), el("dd", {}, p.attending ?? "—"),
        el("dt", {}, "Conditions"), el("dd", {}, list(p.conditions, "none recorded")),
        el("dt", {}, "Medications"), el("dd", {}, list(p.medications, "none recorded")),
        el("dt", {}, "Allergies"), el("dd", {}, list(p.allergies, "none recorded")),
        el("dt", {}, "Baseline"),
        el("dd", {}, `HR ${fmt(b.hr_bpm, "/min")}, RR ${fmt(b.rr_per_min, "/min")}, SBP ${fmt(b.sbp_mmhg, "mmHg")}, SpO2 ${fmt(b.spo2_pct, "%")}, T ${fmt(b.temp_c, "°C")}`),
        el("dt", {}, "NEWS2 SpO2"), el("dd", {}, `scale ${p.spo2_scale}`),
        el("dt", {}, "Alerts"), el("dd", {}, p.alert_consent ? "consents to alerts" : "no consent to alerts"),
        el("dt", {}, "Admitted"), el("dd", {}, p.admitted_at ? dateTimeText(p.admitted_at) : "—"),
      ),
    );
    panel.hidden = false;
    renderLiveDetail(state.live.get(mrn));
    await drawEcg(mrn);
  } catch (err) {
    showError(err);
  }
}

function toggleChart(mrn: string): void {
  const slot = byId("chart-slot");
  if (slot.firstChild) {
    slot.replaceChildren();
    return;
  }
  slot.replaceChildren(
    chartForm(mrn, showError, async () => {
      state.live.set(mrn, await api.patientLive(mrn));
      renderLiveDetail(state.live.get(mrn));
    }),
  );
}

function renderLiveDetail(l: PatientLive | undefined): void {
  const box = document.getElementById("live");
  if (!box || !l) return;
  const rows = l.vitals.map((x) =>
    el("tr", { class: x.stale ? "stale" : "", "data-vital": x.vital },
      el("td", {}, x.label), el("td", { class: "num" }, valueText(x)), el("td", {}, x.vital === "o2_flow_lpm" || x.vital === "consciousness" ? "" : x.unit),
      el("td", { class: "age" }, `${ageOf(x.age_s)} ago`)),
  );
  const n = l.news2;
  const news = n
    ? el("div", { class: `news-box ${newsClass(n)}`, id: "news2" },
        el("strong", {}, `NEWS2 ${n.value}${n.detail.complete ? "" : " (partial)"}`),
        el("div", {}, `clinical risk: ${n.detail.clinical_risk}`),
        n.detail.missing.length ? el("div", { class: "missing" }, `missing: ${n.detail.missing.join(", ").replaceAll("_", " ")}`) : null,
        el("div", { class: "drivers" }, n.detail.sub_scores.filter((s) => s.score > 0).map((s) => `${s.parameter.replaceAll("_", " ")} +${s.score}`).join(" · ")),
        el("div", { class: "muted" }, n.detail.monitoring_frequency))
    : el("div", { class: "muted", id: "news2" }, "No NEWS2 yet");
  const hr = l.ecg_hr ? el("div", {}, heartRateText(l.ecg_hr.detail.lead, l.ecg_hr.value)) : null;
  const r = l.cardiac_risk;
  const risk = r
    ? el("div", { class: "risk", id: "cardiac-risk" },
        el("strong", {}, `Cardiac risk ${Math.round(r.value)} (${r.detail.level})`),
        r.detail.contributors.length ? el("ul", {}, r.detail.contributors.slice(0, 3).map((c) => el("li", {}, `${c.detail} (+${Math.round(c.points)})`))) : null)
    : null;
  const events = l.ecg_events.length
    ? el("ul", { class: "events" }, l.ecg_events.map((e) =>
        el("li", {}, `${timeText(e.at)} ${e.detail.event} ${e.detail.finding?.kind ?? e.detail.kind ?? ""}`.replaceAll("_", " ")
          + (e.detail.reason ? ` — ${e.detail.reason}` : ""))))
    : null;
  const parts: (HTMLElement | null)[] = [news, risk, el("table", { class: "live-vitals" }, el("tbody", {}, rows)), hr, events];
  box.replaceChildren(...parts.filter((n): n is HTMLElement => n !== null));
}

async function drawEcg(mrn: string): Promise<void> {
  if (state.selected !== mrn || !ecg) return;
  try {
    ecg.update(await api.ecgStrip(mrn, ECG_SECONDS));
  } catch (err) {
    showError(err);
  }
}

function closePatient(): void {
  state.selected = null;
  ecg?.stop();
  ecg = null;
  byId("detail").hidden = true;
  renderBeds();
}

async function openHistory(mrn: string, name: string): Promise<void> {
  history?.destroy();
  ecg?.stop(); // hidden under the history: no sweep drawn for nobody
  const view = byId("history-view");
  // uPlot loads with the history view only: the overview never waits for it.
  const { HistoryView } = await import("./history");
  history = new HistoryView(mrn, showError);
  view.replaceChildren(
    el("div", { class: "history-head" },
      el("h2", { id: "history-name" }, `${name} — history`),
      el("button", { type: "button", class: "close", id: "history-close", "aria-label": "Close history", onclick: closeHistory }, "×")),
    history.root,
  );
  view.hidden = false;
  await history.show(Date.now() - 365 * 86400000, Date.now());
}

function closeHistory(): void {
  history?.destroy();
  history = null;
  byId("history-view").hidden = true;
  ecg?.resume();
}

// ---------------------------------------------------------------- runtime and session

async function refreshRuntime(): Promise<void> {
  try {
    showRuntime(await api.runtimeStatus());
  } catch (err) {
    showError(err);
  }
}

function showRuntime(r: RuntimeStatus): void {
  const box = byId("runtime");
  if (box.dataset.state === r.state && box.dataset.detail === r.detail) return;
  box.dataset.state = r.state;
  box.dataset.detail = r.detail;
  if (r.state === "none" || r.state === "stopped") {
    box.replaceChildren(el("span", { class: "marker" }, "INOP"), el("span", { class: "msg" }, r.detail));
    box.hidden = false;
  } else {
    box.hidden = true;
  }
  byId("session").title = r.detail;
}

async function refreshWard(): Promise<void> {
  try {
    const all = await api.wardLive();
    state.live = new Map(all.map((l) => [l.mrn, l]));
    renderBeds();
    if (state.selected) renderLiveDetail(state.live.get(state.selected));
  } catch (err) {
    showError(err);
  }
}

/// A push: the ward's values and its alarms fetched together, drawn once.
let refreshing = false;
async function refreshAll(): Promise<void> {
  if (refreshing) return; // the next push brings what this one would
  refreshing = true;
  try {
    const [all, alarms] = await Promise.all([api.wardLive(), api.listAlarms(true)]);
    const t0 = performance.now();
    state.live = new Map(all.map((l) => [l.mrn, l]));
    state.alarms = alarms;
    renderAlarms();
    renderBeds();
    if (state.selected) renderLiveDetail(state.live.get(state.selected));
    // The update's own cost on the main thread (bench/ui reads it).
    document.body.dataset.renderMs = (performance.now() - t0).toFixed(1);
    if (!byId("alarm-log").hidden) await alarmLog(byId("alarm-log"), showError, openPatient);
  } catch (err) {
    showError(err);
  } finally {
    refreshing = false;
  }
}

async function refreshTrends(): Promise<void> {
  try {
    state.lastTrends = Date.now();
    const trends = await api.wardTrends(60);
    state.trends = new Map(trends.map((t) => [t.mrn, t]));
    for (const c of document.querySelectorAll<HTMLElement>("#beds .bed")) {
      drawSpark(c.querySelector("canvas.spark"), state.trends.get(c.dataset.mrn ?? ""));
    }
  } catch (err) {
    showError(err);
  }
}

function showLocked(suggested: string | null): void {
  state.loggedIn = false;
  document.body.classList.add("is-locked");
  byId("locked").hidden = false;
  byId("lock").hidden = true;
  byId("session").textContent = "locked";
  // Nothing of a patient stays in the window, shown or hidden.
  state.selected = null;
  state.patients = [];
  state.live = new Map();
  state.trends = new Map();
  ecg?.stop();
  ecg = null;
  closeHistory();
  byId("detail").replaceChildren();
  byId("detail").hidden = true;
  byId("beds").replaceChildren();
  byId("alarms").replaceChildren();
  delete byId("alarms").dataset.shown;
  byId("alarm-log").replaceChildren();
  byId("data-view").replaceChildren();
  byId("admin-view").replaceChildren();
  const user = byId<HTMLInputElement>("login-user");
  if (suggested && !user.value) user.value = suggested;
  byId<HTMLInputElement>("login-password").value = "";
  state.idleLockAt = null;
  void refreshLocked();
}

async function refreshLocked(): Promise<void> {
  if (state.loggedIn) return;
  try {
    const beds = await api.lockedOverview();
    // The central station never hides an alarm: it still sounds while locked.
    let worst: LockedWorst = null;
    for (const b of beds) if (b.alarm && (!worst || RANK[b.alarm.priority] > RANK[worst])) worst = b.alarm.priority;
    sound.set(worst);
    byId("locked-beds").replaceChildren(
      ...beds.map((b) =>
        el("div", { class: `locked-bed${b.alarm ? ` alarm-${b.alarm.priority}` : ""}`, role: "listitem" },
          [b.ward, b.bed ? `bed ${b.bed}` : null].filter(Boolean).join(" · ") || "—",
          b.alarm ? el("div", { class: "kind" }, b.alarm.kind.replaceAll("_", " ")) : null),
      ),
    );
  } catch (err) {
    showError(err);
  }
}
type LockedWorst = AlarmView["priority"] | null;

function armLockTimer(): void {
  if (lockTimer !== null) window.clearTimeout(lockTimer);
  if (state.loggedIn) {
    lockTimer = window.setTimeout(() => void lockNow(), state.lockAfterMs);
    state.idleLockAt = Date.now() + state.lockAfterMs;
  }
}

/// The warning before the window locks on its own (`session.ts`).
function showSessionNotice(): void {
  const box = byId("session-warning");
  const expires = state.loggedIn && state.session?.expires_at ? Date.parse(state.session.expires_at) : null;
  const notice = state.loggedIn ? sessionNotice(Date.now(), expires, state.idleLockAt) : null;
  const text = notice?.text ?? "";
  if (box.textContent !== text) box.textContent = text;
  box.dataset.kind = notice?.kind ?? "";
  box.hidden = notice === null;
}

async function lockNow(): Promise<void> {
  try {
    await api.lock();
  } catch (err) {
    showError(err);
  }
  showLocked(null);
}

async function unlocked(s: Session): Promise<void> {
  state.session = s;
  state.loggedIn = true;
  document.body.classList.remove("is-locked");
  byId("locked").hidden = true;
  byId("lock").hidden = false;
  byId("error").hidden = true;
  byId("session").textContent = `${s.user ?? ""} (${s.role ?? ""})`;
  // Tabs follow the role (a convenience: every command checks it again).
  byId("tab-data").hidden = !(s.role === "data" || s.role === "admin");
  byId("tab-admin").hidden = s.role !== "admin";
  byId("tab-ward").hidden = s.role === "data";
  byId("tab-alarms").hidden = s.role === "data";
  if (s.role === "data") showView("data");
  armLockTimer();
  state.patients = await api.listPatients();
  const wards = [...new Set(state.patients.map((p) => p.ward).filter(Boolean))];
  if (wards.length === 1) byId("ward-title").textContent = `Ward ${wards[0] ?? ""}`;
  renderBeds();
  await refreshWard();
  await refreshAlarms();
  void refreshTrends();
}

async function submitLogin(e: Event): Promise<void> {
  e.preventDefault();
  sound.start();
  const box = byId("login-error");
  box.hidden = true;
  try {
    await api.login(byId<HTMLInputElement>("login-user").value.trim(), byId<HTMLInputElement>("login-password").value);
    byId<HTMLInputElement>("login-password").value = "";
    await unlocked(await api.session());
  } catch (err) {
    const ue: UiError = asUiError(err);
    byId<HTMLInputElement>("login-password").value = "";
    box.textContent = ue.message;
    box.dataset.code = ue.code;
    box.hidden = false;
  }
}

async function startUpdates(): Promise<void> {
  let pushed = 0;
  await listen("store-changed", () => {
    pushed += 1;
    state.lastPush = Date.now();
    document.body.dataset.pushed = String(pushed);
    if (state.loggedIn) {
      void refreshAll();
      if (Date.now() - state.lastTrends >= TRENDS_EVERY_MS) void refreshTrends();
    } else void refreshLocked();
  });
  await listen<RuntimeStatus>("runtime-status", (e) => showRuntime(e.payload));
  // "Open patient" on a desktop notification.
  await listen<number>("alarm-action", (e) => {
    if (!state.loggedIn) return;
    void refreshAlarms().then(() => {
      const a = state.alarms.find((x) => x.id === e.payload);
      if (a?.mrn) void openPatient(a.mrn);
    });
  });
  // Only when the pushes stopped (the store watch failed, nothing changes):
  // the ward's ages and the runtime's state still move on.
  window.setInterval(() => {
    if (Date.now() - state.lastPush < FALLBACK_MS) return;
    void refreshRuntime();
    if (!state.loggedIn) void refreshLocked();
    else {
      void refreshAll();
      if (Date.now() - state.lastTrends >= TRENDS_EVERY_MS) void refreshTrends();
    }
  }, FALLBACK_MS);
  window.setInterval(() => {
    if (state.loggedIn && state.selected && byId("history-view").hidden) void drawEcg(state.selected);
  }, 1000);
}

// ---------------------------------------------------------------- views and theme

type View = "ward" | "alarms" | "data" | "admin";

function showView(name: View): void {
  for (const b of document.querySelectorAll<HTMLElement>("[data-view]")) b.setAttribute("aria-selected", String(b.dataset.view === name));
  byId("ward-view").hidden = name !== "ward";
  byId("alarm-log").hidden = name !== "alarms";
  byId("data-view").hidden = name !== "data";
  byId("admin-view").hidden = name !== "admin";
  if (name === "alarms") void alarmLog(byId("alarm-log"), showError, openPatient);
  if (name === "data") void dataView(byId("data-view"), showError);
  if (name === "admin") void adminView(byId("admin-view"), showError);
}

function setTheme(theme: "night" | "day"): void {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem("ww.theme", theme);
  byId("theme").textContent = theme === "night" ? "Day theme" : "Night theme";
  for (const c of document.querySelectorAll<HTMLElement>("#beds .bed")) {
    drawSpark(c.querySelector("canvas.spark"), state.trends.get(c.dataset.mrn ?? ""));
  }
}

async function start(): Promise<void> {
  setTheme(localStorage.getItem("ww.theme") === "day" ? "day" : "night");
  byId("theme").addEventListener("click", () => setTheme(document.documentElement.dataset.theme === "night" ? "day" : "night"));
  byId("filter").addEventListener("input", renderBeds);
  const sort = byId<HTMLSelectElement>("sort");
  sort.value = state.sort;
  sort.addEventListener("change", () => {
    state.sort = sort.value as SortKey;
    localStorage.setItem("ww.sort", state.sort);
    renderBeds();
  });
  byId("beds").addEventListener("keydown", onBedsKey);
  byId("login").addEventListener("submit", (e) => void submitLogin(e));
  byId("lock").addEventListener("click", () => void lockNow());
  byId("sound-pause").addEventListener("click", () => (sound.paused() ? sound.resume() : sound.pause()));
  const volume = byId<HTMLInputElement>("volume");
  volume.addEventListener("input", () => sound.setVolume(Number(volume.value) / 100));
  for (const b of document.querySelectorAll<HTMLElement>("[data-view]")) {
    b.addEventListener("click", () => showView((["alarms", "data", "admin"].includes(b.dataset.view ?? "") ? b.dataset.view : "ward") as View));
  }
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !byId("history-view").hidden) closeHistory();
  });
  for (const ev of ["keydown", "pointerdown", "wheel"]) {
    document.addEventListener(ev, () => {
      armLockTimer();
      sound.start();
    }, { passive: true });
  }
  sound.start();
  window.setInterval(() => {
    showSound(sound.state(), sound.pausedLeftMs());
    showSessionNotice();
  }, 1000);
  try {
    await startUpdates();
    await refreshRuntime();
    const s = await api.session();
    state.lockAfterMs = s.lock_after_s * 1000;
    if (s.user) await unlocked(s);
    else showLocked(s.suggested_user);
  } catch (err) {
    showError(err);
  }
}

void start();
