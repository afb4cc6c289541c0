//! Tests of the CUDA emulation itself (`cargo test --test cuda_emu`), with the kernels of
//! `tests/cuda_emu/selftest.cu`: bit-exact 16-bit conversions against an independent
//! round-to-nearest-even oracle, launch geometry, shared memory across `__syncthreads()`, warp
//! shuffles against the lane rules of the CUDA programming guide, atomics, and the misuse the
//! emulator must report.

#[allow(dead_code)]
#[path = "../common/cuda_emu.rs"]
mod cuda_emu;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use half::{bf16, f16};
use trainer::kernels::plan::{Arg, BufSpec, Plan};

fn source() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cuda_emu/selftest.cu")
}

/// One launch of `kernel` over `inputs` plus zero-filled `outputs`; the args are the buffers
/// in order followed by `scalars`.
fn run(
    kernel: &str,
    grid: (u32, u32, u32),
    block: (u32, u32, u32),
    inputs: &[Tensor],
    outputs: &[(DType, usize)],
    scalars: &[Arg],
) -> Result<Vec<Tensor>, String> {
    let specs: Vec<BufSpec> = inputs
        .iter()
        .map(|t| BufSpec::new(t.dtype(), t.elem_count()))
        .collect();
    let mut p = Plan::new("selftest", &specs);
    let mut args: Vec<Arg> = (0..inputs.len()).map(Arg::Buf).collect();
    for &(dtype, len) in outputs {
        // Zero-filled: several self-test kernels accumulate into their outputs with atomics.
        let b = p.alloc_zeroed(dtype, len);
        p.outputs.push(b);
        args.push(Arg::Buf(b));
    }
    args.extend_from_slice(scalars);
    p.launch(kernel.to_string(), grid, block, args);
    cuda_emu::run_plan_with_source(&source(), &p, inputs)
}

/// An elementwise launch of 256-thread blocks over `n` elements.
fn map(kernel: &str, input: Tensor, out: DType) -> Tensor {
    let n = input.elem_count();
    let grid = (n.div_ceil(256) as u32, 1, 1);
    let mut o = run(
        kernel,
        grid,
        (256, 1, 1),
        &[input],
        &[(out, n)],
        &[Arg::I32(n as i32)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    o.remove(0)
}

/// Round-to-nearest-even of `d` to a binary format with `bits` fraction bits, minimum normal
/// exponent `min_exp` and largest finite value `max`, computed in f64 (exact: scaling by powers
/// of two); returned as f64 (±inf on overflow).
fn round_oracle(d: f64, bits: i32, min_exp: i32, max: f64) -> f64 {
    let a = d.abs();
    if a == 0.0 || a.is_infinite() {
        return d;
    }
    let e = ((a.to_bits() >> 52) as i32 - 1023).max(min_exp);
    let ulp = 2f64.powi(e - bits);
    let r = (a / ulp).round_ties_even() * ulp;
    let r = if r > max { f64::INFINITY } else { r };
    r.copysign(d)
}

/// Test values for conversions to a 16-bit type: every value of the type, the midpoints
/// between neighbours (ties), the midpoints nudged by a tiny relative amount both ways, some
/// random bit patterns and the special cases.
fn conversion_inputs(values: &[f64], nudge: f64, seed: u64) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let mut out = v.clone();
    for w in v.windows(2) {
        let m = (w[0] + w[1]) / 2.0;
        out.extend([m, m * (1.0 + nudge), m * (1.0 - nudge)]);
    }
    let mut x = seed;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(f32::from_bits(x as u32) as f64);
    }
    out.extend([
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        65504.0,
        65519.99,
        65520.0,
        1e-8,
        -0.0,
    ]);
    out.extend([
        2f64.powi(-25),
        2f64.powi(-25) * 1.000001,
        2f64.powi(-24) * 1.5,
        3.4e38,
        1e-40,
    ]);
    out
}

/// `kernel` applied elementwise to `input` (f32 or f64 values), as the bits of its f16/bf16
/// output.
fn bits16<T: candle_core::WithDType>(kernel: &str, input: &[T], out: DType) -> Vec<u16> {
    let t = map(kernel, Tensor::new(input, &Device::Cpu).expect("t"), out);
    match out {
        DType::F16 => t
            .to_vec1::<f16>()
            .expect("f16")
            .iter()
            .map(|v| v.to_bits())
            .collect(),
        _ => t
            .to_vec1::<bf16>()
            .expect("bf16")
            .iter()
            .map(|v| v.to_bits())
            .collect(),
    }
}

