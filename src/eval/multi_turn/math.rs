//! `MathAPI` (math_api.py): stateless arithmetic returning
//! `{"result": x}` or `{"error": msg}`.
//!
//! `logarithm` (an `mpmath` result at the requested decimal precision) and
//! `square_root` (a `decimal.Decimal` result) are in [`super::mpf_calls`].

use super::backend::{Backend, PyException, Returned};
use super::pyops::dict;
use super::signature::{opt, req, Signature};
use crate::eval::pyval::{PyDict, PyVal};

const SIGNATURES: &[Signature] = &[
    Signature {
        name: "absolute_value",
        params: &[req("number")],
    },
    Signature {
        name: "add",
        params: &[req("a"), req("b")],
    },
    Signature {
        name: "divide",
        params: &[req("a"), req("b")],
    },
    Signature {
        name: "imperial_si_conversion",
        params: &[req("value"), req("unit_in"), req("unit_out")],
    },
    Signature {
        name: "logarithm",
        params: &[req("value"), req("base"), req("precision")],
    },
    Signature {
        name: "max_value",
        params: &[req("numbers")],
    },
    Signature {
        name: "mean",
        params: &[req("numbers")],
    },
    Signature {
        name: "min_value",
        params: &[req("numbers")],
    },
    Signature {
        name: "multiply",
        params: &[req("a"), req("b")],
    },
    Signature {
        name: "percentage",
        params: &[req("part"), req("whole")],
    },
    Signature {
        name: "power",
        params: &[req("base"), req("exponent")],
    },
    Signature {
        name: "round_number",
        params: &[req("number"), opt("decimal_places", || PyVal::Int(0))],
    },
    Signature {
        name: "si_unit_conversion",
        params: &[req("value"), req("unit_in"), req("unit_out")],
    },
    Signature {
        name: "square_root",
        params: &[req("number"), req("precision")],
    },
    Signature {
        name: "standard_deviation",
        params: &[req("numbers")],
    },
    Signature {
        name: "subtract",
        params: &[req("a"), req("b")],
    },
    Signature {
        name: "sum_values",
        params: &[req("numbers")],
    },
];

/// The stateless math backend.
#[derive(Clone, Copy, Debug, Default)]
pub struct MathApi;

/// A Python `int` (bools included, as `isinstance(x, int)` holds for them)
/// or `float`.
#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn of(v: &PyVal) -> Option<Num> {
        match v {
            PyVal::Bool(b) => Some(Num::Int(i128::from(*b))),
            PyVal::Int(i) => Some(Num::Int(*i)),
            PyVal::Float(f) => Some(Num::Float(*f)),
            _ => None,
        }
    }

    fn f(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn val(self) -> PyVal {
        match self {
            Num::Int(i) => PyVal::Int(i),
            Num::Float(f) => PyVal::Float(f),
        }
    }

    fn is_zero(self) -> bool {
        match self {
            Num::Int(i) => i == 0,
            Num::Float(f) => f == 0.0,
        }
    }

    /// `a + b`, `a - b`, `a * b` with int results for two ints.
    fn arith(self, other: Num, op: char) -> Option<Num> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => match op {
                '+' => a.checked_add(b),
                '-' => a.checked_sub(b),
                _ => a.checked_mul(b),
            }
            .map(Num::Int),
            (a, b) => {
                let (a, b) = (a.f(), b.f());
                Some(Num::Float(match op {
                    '+' => a + b,
                    '-' => a - b,
                    _ => a * b,
                }))
            }
        }
    }

    /// `a / b` (true division; `b` is non-zero).
    fn div(self, other: Num) -> Num {
        Num::Float(self.f() / other.f())
    }
}

fn ok(v: PyVal) -> Result<Returned, PyException> {
    Ok(Returned::Value(dict([("result", v)])))
}

fn error(msg: &str) -> Result<Returned, PyException> {
    Ok(Returned::Value(dict([("error", PyVal::str(msg))])))
}

/// The numbers of a list argument; `None` when any element is not a number
/// (Python raises the `TypeError` the methods turn into an error dict).
fn numbers(v: &PyVal) -> Option<Vec<Num>> {
    match v {
        PyVal::List(items) | PyVal::Tuple(items) => items.iter().map(Num::of).collect(),
        _ => None,
    }
}

/// Python's `sum(nums)` (CPython 3.11: left to right, starting from int 0).
fn sum(nums: &[Num]) -> Option<Num> {
    nums.iter()
        .try_fold(Num::Int(0), |acc, &x| acc.arith(x, '+'))
}

