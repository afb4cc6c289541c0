//! `TradingBot` (trading_bot.py): a brokerage account with orders, a
//! watch list, stock quotes and seeded random transaction timestamps.
//!
//! [`TradingBot::load_with`] with `long_context=True` adds the long-context
//! category's extension data to five results.

use super::backend::{Backend, PyException, PyResult, Returned};
use super::long_context::{self, LongContextData};
use super::pyops::{
    add, dict, dict_get, fixed2, fmt, ge, gt, item, iter_list, le, lower, no_attr, sub, to_float,
    type_name, unhashable,
};
use super::pyrandom::PyRandom;
use super::signature::{none, opt, req, Signature};
use super::{Error, Result};
use crate::eval::pyrepr::{py_str, repr, str_repr};
use crate::eval::pyval::{py_eq, py_in, PyDict, PyVal};

const SIGNATURES: &[Signature] = &[
    Signature {
        name: "add_to_watchlist",
        params: &[req("stock")],
    },
    Signature {
        name: "cancel_order",
        params: &[req("order_id")],
    },
    Signature {
        name: "filter_stocks_by_price",
        params: &[req("stocks"), req("min_price"), req("max_price")],
    },
    Signature {
        name: "fund_account",
        params: &[req("amount")],
    },
    Signature {
        name: "get_account_info",
        params: &[],
    },
    Signature {
        name: "get_available_stocks",
        params: &[req("sector")],
    },
    Signature {
        name: "get_current_time",
        params: &[],
    },
    Signature {
        name: "get_order_details",
        params: &[req("order_id")],
    },
    Signature {
        name: "get_order_history",
        params: &[],
    },
    Signature {
        name: "get_stock_info",
        params: &[req("symbol")],
    },
    Signature {
        name: "get_symbol_by_name",
        params: &[req("name")],
    },
    Signature {
        name: "get_transaction_history",
        params: &[opt("start_date", none), opt("end_date", none)],
    },
    Signature {
        name: "get_watchlist",
        params: &[],
    },
    Signature {
        name: "notify_price_change",
        params: &[req("stocks"), req("threshold")],
    },
    Signature {
        name: "place_order",
        params: &[
            req("order_type"),
            req("symbol"),
            req("price"),
            req("amount"),
        ],
    },
    Signature {
        name: "remove_stock_from_watchlist",
        params: &[req("symbol")],
    },
    Signature {
        name: "trading_get_login_status",
        params: &[],
    },
    Signature {
        name: "trading_login",
        params: &[req("username"), req("password")],
    },
    Signature {
        name: "trading_logout",
        params: &[],
    },
    Signature {
        name: "withdraw_funds",
        params: &[req("amount")],
    },
];

const DEFAULT_SEED: i128 = 1_053_520;

/// Default quotes: symbol, price, percent_change, volume, MA(5), MA(20).
const DEFAULT_STOCKS: [(&str, [f64; 5]); 11] = [
    ("AAPL", [227.16, 0.17, 2.552, 227.11, 227.09]),
    ("GOOG", [2840.34, 0.24, 1.123, 2835.67, 2842.15]),
    ("TSLA", [667.92, -0.12, 1.654, 671.15, 668.20]),
    ("MSFT", [310.23, 0.09, 3.234, 309.88, 310.11]),
    ("NVDA", [220.34, 0.34, 1.234, 220.45, 220.67]),
    ("ALPH", [1320.45, -0.08, 1.567, 1321.12, 1325.78]),
    ("OMEG", [457.23, 0.12, 2.345, 456.78, 458.12]),
    ("QUAS", [725.89, -0.03, 1.789, 726.45, 728.00]),
    ("NEPT", [88.34, 0.19, 0.654, 88.21, 88.67]),
    ("SYNX", [345.67, 0.11, 2.112, 345.34, 346.12]),
    ("ZETA", [22.09, -0.05, 0.789, 22.12, 22.34]),
];

