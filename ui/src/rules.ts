// The admin's editors: the ward's alarm limits (the `alarms.rules` setting,
// applied by the running runtime within seconds), the settings grouped as
// archival rules, retention and sync, and users' roles. Every change goes
// through a confirmation step and the backend, which checks the role, checks
// the values (`Rules::check`, each setting's own check) and audits it; a
// refusal shows the backend's message next to the form.
import { api, asUiError } from "./api";
import { el } from "./dom";
import type { Limit, LimitPriority, Rules, SettingView } from "./types";

type LimitKey = "hr" | "spo2" | "rr" | "sbp" | "temp";

export const LIMIT_VITALS: readonly [LimitKey, string, string][] = [
  ["hr", "Heart rate", "/min"],
  ["spo2", "SpO2", "%"],
  ["rr", "Respiratory rate", "/min"],
  ["sbp", "Systolic BP", "mmHg"],
  ["temp", "Temperature", "°C"],
];

type TimerKey = "news2_delay" | "signal_lost_after" | "stalled_after" | "reminder_every" | "escalate_after";

const TIMERS: readonly [TimerKey, string][] = [
  ["news2_delay", "NEWS2 band held before it alarms"],
  ["signal_lost_after", "Signal lost before a technical alarm"],
  ["stalled_after", "No data before a stalled alarm"],
  ["reminder_every", "Reminder of an unacknowledged alarm every"],
  ["escalate_after", "Escalation of an unacknowledged alarm after"],
];

/// A number field: empty is "no limit" (null) where `optional`; anything
/// else that is not a finite number is refused (undefined).
export function parseNumber(text: string, optional: boolean): number | null | undefined {
  const t = text.trim();
  if (t === "") return optional ? null : undefined;
  // Accept a decimal comma, as typed on many European keyboards.
  const n = Number(t.replace(",", "."));
  return Number.isFinite(n) ? n : undefined;
}

/// The rules with the form's fields applied, or the first field that is not
/// a number (the backend checks ranges and order).
export function editedRules(base: Rules, fields: ReadonlyMap<string, string>): Rules | { field: string } {
  const rules: Rules = structuredClone(base);
  const num = (name: string, optional: boolean, current: number | null): number | null | undefined => {
    const text = fields.get(name);
    return text === undefined ? current : parseNumber(text, optional);
  };
  for (const [key] of LIMIT_VITALS) {
    const limit: Limit = rules[key];
    for (const side of ["low", "high"] as const) {
      const v = num(`${key}-${side}`, true, limit[side]);
      if (v === undefined) return { field: `${key}-${side}` };
      limit[side] = v;
    }
    for (const part of ["delay", "hysteresis"] as const) {
      const v = num(`${key}-${part}`, false, limit[part]);
      if (v === undefined || v === null) return { field: `${key}-${part}` };
      limit[part] = v;
    }
    const priority = fields.get(`${key}-priority`);
    if (priority === "high" || priority === "medium" || priority === "low") limit.priority = priority;
  }
  const scale2 = num("spo2_scale2_low", false, rules.spo2_scale2_low);
  if (scale2 === undefined || scale2 === null) return { field: "spo2_scale2_low" };
  rules.spo2_scale2_low = scale2;
  for (const [key] of TIMERS) {
    const v = num(key, false, rules[key]);
    if (v === undefined || v === null || !Number.isInteger(v)) return { field: key };
    rules[key] = v;
  }
  const to = fields.get("escalate_to");
  if (to !== undefined) rules.escalate_to = to.trim();
  return rules;
}

/// Which group of the settings view a key belongs to.
export const SETTING_GROUPS = ["Archival rules", "Retention in the store", "Sync to the lake", "Backups", "Other settings"];

export function settingGroup(key: string): string {
  if (key.startsWith("archive.")) return "Archival rules";
  if (key.startsWith("retention.")) return "Retention in the store";
  if (key.startsWith("sync.")) return "Sync to the lake";
  if (key.startsWith("backup.")) return "Backups";
  return "Other settings";
}

const text = (v: number | null) => (v === null ? "" : String(v));

