import { describe, expect, it } from "vitest";
import { HARMONICS, MIN_GAIN, PATTERNS, PAUSE_MS } from "../src/audio";

// IEC 60601-1-8, Table 3: pulse and burst characteristics.
describe("alarm sounds", () => {
  it("high priority is 10 pulses of 75–200 ms, repeated within 2.5–15 s", () => {
    const p = PATTERNS.high;
    expect(p.pulses).toHaveLength(10);
    for (const x of p.pulses) expect(x.ms >= 75 && x.ms <= 200).toBe(true);
    const end = Math.max(...p.pulses.map((x) => x.at + x.ms));
    expect(p.repeatMs - end).toBeGreaterThanOrEqual(2500);
    expect(p.repeatMs).toBeLessThanOrEqual(15000);
  });
  it("medium is 3 pulses of 125–250 ms; low 1–2 pulses at least 15 s apart", () => {
    expect(PATTERNS.medium.pulses).toHaveLength(3);
    for (const x of PATTERNS.medium.pulses) expect(x.ms >= 125 && x.ms <= 250).toBe(true);
    expect(PATTERNS.low.pulses.length).toBeLessThanOrEqual(2);
    expect(PATTERNS.low.repeatMs).toBeGreaterThanOrEqual(15000);
  });
  it("every tone is 150–1000 Hz with at least four harmonics; the priorities sound different", () => {
    for (const p of Object.values(PATTERNS)) for (const x of p.pulses) expect(x.hz >= 150 && x.hz <= 1000).toBe(true);
    expect(HARMONICS.length - 1).toBeGreaterThanOrEqual(4);
    const signature = (k: keyof typeof PATTERNS) => JSON.stringify(PATTERNS[k].pulses);
    expect(new Set(["high", "medium", "low", "technical"].map((k) => signature(k as keyof typeof PATTERNS))).size).toBe(4);
  });
  it("pauses for a limited time and never goes below the least volume", () => {
    expect(PAUSE_MS).toBeLessThanOrEqual(120000);
    expect(MIN_GAIN).toBeGreaterThan(0.2);
  });
});