/// Company names known to `get_symbol_by_name`.
const SYMBOLS: [(&str, &str); 13] = [
    ("Apple", "AAPL"),
    ("Google", "GOOG"),
    ("Tesla", "TSLA"),
    ("Microsoft", "MSFT"),
    ("Nvidia", "NVDA"),
    ("Zeta Corp", "ZETA"),
    ("Alpha Tech", "ALPH"),
    ("Omega Industries", "OMEG"),
    ("Quasar Ltd.", "QUAS"),
    ("Neptune Systems", "NEPT"),
    ("Synex Solutions", "SYNX"),
    ("Amazon", "AMZN"),
    ("Gorilla", "GORI"),
];

/// The trading account's state.
#[derive(Clone, Debug)]
pub struct TradingBot {
    orders: PyDict,
    account_info: PyVal,
    authenticated: PyVal,
    market_status: PyVal,
    order_counter: PyVal,
    stocks: PyVal,
    watch_list: PyVal,
    transaction_history: PyVal,
    random: PyRandom,
    /// The extension data when loaded with `long_context=True`.
    long: Option<&'static LongContextData>,
}

fn ok(v: PyVal) -> PyResult<Returned> {
    Ok(Returned::Value(v))
}

fn err(msg: impl Into<String>) -> PyResult<Returned> {
    ok(dict([("error", PyVal::str(msg.into()))]))
}

fn default_orders() -> PyDict {
    let mut d = PyDict::new();
    for (id, kind, sym, price, amount, status) in [
        (12345, "Buy", "AAPL", 210.65, 10, "Completed"),
        (12446, "Sell", "GOOG", 2840.56, 5, "Pending"),
    ] {
        let order = dict([
            ("id", PyVal::Int(id)),
            ("order_type", PyVal::str(kind)),
            ("symbol", PyVal::str(sym)),
            ("price", PyVal::Float(price)),
            ("amount", PyVal::Int(amount)),
            ("status", PyVal::str(status)),
        ]);
        let _ = d.insert(PyVal::Int(id), order);
    }
    d
}

fn default_stocks() -> PyVal {
    let mut d = PyDict::new();
    for (sym, [price, change, volume, ma5, ma20]) in DEFAULT_STOCKS {
        d.insert_str(
            sym,
            dict([
                ("price", PyVal::Float(price)),
                ("percent_change", PyVal::Float(change)),
                ("volume", PyVal::Float(volume)),
                ("MA(5)", PyVal::Float(ma5)),
                ("MA(20)", PyVal::Float(ma20)),
            ]),
        );
    }
    PyVal::Dict(d)
}

/// A naive datetime as (year, month, day, hour, minute, second).
type DateTime = (i64, i64, i64, i64, i64, i64);

/// `datetime.strptime(s, "%Y-%m-%d")` or `"%Y-%m-%d %H:%M:%S"`: digit
/// fields (one or two digits except the four-digit year) and checked
/// ranges, with CPython's `ValueError` message on a mismatch.
fn strptime(v: &PyVal, with_time: bool) -> PyResult<DateTime> {
    let format = if with_time {
        "%Y-%m-%d %H:%M:%S"
    } else {
        "%Y-%m-%d"
    };
    let PyVal::Str(s) = v else {
        return Err(PyException::type_error(format!(
            "strptime() argument 1 must be str, not {}",
            type_name(v)
        )));
    };
    let mismatch = || {
        PyException::value_error(format!(
            "time data {} does not match format {}",
            str_repr(s),
            str_repr(format)
        ))
    };
    let seps: &[char] = if with_time {
        &['-', '-', ' ', ':', ':']
    } else {
        &['-', '-']
    };
    let mut fields = Vec::new();
    let mut rest = s.as_str();
    for i in 0..=seps.len() {
        let max = if i == 0 { 4 } else { 2 };
        let digits = rest
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .take(max)
            .count();
        if (i == 0 && digits != 4) || digits == 0 {
            return Err(mismatch());
        }
        let value: i64 = rest[..digits].parse().map_err(|_| mismatch())?;
        fields.push(value);
        rest = &rest[digits..];
        if let Some(sep) = seps.get(i) {
            rest = rest.strip_prefix(*sep).ok_or_else(mismatch)?;
        }
    }
    if !rest.is_empty() {
        return Err(PyException::value_error(format!(
            "unconverted data remains: {rest}"
        )));
    }
    let (h, mi, se) = if with_time {
        (fields[3], fields[4], fields[5])
    } else {
        (0, 0, 0)
    };
    let valid = (1..=12).contains(&fields[1])
        && (1..=31).contains(&fields[2])
        && h < 24
        && mi < 60
        && se < 62;
    if !valid {
        return Err(mismatch());
    }
    Ok((fields[0], fields[1], fields[2], h, mi, se))
}

