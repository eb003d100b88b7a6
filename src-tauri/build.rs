//! Tauri's build step: reads `tauri.conf.json` beside the root manifest,
//! embeds `ui/` and generates the capability schemas into `gen/`.
fn main() {
    tauri_build::build()
}