/// Python's `round(x, n)` for a float and `n >= 0`: the correctly rounded
/// decimal (ties to even on the exact binary value), read back as a float.
pub(crate) fn round_float(x: f64, n: i128) -> f64 {
    if !x.is_finite() || n > 330 {
        return x;
    }
    let text = format!("{:.*}", n as usize, x);
    text.parse().unwrap_or(x)
}

impl MathApi {
    fn list_op(&self, method: &str, v: &PyVal) -> Result<Returned, PyException> {
        let (empty_msg, type_msg) = match method {
            "mean" => (
                "Cannot calculate mean of an empty list",
                "All elements in the list must be numbers",
            ),
            "standard_deviation" => (
                "Cannot calculate standard deviation of an empty list",
                "All elements in the list must be numbers",
            ),
            "min_value" => (
                "Cannot find minimum of an empty list",
                "All elements in the list must be numbers",
            ),
            "max_value" => (
                "Cannot find maximum of an empty list",
                "All elements in the list must be numbers",
            ),
            _ => (
                "Cannot calculate sum of an empty list",
                "All elements in the list must be numbers",
            ),
        };
        if !v.truthy() {
            return error(empty_msg);
        }
        let Some(nums) = numbers(v) else {
            return error(type_msg);
        };
        let len = Num::Int(nums.len() as i128);
        let total = sum(&nums);
        let result = match method {
            "mean" => total.map(|t| t.div(len)),
            "standard_deviation" => total.map(|t| {
                let mean = t.div(len).f();
                let var = nums
                    .iter()
                    .fold(0.0_f64, |acc, x| acc + (x.f() - mean) * (x.f() - mean));
                Num::Float((var / nums.len() as f64).sqrt())
            }),
            "min_value" | "max_value" => {
                let want_max = method == "max_value";
                nums.iter().copied().reduce(|best, x| {
                    let better = if want_max {
                        x.f() > best.f()
                    } else {
                        x.f() < best.f()
                    };
                    if better {
                        x
                    } else {
                        best
                    }
                })
            }
            _ => total,
        };
        match result {
            Some(n) => ok(n.val()),
            None => error(type_msg),
        }
    }

    fn conversion(
        &self,
        si: bool,
        value: &PyVal,
        unit_in: &PyVal,
        unit_out: &PyVal,
    ) -> Result<Returned, PyException> {
        let Some(value) = Num::of(value) else {
            return error("Value must be a number");
        };
        let (ui, uo) = (
            unit_in.as_str().unwrap_or(""),
            unit_out.as_str().unwrap_or(""),
        );
        let unsupported = || {
            error(&format!(
                "Conversion from '{}' to '{}' is not supported",
                crate::eval::pyrepr::py_str(unit_in),
                crate::eval::pyrepr::py_str(unit_out)
            ))
        };
        if si {
            let factor = |u: &str| -> Option<Num> {
                Some(match u {
                    "km" => Num::Int(1000),
                    "m" => Num::Int(1),
                    "cm" => Num::Float(0.01),
                    "mm" => Num::Float(0.001),
                    "um" => Num::Float(1e-6),
                    "nm" => Num::Float(1e-9),
                    _ => return None,
                })
            };
            let (Some(fin), Some(fout)) = (factor(ui), factor(uo)) else {
                return unsupported();
            };
            let meters = value
                .arith(fin, '*')
                .unwrap_or(Num::Float(value.f() * fin.f()));
            return ok(PyVal::Float(meters.f() * (1.0 / fout.f())));
        }
        if unit_in.as_str().is_some() && unit_in.as_str() == unit_out.as_str() {
            return ok(value.val());
        }
        let factor = match format!("{ui}_to_{uo}").as_str() {
            "cm_to_in" => 0.393701,
            "in_to_cm" => 2.54,
            "m_to_ft" => 3.28084,
            "ft_to_m" => 0.3048,
            "m_to_yd" => 1.09361,
            "yd_to_m" => 0.9144,
            "km_to_miles" => 0.621371,
            "miles_to_km" => 1.60934,
            "kg_to_lb" => 2.20462,
            "lb_to_kg" => 0.453592,
            "celsius_to_fahrenheit" => 1.8,
            "fahrenheit_to_celsius" => 5.0 / 9.0,
            _ => return unsupported(),
        };
        let result = match (ui, uo) {
            ("celsius", "fahrenheit") => value.f() * factor + 32.0,
            ("fahrenheit", "celsius") => {
                let shifted = value
                    .arith(Num::Int(32), '-')
                    .unwrap_or(Num::Float(value.f() - 32.0));
                shifted.f() * factor
            }
            _ => value.f() * factor,
        };
        ok(PyVal::Float(result))
    }

