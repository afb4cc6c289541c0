//! `TravelAPI` (travel_booking.py): OAuth-style login, credit cards, flight
//! quotes and bookings, invoices, insurance and a budget limit, with seeded
//! random IDs.
//!
//! [`TravelApi::load_with`] with `long_context=True` merges the extension
//! cards and bookings and lengthens two results; the extension card dicts
//! are shared process-wide as in Python (see [`super::long_context`]).
//! Known divergence: `book_flight` with an
//! unknown class prints a Python `set`, whose order depends on
//! `PYTHONHASHSEED`; the order used here is one of the six possible.

use super::backend::{Backend, PyException, PyResult, Returned};
use super::executor::PyProcess;
use super::long_context::{self, LongContextData};
use super::math::round_float;
use super::pyops::{
    add, dict, dict_get, float_of, fmt, item, lt, mul, no_attr, sub, truediv, type_name, unhashable,
};
use super::pyrandom::PyRandom;
use super::signature::{none, opt, req, Signature};
use super::{Error, Result};
use crate::eval::pyrepr::{repr, str_repr};
use crate::eval::pyval::{py_eq, PyDict, PyVal};
use std::cell::RefCell;
use std::rc::Rc;

const SIGNATURES: &[Signature] = &[
    Signature {
        name: "authenticate_travel",
        params: &[
            req("client_id"),
            req("client_secret"),
            req("refresh_token"),
            req("grant_type"),
            req("user_first_name"),
            req("user_last_name"),
        ],
    },
    Signature {
        name: "book_flight",
        params: &[
            req("access_token"),
            req("card_id"),
            req("travel_date"),
            req("travel_from"),
            req("travel_to"),
            req("travel_class"),
        ],
    },
    Signature {
        name: "cancel_booking",
        params: &[req("access_token"), req("booking_id")],
    },
    Signature {
        name: "compute_exchange_rate",
        params: &[req("base_currency"), req("target_currency"), req("value")],
    },
    Signature {
        name: "contact_customer_support",
        params: &[req("booking_id"), req("message")],
    },
    Signature {
        name: "get_all_credit_cards",
        params: &[],
    },
    Signature {
        name: "get_booking_history",
        params: &[req("access_token")],
    },
    Signature {
        name: "get_budget_fiscal_year",
        params: &[opt("lastModifiedAfter", none), opt("includeRemoved", none)],
    },
    Signature {
        name: "get_credit_card_balance",
        params: &[req("access_token"), req("card_id")],
    },
    Signature {
        name: "get_flight_cost",
        params: &[
            req("travel_from"),
            req("travel_to"),
            req("travel_date"),
            req("travel_class"),
        ],
    },
    Signature {
        name: "get_nearest_airport_by_city",
        params: &[req("location")],
    },
    Signature {
        name: "list_all_airports",
        params: &[],
    },
    Signature {
        name: "purchase_insurance",
        params: &[
            req("access_token"),
            req("insurance_type"),
            req("booking_id"),
            req("insurance_cost"),
            req("card_id"),
        ],
    },
    Signature {
        name: "register_credit_card",
        params: &[
            req("access_token"),
            req("card_number"),
            req("expiration_date"),
            req("cardholder_name"),
            req("card_verification_number"),
        ],
    },
    Signature {
        name: "retrieve_invoice",
        params: &[
            req("access_token"),
            opt("booking_id", none),
            opt("insurance_id", none),
        ],
    },
    Signature {
        name: "set_budget_limit",
        params: &[req("access_token"), req("budget_limit")],
    },
    Signature {
        name: "travel_get_login_status",
        params: &[],
    },
    Signature {
        name: "verify_traveler_information",
        params: &[
            req("first_name"),
            req("last_name"),
            req("date_of_birth"),
            req("passport_number"),
        ],
    },
];

const DEFAULT_SEED: i128 = 141_053;

const AIRPORTS: [&str; 23] = [
    "RMS", "SBK", "MPC", "SVP", "SHD", "CDG", "LHR", "SSV", "OKD", "WLB", "PEK", "HND", "HKG",
    "CIA", "CRH", "ATV", "PHV", "GFD", "SFO", "LAX", "JFK", "ORD", "BOS",
];

