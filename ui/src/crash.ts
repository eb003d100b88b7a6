// A failure of the window itself is loud: any uncaught error or rejected
// promise is shown in the error banner (and kept on <body> for the tests),
// never only in a console nobody reads on a ward.
function show(message: string): void {
  document.body.dataset.uiError = message;
  const box = document.getElementById("error");
  if (!box) return;
  box.textContent = `The window hit an error: ${message}. Restart Wardwatch if it persists; alarms still sound from the runtime.`;
  box.dataset.code = "ui";
  box.hidden = false;
}

window.addEventListener("error", (e) => show(e.message || String(e.error)));
window.addEventListener("unhandledrejection", (e) => {
  const r: unknown = e.reason;
  show(r instanceof Error ? r.message : typeof r === "object" && r && "message" in r ? String(r.message) : String(r));
});
