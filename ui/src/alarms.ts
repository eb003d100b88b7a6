// The alarm log: active and past alarms; acknowledge, the false-alarm
// review (true / false / not actionable), sending an alert on to a
// consenting patient after a confirmation step, and the shift summary.
import { api, asUiError } from "./api";
import { el } from "./dom";
import { MARKER, RANK, bedOrder, dateTimeText } from "./format";
import type { AlarmView, Priority, UiError } from "./types";

export interface ShiftRow {
  bed: string;
  counts: Record<Priority, number>;
  acked: number;
  /// Median seconds from raised to acknowledged.
  medianAckS: number | null;
}

/// Alarms per bed and priority since `since`, and the median time to
/// acknowledge: the hand-over's summary.
export function shiftSummary(alarms: AlarmView[], since: number): ShiftRow[] {
  const rows = new Map<string, { counts: Record<Priority, number>; ackS: number[] }>();
  for (const a of alarms) {
    if (Date.parse(a.raised) < since) continue;
    const bed = a.bed ?? "system";
    const row = rows.get(bed) ?? { counts: { high: 0, medium: 0, low: 0, technical: 0 }, ackS: [] };
    row.counts[a.priority] += 1;
    if (a.acked) row.ackS.push((Date.parse(a.acked) - Date.parse(a.raised)) / 1000);
    rows.set(bed, row);
  }
  return [...rows.entries()]
    .map(([bed, r]) => {
      const s = [...r.ackS].sort((x, y) => x - y);
      const mid = Math.floor(s.length / 2);
      const median = s.length === 0 ? null : s.length % 2 ? (s[mid] ?? null) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
      return { bed, counts: r.counts, acked: s.length, medianAckS: median };
    })
    .sort((a, b) => bedOrder(a.bed, b.bed));
}

/// The start of the current nursing shift (07:00, 15:00, 23:00 local).
export function shiftStart(now: Date): number {
  const d = new Date(now);
  const h = d.getHours();
  const start = h >= 23 ? 23 : h >= 15 ? 15 : h >= 7 ? 7 : -1;
  if (start === -1) {
    d.setDate(d.getDate() - 1);
    d.setHours(23, 0, 0, 0);
  } else {
    d.setHours(start, 0, 0, 0);
  }
  return d.getTime();
}