const CITY_AIRPORTS: [(&str, &str); 23] = [
    ("Rivermist", "RMS"),
    ("Stonebrook", "SBK"),
    ("Maplecrest", "MPC"),
    ("Silverpine", "SVP"),
    ("Shadowridge", "SHD"),
    ("London", "LHR"),
    ("Paris", "CDG"),
    ("Sunset Valley", "SSV"),
    ("Oakendale", "OKD"),
    ("Willowbend", "WLB"),
    ("Crescent Hollow", "CRH"),
    ("Autumnville", "ATV"),
    ("Pinehaven", "PHV"),
    ("Greenfield", "GFD"),
    ("San Francisco", "SFO"),
    ("Los Angeles", "LAX"),
    ("New York", "JFK"),
    ("Chicago", "ORD"),
    ("Boston", "BOS"),
    ("Beijing", "PEK"),
    ("Hong Kong", "HKG"),
    ("Rome", "CIA"),
    ("Tokyo", "HND"),
];

/// Exchange rates from USD (an int or a float in the original table).
const RATES: [(&str, f64, bool); 10] = [
    ("RMB", 7.0, true),
    ("EUR", 0.8, false),
    ("JPY", 110.0, true),
    ("GBP", 0.7, false),
    ("CAD", 1.3, false),
    ("AUD", 1.4, false),
    ("INR", 70.0, true),
    ("RUB", 60.0, true),
    ("BRL", 3.8, false),
    ("MXN", 20.0, true),
];

/// Base fares in USD per (from, to) route, economy class.
const ROUTES: [(&str, &str, i128); 153] = [
    ("SFO", "LAX", 200),
    ("SFO", "JFK", 500),
    ("SFO", "ORD", 400),
    ("SFO", "BOS", 450),
    ("SFO", "RMS", 300),
    ("SFO", "SBK", 350),
    ("SFO", "MPC", 370),
    ("SFO", "SVP", 320),
    ("SFO", "SHD", 330),
    ("SFO", "SSV", 340),
    ("SFO", "OKD", 360),
    ("SFO", "WLB", 310),
    ("SFO", "CRH", 380),
    ("SFO", "ATV", 390),
    ("SFO", "PHV", 420),
    ("SFO", "GFD", 430),
    ("SFO", "CIA", 700),
    ("LAX", "SFO", 100),
    ("LAX", "JFK", 600),
    ("LAX", "ORD", 500),
    ("LAX", "BOS", 550),
    ("LAX", "RMS", 310),
    ("LAX", "SBK", 320),
    ("LAX", "MPC", 330),
    ("LAX", "SVP", 340),
    ("LAX", "SHD", 350),
    ("LAX", "SSV", 360),
    ("LAX", "OKD", 370),
    ("LAX", "WLB", 380),
    ("LAX", "CRH", 390),
    ("LAX", "ATV", 400),
    ("LAX", "PHV", 410),
    ("LAX", "GFD", 420),
    ("LAX", "HND", 430),
    ("JFK", "ORD", 300),
    ("JFK", "BOS", 250),
    ("JFK", "RMS", 450),
    ("JFK", "SBK", 460),
    ("JFK", "MPC", 470),
    ("JFK", "SVP", 480),
    ("JFK", "SHD", 490),
    ("JFK", "SSV", 500),
    ("JFK", "OKD", 510),
    ("JFK", "WLB", 520),
    ("JFK", "CRH", 530),
    ("JFK", "ATV", 540),
    ("JFK", "PHV", 550),
    ("JFK", "GFD", 560),
    ("JFK", "LAX", 570),
    ("JFK", "HND", 800),
    ("JFK", "PVG", 950),
    ("JFK", "PEK", 1000),
    ("ORD", "LAX", 180),
    ("ORD", "BOS", 200),
    ("ORD", "RMS", 350),
    ("ORD", "SBK", 360),
    ("ORD", "MPC", 370),
    ("ORD", "SVP", 380),
    ("ORD", "SHD", 390),
    ("ORD", "SSV", 400),
    ("ORD", "OKD", 410),
    ("ORD", "WLB", 420),
    ("ORD", "CRH", 430),
    ("ORD", "ATV", 440),
    ("ORD", "PHV", 450),
    ("ORD", "GFD", 460),
    ("BOS", "RMS", 400),
    ("BOS", "SBK", 410),
    ("BOS", "MPC", 420),
    ("BOS", "SVP", 430),
    ("BOS", "SHD", 440),
    ("BOS", "SSV", 450),
    ("BOS", "OKD", 460),
    ("BOS", "WLB", 470),
    ("BOS", "CRH", 480),
    ("BOS", "ATV", 490),
    ("BOS", "PHV", 500),
    ("BOS", "GFD", 510),
    ("RMS", "BOS", 200),
    ("RMS", "JFK", 210),
    ("RMS", "SBK", 220),
    ("RMS", "MPC", 230),
    ("RMS", "SVP", 240),
    ("RMS", "SHD", 250),
    ("RMS", "SSV", 260),
    ("RMS", "OKD", 270),
    ("RMS", "WLB", 280),
    ("RMS", "CRH", 290),
    ("RMS", "ATV", 300),
    ("RMS", "PHV", 310),
    ("RMS", "GFD", 320),
    ("RMS", "LAX", 330),
    ("SBK", "MPC", 200),
    ("SBK", "SVP", 210),
    ("SBK", "SHD", 220),
    ("SBK", "SSV", 230),
    ("SBK", "OKD", 240),
    ("SBK", "WLB", 250),
    ("SBK", "CRH", 260),
    ("SBK", "ATV", 270),
    ("SBK", "PHV", 280),
    ("SBK", "GFD", 290),
    ("MPC", "SVP", 210),
    ("MPC", "SHD", 220),
    ("MPC", "SSV", 230),
    ("MPC", "OKD", 240),
    ("MPC", "WLB", 250),
    ("MPC", "CRH", 260),
    ("MPC", "ATV", 270),
    ("MPC", "PHV", 280),
    ("MPC", "GFD", 290),
    ("SVP", "SHD", 230),
    ("SVP", "SSV", 240),
    ("SVP", "OKD", 250),
    ("SVP", "WLB", 260),
    ("SVP", "CRH", 270),
    ("SVP", "ATV", 280),
    ("SVP", "PHV", 290),
    ("SVP", "GFD", 300),
    ("SHD", "SSV", 220),
    ("SHD", "OKD", 230),
    ("SHD", "WLB", 240),
    ("SHD", "CRH", 250),
    ("SHD", "ATV", 260),
    ("SHD", "PHV", 270),
    ("SHD", "GFD", 280),
    ("SSV", "OKD", 240),
    ("SSV", "WLB", 250),
    ("SSV", "CRH", 260),
    ("SSV", "ATV", 270),
    ("SSV", "PHV", 280),
    ("SSV", "GFD", 290),
    ("OKD", "WLB", 230),
    ("OKD", "CRH", 240),
    ("OKD", "ATV", 250),
    ("OKD", "PHV", 260),
    ("OKD", "GFD", 270),
    ("WLB", "CRH", 250),
    ("WLB", "ATV", 260),
    ("WLB", "PHV", 270),
    ("WLB", "GFD", 280),
    ("CRH", "ATV", 240),
    ("CRH", "PHV", 250),
    ("CRH", "GFD", 260),
    ("CRH", "SFO", 270),
    ("CRH", "RMS", 280),
    ("CRH", "HKG", 290),
    ("CRH", "JFK", 300),
    ("ATV", "PHV", 230),
    ("ATV", "GFD", 240),
    ("PHV", "GFD", 220),
    ("LHR", "CDG", 100),
    ("OKD", "LAX", 220),
];

