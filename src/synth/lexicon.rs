//! Realistic values from names: an argument called `city` gets a city, `email` an address,
//! `order_id` an order number, `limit` a small page size. The word lists are small and fixed
//! (deterministic output for a seed); every value still goes through schema validation.

use rand::seq::IndexedRandom;
use rand::Rng;

#[rustfmt::skip]
const CITIES: &[&str] = &[
    "Paris", "Tokyo", "New York", "Berlin", "Lisbon", "Toronto", "Sydney", "Cairo", "Seoul",
    "Madrid", "Chicago", "Nairobi", "Oslo", "Lima", "Mumbai", "Vienna", "Dublin", "Austin",
];
#[rustfmt::skip]
const AIRPORTS: &[&str] = &["CDG", "JFK", "LHR", "NRT", "FRA", "SFO", "SYD", "MAD", "YYZ", "FCO"];
#[rustfmt::skip]
const COUNTRIES: &[&str] = &["France", "Japan", "Brazil", "Canada", "Kenya", "Germany", "India", "Mexico"];
#[rustfmt::skip]
const COUNTRY_CODES: &[&str] = &["FR", "JP", "BR", "CA", "KE", "DE", "IN", "MX"];
#[rustfmt::skip]
const CURRENCIES: &[&str] = &["USD", "EUR", "JPY", "GBP", "CHF", "CAD", "AUD"];
#[rustfmt::skip]
const LANGUAGES: &[&str] = &["English", "Spanish", "French", "German", "Japanese", "Portuguese"];
#[rustfmt::skip]
const LANGUAGE_CODES: &[&str] = &["en", "es", "fr", "de", "ja", "pt"];
#[rustfmt::skip]
const FIRST: &[&str] = &[
    "Maria", "James", "Aiko", "Omar", "Sofia", "Liam", "Priya", "Lucas", "Chen", "Amara", "Noah",
    "Elena",
];
#[rustfmt::skip]
const LAST: &[&str] = &[
    "Lopez", "Smith", "Tanaka", "Haddad", "Rossi", "Murphy", "Patel", "Silva", "Wang", "Okafor",
    "Novak", "Berg",
];
#[rustfmt::skip]
const TIMEZONES: &[&str] = &["Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Sydney"];
#[rustfmt::skip]
const COLORS: &[&str] = &["red", "blue", "green", "black", "white", "orange"];
#[rustfmt::skip]
const TICKERS: &[&str] = &["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "TSLA"];
#[rustfmt::skip]
const EXPRESSIONS: &[&str] = &["3*(4+5)", "2**10 - 24", "sqrt(144) + 7", "(18 - 4) / 7", "15 % 4 + 2"];
#[rustfmt::skip]
const TAGS: &[&str] = &["urgent", "work", "personal", "travel", "finance", "follow-up"];
#[rustfmt::skip]
const STATUSES: &[&str] = &["active", "pending", "completed", "open"];
#[rustfmt::skip]
const STREETS: &[&str] = &[
    "221B Baker Street", "742 Evergreen Terrace", "12 Rue de Rivoli", "1600 Amphitheatre Parkway",
];
#[rustfmt::skip]
const EVENT_TITLES: &[&str] = &[
    "Quarterly planning review", "Dentist appointment", "Team lunch", "Project kickoff",
    "Budget sync", "Yoga class", "Client demo",
];
#[rustfmt::skip]
const SUBJECTS: &[&str] = &[
    "Meeting notes from Tuesday", "Invoice for March", "Weekend plans", "Draft proposal",
    "Flight confirmation", "Quick question about the report",
];
#[rustfmt::skip]
const SENTENCES: &[&str] = &[
    "Please review the attached draft before Friday.",
    "Running ten minutes late, start without me.",
    "The shipment arrived damaged and I would like a replacement.",
    "Remember to bring the signed contract.",
    "Thanks for your help with the migration last week.",
    "Can we move our call to next Monday?",
];
#[rustfmt::skip]
const PRODUCTS: &[&str] = &[
    "wireless headphones", "standing desk", "espresso machine", "running shoes", "4K monitor",
    "mechanical keyboard", "backpack",
];
#[rustfmt::skip]
const QUERIES: &[&str] = &[
    "italian restaurants", "budget report", "noise cancelling headphones", "hiking trails",
    "python tutorials", "vegan recipes", "electric cars",
];
#[rustfmt::skip]
const FILES: &[&str] = &[
    "reports/q3_summary.pdf", "notes/todo.txt", "photos/beach.jpg", "data/sales_2024.csv",
    "docs/contract_v2.docx",
];
#[rustfmt::skip]
const FOLDERS: &[&str] = &["documents/projects", "photos/2024", "reports", "backups/weekly"];
#[rustfmt::skip]
const COMPANIES: &[&str] = &["Acme Corp", "Globex", "Initech", "Umbrella Labs", "Stark Industries"];
#[rustfmt::skip]
const CATEGORIES: &[&str] = &["electronics", "books", "home", "sports", "travel", "food"];

fn pick(rng: &mut impl Rng, list: &[&str]) -> String {
    list.choose(rng).copied().unwrap_or("sample").to_string()
}

fn has(words: &[String], any: &[&str]) -> bool {
    words.iter().any(|w| any.contains(&w.as_str()))
}

fn last_is(words: &[String], any: &[&str]) -> bool {
    words.last().is_some_and(|w| any.contains(&w.as_str()))
}

/// A person's full name.
pub fn person(rng: &mut impl Rng) -> String {
    format!("{} {}", pick(rng, FIRST), pick(rng, LAST))
}

/// An email address.
pub fn email(rng: &mut impl Rng) -> String {
    format!(
        "{}.{}@example.com",
        pick(rng, FIRST).to_lowercase(),
        pick(rng, LAST).to_lowercase()
    )
}

/// An identifier for something named by `words` (`order id` → `ORD-48213`).
pub fn identifier(words: &[String], rng: &mut impl Rng) -> String {
    let stem: Vec<&String> = words.iter().filter(|w| *w != "id" && *w != "ids").collect();
    let prefix: String = match stem.last() {
        Some(w) => w
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(3)
            .collect(),
        None => "id".into(),
    };
    let prefix = if prefix.is_empty() {
        "id".to_string()
    } else {
        prefix
    };
    format!(
        "{}-{}",
        prefix.to_uppercase(),
        rng.random_range(10_000..100_000)
    )
}

/// A string for an argument (or response field) whose name splits into `name`, in a tool
/// described by `context` words; `None` when the name says nothing useful.
pub fn string_for(name: &[String], context: &[String], rng: &mut impl Rng) -> Option<String> {
    let n = |any: &[&str]| has(name, any);
    let c = |any: &[&str]| has(context, any);
    if last_is(
        name,
        &[
            "id",
            "ids",
            "uuid",
            "key",
            "code",
            "number",
            "no",
            "ref",
            "reference",
        ],
    ) && !n(&[
        "country", "currency", "language", "zip", "postal", "airport", "phone", "lang",
    ]) {
        return Some(identifier(name, rng));
    }
    Some(match () {
        _ if n(&["email", "mail", "recipient", "cc", "bcc", "sender"]) => email(rng),
        _ if n(&["airport", "iata"]) => pick(rng, AIRPORTS),
        _ if n(&["origin", "destination", "from", "to"])
            && c(&["flight", "flights", "airport"]) =>
        {
            pick(rng, AIRPORTS)
        }
        _ if n(&[
            "city",
            "town",
            "location",
            "destination",
            "origin",
            "place",
            "where",
        ]) =>
        {
            pick(rng, CITIES)
        }
        _ if n(&["country"]) && n(&["code"]) => pick(rng, COUNTRY_CODES),
        _ if n(&["country", "nation"]) => pick(rng, COUNTRIES),
        _ if n(&["currency"]) => pick(rng, CURRENCIES),
        _ if n(&["lang", "language", "locale"]) && n(&["code"]) => pick(rng, LANGUAGE_CODES),
        _ if n(&["lang", "language", "locale"]) => pick(rng, LANGUAGES),
        _ if n(&["timezone", "tz", "zone"]) => pick(rng, TIMEZONES),
        _ if n(&["phone", "mobile", "tel", "telephone"]) => {
            format!("+1-555-{:04}", rng.random_range(100..10_000))
        }
        _ if n(&["firstname", "first", "given"]) => pick(rng, FIRST),
        _ if n(&["lastname", "last", "surname", "family"]) => pick(rng, LAST),
        _ if n(&["username", "handle", "login"]) => {
            format!(
                "{}{}",
                pick(rng, FIRST).to_lowercase(),
                rng.random_range(10..100)
            )
        }
        _ if n(&[
            "company",
            "organization",
            "organisation",
            "employer",
            "vendor",
            "merchant",
        ]) =>
        {
            pick(rng, COMPANIES)
        }
        _ if n(&[
            "author",
            "owner",
            "guest",
            "passenger",
            "attendee",
            "customer",
            "contact",
            "person",
            "assignee",
            "traveler",
            "traveller",
            "driver",
            "patient",
        ]) =>
        {
            person(rng)
        }
        _ if n(&["name"]) && c(&["file", "files", "document", "folder"]) => pick(rng, FILES),
        _ if n(&["name", "title"]) && c(&["product", "item", "cart", "shop", "store", "order"]) => {
            pick(rng, PRODUCTS)
        }
        _ if n(&["title", "summary", "name"])
            && c(&["event", "events", "calendar", "meeting", "appointment"]) =>
        {
            pick(rng, EVENT_TITLES)
        }
        _ if n(&["name", "fullname"])
            && c(&["user", "contact", "person", "customer", "employee"]) =>
        {
            person(rng)
        }
        _ if n(&["subject", "headline"]) => pick(rng, SUBJECTS),
        _ if n(&["title", "summary"]) => pick(rng, EVENT_TITLES),
        _ if n(&[
            "body",
            "message",
            "content",
            "text",
            "note",
            "notes",
            "comment",
            "description",
            "reply",
            "memo",
        ]) =>
        {
            pick(rng, SENTENCES)
        }
        _ if n(&[
            "query", "q", "keyword", "keywords", "search", "term", "terms", "topic",
        ]) =>
        {
            if c(&["product", "products", "shop", "store", "catalog"]) {
                pick(rng, PRODUCTS)
            } else {
                pick(rng, QUERIES)
            }
        }
        _ if n(&["product", "item", "sku"]) => pick(rng, PRODUCTS),
        _ if n(&["path", "file", "filename", "filepath"]) => pick(rng, FILES),
        _ if n(&["folder", "directory", "dir"]) => pick(rng, FOLDERS),
        _ if n(&["url", "link", "website", "uri", "homepage"]) => {
            format!(
                "https://www.example.com/articles/{}",
                rng.random_range(10..1000)
            )
        }
        _ if n(&["address", "street"]) => pick(rng, STREETS),
        _ if n(&["zip", "postal", "postcode", "zipcode"]) => {
            format!("{:05}", rng.random_range(10_000..99_999))
        }
        _ if n(&["color", "colour"]) => pick(rng, COLORS),
        _ if n(&["symbol", "ticker", "stock"]) => pick(rng, TICKERS),
        _ if n(&["expression", "formula", "equation"]) => pick(rng, EXPRESSIONS),
        _ if n(&["tag", "tags", "label", "labels"]) => pick(rng, TAGS),
        _ if n(&["status", "state"]) => pick(rng, STATUSES),
        _ if n(&["category", "genre", "department", "type", "kind"]) => pick(rng, CATEGORIES),
        _ if n(&[
            "date", "day", "start", "end", "when", "deadline", "due", "checkin", "checkout",
        ]) =>
        {
            date(rng)
        }
        _ if n(&["time", "hour"]) => format!(
            "{:02}:{:02}",
            rng.random_range(8..19),
            15 * rng.random_range(0..4)
        ),
        _ if n(&["name"]) => person(rng),
        _ => return None,
    })
}

/// A calendar date in 2025–2026, `YYYY-MM-DD`.
pub fn date(rng: &mut impl Rng) -> String {
    format!(
        "{}-{:02}-{:02}",
        rng.random_range(2025..2027),
        rng.random_range(1..13),
        rng.random_range(1..29)
    )
}

/// A plausible numeric range `(low, high, step)` for a number named by `name`.
pub fn number_range(name: &[String]) -> Option<(f64, f64, f64)> {
    let n = |any: &[&str]| has(name, any);
    Some(match () {
        _ if n(&["lat", "latitude"]) => (-60.0, 70.0, 0.0001),
        _ if n(&["lon", "lng", "longitude"]) => (-170.0, 170.0, 0.0001),
        _ if n(&["year"]) => (2018.0, 2026.0, 1.0),
        _ if n(&["month"]) => (1.0, 12.0, 1.0),
        _ if n(&["day"]) && !n(&["days"]) => (1.0, 28.0, 1.0),
        _ if n(&["hour", "hours"]) => (1.0, 23.0, 1.0),
        _ if n(&["minute", "minutes", "duration"]) => (15.0, 120.0, 15.0),
        _ if n(&["age"]) => (18.0, 80.0, 1.0),
        _ if n(&["page"]) => (1.0, 5.0, 1.0),
        _ if n(&["offset", "skip"]) => (0.0, 100.0, 10.0),
        _ if n(&[
            "limit", "max", "size", "top", "k", "results", "per", "count",
        ]) =>
        {
            (5.0, 50.0, 5.0)
        }
        _ if n(&[
            "quantity", "qty", "num", "number", "guests", "people", "adults", "seats", "rooms",
            "tickets", "copies",
        ]) =>
        {
            (1.0, 6.0, 1.0)
        }
        _ if n(&["days", "nights", "weeks"]) => (1.0, 14.0, 1.0),
        _ if n(&[
            "price",
            "amount",
            "cost",
            "total",
            "budget",
            "salary",
            "balance",
            "value",
            "principal",
        ]) =>
        {
            (10.0, 2000.0, 0.01)
        }
        _ if n(&["rating", "stars", "score"]) => (1.0, 5.0, 1.0),
        _ if n(&["percent", "percentage", "rate", "discount", "tip"]) => (1.0, 30.0, 0.5),
        _ if n(&["temperature", "temp"]) => (-10.0, 35.0, 0.5),
        _ if n(&["radius", "distance", "km", "miles"]) => (1.0, 50.0, 1.0),
        _ if n(&["weight", "kg"]) => (1.0, 100.0, 0.5),
        _ if n(&[
            "x",
            "y",
            "a",
            "b",
            "n",
            "base",
            "exponent",
            "numerator",
            "denominator",
            "operand",
            "first",
            "second",
            "value1",
            "value2",
        ]) =>
        {
            (2.0, 99.0, 1.0)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::words::split_ident;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn s(name: &str, ctx: &str) -> Option<String> {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        string_for(&split_ident(name), &split_ident(ctx), &mut rng)
    }

    #[test]
    fn names_pick_fitting_values() {
        assert!(CITIES.contains(&s("city", "get_weather").unwrap().as_str()));
        assert!(s("recipient_email", "send_email")
            .unwrap()
            .ends_with("@example.com"));
        assert!(s("order_id", "get_order").unwrap().starts_with("ORD-"));
        assert!(AIRPORTS.contains(&s("origin", "search_flights").unwrap().as_str()));
        assert!(CURRENCIES.contains(&s("currency", "convert").unwrap().as_str()));
        assert!(COUNTRY_CODES.contains(&s("country_code", "x").unwrap().as_str()));
        assert_eq!(s("zzz", "x"), None);
        assert_eq!(
            number_range(&split_ident("max_results")),
            Some((5.0, 50.0, 5.0))
        );
    }
}
