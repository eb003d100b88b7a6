// The data and admin views: the dataset catalogue (search with facets,
// entries with their schema and location) and the lake's sync status per
// zone for the data role; sources and their ingest, lake targets, users and
// roles, and the audit trail with its verification state for admins. The
// ward's alarm limits, the settings (archival rules, retention, sync) and
// users' roles are changed here (`rules.ts`); sources and lake targets,
// which carry credentials, stay with `wardwatchctl`. The backend checks
// every role; a refusal shows as an error.
import { api, asUiError } from "./api";
import { el } from "./dom";
import { dateTimeText, numberText } from "./format";
import { type Reload, rulesEditor, settingsEditor, usersEditor } from "./rules";
import type { CatalogResults, UiError } from "./types";

const bytes = (n: number) => (n < 1e6 ? `${numberText(Math.round(n / 1e3))} kB` : `${numberText(Math.round(n / 1e6))} MB`);

/// The query with `field:value` added (a facet clicked), once.
export function withFacet(query: string, field: string, value: string): string {
  const term = /\s/.test(value) ? `${field}:"${value}"` : `${field}:${value}`;
  return query.includes(term) ? query : `${query.trim()} ${term}`.trim();
}

export async function dataView(box: HTMLElement, onError: (e: UiError) => void): Promise<void> {
  const input = el("input", { type: "search", id: "catalog-query", placeholder: "Search datasets: spo2, zone:curated, column:heart_rate …", "aria-label": "Search the catalogue" });
  const results = el("div", { id: "catalog-results" });
  const sync = el("div", { id: "sync-status" });
  const run = async () => {
    let found: CatalogResults;
    try {
      found = await api.catalogSearch(input.value.trim() || "kind:dataset", 50);
    } catch (e) {
      const ue = asUiError(e);
      results.replaceChildren(el("p", { class: "muted", "data-code": ue.code }, ue.message));
      return;
    }
    const facets = Object.entries(found.facets?.counts ?? {}).filter(([, vs]) => vs.length > 0);
    results.replaceChildren(
      el("p", { class: "muted", id: "catalog-total" }, `${numberText(found.total)} matches`),
      el("div", { class: "facets" }, facets.map(([field, values]) =>
        el("div", { class: "facet" }, el("strong", {}, field),
          values.slice(0, 8).map(([v, n]) => el("button", { type: "button", class: "chip", onclick: () => { input.value = withFacet(input.value, field, v); void run(); } }, `${v} (${n})`))))),
      el("ul", { class: "entries" }, found.hits.map((h) => {
        const e = h.entry;
        return el("li", { class: "entry", "data-id": h.id },
          el("div", {}, el("strong", {}, e?.name ?? h.id), " ", el("span", { class: "tag" }, e?.kind ?? "?"), " ", el("span", { class: "tag" }, e?.zone ?? "")),
          e?.description ? el("div", { class: "muted" }, e.description) : null,
          e?.location ? el("div", { class: "mono" }, e.location) : null,
          h.matched_columns.length ? el("div", {}, "columns: ", h.matched_columns.join(", ")) : null,
          e?.columns?.length ? el("details", {}, el("summary", {}, `schema (${e.columns.length} columns)`),
            el("table", { class: "alarm-table" }, el("tbody", {}, e.columns.map((c) => el("tr", {}, el("td", {}, c.name), el("td", {}, c.type ?? ""), el("td", { class: "muted" }, c.description ?? "")))))) : null);
      })),
    );
  };
  const refresh = async () => {
    try {
      const r = await api.catalogRefresh();
      await run();
      results.prepend(el("p", { class: "muted" }, `catalogue refreshed: ${r.created} new, ${r.updated} changed, ${r.removed} removed`));
    } catch (e) {
      onError(asUiError(e));
    }
  };
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") void run(); });
  box.replaceChildren(
    el("h2", {}, "Dataset catalogue"),
    el("div", { class: "toolbar" }, input, el("button", { type: "button", onclick: () => void run() }, "Search"),
      el("button", { type: "button", id: "catalog-refresh", onclick: () => void refresh() }, "Refresh from the store")),
    results,
    el("h2", {}, "Sync to the lake"),
    sync,
  );
  try {
    const s = await api.lakeStatus();
    sync.replaceChildren(
      el("table", { class: "alarm-table", id: "zones" },
        el("thead", {}, el("tr", {}, ["Zone", "Spooled", "Pending", "Synced"].map((h) => el("th", {}, h)))),
        el("tbody", {}, s.zones.map(([zone, z]) => el("tr", { "data-zone": zone }, el("td", {}, zone),
          el("td", { class: "num" }, `${numberText(z.spooled_records)} records`),
          el("td", { class: "num" }, `${numberText(z.pending_objects)} (${bytes(z.pending_bytes)})`),
          el("td", { class: "num" }, `${numberText(z.synced_objects)} (${bytes(z.synced_bytes)})`))))),
      el("p", { class: "muted" }, `last synced: ${s.last_synced ? dateTimeText(s.last_synced) : "never"}; oldest pending: ${s.oldest_pending ? dateTimeText(s.oldest_pending) : "—"}`),
      ...(s.last_error ? [el("p", { class: "chart-result error" }, `last error (${s.last_error[0]}): ${s.last_error[1]}`)] : []),
    );
  } catch (e) {
    const ue = asUiError(e);
    sync.replaceChildren(el("p", { class: "muted", "data-code": ue.code }, ue.message));
  }
  await run();
}

