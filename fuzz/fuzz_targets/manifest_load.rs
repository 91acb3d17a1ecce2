//! Fuzz target: any bytes, loaded as a manifest file, either load or fail with diagnostics that name the file and a
//! position inside it. A panic, or a diagnostic pointing outside the text, is a crash.
//!
//! ```text
//! cargo +nightly fuzz run manifest_load -- -max_total_time=600
//! ```

#![no_main]

use evalform::manifest::{self, EnvMode, LoadOptions, ManifestFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = |name: &str| (name == "SET").then(|| "value".to_string());
    let files = vec![ManifestFile { path: "fuzz.yaml".into(), text: text.to_string() }];
    if let Err(diagnostics) = manifest::load_texts(files, &LoadOptions { env: &env, mode: EnvMode::Required }) {
        assert!(!diagnostics.is_empty());
        let lines = line_count(text);
        for d in diagnostics.iter() {
            assert_eq!(d.file, "fuzz.yaml");
            let pos = d.pos.expect("every problem in a text has a position");
            assert!(pos.line >= 1 && pos.line <= lines + 1 && pos.column >= 1, "{pos:?} outside the text");
        }
        let _ = diagnostics.render(false);
    }
});

/// Lines as YAML counts them: `\n`, `\r\n` and a lone `\r` each end one (as most editors also show them).
fn line_count(text: &str) -> usize {
    1 + text.replace("\r\n", "\n").chars().filter(|&c| c == '\n' || c == '\r').count()
}
