//! `TicketAPI` (ticket_api.py): a support-ticket queue with a logged-in user.

use super::backend::{Backend, PyException, PyResult, Returned};
use super::pyops::{dict, fmt, gt, item, iter_list, lower, lt, no_attr};
use super::signature::{none, opt, req, Signature};
use super::Result;
use crate::eval::pyval::{py_eq, PyDict, PyVal};

const SIGNATURES: &[Signature] = &[
    Signature {
        name: "close_ticket",
        params: &[req("ticket_id")],
    },
    Signature {
        name: "create_ticket",
        params: &[
            req("title"),
            opt("description", || PyVal::str("")),
            opt("priority", || PyVal::Int(1)),
        ],
    },
    Signature {
        name: "edit_ticket",
        params: &[req("ticket_id"), req("updates")],
    },
    Signature {
        name: "get_ticket",
        params: &[req("ticket_id")],
    },
    Signature {
        name: "get_user_tickets",
        params: &[opt("status", none)],
    },
    Signature {
        name: "logout",
        params: &[],
    },
    Signature {
        name: "resolve_ticket",
        params: &[req("ticket_id"), req("resolution")],
    },
    Signature {
        name: "ticket_get_login_status",
        params: &[],
    },
    Signature {
        name: "ticket_login",
        params: &[req("username"), req("password")],
    },
];

/// The ticket system's state.
#[derive(Clone, Debug)]
pub struct TicketApi {
    ticket_queue: PyVal,
    ticket_counter: PyVal,
    current_user: PyVal,
}

fn err(msg: String) -> Returned {
    Returned::Value(dict([("error", PyVal::str(msg))]))
}

impl TicketApi {
    /// `_load_scenario(config)`: missing keys take the class defaults.
    pub fn load(config: &PyDict) -> Result<Self> {
        let get = |k: &str, d: PyVal| config.get_str(k).cloned().unwrap_or(d);
        Ok(TicketApi {
            ticket_queue: get("ticket_queue", PyVal::List(Vec::new())),
            ticket_counter: get("ticket_counter", PyVal::Int(1)),
            current_user: get("current_user", PyVal::None),
        })
    }

    fn tickets_mut(&mut self) -> PyResult<&mut Vec<PyVal>> {
        match &mut self.ticket_queue {
            PyVal::List(items) => Ok(items),
            other => Err(no_attr(other, "append")),
        }
    }

