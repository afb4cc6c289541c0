//! Runs a kernel launch [`Plan`] on the CPU emulation of the CUDA execution model
//! (`tests/cuda_emu/README.md`): the real `kernels/<module>.cu` is compiled with g++ against
//! `tests/cuda_emu/include/cuda_emu.h` (once per source text, cached under
//! `target/cuda-emu/`), and the binary executes the plan's launches on the input tensors.
//!
//! ```ignore
//! let plan = trainer::kernels::rmsnorm::plan::forward(DType::F32, rows, cols, 1e-6)?;
//! let outs = common::cuda_emu::run_plan(&plan, &[x, w])?; // 1-D CPU tensors, plan.outputs order
//! ```

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor};
use trainer::kernels::plan::{Arg, Plan};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// g++ flags of the emulation binaries (part of the cache key).
const FLAGS: &[&str] = &["-std=c++20", "-O1", "-pthread"];

/// Runs `plan` (its `kernels/<module>.cu`) on `inputs` (CPU tensors, one per input buffer, with
/// the buffer's dtype and element count; any shape). Buffer dtypes: f32, f64, f16, bf16, u32,
/// i32, i64, u8. Returns the output buffers as 1-D CPU tensors in `plan.outputs` order, or an
/// error: an invalid plan, mismatched inputs, a compile error, or the emulator's own message
/// (unknown kernel, argument type mismatch naming the kernel and argument, out-of-bounds
/// access, hang).
pub fn run_plan(plan: &Plan, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    let source = Path::new(ROOT)
        .join("kernels")
        .join(format!("{}.cu", plan.module));
    run_plan_with_source(&source, plan, inputs)
}

/// [`run_plan`] with the kernels of `source` instead of `kernels/<plan.module>.cu`.
pub fn run_plan_with_source(
    source: &Path,
    plan: &Plan,
    inputs: &[Tensor],
) -> Result<Vec<Tensor>, String> {
    plan.validate().map_err(|e| format!("invalid plan: {e}"))?;
    if inputs.len() != plan.inputs {
        return Err(format!(
            "{}: the plan has {} inputs, {} tensors given",
            plan.module,
            plan.inputs,
            inputs.len()
        ));
    }
    let mut stdin = script(plan)?.into_bytes();
    for (i, (t, spec)) in inputs.iter().zip(&plan.buffers).enumerate() {
        if !t.device().is_cpu() || t.dtype() != spec.dtype || t.elem_count() != spec.len {
            return Err(format!(
                "{}: input {i} is a {:?} tensor of {} elements on {:?}; the plan wants {:?} × {} on the CPU",
                plan.module,
                t.dtype(),
                t.elem_count(),
                t.device(),
                spec.dtype,
                spec.len
            ));
        }
        stdin.extend(to_bytes(t)?);
    }
    let exe = binary(source)?;
    let stdout = execute(&exe, stdin, plan)?;
    let mut outs = Vec::with_capacity(plan.outputs.len());
    let mut rest = stdout.as_slice();
    for &o in &plan.outputs {
        let spec = plan.buffers[o];
        let n = spec.len * spec.dtype.size_in_bytes();
        if rest.len() < n {
            return Err(format!("{}: emulator output too short", plan.module));
        }
        let (bytes, tail) = rest.split_at(n);
        outs.push(from_bytes(bytes, spec.dtype)?);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(format!("{}: emulator output too long", plan.module));
    }
    Ok(outs)
}

/// The script's name of a dtype (see tests/cuda_emu/runner.h).
fn dtype_name(d: DType) -> Result<&'static str, String> {
    Ok(match d {
        DType::F32 => "f32",
        DType::F64 => "f64",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        DType::U32 => "u32",
        DType::I64 => "i64",
        DType::I32 => "i32",
        DType::U8 => "u8",
        other => return Err(format!("the emulator does not support {other:?} buffers")),
    })
}

/// The text part of the launch script.
fn script(plan: &Plan) -> Result<String, String> {
    let mut s = String::from("cuda-emu 1\n");
    for (i, b) in plan.buffers.iter().enumerate() {
        // 1: input data follows; 0: zero-filled; 2: uninitialized (filled with 0xFF bytes, NaN
        // for floats, so a kernel that misses an element fails the comparison).
        let kind = if i < plan.inputs {
            1
        } else if b.zeroed {
            0
        } else {
            2
        };
        s += &format!("buffer {} {} {kind}\n", dtype_name(b.dtype)?, b.len);
    }
    for l in &plan.launches {
        if l.kernel.is_empty()
            || !l
                .kernel
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!("kernel name {:?} is not a C identifier", l.kernel));
        }
        let (g, b) = (l.grid, l.block);
        s += &format!(
            "launch {} {} {} {} {} {} {}",
            l.kernel, g.0, g.1, g.2, b.0, b.1, b.2
        );
        for a in &l.args {
            s += &match a {
                Arg::Buf(i) => format!(" b:{i}"),
                Arg::I32(v) => format!(" i:{v}"),
                Arg::U32(v) => format!(" u:{v}"),
                Arg::F32(v) => format!(" f:{:x}", v.to_bits()),
                Arg::F64(v) => format!(" d:{:x}", v.to_bits()),
            };
        }
        s.push('\n');
    }
    for o in &plan.outputs {
        s += &format!("output {o}\n");
    }
    s += "end\n";
    Ok(s)
}

