//! Tauri's build step: reads `tauri.conf.json` beside the root manifest,
//! embeds the built UI (`ui/dist`) and generates the capability schemas
//! into `gen/`.
//!
//! The UI is TypeScript built by Vite. `cargo build` of the app builds it
//! too (`npm run build` in `ui/`) whenever its sources changed, so the app
//! always embeds the UI of its own checkout; `scripts/setup.sh` installs
//! `ui/node_modules` (`npm ci`). Without them the build stops and says so.
use std::path::Path;
use std::process::Command;

fn main() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    for watched in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed={}", ui.join(watched).display());
    }
    build_ui(&ui);
    tauri_build::build()
}

fn build_ui(ui: &Path) {
    if !ui.join("node_modules/.bin/vite").exists() {
        panic!(
            "the UI's packages are not installed: run `scripts/setup.sh` (or `npm ci` in {})",
            ui.display()
        );
    }
    let status = Command::new("npm")
        .args(["run", "--silent", "build"])
        .current_dir(ui)
        .status()
        .unwrap_or_else(|e| panic!("cannot run npm to build the UI: {e}"));
    if !status.success() {
        panic!("building the UI failed ({status}): see the TypeScript or Vite errors above");
    }
}
