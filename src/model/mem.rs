//! Process memory figures for logs and benchmarks (Linux `/proc/self/status`).

/// Reads one `Vm*` line of `/proc/self/status` in MiB.
fn vm_field_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Peak resident set size of this process so far in MiB (`VmHWM`); `None` where the platform does
/// not expose it (non-Linux).
pub fn peak_rss_mb() -> Option<f64> {
    vm_field_mb("VmHWM:")
}

/// Current resident set size of this process in MiB (`VmRSS`); `None` where unavailable.
pub fn current_rss_mb() -> Option<f64> {
    vm_field_mb("VmRSS:")
}