impl TradingBot {
    /// `_load_scenario(config)` with `long_context=False`.
    pub fn load(config: &PyDict) -> Result<Self> {
        Self::load_with(config, false)
    }

    /// `_load_scenario(config, long_context=long_context)`.
    pub fn load_with(config: &PyDict, long_context: bool) -> Result<Self> {
        let long = if long_context {
            Some(long_context::data()?)
        } else {
            None
        };
        let bad = |reason: String| Error::BadConfig {
            class: "TradingBot".into(),
            reason,
        };
        let mut orders = PyDict::new();
        match config.get_str("orders") {
            None => orders = default_orders(),
            Some(PyVal::Dict(d)) => {
                for (k, v) in d.iter() {
                    let key = match k {
                        PyVal::Str(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => {
                            crate::eval::pyjson::int_from_decimal(s)
                        }
                        other => other.clone(),
                    };
                    orders
                        .insert(key, v.clone())
                        .map_err(|_| bad("orders: unhashable key".into()))?;
                }
            }
            Some(_) => return Err(bad("`orders` must be a dict".into())),
        }
        let seed = match config.get_str("random_seed") {
            None => DEFAULT_SEED,
            Some(PyVal::Int(i)) => *i,
            Some(_) => return Err(bad("`random_seed` must be an integer".into())),
        };
        let get = |k: &str, d: PyVal| config.get_str(k).cloned().unwrap_or(d);
        Ok(TradingBot {
            orders,
            account_info: get(
                "account_info",
                dict([
                    ("account_id", PyVal::Int(12345)),
                    ("balance", PyVal::Float(10000.0)),
                    ("binding_card", PyVal::Int(1_974_202_140_965_533)),
                ]),
            ),
            authenticated: get("authenticated", PyVal::Bool(false)),
            market_status: get("market_status", PyVal::str("Closed")),
            order_counter: get("order_counter", PyVal::Int(12446)),
            stocks: config
                .get_str("stocks")
                .cloned()
                .unwrap_or_else(default_stocks),
            watch_list: get("watch_list", PyVal::List(vec![PyVal::str("NVDA")])),
            transaction_history: get("transaction_history", PyVal::List(Vec::new())),
            random: PyRandom::new(seed),
            long,
        })
    }

    /// `_generate_transaction_timestamp`: 2024-09-01 10:30 plus a uniform
    /// number of seconds in `[0, 86400]` (`randint` over the local-time epoch
    /// range draws exactly `_randbelow(86401)`).
    fn timestamp(&mut self) -> String {
        let offset = self.random.randint(0, 86_400).unwrap_or(0);
        let secs = 10 * 3600 + 30 * 60 + offset;
        let (day, secs) = (1 + secs / 86_400, secs % 86_400);
        format!(
            "2024-09-{day:02} {:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }

    fn stocks(&self) -> PyResult<&PyDict> {
        self.stocks
            .as_dict()
            .ok_or_else(|| no_attr(&self.stocks, "get"))
    }

    fn has_stock(&self, symbol: &PyVal) -> PyResult<bool> {
        self.stocks()?
            .contains(symbol)
            .map_err(|_| unhashable(symbol))
    }

    fn account(&mut self) -> PyResult<&mut PyDict> {
        match &mut self.account_info {
            PyVal::Dict(d) => Ok(d),
            other => Err(no_attr(other, "get")),
        }
    }

    fn history_push(&mut self, kind: &str, amount: PyVal) -> PyResult<()> {
        let timestamp = self.timestamp();
        let PyVal::List(h) = &mut self.transaction_history else {
            return Err(no_attr(&self.transaction_history, "append"));
        };
        h.push(dict([
            ("type", PyVal::str(kind)),
            ("amount", amount),
            ("timestamp", PyVal::str(timestamp)),
        ]));
        Ok(())
    }

    fn place_order(
        &mut self,
        order_type: PyVal,
        symbol: PyVal,
        price: PyVal,
        amount: PyVal,
    ) -> PyResult<Returned> {
        if !self.authenticated.truthy() {
            return err("User not authenticated. Please log in to place an order.");
        }
        if !self.has_stock(&symbol)? {
            return err(format!("Invalid stock symbol: {}", fmt(&symbol)));
        }
        if le(&price, &PyVal::Int(0))? || le(&amount, &PyVal::Int(0))? {
            return err("Price and amount must be positive values.");
        }
        if lower(&order_type)? == "buy" {
            let shares = match &amount {
                PyVal::Float(f) => f.trunc(),
                other => to_float(other)?,
            };
            let total = to_float(&price)? * shares;
            let balance = self
                .account()?
                .get_str("balance")
                .cloned()
                .unwrap_or(PyVal::Int(0));
            if gt(&PyVal::Float(total), &balance)? {
                return err(format!(
                    "Insufficient funds: required ${total:.2} but only ${} available.",
                    fixed2(&balance)?
                ));
            }
        }
        let price = PyVal::Float(to_float(&price)?);
        let order_id = self.order_counter.clone();
        let order = dict([
            ("id", order_id.clone()),
            ("order_type", order_type.clone()),
            ("symbol", symbol),
            ("price", price.clone()),
            ("amount", amount.clone()),
            ("status", PyVal::str("Open")),
        ]);
        self.orders
            .insert(order_id.clone(), order)
            .map_err(|_| unhashable(&order_id))?;
        self.order_counter = add(&self.order_counter, &PyVal::Int(1))?;
        ok(dict([
            ("order_id", order_id),
            ("order_type", order_type),
            ("status", PyVal::str("Pending")),
            ("price", price),
            ("amount", amount),
        ]))
    }

    fn move_funds(&mut self, amount: PyVal, deposit: bool) -> PyResult<Returned> {
        if !self.authenticated.truthy() {
            return err(if deposit {
                "User not authenticated. Please log in to fund the account."
            } else {
                "User not authenticated. Please log in to make a transaction."
            });
        }
        if !deposit && !py_eq(&self.market_status, &PyVal::str("Open")) {
            return err("Market is closed. Transactions are not allowed.");
        }
        if le(&amount, &PyVal::Int(0))? {
            return err(if deposit {
                "Funding amount must be positive."
            } else {
                "Transaction amount must be positive."
            });
        }
        let balance = item(&self.account_info, "balance")?.clone();
        if !deposit && gt(&amount, &balance)? {
            return err("Insufficient funds for withdrawal.");
        }
        let new_balance = if deposit {
            add(&balance, &amount)?
        } else {
            sub(&balance, &amount)?
        };
        self.account()?.insert_str("balance", new_balance);
        self.history_push(if deposit { "deposit" } else { "withdrawal" }, amount)?;
        let balance = item(&self.account_info, "balance")?.clone();
        ok(dict([
            (
                "status",
                PyVal::str(if deposit {
                    "Account funded successfully"
                } else {
                    "Withdrawal successful"
                }),
            ),
            ("new_balance", balance),
        ]))
    }

    fn transaction_history(&self, start: PyVal, end: PyVal) -> PyResult<Returned> {
        if !self.authenticated.truthy() {
            return ok(PyVal::List(vec![dict([(
                "error",
                PyVal::str("User not authenticated. Please log in to view transaction history."),
            )])]));
        }
        let start = if start.truthy() {
            Some(strptime(&start, false)?)
        } else {
            None
        };
        let end = if end.truthy() {
            Some(strptime(&end, false)?)
        } else {
            None
        };
        let mut out = Vec::new();
        for t in iter_list(&self.transaction_history)? {
            let ts = strptime(item(t, "timestamp")?, true)?;
            if start.is_none_or(|s| s <= ts) && end.is_none_or(|e| ts <= e) {
                out.push(t.clone());
            }
        }
        if let Some(lc) = self.long {
            out.extend(lc.transaction_history.iter().cloned());
        }
        ok(dict([("transaction_history", PyVal::List(out))]))
    }

    fn price_of(&self, symbol: &PyVal) -> PyResult<PyVal> {
        match dict_get(self.stocks()?, symbol)? {
            Some(PyVal::Dict(s)) => Ok(s.get_str("price").cloned().unwrap_or(PyVal::Int(0))),
            Some(other) => Err(no_attr(other, "get")),
            None => Ok(PyVal::Int(0)),
        }
    }
}

impl Backend for TradingBot {
    fn class_name(&self) -> &'static str {
        "TradingBot"
    }

    fn signatures(&self) -> &'static [Signature] {
        SIGNATURES
    }

    fn invoke(&mut self, method: &str, args: Vec<PyVal>) -> PyResult<Returned> {
        let mut args = args.into_iter();
        let mut next = || args.next().unwrap_or(PyVal::None);
        match method {
            "get_current_time" => ok(dict([("current_time", PyVal::str("10:30 AM"))])),
            "get_symbol_by_name" => {
                let name = next();
                let symbol = SYMBOLS
                    .iter()
                    .find(|(n, _)| name.as_str() == Some(*n))
                    .map_or("Stock not found", |(_, s)| *s);
                if matches!(name, PyVal::List(_) | PyVal::Dict(_)) {
                    return Err(unhashable(&name));
                }
                ok(dict([("symbol", PyVal::str(symbol))]))
            }
            "get_stock_info" => {
                let symbol = next();
                match dict_get(self.stocks()?, &symbol)? {
                    Some(PyVal::Dict(s)) if self.long.is_some() => {
                        let mut stock = s.clone();
                        if let Some(lc) = self.long {
                            stock.insert_str("MA(5)", lc.ma_5.clone());
                            stock.insert_str("MA(20)", lc.ma_20.clone());
                        }
                        ok(PyVal::Dict(stock))
                    }
                    Some(s) => ok(s.clone()),
                    None => err(format!("Stock with symbol '{}' not found.", fmt(&symbol))),
                }
            }
            "get_order_details" => {
                let id = next();
                match dict_get(&self.orders, &id)? {
                    Some(PyVal::Dict(o)) if self.long.is_some() => {
                        let mut order = o.clone();
                        let symbol = order
                            .get_str("symbol")
                            .cloned()
                            .ok_or_else(|| PyException::key_error(&PyVal::str("symbol")))?;
                        let mut meta = PyDict::new();
                        for (key, template) in self.long.map_or(&[][..], |lc| &lc.order_detail) {
                            let text = long_context::format_symbol(template, &py_str(&symbol));
                            meta.insert_str(key, PyVal::str(text));
                        }
                        order.insert_str("metadata", PyVal::Dict(meta));
                        ok(PyVal::Dict(order))
                    }
                    Some(o) => ok(o.clone()),
                    None => {
                        let keys = PyVal::List(self.orders.keys().cloned().collect());
                        err(format!(
                            "Order with ID {} not found.Here is the list of orders_id: {}",
                            fmt(&id),
                            repr(&keys)
                        ))
                    }
                }
            }
            "cancel_order" => {
                let id = next();
                let Some(order) = dict_get(&self.orders, &id)?.cloned() else {
                    return err(format!("Order with ID {} not found.", fmt(&id)));
                };
                if py_eq(item(&order, "status")?, &PyVal::str("Completed")) {
                    return err(format!(
                        "Can't cancel order {}. Order is already completed.",
                        fmt(&id)
                    ));
                }
                let PyVal::Dict(mut order) = order else {
                    return Err(PyException::type_error("order is not a dict"));
                };
                order.insert_str("status", PyVal::str("Cancelled"));
                let _ = self.orders.insert(id.clone(), PyVal::Dict(order));
                ok(dict([
                    ("order_id", id),
                    ("status", PyVal::str("Cancelled")),
                ]))
            }
            "place_order" => {
                let (t, s, p, a) = (next(), next(), next(), next());
                self.place_order(t, s, p, a)
            }
            "withdraw_funds" => self.move_funds(next(), false),
            "fund_account" => self.move_funds(next(), true),
            "get_account_info" => {
                if !self.authenticated.truthy() {
                    return err(
                        "User not authenticated. Please log in to view account information.",
                    );
                }
                ok(self.account_info.clone())
            }
            "trading_login" => {
                if self.authenticated.truthy() {
                    return ok(dict([("status", PyVal::str("Already logged in"))]));
                }
                self.authenticated = PyVal::Bool(true);
                ok(dict([("status", PyVal::str("Logged in successfully"))]))
            }
            "trading_get_login_status" => {
                ok(dict([("status", PyVal::Bool(self.authenticated.truthy()))]))
            }
            "trading_logout" => {
                if !self.authenticated.truthy() {
                    return ok(dict([(
                        "status",
                        PyVal::str("No user is currently logged in"),
                    )]));
                }
                self.authenticated = PyVal::Bool(false);
                ok(dict([("status", PyVal::str("Logged out successfully"))]))
            }
            "remove_stock_from_watchlist" => {
                let symbol = next();
                if !self.authenticated.truthy() {
                    return err("User not authenticated. Please log in to modify the watchlist.");
                }
                let PyVal::List(list) = &mut self.watch_list else {
                    return Err(no_attr(&self.watch_list, "remove"));
                };
                match list.iter().position(|x| py_eq(x, &symbol)) {
                    Some(pos) => {
                        list.remove(pos);
                        ok(dict([(
                            "status",
                            PyVal::str(format!(
                                "Stock {} removed from watchlist successfully.",
                                fmt(&symbol)
                            )),
                        )]))
                    }
                    None => err(format!("Stock {} not found in watchlist.", fmt(&symbol))),
                }
            }
            "get_watchlist" => {
                if !self.authenticated.truthy() {
                    return ok(PyVal::List(vec![PyVal::str(
                        "Error: User not authenticated. Please log in to view the watchlist.",
                    )]));
                }
                if let Some(lc) = self.long {
                    let PyVal::List(list) = &self.watch_list else {
                        return Err(no_attr(&self.watch_list, "copy"));
                    };
                    let mut all = list.clone();
                    all.extend(lc.watch_list.iter().cloned());
                    return Ok(Returned::Rendered(long_context::repr_with_ellipsis(&all)));
                }
                ok(dict([("watchlist", self.watch_list.clone())]))
            }
            "get_order_history" => {
                if !self.authenticated.truthy() {
                    return ok(PyVal::List(vec![dict([(
                        "error",
                        PyVal::str("User not authenticated. Please log in to view order history."),
                    )])]));
                }
                ok(dict([(
                    "history",
                    PyVal::List(self.orders.keys().cloned().collect()),
                )]))
            }
            "get_transaction_history" => {
                let (s, e) = (next(), next());
                self.transaction_history(s, e)
            }
            "get_available_stocks" => {
                let sector = next();
                let list: &[&str] = match sector.as_str() {
                    Some("Technology") => &["AAPL", "GOOG", "MSFT", "NVDA"],
                    Some("Automobile") => &["TSLA", "F", "GM"],
                    _ if matches!(sector, PyVal::List(_) | PyVal::Dict(_)) => {
                        return Err(unhashable(&sector))
                    }
                    _ => &[],
                };
                let mut list: Vec<PyVal> = list.iter().map(|s| PyVal::str(*s)).collect();
                if let Some(lc) = self.long {
                    match sector.as_str() {
                        Some("Technology") => list.extend(lc.technology.iter().cloned()),
                        Some("Automobile") => list.extend(lc.automobile.iter().cloned()),
                        _ => {}
                    }
                }
                ok(dict([("stock_list", PyVal::List(list))]))
            }
            "filter_stocks_by_price" => {
                let (stocks, min, max) = (next(), next(), next());
                let mut out = Vec::new();
                for symbol in iter_list(&stocks)? {
                    if ge(&self.price_of(symbol)?, &min)? && le(&self.price_of(symbol)?, &max)? {
                        out.push(symbol.clone());
                    }
                }
                ok(dict([("filtered_stocks", PyVal::List(out))]))
            }
            "add_to_watchlist" => {
                let stock = next();
                let known = self.has_stock(&stock);
                let PyVal::List(list) = &mut self.watch_list else {
                    return Err(no_attr(&self.watch_list, "append"));
                };
                if !py_in(&stock, list) && known? {
                    list.push(stock);
                }
                ok(dict([("watchlist", self.watch_list.clone())]))
            }
            "notify_price_change" => {
                let (stocks, threshold) = (next(), next());
                let mut changed = Vec::new();
                for symbol in iter_list(&stocks)? {
                    if self.has_stock(symbol)? {
                        let quote = dict_get(self.stocks()?, symbol)?
                            .cloned()
                            .unwrap_or(PyVal::None);
                        let change = match item(&quote, "percent_change")? {
                            PyVal::Int(i) => PyVal::int_abs(*i),
                            PyVal::Float(f) => PyVal::Float(f.abs()),
                            other => {
                                return Err(PyException::type_error(format!(
                                    "bad operand type for abs(): '{}'",
                                    type_name(other)
                                )))
                            }
                        };
                        if ge(&change, &threshold)? {
                            changed.push(symbol.clone());
                        }
                    }
                }
                if changed.is_empty() {
                    return ok(dict([(
                        "notification",
                        PyVal::str("No significant price changes in the selected stocks."),
                    )]));
                }
                let mut names = Vec::new();
                for (i, s) in changed.iter().enumerate() {
                    match s {
                        PyVal::Str(s) => names.push(s.clone()),
                        other => {
                            return Err(PyException::type_error(format!(
                                "sequence item {i}: expected str instance, {} found",
                                type_name(other)
                            )))
                        }
                    }
                }
                ok(dict([(
                    "notification",
                    PyVal::str(format!(
                        "Stocks {} have significant price changes.",
                        names.join(", ")
                    )),
                )]))
            }
            other => Err(PyException::attribute_error(format!(
                "'TradingBot' object has no attribute '{other}'"
            ))),
        }
    }

    fn state(&self) -> PyDict {
        let mut d = PyDict::new();
        d.insert_str("orders", PyVal::Dict(self.orders.clone()));
        d.insert_str("account_info", self.account_info.clone());
        d.insert_str("authenticated", self.authenticated.clone());
        d.insert_str("market_status", self.market_status.clone());
        d.insert_str("order_counter", self.order_counter.clone());
        d.insert_str("stocks", self.stocks.clone());
        d.insert_str("watch_list", self.watch_list.clone());
        d.insert_str("transaction_history", self.transaction_history.clone());
        d.insert_str("long_context", PyVal::Bool(self.long.is_some()));
        d
    }
}