    fn power(&self, base: &PyVal, exponent: &PyVal) -> Result<Returned, PyException> {
        let (Some(b), Some(e)) = (Num::of(base), Num::of(exponent)) else {
            return error("Both inputs must be numbers");
        };
        match (b, e) {
            (Num::Int(b), Num::Int(e)) if e >= 0 => {
                match u32::try_from(e).ok().and_then(|e| b.checked_pow(e)) {
                    Some(v) => ok(PyVal::Int(v)),
                    None => Err(unsupported("an integer power beyond 128 bits")),
                }
            }
            (b, e) => {
                if b.is_zero() && e.f() < 0.0 {
                    return Err(PyException {
                        kind: "ZeroDivisionError",
                        message: "0.0 cannot be raised to a negative power".into(),
                    });
                }
                if b.f() < 0.0 && e.f().fract() != 0.0 {
                    return Err(unsupported("a complex power"));
                }
                ok(PyVal::Float(b.f().powf(e.f())))
            }
        }
    }
}

fn unsupported(what: &str) -> PyException {
    PyException {
        kind: "Unsupported",
        message: format!("not ported to Rust: {what}"),
    }
}

impl Backend for MathApi {
    fn class_name(&self) -> &'static str {
        "MathAPI"
    }

    fn signatures(&self) -> &'static [Signature] {
        SIGNATURES
    }

    fn invoke(&mut self, method: &str, args: Vec<PyVal>) -> Result<Returned, PyException> {
        let arg = |i: usize| args.get(i).cloned().unwrap_or(PyVal::None);
        let pair = || (Num::of(&arg(0)), Num::of(&arg(1)));
        match method {
            "mean" | "standard_deviation" | "min_value" | "max_value" | "sum_values" => {
                self.list_op(method, &arg(0))
            }
            "si_unit_conversion" => self.conversion(true, &arg(0), &arg(1), &arg(2)),
            "imperial_si_conversion" => self.conversion(false, &arg(0), &arg(1), &arg(2)),
            "add" | "subtract" | "multiply" => {
                let op = match method {
                    "add" => '+',
                    "subtract" => '-',
                    _ => '*',
                };
                match pair() {
                    (Some(a), Some(b)) => match a.arith(b, op) {
                        Some(n) => ok(n.val()),
                        None => Err(unsupported("an integer result beyond 128 bits")),
                    },
                    _ if op == '+' => match (arg(0), arg(1)) {
                        (PyVal::Str(a), PyVal::Str(b)) => ok(PyVal::str(format!("{a}{b}"))),
                        _ => error("Both inputs must be numbers"),
                    },
                    _ => error("Both inputs must be numbers"),
                }
            }
            "divide" | "percentage" => {
                let (zero_msg, type_msg) = if method == "divide" {
                    ("Cannot divide by zero", "Both inputs must be numbers")
                } else {
                    ("Whole value cannot be zero", "Both inputs must be numbers")
                };
                match pair() {
                    (_, Some(b)) if b.is_zero() => error(zero_msg),
                    (Some(a), Some(b)) => {
                        let q = a.div(b).f();
                        ok(PyVal::Float(if method == "divide" { q } else { q * 100.0 }))
                    }
                    _ => error(type_msg),
                }
            }
            "power" => self.power(&arg(0), &arg(1)),
            "absolute_value" => match Num::of(&arg(0)) {
                Some(Num::Int(i)) => ok(PyVal::int_abs(i)),
                Some(Num::Float(f)) => ok(PyVal::Float(f.abs())),
                None => error("Input must be a number"),
            },
            "round_number" => match (Num::of(&arg(0)), arg(1)) {
                (Some(Num::Int(i)), PyVal::Int(n)) if n >= 0 => ok(PyVal::Int(i)),
                (Some(Num::Float(f)), PyVal::Int(n)) if n >= 0 => {
                    ok(PyVal::Float(round_float(f, n)))
                }
                (Some(_), PyVal::Int(_)) => Err(unsupported("round with negative decimal places")),
                _ => error("First input must be a number, second input must be an integer"),
            },
            "logarithm" => super::mpf_calls::logarithm(&arg(0), &arg(1), &arg(2)),
            "square_root" => super::mpf_calls::square_root(&arg(0), &arg(1)),
            other => Err(PyException::attribute_error(format!(
                "'MathAPI' object has no attribute '{other}'"
            ))),
        }
    }

    fn state(&self) -> PyDict {
        PyDict::new()
    }
}