function confirmSend(a: AlarmView, onError: (e: UiError) => void, done: () => void): HTMLElement {
  const text = el("textarea", { id: "patient-alert-text", maxlength: "300", rows: "3" });
  text.value = "Please press your call button: a nurse is coming to see you.";
  const dialog = el(
    "dialog",
    { class: "confirm", id: "patient-alert" },
    el("h3", {}, `Send an alert to ${a.patient ?? "the patient"}?`),
    el("p", {}, `Bed ${a.bed ?? "–"} · alarm: ${a.message}. The message goes to the patient's phone through the cloud.`),
    text,
    el("div", { class: "buttons" },
      el("button", { type: "button", onclick: () => { dialog.close(); dialog.remove(); } }, "Cancel"),
      el("button", {
        type: "button",
        id: "patient-alert-send",
        class: "primary",
        onclick: () => {
          void (async () => {
            try {
              const id = await api.notifyPatient(a.id, text.value);
              dialog.dataset.sent = String(id);
              dialog.close();
              dialog.remove();
              done();
            } catch (err) {
              onError(asUiError(err));
              dialog.close();
              dialog.remove();
            }
          })();
        },
      }, "Send to patient")),
  );
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/// What each log box last showed. The log is refreshed with every live
/// update; a refresh that brings the same alarms leaves the page alone, so
/// its buttons do not move under the pointer while someone clicks one (a
/// redrawn table could shift a row and turn the click into another row's).
const shown = new WeakMap<HTMLElement, string>();

export async function alarmLog(
  box: HTMLElement,
  onError: (e: UiError) => void,
  openPatient: (mrn: string) => Promise<void>,
): Promise<void> {
  let alarms: AlarmView[];
  try {
    alarms = await api.listAlarms(false);
  } catch (e) {
    onError(asUiError(e));
    return;
  }
  const redraw = () => void alarmLog(box, onError, openPatient);
  const act = (f: () => Promise<unknown>) => () => {
    void f().then(redraw, (e: unknown) => onError(asUiError(e)));
  };
  const row = (a: AlarmView) =>
    el(
      "tr",
      { class: `alarm-row alarm-${a.priority}`, "data-alarm": String(a.id), "data-state": a.state },
      el("td", { class: "marker" }, MARKER[a.priority]),
      el("td", {}, dateTimeText(a.raised)),
      el("td", {}, a.bed ? `Bed ${a.bed}` : "System"),
      el("td", {}, a.patient ?? ""),
      el("td", {}, a.message),
      el("td", { class: "state" }, a.state, a.acked_by ? ` by ${a.acked_by}` : "", a.escalated_to ? ` · escalated to ${a.escalated_to}` : ""),
      el("td", { class: "annotation" }, a.annotation ? a.annotation.replace("_", " ") : ""),
      el(
        "td",
        { class: "row-actions" },
        a.state === "active" ? el("button", { type: "button", class: "ack", onclick: act(() => api.ackAlarm(a.id, null)) }, "Acknowledge") : null,
        el("button", { type: "button", class: "mark-true", title: "A true alarm", onclick: act(() => api.annotateAlarm(a.id, "true")) }, "True"),
        el("button", { type: "button", class: "mark-false", title: "A false alarm (artefact)", onclick: act(() => api.annotateAlarm(a.id, "false")) }, "False"),
        el("button", { type: "button", class: "mark-na", title: "True but needing no action", onclick: act(() => api.annotateAlarm(a.id, "non_actionable")) }, "Not actionable"),
        a.mrn ? el("button", { type: "button", class: "open", onclick: () => void openPatient(a.mrn ?? "") }, "Open") : null,
        a.mrn && a.priority !== "technical"
          ? el("button", { type: "button", class: "alert-patient", onclick: () => confirmSend(a, onError, redraw) }, "Alert patient…")
          : null,
      ),
    );
  const active = alarms.filter((a) => a.state === "active").sort((a, b) => RANK[b.priority] - RANK[a.priority]);
  const past = alarms.filter((a) => a.state !== "active");
  const since = shiftStart(new Date());
  const signature = JSON.stringify([since, alarms]);
  if (shown.get(box) === signature && box.childElementCount > 0) return;
  shown.set(box, signature);
  const summary = shiftSummary(alarms, since);
  const head = el("tr", {}, ["", "Raised", "Where", "Patient", "Alarm", "State", "Review", ""].map((h) => el("th", {}, h)));
  box.replaceChildren(
    el("h2", {}, "Active alarms"),
    active.length ? el("table", { class: "alarm-table", id: "active-alarms" }, el("thead", {}, head.cloneNode(true)), el("tbody", {}, active.map(row))) : el("p", { class: "muted" }, "No active alarms."),
    el("h2", {}, "Shift summary"),
    el("p", { class: "muted" }, `Since ${dateTimeText(since)}`),
    el(
      "table",
      { class: "alarm-table", id: "shift-summary" },
      el("thead", {}, el("tr", {}, ["Bed", "High", "Medium", "Low", "Technical", "Acknowledged", "Median to acknowledge"].map((h) => el("th", {}, h)))),
      el("tbody", {}, summary.map((s) =>
        el("tr", {}, el("td", {}, s.bed), el("td", { class: "num" }, s.counts.high), el("td", { class: "num" }, s.counts.medium),
          el("td", { class: "num" }, s.counts.low), el("td", { class: "num" }, s.counts.technical), el("td", { class: "num" }, s.acked),
          el("td", { class: "num" }, s.medianAckS == null ? "—" : `${Math.round(s.medianAckS)} s`)))),
    ),
    el("h2", {}, "Past alarms"),
    el("table", { class: "alarm-table", id: "past-alarms" }, el("thead", {}, head), el("tbody", {}, past.slice(0, 300).map(row))),
  );
}
