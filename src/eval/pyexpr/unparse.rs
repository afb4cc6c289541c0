//! `ast.unparse` (CPython 3.11) for expression trees: same parenthesization
//! by precedence, same spacing, constants written with `repr`.

use super::ast::{BinOp, BoolOp, CmpOp, CompKind, Comprehension, ConstVal, Expr, UnaryOp};
use super::{ParseError, Result};
use crate::eval::pyrepr::repr;
use crate::eval::pyval::PyVal;

/// Operator precedence levels of `ast._Precedence`, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    NamedExpr,
    Tuple,
    #[allow(dead_code)]
    Yield,
    Test,
    Or,
    And,
    Not,
    Cmp,
    Expr, // also `|`
    BXor,
    BAnd,
    Shift,
    Arith,
    Term,
    Factor,
    Power,
    Await,
    Atom,
}

impl Prec {
    fn next(self) -> Prec {
        use Prec::*;
        match self {
            NamedExpr => Tuple,
            Tuple => Yield,
            Yield => Test,
            Test => Or,
            Or => And,
            And => Not,
            Not => Cmp,
            Cmp => Expr,
            Expr => BXor,
            BXor => BAnd,
            BAnd => Shift,
            Shift => Arith,
            Arith => Term,
            Term => Factor,
            Factor => Power,
            Power => Await,
            Await | Atom => Atom,
        }
    }
}

/// `ast.unparse(expr)`.
pub fn unparse(e: &Expr) -> Result<String> {
    let mut out = String::new();
    write(&mut out, e, Prec::Test)?;
    Ok(out)
}

fn binop_info(op: BinOp) -> (&'static str, Prec) {
    match op {
        BinOp::Add => ("+", Prec::Arith),
        BinOp::Sub => ("-", Prec::Arith),
        BinOp::Mult => ("*", Prec::Term),
        BinOp::MatMult => ("@", Prec::Term),
        BinOp::Div => ("/", Prec::Term),
        BinOp::Mod => ("%", Prec::Term),
        BinOp::FloorDiv => ("//", Prec::Term),
        BinOp::Pow => ("**", Prec::Power),
        BinOp::LShift => ("<<", Prec::Shift),
        BinOp::RShift => (">>", Prec::Shift),
        BinOp::BitOr => ("|", Prec::Expr),
        BinOp::BitXor => ("^", Prec::BXor),
        BinOp::BitAnd => ("&", Prec::BAnd),
    }
}

fn cmp_str(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::NotEq => "!=",
        CmpOp::Lt => "<",
        CmpOp::LtE => "<=",
        CmpOp::Gt => ">",
        CmpOp::GtE => ">=",
        CmpOp::Is => "is",
        CmpOp::IsNot => "is not",
        CmpOp::In => "in",
        CmpOp::NotIn => "not in",
    }
}

fn write_constant(out: &mut String, v: &PyVal) {
    match v {
        PyVal::Float(_) | PyVal::Complex(..) => {
            let r = repr(v)
                .replace("inf", "1e309")
                .replace("nan", "(1e309-1e309)");
            out.push_str(&r);
        }
        other => out.push_str(&repr(other)),
    }
}

fn paren_if(out: &mut String, cond: bool, f: impl FnOnce(&mut String) -> Result<()>) -> Result<()> {
    if cond {
        out.push('(');
    }
    f(out)?;
    if cond {
        out.push(')');
    }
    Ok(())
}

fn write_list(out: &mut String, items: &[Expr], prec: Prec) -> Result<()> {
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        write(out, item, prec)?;
    }
    Ok(())
}

/// `items_view`: a single item gets a trailing comma.
fn write_items_view(out: &mut String, items: &[Expr]) -> Result<()> {
    if items.len() == 1 {
        write(out, &items[0], Prec::Test)?;
        out.push(',');
        Ok(())
    } else {
        write_list(out, items, Prec::Test)
    }
}

fn write_generators(out: &mut String, gens: &[Comprehension]) -> Result<()> {
    for g in gens {
        out.push_str(if g.is_async { " async for " } else { " for " });
        write(out, &g.target, Prec::Tuple)?;
        out.push_str(" in ");
        write(out, &g.iter, Prec::Test.next())?;
        for cond in &g.ifs {
            out.push_str(" if ");
            write(out, cond, Prec::Test.next())?;
        }
    }
    Ok(())
}