fn to_bytes(t: &Tensor) -> Result<Vec<u8>, String> {
    fn le<T: candle_core::WithDType, const N: usize>(
        t: &Tensor,
        f: fn(T) -> [u8; N],
    ) -> Result<Vec<u8>, String> {
        let v = t.to_vec1::<T>().map_err(|e| e.to_string())?;
        Ok(v.into_iter().flat_map(f).collect())
    }
    let t = t.flatten_all().map_err(|e| e.to_string())?;
    match t.dtype() {
        DType::F32 => le(&t, f32::to_le_bytes),
        DType::F64 => le(&t, f64::to_le_bytes),
        DType::F16 => le(&t, half::f16::to_le_bytes),
        DType::BF16 => le(&t, half::bf16::to_le_bytes),
        DType::U32 => le(&t, u32::to_le_bytes),
        DType::I32 => le(&t, i32::to_le_bytes),
        DType::I64 => le(&t, i64::to_le_bytes),
        DType::U8 => le(&t, u8::to_le_bytes),
        other => Err(format!("the emulator does not support {other:?} buffers")),
    }
}

fn from_bytes(b: &[u8], dtype: DType) -> Result<Tensor, String> {
    fn vec<T, const N: usize>(b: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
        b.chunks_exact(N)
            .map(|c| f(c.try_into().unwrap_or([0; N])))
            .collect()
    }
    let cpu = &Device::Cpu;
    let t = match dtype {
        DType::F32 => Tensor::new(vec(b, f32::from_le_bytes), cpu),
        DType::F64 => Tensor::new(vec(b, f64::from_le_bytes), cpu),
        DType::F16 => Tensor::new(vec(b, half::f16::from_le_bytes), cpu),
        DType::BF16 => Tensor::new(vec(b, half::bf16::from_le_bytes), cpu),
        DType::U32 => Tensor::new(vec(b, u32::from_le_bytes), cpu),
        DType::I64 => Tensor::new(vec(b, i64::from_le_bytes), cpu),
        DType::I32 => Tensor::new(vec(b, i32::from_le_bytes), cpu),
        DType::U8 => Tensor::new(b.to_vec(), cpu),
        other => return Err(format!("the emulator does not support {other:?} buffers")),
    };
    t.map_err(|e| e.to_string())
}

