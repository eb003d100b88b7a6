// The display locale. A workstation whose session runs with LANG=C (a
// kiosk, a service account) reports "C" as the language, which Intl refuses
// with a RangeError — and libraries that format numbers at load (uPlot)
// would then fail the whole window. Such a tag is replaced by en-GB
// (24-hour times, day before month) before anything else loads.
export const LOCALE: string = (() => {
  try {
    return Intl.getCanonicalLocales(navigator.language)[0] ?? "en-GB";
  } catch {
    return "en-GB";
  }
})();

if (LOCALE !== navigator.language) {
  Object.defineProperty(navigator, "language", { value: LOCALE, configurable: true });
  Object.defineProperty(navigator, "languages", { value: [LOCALE], configurable: true });
}