fn write(out: &mut String, e: &Expr, prec: Prec) -> Result<()> {
    match e {
        Expr::Constant { value, u_prefix } => {
            match value {
                ConstVal::Ellipsis => out.push_str("..."),
                ConstVal::Value(v) => {
                    if *u_prefix {
                        out.push('u');
                    }
                    write_constant(out, v);
                }
            }
            Ok(())
        }
        Expr::FString(_) => Err(ParseError::Unsupported("ast.unparse of an f-string".into())),
        Expr::Name(n) => {
            out.push_str(n);
            Ok(())
        }
        Expr::Attribute(value, attr) => {
            write(out, value, Prec::Atom)?;
            if matches!(
                &**value,
                Expr::Constant {
                    value: ConstVal::Value(PyVal::Int(_) | PyVal::BigInt(_) | PyVal::Bool(_)),
                    ..
                }
            ) {
                out.push(' ');
            }
            out.push('.');
            out.push_str(attr);
            Ok(())
        }
        Expr::Call(func, args, keywords) => {
            write(out, func, Prec::Atom)?;
            out.push('(');
            let mut first = true;
            for a in args {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                write(out, a, Prec::Test)?;
            }
            for k in keywords {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                match &k.arg {
                    Some(name) => {
                        out.push_str(name);
                        out.push('=');
                    }
                    None => out.push_str("**"),
                }
                write(out, &k.value, Prec::Test)?;
            }
            out.push(')');
            Ok(())
        }
        Expr::Subscript(value, slice) => {
            write(out, value, Prec::Atom)?;
            out.push('[');
            match &**slice {
                Expr::Tuple(items) if !items.is_empty() => write_items_view(out, items)?,
                other => write(out, other, Prec::Test)?,
            }
            out.push(']');
            Ok(())
        }
        Expr::Slice(lower, upper, step) => {
            if let Some(l) = lower {
                write(out, l, Prec::Test)?;
            }
            out.push(':');
            if let Some(u) = upper {
                write(out, u, Prec::Test)?;
            }
            if let Some(s) = step {
                out.push(':');
                write(out, s, Prec::Test)?;
            }
            Ok(())
        }
        Expr::Starred(v) => {
            out.push('*');
            write(out, v, Prec::Expr)
        }
        Expr::List(items) => {
            out.push('[');
            write_list(out, items, Prec::Test)?;
            out.push(']');
            Ok(())
        }
        Expr::Tuple(items) => paren_if(out, items.is_empty() || prec > Prec::Tuple, |out| {
            write_items_view(out, items)
        }),
        Expr::Set(items) => {
            if items.is_empty() {
                out.push_str("{*()}");
                return Ok(());
            }
            out.push('{');
            write_list(out, items, Prec::Test)?;
            out.push('}');
            Ok(())
        }
        Expr::Dict(items) => {
            out.push('{');
            for (n, (k, v)) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                match k {
                    Some(k) => {
                        write(out, k, Prec::Test)?;
                        out.push_str(": ");
                        write(out, v, Prec::Test)?;
                    }
                    None => {
                        out.push_str("**");
                        write(out, v, Prec::Expr)?;
                    }
                }
            }
            out.push('}');
            Ok(())
        }
        Expr::Comp(kind, elt, value, gens) => {
            let (open, close) = match kind {
                CompKind::List => ('[', ']'),
                CompKind::Generator => ('(', ')'),
                CompKind::Set | CompKind::Dict => ('{', '}'),
            };
            out.push(open);
            write(out, elt, Prec::Test)?;
            if let Some(v) = value {
                out.push_str(": ");
                write(out, v, Prec::Test)?;
            }
            write_generators(out, gens)?;
            out.push(close);
            Ok(())
        }
        Expr::BinOp(left, op, right) => {
            let (sym, p) = binop_info(*op);
            paren_if(out, prec > p, |out| {
                let (lp, rp) = if *op == BinOp::Pow {
                    (p.next(), p)
                } else {
                    (p, p.next())
                };
                write(out, left, lp)?;
                out.push(' ');
                out.push_str(sym);
                out.push(' ');
                write(out, right, rp)
            })
        }
        Expr::UnaryOp(op, operand) => {
            let (sym, p) = match op {
                UnaryOp::Not => ("not", Prec::Not),
                UnaryOp::Invert => ("~", Prec::Factor),
                UnaryOp::UAdd => ("+", Prec::Factor),
                UnaryOp::USub => ("-", Prec::Factor),
            };
            paren_if(out, prec > p, |out| {
                out.push_str(sym);
                if p != Prec::Factor {
                    out.push(' ');
                }
                write(out, operand, p)
            })
        }
        Expr::BoolOp(op, values) => {
            let (sym, p) = match op {
                BoolOp::And => (" and ", Prec::And),
                BoolOp::Or => (" or ", Prec::Or),
            };
            paren_if(out, prec > p, |out| {
                let mut level = p;
                for (n, v) in values.iter().enumerate() {
                    if n > 0 {
                        out.push_str(sym);
                    }
                    level = level.next();
                    write(out, v, level)?;
                }
                Ok(())
            })
        }
        Expr::Compare(left, ops) => paren_if(out, prec > Prec::Cmp, |out| {
            write(out, left, Prec::Cmp.next())?;
            for (op, e) in ops {
                out.push(' ');
                out.push_str(cmp_str(*op));
                out.push(' ');
                write(out, e, Prec::Cmp.next())?;
            }
            Ok(())
        }),
        Expr::IfExp(test, body, orelse) => paren_if(out, prec > Prec::Test, |out| {
            write(out, body, Prec::Test.next())?;
            out.push_str(" if ");
            write(out, test, Prec::Test.next())?;
            out.push_str(" else ");
            write(out, orelse, Prec::Test)
        }),
        Expr::Lambda(params, body) => paren_if(out, prec > Prec::Test, |out| {
            out.push_str("lambda");
            if !params.is_empty() {
                out.push(' ');
                for (n, (name, default)) in params.iter().enumerate() {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(name);
                    if let Some(d) = default {
                        out.push('=');
                        write(out, d, Prec::Test)?;
                    }
                }
            }
            out.push_str(": ");
            write(out, body, Prec::Test)
        }),
        Expr::NamedExpr(target, value) => paren_if(out, prec > Prec::NamedExpr, |out| {
            out.push_str(target);
            out.push_str(" := ");
            write(out, value, Prec::Atom)
        }),
        Expr::Await(value) => paren_if(out, prec > Prec::Await, |out| {
            out.push_str("await ");
            write(out, value, Prec::Atom)
        }),
    }
}