    /// `_find_ticket`: the index of the first ticket whose `id` equals `id`.
    fn find(&self, id: &PyVal) -> PyResult<Option<usize>> {
        for (i, t) in iter_list(&self.ticket_queue)?.iter().enumerate() {
            if py_eq(item(t, "id")?, id) {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Sets `ticket[key] = value` on the ticket at `index`.
    fn set_field(&mut self, index: usize, key: PyVal, value: PyVal) -> PyResult<()> {
        let tickets = self.tickets_mut()?;
        if let Some(PyVal::Dict(t)) = tickets.get_mut(index) {
            t.insert(key, value)
                .map_err(|u| PyException::type_error(format!("unhashable type: '{}'", u.0)))?;
        }
        Ok(())
    }

    fn create_ticket(
        &mut self,
        title: PyVal,
        description: PyVal,
        priority: PyVal,
    ) -> PyResult<Returned> {
        if !self.current_user.truthy() {
            return Ok(err(
                "User not authenticated. Please log in to create a ticket.".into(),
            ));
        }
        if lt(&priority, &PyVal::Int(1))? || gt(&priority, &PyVal::Int(5))? {
            return Ok(err(
                "Invalid priority. Priority must be between 1 and 5.".into()
            ));
        }
        let ticket = dict([
            ("id", self.ticket_counter.clone()),
            ("title", title),
            ("description", description),
            ("status", PyVal::str("Open")),
            ("priority", priority),
            ("created_by", self.current_user.clone()),
        ]);
        self.tickets_mut()?.push(ticket.clone());
        self.ticket_counter = super::pyops::add(&self.ticket_counter, &PyVal::Int(1))?;
        Ok(Returned::Value(ticket))
    }

    fn get_ticket(&self, id: PyVal) -> PyResult<Returned> {
        match self.find(&id)? {
            Some(i) => Ok(Returned::Value(iter_list(&self.ticket_queue)?[i].clone())),
            None => Ok(err(format!("Ticket with ID {} not found.", fmt(&id)))),
        }
    }

    /// Shared body of close/resolve: sets `status` unless already `target`.
    fn set_status(
        &mut self,
        id: PyVal,
        target: &str,
        verb: &str,
        resolution: Option<PyVal>,
    ) -> PyResult<Returned> {
        let Some(i) = self.find(&id)? else {
            return Ok(err(format!("Ticket with ID {} not found.", fmt(&id))));
        };
        let status = item(&iter_list(&self.ticket_queue)?[i], "status")?.clone();
        if py_eq(&status, &PyVal::str(target)) {
            return Ok(err(format!(
                "Ticket with ID {} is already {verb}.",
                fmt(&id)
            )));
        }
        self.set_field(i, PyVal::str("status"), PyVal::str(target))?;
        if let Some(r) = resolution {
            self.set_field(i, PyVal::str("resolution"), r)?;
        }
        Ok(Returned::Value(dict([(
            "status",
            PyVal::str(format!("Ticket {} has been {verb} successfully.", fmt(&id))),
        )])))
    }

    fn edit_ticket(&mut self, id: PyVal, updates: PyVal) -> PyResult<Returned> {
        let Some(i) = self.find(&id)? else {
            return Ok(err(format!("Ticket with ID {} not found.", fmt(&id))));
        };
        let PyVal::Dict(updates) = updates else {
            return Err(no_attr(&updates, "keys"));
        };
        const VALID: [&str; 4] = ["title", "description", "status", "priority"];
        // Python joins a set here; for one invalid field the order is moot.
        let invalid: Vec<String> = updates
            .keys()
            .filter(|k| !k.as_str().is_some_and(|k| VALID.contains(&k)))
            .map(fmt)
            .collect();
        if !invalid.is_empty() {
            return Ok(err(format!(
                "Invalid fields for update: {}",
                invalid.join(", ")
            )));
        }
        for (k, v) in updates.iter() {
            if !matches!(v, PyVal::None) {
                self.set_field(i, k.clone(), v.clone())?;
            }
        }
        Ok(Returned::Value(dict([(
            "status",
            PyVal::str(format!(
                "Ticket {} has been updated successfully.",
                fmt(&id)
            )),
        )])))
    }

    fn get_user_tickets(&self, status: PyVal) -> PyResult<Returned> {
        if !self.current_user.truthy() {
            return Ok(Returned::Value(PyVal::List(vec![dict([(
                "error",
                PyVal::str("User not authenticated. Please log in to view tickets."),
            )])])));
        }
        let mut out = Vec::new();
        for t in iter_list(&self.ticket_queue)? {
            if py_eq(item(t, "created_by")?, &self.current_user) {
                out.push(t.clone());
            }
        }
        if status.truthy() {
            let wanted = lower(&status)?;
            let mut kept = Vec::new();
            for t in out {
                if lower(item(&t, "status")?)? == wanted {
                    kept.push(t);
                }
            }
            out = kept;
        }
        Ok(Returned::Value(PyVal::List(out)))
    }
}

impl Backend for TicketApi {
    fn class_name(&self) -> &'static str {
        "TicketAPI"
    }

    fn signatures(&self) -> &'static [Signature] {
        SIGNATURES
    }

    fn invoke(&mut self, method: &str, args: Vec<PyVal>) -> PyResult<Returned> {
        let mut args = args.into_iter();
        let mut next = || args.next().unwrap_or(PyVal::None);
        match method {
            "create_ticket" => {
                let (t, d, p) = (next(), next(), next());
                self.create_ticket(t, d, p)
            }
            "get_ticket" => self.get_ticket(next()),
            "close_ticket" => self.set_status(next(), "Closed", "closed", None),
            "resolve_ticket" => {
                let (id, r) = (next(), next());
                self.set_status(id, "Resolved", "resolved", Some(r))
            }
            "edit_ticket" => {
                let (id, u) = (next(), next());
                self.edit_ticket(id, u)
            }
            "ticket_login" => {
                let (user, password) = (next(), next());
                let ok = user.truthy() && password.truthy();
                if ok {
                    self.current_user = user;
                }
                Ok(Returned::Value(dict([("success", PyVal::Bool(ok))])))
            }
            "ticket_get_login_status" => Ok(Returned::Value(dict([(
                "login_status",
                PyVal::Bool(self.current_user.truthy()),
            )]))),
            "logout" => {
                let ok = self.current_user.truthy();
                if ok {
                    self.current_user = PyVal::None;
                }
                Ok(Returned::Value(dict([("success", PyVal::Bool(ok))])))
            }
            "get_user_tickets" => self.get_user_tickets(next()),
            other => Err(PyException::attribute_error(format!(
                "'TicketAPI' object has no attribute '{other}'"
            ))),
        }
    }

    fn state(&self) -> PyDict {
        let mut d = PyDict::new();
        d.insert_str("ticket_queue", self.ticket_queue.clone());
        d.insert_str("ticket_counter", self.ticket_counter.clone());
        d.insert_str("current_user", self.current_user.clone());
        d
    }
}