/// The travel account's state.
#[derive(Clone, Debug)]
pub struct TravelApi {
    credit_card_list: PyDict,
    booking_record: PyDict,
    access_token: PyVal,
    token_type: PyVal,
    token_expires_in: PyVal,
    token_scope: PyVal,
    user_first_name: PyVal,
    user_last_name: PyVal,
    budget_limit: PyVal,
    random: PyRandom,
    /// The extension data when loaded with `long_context=True`.
    long: Option<&'static LongContextData>,
    /// Card ids whose dicts are the process-wide extension cards.
    shared_cards: Vec<PyVal>,
    /// The process-wide extension card dicts.
    process_cards: Rc<RefCell<Option<PyDict>>>,
}

fn ok(v: PyVal) -> PyResult<Returned> {
    Ok(Returned::Value(v))
}

fn err(msg: &str) -> PyResult<Returned> {
    ok(dict([("error", PyVal::str(msg))]))
}

/// `{flag: False, "error": msg}`.
fn failed(flag: &str, msg: &str) -> PyResult<Returned> {
    ok(dict([
        (flag, PyVal::Bool(false)),
        ("error", PyVal::str(msg)),
    ]))
}

fn random_id(random: &mut PyRandom, lo: i64, hi: i64) -> PyVal {
    PyVal::str(random.randint(lo, hi).unwrap_or(lo).to_string())
}

