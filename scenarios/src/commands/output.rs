//! Standard output and error for the commands, without `println!`'s panics.
//!
//! `println!` panics when a write fails, and the usual failure is a reader that went away:
//! `faultline sweep … | head -1` closes the pipe, and since the Rust runtime ignores SIGPIPE the
//! next write returns EPIPE. The commands print through [`outln!`] and [`out!`] instead: after
//! a failed write they stop printing and the command finishes as usual, so it exits with the
//! code its results call for (a violation found is still 1). A closed pipe is not reported;
//! any other failure (a full disk) is kept, and `main` reports it as an I/O error (exit 2)
//! once the command returns, since the output it wrote is incomplete.
//!
//! Diagnostics go through [`errln!`], which drops what it cannot write: when standard error
//! itself is gone there is nowhere left to say so.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Set after the first failed write to standard output; nothing more is printed.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
/// The first failed write to standard output other than a closed pipe.
static STDOUT_FAILURE: OnceLock<std::io::Error> = OnceLock::new();

/// Writes `text` to standard output unless an earlier write failed. The lock is held for the
/// whole text, so lines printed from several threads never interleave.
pub fn write_stdout(text: std::fmt::Arguments<'_>) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    // Flushing makes a write that `LineWriter` buffered (a text without a newline) fail here,
    // not at exit where the error would be lost.
    if let Err(error) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = STDOUT_FAILURE.set(error);
        }
    }
}

/// Writes `text` to standard error, ignoring failures (see the module doc).
pub fn write_stderr(text: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(text);
}

/// The first failed write to standard output that was not a closed pipe, for `main`.
pub fn stdout_failure() -> Option<&'static std::io::Error> {
    STDOUT_FAILURE.get()
}

/// `print!` to standard output through [`write_stdout`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::commands::output::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` to standard output through [`write_stdout`].
macro_rules! outln {
    () => {
        $crate::commands::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::commands::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` through [`write_stderr`].
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::commands::output::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, out, outln};
