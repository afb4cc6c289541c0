//! The complex (`mpc`) side of `mpmath.log(x) / mpmath.log(b)` for
//! negative arguments (mpmath 1.3.0): `log(x) = log|x| + i*pi`
//! (`mpc_log`, `mpf_log_hypot`, `mpf_atan2`, `mpf_pi`), the divisions
//! `mpc_div_mpf`, `mpc_mpf_div` and `mpc_div` with their exact products and
//! `mpf_add` (including its perturbation shortcut), and `repr(mpc)`.
//!
//! `pi_fixed` is memoised process-wide in mpmath; its value for a given
//! precision equals `floor(pi * 2^prec)` whatever the history for every
//! precision below 2700 (checked against mpmath), which is what this port
//! computes.

use super::mpf::{self, bits, normalize, normalize_down, Mpf, ZeroDivision};
use super::mpf_log::{self, LogError};
use num_bigint::{BigInt, BigUint, Sign};

/// A real or complex mpmath result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Num {
    /// An `mpf`.
    Real(Mpf),
    /// An `mpc` (real part, imaginary part).
    Complex(Mpf, Mpf),
}

/// `floor(atan(1/a) * 2^prec)` up to a few units (alternating series).
fn atan_inv(a: u32, prec: u64) -> BigInt {
    let a2 = BigUint::from(a) * a;
    let mut term = (BigUint::from(1u32) << prec) / a;
    let mut sum = BigInt::default();
    let mut k = 0u64;
    while bits(&term) > 0 {
        let t = BigInt::from(&term / (2 * k + 1));
        if k.is_multiple_of(2) {
            sum += t;
        } else {
            sum -= t;
        }
        term /= &a2;
        k += 1;
    }
    sum
}

/// `pi_fixed(prec)`: `floor(pi * 2^prec)` (Machin's formula with 64 guard
/// bits).
fn pi_fixed(prec: u64) -> BigUint {
    let wp = prec + 64;
    let pi: BigInt = atan_inv(5, wp) * 16 - atan_inv(239, wp) * 4;
    (pi >> 64u32).to_biguint().unwrap_or_default()
}

/// `mpf_pi(prec)` with round-to-nearest.
pub fn pi(prec: u64) -> Mpf {
    let wp = prec + 20;
    normalize(false, pi_fixed(wp), -(wp as i64), prec)
}

fn parts(x: &Mpf) -> Option<(bool, &BigUint, i64)> {
    match x {
        Mpf::Num { neg, man, exp } => Some((*neg, man, *exp)),
        _ => None,
    }
}

fn negate(x: &Mpf) -> Mpf {
    match x {
        Mpf::Num { neg, man, exp } => Mpf::Num {
            neg: !neg,
            man: man.clone(),
            exp: *exp,
        },
        Mpf::PosInf => Mpf::NegInf,
        Mpf::NegInf => Mpf::PosInf,
        other => other.clone(),
    }
}

fn special(x: &Mpf) -> bool {
    matches!(x, Mpf::PosInf | Mpf::NegInf | Mpf::NaN)
}

fn sign_of(x: &Mpf) -> i32 {
    match x {
        Mpf::Zero | Mpf::NaN => 0,
        Mpf::PosInf | Mpf::Num { neg: false, .. } => 1,
        _ => -1,
    }
}

/// `mpf_mul(s, t)` without rounding.
pub fn mul(s: &Mpf, t: &Mpf) -> Mpf {
    if let (Some((sn, sm, se)), Some((tn, tm, te))) = (parts(s), parts(t)) {
        return normalize(sn ^ tn, sm * tm, se + te, u64::MAX);
    }
    if !special(s) && !special(t) {
        return Mpf::Zero;
    }
    if *s == Mpf::NaN || *t == Mpf::NaN {
        return Mpf::NaN;
    }
    let (s, t) = if special(t) { (t, s) } else { (s, t) };
    if *t == Mpf::Zero {
        return Mpf::NaN;
    }
    if sign_of(s) * sign_of(t) > 0 {
        Mpf::PosInf
    } else {
        Mpf::NegInf
    }
}