/// Runs the emulator binary with the script and input bytes on stdin; returns its stdout.
fn execute(exe: &Path, stdin: Vec<u8>, plan: &Plan) -> Result<Vec<u8>, String> {
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let mut pipe = child.stdin.take().ok_or("no stdin pipe")?;
    // Writing from another thread: the runner reads all of stdin before it writes anything, but
    // a failing runner may exit early.
    let writer = std::thread::spawn(move || pipe.write_all(&stdin));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("emulator: {e}"))?;
    let written = writer
        .join()
        .map_err(|_| "stdin writer panicked".to_string())?;
    if !out.status.success() {
        let kernels: Vec<&str> = plan.launches.iter().map(|l| l.kernel.as_str()).collect();
        return Err(format!(
            "emulated plan of {} ({}) failed ({}): {}",
            plan.module,
            kernels.join(", "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    written.map_err(|e| format!("writing the emulator's input: {e}"))?;
    Ok(out.stdout)
}

/// Serializes compiles within one test process (processes race safely through `rename`).
static COMPILE: Mutex<()> = Mutex::new(());

/// The emulator binary for `source`, compiled if not cached.
fn binary(source: &Path) -> Result<PathBuf, String> {
    let emu = Path::new(ROOT).join("tests/cuda_emu");
    let include = emu.join("include");
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    // Cache key: every header of the emulator, the module and its local includes, the flags.
    let mut h = DefaultHasher::new();
    let mut headers: Vec<PathBuf> = std::fs::read_dir(&include)
        .map_err(|e| format!("{}: {e}", include.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    headers.sort();
    headers.push(emu.join("runner.h"));
    for p in &headers {
        read(p)?.hash(&mut h);
    }
    hash_source(source, &mut h, 0)?;
    FLAGS.hash(&mut h);
    let stem = source
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("module");
    let dir = cache_root().join(format!("{stem}-{:016x}", h.finish()));
    let exe = dir.join("emu");
    if exe.exists() {
        return Ok(exe);
    }
    let _guard = COMPILE.lock().unwrap_or_else(|e| e.into_inner());
    if exe.exists() {
        return Ok(exe);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let unique = format!("{}-{:?}", std::process::id(), std::thread::current().id())
        .replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let names = kernel_names(source, &include, &dir, &unique)?;
    let mut tu = format!(
        "// Generated by tests/common/cuda_emu.rs\n#include \"cuda_emu.h\"\n#include \"{}\"\n#include \"{}\"\n",
        emu.join("runner.h").display(),
        source.display()
    );
    for n in &names {
        tu += &format!("EMU_KERNEL({n})\n");
    }
    let cpp = dir.join(format!("emu-{unique}.cpp"));
    let tmp = dir.join(format!("emu-{unique}.tmp"));
    std::fs::write(&cpp, tu).map_err(|e| format!("{}: {e}", cpp.display()))?;
    let out = gxx()
        .args(FLAGS)
        .arg("-I")
        .arg(&include)
        .arg("-o")
        .arg(&tmp)
        .arg(&cpp)
        .output()
        .map_err(gxx_missing)?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err: String = err.chars().take(6000).collect();
        return Err(format!(
            "compiling {} for the emulator failed:\n{err}",
            source.display()
        ));
    }
    std::fs::rename(&tmp, &exe).map_err(|e| format!("{}: {e}", exe.display()))?;
    let _ = std::fs::remove_file(&cpp);
    Ok(exe)
}

/// Hashes `path` and, recursively, the files of its `#include "..."` lines.
fn hash_source(path: &Path, h: &mut DefaultHasher, depth: usize) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.hash(h);
    if depth > 8 {
        return Ok(());
    }
    for line in text.lines() {
        let rest = line.trim_start().strip_prefix('#').map(str::trim_start);
        let Some(name) = rest
            .and_then(|r| r.strip_prefix("include"))
            .map(str::trim)
            .and_then(|r| r.strip_prefix('"'))
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        if let Some(dir) = path.parent() {
            let inc = dir.join(name);
            if inc.exists() {
                hash_source(&inc, h, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// The `extern "C"` kernels of `source`: its preprocessed text with `__global__` spelled
/// `__cuda_emu_global__` (macros such as `RMSNORM_OPS(...)` expanded).
fn kernel_names(
    source: &Path,
    include: &Path,
    dir: &Path,
    unique: &str,
) -> Result<Vec<String>, String> {
    let scan = dir.join(format!("scan-{unique}.cpp"));
    std::fs::write(
        &scan,
        format!(
            "#include \"cuda_emu.h\"\n#include \"{}\"\n",
            source.display()
        ),
    )
    .map_err(|e| format!("{}: {e}", scan.display()))?;
    let out = gxx()
        .args(["-std=c++20", "-E", "-P", "-DCUDA_EMU_SCAN", "-I"])
        .arg(include)
        .arg(&scan)
        .output()
        .map_err(gxx_missing)?;
    let _ = std::fs::remove_file(&scan);
    if !out.status.success() {
        return Err(format!(
            "preprocessing {} failed:\n{}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut names = Vec::new();
    let marker = "__cuda_emu_global__";
    for (at, _) in text.match_indices(marker) {
        let before = text[..at].trim_end();
        if !before.ends_with("extern \"C\"") {
            continue; // templates and C++-linkage kernels cannot be named by a plan
        }
        let mut rest = text[at + marker.len()..].trim_start();
        let Some(r) = rest.strip_prefix("void") else {
            continue;
        };
        rest = r.trim_start();
        if let Some(r) = rest.strip_prefix("__launch_bounds__") {
            let close = r.find(')').map_or(0, |i| i + 1);
            rest = r[close..].trim_start();
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(format!(
            "{}: no `extern \"C\" __global__ void <name>(` kernels found",
            source.display()
        ));
    }
    Ok(names)
}

fn gxx() -> Command {
    let cxx = std::env::var("CUDA_EMU_CXX").unwrap_or_else(|_| "g++".into());
    let mut c = Command::new(cxx);
    c.stdin(Stdio::null());
    c
}

fn gxx_missing(e: std::io::Error) -> String {
    format!(
        "cannot run g++ ({e}): the CUDA emulation tests need a C++20 compiler \
         (apt-get install g++, or set CUDA_EMU_CXX)"
    )
}

/// `<target dir>/cuda-emu`: `CARGO_TARGET_DIR`, else the directory three levels above the test
/// executable (`target/debug/deps/<test>`).
fn cache_root() -> PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        let t = PathBuf::from(t);
        let t = if t.is_absolute() {
            t
        } else {
            Path::new(ROOT).join(t)
        };
        return t.join("cuda-emu");
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| Path::new(ROOT).join("target"))
        .join("cuda-emu")
}
