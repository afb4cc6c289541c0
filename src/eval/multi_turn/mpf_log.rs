//! `mpmath.libmp.mpf_log` (mpmath 1.3.0, pure-Python backend) in the
//! Taylor-series range (working precision up to 2500 bits): the same
//! fixed-point integer steps (`log_taylor_cached`, `log_taylor` with eight
//! `isqrt_fast` square roots, `ln2_fixed` by the hyperbolic Machin formula
//! with binary splitting), so results agree bit for bit, including the
//! cases where mpmath's 20 guard bits do not give the correctly rounded
//! value.
//!
//! `ln2_fixed` is memoised process-wide in mpmath; its value for a given
//! precision does not depend on that history for precisions below 2700
//! (checked against mpmath for every precision in 1..2700), so this port
//! computes it afresh.

use super::mpf::{bits, floordiv, from_f64_trunc, from_man_exp, ishift, shift, to_f64, Mpf};
use num_bigint::{BigInt, BigUint, Sign};

/// `LOG_TAYLOR_PREC`: above this working precision mpmath switches to the
/// AGM, which this port does not cover.
pub const LOG_TAYLOR_PREC: i64 = 2500;
const LOG_TAYLOR_SHIFT: i64 = 9;

/// Why [`log`] has no real `mpf` result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogError {
    /// A negative argument: mpmath returns an `mpc`, not ported.
    Complex,
    /// The working precision needs the AGM branch, not ported.
    TooPrecise,
}

/// `giant_steps(start, target)` with `n = 2`.
fn giant_steps(start: i64, target: i64) -> Vec<i64> {
    let mut l = vec![target];
    while let Some(&last) = l.last() {
        if last <= start * 2 {
            break;
        }
        l.push(last / 2 + 2);
    }
    l.reverse();
    l
}

/// `isqrt_fast_python(x)`: mpmath's approximate integer square root.
fn isqrt_fast(x: &BigUint) -> BigUint {
    let n = bits(x);
    if n <= 800 {
        let f = to_f64(x).unwrap_or(f64::INFINITY);
        let mut y = from_f64_trunc(std::hint::black_box(f).powf(std::hint::black_box(0.5)));
        for limit in [101, 201, 401] {
            if n < limit || bits(&y) == 0 {
                break;
            }
            y = (&y + x / &y) >> 1u32;
        }
        return y;
    }
    let guard = 10;
    let x = x << (2 * guard as u64);
    let mut bc = n + 2 * guard;
    bc += bc & 1;
    let hbc = bc / 2;
    let startprec = 50.min(hbc);
    let head = to_f64(&(&x >> ((bc - 2 * startprec) as u64))).unwrap_or(f64::INFINITY);
    let start = 2f64.powi((2 * startprec) as i32)
        * std::hint::black_box(head).powf(std::hint::black_box(-0.5));
    let mut r = BigInt::from(from_f64_trunc(start));
    let mut pp = startprec;
    let mut p = startprec;
    let xi = BigInt::from(x.clone());
    for step in giant_steps(startprec, hbc) {
        p = step;
        let r2 = ishift(&(&r * &r), -(2 * pp - p));
        let xr2 = ishift(&(ishift(&xi, -(bc - p)) * r2), -p);
        r = ishift(&(&r * ((BigInt::from(3) << (p as u64)) - xr2)), -(pp + 1));
        pp = p;
    }
    let out = ishift(&(r * ishift(&xi, -hbc)), -(p + guard));
    out.to_biguint().unwrap_or_default()
}

/// The series part shared by `log_taylor` and `log_taylor_cached`:
/// `2 * atanh(v)`-style sum for a non-negative fixed-point `v`.
fn atanh_series(v: BigUint, prec: u64) -> BigUint {
    let v2 = (&v * &v) >> prec;
    let v4 = (&v2 * &v2) >> prec;
    let mut s0 = v.clone();
    let mut s1 = &v / 3u32;
    let mut v = (&v * &v4) >> prec;
    let mut k = 5u64;
    // v < 1 shrinks by v^4 per term; the bound only guards malformed input.
    while bits(&v) > 0 && k < 8 * prec + 16 {
        s0 += &v / k;
        k += 2;
        s1 += &v / k;
        v = (&v * &v4) >> prec;
        k += 2;
    }
    let s1 = (s1 * v2) >> prec;
    s0 + s1
}

/// `log_taylor(x, prec, r)`: fixed-point `log(x)` for `x` near 1.
fn log_taylor(x: &BigUint, prec: u64, r: u32) -> BigInt {
    let mut x = x.clone();
    for _ in 0..r {
        x = isqrt_fast(&(x << prec));
    }
    let one = BigInt::from(1) << prec;
    let xi = BigInt::from(x);
    let v = floordiv(&((&xi - &one) << prec), &(&xi + &one));
    let (sign, v) = v.into_parts();
    let s = BigInt::from(atanh_series(v, prec) << (1 + r as u64));
    if sign == Sign::Minus {
        -s
    } else {
        s
    }
}

/// `cache_prec_steps[prec]`.
fn cached_prec(prec: i64) -> i64 {
    if prec <= 2 {
        return 22;
    }
    let pow2 = 1i64 << (64 - (prec - 1).leading_zeros());
    pow2.min(LOG_TAYLOR_PREC) + 20
}

