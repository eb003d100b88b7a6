// Pure helpers of the window: formatting, ordering, and the decisions of
// display only (colours follow the backend's NEWS2 response band; the UI
// never recomputes a clinical score). Unit-tested in test/format.test.ts.
import { LOCALE } from "./locale";
import type {
  AlarmView,
  News2Response,
  News2Row,
  PatientLive,
  PatientSummary,
  Priority,
  VitalKey,
  VitalNow,
} from "./types";

export { LOCALE };

export const dateTimeText = (t: string | number): string => new Date(t).toLocaleString(LOCALE);
export const timeText = (t: string | number): string => new Date(t).toLocaleTimeString(LOCALE);
export const numberText = (n: number): string => n.toLocaleString(LOCALE);

export const RANK: Record<Priority, number> = { high: 3, medium: 2, low: 1, technical: 0 };

/// IEC 60601-1-8 visual markers: *** high, ** medium, * low; INOP for technical.
export const MARKER: Record<Priority, string> = { high: "***", medium: "**", low: "*", technical: "INOP" };

export const MEDICATION_LABELS: Record<string, string> = {
  beta_blocker: "β-blocker",
  anticoagulant: "anticoagulant",
  antiarrhythmic: "antiarrhythmic",
  insulin: "insulin",
};

export function ageText(age: number | null): string {
  return age == null ? "age unknown" : `${age} y`;
}

/// The CSS class of a NEWS2 response band (RCP 2017, chart 4), as the
/// backend decided it.
export function newsClass(row: News2Row | null): string {
  if (!row) return "news-none";
  const bands: Record<News2Response, string> = {
    routine: "news-zero",
    low: "news-low",
    low_medium_red_score: "news-lowmed",
    urgent: "news-medium",
    emergency: "news-high",
  };
  return bands[row.detail.response] ?? "news-none";
}

export function newsText(row: News2Row | null): string {
  if (!row) return "NEWS2 –";
  return `NEWS2 ${row.value}${row.detail.complete ? "" : "*"}`;
}

export function vitalOf(live: PatientLive | undefined, v: VitalKey): VitalNow | null {
  return live?.vitals.find((x) => x.vital === v) ?? null;
}

const DIGITS: Partial<Record<VitalKey, number>> = { temperature_c: 1, o2_flow_lpm: 1 };
const ACVPU = ["A", "C", "V", "P", "U"];

export function valueText(x: VitalNow | null): string {
  if (!x) return "–";
  if (x.value === null) return "no signal";
  if (x.vital === "consciousness") return ACVPU[Math.round(x.value)] ?? "?";
  if (x.vital === "o2_flow_lpm") return x.value === 0 ? "air" : `${x.value.toFixed(1)} L/min`;
  return x.value.toFixed(DIGITS[x.vital] ?? 0);
}

/// "12 s", "4 min", "3 h", "2 d": how old a reading is.
export function ageOf(seconds: number): string {
  if (seconds < 120) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

export function worstAlarm(alarms: AlarmView[], mrn: string): AlarmView | null {
  let worst: AlarmView | null = null;
  for (const a of alarms) {
    if (a.mrn === mrn && a.state === "active" && (!worst || RANK[a.priority] > RANK[worst.priority])) worst = a;
  }
  return worst;
}

export function matches(p: PatientSummary, q: string): boolean {
  if (!q) return true;
  const hay = [p.name, p.mrn, p.bed ?? "", p.ward ?? "", ...p.conditions].join(" ").toLowerCase();
  return q
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => hay.includes(word));
}

/// Beds sort as people read them: "2" before "10", "A3" before "B1".
export function bedOrder(a: string | null, b: string | null): number {
  return (a ?? "\uffff").localeCompare(b ?? "\uffff", LOCALE, { numeric: true });
}

export type SortKey = "bed" | "news2" | "alarm";

/// The overview's order: by bed, by NEWS2 (highest first), or by the worst
/// active alarm (then NEWS2); ties by bed.
export function sortPatients(
  list: PatientSummary[],
  by: SortKey,
  live: Map<string, PatientLive>,
  alarms: AlarmView[],
): PatientSummary[] {
  const news = (p: PatientSummary) => live.get(p.mrn)?.news2?.value ?? -1;
  const alarm = (p: PatientSummary) => {
    const w = worstAlarm(alarms, p.mrn);
    return w ? RANK[w.priority] + 1 : 0;
  };
  return [...list].sort((a, b) => {
    let d = 0;
    if (by === "news2") d = news(b) - news(a);
    if (by === "alarm") d = alarm(b) - alarm(a) || news(b) - news(a);
    return d || bedOrder(a.bed, b.bed) || a.mrn.localeCompare(b.mrn, LOCALE);
  });
}

/// The next tile for keyboard navigation over a grid `columns` wide.
export function moveFocus(index: number, count: number, columns: number, key: string): number {
  if (count === 0) return -1;
  const step: Record<string, number> = {
    ArrowRight: 1,
    ArrowLeft: -1,
    ArrowDown: columns,
    ArrowUp: -columns,
    Home: -Infinity,
    End: Infinity,
  };
  const d = step[key];
  if (d === undefined) return index;
  if (d === -Infinity) return 0;
  if (d === Infinity) return count - 1;
  return Math.min(count - 1, Math.max(0, index + d));
}

/// Human text of a span in ms: "1 year", "7 days", "6 h", "10 min".
export function spanText(ms: number): string {
  const min = ms / 60000;
  if (min < 120) return `${Math.round(min)} min`;
  const h = min / 60;
  if (h < 48) return `${Math.round(h)} h`;
  const d = h / 24;
  if (d < 360) return `${Math.round(d)} days`;
  return `${(d / 365).toFixed(d < 700 ? 0 : 1)} year${d < 547 ? "" : "s"}`;
}

/// ECG paper at the monitor's standard: 25 mm/s and 10 mm/mV, on a screen
/// of 96 CSS px per inch (what CSS calls a millimetre).
export const PX_PER_MM = 96 / 25.4;
export const MM_PER_S = 25;
export const MM_PER_MV = 10;

/// Where sample `i` of a sweep `width` CSS px wide lands: x wraps around
/// like a monitor's erase bar.
export function sweepX(tSeconds: number, width: number): number {
  const pxPerS = MM_PER_S * PX_PER_MM;
  const span = width / pxPerS;
  return ((tSeconds % span) + span) % span * pxPerS;
}

/** The name shown on a pulse wave's strip. */
export function pulseLabel(p: { code: number; unit: string }): string {
  if (p.code === 150452) return "Pleth";
  return p.unit === "mm[Hg]" ? "ABP (mmHg)" : "Pulse";
}

/**
 * The range a pulse wave is scaled to: its visible samples' minimum and
 * maximum (missing ones skipped), or null when none is visible.
 */
export function pulseRange(
  samples: (number | null)[],
  visible: (i: number) => boolean,
): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  samples.forEach((v, i) => {
    if (v == null || Number.isNaN(v) || !visible(i)) return;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  });
  return lo <= hi ? [lo, hi] : null;
}

/** The detail view's heart-rate line, naming where the rate comes from. */
export function heartRateText(lead: number, bpm: number): string {
  const n = Math.round(bpm);
  if (lead === 150452) return `Pulse rate ${n} /min (pleth: the ECG shows no beats)`;
  if (lead === 150032 || lead === 150016) return `Pulse rate ${n} /min (arterial line: the ECG shows no beats)`;
  return `ECG heart rate ${n} /min`;
}