/// A confirm step under `anchor`: `what` is asked; `act` runs on Confirm.
function confirmStep(what: string, act: () => Promise<void>, cancel: () => void): HTMLElement {
  const box = el("div", { class: "confirm", role: "alertdialog", "aria-label": what },
    el("span", {}, what), " ",
    el("button", { type: "button", class: "confirm-yes", onclick: () => { box.remove(); void act(); } }, "Confirm"), " ",
    el("button", { type: "button", class: "confirm-no", onclick: () => { box.remove(); cancel(); } }, "Cancel"));
  return box;
}

function showResult(result: HTMLElement, ok: boolean, message: string, code?: string): void {
  result.className = ok ? "chart-result" : "chart-result error";
  result.textContent = message;
  if (code) result.dataset.code = code;
  else delete result.dataset.code;
}

/// The ward's alarm limits as an editable table.
/// What the admin view does after a change: render again and say `message`.
export type Reload = (message: string, ok: boolean, code?: string) => void;

export function rulesEditor(rules: Rules, stored: boolean, reload: Reload): HTMLElement {
  const inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
  const input = (name: string, value: string, label: string, width = "64px") => {
    const i = el("input", { id: `rule-${name}`, value, "aria-label": label, inputmode: "decimal", style: `width:${width}` });
    inputs.set(name, i);
    return i;
  };
  const prioritySelect = (key: LimitKey, label: string, current: LimitPriority) => {
    const s = el("select", { id: `rule-${key}-priority`, "aria-label": `${label}: priority` },
      (["high", "medium", "low"] as const).map((p) => el("option", { value: p }, p)));
    s.value = current;
    inputs.set(`${key}-priority`, s);
    return s;
  };
  const result = el("p", { id: "rules-result", class: "chart-result", "aria-live": "polite" });
  const form = el("div", { class: "chart-form", id: "ward-rules" });
  const saveRow = el("div", {});
  const save = () => {
    const fields = new Map([...inputs].map(([k, i]) => [k, i.value]));
    const edited = editedRules(rules, fields);
    if ("field" in edited) {
      showResult(result, false, `${edited.field.replaceAll("-", " ").replaceAll("_", " ")}: not a number`);
      inputs.get(edited.field)?.focus();
      return;
    }
    saveRow.append(confirmStep("Change the ward's alarm limits? Every bed is judged by them within 10 seconds.", async () => {
      try {
        await api.setWardRules(edited);
        reload("The ward's alarm limits are saved and audited; the runtime applies them within 10 seconds.", true);
      } catch (e) {
        const ue = asUiError(e);
        showResult(result, false, ue.message, ue.code);
      }
    }, () => showResult(result, true, "not changed")));
  };
  saveRow.append(el("button", { type: "button", id: "rules-save", onclick: save }, "Save the ward's limits…"));
  form.append(
    el("p", { class: "muted" }, stored ? "The ward's own limits." : "The built-in defaults (no ward limits stored yet)."),
    el("table", { class: "alarm-table" },
      el("thead", {}, el("tr", {}, ["Vital", "Low", "High", "Priority", "Delay (s)", "Hysteresis"].map((h) => el("th", {}, h)))),
      el("tbody", {}, LIMIT_VITALS.map(([key, label, unit]) => {
        const l = rules[key];
        return el("tr", { "data-vital": key },
          el("td", {}, `${label} (${unit})`),
          el("td", {}, input(`${key}-low`, text(l.low), `${label}: low limit`)),
          el("td", {}, input(`${key}-high`, text(l.high), `${label}: high limit`)),
          el("td", {}, prioritySelect(key, label, l.priority)),
          el("td", {}, input(`${key}-delay`, String(l.delay), `${label}: delay in seconds`)),
          el("td", {}, input(`${key}-hysteresis`, String(l.hysteresis), `${label}: hysteresis`)));
      }))),
    el("div", { class: "field" }, el("label", { for: "rule-spo2_scale2_low" }, "SpO2 low limit on NEWS2 scale 2 (%)"), " ",
      input("spo2_scale2_low", String(rules.spo2_scale2_low), "SpO2 low limit on scale 2")),
    ...TIMERS.map(([key, label]) => el("div", { class: "field" }, el("label", { for: `rule-${key}` }, `${label} (s)`), " ",
      input(key, String(rules[key]), `${label} in seconds`))),
    el("div", { class: "field" }, el("label", { for: "rule-escalate_to" }, "Escalate to"), " ",
      input("escalate_to", rules.escalate_to, "Escalate to", "220px")),
    saveRow,
    result,
  );
  return form;
}