/// Today's date (UTC) as (year, month, day).
fn today() -> (i64, i64, i64) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `datetime.strptime(s, "%Y-%m-%d")` as (year, month, day): `Ok(None)` for
/// the `ValueError` cases, `Err` for a non-string (`TypeError`).
fn parse_date(v: &PyVal) -> PyResult<Option<(i64, i64, i64)>> {
    let PyVal::Str(s) = v else {
        return Err(PyException::type_error(format!(
            "strptime() argument 1 must be str, not {}",
            type_name(v)
        )));
    };
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Ok(None);
    };
    let digits = |t: &str, min: usize, max: usize| {
        (min..=max).contains(&t.len()) && t.chars().all(|c| c.is_ascii_digit())
    };
    if !digits(y, 4, 4) || !digits(m, 1, 2) || !digits(d, 1, 2) {
        return Ok(None);
    }
    let (y, m, d): (i64, i64, i64) = match (y.parse(), m.parse(), d.parse()) {
        (Ok(y), Ok(m), Ok(d)) => (y, m, d),
        _ => return Ok(None),
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let valid = y >= 1 && (1..=12).contains(&m) && d >= 1 && d <= days[(m - 1) as usize];
    Ok(valid.then_some((y, m, d)))
}

impl TravelApi {
    /// `_load_scenario(config)` with `long_context=False`.
    pub fn load(config: &PyDict) -> Result<Self> {
        Self::load_with(config, false, &PyProcess::new())
    }

    /// `_load_scenario(config, long_context=long_context)` inside `process`
    /// (whose extension cards this instance then shares).
    pub fn load_with(config: &PyDict, long_context: bool, process: &PyProcess) -> Result<Self> {
        let mut api = Self::load_plain(config, process)?;
        if long_context {
            let lc = long_context::data()?;
            api.long = Some(lc);
            let mut shared = process.travel_cards.borrow_mut();
            let cards = shared.get_or_insert_with(|| lc.credit_cards.clone());
            for (id, card) in cards.iter() {
                if !api.has_card(id).unwrap_or(true) {
                    let _ = api.credit_card_list.insert(id.clone(), card.clone());
                    api.shared_cards.push(id.clone());
                }
            }
            for (id, booking) in lc.booking_records.iter() {
                if !api.has_booking(id).unwrap_or(true) {
                    let _ = api.booking_record.insert(id.clone(), booking.clone());
                }
            }
        }
        Ok(api)
    }

    /// Copies the process-wide values of the shared cards into this
    /// instance (another instance may have changed them).
    fn sync_in(&mut self) {
        let shared = self.process_cards.borrow();
        let Some(cards) = shared.as_ref() else {
            return;
        };
        for id in &self.shared_cards {
            if let Some(card) = cards.get(id) {
                let _ = self.credit_card_list.insert(id.clone(), card.clone());
            }
        }
    }

    /// Publishes this instance's values of the shared cards.
    fn sync_out(&self) {
        let mut shared = self.process_cards.borrow_mut();
        let Some(cards) = shared.as_mut() else {
            return;
        };
        for id in &self.shared_cards {
            if let Some(card) = self.credit_card_list.get(id) {
                let _ = cards.insert(id.clone(), card.clone());
            }
        }
    }

    fn load_plain(config: &PyDict, process: &PyProcess) -> Result<Self> {
        let bad = |reason: &str| Error::BadConfig {
            class: "TravelAPI".into(),
            reason: reason.into(),
        };
        let seed = match config.get_str("random_seed") {
            None => DEFAULT_SEED,
            Some(PyVal::Int(i)) => *i,
            Some(_) => return Err(bad("`random_seed` must be an integer")),
        };
        let dict_of = |k: &str| match config.get_str(k) {
            None => Ok(PyDict::new()),
            Some(PyVal::Dict(d)) => Ok(d.clone()),
            Some(_) => Err(bad("`credit_card_list` and `booking_record` must be dicts")),
        };
        let get = |k: &str| config.get_str(k).cloned().unwrap_or(PyVal::None);
        Ok(TravelApi {
            credit_card_list: dict_of("credit_card_list")?,
            booking_record: dict_of("booking_record")?,
            access_token: get("access_token"),
            token_type: get("token_type"),
            token_expires_in: get("token_expires_in"),
            token_scope: get("token_scope"),
            user_first_name: get("user_first_name"),
            user_last_name: get("user_last_name"),
            budget_limit: get("budget_limit"),
            random: PyRandom::new(seed),
            long: None,
            shared_cards: Vec::new(),
            process_cards: Rc::clone(&process.travel_cards),
        })
    }

