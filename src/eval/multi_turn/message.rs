//! `MessageAPI` (message_api.py): users, a shared inbox of
//! `{receiver_id: text}` messages, and seeded random message IDs.

use super::backend::{Backend, PyException, PyResult, Returned};
use super::pyops::{add, dict, fmt, lower, no_attr, type_name};
use super::pyrandom::PyRandom;
use super::signature::{req, Signature};
use super::{Error, Result};
use crate::eval::pyval::{py_eq, py_in, PyDict, PyVal};

const SIGNATURES: &[Signature] = &[
    Signature {
        name: "add_contact",
        params: &[req("user_name")],
    },
    Signature {
        name: "delete_message",
        params: &[req("receiver_id")],
    },
    Signature {
        name: "get_message_stats",
        params: &[],
    },
    Signature {
        name: "get_user_id",
        params: &[req("user")],
    },
    Signature {
        name: "list_users",
        params: &[],
    },
    Signature {
        name: "message_get_login_status",
        params: &[],
    },
    Signature {
        name: "message_login",
        params: &[req("user_id")],
    },
    Signature {
        name: "search_messages",
        params: &[req("keyword")],
    },
    Signature {
        name: "send_message",
        params: &[req("receiver_id"), req("message")],
    },
    Signature {
        name: "view_messages_sent",
        params: &[],
    },
];

/// The default seed of the class.
const DEFAULT_SEED: i128 = 200_191;

/// The messaging workspace's state.
#[derive(Clone, Debug)]
pub struct MessageApi {
    random: PyRandom,
    generated_ids: Vec<i64>,
    user_count: PyVal,
    user_map: PyDict,
    inbox: Vec<PyVal>,
    message_count: PyVal,
    current_user: PyVal,
}

fn err(msg: String) -> Returned {
    Returned::Value(dict([("error", PyVal::str(msg))]))
}

fn unhashable(v: &PyVal) -> PyException {
    PyException::type_error(format!("unhashable type: '{}'", type_name(v)))
}

/// `list(message.items())[0]` of an inbox entry.
fn first_item(message: &PyVal) -> PyResult<(PyVal, PyVal)> {
    let PyVal::Dict(d) = message else {
        return Err(no_attr(message, "items"));
    };
    d.iter().next().cloned().ok_or_else(|| PyException {
        kind: "IndexError",
        message: "list index out of range".into(),
    })
}

impl MessageApi {
    /// `_load_scenario(config)`: missing keys take the class defaults.
    pub fn load(config: &PyDict) -> Result<Self> {
        let bad = |reason: &str| Error::BadConfig {
            class: "MessageAPI".into(),
            reason: reason.into(),
        };
        if config.get_str("generated_ids").is_some() {
            return Err(bad("`generated_ids` (a Python set) cannot come from JSON"));
        }
        let seed = match config.get_str("random_seed") {
            None => DEFAULT_SEED,
            Some(PyVal::Int(i)) => *i,
            Some(_) => return Err(bad("`random_seed` must be an integer")),
        };
        let user_map = match config.get_str("user_map") {
            None => {
                let mut d = PyDict::new();
                for (name, id) in [
                    ("Alice", "USR001"),
                    ("Bob", "USR002"),
                    ("Catherine", "USR003"),
                    ("Daniel", "USR004"),
                ] {
                    d.insert_str(name, PyVal::str(id));
                }
                d
            }
            Some(PyVal::Dict(d)) => d.clone(),
            Some(_) => return Err(bad("`user_map` must be a dict")),
        };
        let inbox = match config.get_str("inbox") {
            None => [
                ("USR002", "My name is Alice. I want to connect."),
                ("USR003", "Could you upload the file?"),
                ("USR004", "Could you upload the file?"),
            ]
            .into_iter()
            .map(|(to, text)| dict([(to, PyVal::str(text))]))
            .collect(),
            Some(PyVal::List(items)) => items.clone(),
            Some(_) => return Err(bad("`inbox` must be a list")),
        };
        let get = |k: &str, d: PyVal| config.get_str(k).cloned().unwrap_or(d);
        Ok(MessageApi {
            random: PyRandom::new(seed),
            generated_ids: Vec::new(),
            user_count: get("user_count", PyVal::Int(4)),
            user_map,
            inbox,
            message_count: get("message_count", PyVal::Int(3)),
            current_user: get("current_user", PyVal::None),
        })
    }