fn check_bits(what: &str, got: &[u16], want: &[f64], input: &[f64], to_f64: fn(u16) -> f64) {
    for ((g, w), x) in got.iter().zip(want).zip(input) {
        let gv = to_f64(*g);
        let ok = if w.is_nan() {
            gv.is_nan() && *g == 0x7fff
        } else {
            gv.to_bits() == w.to_bits()
        };
        assert!(ok, "{what}({x:e}): got {gv:e} (0x{g:04x}), want {w:e}");
    }
}

#[test]
fn half_conversions_are_bit_exact() {
    let all: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
    // f16 -> f32 is exact: compare with the half crate for every bit pattern.
    let back = map(
        "f16_to_f32",
        Tensor::new(all.as_slice(), &Device::Cpu).expect("t"),
        DType::F32,
    );
    for (h, f) in all.iter().zip(back.to_vec1::<f32>().expect("f32")) {
        let want = h.to_f32();
        assert!(
            f.to_bits() == want.to_bits() || (want.is_nan() && f.is_nan()),
            "f16 0x{:04x}: {f:e} vs {want:e}",
            h.to_bits()
        );
    }
    let values: Vec<f64> = all.iter().map(|h| h.to_f64()).collect();
    let inputs = conversion_inputs(&values, 1e-6, 1);
    let want: Vec<f64> = inputs
        .iter()
        .map(|&d| round_oracle(d, 10, -14, 65504.0))
        .collect();
    let to_f64 = |b: u16| f16::from_bits(b).to_f64();
    // float -> half (inputs are f32-exact: the f16 midpoints need 12 significant bits).
    let f32s: Vec<f32> = inputs.iter().map(|&d| d as f32).collect();
    let want32: Vec<f64> = f32s
        .iter()
        .map(|&f| round_oracle(f as f64, 10, -14, 65504.0))
        .collect();
    let h = bits16("f32_to_f16", &f32s, DType::F16);
    let f32s_f64: Vec<f64> = f32s.iter().map(|&f| f as f64).collect();
    check_bits("__float2half", &h, &want32, &f32s_f64, to_f64);
    // double -> half rounds once (nudged midpoints tell double rounding apart).
    let nudged = conversion_inputs(&values, 1e-12, 2);
    let wantd: Vec<f64> = nudged
        .iter()
        .map(|&d| round_oracle(d, 10, -14, 65504.0))
        .collect();
    let h = bits16("f64_to_f16", &nudged, DType::F16);
    check_bits("__half(double)", &h, &wantd, &nudged, to_f64);
    assert_eq!(want.len(), inputs.len());
}

#[test]
fn bfloat16_conversions_are_bit_exact() {
    let all: Vec<bf16> = (0..=u16::MAX).map(bf16::from_bits).collect();
    let back = map(
        "bf16_to_f32",
        Tensor::new(all.as_slice(), &Device::Cpu).expect("t"),
        DType::F32,
    );
    for (h, f) in all.iter().zip(back.to_vec1::<f32>().expect("f32")) {
        let want = h.to_f32();
        assert!(
            f.to_bits() == want.to_bits() || (want.is_nan() && f.is_nan()),
            "0x{:04x}",
            h.to_bits()
        );
    }
    let max = bf16::MAX.to_f64();
    let values: Vec<f64> = all.iter().map(|h| h.to_f64()).collect();
    let to_f64 = |b: u16| bf16::from_bits(b).to_f64();
    let f32s: Vec<f32> = conversion_inputs(&values, 1e-6, 3)
        .iter()
        .map(|&d| d as f32)
        .collect();
    let f32s_f64: Vec<f64> = f32s.iter().map(|&f| f as f64).collect();
    let want: Vec<f64> = f32s_f64
        .iter()
        .map(|&d| round_oracle(d, 7, -126, max))
        .collect();
    let b = bits16("f32_to_bf16", &f32s, DType::BF16);
    check_bits("__float2bfloat16_rn", &b, &want, &f32s_f64, to_f64);
    let nudged = conversion_inputs(&values, 1e-12, 4);
    let wantd: Vec<f64> = nudged
        .iter()
        .map(|&d| round_oracle(d, 7, -126, max))
        .collect();
    let b = bits16("f64_to_bf16", &nudged, DType::BF16);
    check_bits("__nv_bfloat16(double)", &b, &wantd, &nudged, to_f64);
}