    fn expired(&self) -> bool {
        py_eq(&self.token_expires_in, &PyVal::Int(0))
    }

    fn bad_token(&self, token: &PyVal) -> bool {
        !py_eq(token, &self.access_token)
    }

    fn has_card(&self, card_id: &PyVal) -> PyResult<bool> {
        self.credit_card_list
            .contains(card_id)
            .map_err(|_| unhashable(card_id))
    }

    fn has_booking(&self, booking_id: &PyVal) -> PyResult<bool> {
        self.booking_record
            .contains(booking_id)
            .map_err(|_| unhashable(booking_id))
    }

    /// `credit_card_list[card_id]["balance"] = f(balance)`.
    fn update_balance(
        &mut self,
        card_id: &PyVal,
        f: impl FnOnce(&PyVal) -> PyResult<PyVal>,
    ) -> PyResult<()> {
        let card = dict_get(&self.credit_card_list, card_id)?
            .cloned()
            .ok_or_else(|| PyException::key_error(card_id))?;
        let PyVal::Dict(mut card) = card else {
            return Err(PyException::type_error(format!(
                "'{}' object is not subscriptable",
                type_name(&card)
            )));
        };
        let balance = card
            .get_str("balance")
            .cloned()
            .ok_or_else(|| PyException::key_error(&PyVal::str("balance")))?;
        card.insert_str("balance", f(&balance)?);
        let _ = self
            .credit_card_list
            .insert(card_id.clone(), PyVal::Dict(card));
        Ok(())
    }

    /// `get_flight_cost`: the fare, or the `ValueError` it raises.
    fn flight_cost(from: &PyVal, to: &PyVal, date: &PyVal, class: &PyVal) -> PyResult<f64> {
        let base = ROUTES
            .iter()
            .find(|(a, b, _)| from.as_str() == Some(*a) && to.as_str() == Some(*b))
            .map(|(_, _, c)| *c)
            .ok_or_else(|| {
                PyException::value_error("No available route for the given airports.")
            })?;
        let factor = match class.as_str() {
            Some("economy") => 1,
            Some("business") => 2,
            Some("first") => 5,
            _ => {
                return Err(PyException::value_error(
                    "Invalid travel class. Options are: economy, business, first.",
                ))
            }
        };
        let PyVal::Str(date) = date else {
            return Err(PyException::type_error(format!(
                "'{}' object is not iterable",
                type_name(date)
            )));
        };
        let digit_sum: u32 = date.chars().filter_map(|c| c.to_digit(10)).sum();
        let multiplier = if digit_sum.is_multiple_of(2) { 2 } else { 1 };
        Ok((base * factor * multiplier) as f64)
    }

    fn book_flight(&mut self, a: Vec<PyVal>) -> PyResult<Returned> {
        let [token, card_id, date, from, to, class] = <[PyVal; 6]>::try_from(a)
            .map_err(|_| PyException::type_error("book_flight: wrong arity"))?;
        let no = |msg: &str| failed("booking_status", msg);
        if self.expired() {
            return no("Token expired");
        }
        if self.bad_token(&token) {
            return no("Invalid access token");
        }
        if !self.has_card(&card_id)? {
            return no("Card not registered");
        }
        let card = dict_get(&self.credit_card_list, &card_id)?
            .cloned()
            .unwrap_or(PyVal::None);
        let has_balance = match &card {
            PyVal::Dict(d) => d.get_str("balance").is_some(),
            other => return Err(no_attr(other, "__contains__")),
        };
        if !has_balance {
            return no("Balance not found");
        }
        let airport = |v: &PyVal| v.as_str().is_some_and(|s| AIRPORTS.contains(&s));
        if !airport(&from) {
            return no(&format!("Invalid departure airport code: {}", fmt(&from)));
        }
        if !airport(&to) {
            return no(&format!("Invalid destination airport code: {}", fmt(&to)));
        }
        if parse_date(&date)?.is_none() {
            return no("Invalid date format. Use YYYY-MM-DD.");
        }
        if !matches!(class.as_str(), Some("economy" | "business" | "first")) {
            return no("Invalid travel class. Must be one of {'economy', 'business', 'first'}");
        }
        let cost = match Self::flight_cost(&from, &to, &date, &class) {
            Ok(c) => PyVal::Float(c),
            Err(e) if e.kind == "ValueError" => return no(&e.message),
            Err(e) => return Err(e),
        };
        let balance = item(&card, "balance")?.clone();
        if lt(&balance, &cost)? {
            return no("Insufficient funds");
        }
        if !matches!(self.budget_limit, PyVal::None) && lt(&balance, &self.budget_limit)? {
            return no("Balance is less than budget limit");
        }
        self.update_balance(&card_id, |b| sub(b, &cost))?;
        let booking_id = random_id(&mut self.random, 1_000_000, 9_999_999);
        let transaction_id = random_id(&mut self.random, 10_000_000, 99_999_999);
        let record = dict([
            ("card_id", card_id),
            ("travel_date", date),
            ("travel_from", from),
            ("travel_to", to),
            ("travel_class", class),
            ("travel_cost", cost),
            ("transaction_id", transaction_id.clone()),
        ]);
        let _ = self.booking_record.insert(booking_id.clone(), record);
        ok(dict([
            ("booking_id", booking_id),
            ("transaction_id", transaction_id),
            ("booking_status", PyVal::Bool(true)),
            (
                "booking_history",
                PyVal::Dict(match self.long {
                    Some(_) => self.booking_record.clone(),
                    None => PyDict::new(),
                }),
            ),
        ]))
    }

