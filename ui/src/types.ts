// The shapes the backend's commands return (src-tauri/main.rs, serialised
// from wardwatch-core's types). Optional fields are `null` from serde.

export type Priority = "high" | "medium" | "low" | "technical";
export type VitalKey =
  | "heart_rate"
  | "resp_rate"
  | "spo2"
  | "systolic_bp"
  | "diastolic_bp"
  | "temperature_c"
  | "consciousness"
  | "o2_flow_lpm";

export interface UiError {
  code: string;
  message: string;
}

export interface Session {
  user: string | null;
  role: "data" | "viewer" | "clinician" | "admin" | null;
  data_dir: string;
  suggested_user: string;
  lock_after_s: number;
  /// When the session ends at the latest (12 h after login); null when locked.
  expires_at: string | null;
}

export interface RuntimeStatus {
  state: "hosted" | "external" | "stopped" | "none";
  detail: string;
}

export interface PatientSummary {
  mrn: string;
  name: string;
  age_years: number | null;
  sex: string;
  ward: string | null;
  bed: string | null;
  spo2_scale: "1" | "2";
  conditions: string[];
  medication_classes: string[];
  admitted: boolean;
}

export interface Baseline {
  hr_bpm: number | null;
  rr_per_min: number | null;
  sbp_mmhg: number | null;
  spo2_pct: number | null;
  temp_c: number | null;
}

export interface PatientView {
  mrn: string;
  family_name: string;
  given_name: string;
  age_years: number | null;
  sex: string;
  ward: string | null;
  bed: string | null;
  attending: string | null;
  conditions: string[];
  medications: string[];
  allergies: string[];
  baseline: Baseline;
  spo2_scale: "1" | "2";
  alert_consent: boolean;
  admitted_at: string | null;
  medication_classes: string[];
}

export interface VitalNow {
  vital: VitalKey;
  label: string;
  unit: string;
  value: number | null;
  at: string;
  age_s: number;
  stale: boolean;
}

export type News2Response = "routine" | "low" | "low_medium_red_score" | "urgent" | "emergency";

export interface News2Detail {
  sub_scores: { parameter: string; charted_value: number | null; score: number }[];
  aggregate: number;
  missing: string[];
  complete: boolean;
  red_score: boolean;
  spo2_scale: "1" | "2";
  response: News2Response;
  clinical_risk: string;
  monitoring_frequency: string;
  action: string;
}

export interface RiskDetail {
  score: number;
  level: string;
  contributors: { feature: string; points: number; detail: string }[];
  missing: string[];
}

interface ScoreBase {
  mrn: string;
  at: string;
  value: number;
}
export type News2Row = ScoreBase & { kind: "news2"; detail: News2Detail };
export type RiskRow = ScoreBase & { kind: "cardiac_risk"; detail: RiskDetail };
export type EcgHrRow = ScoreBase & { kind: "ecg_hr"; detail: { lead: number } };
export interface EcgEventDetail {
  /** "suppressed": a life-threatening finding the pulse contradicted. */
  event: "onset" | "end" | "suppressed";
  lead: number;
  finding?: { kind: string; detail?: string };
  kind?: string;
  /** Why it was suppressed: what each signal said. */
  reason?: string;
}
export type EcgEventRow = ScoreBase & { kind: "ecg_event"; detail: EcgEventDetail };

export interface PatientLive {
  mrn: string;
  vitals: VitalNow[];
  news2: News2Row | null;
  cardiac_risk: RiskRow | null;
  ecg_hr: EcgHrRow | null;
  ecg_events: EcgEventRow[];
}

export interface EcgStrip {
  lead: number;
  fs_hz: number;
  start: string | null;
  samples_mv: (number | null)[];
  /** The pleth, else the arterial pressure, over the same seconds. */
  pulse?: PulseStrip | null;
}
/** A pulse waveform in its own unit (pleth: arbitrary; ABP: mmHg). */
export interface PulseStrip {
  code: number;
  name: string;
  unit: string;
  fs_hz: number;
  start: string | null;
  samples: (number | null)[];
}

