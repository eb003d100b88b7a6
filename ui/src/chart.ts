// Charting by hand: what no monitor streams (ACVPU, supplemental oxygen)
// and manual measurements. The backend validates, stores, audits and feeds
// it to NEWS2; the form only collects and shows the backend's answer.
import { api, asUiError } from "./api";
import { el } from "./dom";
import { timeText } from "./format";
import type { Chart, UiError } from "./types";

export const O2_DEVICES = ["nasal cannula", "simple face mask", "venturi mask", "non-rebreather mask", "high-flow nasal", "CPAP/NIV"];

/// The chart entry the form's values make; unset fields stay out.
export function chartFrom(values: Record<string, string>): Chart {
  const num = (k: string): number | undefined => {
    const v = values[k]?.trim();
    return v ? Number(v.replace(",", ".")) : undefined;
  };
  const c: Chart = {};
  const set = <K extends keyof Chart>(k: K, v: Chart[K] | undefined) => {
    if (v !== undefined && v !== "") c[k] = v;
  };
  set("consciousness", values.acvpu || undefined);
  if (values.o2 === "air") c.o2_flow_lpm = 0;
  if (values.o2 === "oxygen") {
    set("o2_flow_lpm", num("o2_flow"));
    set("o2_device", values.o2_device || undefined);
  }
  set("systolic_bp", num("sbp"));
  set("diastolic_bp", num("dbp"));
  set("temperature_c", num("temp"));
  set("resp_rate", num("rr"));
  set("heart_rate", num("hr"));
  set("spo2", num("spo2"));
  set("note", values.note?.trim() || undefined);
  return c;
}

export function chartForm(mrn: string, onError: (e: UiError) => void, charted: () => Promise<void>): HTMLElement {
  const radio = (name: string, value: string, label: string) =>
    el("label", { class: "choice" }, el("input", { type: "radio", name, value }), ` ${label}`);
  const field = (name: string, label: string, unit: string, attrs: Record<string, string> = {}) =>
    el("label", { class: "field" }, label, el("input", { name, inputmode: "decimal", autocomplete: "off", ...attrs }), el("small", {}, unit));
  const result = el("div", { class: "chart-result", id: "chart-result", role: "status" });
  const recent = el("ul", { class: "charted", id: "charted" });
  const form = el(
    "form",
    { class: "chart-form", id: "chart-form", autocomplete: "off" },
    el("fieldset", {}, el("legend", {}, "Consciousness (ACVPU)"),
      radio("acvpu", "A", "Alert"), radio("acvpu", "C", "New confusion"), radio("acvpu", "V", "Voice"),
      radio("acvpu", "P", "Pain"), radio("acvpu", "U", "Unresponsive")),
    el("fieldset", {}, el("legend", {}, "Air or oxygen"),
      radio("o2", "air", "Room air"), radio("o2", "oxygen", "Oxygen"),
      el("select", { name: "o2_device", "aria-label": "Oxygen device" }, el("option", { value: "" }, "device…"), O2_DEVICES.map((d) => el("option", { value: d }, d))),
      field("o2_flow", "flow", "L/min")),
    el("fieldset", {}, el("legend", {}, "Measurements"),
      field("sbp", "BP", "/", { "aria-label": "Systolic BP" }), field("dbp", "", "mmHg", { "aria-label": "Diastolic BP" }),
      field("temp", "Temp", "°C"), field("rr", "RR", "/min"), field("hr", "HR", "/min"), field("spo2", "SpO2", "%")),
    el("label", { class: "field wide" }, "Note", el("input", { name: "note", maxlength: "500" })),
    el("button", { type: "submit", id: "chart-submit" }, "Chart"),
    result,
    el("h4", {}, "Charted in the last 24 h"),
    recent,
  );
  const refresh = async () => {
    try {
      const rows = await api.charted(mrn, 24);
      recent.replaceChildren(
        ...rows.map((r) => {
          const d = r.detail ? (JSON.parse(r.detail) as { o2_device?: string | null; note?: string | null }) : {};
          return el("li", {}, `${timeText(r.observed)} by ${r.entered_by}: ${describe(r.fhir)}`,
            d.o2_device ? ` (${d.o2_device})` : "", d.note ? ` — ${d.note}` : "");
        }),
      );
    } catch (e) {
      onError(asUiError(e));
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const values: Record<string, string> = {};
    new FormData(form).forEach((v, k) => {
      if (typeof v === "string") values[k] = v;
    });
    void (async () => {
      result.className = "chart-result";
      try {
        const ids = await api.chart(mrn, chartFrom(values));
        form.reset();
        result.textContent = `Charted (${ids.length} observation${ids.length === 1 ? "" : "s"}): NEWS2 updates when the runtime has read ${ids.length === 1 ? "it" : "them"}.`;
        result.dataset.ok = "true";
        await refresh();
        await charted();
      } catch (err) {
        const ue = asUiError(err);
        result.textContent = ue.message;
        result.dataset.ok = "false";
        result.dataset.code = ue.code;
        result.className = "chart-result error";
      }
    })();
  });
  void refresh();
  return form;
}

/// A charted FHIR Observation in words ("ACVPU V", "BP 120/80").
export function describe(fhir: string): string {
  try {
    const o = JSON.parse(fhir) as {
      code?: { coding?: { code?: string; display?: string }[] };
      valueQuantity?: { value?: number; unit?: string };
      valueCodeableConcept?: { coding?: { code?: string }[] };
      component?: { code?: { coding?: { code?: string }[] }; valueQuantity?: { value?: number } }[];
    };
    if (o.valueCodeableConcept) return `ACVPU ${o.valueCodeableConcept.coding?.[0]?.code ?? "?"}`;
    if (o.component) {
      const v = (loinc: string) => o.component?.find((c) => c.code?.coding?.some((x) => x.code === loinc))?.valueQuantity?.value;
      return `BP ${v("8480-6") ?? "?"}/${v("8462-4") ?? "?"}`;
    }
    const name = o.code?.coding?.[0]?.display ?? o.code?.coding?.[0]?.code ?? "value";
    const q = o.valueQuantity;
    if (o.code?.coding?.[0]?.code === "3151-8" && q?.value === 0) return "room air";
    const units: Record<string, string> = { Cel: "°C", "mm[Hg]": "mmHg" };
    const unit = q?.unit ? (units[q.unit] ?? q.unit) : "";
    return `${name} ${q?.value ?? "?"} ${unit}`.trim();
  } catch {
    return "an observation";
  }
}
