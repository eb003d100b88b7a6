import { defineConfig } from "vitest/config";

// The window's bundle: everything local (no CDN), no inline scripts (the CSP
// in tauri.conf.json allows `script-src 'self'` only), relative paths so
// Tauri serves it from its embedded assets.
export default defineConfig({
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "safari15",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  test: {
    environment: "jsdom",
    include: ["test/**/*.test.ts"],
  },
});