export interface AlarmView {
  id: number;
  mrn: string | null;
  patient: string | null;
  ward: string | null;
  bed: string | null;
  key: string;
  priority: Priority;
  state: string;
  latched: boolean;
  message: string;
  raised: string;
  updated: string;
  condition_ended: string | null;
  acked_by: string | null;
  acked: string | null;
  note: string | null;
  notify_count: number;
  escalated_to: string | null;
  annotation: string | null;
  misfiled_to: string | null;
}

export interface LockedBed {
  ward: string | null;
  bed: string | null;
  alarm: { priority: Priority; kind: string } | null;
}

export interface HistorySeries {
  vital: VitalKey;
  label: string;
  unit: string;
  min: (number | null)[];
  max: (number | null)[];
  mean: (number | null)[];
  readings: number;
}

export interface History {
  mrn: string;
  from: string;
  to: string;
  resolution: "samples" | "minutes" | "lake";
  bin_ms: number;
  t_ms: number[];
  series: HistorySeries[];
  news2: (number | null)[];
  cardiac_risk: (number | null)[];
}

export interface Chart {
  observed_at?: string;
  consciousness?: string;
  o2_flow_lpm?: number;
  o2_device?: string;
  systolic_bp?: number;
  diastolic_bp?: number;
  temperature_c?: number;
  resp_rate?: number;
  heart_rate?: number;
  spo2?: number;
  note?: string;
}

export interface Charted {
  id: number;
  mrn: string;
  observed: string;
  entered: string;
  entered_by: string;
  detail: string | null;
  fhir: string;
}

export interface Trend {
  mrn: string;
  t_ms: number[];
  heart_rate: (number | null)[];
  spo2: (number | null)[];
}

export interface CatalogColumn {
  name: string;
  type?: string;
  description?: string;
}

export interface CatalogEntry {
  id: string;
  kind: string;
  zone: string;
  dataset: string;
  name: string;
  description: string;
  owner: string | null;
  tags: string[];
  iceberg: string | null;
  location: string | null;
  wards: string[];
  date: string | null;
  columns?: CatalogColumn[];
  [more: string]: unknown;
}

export interface CatalogResults {
  total: number;
  hits: { id: string; score: number; entry: CatalogEntry | null; matched_columns: string[] }[];
  facets: { counts: Record<string, [string, number][]> } | null;
}

export interface ZoneStatus {
  pending_objects: number;
  pending_bytes: number;
  synced_objects: number;
  synced_bytes: number;
  spooled_records: number;
  spooled_bytes: number;
}

export interface LakeStatus {
  zones: [string, ZoneStatus][];
  oldest_pending: string | null;
  last_synced: string | null;
  last_error: [string, string] | null;
  synced_last_hour: [number, number];
}

export interface AdminOverview {
  sources: Record<string, unknown>[];
  ingest: Record<string, unknown>[];
  targets: Record<string, unknown>[];
  users: { username: string; display_name: string; role: string; active: boolean; service: boolean }[];
  audit: { at: string; actor: string; action: string; target: string | null; detail: unknown }[];
  verification: { entries: number; verified: number; unsealed_before_chain: number; problems: unknown[] };
  settings: SettingView[];
  rules: Rules;
  rules_stored: boolean;
}

export interface SettingView {
  key: string;
  holds: string;
  /// null: the default applies.
  value: string | null;
}

export type LimitPriority = "high" | "medium" | "low";

/// One vital's ward limit (`alarms::Limit`); delay in seconds.
export interface Limit {
  low: number | null;
  high: number | null;
  priority: LimitPriority;
  delay: number;
  hysteresis: number;
}

/// The ward's alarm rules (`alarms::Rules`); durations in seconds.
export interface Rules {
  hr: Limit;
  spo2: Limit;
  spo2_scale2_low: number;
  rr: Limit;
  sbp: Limit;
  temp: Limit;
  news2_delay: number;
  signal_lost_after: number;
  stalled_after: number;
  reminder_every: number;
  escalate_after: number;
  escalate_to: string;
}
