//! This process's memory, for the benchmarks: Linux's `/proc/self/status` field `VmHWM`, the
//! peak resident set size ("high water mark") of the process so far, which the kernel keeps
//! and `/proc/self/clear_refs` resets (writing `5` sets it to the current resident size,
//! proc(5)), so one benchmark's peak can be taken apart from the ones before it.

/// Peak resident memory of this process (VmHWM), in KiB; 0 where /proc is unavailable.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Peak resident memory of this process (VmHWM), in MiB; 0 where /proc is unavailable.
pub fn peak_rss_mib() -> f64 {
    peak_rss_kib() as f64 / 1024.0
}

/// Resets the peak to the current resident size, so that [`peak_rss_kib`] measures what runs
/// from now on. Returns false where that is not possible (no /proc, an older kernel): the
/// peak then includes what ran before.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_grows_with_an_allocation_and_resets() {
        if !reset_peak_rss() {
            return; // Not Linux: nothing to measure.
        }
        let before = peak_rss_kib();
        let touched = vec![1u8; 64 << 20];
        assert!(touched.iter().all(|&b| b == 1));
        let during = peak_rss_kib();
        assert!(
            during >= before + 60 * 1024,
            "{before} KiB, then {during} KiB"
        );
        drop(touched);
        assert!(reset_peak_rss());
        assert!(peak_rss_kib() < during, "the reset forgot the 64 MiB");
    }
}