    /// `_generate_id`: a fresh ID in 10000..=99999, recorded in `generated_ids`.
    fn generate_id(&mut self) -> PyVal {
        let mut id = self.random.randint(10_000, 99_999).unwrap_or(10_000);
        while self.generated_ids.contains(&id) {
            id = self.random.randint(10_000, 99_999).unwrap_or(10_000);
        }
        self.generated_ids.push(id);
        dict([("new_id", PyVal::Int(i128::from(id)))])
    }

    fn user_ids(&self) -> Vec<PyVal> {
        self.user_map.iter().map(|(_, v)| v.clone()).collect()
    }

    fn send_message(&mut self, receiver: PyVal, message: PyVal) -> PyResult<Returned> {
        if !self.current_user.truthy() {
            return Ok(err("No user is currently logged in.".into()));
        }
        if !py_in(&receiver, &self.user_ids()) {
            return Ok(err(format!("Receiver ID '{}' not found.", fmt(&receiver))));
        }
        let message_id = self.generate_id();
        let mut entry = PyDict::new();
        entry
            .insert(receiver.clone(), message)
            .map_err(|_| unhashable(&receiver))?;
        self.inbox.push(PyVal::Dict(entry));
        self.message_count = add(&self.message_count, &PyVal::Int(1))?;
        Ok(Returned::Value(dict([
            ("sent_status", PyVal::Bool(true)),
            ("message_id", message_id),
            (
                "message",
                PyVal::str(format!(
                    "Message sent to '{}' successfully.",
                    fmt(&receiver)
                )),
            ),
        ])))
    }

    fn delete_message(&mut self, receiver_id: PyVal) -> PyResult<Returned> {
        if !self.current_user.truthy() {
            return Ok(err("No user is currently logged in.".into()));
        }
        for message in self.inbox.iter().rev() {
            let (receiver, _) = first_item(message)?;
            if py_eq(&receiver, &receiver_id) {
                // `list.remove` drops the first entry equal to this one.
                if let Some(pos) = self.inbox.iter().position(|m| py_eq(m, message)) {
                    self.inbox.remove(pos);
                }
                return Ok(Returned::Value(dict([
                    ("deleted_status", PyVal::Bool(true)),
                    ("receiver_id", receiver),
                    (
                        "message",
                        PyVal::str(format!(
                            "Receiver {}'s latest message deleted successfully.",
                            fmt(&receiver_id)
                        )),
                    ),
                ])));
            }
        }
        Ok(err(format!("Receiver ID {} not found.", fmt(&receiver_id))))
    }

    fn view_messages_sent(&self) -> PyResult<Returned> {
        if !self.current_user.truthy() {
            return Ok(err("No user is currently logged in.".into()));
        }
        let mut grouped: Vec<(PyVal, Vec<PyVal>)> = Vec::new();
        for message in &self.inbox {
            let (receiver, content) = first_item(message)?;
            match grouped.iter_mut().find(|(r, _)| py_eq(r, &receiver)) {
                Some((_, list)) => list.push(content),
                None => grouped.push((receiver, vec![content])),
            }
        }
        let mut sent = PyDict::new();
        for (r, list) in grouped {
            sent.insert(r.clone(), PyVal::List(list))
                .map_err(|_| unhashable(&r))?;
        }
        Ok(Returned::Value(dict([("messages", PyVal::Dict(sent))])))
    }

    fn add_contact(&mut self, user_name: PyVal) -> PyResult<Returned> {
        if self
            .user_map
            .contains(&user_name)
            .map_err(|_| unhashable(&user_name))?
        {
            return Ok(err(format!(
                "User name '{}' already exists.",
                fmt(&user_name)
            )));
        }
        self.user_count = add(&self.user_count, &PyVal::Int(1))?;
        let user_id = format!("USR{}", zfill(&fmt(&self.user_count), 3));
        if py_in(&PyVal::str(user_id.as_str()), &self.user_ids()) {
            return Ok(err(format!("User ID '{user_id}' already exists.")));
        }
        self.user_map
            .insert(user_name.clone(), PyVal::str(user_id.as_str()))
            .map_err(|_| unhashable(&user_name))?;
        Ok(Returned::Value(dict([
            ("added_status", PyVal::Bool(true)),
            ("user_id", PyVal::str(user_id)),
            (
                "message",
                PyVal::str(format!("Contact '{}' added successfully.", fmt(&user_name))),
            ),
        ])))
    }

