//! Files other tools read while a command runs (JUnit reports, sweep summaries) are written
//! whole or not at all.

use std::path::Path;

/// Writes `contents` to a temporary sibling of `file`, then renames it over `file`, so a
/// reader (a CI job collecting reports) never sees a half-written file.
pub(super) fn write_atomically(file: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    let leaf = file
        .file_name()
        .with_context(|| format!("--junit {}: expected a file name", file.display()))?;
    let staging = file.with_file_name(format!(
        ".{}.partial-{}",
        leaf.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&staging, contents).with_context(|| format!("writing {}", staging.display()))?;
    if let Err(error) = std::fs::rename(&staging, file) {
        let _ = std::fs::remove_file(&staging);
        return Err(error).with_context(|| format!("moving the report into {}", file.display()));
    }
    Ok(())
}
