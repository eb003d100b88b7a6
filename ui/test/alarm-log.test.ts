import { beforeEach, describe, expect, it, vi } from "vitest";

const alarms: unknown[] = [];
vi.mock("@tauri-apps/api/core", () => ({
  invoke: vi.fn((cmd: string) =>
    cmd === "list_alarms"
      ? Promise.resolve(structuredClone(alarms))
      : Promise.reject(new Error(`unexpected command ${cmd}`)),
  ),
}));

const { alarmLog } = await import("../src/alarms");

function alarm(id: number, annotation: string | null) {
  return {
    id, mrn: "MRN1", patient: "Ada Lovelace", ward: "4B", bed: "3", key: "asystole",
    priority: "high", state: "acknowledged", latched: true, message: "ASYSTOLE",
    raised: new Date().toISOString(), updated: new Date().toISOString(), condition_ended: null,
    acked_by: "nurse.jones", acked: new Date().toISOString(), note: null, notify_count: 0,
    escalated_to: null, annotation, misfiled_to: null,
  };
}

describe("the alarm log", () => {
  beforeEach(() => {
    alarms.length = 0;
    document.body.replaceChildren();
  });

  it("leaves its buttons in place when a refresh brings the same alarms", async () => {
    alarms.push(alarm(7, null));
    const box = document.createElement("div");
    document.body.append(box);
    const none = () => {};
    await alarmLog(box, none, async () => {});
    const button = box.querySelector("tr[data-alarm='7'] .alert-patient");
    expect(button).not.toBeNull();
    await alarmLog(box, none, async () => {});
    expect(box.querySelector("tr[data-alarm='7'] .alert-patient")).toBe(button);
    expect(button?.isConnected).toBe(true);
  });

  it("redraws when an alarm changes", async () => {
    alarms.push(alarm(7, null));
    const box = document.createElement("div");
    document.body.append(box);
    const none = () => {};
    await alarmLog(box, none, async () => {});
    const before = box.querySelector("tr[data-alarm='7']");
    alarms[0] = alarm(7, "false");
    await alarmLog(box, none, async () => {});
    const after = box.querySelector("tr[data-alarm='7']");
    expect(after).not.toBe(before);
    expect(after?.querySelector(".annotation")?.textContent).toBe("false");
  });
});
