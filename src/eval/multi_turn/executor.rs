//! Runs calls against a set of backend instances the way the official
//! `execute_multi_turn_func_call` does, and creates backends by class name.

use super::backend::{Backend, PyException};
use super::call::Call;
use super::{
    filesystem, math, memory, message, ticket, trading, travel, twitter, vehicle, Error, Result,
};
use crate::eval::pyval::{PyDict, PyVal};
use std::cell::RefCell;
use std::rc::Rc;

/// Names the harness refuses to evaluate.
const REFUSED: [&str; 8] = [
    "kill", "exit", "quit", "remove", "unlink", "popen", "Popen", "run",
];

/// Classes the harness creates without `_load_scenario`.
const STATELESS: [&str; 1] = ["MathAPI"];

/// State that Python shares between all backend instances of one process:
/// mutable default arguments (`TwitterAPI.post_tweet`'s `mentions=[]`) and
/// the long-context extension card dicts every long-context `TravelAPI`
/// holds (created on first use).
/// The official checker runs every entry, model and ground-truth instances
/// alike, in one process; use one `PyProcess` per scoring run to match it.
#[derive(Clone, Debug, Default)]
pub struct PyProcess {
    pub(crate) twitter_default_mentions: Rc<RefCell<Vec<PyVal>>>,
    pub(crate) travel_cards: Rc<RefCell<Option<PyDict>>>,
}

impl PyProcess {
    /// A fresh process (empty mutable defaults).
    pub fn new() -> Self {
        Self::default()
    }
}

/// Creates the backend `class` and loads its scenario from `config` (the
/// class's entry of `initial_config`; an empty dict when absent).
pub fn new_backend(class: &str, config: &PyDict, process: &PyProcess) -> Result<Box<dyn Backend>> {
    new_backend_with(class, config, process, false)
}

/// [`new_backend`] with `_load_scenario(config, long_context=long_context)`
/// (`MessageAPI`, `TicketAPI` and `TwitterAPI` ignore the flag, as in
/// Python).
pub fn new_backend_with(
    class: &str,
    config: &PyDict,
    process: &PyProcess,
    long_context: bool,
) -> Result<Box<dyn Backend>> {
    let lc = long_context;
    Ok(match class {
        "MathAPI" => Box::new(math::MathApi),
        "GorillaFileSystem" => Box::new(filesystem::GorillaFileSystem::load_with(config, lc)?),
        "MessageAPI" => Box::new(message::MessageApi::load(config)?),
        "TicketAPI" => Box::new(ticket::TicketApi::load(config)?),
        "TradingBot" => Box::new(trading::TradingBot::load_with(config, lc)?),
        "TravelAPI" => Box::new(travel::TravelApi::load_with(config, lc, process)?),
        "VehicleControlAPI" => Box::new(vehicle::VehicleControlApi::load_with(config, lc)?),
        "TwitterAPI" => Box::new(twitter::TwitterApi::load(config, process)?),
        memory::MEMORY_KV => Box::new(memory::MemoryKv::load(config)?),
        memory::MEMORY_REC_SUM => Box::new(memory::MemoryRecSum::load(config)?),
        other => return Err(Error::UnknownClass(other.to_string())),
    })
}

/// The backend instances of one test entry (one set for the model, another
/// for the ground truth), persisting across turns.
pub struct Executor {
    instances: Vec<Box<dyn Backend>>,
}

impl Executor {
    /// Instantiates `involved_classes` (in that order) from `initial_config`
    /// inside `process`.
    pub fn new(
        initial_config: &PyDict,
        involved_classes: &[String],
        process: &PyProcess,
    ) -> Result<Self> {
        Self::with_long_context(initial_config, involved_classes, process, false)
    }

    /// [`Executor::new`] as `execute_multi_turn_func_call(...,
    /// long_context=long_context)` creates the instances: `true` for the
    /// `multi_turn_long_context` category.
    pub fn with_long_context(
        initial_config: &PyDict,
        involved_classes: &[String],
        process: &PyProcess,
        long_context: bool,
    ) -> Result<Self> {
        let empty = PyDict::new();
        let instances = involved_classes
            .iter()
            .map(|class| {
                let config = if STATELESS.contains(&class.as_str()) {
                    &empty
                } else {
                    initial_config
                        .get_str(class)
                        .and_then(PyVal::as_dict)
                        .unwrap_or(&empty)
                };
                new_backend_with(class, config, process, long_context)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Executor { instances })
    }

    /// Runs one call and returns the tool-message string, including the
    /// harness's `"Error during execution: ..."` for exceptions. A method
    /// name offered by several classes goes to the last one, as in the
    /// harness's name mapping.
    pub fn execute(&mut self, call: &Call) -> String {
        match self.try_execute(call) {
            Ok(s) => s,
            Err(e) => format!("Error during execution: {}", e.message),
        }
    }

    /// [`Executor::execute`] with the exception as a value (its `kind` is
    /// `"Unsupported"` for paths this port does not cover).
    pub fn try_execute(&mut self, call: &Call) -> std::result::Result<String, PyException> {
        if REFUSED.contains(&call.name.as_str()) {
            return Err(PyException {
                kind: "Exception",
                message: format!("Function call {} is not allowed.", call.name),
            });
        }
        let owner = self
            .instances
            .iter_mut()
            .rev()
            .find(|b| b.signatures().iter().any(|s| s.name == call.name));
        match owner {
            Some(backend) => backend.call(call).map(|r| r.to_message()),
            None => Err(PyException::name_error(&call.name)),
        }
    }

    /// The instances, in `involved_classes` order.
    pub fn instances(&self) -> &[Box<dyn Backend>] {
        &self.instances
    }
}
