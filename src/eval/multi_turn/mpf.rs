//! A port of the parts of `mpmath` 1.3.0 (pure-Python backend) that
//! `MathAPI.logarithm` reaches: raw binary floating-point values (`mpf`),
//! the context's decimal/binary precision conversions, division, and
//! `repr()` (`to_str`). Every step reproduces mpmath's integer arithmetic
//! and rounding (round-half-even to `prec` bits) so that results print
//! byte-identically; the logarithm itself is in [`super::mpf_log`].

use num_bigint::{BigInt, BigUint, Sign};

/// `math.log(10, 2)` as CPython computes it.
pub(crate) const LOG2_10: f64 = 3.321_928_094_887_362_6;

/// A raw mpmath value (`_mpf_` tuple): zero, the three specials, or
/// `(-1)^neg * man * 2^exp` with an odd mantissa.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mpf {
    /// `fzero`.
    Zero,
    /// `finf`.
    PosInf,
    /// `fninf`.
    NegInf,
    /// `fnan`.
    NaN,
    /// A finite non-zero value; `man` is odd.
    Num {
        /// Sign bit.
        neg: bool,
        /// Odd mantissa.
        man: BigUint,
        /// Binary exponent.
        exp: i64,
    },
}

/// Division by an exact zero (`ZeroDivisionError` without a message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZeroDivision;

/// `dps_to_prec(n)`: bits for `n` decimal digits (`n` already `int()`ed).
pub fn dps_to_prec(n: i128) -> f64 {
    ((n as f64 + 1.0) * LOG2_10).round_ties_even().max(1.0)
}

/// `prec_to_dps(n)`.
pub fn prec_to_dps(prec: u64) -> i64 {
    ((prec as f64 / LOG2_10).round_ties_even() as i64 - 1).max(1)
}

/// `repr_dps(n)`: the digits `repr(mpf)` shows at `n` bits.
pub fn repr_dps(prec: u64) -> i64 {
    match prec_to_dps(prec) {
        15 => 17,
        d => d + 3,
    }
}

/// The number of bits of `x` (0 for zero).
pub(crate) fn bits(x: &BigUint) -> i64 {
    x.bits() as i64
}

/// `x << n` for a signed shift count (`x >> -n` when negative, rounding
/// down), mpmath's `lshift`/`rshift`.
pub(crate) fn shift(x: &BigUint, n: i64) -> BigUint {
    if n >= 0 {
        x << (n as u64)
    } else {
        x >> n.unsigned_abs()
    }
}

/// `x << n` / floor `x >> -n` for a signed integer.
pub(crate) fn ishift(x: &BigInt, n: i64) -> BigInt {
    if n >= 0 {
        x << (n as u64)
    } else {
        x >> n.unsigned_abs()
    }
}

/// Python's `a // b` (floor division); `b` must be non-zero.
pub(crate) fn floordiv(a: &BigInt, b: &BigInt) -> BigInt {
    let q = a / b;
    let r = a - &q * b;
    if r.sign() != Sign::NoSign && (r.sign() == Sign::Minus) != (b.sign() == Sign::Minus) {
        q - 1
    } else {
        q
    }
}

/// Python's `float(x)` for a non-negative integer (correctly rounded,
/// ties to even); `None` when it would overflow.
pub(crate) fn to_f64(x: &BigUint) -> Option<f64> {
    let n = bits(x);
    if n <= 64 {
        return u64::try_from(x).ok().map(|v| v as f64);
    }
    if n > 1024 {
        return None;
    }
    let top = u64::try_from(&(x >> ((n - 64) as u64))).ok()?;
    let sticky = x.trailing_zeros().unwrap_or(0) < (n - 64) as u64;
    let f = (top | u64::from(sticky)) as f64;
    let scaled = f * 2f64.powi((n - 64) as i32);
    scaled.is_finite().then_some(scaled)
}

/// Python's `int(f)` for a finite non-negative float.
pub(crate) fn from_f64_trunc(f: f64) -> BigUint {
    if !(f.is_finite() && f >= 1.0) {
        return BigUint::default();
    }
    if f < 18_446_744_073_709_551_616.0 {
        return BigUint::from(f as u64);
    }
    let b = f.to_bits();
    let e = ((b >> 52) & 0x7ff) as i64 - 1075;
    let m = (b & ((1u64 << 52) - 1)) | (1u64 << 52);
    shift(&BigUint::from(m), e)
}

