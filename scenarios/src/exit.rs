//! The process exit codes (DESIGN.md §7), shared by the runner's outcomes and the commands.

/// Everything passed.
pub const EXIT_PASS: u8 = 0;
/// A safety violation (or a protocol panic) was found.
pub const EXIT_VIOLATION: u8 = 1;
/// Usage, scenario or input error.
pub const EXIT_INPUT_ERROR: u8 = 2;
/// Inconclusive only (a checker budget ran out).
pub const EXIT_INCONCLUSIVE: u8 = 3;
/// Liveness failure only.
pub const EXIT_LIVENESS: u8 = 4;
/// The determinism check failed.
pub const EXIT_NONDETERMINISM: u8 = 5;
/// The outcome differs from the scenario's `expect:` and is not itself a failure (a pass where
/// a violation or a liveness failure was expected).
pub const EXIT_EXPECTATION: u8 = 6;

/// Combines exit codes across seeds: the worst wins, in the order 1 > 6 > 5 > 4 > 3 > 0
/// (DESIGN.md §7). Input errors (2) rank above everything.
pub fn worst_exit_code(a: u8, b: u8) -> u8 {
    fn rank(code: u8) -> u8 {
        match code {
            EXIT_INPUT_ERROR => 7,
            EXIT_VIOLATION => 6,
            EXIT_EXPECTATION => 5,
            EXIT_NONDETERMINISM => 4,
            EXIT_LIVENESS => 3,
            EXIT_INCONCLUSIVE => 2,
            EXIT_PASS => 0,
            _ => 1,
        }
    }
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}