/// `log_taylor_cached(x, prec)` for `x` in (0.5, 2) at `prec` bits.
fn log_taylor_cached(x: &BigUint, prec: i64) -> BigInt {
    let n = x >> ((prec - LOG_TAYLOR_SHIFT) as u64);
    let cprec = cached_prec(prec);
    let dprec = cprec - prec;
    let a = &n << ((cprec - LOG_TAYLOR_SHIFT) as u64);
    let log_a = log_taylor(&a, cprec as u64, 8);
    let a = a >> (dprec as u64);
    let log_a = ishift(&log_a, -dprec);
    let p = prec as u64;
    let u = ((x - &a) << p) / &a;
    let v = (&u << p) / ((BigUint::from(2u32) << p) + &u);
    log_a + BigInt::from(atanh_series(v, p) << 1u32)
}

/// `bsp_acot(q, a, b, hyperbolic=True)`: binary splitting terms.
fn bsp_acoth(q: &BigUint, a: u64, b: u64) -> (BigUint, BigUint, BigUint) {
    if b - a == 1 {
        let a1 = BigUint::from(2 * a + 3);
        return (BigUint::from(1u32), &a1 * q * q, a1);
    }
    let m = (a + b) / 2;
    let (p1, q1, r1) = bsp_acoth(q, a, m);
    let (p2, q2, r2) = bsp_acoth(q, m, b);
    (&q2 * p1 + &r1 * p2, q1 * q2, r1 * r2)
}

/// `acot_fixed(a, prec, hyperbolic=True)`.
fn acoth_fixed(a: u32, prec: u64) -> BigUint {
    let n = (0.35 * prec as f64 / f64::from(a).ln() + 20.0) as u64;
    let q = BigUint::from(a);
    let (p, qq, _) = bsp_acoth(&q, 0, n.max(1));
    ((p + &qq) << prec) / (qq * q)
}

/// `ln2_fixed(prec)`: `ln(2) * 2^prec`, rounded down.
pub fn ln2_fixed(prec: u64) -> BigUint {
    let newprec = (prec as f64 * 1.05 + 10.0) as u64;
    let wp = newprec + 10;
    let s: BigInt = BigInt::from(acoth_fixed(26, wp)) * 18
        - BigInt::from(acoth_fixed(4801, wp)) * 2
        + BigInt::from(acoth_fixed(8749, wp)) * 8;
    let s = (s >> 10u32).to_biguint().unwrap_or_default();
    s >> (newprec - prec)
}

/// `mpf_log(x, prec)` with round-to-nearest.
pub fn log(x: &Mpf, prec: u64) -> Result<Mpf, LogError> {
    let (man, exp) = match x {
        Mpf::Zero => return Ok(Mpf::NegInf),
        Mpf::PosInf => return Ok(Mpf::PosInf),
        Mpf::NaN => return Ok(Mpf::NaN),
        Mpf::NegInf | Mpf::Num { neg: true, .. } => return Err(LogError::Complex),
        Mpf::Num { man, exp, .. } => (man, *exp),
    };
    let mut wp = prec as i64 + 20;
    if wp > LOG_TAYLOR_PREC {
        return Err(LogError::TooPrecise);
    }
    let bc = bits(man);
    if bc == 1 {
        if exp == 0 {
            return Ok(Mpf::Zero);
        }
        let m = BigInt::from(ln2_fixed(wp as u64)) * exp;
        return Ok(from_man_exp(m, -wp, prec));
    }
    let mag = exp + bc;
    let abs_mag = mag.abs();
    if abs_mag <= 1 {
        let tsign = abs_mag == 0;
        let tman = if tsign {
            (BigUint::from(1u32) << (bc as u64)) - man
        } else {
            man - (BigUint::from(1u32) << ((bc - 1) as u64))
        };
        let cancellation = bc - bits(&tman);
        if cancellation > wp {
            return Ok(super::mpf::normalize(tsign, tman, abs_mag - bc, prec));
        }
        wp += cancellation;
    }
    if abs_mag > 10000 && 64 - (abs_mag as u64).leading_zeros() as i64 > wp {
        let m = BigInt::from(ln2_fixed(wp as u64)) * exp;
        return Ok(from_man_exp(m, -wp, prec));
    }
    if wp > LOG_TAYLOR_PREC {
        return Err(LogError::TooPrecise);
    }
    let mut m = log_taylor_cached(&shift(man, wp - bc), wp);
    if mag != 0 {
        m += BigInt::from(ln2_fixed(wp as u64)) * mag;
    }
    Ok(from_man_exp(m, -wp, prec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn giant_steps_match_mpmath_doc() {
        assert_eq!(giant_steps(50, 1000), vec![66, 128, 253, 502, 1000]);
    }

    #[test]
    fn ln2_fixed_is_ln2() {
        // floor(ln 2 * 2^64) = 0xB17217F7D1CF79AB.
        assert_eq!(ln2_fixed(64), BigUint::from(0xB172_17F7_D1CF_79ABu64));
    }

    #[test]
    fn log_of_e_like_values() {
        let v = log(&Mpf::from_f64(100.0), 53).unwrap();
        let w = log(&Mpf::from_f64(10.0), 53).unwrap();
        let q = super::super::mpf::div(&v, &w, 53).unwrap();
        assert_eq!(super::super::mpf::repr(&q, 53).unwrap(), "mpf('2.0')");
    }
}