/// mpmath's `normalize` with round-to-nearest (ties to even): rounds
/// `(-1)^neg * man * 2^exp` to `prec` bits and strips trailing zeros.
pub fn normalize(neg: bool, man: BigUint, exp: i64, prec: u64) -> Mpf {
    let bc = bits(&man);
    if bc == 0 {
        return Mpf::Zero;
    }
    let (mut man, mut exp) = (man, exp);
    let prec = prec.clamp(1, i64::MAX as u64) as i64;
    if bc > prec {
        let n = bc - prec;
        let t = &man >> ((n - 1) as u64);
        let below = man.trailing_zeros().unwrap_or(0) < (n - 1) as u64;
        let up = t.bit(0) && (t.bit(1) || below);
        man = (t >> 1u32) + u32::from(up);
        exp += n;
    }
    let tz = man.trailing_zeros().unwrap_or(0);
    man >>= tz;
    exp += tz as i64;
    Mpf::Num { neg, man, exp }
}

/// mpmath's `normalize` with `round_down` (`round_fast`, the default of
/// the low-level functions): truncates the mantissa to `prec` bits.
pub fn normalize_down(neg: bool, man: BigUint, exp: i64, prec: u64) -> Mpf {
    let bc = bits(&man);
    if bc == 0 {
        return Mpf::Zero;
    }
    let prec = prec.clamp(1, i64::MAX as u64) as i64;
    let (mut man, mut exp) = (man, exp);
    if bc > prec {
        man >>= (bc - prec) as u64;
        exp += bc - prec;
    }
    let tz = man.trailing_zeros().unwrap_or(0);
    man >>= tz;
    exp += tz as i64;
    Mpf::Num { neg, man, exp }
}

/// `from_man_exp(m, exp, prec)` for a signed fixed-point mantissa.
pub fn from_man_exp(m: BigInt, exp: i64, prec: u64) -> Mpf {
    let (sign, man) = m.into_parts();
    normalize(sign == Sign::Minus, man, exp, prec)
}

impl Mpf {
    /// `from_int(n)` (exact).
    pub fn from_int(n: &BigInt) -> Mpf {
        from_man_exp(n.clone(), 0, u64::MAX)
    }

    /// `from_float(x)` (exact; `-0.0` becomes zero).
    pub fn from_f64(x: f64) -> Mpf {
        if x.is_nan() {
            return Mpf::NaN;
        }
        if x.is_infinite() {
            return if x > 0.0 { Mpf::PosInf } else { Mpf::NegInf };
        }
        if x == 0.0 {
            return Mpf::Zero;
        }
        let b = x.to_bits();
        let raw_exp = ((b >> 52) & 0x7ff) as i64;
        let frac = b & ((1u64 << 52) - 1);
        let (man, exp) = if raw_exp == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), raw_exp - 1075)
        };
        normalize(x < 0.0, BigUint::from(man), exp, u64::MAX)
    }

    /// `mpf_sign` of a non-zero special or number: `true` when negative.
    fn negative(&self) -> bool {
        matches!(self, Mpf::NegInf | Mpf::Num { neg: true, .. })
    }
}

/// `mpf_div(s, t, prec)` with round-to-nearest.
pub fn div(s: &Mpf, t: &Mpf, prec: u64) -> Result<Mpf, ZeroDivision> {
    let (
        Mpf::Num {
            neg: sn,
            man: sm,
            exp: se,
        },
        Mpf::Num {
            neg: tn,
            man: tm,
            exp: te,
        },
    ) = (s, t)
    else {
        if *s == Mpf::Zero {
            return match t {
                Mpf::Zero => Err(ZeroDivision),
                Mpf::NaN => Ok(Mpf::NaN),
                _ => Ok(Mpf::Zero),
            };
        }
        if *t == Mpf::Zero {
            return Err(ZeroDivision);
        }
        let special = |v: &Mpf| matches!(v, Mpf::PosInf | Mpf::NegInf | Mpf::NaN);
        if special(s) && special(t) || *s == Mpf::NaN || *t == Mpf::NaN {
            return Ok(Mpf::NaN);
        }
        if !special(t) {
            return Ok(if s.negative() != t.negative() {
                Mpf::NegInf
            } else {
                Mpf::PosInf
            });
        }
        return Ok(Mpf::Zero);
    };
    let neg = sn ^ tn;
    if bits(tm) == 1 {
        return Ok(normalize(neg, sm.clone(), se - te, prec));
    }
    let mut extra = (prec as i64 - bits(sm) + bits(tm) + 5).max(5);
    let num = sm << (extra as u64);
    let (quot, rem) = (&num / tm, &num % tm);
    if bits(&rem) > 0 {
        let quot = (quot << 1u32) + 1u32;
        extra += 1;
        return Ok(normalize(neg, quot, se - te - extra, prec));
    }
    Ok(normalize(neg, quot, se - te - extra, prec))
}