/// `mpf_add(s, t, prec)` (`mpf_sub` when `sub`) with the default
/// rounding of the low-level functions, `round_fast` = `round_down`
/// (what `mpc_div` and `mpc_mpf_div` use for their intermediate sums).
pub fn add(s: &Mpf, t: &Mpf, prec: u64, sub: bool) -> Mpf {
    let t = if sub { negate(t) } else { t.clone() };
    let (Some((ssign, sman, sexp)), Some((tsign, tman, texp))) = (parts(s), parts(&t)) else {
        if *s == Mpf::Zero {
            return normalize_any(&t, prec);
        }
        if special(s) {
            if *s == t || !special(&t) {
                return s.clone();
            }
            return Mpf::NaN;
        }
        if special(&t) {
            return t;
        }
        return normalize_any(s, prec);
    };
    let p = prec as i64;
    let perturb = |big_sign: bool, big: &BigUint, big_exp: i64, small_sign: bool| {
        let off = p + 4;
        let m: BigInt = BigInt::from(big.clone()) << (off as u64);
        let m: BigInt = if big_sign == small_sign { m + 1 } else { m - 1 };
        normalize_down(
            big_sign,
            m.to_biguint().unwrap_or_default(),
            big_exp - off,
            prec,
        )
    };
    let offset = sexp - texp;
    if offset > 100 && bits(sman) + sexp - bits(tman) - texp > p + 4 {
        return perturb(ssign, sman, sexp, tsign);
    }
    if offset < -100 && bits(tman) + texp - bits(sman) - sexp > p + 4 {
        return perturb(tsign, tman, texp, ssign);
    }
    let exp = sexp.min(texp);
    let signed = |neg: bool, m: &BigUint, e: i64| {
        let v = BigInt::from(m.clone()) << ((e - exp) as u64);
        if neg {
            -v
        } else {
            v
        }
    };
    let total = signed(ssign, sman, sexp) + signed(tsign, tman, texp);
    let (sign, man) = total.into_parts();
    normalize_down(sign == Sign::Minus, man, exp, prec)
}

fn normalize_any(x: &Mpf, prec: u64) -> Mpf {
    match x {
        Mpf::Num { neg, man, exp } => normalize_down(*neg, man.clone(), *exp, prec),
        other => other.clone(),
    }
}

/// `mpmath.log(x)` at `prec` bits: an `mpf`, or for a negative `x` the
/// `mpc` `log|x| + i*pi`.
pub fn log(x: &Mpf, prec: u64) -> Result<Num, LogError> {
    match mpf_log::log(x, prec) {
        Ok(v) => Ok(Num::Real(v)),
        Err(LogError::Complex) => {
            let re = match x {
                Mpf::NegInf => Mpf::PosInf,
                _ => mpf_log::log(&negate(x), prec)?,
            };
            Ok(Num::Complex(re, pi(prec)))
        }
        Err(e) => Err(e),
    }
}

/// `a / b` as mpmath's `mpf`/`mpc` operators compute it.
pub fn div(a: &Num, b: &Num, prec: u64) -> Result<Num, ZeroDivision> {
    Ok(match (a, b) {
        (Num::Real(x), Num::Real(y)) => Num::Real(mpf::div(x, y, prec)?),
        (Num::Complex(re, im), Num::Real(y)) => {
            Num::Complex(mpf::div(re, y, prec)?, mpf::div(im, y, prec)?)
        }
        (Num::Real(p), Num::Complex(c, d)) => {
            let m = add(&mul(c, c), &mul(d, d), prec + 10, false);
            let re = mpf::div(&mul(c, p), &m, prec)?;
            let im = mpf::div(&negate(&mul(d, p)), &m, prec)?;
            Num::Complex(re, im)
        }
        (Num::Complex(a, b), Num::Complex(c, d)) => {
            let wp = prec + 10;
            let mag = add(&mul(c, c), &mul(d, d), wp, false);
            let t = add(&mul(a, c), &mul(b, d), wp, false);
            let u = add(&mul(b, c), &mul(a, d), wp, true);
            Num::Complex(mpf::div(&t, &mag, prec)?, mpf::div(&u, &mag, prec)?)
        }
    })
}

/// `repr()` at `prec` bits: `mpf('...')` or `mpc(real='...', imag='...')`.
pub fn repr(x: &Num, prec: u64) -> Option<String> {
    let dps = mpf::repr_dps(prec);
    match x {
        Num::Real(v) => mpf::repr(v, prec),
        Num::Complex(re, im) => Some(format!(
            "mpc(real='{}', imag='{}')",
            mpf::to_str(re, dps)?,
            mpf::to_str(im, dps)?
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pi_matches_known_bits() {
        // floor(pi * 2^60) = 0x3243F6A8885A308D3 >> 6 ... check 64 bits.
        assert_eq!(pi_fixed(62), BigUint::from(0xC90F_DAA2_2168_C234u64));
    }
}
