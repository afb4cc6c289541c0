//! The memory a run may use: the GPU's memory for `model.device = cuda*` (given, since nothing is
//! allocated to ask the driver), the machine's RAM (`MemTotal` of `/proc/meminfo`) for `cpu`.

use super::{Error, Result};

/// Bytes in a GiB.
pub const GIB: f64 = (1u64 << 30) as f64;

/// Which kind of device the run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Cpu,
    Cuda,
}

/// The device and how much memory the plan may use on it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Budget {
    pub device: DeviceKind,
    /// Bytes.
    pub bytes: f64,
    /// Where the figure comes from (`--gpu-mem-gib`, `/proc/meminfo MemTotal`).
    pub source: String,
}

/// The budget of `model.device` (`cpu`, `cuda`, `cuda:N`); `gpu_mem_gib` is the GPU's memory.
pub fn device_budget(device: &str, gpu_mem_gib: f64) -> Result<Budget> {
    if device == "cpu" {
        let bytes = mem_total_bytes()?;
        return Ok(Budget {
            device: DeviceKind::Cpu,
            bytes,
            source: "/proc/meminfo MemTotal".into(),
        });
    }
    if device == "cuda" || device.starts_with("cuda:") {
        if !(gpu_mem_gib.is_finite() && gpu_mem_gib > 0.0) {
            return Err(Error::Budget {
                what: "--gpu-mem-gib".into(),
                msg: format!("{gpu_mem_gib} must be a positive number of GiB"),
            });
        }
        return Ok(Budget {
            device: DeviceKind::Cuda,
            bytes: gpu_mem_gib * GIB,
            source: format!("--gpu-mem-gib {gpu_mem_gib}"),
        });
    }
    Err(Error::Budget {
        what: "model.device".into(),
        msg: format!("{device:?}: allowed \"cpu\", \"cuda\", \"cuda:N\""),
    })
}

/// `MemTotal` of `/proc/meminfo` in bytes.
pub fn mem_total_bytes() -> Result<f64> {
    let path = "/proc/meminfo";
    let text = std::fs::read_to_string(path).map_err(|e| Error::Budget {
        what: path.into(),
        msg: format!("cannot read ({e}); plan a cpu run on Linux"),
    })?;
    parse_mem_total(&text).ok_or_else(|| Error::Budget {
        what: path.into(),
        msg: "no readable `MemTotal: N kB` line".into(),
    })
}

/// `MemTotal:  24576000 kB` → bytes.
fn parse_mem_total(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut parts = line.split_whitespace().skip(1);
    let kib: f64 = parts.next()?.parse().ok()?;
    (parts.next() == Some("kB")).then_some(kib * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_line() {
        let t = "MemTotal:       24561232 kB\nMemFree:  1 kB\n";
        assert_eq!(parse_mem_total(t), Some(24561232.0 * 1024.0));
        assert_eq!(parse_mem_total("MemFree: 1 kB"), None);
        assert_eq!(parse_mem_total("MemTotal: x kB"), None);
    }
}