#[test]
fn launch_geometry_covers_every_block_and_thread() {
    let (grid, block) = ((3u32, 2u32, 2u32), (4u32, 3u32, 2u32));
    let threads = (block.0 * block.1 * block.2) as usize;
    let blocks = (grid.0 * grid.1 * grid.2) as usize;
    let out = run(
        "geometry",
        grid,
        block,
        &[],
        &[(DType::U32, blocks * threads * 13)],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let v = out[0].to_vec1::<u32>().expect("u32");
    let mut k = 0;
    for bz in 0..grid.2 {
        for by in 0..grid.1 {
            for bx in 0..grid.0 {
                for tz in 0..block.2 {
                    for ty in 0..block.1 {
                        for tx in 0..block.0 {
                            let t = (tz * block.1 + ty) * block.0 + tx;
                            let want = [
                                bx, by, bz, tx, ty, tz, block.0, block.1, block.2, grid.0, grid.1,
                                grid.2, t,
                            ];
                            assert_eq!(v[13 * k..13 * k + 13], want, "record {k}");
                            k += 1;
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn shared_memory_tree_sum_with_syncthreads() {
    let n = 1000;
    let x: Vec<f64> = (0..n).map(|i| ((i * 37) % 101) as f64 - 50.0).collect();
    let out = run(
        "block_tree_sum",
        (4, 1, 1),
        (256, 1, 1),
        &[Tensor::new(x.as_slice(), &Device::Cpu).expect("t")],
        &[(DType::F64, 4), (DType::F64, n)],
        &[Arg::I32(n as i32)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let sums = out[0].to_vec1::<f64>().expect("sums");
    let seen = out[1].to_vec1::<f64>().expect("seen");
    for (b, sum) in sums.iter().enumerate() {
        let want: f64 = x.iter().skip(256 * b).take(256).sum();
        assert_eq!(*sum, want, "block {b}");
        assert!(
            seen.iter().skip(256 * b).take(256).all(|&s| s == want),
            "block {b}"
        );
    }
}

#[test]
fn shuffles_follow_the_lane_rules() {
    // Two warps; value of lane l of warp w: 10·l + 1 + 1000·w.
    for (delta, width) in [
        (1, 32),
        (5, 32),
        (0, 32),
        (31, 32),
        (3, 8),
        (2, 4),
        (9, 8),
        (17, 16),
    ] {
        let out = run(
            "shuffles",
            (1, 1, 1),
            (64, 1, 1),
            &[],
            &[(DType::U32, 256)],
            &[Arg::I32(delta), Arg::I32(width)],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let v = out[0].to_vec1::<u32>().expect("u32");
        for t in 0..64i32 {
            let (lane, warp) = (t % 32, t / 32);
            let val = |l: i32| (10 * l + 1 + 1000 * warp) as u32;
            let seg = lane / width * width;
            let idx = seg + delta % width;
            let up = if lane - seg >= delta {
                lane - delta
            } else {
                lane
            };
            let down = if lane - seg + delta < width {
                lane + delta
            } else {
                lane
            };
            let x = lane ^ delta;
            let xor = if x < seg + width { x } else { lane };
            let want = [val(idx), val(up), val(down), val(xor)];
            let got = &v[4 * t as usize..4 * t as usize + 4];
            assert_eq!(
                got, want,
                "delta {delta} width {width} thread {t} (idx, up, down, xor)"
            );
        }
    }
}

#[test]
fn butterfly_sums_of_8_and_2_byte_types() {
    let x: Vec<f64> = (0..128).map(|i| (i % 7) as f64).collect();
    let out = run(
        "warp_sums",
        (2, 1, 1),
        (64, 1, 1),
        &[Tensor::new(x.as_slice(), &Device::Cpu).expect("t")],
        &[(DType::F64, 128), (DType::F16, 128), (DType::BF16, 128)],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let d = out[0].to_vec1::<f64>().expect("f64");
    let h = out[1].to_vec1::<f16>().expect("f16");
    let b = out[2].to_vec1::<bf16>().expect("bf16");
    for i in 0..128 {
        let want: f64 = x[i / 32 * 32..i / 32 * 32 + 32].iter().sum();
        assert_eq!(
            (d[i], h[i].to_f64(), b[i].to_f64()),
            (want, want, want),
            "thread {i}"
        );
    }
}

#[test]
fn atomic_adds_from_every_thread() {
    let n: i32 = 1000;
    let x: Vec<f32> = (0..n).map(|i| (i % 13) as f32).collect();
    let out = run(
        "atomics",
        (4, 1, 1),
        (256, 1, 1),
        &[Tensor::new(x.as_slice(), &Device::Cpu).expect("t")],
        &[(DType::U32, 1), (DType::F32, 1)],
        &[Arg::I32(n)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out[0].to_vec1::<u32>().expect("u32"), [1024]);
    assert_eq!(
        out[1].to_vec1::<f32>().expect("f32"),
        [x.iter().sum::<f32>()]
    );
}

#[test]
fn shuffle_misuse_is_reported() {
    let out = |kernel: &str, threads: u32| {
        run(
            kernel,
            (1, 1, 1),
            (threads, 1, 1),
            &[],
            &[(DType::F32, threads as usize)],
            &[],
        )
    };
    let ok = out("shuffle_plain", 64).unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<f32> = (0..64u32).map(|t| (t ^ 1) as f32).collect();
    assert_eq!(ok[0].to_vec1::<f32>().expect("f32"), want);
    let e = out("shuffle_plain", 48).expect_err("48 threads");
    assert!(
        e.contains("shuffle_plain") && e.contains("not a multiple of 32"),
        "{e}"
    );
    let e = out("partial_mask", 32).expect_err("partial mask");
    assert!(e.contains("mask 0x0000ffff"), "{e}");
    let e = out("shuffle_after_return", 64).expect_err("returned lanes");
    assert!(
        e.contains("lane(s) of warp") && e.contains("returned"),
        "{e}"
    );
}

#[test]
fn votes_and_integer_atomics() {
    let out = run(
        "votes",
        (1, 1, 1),
        (64, 1, 1),
        &[],
        &[(DType::U32, 192), (DType::U32, 1), (DType::U32, 1)],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let v = out[0].to_vec1::<u32>().expect("u32");
    let ballot = (0..32).filter(|l| l % 3 == 0).fold(0u32, |b, l| b | 1 << l);
    for t in 0..64 {
        assert_eq!(v[3 * t..3 * t + 3], [ballot, 1, 0], "thread {t}");
    }
    assert_eq!(out[1].to_vec1::<u32>().expect("max"), [31]);
    let winner = out[2].to_vec1::<u32>().expect("cas")[0];
    assert!((1..=64).contains(&winner), "{winner}");
}

/// The warp matrix functions of `include/mma.h`: d = 2 (a b + c) against the CPU product for
/// both layouts of a (small integers: every sum is exact), the fragment layout a bijection that
/// is not the identity (a kernel that assumes one fails), and misaligned pointers or leading
/// dimensions reported.
#[test]
fn warp_matrix_functions() {
    let a: Vec<f32> = (0..256).map(|e| ((e * 7) % 11) as f32 - 5.0).collect();
    let b: Vec<f32> = (0..256).map(|e| ((e * 5) % 9) as f32 - 4.0).collect();
    let c: Vec<f32> = (0..256).map(|e| (e % 13) as f32).collect();
    let at = |v: &[f32], r: usize, col: usize| v[r * 16 + col];
    let half = |v: &[f32]| {
        Tensor::from_vec(v.to_vec(), 256, &Device::Cpu)
            .and_then(|t| t.to_dtype(DType::F16))
            .expect("f16")
    };
    let tile = |a_col: i32, a_off: i32, ldm: i32| {
        run(
            "wmma_tile",
            (1, 1, 1),
            (32, 1, 1),
            &[
                half(&a),
                half(&b),
                Tensor::from_vec(c.clone(), 256, &Device::Cpu).expect("c"),
            ],
            &[(DType::F32, 256)],
            &[Arg::I32(a_col), Arg::I32(a_off), Arg::I32(ldm)],
        )
    };
    for a_col in [0, 1] {
        let got = tile(a_col, 0, 16).unwrap_or_else(|e| panic!("{e}"));
        let got = got[0].to_vec1::<f32>().expect("f32");
        for r in 0..16 {
            for n in 0..16 {
                // a[r·16 + k] is A(r, k) row-major, A(k, r) column-major; b and c column-major.
                let dot: f32 = (0..16)
                    .map(|k| {
                        let av = if a_col == 0 {
                            at(&a, r, k)
                        } else {
                            at(&a, k, r)
                        };
                        av * at(&b, n, k)
                    })
                    .sum();
                let want = 2.0 * (dot + at(&c, n, r));
                assert_eq!(got[r * 16 + n], want, "a_col {a_col}: ({r}, {n})");
            }
        }
    }
    let layout = run(
        "wmma_layout",
        (1, 1, 1),
        (32, 1, 1),
        &[],
        &[(DType::F32, 256)],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut seen = layout[0].to_vec1::<f32>().expect("f32");
    assert!(
        seen.iter().enumerate().any(|(e, &v)| v != e as f32),
        "the emulated fragment layout is the identity: layout assumptions would go unnoticed"
    );
    seen.sort_by(f32::total_cmp);
    assert_eq!(seen, (0..256).map(|e| e as f32).collect::<Vec<_>>());
    let e = tile(0, 1, 16).expect_err("misaligned");
    assert!(
        e.contains("wmma_tile") && e.contains("32-byte aligned"),
        "{e}"
    );
    let e = tile(0, 0, 12).expect_err("ldm 12");
    assert!(e.contains("ldm 12"), "{e}");
}
