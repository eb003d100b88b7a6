import { describe, expect, it } from "vitest";
import { chartFrom, describe as describeFhir } from "../src/chart";
import { shiftStart, shiftSummary } from "../src/alarms";
import { withFacet } from "../src/admin";
import type { AlarmView } from "../src/types";

describe("charting", () => {
  it("sends only what was entered; air is a flow of 0", () => {
    expect(chartFrom({ acvpu: "V", o2: "air", sbp: "", note: "  " })).toEqual({ consciousness: "V", o2_flow_lpm: 0 });
    expect(chartFrom({ o2: "oxygen", o2_flow: "2,5", o2_device: "nasal cannula", sbp: "120", dbp: "80", temp: "38.1" })).toEqual({
      o2_flow_lpm: 2.5, o2_device: "nasal cannula", systolic_bp: 120, diastolic_bp: 80, temperature_c: 38.1,
    });
  });
  it("describes a charted observation in words", () => {
    expect(describeFhir(JSON.stringify({ valueCodeableConcept: { coding: [{ code: "V" }] } }))).toBe("ACVPU V");
    expect(describeFhir(JSON.stringify({ component: [
      { code: { coding: [{ code: "8480-6" }] }, valueQuantity: { value: 120 } },
      { code: { coding: [{ code: "8462-4" }] }, valueQuantity: { value: 80 } },
    ] }))).toBe("BP 120/80");
    expect(describeFhir(JSON.stringify({ code: { coding: [{ code: "3151-8" }] }, valueQuantity: { value: 0 } }))).toBe("room air");
    expect(describeFhir("{broken")).toBe("an observation");
  });
});

describe("the shift summary", () => {
  const a = (bed: string, priority: AlarmView["priority"], raised: string, acked: string | null): AlarmView => ({
    id: 1, mrn: "m", patient: null, ward: null, bed, key: "k", priority, state: acked ? "acknowledged" : "active", latched: false,
    message: "", raised, updated: raised, condition_ended: null, acked_by: null, acked, note: null, notify_count: 0,
    escalated_to: null, annotation: null, misfiled_to: null,
  });
  it("counts per bed and priority and takes the median time to acknowledge", () => {
    const rows = shiftSummary([
      a("2", "high", "2026-12-01T10:00:00Z", "2026-12-01T10:00:30Z"),
      a("2", "high", "2026-12-01T11:00:00Z", "2026-12-01T11:01:30Z"),
      a("2", "medium", "2026-12-01T11:00:00Z", null),
      a("10", "low", "2026-12-01T12:00:00Z", "2026-12-01T12:00:10Z"),
      a("1", "low", "2026-11-30T12:00:00Z", null),
    ], Date.parse("2026-12-01T07:00:00Z"));
    expect(rows.map((r) => r.bed)).toEqual(["2", "10"]);
    expect(rows[0]?.counts).toEqual({ high: 2, medium: 1, low: 0, technical: 0 });
    expect(rows[0]?.medianAckS).toBe(60);
    expect(rows[1]?.medianAckS).toBe(10);
  });
  it("starts shifts at 07:00, 15:00 and 23:00", () => {
    const at = (h: number) => new Date(2026, 11, 1, h, 30);
    expect(new Date(shiftStart(at(8))).getHours()).toBe(7);
    expect(new Date(shiftStart(at(16))).getHours()).toBe(15);
    expect(new Date(shiftStart(at(23))).getHours()).toBe(23);
    const night = new Date(shiftStart(at(3)));
    expect([night.getDate(), night.getHours()]).toEqual([30, 23]);
  });
});

describe("catalogue facets", () => {
  it("adds a facet to the query once, quoting values with spaces", () => {
    expect(withFacet("spo2", "zone", "curated")).toBe("spo2 zone:curated");
    expect(withFacet("spo2 zone:curated", "zone", "curated")).toBe("spo2 zone:curated");
    expect(withFacet("", "ward", "Cardio A")).toBe('ward:"Cardio A"');
  });
});