    fn register_card(&mut self, a: Vec<PyVal>) -> PyResult<Returned> {
        let [token, number, expiration, holder, cvv] = <[PyVal; 5]>::try_from(a)
            .map_err(|_| PyException::type_error("register_credit_card: wrong arity"))?;
        if matches!(self.token_expires_in, PyVal::None) {
            return err("Token not initialized");
        }
        if self.expired() {
            return err("Token expired");
        }
        if self.bad_token(&token) {
            return err("Invalid access token");
        }
        if self.has_card(&number)? {
            return err("Card already registered");
        }
        let card_id = random_id(&mut self.random, 100_000_000_000, 999_999_999_999);
        let balance = PyVal::Int(i128::from(
            self.random.randint(10_000, 99_999).unwrap_or(10_000),
        ));
        let card = dict([
            ("card_number", number),
            ("expiration_date", expiration),
            ("cardholder_name", holder),
            ("card_verification_number", cvv),
            ("balance", balance),
        ]);
        let _ = self.credit_card_list.insert(card_id.clone(), card);
        ok(dict([("card_id", card_id)]))
    }

    fn exchange(&self, base: &PyVal, target: &PyVal, value: &PyVal) -> PyResult<Returned> {
        for (currency, rate, is_int) in RATES {
            let rate_val = if is_int {
                PyVal::Int(rate as i128)
            } else {
                PyVal::Float(rate)
            };
            let (b, t) = (base.as_str(), target.as_str());
            if b == Some("USD") && t == Some(currency) {
                return ok(dict([(
                    "exchanged_value",
                    PyVal::Float(float_of(&mul(value, &rate_val)?)?),
                )]));
            }
            if b == Some(currency) && t == Some("USD") {
                let q = float_of(&truediv(value, &rate_val)?)?;
                return ok(dict([("exchanged_value", PyVal::Float(round_float(q, 2)))]));
            }
        }
        Err(PyException::value_error(
            "No available exchange rate for the given currencies.",
        ))
    }

    fn verify(
        &self,
        first: PyVal,
        last: PyVal,
        birth: PyVal,
        passport: PyVal,
    ) -> PyResult<Returned> {
        let fail = |msg: String| {
            ok(dict([
                ("verification_status", PyVal::Bool(false)),
                ("verification_failure", PyVal::str(msg)),
            ]))
        };
        if !py_eq(&self.user_first_name, &first) || !py_eq(&self.user_last_name, &last) {
            return fail(format!(
                "Cannot book flight information for another user.Expected {} {}, got {} {}",
                fmt(&self.user_first_name),
                fmt(&self.user_last_name),
                fmt(&first),
                fmt(&last)
            ));
        }
        let Some((y, m, d)) = parse_date(&birth)? else {
            return fail("Invalid date of birth format. Please use YYYY-MM-DD.".into());
        };
        let (ty, tm, td) = today();
        let age = ty - y - i64::from((tm, td) < (m, d));
        if age < 18 {
            return fail("Traveler must be at least 18 years old.".into());
        }
        let PyVal::Str(p) = &passport else {
            return Err(no_attr(&passport, "startswith"));
        };
        if !p.starts_with("US") {
            return fail("Passport must be issued by the United States.".into());
        }
        ok(dict([("verification_status", PyVal::Bool(true))]))
    }
}

