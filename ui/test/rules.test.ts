import { describe, expect, it } from "vitest";
import { editedRules, parseNumber, settingGroup } from "../src/rules";
import type { Rules } from "../src/types";

const limit = (low: number | null, high: number | null) => ({ low, high, priority: "medium" as const, delay: 10, hysteresis: 2 });
const base: Rules = {
  hr: limit(40, 130), spo2: limit(90, null), spo2_scale2_low: 85, rr: limit(8, 30), sbp: limit(90, 200), temp: limit(35, 39),
  news2_delay: 300, signal_lost_after: 15, stalled_after: 60, reminder_every: 300, escalate_after: 180, escalate_to: "charge nurse",
};

describe("the ward's limits form", () => {
  it("reads an empty field as no limit and a decimal comma as a point", () => {
    expect(parseNumber("", true)).toBeNull();
    expect(parseNumber("", false)).toBeUndefined();
    expect(parseNumber(" 37,5 ", false)).toBe(37.5);
    expect(parseNumber("12a", true)).toBeUndefined();
  });

  it("applies the edited fields and leaves the rest as they were", () => {
    const r = editedRules(base, new Map([["hr-high", "120"], ["spo2-high", ""], ["rr-low", ""], ["hr-priority", "high"], ["escalate_to", " rapid response team "]]));
    if ("field" in r) throw new Error(`refused ${r.field}`);
    expect(r.hr).toEqual({ low: 40, high: 120, priority: "high", delay: 10, hysteresis: 2 });
    expect(r.rr.low).toBeNull();
    expect(r.spo2.high).toBeNull();
    expect(r.escalate_to).toBe("rapid response team");
    expect(r.temp).toEqual(base.temp);
    // The rules it started from are not changed.
    expect(base.hr.high).toBe(130);
  });

  it("names the first field that is not a number", () => {
    expect(editedRules(base, new Map([["sbp-low", "ninety"]]))).toEqual({ field: "sbp-low" });
    expect(editedRules(base, new Map([["hr-delay", ""]]))).toEqual({ field: "hr-delay" });
    expect(editedRules(base, new Map([["escalate_after", "1.5"]]))).toEqual({ field: "escalate_after" });
  });

  it("groups the settings the admin sees", () => {
    expect(settingGroup("archive.after_days")).toBe("Archival rules");
    expect(settingGroup("retention.ecg_hours")).toBe("Retention in the store");
    expect(settingGroup("sync.object_kib")).toBe("Sync to the lake");
    expect(settingGroup("quarantine.max_mb")).toBe("Other settings");
  });
});

describe("the session warnings", async () => {
  const { sessionNotice } = await import("../src/session");
  const t0 = Date.parse("2026-12-01T08:00:00Z");
  it("says nothing while the session has time", () => {
    expect(sessionNotice(t0, t0 + 3600_000, t0 + 600_000)).toBeNull();
    expect(sessionNotice(t0, null, null)).toBeNull();
  });
  it("announces the idle lock 30 s before", () => {
    expect(sessionNotice(t0, t0 + 3600_000, t0 + 29_500)).toEqual({ kind: "idle", text: "Locking in 30 s for inactivity: press a key or click to stay logged in." });
  });
  it("announces the session's end 10 minutes before", () => {
    const n = sessionNotice(t0, t0 + 9 * 60_000 + 1, t0 + 600_000);
    expect(n?.kind).toBe("expiry");
    expect(n?.text).toContain("ends in 10 min");
  });
  it("says the idle lock when it comes before the end", () => {
    expect(sessionNotice(t0, t0 + 60_000, t0 + 20_000)?.kind).toBe("idle");
    expect(sessionNotice(t0, t0 + 10_000, t0 + 20_000)?.kind).toBe("expiry");
  });
});
