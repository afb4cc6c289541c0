//! Compiles `kernels/*.cu` to PTX (`$OUT_DIR/<name>.ptx`) for the `cuda` feature; without that
//! feature it does nothing (the CPU build never looks for nvcc).
//!
//! nvcc is `$NVCC`, else `$CUDA_HOME/bin/nvcc`, else `nvcc` on `PATH`. The PTX targets
//! `compute_$CUDA_COMPUTE_CAP` (digits only, default 80; the driver JIT-compiles it for newer GPUs).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> Result<(), String> {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return Ok(());
    }
    println!("cargo:rerun-if-changed=kernels");
    for var in ["NVCC", "CUDA_HOME", "CUDA_COMPUTE_CAP"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    let nvcc = nvcc_path();
    let arch = compute_arch()?;
    for cu in kernel_sources(Path::new("kernels"))? {
        println!("cargo:rerun-if-changed={}", cu.display());
        let stem = cu
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("{}: file name is not UTF-8", cu.display()))?;
        let ptx = out_dir.join(format!("{stem}.ptx"));
        let output = Command::new(&nvcc)
            .args(["--ptx", "-O3", "-std=c++17", &format!("-arch={arch}"), "-o"])
            .arg(&ptx)
            .arg(&cu)
            .output()
            .map_err(|e| {
                format!(
                    "cannot run {} ({e}); set NVCC or CUDA_HOME, or use scripts/build-cuda.sh",
                    nvcc.display()
                )
            })?;
        if !output.status.success() {
            return Err(format!(
                "{} --ptx {} failed ({}):\n{}{}",
                nvcc.display(),
                cu.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        // A fake nvcc (scripts/check-cuda.sh) writes nothing; `include_str!` still needs the file.
        if !ptx.exists() {
            std::fs::write(&ptx, "").map_err(|e| format!("{}: {e}", ptx.display()))?;
        }
    }
    Ok(())
}

fn nvcc_path() -> PathBuf {
    if let Some(nvcc) = std::env::var_os("NVCC") {
        return PathBuf::from(nvcc);
    }
    if let Some(home) = std::env::var_os("CUDA_HOME") {
        let nvcc = Path::new(&home).join("bin").join("nvcc");
        if nvcc.exists() {
            return nvcc;
        }
    }
    PathBuf::from("nvcc")
}

/// `compute_90` for `CUDA_COMPUTE_CAP=90` or `90a`; `compute_80` when unset; below 80 an error
/// (the flash-attention kernels use bf16 tensor cores).
fn compute_arch() -> Result<String, String> {
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "80".to_string());
    let digits: String = cap.chars().take_while(|c| c.is_ascii_digit()).collect();
    match digits.parse::<u32>() {
        Ok(n) if n >= 80 => Ok(format!("compute_{n}")),
        Ok(n) if n > 0 => Err(format!(
            "CUDA_COMPUTE_CAP={cap:?}: the kernels need compute capability 8.0 or newer (bf16 \
             tensor cores: A100, L4/L40, H100/H200, RTX 30xx and later)"
        )),
        _ => Err(format!(
            "CUDA_COMPUTE_CAP={cap:?}: expected a compute capability such as 80 or 90"
        )),
    }
}

fn kernel_sources(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut sources = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().is_some_and(|ext| ext == "cu") {
            sources.push(path);
        }
    }
    sources.sort();
    Ok(sources)
}