const cell = (v: unknown): string => {
  if (v == null) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return typeof v === "string" ? v : JSON.stringify(v);
};

export async function adminView(box: HTMLElement, onError: (e: UiError) => void, flash?: { message: string; ok: boolean; code?: string }): Promise<void> {
  let o;
  try {
    o = await api.adminOverview();
  } catch (e) {
    const ue = asUiError(e);
    box.replaceChildren(el("h2", {}, "Administration"), el("p", { class: "muted", "data-code": ue.code }, ue.message));
    if (ue.code !== "forbidden" && ue.code !== "permission_denied") onError(ue);
    return;
  }
  const reload: Reload = (message, ok, code) => void adminView(box, onError, code === undefined ? { message, ok } : { message, ok, code });
  const table = (id: string, rows: Record<string, unknown>[], columns: string[]) =>
    el("table", { class: "alarm-table", id },
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c.replaceAll("_", " "))))),
      el("tbody", {}, rows.map((r) => el("tr", {}, columns.map((c) => el("td", {}, cell(r[c])))))));
  const v = o.verification;
  const intact = v.problems.length === 0;
  box.replaceChildren(
    el("h2", {}, "Administration"),
    el("p", { id: "admin-result", class: flash?.ok === false ? "chart-result error" : "chart-result", "aria-live": "polite", "data-code": flash?.code }, flash?.message ?? ""),
    el("p", { class: "muted" }, "Every change is confirmed, checked and audited. Stream sources and lake targets (with their credentials) are changed with wardwatchctl."),
    el("h3", {}, "Ward alarm limits"),
    rulesEditor(o.rules, o.rules_stored, reload),
    el("h3", {}, "Archival rules, retention and sync"),
    settingsEditor(o.settings, reload),
    el("h3", {}, "Users and roles"),
    usersEditor(o.users, reload),
    el("h3", {}, "Audit trail"),
    el("p", { id: "audit-state", class: intact ? "news-box news-zero" : "news-box news-high" },
      intact ? `verified: ${numberText(v.verified)} of ${numberText(v.entries)} entries sealed and intact${v.unsealed_before_chain ? ` (${v.unsealed_before_chain} from before sealing)` : ""}`
        : `${v.problems.length} problems in ${numberText(v.entries)} entries: run wardwatchctl audit verify`),
    table("audit-log", o.audit.map((a) => ({ ...a, at: dateTimeText(a.at) })), ["at", "actor", "action", "target", "detail"]),
    el("h3", {}, "Stream sources"),
    table("sources", o.sources, Object.keys(o.sources[0] ?? { kind: "", name: "" })),
    table("ingest", o.ingest, Object.keys(o.ingest[0] ?? { source: "" })),
    el("h3", {}, "Lake targets"),
    table("targets", o.targets, Object.keys(o.targets[0] ?? { name: "", url: "" })),
  );
}