    fn search_messages(&self, keyword: PyVal) -> PyResult<Returned> {
        if !self.current_user.truthy() {
            return Ok(err("No user is currently logged in.".into()));
        }
        let keyword = lower(&keyword)?;
        let mut results = Vec::new();
        for message in &self.inbox {
            let (receiver, content) = first_item(message)?;
            if lower(&content)?.contains(&keyword) {
                results.push(dict([("receiver_id", receiver), ("message", content)]));
            }
        }
        Ok(Returned::Value(dict([("results", PyVal::List(results))])))
    }

    fn get_message_stats(&self) -> PyResult<Returned> {
        if !self.current_user.truthy() {
            return Ok(err("No user is currently logged in.".into()));
        }
        let mut contacts: Vec<PyVal> = Vec::new();
        for message in &self.inbox {
            let (receiver, _) = first_item(message)?;
            if !py_in(&receiver, &contacts) {
                contacts.push(receiver);
            }
        }
        Ok(Returned::Value(dict([(
            "stats",
            dict([
                ("received_count", PyVal::Int(self.inbox.len() as i128)),
                ("total_contacts", PyVal::Int(contacts.len() as i128)),
            ]),
        )])))
    }
}

/// `str.zfill(width)`.
fn zfill(s: &str, width: usize) -> String {
    let len = s.chars().count();
    if len >= width {
        return s.to_string();
    }
    let pad = "0".repeat(width - len);
    match s.strip_prefix(['-', '+']) {
        Some(rest) => format!("{}{pad}{rest}", &s[..1]),
        None => format!("{pad}{s}"),
    }
}

impl Backend for MessageApi {
    fn class_name(&self) -> &'static str {
        "MessageAPI"
    }

    fn signatures(&self) -> &'static [Signature] {
        SIGNATURES
    }

    fn invoke(&mut self, method: &str, args: Vec<PyVal>) -> PyResult<Returned> {
        let mut args = args.into_iter();
        let mut next = || args.next().unwrap_or(PyVal::None);
        match method {
            "list_users" => Ok(Returned::Value(dict([(
                "user_list",
                PyVal::List(self.user_map.keys().cloned().collect()),
            )]))),
            "get_user_id" => {
                let user = next();
                if !self
                    .user_map
                    .contains(&user)
                    .map_err(|_| unhashable(&user))?
                {
                    return Ok(err(format!(
                        "User '{}' not found in the workspace.",
                        fmt(&user)
                    )));
                }
                let id = self.user_map.get(&user).cloned().unwrap_or(PyVal::None);
                Ok(Returned::Value(dict([("user_id", id)])))
            }
            "message_login" => {
                let user_id = next();
                if !py_in(&user_id, &self.user_ids()) {
                    return Ok(Returned::Value(dict([
                        ("login_status", PyVal::Bool(false)),
                        (
                            "message",
                            PyVal::str(format!("User ID '{}' not found.", fmt(&user_id))),
                        ),
                    ])));
                }
                let msg = format!("User '{}' logged in successfully.", fmt(&user_id));
                self.current_user = user_id;
                Ok(Returned::Value(dict([
                    ("login_status", PyVal::Bool(true)),
                    ("message", PyVal::str(msg)),
                ])))
            }
            "message_get_login_status" => Ok(Returned::Value(dict([(
                "login_status",
                PyVal::Bool(self.current_user.truthy()),
            )]))),
            "send_message" => {
                let (r, m) = (next(), next());
                self.send_message(r, m)
            }
            "delete_message" => self.delete_message(next()),
            "view_messages_sent" => self.view_messages_sent(),
            "add_contact" => self.add_contact(next()),
            "search_messages" => self.search_messages(next()),
            "get_message_stats" => self.get_message_stats(),
            other => Err(PyException::attribute_error(format!(
                "'MessageAPI' object has no attribute '{other}'"
            ))),
        }
    }

    fn state(&self) -> PyDict {
        let mut ids = self.generated_ids.clone();
        ids.sort_unstable();
        let mut d = PyDict::new();
        d.insert_str(
            "generated_ids",
            PyVal::List(ids.into_iter().map(|i| PyVal::Int(i128::from(i))).collect()),
        );
        d.insert_str("user_count", self.user_count.clone());
        d.insert_str("user_map", PyVal::Dict(self.user_map.clone()));
        d.insert_str("inbox", PyVal::List(self.inbox.clone()));
        d.insert_str("message_count", self.message_count.clone());
        d.insert_str("current_user", self.current_user.clone());
        d
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn zfill_like_python() {
        assert_eq!(super::zfill("5", 3), "005");
        assert_eq!(super::zfill("-5", 3), "-05");
        assert_eq!(super::zfill("1234", 3), "1234");
    }
}
