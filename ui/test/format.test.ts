import { describe, expect, it } from "vitest";
import { ageOf, bedOrder, heartRateText, matches, moveFocus, newsClass, pulseLabel, pulseRange, sortPatients, spanText, sweepX, valueText, worstAlarm } from "../src/format";
import type { AlarmView, News2Row, PatientLive, PatientSummary, VitalNow } from "../src/types";

const patient = (mrn: string, bed: string, extra: Partial<PatientSummary> = {}): PatientSummary => ({
  mrn, name: `Doe, ${mrn}`, age_years: 70, sex: "female", ward: "4B", bed, spo2_scale: "1",
  conditions: ["COPD"], medication_classes: [], admitted: true, ...extra,
});
const alarm = (mrn: string, priority: AlarmView["priority"], state = "active"): AlarmView => ({
  id: Math.random(), mrn, patient: null, ward: null, bed: null, key: "k", priority, state, latched: false,
  message: "m", raised: "2026-12-01T10:00:00Z", updated: "2026-12-01T10:00:00Z", condition_ended: null,
  acked_by: null, acked: null, note: null, notify_count: 0, escalated_to: null, annotation: null, misfiled_to: null,
});
const news = (value: number, response: News2Row["detail"]["response"]): News2Row => ({
  mrn: "x", at: "", value, kind: "news2",
  detail: { sub_scores: [], aggregate: value, missing: [], complete: true, red_score: false, spo2_scale: "1", response, clinical_risk: "", monitoring_frequency: "", action: "" },
});
const live = (mrn: string, n: number | null): PatientLive => ({
  mrn, vitals: [], news2: n == null ? null : news(n, n >= 7 ? "emergency" : n >= 5 ? "urgent" : n > 0 ? "low" : "routine"),
  cardiac_risk: null, ecg_hr: null, ecg_events: [],
});

describe("the overview's order", () => {
  const ward = [patient("A", "10"), patient("B", "2"), patient("C", "1"), patient("D", "3")];
  const lives = new Map([["A", live("A", 7)], ["B", live("B", 1)], ["C", live("C", 3)]]);
  it("sorts beds as people read them", () => {
    expect(sortPatients(ward, "bed", lives, []).map((p) => p.bed)).toEqual(["1", "2", "3", "10"]);
    expect(bedOrder("A3", "B1")).toBeLessThan(0);
    expect(bedOrder(null, "1")).toBeGreaterThan(0);
  });
  it("puts the sickest first by NEWS2, unknown last", () => {
    expect(sortPatients(ward, "news2", lives, []).map((p) => p.mrn)).toEqual(["A", "C", "B", "D"]);
  });
  it("puts the worst active alarm first, then NEWS2", () => {
    const alarms = [alarm("B", "medium"), alarm("D", "high"), alarm("C", "high", "acknowledged")];
    expect(sortPatients(ward, "alarm", lives, alarms).map((p) => p.mrn)).toEqual(["D", "B", "A", "C"]);
    expect(worstAlarm(alarms, "C")).toBeNull();
  });
});

describe("display rules", () => {
  it("colours NEWS2 by the backend's response band", () => {
    expect(newsClass(news(3, "low_medium_red_score"))).toBe("news-lowmed");
    expect(newsClass(news(6, "urgent"))).toBe("news-medium");
    expect(newsClass(news(9, "emergency"))).toBe("news-high");
    expect(newsClass(null)).toBe("news-none");
  });
  it("says no signal rather than a number, and ACVPU and air in words", () => {
    const v = (vital: VitalNow["vital"], value: number | null): VitalNow => ({ vital, value, label: "", unit: "", at: "", age_s: 0, stale: false });
    expect(valueText(v("heart_rate", null))).toBe("no signal");
    expect(valueText(v("temperature_c", 37.25))).toBe("37.3");
    expect(valueText(v("consciousness", 2))).toBe("V");
    expect(valueText(v("o2_flow_lpm", 0))).toBe("air");
    expect(valueText(v("o2_flow_lpm", 2))).toBe("2.0 L/min");
  });
  it("filters on every word", () => {
    expect(matches(patient("WW1", "4", { conditions: ["heart failure"] }), "heart 4b")).toBe(true);
    expect(matches(patient("WW1", "4"), "sepsis")).toBe(false);
  });
  it("writes ages and spans for people", () => {
    expect(ageOf(42)).toBe("42 s");
    expect(ageOf(600)).toBe("10 min");
    expect(ageOf(3 * 86400)).toBe("3 d");
    expect(spanText(365 * 86400000)).toBe("1 year");
    expect(spanText(600000)).toBe("10 min");
  });
  it("moves the keyboard focus over the grid and stays inside it", () => {
    expect(moveFocus(0, 10, 4, "ArrowDown")).toBe(4);
    expect(moveFocus(9, 10, 4, "ArrowDown")).toBe(9);
    expect(moveFocus(0, 10, 4, "ArrowLeft")).toBe(0);
    expect(moveFocus(5, 10, 4, "End")).toBe(9);
    expect(moveFocus(5, 10, 4, "x")).toBe(5);
  });
  it("sweeps at 25 mm/s and wraps at the edge", () => {
    const pxPerS = 25 * 96 / 25.4;
    expect(sweepX(1, 1000)).toBeCloseTo(pxPerS, 5);
    const span = 1000 / pxPerS;
    expect(sweepX(span + 1, 1000)).toBeCloseTo(pxPerS, 5);
  });
});

describe("pulse strip", () => {
  it("scales to the visible samples, skipping missing ones", () => {
    const xs = [5, null, Number.NaN, 1, 9, 100];
    expect(pulseRange(xs, (i) => i < 5)).toEqual([1, 9]);
    expect(pulseRange(xs, () => false)).toBeNull();
    expect(pulseRange([null, Number.NaN], () => true)).toBeNull();
  });
  it("names the pleth and an arterial line with its unit", () => {
    expect(pulseLabel({ code: 150452, unit: "{arb'U}" })).toBe("Pleth");
    expect(pulseLabel({ code: 150032, unit: "mm[Hg]" })).toBe("ABP (mmHg)");
  });
});

describe("heart-rate line", () => {
  it("names the pulse when the rate comes from it", () => {
    expect(heartRateText(131330, 72.4)).toBe("ECG heart rate 72 /min");
    expect(heartRateText(150452, 75)).toBe("Pulse rate 75 /min (pleth: the ECG shows no beats)");
    expect(heartRateText(150032, 75)).toContain("arterial line");
  });
});
