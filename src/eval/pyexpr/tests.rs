use super::*;

fn up(src: &str) -> String {
    unparse(&parse_eval(src).unwrap()).unwrap()
}

#[test]
fn parses_and_unparses_basic_calls() {
    assert_eq!(up("f( 1,x ,  k = 'a' )"), "f(1, x, k='a')");
    assert_eq!(up("a.b.c(*x, **y)"), "a.b.c(*x, **y)");
    assert_eq!(up("(1,)"), "(1,)");
    assert_eq!(up("x[1, 2]"), "x[1, 2]");
    assert_eq!(up("-(1 + 2) * 3 ** -1"), "-(1 + 2) * 3 ** (-1)");
}

#[test]
fn rejects_what_python_rejects() {
    for bad in [
        "f(a=1, 2)",
        "[1, 2",
        "05",
        "f(x for x in y, 1)",
        "a b",
        "f(True=1)",
        "1__0",
    ] {
        assert!(
            matches!(parse_eval(bad), Err(ParseError::Syntax(_))),
            "{bad}"
        );
    }
}
