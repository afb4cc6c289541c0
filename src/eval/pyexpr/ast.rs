//! Expression tree, shaped like Python's `ast` expression nodes.

use crate::eval::pyval::PyVal;

/// The value of an `ast.Constant`.
#[derive(Clone, Debug)]
pub enum ConstVal {
    /// Any value a literal can denote (`str`, `bytes`, numbers, `True`, `None`, ...).
    Value(PyVal),
    /// `...`
    Ellipsis,
}

/// Binary operators (`ast.operator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mult,
    /// `@`
    MatMult,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `//`
    FloorDiv,
    /// `**`
    Pow,
    /// `<<`
    LShift,
    /// `>>`
    RShift,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
    /// `&`
    BitAnd,
}

/// Unary operators (`ast.unaryop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-`
    USub,
    /// `+`
    UAdd,
    /// `~`
    Invert,
    /// `not`
    Not,
}

/// `and` / `or`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoolOp {
    /// `and`
    And,
    /// `or`
    Or,
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtE,
    /// `>`
    Gt,
    /// `>=`
    GtE,
    /// `is`
    Is,
    /// `is not`
    IsNot,
    /// `in`
    In,
    /// `not in`
    NotIn,
}

/// Which comprehension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompKind {
    /// `[x for ...]`
    List,
    /// `{x for ...}`
    Set,
    /// `(x for ...)`
    Generator,
    /// `{k: v for ...}`
    Dict,
}

/// One `for ... in ... if ...` clause.
#[derive(Clone, Debug)]
pub struct Comprehension {
    /// `async for`.
    pub is_async: bool,
    /// Loop target.
    pub target: Expr,
    /// Iterated expression.
    pub iter: Expr,
    /// `if` filters.
    pub ifs: Vec<Expr>,
}

/// A call keyword argument; `arg == None` is `**value`.
#[derive(Clone, Debug)]
pub struct Keyword {
    /// The keyword name, `None` for `**`.
    pub arg: Option<String>,
    /// The argument value.
    pub value: Expr,
}

/// A Python expression node.
#[derive(Clone, Debug)]
pub enum Expr {
    /// `ast.Constant`; `u_prefix` is `kind == "u"`.
    Constant {
        /// The literal value.
        value: ConstVal,
        /// Written with a `u` prefix.
        u_prefix: bool,
    },
    /// `ast.JoinedStr` (an f-string), kept as source text.
    FString(String),
    /// `ast.Name`
    Name(String),
    /// `ast.Attribute`
    Attribute(Box<Expr>, String),
    /// `ast.Subscript` (value, slice)
    Subscript(Box<Expr>, Box<Expr>),
    /// `ast.Slice` (lower, upper, step)
    Slice(Option<Box<Expr>>, Option<Box<Expr>>, Option<Box<Expr>>),
    /// `ast.Call` (func, positional args, keywords)
    Call(Box<Expr>, Vec<Expr>, Vec<Keyword>),
    /// `ast.Starred`
    Starred(Box<Expr>),
    /// `ast.List`
    List(Vec<Expr>),
    /// `ast.Tuple`
    Tuple(Vec<Expr>),
    /// `ast.Set`
    Set(Vec<Expr>),
    /// `ast.Dict`; a `None` key is `**value`.
    Dict(Vec<(Option<Expr>, Expr)>),
    /// Comprehensions; the optional second expression is a dict comprehension's value.
    Comp(CompKind, Box<Expr>, Option<Box<Expr>>, Vec<Comprehension>),
    /// `ast.BinOp`
    BinOp(Box<Expr>, BinOp, Box<Expr>),
    /// `ast.UnaryOp`
    UnaryOp(UnaryOp, Box<Expr>),
    /// `ast.BoolOp`
    BoolOp(BoolOp, Vec<Expr>),
    /// `ast.Compare`
    Compare(Box<Expr>, Vec<(CmpOp, Expr)>),
    /// `ast.IfExp` (test, body, orelse)
    IfExp(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `ast.Lambda`: parameter items (`a`, `*`, `*args`, `/`, `**k`, each with its
    /// default), body.
    Lambda(Vec<(String, Option<Expr>)>, Box<Expr>),
    /// `ast.NamedExpr` (`name := value`)
    NamedExpr(String, Box<Expr>),
    /// `ast.Await`
    Await(Box<Expr>),
}

impl Expr {
    /// A constant holding `v`.
    pub fn constant(v: PyVal) -> Expr {
        Expr::Constant {
            value: ConstVal::Value(v),
            u_prefix: false,
        }
    }
}