impl Backend for TravelApi {
    fn class_name(&self) -> &'static str {
        "TravelAPI"
    }

    fn signatures(&self) -> &'static [Signature] {
        SIGNATURES
    }

    fn invoke(&mut self, method: &str, args: Vec<PyVal>) -> PyResult<Returned> {
        self.sync_in();
        let out = self.dispatch(method, args);
        self.sync_out();
        out
    }

    fn state(&self) -> PyDict {
        let mut cards = self.credit_card_list.clone();
        if let Some(shared) = self.process_cards.borrow().as_ref() {
            for id in &self.shared_cards {
                if let Some(card) = shared.get(id) {
                    let _ = cards.insert(id.clone(), card.clone());
                }
            }
        }
        let mut d = PyDict::new();
        d.insert_str("credit_card_list", PyVal::Dict(cards));
        d.insert_str("booking_record", PyVal::Dict(self.booking_record.clone()));
        d.insert_str("access_token", self.access_token.clone());
        d.insert_str("token_type", self.token_type.clone());
        d.insert_str("token_expires_in", self.token_expires_in.clone());
        d.insert_str("token_scope", self.token_scope.clone());
        d.insert_str("user_first_name", self.user_first_name.clone());
        d.insert_str("user_last_name", self.user_last_name.clone());
        d.insert_str("budget_limit", self.budget_limit.clone());
        d.insert_str("long_context", PyVal::Bool(self.long.is_some()));
        d
    }
}

