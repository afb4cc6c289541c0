//! Binding a [`Call`]'s arguments to a method's parameters the way CPython
//! does, with CPython 3.11's `TypeError` messages for bad calls.

use super::backend::PyException;
use super::call::Call;
use crate::eval::pyval::PyVal;

/// A parameter of a backend method (after `self`).
#[derive(Clone, Copy, Debug)]
pub struct Param {
    /// The parameter name.
    pub name: &'static str,
    /// The default value, if the parameter is optional.
    pub default: Option<fn() -> PyVal>,
}

/// A required parameter.
pub const fn req(name: &'static str) -> Param {
    Param {
        name,
        default: None,
    }
}

/// An optional parameter with a default.
pub const fn opt(name: &'static str, default: fn() -> PyVal) -> Param {
    Param {
        name,
        default: Some(default),
    }
}

/// Default `None`.
pub fn none() -> PyVal {
    PyVal::None
}

/// A method signature: `Class.method(self, params...)`.
#[derive(Clone, Copy, Debug)]
pub struct Signature {
    /// The method name.
    pub name: &'static str,
    /// The parameters after `self`, in Python declaration order.
    pub params: &'static [Param],
}

impl Signature {
    /// Binds `call`'s arguments to the parameters (defaults filled in), or
    /// returns the `TypeError` CPython raises; `class` names the qualified
    /// method in the message (`TicketAPI.get_ticket()`).
    pub fn bind(&self, class: &str, call: &Call) -> Result<Vec<PyVal>, PyException> {
        let qual = format!("{class}.{}()", self.name);
        let mut slots: Vec<Option<PyVal>> = vec![None; self.params.len()];
        for (slot, v) in slots.iter_mut().zip(&call.args) {
            *slot = Some(v.clone());
        }
        for (key, value) in &call.kwargs {
            let Some(i) = self.params.iter().position(|p| p.name == key) else {
                return Err(PyException::type_error(format!(
                    "{qual} got an unexpected keyword argument '{key}'"
                )));
            };
            if slots[i].is_some() {
                return Err(PyException::type_error(format!(
                    "{qual} got multiple values for argument '{key}'"
                )));
            }
            slots[i] = Some(value.clone());
        }
        if call.args.len() > self.params.len() {
            let max = self.params.len() + 1;
            let min = self.params.iter().filter(|p| p.default.is_none()).count() + 1;
            let takes = if min == max {
                format!(
                    "{max} positional argument{}",
                    if max == 1 { "" } else { "s" }
                )
            } else {
                format!("from {min} to {max} positional arguments")
            };
            let given = call.args.len() + 1;
            let verb = if given == 1 { "was" } else { "were" };
            return Err(PyException::type_error(format!(
                "{qual} takes {takes} but {given} {verb} given"
            )));
        }
        let missing: Vec<&str> = self
            .params
            .iter()
            .zip(&slots)
            .filter(|(p, s)| s.is_none() && p.default.is_none())
            .map(|(p, _)| p.name)
            .collect();
        if !missing.is_empty() {
            let quoted: Vec<String> = missing.iter().map(|m| format!("'{m}'")).collect();
            let list = match quoted.as_slice() {
                [one] => one.clone(),
                [a, b] => format!("{a} and {b}"),
                [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
                [] => String::new(),
            };
            let n = missing.len();
            let plural = if n == 1 { "" } else { "s" };
            return Err(PyException::type_error(format!(
                "{qual} missing {n} required positional argument{plural}: {list}"
            )));
        }
        Ok(self
            .params
            .iter()
            .zip(slots)
            .map(|(p, s)| s.or_else(|| p.default.map(|d| d())).unwrap_or(PyVal::None))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Signature = Signature {
        name: "f",
        params: &[req("a"), opt("b", none)],
    };
    const H: Signature = Signature {
        name: "h",
        params: &[req("a"), req("b"), req("c"), opt("d", none)],
    };

    fn err(sig: &Signature, args: Vec<PyVal>, kwargs: &[&str]) -> String {
        let call = Call {
            name: sig.name.into(),
            args,
            kwargs: kwargs
                .iter()
                .map(|k| (k.to_string(), PyVal::Int(1)))
                .collect(),
        };
        match sig.bind("A", &call) {
            Err(e) => e.message,
            Ok(_) => "ok".into(),
        }
    }

    // Messages printed by CPython 3.11 for the same calls.
    #[test]
    fn type_errors_match_cpython() {
        let i = |n| PyVal::Int(n);
        assert_eq!(
            err(&F, vec![i(1), i(2), i(3)], &["c"]),
            "A.f() got an unexpected keyword argument 'c'"
        );
        assert_eq!(
            err(&F, vec![i(1), i(2), i(3)], &[]),
            "A.f() takes from 2 to 3 positional arguments but 4 were given"
        );
        assert_eq!(
            err(&F, vec![i(1)], &["a"]),
            "A.f() got multiple values for argument 'a'"
        );
        assert_eq!(
            err(&F, vec![], &["b"]),
            "A.f() missing 1 required positional argument: 'a'"
        );
        assert_eq!(
            err(&H, vec![], &[]),
            "A.h() missing 3 required positional arguments: 'a', 'b', and 'c'"
        );
        assert_eq!(
            err(&H, vec![i(1)], &[]),
            "A.h() missing 2 required positional arguments: 'b' and 'c'"
        );
        let g = Signature {
            name: "g",
            params: &[],
        };
        assert_eq!(
            err(&g, vec![i(1)], &[]),
            "A.g() takes 1 positional argument but 2 were given"
        );
        assert_eq!(err(&F, vec![i(1)], &[]), "ok");
    }
}
