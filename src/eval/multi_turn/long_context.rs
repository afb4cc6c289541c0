//! The extension data of `func_source_code/long_context.py` that the
//! backends add when loaded with `long_context=True` (the
//! `multi_turn_long_context` category), parsed once from the generated
//! [`super::long_context_data`], plus the one piece of it Python shares
//! between instances: `TravelAPI` adds the *same* card dicts of
//! `CREDIT_CARD_EXTENSION` to every long-context instance, so a balance
//! change made through one instance is seen by every other one in the
//! process (model and ground truth alike) and by instances loaded later.

use super::long_context_data as raw;
use super::{Error, Result};
use crate::eval::pyjson;
use crate::eval::pyval::{PyDict, PyVal};
use std::sync::OnceLock;

/// The parsed extension constants.
#[derive(Debug)]
pub struct LongContextData {
    /// `WATCH_LIST_EXTENSION` without its final Ellipsis.
    pub watch_list: Vec<PyVal>,
    /// `TRANSACTION_HISTORY_EXTENSION`.
    pub transaction_history: Vec<PyVal>,
    /// `MA_5_EXTENSION`.
    pub ma_5: PyVal,
    /// `MA_20_EXTENSION`.
    pub ma_20: PyVal,
    /// `TECHNOLOGY_EXTENSION`.
    pub technology: Vec<PyVal>,
    /// `AUTOMOBILE_EXTENSION`.
    pub automobile: Vec<PyVal>,
    /// `ORDER_DETAIL_EXTENSION`: (key, template with `{symbol}` fields).
    pub order_detail: Vec<(String, String)>,
    /// `FILE_CONTENT_EXTENSION`.
    pub file_content: String,
    /// `POPULATE_FILE_EXTENSION`.
    pub populate_files: Vec<String>,
    /// `CAR_STATUS_METADATA_EXTENSION`.
    pub car_status_metadata: String,
    /// `LONG_WEATHER_EXTENSION` (before any `outsideTemperature` is set).
    pub long_weather: PyDict,
    /// `PARKING_BRAKE_INSTRUCTION`.
    pub parking_brake_instruction: String,
    /// `INTERMEDIARY_CITIES`.
    pub intermediary_cities: PyVal,
    /// `CREDIT_CARD_EXTENSION` (initial values).
    pub credit_cards: PyDict,
    /// `BOOKING_RECORD_EXTENSION`.
    pub booking_records: PyDict,
    /// `FILES_TAIL_USED`: files whose content is not extended.
    pub files_tail_used: Vec<String>,
}

fn parse(name: &str, text: &str) -> std::result::Result<PyVal, String> {
    pyjson::loads(text).map_err(|e| format!("{name}: {e}"))
}

fn list(name: &str, text: &str) -> std::result::Result<Vec<PyVal>, String> {
    match parse(name, text)? {
        PyVal::List(v) => Ok(v),
        _ => Err(format!("{name} is not a list")),
    }
}

fn dict_of(name: &str, text: &str) -> std::result::Result<PyDict, String> {
    match parse(name, text)? {
        PyVal::Dict(d) => Ok(d),
        _ => Err(format!("{name} is not a dict")),
    }
}

fn string(name: &str, text: &str) -> std::result::Result<String, String> {
    match parse(name, text)? {
        PyVal::Str(s) => Ok(s),
        _ => Err(format!("{name} is not a str")),
    }
}

fn strings(name: &str, text: &str) -> std::result::Result<Vec<String>, String> {
    list(name, text)?
        .into_iter()
        .map(|v| match v {
            PyVal::Str(s) => Ok(s),
            _ => Err(format!("{name}: an item is not a str")),
        })
        .collect()
}