/// The settings, grouped, each with its value, a field, Save and Default.
export function settingsEditor(settings: SettingView[], reload: Reload): HTMLElement {
  const groups = new Map<string, SettingView[]>(SETTING_GROUPS.map((g) => [g, []]));
  for (const s of settings) {
    const g = settingGroup(s.key);
    groups.set(g, [...(groups.get(g) ?? []), s]);
  }
  const row = (s: SettingView) => {
    const field = el("input", { value: s.value ?? "", placeholder: "default", "aria-label": s.key, style: "width:120px" });
    const result = el("span", { class: "chart-result", "aria-live": "polite" });
    const cell = el("td", { class: "setting-change" });
    const apply = (value: string | null) => {
      cell.append(confirmStep(value === null ? `Return ${s.key} to its default?` : `Set ${s.key} to ${value}?`, async () => {
        try {
          await api.setSetting(s.key, value);
          reload(`${s.key} is saved and audited; the runtime applies it when it next starts.`, true);
        } catch (e) {
          const ue = asUiError(e);
          showResult(result, false, ue.message, ue.code);
        }
      }, () => showResult(result, true, "not changed")));
    };
    cell.append(field, " ",
      el("button", { type: "button", class: "setting-save", onclick: () => { if (field.value.trim()) apply(field.value.trim()); } }, "Save…"), " ",
      el("button", { type: "button", class: "setting-default", onclick: () => apply(null), ...(s.value === null ? { disabled: "" } : {}) }, "Default…"), " ",
      result);
    return el("tr", { "data-key": s.key },
      el("td", { class: "mono" }, s.key),
      el("td", { class: "muted" }, s.holds),
      el("td", {}, s.value ?? el("span", { class: "muted" }, "default")),
      cell);
  };
  return el("div", { id: "settings" }, [...groups].filter(([, rows]) => rows.length > 0).map(([group, rows]) => [
    el("h4", {}, group),
    el("table", { class: "alarm-table" },
      el("thead", {}, el("tr", {}, ["Setting", "What it holds", "Now", "Change"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map(row))),
  ]));
}

type UserRow = { username: string; display_name: string; role: string; active: boolean; service: boolean };

/// Users with their role (a select) and an activate/deactivate button.
export function usersEditor(users: UserRow[], reload: Reload): HTMLElement {
  const box = el("div", { id: "users" });
  const act = (what: string, call: () => Promise<unknown>) => {
    box.append(confirmStep(what, async () => {
      try {
        await call();
        reload(`${what.replace(/\?$/, "")}: saved and audited.`, true);
      } catch (e) {
        const ue = asUiError(e);
        reload(ue.message, false, ue.code);
      }
    }, () => reload("not changed", true)));
  };
  box.append(
    el("table", { class: "alarm-table" },
      el("thead", {}, el("tr", {}, ["User", "Name", "Role", "Active", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, users.map((u) => {
        const role = el("select", { "aria-label": `${u.username}: role`, class: "user-role" },
          ["viewer", "clinician", "data", "admin"].map((r) => el("option", { value: r }, r)));
        role.value = u.role;
        role.addEventListener("change", () => act(`Make ${u.username} ${role.value}?`, () => api.setUserRole(u.username, role.value)));
        return el("tr", { "data-user": u.username },
          el("td", {}, u.username, u.service ? el("span", { class: "tag" }, "service") : null),
          el("td", {}, u.display_name),
          el("td", {}, role),
          el("td", {}, u.active ? "yes" : "no"),
          el("td", {}, el("button", {
            type: "button", class: "user-active",
            onclick: () => act(`${u.active ? "Deactivate" : "Reactivate"} ${u.username}?`, () => api.setUserActive(u.username, !u.active)),
          }, u.active ? "Deactivate…" : "Reactivate…")));
      }))),
  );
  return box;
}