impl TravelApi {
    fn dispatch(&mut self, method: &str, args: Vec<PyVal>) -> PyResult<Returned> {
        let arg = |i: usize| args.get(i).cloned().unwrap_or(PyVal::None);
        match method {
            "authenticate_travel" => {
                self.token_expires_in = PyVal::Int(2);
                self.access_token = random_id(&mut self.random, 100_000, 999_999);
                self.token_type = PyVal::str("Bearer");
                self.token_scope = arg(3);
                self.user_first_name = arg(4);
                self.user_last_name = arg(5);
                ok(dict([
                    ("expires_in", PyVal::Int(2)),
                    ("access_token", self.access_token.clone()),
                    ("token_type", PyVal::str("Bearer")),
                    ("scope", arg(3)),
                ]))
            }
            "travel_get_login_status" => {
                let out = matches!(self.token_expires_in, PyVal::None) || self.expired();
                ok(dict([("status", PyVal::Bool(!out))]))
            }
            "get_budget_fiscal_year" => ok(dict([("budget_fiscal_year", PyVal::str("2018"))])),
            "register_credit_card" => self.register_card(args),
            "get_flight_cost" => {
                let cost = Self::flight_cost(&arg(0), &arg(1), &arg(2), &arg(3))?;
                let list = if self.long.is_some() {
                    // Every route at this class and date, in table order.
                    let base = ROUTES
                        .iter()
                        .find(|(a, b, _)| {
                            arg(0).as_str() == Some(*a) && arg(1).as_str() == Some(*b)
                        })
                        .map_or(1.0, |r| r.2 as f64);
                    let unit = cost / base;
                    ROUTES
                        .iter()
                        .map(|r| PyVal::Float(r.2 as f64 * unit))
                        .collect()
                } else {
                    vec![PyVal::Float(cost)]
                };
                ok(dict([("travel_cost_list", PyVal::List(list))]))
            }
            "get_credit_card_balance" => {
                if self.expired() {
                    return err("Token expired");
                }
                if self.bad_token(&arg(0)) {
                    return err("Invalid access token");
                }
                let card_id = arg(1);
                match dict_get(&self.credit_card_list, &card_id)? {
                    Some(card) => ok(dict([("card_balance", item(card, "balance")?.clone())])),
                    None => {
                        let keys = PyVal::List(self.credit_card_list.keys().cloned().collect());
                        err(&format!(
                            "Card not registered. Here are a list of card_id's: {}",
                            repr(&keys)
                        ))
                    }
                }
            }
            "book_flight" => self.book_flight(args),
            "retrieve_invoice" => {
                if self.expired() {
                    return err("Token expired");
                }
                if self.bad_token(&arg(0)) {
                    return err("Invalid access token");
                }
                let booking_id = arg(1);
                let Some(record) = dict_get(&self.booking_record, &booking_id)?.cloned() else {
                    return err("Booking not found");
                };
                let mut invoice = PyDict::new();
                invoice.insert_str("booking_id", booking_id);
                for k in [
                    "travel_date",
                    "travel_from",
                    "travel_to",
                    "travel_class",
                    "travel_cost",
                    "transaction_id",
                ] {
                    invoice.insert_str(k, item(&record, k)?.clone());
                }
                ok(dict([("invoice", PyVal::Dict(invoice))]))
            }
            "get_booking_history" => {
                if self.expired() {
                    return err("Token expired");
                }
                if self.bad_token(&arg(0)) {
                    return err("Invalid access token");
                }
                ok(dict([(
                    "booking_history",
                    PyVal::Dict(self.booking_record.clone()),
                )]))
            }
            "list_all_airports" => ok(PyVal::List(
                AIRPORTS.iter().map(|a| PyVal::str(*a)).collect(),
            )),
            "cancel_booking" => {
                let no = |msg: &str| failed("cancel_status", msg);
                if self.expired() {
                    return no("Token expired");
                }
                if self.bad_token(&arg(0)) {
                    return no("Invalid access token");
                }
                let booking_id = arg(1);
                let Some(record) = dict_get(&self.booking_record, &booking_id)?.cloned() else {
                    return no("Booking not found");
                };
                let card_id = item(&record, "card_id")?.clone();
                let cost = item(&record, "travel_cost")?.clone();
                self.update_balance(&card_id, |b| add(b, &cost))?;
                let mut kept = PyDict::new();
                for (k, v) in self.booking_record.iter() {
                    if !py_eq(k, &booking_id) {
                        let _ = kept.insert(k.clone(), v.clone());
                    }
                }
                self.booking_record = kept;
                ok(dict([("cancel_status", PyVal::Bool(true))]))
            }
            "compute_exchange_rate" => self.exchange(&arg(0), &arg(1), &arg(2)),
            "verify_traveler_information" => self.verify(arg(0), arg(1), arg(2), arg(3)),
            "set_budget_limit" => {
                if self.expired() {
                    return err("Token expired");
                }
                if self.bad_token(&arg(0)) {
                    return err("Invalid access token");
                }
                let limit = PyVal::Float(float_of(&arg(1))?);
                self.budget_limit = limit.clone();
                ok(dict([("budget_limit", limit)]))
            }
            "get_nearest_airport_by_city" => {
                let location = arg(0);
                if matches!(location, PyVal::List(_) | PyVal::Dict(_)) {
                    return Err(unhashable(&location));
                }
                let code = CITY_AIRPORTS
                    .iter()
                    .find(|(c, _)| location.as_str() == Some(*c))
                    .map_or("Unknown", |(_, a)| *a);
                ok(dict([("nearest_airport", PyVal::str(code))]))
            }
            "purchase_insurance" => {
                let no = |msg: &str| failed("insurance_status", msg);
                let (token, booking_id, cost, card_id) = (arg(0), arg(2), arg(3), arg(4));
                if self.expired() {
                    return no("Token expired");
                }
                if self.bad_token(&token) {
                    return no("Invalid access token");
                }
                if !matches!(self.budget_limit, PyVal::None) && lt(&self.budget_limit, &cost)? {
                    return no("Exceeded budget limit");
                }
                if !self.has_booking(&booking_id)? {
                    return no("Booking not found");
                }
                if !self.has_card(&card_id)? {
                    return no("Credit card not registered");
                }
                self.update_balance(&card_id, |b| sub(b, &cost))?;
                let id = random_id(&mut self.random, 100_000_000, 999_999_999);
                ok(dict([
                    ("insurance_id", id),
                    ("insurance_status", PyVal::Bool(true)),
                ]))
            }
            "contact_customer_support" => {
                if !self.has_booking(&arg(0))? {
                    return err("Booking not found");
                }
                ok(dict([(
                    "customer_support_message",
                    PyVal::str("Thank you for contacting customer support. Your message has been received and we will get back to you shortly."),
                )]))
            }
            "get_all_credit_cards" => ok(dict([(
                "credit_card_list",
                PyVal::Dict(self.credit_card_list.clone()),
            )])),
            other => Err(PyException::attribute_error(format!(
                "'TravelAPI' object has no attribute {}",
                str_repr(other)
            ))),
        }
    }
}