/// `to_digits_exp(s, dps)` for a positive finite value: the digits
/// (truncated) and the decimal exponent; `None` beyond the magnitude
/// range this port covers (|binary exponent| > 3500).
fn to_digits_exp(man: &BigUint, exp: i64, dps: i64) -> Option<(String, i64)> {
    let bitprec = (dps as f64 * LOG2_10) as i64 + 10;
    let bc = bits(man);
    if (exp + bc).abs() > 3500 {
        return None;
    }
    let fixprec = (bitprec - exp - bc).max(0);
    let fixdps = (fixprec as f64 / LOG2_10 + 0.5) as i64;
    let sf = shift(man, exp + fixprec);
    let sd = (sf * BigUint::from(10u32).pow(u32::try_from(fixdps).ok()?)) >> (fixprec as u64);
    let digits = sd.to_string();
    let exponent = digits.len() as i64 - fixdps - 1;
    Some((digits, exponent))
}

/// `to_str(s, dps)` with mpmath's defaults (what `str()`/`repr()` use);
/// `None` for magnitudes this port does not cover.
pub fn to_str(s: &Mpf, dps: i64) -> Option<String> {
    let (neg, man, exp) = match s {
        Mpf::Zero => return Some(if dps != 0 { "0.0" } else { ".0" }.to_string()),
        Mpf::PosInf => return Some("+inf".into()),
        Mpf::NegInf => return Some("-inf".into()),
        Mpf::NaN => return Some("nan".into()),
        Mpf::Num { neg, man, exp } => (*neg, man, *exp),
    };
    let sign = if neg { "-" } else { "" };
    let min_fixed = (-dps.div_euclid(3)).min(-5);
    let max_fixed = dps;
    let (digits, mut exponent) = to_digits_exp(man, exp, dps + 3)?;
    let mut digits = digits.into_bytes();
    if dps == 0 {
        if matches!(digits.first(), Some(b'5'..=b'9')) {
            exponent += 1;
        }
        digits = b".0".to_vec();
    } else {
        let d = dps as usize;
        if digits.len() > d && matches!(digits.get(d), Some(b'5'..=b'9')) {
            digits.truncate(d);
            match digits.iter().rposition(|&c| c != b'9') {
                Some(i) => {
                    digits[i] += 1;
                    for c in &mut digits[i + 1..] {
                        *c = b'0';
                    }
                }
                None => {
                    digits = std::iter::once(b'1')
                        .chain(std::iter::repeat_n(b'0', d - 1))
                        .collect();
                    exponent += 1;
                }
            }
        } else {
            digits.truncate(d);
        }
        let split;
        if min_fixed < exponent && exponent < max_fixed {
            if exponent < 0 {
                let mut z = vec![b'0'; (-exponent) as usize];
                z.extend_from_slice(&digits);
                digits = z;
                split = 1;
            } else {
                split = (exponent + 1) as usize;
                if split > d {
                    digits.extend(std::iter::repeat_n(b'0', split - d));
                }
            }
            exponent = 0;
        } else {
            split = 1;
        }
        let split = split.min(digits.len());
        let mut out = digits[..split].to_vec();
        out.push(b'.');
        out.extend_from_slice(&digits[split..]);
        while out.last() == Some(&b'0') {
            out.pop();
        }
        if out.last() == Some(&b'.') {
            out.push(b'0');
        }
        digits = out;
    }
    let digits = String::from_utf8(digits).ok()?;
    Some(if exponent == 0 && dps != 0 {
        format!("{sign}{digits}")
    } else if exponent >= 0 {
        format!("{sign}{digits}e+{exponent}")
    } else {
        format!("{sign}{digits}e{exponent}")
    })
}

/// `repr(mpf)` at `prec` bits: `mpf('...')`.
pub fn repr(s: &Mpf, prec: u64) -> Option<String> {
    to_str(s, repr_dps(prec)).map(|t| format!("mpf('{t}')"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_conversions_match_mpmath() {
        // mp.dps = 15 -> prec 53; dps 0 -> prec 3; negative -> 1.
        assert_eq!(dps_to_prec(15), 53.0);
        assert_eq!(dps_to_prec(0), 3.0);
        assert_eq!(dps_to_prec(-4), 1.0);
        assert_eq!(repr_dps(53), 17);
        assert_eq!(repr_dps(3), 4);
    }

    #[test]
    fn repr_of_simple_values() {
        let r = |x: f64, prec| repr(&Mpf::from_f64(x), prec).unwrap();
        assert_eq!(r(2.0, 37), "mpf('2.0')");
        assert_eq!(r(0.75, 3), "mpf('0.75')");
        assert_eq!(r(0.1, 53), "mpf('0.10000000000000001')");
        assert_eq!(r(-1e300, 53), "mpf('-1.0000000000000001e+300')");
    }
}
