// Typed calls of the backend's commands. Every decision is the backend's;
// errors arrive as { code, message } and callers branch on `code` only.
import { invoke } from "@tauri-apps/api/core";
import type {
  AdminOverview,
  AlarmView,
  CatalogResults,
  Chart,
  Charted,
  EcgStrip,
  History,
  LakeStatus,
  LockedBed,
  PatientLive,
  PatientSummary,
  PatientView,
  Rules,
  RuntimeStatus,
  Session,
  Trend,
  UiError,
} from "./types";

export function asUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    const { code, message } = e;
    return { code: String(code), message: String(message) };
  }
  return { code: "internal", message: e instanceof Error ? e.message : String(e) };
}

export const api = {
  session: () => invoke<Session>("session"),
  login: (username: string, password: string) => invoke<null>("login", { username, password }),
  lock: () => invoke<null>("lock"),
  lockedOverview: () => invoke<LockedBed[]>("locked_overview"),
  runtimeStatus: () => invoke<RuntimeStatus>("runtime_status"),
  listPatients: () => invoke<PatientSummary[]>("list_patients"),
  showPatient: (mrn: string) => invoke<PatientView>("show_patient", { mrn }),
  wardLive: () => invoke<PatientLive[]>("ward_live"),
  wardTrends: (minutes: number) => invoke<Trend[]>("ward_trends", { minutes }),
  patientLive: (mrn: string) => invoke<PatientLive>("patient_live", { mrn }),
  ecgStrip: (mrn: string, seconds: number) => invoke<EcgStrip>("ecg_strip", { mrn, seconds }),
  listAlarms: (openOnly: boolean) => invoke<AlarmView[]>("list_alarms", { openOnly }),
  ackAlarm: (id: number, note: string | null) => invoke<AlarmView>("ack_alarm", { id, note }),
  annotateAlarm: (id: number, annotation: "true" | "false" | "non_actionable") =>
    invoke<AlarmView>("annotate_alarm", { id, annotation }),
  notifyPatient: (alarmId: number, text: string) => invoke<number>("notify_patient", { alarmId, text }),
  history: (mrn: string, fromMs: number, toMs: number, columns: number) =>
    invoke<History>("patient_history", { mrn, fromMs, toMs, columns }),
  lakeHistory: (mrn: string, fromMs: number, toMs: number, columns: number) =>
    invoke<History>("lake_history", { mrn, fromMs, toMs, columns }),
  exportHistory: (mrn: string, fromMs: number, toMs: number, columns: number) =>
    invoke<string>("export_history", { mrn, fromMs, toMs, columns }),
  chart: (mrn: string, chart: Chart) => invoke<number[]>("chart_observations", { mrn, chart }),
  charted: (mrn: string, hours: number) => invoke<Charted[]>("charted_observations", { mrn, hours }),
  catalogSearch: (query: string, limit: number) => invoke<CatalogResults>("catalog_search", { query, limit }),
  catalogRefresh: () => invoke<{ created: number; updated: number; removed: number }>("catalog_refresh"),
  lakeStatus: () => invoke<LakeStatus>("lake_status"),
  adminOverview: () => invoke<AdminOverview>("admin_overview"),
  setSetting: (key: string, value: string | null) => invoke<null>("set_setting", { key, value }),
  setWardRules: (rules: Rules) => invoke<null>("set_ward_rules", { rules }),
  setUserRole: (username: string, role: string) => invoke<null>("set_user_role", { username, role }),
  setUserActive: (username: string, active: boolean) => invoke<null>("set_user_active", { username, active }),
};
