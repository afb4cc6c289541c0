//! The slice of Python's `decimal` module that `MathAPI.square_root`
//! reaches: exact `Decimal(int | float)`, `Decimal.sqrt()` under a context
//! precision with the default `ROUND_HALF_EVEN` (the algorithm of the
//! specification, as in `_pydecimal`: one extra digit rounded down, a
//! sticky last digit, ideal exponent for exact roots), and `str()`.

use num_bigint::{BigInt, BigUint, Sign};

/// A finite decimal `(-1)^neg * coeff * 10^exp` (coefficient not
/// normalised, as Python keeps it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal {
    /// Sign.
    pub neg: bool,
    /// Coefficient.
    pub coeff: BigUint,
    /// Exponent.
    pub exp: i64,
}

fn pow10(n: u64) -> BigUint {
    BigUint::from(10u32).pow(u32::try_from(n).unwrap_or(u32::MAX))
}

fn digits(x: &BigUint) -> u64 {
    if x.bits() == 0 {
        1
    } else {
        x.to_string().len() as u64
    }
}

impl Decimal {
    /// `Decimal(n)` for an int.
    pub fn from_int(n: &BigInt) -> Decimal {
        let (sign, coeff) = n.clone().into_parts();
        Decimal {
            neg: sign == Sign::Minus,
            coeff,
            exp: 0,
        }
    }

    /// `Decimal(x)` for a finite float: its exact value.
    pub fn from_f64(x: f64) -> Option<Decimal> {
        if !x.is_finite() {
            return None;
        }
        let neg = x.is_sign_negative();
        let b = x.abs().to_bits();
        let raw_exp = ((b >> 52) & 0x7ff) as i64;
        let frac = b & ((1u64 << 52) - 1);
        let (mut man, mut e) = if raw_exp == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), raw_exp - 1075)
        };
        if man == 0 {
            return Some(Decimal {
                neg,
                coeff: BigUint::default(),
                exp: 0,
            });
        }
        let tz = man.trailing_zeros();
        man >>= tz;
        e += i64::from(tz);
        let man = BigUint::from(man);
        Some(if e >= 0 {
            Decimal {
                neg,
                coeff: man << (e as u64),
                exp: 0,
            }
        } else {
            let k = e.unsigned_abs();
            Decimal {
                neg,
                coeff: man * BigUint::from(5u32).pow(u32::try_from(k).ok()?),
                exp: -(k as i64),
            }
        })
    }

    /// `_fix`: rounds the coefficient to `prec` digits, half to even.
    fn fix(mut self, prec: u64) -> Decimal {
        let n = digits(&self.coeff);
        if n <= prec || self.coeff.bits() == 0 {
            return self;
        }
        let drop = n - prec;
        let p = pow10(drop);
        let (q, r) = (&self.coeff / &p, &self.coeff % &p);
        let twice = r * 2u32;
        let up = twice > p || (twice == p && q.bit(0));
        let mut q = q + u32::from(up);
        let mut exp = self.exp + drop as i64;
        if digits(&q) > prec {
            q /= 10u32;
            exp += 1;
        }
        self.coeff = q;
        self.exp = exp;
        self
    }

    /// `self.sqrt()` in a context of precision `prec` (`self` not
    /// negative unless zero).
    pub fn sqrt(&self, prec: u64) -> Decimal {
        if self.coeff.bits() == 0 {
            return Decimal {
                neg: self.neg,
                coeff: BigUint::default(),
                exp: self.exp.div_euclid(2),
            }
            .fix(prec);
        }
        let wprec = prec + 1;
        let len = digits(&self.coeff);
        let mut e = self.exp >> 1;
        let (mut c, l) = if self.exp & 1 != 0 {
            (&self.coeff * 10u32, (len >> 1) + 1)
        } else {
            (self.coeff.clone(), (len + 1) >> 1)
        };
        let shift = wprec as i64 - l as i64;
        let mut exact;
        if shift >= 0 {
            c *= pow10(2 * shift as u64);
            exact = true;
        } else {
            let p = pow10(2 * shift.unsigned_abs());
            exact = (&c % &p).bits() == 0;
            c /= p;
        }
        e -= shift;
        let mut n = pow10(wprec);
        loop {
            let q = &c / &n;
            if n <= q {
                break;
            }
            n = (n + q) >> 1u32;
        }
        exact = exact && &n * &n == c;
        if exact {
            if shift >= 0 {
                n /= pow10(shift as u64);
            } else {
                n *= pow10(shift.unsigned_abs());
            }
            e += shift;
        } else if (&n % 5u32).bits() == 0 {
            n += 1u32;
        }
        Decimal {
            neg: false,
            coeff: n,
            exp: e,
        }
        .fix(prec)
    }

    /// `str(self)` (scientific notation rules of the specification).
    pub fn to_str(&self) -> String {
        let sign = if self.neg { "-" } else { "" };
        let int = self.coeff.to_string();
        let len = int.len() as i64;
        let leftdigits = self.exp + len;
        let dotplace = if self.exp <= 0 && leftdigits > -6 {
            leftdigits
        } else {
            1
        };
        let (intpart, fracpart) = if dotplace <= 0 {
            (
                "0".to_string(),
                format!(".{}{}", "0".repeat((-dotplace) as usize), int),
            )
        } else if dotplace >= len {
            (
                format!("{int}{}", "0".repeat((dotplace - len) as usize)),
                String::new(),
            )
        } else {
            let (a, b) = int.split_at(dotplace as usize);
            (a.to_string(), format!(".{b}"))
        };
        let exp = if leftdigits == dotplace {
            String::new()
        } else {
            format!("E{:+}", leftdigits - dotplace)
        };
        format!("{sign}{intpart}{fracpart}{exp}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqrt(x: f64, prec: u64) -> String {
        Decimal::from_f64(x).unwrap().sqrt(prec).to_str()
    }

    #[test]
    fn sqrt_matches_python_decimal() {
        assert_eq!(sqrt(2.0, 5), "1.4142");
        assert_eq!(sqrt(16.0, 5), "4");
        assert_eq!(sqrt(0.25, 5), "0.5");
        assert_eq!(sqrt(-0.0, 5), "-0");
        assert_eq!(sqrt(12321.0, 2), "1.1E+2");
        assert_eq!(sqrt(1e-10, 3), "0.0000100");
        assert_eq!(sqrt(1e30, 3), "1.00E+15");
    }
}