impl LongContextData {
    fn build() -> std::result::Result<Self, String> {
        let order_detail = dict_of("ORDER_DETAIL_EXTENSION", raw::ORDER_DETAIL_EXTENSION)?
            .iter()
            .map(|(k, v)| match (k, v) {
                (PyVal::Str(k), PyVal::Str(v)) => Ok((k.clone(), v.clone())),
                _ => Err("ORDER_DETAIL_EXTENSION: not str -> str".to_string()),
            })
            .collect::<std::result::Result<_, _>>()?;
        Ok(LongContextData {
            watch_list: list("WATCH_LIST_EXTENSION", raw::WATCH_LIST_EXTENSION)?,
            transaction_history: list(
                "TRANSACTION_HISTORY_EXTENSION",
                raw::TRANSACTION_HISTORY_EXTENSION,
            )?,
            ma_5: parse("MA_5_EXTENSION", raw::MA_5_EXTENSION)?,
            ma_20: parse("MA_20_EXTENSION", raw::MA_20_EXTENSION)?,
            technology: list("TECHNOLOGY_EXTENSION", raw::TECHNOLOGY_EXTENSION)?,
            automobile: list("AUTOMOBILE_EXTENSION", raw::AUTOMOBILE_EXTENSION)?,
            order_detail,
            file_content: string("FILE_CONTENT_EXTENSION", raw::FILE_CONTENT_EXTENSION)?,
            populate_files: strings("POPULATE_FILE_EXTENSION", raw::POPULATE_FILE_EXTENSION)?,
            car_status_metadata: string(
                "CAR_STATUS_METADATA_EXTENSION",
                raw::CAR_STATUS_METADATA_EXTENSION,
            )?,
            long_weather: dict_of("LONG_WEATHER_EXTENSION", raw::LONG_WEATHER_EXTENSION)?,
            parking_brake_instruction: string(
                "PARKING_BRAKE_INSTRUCTION",
                raw::PARKING_BRAKE_INSTRUCTION,
            )?,
            intermediary_cities: parse("INTERMEDIARY_CITIES", raw::INTERMEDIARY_CITIES)?,
            credit_cards: dict_of("CREDIT_CARD_EXTENSION", raw::CREDIT_CARD_EXTENSION)?,
            booking_records: dict_of("BOOKING_RECORD_EXTENSION", raw::BOOKING_RECORD_EXTENSION)?,
            files_tail_used: strings("FILES_TAIL_USED", raw::FILES_TAIL_USED)?,
        })
    }
}

/// The extension data (parsed on first use).
pub fn data() -> Result<&'static LongContextData> {
    static DATA: OnceLock<std::result::Result<LongContextData, String>> = OnceLock::new();
    DATA.get_or_init(LongContextData::build)
        .as_ref()
        .map_err(|e| Error::Unsupported(format!("long-context data: {e}")))
}

/// `template.format(symbol=symbol)` for the `ORDER_DETAIL_EXTENSION`
/// templates (their only replacement fields are `{symbol}`).
pub fn format_symbol(template: &str, symbol: &str) -> String {
    template.replace("{symbol}", symbol)
}

/// `repr()` of a list of values followed by Python's `Ellipsis` (what
/// `str(watch_list)` prints for the extended watch list).
pub fn repr_with_ellipsis(items: &[PyVal]) -> String {
    let mut s = crate::eval::pyrepr::repr(&PyVal::List(items.to_vec()));
    s.pop();
    if items.is_empty() {
        s.push_str("Ellipsis]");
    } else {
        s.push_str(", Ellipsis]");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_data_parses() {
        let d = data().expect("data");
        assert_eq!(d.watch_list.len(), 1000);
        assert_eq!(d.transaction_history.len(), 1000);
        assert_eq!(d.populate_files.len(), 30);
        assert_eq!(d.files_tail_used.len(), 9);
        assert_eq!(d.order_detail.len(), 8);
        assert!(d.order_detail.iter().all(|(_, t)| {
            let rest = t.replace("{symbol}", "");
            !rest.contains('{') && !rest.contains('}')
        }));
    }
}
