//! A progress line for one long run: on a terminal, a run still going after
//! [`QUIET_SECONDS`] shows a spinner with the wall time spent, cleared when it ends. Nothing is
//! drawn when standard error is not a terminal (pipes, files, tests), so outputs stay the same.
//! The wall clock here only paces the drawing; it never reaches the run.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::mpsc;
use std::time::Duration;

/// Wall seconds a run may take before its progress line appears.
pub const QUIET_SECONDS: u64 = 3;

/// Runs `work`, showing `label` with a spinner and the elapsed time if it takes longer than
/// [`QUIET_SECONDS`] and standard error is a terminal.
pub fn while_running<T>(label: String, work: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let (done, finished) = mpsc::channel::<()>();
    let painter = std::thread::spawn(move || {
        if finished
            .recv_timeout(Duration::from_secs(QUIET_SECONDS))
            .is_ok()
        {
            return;
        }
        let spinner = ProgressBar::new_spinner().with_elapsed(Duration::from_secs(QUIET_SECONDS));
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg}: {elapsed} so far")
                .expect("a valid template"),
        );
        spinner.set_message(label);
        spinner.enable_steady_tick(Duration::from_millis(200));
        let _ = finished.recv();
        spinner.finish_and_clear();
    });
    let result = work();
    let _ = done.send(());
    let _ = painter.join();
    result
}
