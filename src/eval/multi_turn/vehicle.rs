//! `VehicleControlAPI` (vehicle_control.py): a car's engine, doors,
//! climate, brakes, cruise control and navigation, with seeded random
//! temperature and speed readings.
//!
//! [`VehicleControlApi::load_with`] with `long_context=True` adds the
//! long-context category's extension data to five results.

use super::backend::{Backend, PyException, PyResult, Returned};
use super::long_context::{self, LongContextData};
use super::pyops::{
    add, dict, float_of, gt, iter_list, le, lt, mul, no_attr, sub, truediv, type_name,
};
use super::pyrandom::PyRandom;
use super::signature::{opt, req, Signature};
use super::{Error, Result};
use crate::eval::pyrepr::repr;
use crate::eval::pyval::{py_eq, PyDict, PyVal};

const SIGNATURES: &[Signature] = &[
    Signature {
        name: "activateParkingBrake",
        params: &[req("mode")],
    },
    Signature {
        name: "adjustClimateControl",
        params: &[
            req("temperature"),
            opt("unit", || PyVal::str("celsius")),
            opt("fanSpeed", || PyVal::Int(50)),
            opt("mode", || PyVal::str("auto")),
        ],
    },
    Signature {
        name: "check_tire_pressure",
        params: &[],
    },
    Signature {
        name: "displayCarStatus",
        params: &[req("option")],
    },
    Signature {
        name: "display_log",
        params: &[req("messages")],
    },
    Signature {
        name: "estimate_distance",
        params: &[req("cityA"), req("cityB")],
    },
    Signature {
        name: "estimate_drive_feasibility_by_mileage",
        params: &[req("distance")],
    },
    Signature {
        name: "fillFuelTank",
        params: &[req("fuelAmount")],
    },
    Signature {
        name: "find_nearest_tire_shop",
        params: &[],
    },
    Signature {
        name: "gallon_to_liter",
        params: &[req("gallon")],
    },
    Signature {
        name: "get_current_speed",
        params: &[],
    },
    Signature {
        name: "get_outside_temperature_from_google",
        params: &[],
    },
    Signature {
        name: "get_outside_temperature_from_weather_com",
        params: &[],
    },
    Signature {
        name: "get_zipcode_based_on_city",
        params: &[req("city")],
    },
    Signature {
        name: "liter_to_gallon",
        params: &[req("liter")],
    },
    Signature {
        name: "lockDoors",
        params: &[req("unlock"), req("door")],
    },
    Signature {
        name: "pressBrakePedal",
        params: &[req("pedalPosition")],
    },
    Signature {
        name: "releaseBrakePedal",
        params: &[],
    },
    Signature {
        name: "setCruiseControl",
        params: &[req("speed"), req("activate"), req("distanceToNextVehicle")],
    },
    Signature {
        name: "setHeadlights",
        params: &[req("mode")],
    },
    Signature {
        name: "set_navigation",
        params: &[req("destination")],
    },
    Signature {
        name: "startEngine",
        params: &[req("ignitionMode")],
    },
];

const DEFAULT_SEED: i128 = 141_053;

/// Known zip-code pairs and their distance in km (either order).
const DISTANCES: [(&str, &str, f64); 12] = [
    ("83214", "74532", 750.0),
    ("56108", "62947", 320.0),
    ("71354", "83462", 450.0),
    ("47329", "52013", 290.0),
    ("69238", "51479", 630.0),
    ("94016", "83214", 980.0),
    ("94016", "94704", 600.0),
    ("94704", "08540", 2550.0),
    ("94016", "08540", 1950.0),
    ("62947", "47329", 1053.0),
    ("94016", "62947", 780.0),
    ("74532", "94016", 880.0),
];

const ZIPCODES: [(&str, &str); 11] = [
    ("Rivermist", "83214"),
    ("Stonebrook", "74532"),
    ("Maplecrest", "56108"),
    ("Silverpine", "62947"),
    ("Shadowridge", "71354"),
    ("Sunset Valley", "83462"),
    ("Oakendale", "47329"),
    ("Willowbend", "52013"),
    ("Crescent Hollow", "69238"),
    ("Autumnville", "51479"),
    ("San Francisco", "94016"),
];

/// Public attributes, in `vars()` order (with the config key each loads from
/// and its default).
const PUBLIC: [(&str, &str); 20] = [
    ("fuelLevel", "fuelLevel"),
    ("batteryVoltage", "batteryVoltage"),
    ("engine_state", "engineState"),
    ("remainingUnlockedDoors", "remainingUnlockedDoors"),
    ("doorStatus", "doorStatus"),
    ("acTemperature", "acTemperature"),
    ("fanSpeed", "fanSpeed"),
    ("acMode", "acMode"),
    ("humidityLevel", "humidityLevel"),
    ("headLightStatus", "headLightStatus"),
    ("parkingBrakeStatus", "parkingBrakeStatus"),
    ("brakePedalStatus", "brakePedalStatus"),
    ("distanceToNextVehicle", "distanceToNextVehicle"),
    ("cruiseStatus", "cruiseStatus"),
    ("destination", "destination"),
    ("frontLeftTirePressure", "frontLeftTirePressure"),
    ("frontRightTirePressure", "frontRightTirePressure"),
    ("rearLeftTirePressure", "rearLeftTirePressure"),
    ("rearRightTirePressure", "rearRightTirePressure"),
    ("long_context", ""),
];

fn default_of(attr: &str) -> PyVal {
    match attr {
        "fuelLevel" => PyVal::Float(0.0),
        "batteryVoltage" => PyVal::Float(12.6),
        "engine_state" => PyVal::str("stopped"),
        "remainingUnlockedDoors" => PyVal::Int(4),
        "doorStatus" => dict([
            ("driver", PyVal::str("unlocked")),
            ("passenger", PyVal::str("unlocked")),
            ("rear_left", PyVal::str("unlocked")),
            ("rear_right", PyVal::str("unlocked")),
        ]),
        "acTemperature" => PyVal::Float(25.0),
        "fanSpeed" => PyVal::Int(50),
        "acMode" => PyVal::str("auto"),
        "humidityLevel" => PyVal::Float(50.0),
        "headLightStatus" => PyVal::str("off"),
        "parkingBrakeStatus" | "brakePedalStatus" => PyVal::str("released"),
        "distanceToNextVehicle" => PyVal::Float(50.0),
        "cruiseStatus" => PyVal::str("inactive"),
        "destination" => PyVal::str("None"),
        "frontLeftTirePressure" | "frontRightTirePressure" => PyVal::Float(32.0),
        "rearLeftTirePressure" | "rearRightTirePressure" => PyVal::Float(30.0),
        "long_context" => PyVal::Bool(false),
        _ => PyVal::None,
    }
}

/// The vehicle's state.
#[derive(Clone, Debug)]
pub struct VehicleControlApi {
    /// Public attributes in `vars()` order.
    public: PyDict,
    parking_brake_force: PyVal,
    slope_angle: PyVal,
    brake_pedal_force: PyVal,
    random: PyRandom,
    /// The extension data when loaded with `long_context=True`.
    long: Option<&'static LongContextData>,
}

fn ok(v: PyVal) -> PyResult<Returned> {
    Ok(Returned::Value(v))
}

fn err(msg: &str) -> PyResult<Returned> {
    ok(dict([("error", PyVal::str(msg))]))
}

/// `lo <= x <= hi` (chained, short-circuiting like Python).
fn between(lo: i128, x: &PyVal, hi: i128) -> PyResult<bool> {
    Ok(le(&PyVal::Int(lo), x)? && le(x, &PyVal::Int(hi))?)
}

impl VehicleControlApi {
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
        let seed = match config.get_str("random_seed") {
            None => DEFAULT_SEED,
            Some(PyVal::Int(i)) => *i,
            Some(_) => {
                return Err(Error::BadConfig {
                    class: "VehicleControlAPI".into(),
                    reason: "`random_seed` must be an integer".into(),
                })
            }
        };
        let mut public = PyDict::new();
        for (attr, key) in PUBLIC {
            let v = if key.is_empty() {
                None
            } else {
                config.get_str(key).cloned()
            };
            public.insert_str(attr, v.unwrap_or_else(|| default_of(attr)));
        }
        let locked = match public.get_str("doorStatus") {
            Some(PyVal::Dict(d)) => d
                .iter()
                .filter(|(_, s)| py_eq(s, &PyVal::str("locked")))
                .count(),
            _ => {
                return Err(Error::BadConfig {
                    class: "VehicleControlAPI".into(),
                    reason: "`doorStatus` must be a dict".into(),
                })
            }
        };
        public.insert_str("remainingUnlockedDoors", PyVal::Int(4 - locked as i128));
        public.insert_str("long_context", PyVal::Bool(long_context));
        let get = |k: &str| config.get_str(k).cloned().unwrap_or(PyVal::Float(0.0));
        Ok(VehicleControlApi {
            public,
            parking_brake_force: get("parkingBrakeForce"),
            slope_angle: get("slopeAngle"),
            brake_pedal_force: get("brakePedalForce"),
            random: PyRandom::new(seed),
            long,
        })
    }

    fn get(&self, attr: &str) -> PyVal {
        self.public.get_str(attr).cloned().unwrap_or(PyVal::None)
    }

    fn set(&mut self, attr: &str, v: PyVal) {
        self.public.insert_str(attr, v);
    }

    fn is(&self, attr: &str, value: &str) -> bool {
        py_eq(&self.get(attr), &PyVal::str(value))
    }

    fn start_engine(&mut self, mode: PyVal) -> PyResult<Returned> {
        if py_eq(&mode, &PyVal::str("STOP")) {
            self.set("engine_state", PyVal::str("stopped"));
        }
        if gt(&self.get("remainingUnlockedDoors"), &PyVal::Int(0))? {
            let doors = self.get("doorStatus");
            let PyVal::Dict(doors) = &doors else {
                return Err(no_attr(&doors, "items"));
            };
            let mut names = Vec::new();
            for (i, (door, status)) in doors
                .iter()
                .filter(|(_, s)| py_eq(s, &PyVal::str("unlocked")))
                .enumerate()
            {
                match door {
                    PyVal::Str(s) => names.push(s.clone()),
                    other => {
                        return Err(PyException::type_error(format!(
                            "sequence item {i}: expected str instance, {} found",
                            type_name(other)
                        )))
                    }
                }
                let _ = status;
            }
            return ok(dict([(
                "error",
                PyVal::str(format!(
                    "All doors must be locked before starting the engine. Here are the unlocked doors: {}",
                    names.join(", ")
                )),
            )]));
        }
        if !self.is("brakePedalStatus", "pressed") {
            return err("Brake pedal needs to be pressed when starting the engine.");
        }
        if !py_eq(&self.brake_pedal_force, &PyVal::Float(1000.0)) {
            return err("Must press the brake fully before starting the engine.");
        }
        if lt(&self.get("fuelLevel"), &PyVal::Float(0.0))? {
            return err("Fuel tank is empty.");
        }
        if !py_eq(&mode, &PyVal::str("START")) {
            return err("Invalid ignition mode.");
        }
        self.set("engine_state", PyVal::str("running"));
        ok(dict([
            ("engineState", self.get("engine_state")),
            ("fuelLevel", self.get("fuelLevel")),
            ("batteryVoltage", self.get("batteryVoltage")),
        ]))
    }

    fn fill_fuel(&mut self, amount: PyVal) -> PyResult<Returned> {
        if lt(&amount, &PyVal::Int(0))? {
            return err("Fuel amount cannot be negative.");
        }
        let total = add(&self.get("fuelLevel"), &amount)?;
        if gt(&total, &PyVal::Int(50))? {
            return err("Cannot fill gas above the tank capacity.");
        }
        if lt(&total, &PyVal::Float(0.0))? {
            return err("Fuel tank is empty. Min fuel level is 0 gallons.");
        }
        self.set("fuelLevel", total);
        ok(dict([("fuelLevel", self.get("fuelLevel"))]))
    }

    fn lock_doors(&mut self, unlock: PyVal, doors: PyVal) -> PyResult<Returned> {
        let target = if unlock.truthy() {
            "unlocked"
        } else {
            "locked"
        };
        let names: Vec<PyVal> = match &doors {
            PyVal::Str(s) => s.chars().map(|c| PyVal::str(c.to_string())).collect(),
            other => iter_list(other)?.to_vec(),
        };
        for d in names {
            let status = self.get("doorStatus");
            let PyVal::Dict(mut status) = status else {
                return Err(no_attr(&status, "get"));
            };
            let current = match status.contains(&d) {
                Ok(true) => status.get(&d).cloned().unwrap_or(PyVal::None),
                Ok(false) => return Err(PyException::key_error(&d)),
                Err(_) => return Err(super::pyops::unhashable(&d)),
            };
            if py_eq(&current, &PyVal::str(target)) {
                continue;
            }
            let _ = status.insert(d, PyVal::str(target));
            self.set("doorStatus", PyVal::Dict(status));
            let delta = PyVal::Int(1);
            let remaining = self.get("remainingUnlockedDoors");
            let remaining = if unlock.truthy() {
                add(&remaining, &delta)?
            } else {
                sub(&remaining, &delta)?
            };
            self.set("remainingUnlockedDoors", remaining);
        }
        ok(dict([
            ("lockStatus", PyVal::str(target)),
            ("remainingUnlockedDoors", self.get("remainingUnlockedDoors")),
        ]))
    }

    fn climate(
        &mut self,
        temperature: PyVal,
        unit: PyVal,
        fan: PyVal,
        mode: PyVal,
    ) -> PyResult<Returned> {
        if !between(0, &fan, 100)? {
            return err("Fan speed must be between 0 and 100.");
        }
        self.set("acTemperature", temperature.clone());
        if py_eq(&unit, &PyVal::str("fahrenheit")) {
            let c = truediv(
                &mul(&sub(&temperature, &PyVal::Int(32))?, &PyVal::Int(5))?,
                &PyVal::Int(9),
            )?;
            self.set("acTemperature", c);
        }
        self.set("fanSpeed", fan);
        self.set("acMode", mode.clone());
        ok(dict([
            ("currentACTemperature", temperature),
            ("climateMode", mode),
            ("humidityLevel", self.get("humidityLevel")),
        ]))
    }

    fn display(&self, option: PyVal) -> Returned {
        let opt = option.as_str().unwrap_or("");
        let mut s = PyDict::new();
        if let Some(lc) = self.long {
            s.insert_str("metadata", PyVal::str(lc.car_status_metadata.clone()));
        }
        let mut put = |k: &str, v: PyVal| s.insert_str(k, v);
        match opt {
            "fuel" => put("fuelLevel", self.get("fuelLevel")),
            "battery" => put("batteryVoltage", self.get("batteryVoltage")),
            "doors" => put("doorStatus", self.get("doorStatus")),
            "climate" => {
                put("currentACTemperature", self.get("acTemperature"));
                put("fanSpeed", self.get("fanSpeed"));
                put("climateMode", self.get("acMode"));
                put("humidityLevel", self.get("humidityLevel"));
            }
            "headlights" => put("headlightStatus", self.get("headLightStatus")),
            "parkingBrake" => {
                put("parkingBrakeStatus", self.get("parkingBrakeStatus"));
                put("parkingBrakeForce", self.parking_brake_force.clone());
                put("slopeAngle", self.slope_angle.clone());
            }
            "brakePedal" => {
                put("brakePedalStatus", self.get("brakePedalStatus"));
                put("brakePedalForce", self.brake_pedal_force.clone());
            }
            "engine" => put("engineState", self.get("engine_state")),
            _ => put("error", PyVal::str("Invalid option")),
        }
        Returned::Value(PyVal::Dict(s))
    }

    fn brake_pedal(&mut self, position: PyVal) -> PyResult<Returned> {
        if !between(0, &position, 1)? {
            return err("Pedal position must be between 0 and 1.");
        }
        if py_eq(&position, &PyVal::Int(0)) {
            self.set("brakePedalStatus", PyVal::str("released"));
            self.brake_pedal_force = PyVal::Float(0.0);
            return ok(dict([
                ("brakePedalStatus", PyVal::str("released")),
                ("brakePedalForce", PyVal::Float(0.0)),
            ]));
        }
        let force = mul(&position, &PyVal::Int(1000))?;
        self.set("brakePedalStatus", PyVal::str("pressed"));
        self.brake_pedal_force = force.clone();
        ok(dict([
            ("brakePedalStatus", PyVal::str("pressed")),
            ("brakePedalForce", PyVal::Float(float_of(&force)?)),
        ]))
    }

    fn cruise(&mut self, speed: PyVal, activate: PyVal, distance: PyVal) -> PyResult<Returned> {
        let distance = float_of(&distance)?;
        let speed = float_of(&speed)?;
        if self.is("engine_state", "stopped") {
            return err("Start the engine before activating the cruise control.");
        }
        self.set("distanceToNextVehicle", PyVal::Float(distance));
        let status = if activate.truthy() {
            if !(0.0..=120.0).contains(&speed) || speed.rem_euclid(5.0) != 0.0 {
                return err("Invalid speed");
            }
            "active"
        } else {
            "inactive"
        };
        self.set("cruiseStatus", PyVal::str(status));
        ok(dict([
            ("cruiseStatus", PyVal::str(status)),
            ("currentSpeed", PyVal::Float(speed)),
            ("distanceToNextVehicle", PyVal::Float(distance)),
        ]))
    }

    fn tires(&self) -> PyResult<Returned> {
        let keys = [
            "frontLeftTirePressure",
            "frontRightTirePressure",
            "rearLeftTirePressure",
            "rearRightTirePressure",
        ];
        let mut total = self.get(keys[0]);
        for k in &keys[1..] {
            total = add(&total, &self.get(k))?;
        }
        let avg = truediv(&total, &PyVal::Int(4))?;
        let healthy = between(30, &avg, 35)?;
        let mut d = PyDict::new();
        for k in keys {
            d.insert_str(k, self.get(k));
        }
        d.insert_str("healthy_tire_pressure", PyVal::Bool(healthy));
        match self.long {
            Some(lc) => d.insert_str("car_info", PyVal::str(lc.car_status_metadata.clone())),
            None => d.insert_str("car_info", PyVal::Dict(PyDict::new())),
        }
        ok(PyVal::Dict(d))
    }
}

impl Backend for VehicleControlApi {
    fn class_name(&self) -> &'static str {
        "VehicleControlAPI"
    }

    fn signatures(&self) -> &'static [Signature] {
        SIGNATURES
    }

    fn invoke(&mut self, method: &str, args: Vec<PyVal>) -> PyResult<Returned> {
        let mut args = args.into_iter();
        let mut next = || args.next().unwrap_or(PyVal::None);
        match method {
            "startEngine" => self.start_engine(next()),
            "fillFuelTank" => self.fill_fuel(next()),
            "lockDoors" => {
                let (u, d) = (next(), next());
                self.lock_doors(u, d)
            }
            "adjustClimateControl" => {
                let (t, u, f, m) = (next(), next(), next(), next());
                self.climate(t, u, f, m)
            }
            "get_outside_temperature_from_google" => {
                let t = PyVal::Float(self.random.uniform(-10.0, 40.0));
                // Python stores the reading in the shared module-level dict
                // and returns that dict; the key lands last either way.
                let mut d = self
                    .long
                    .map_or_else(PyDict::new, |lc| lc.long_weather.clone());
                d.insert_str("outsideTemperature", t);
                ok(PyVal::Dict(d))
            }
            "get_outside_temperature_from_weather_com" => ok(dict([("error", PyVal::Int(404))])),
            "setHeadlights" => {
                let mode = next();
                let m = mode.as_str().unwrap_or("");
                if !["on", "off", "auto"].contains(&m) {
                    return err("Invalid headlight mode.");
                }
                let status = if m == "on" { "on" } else { "off" };
                self.set("headLightStatus", PyVal::str(status));
                ok(dict([("headlightStatus", PyVal::str(status))]))
            }
            "displayCarStatus" => Ok(self.display(next())),
            "activateParkingBrake" => {
                let mode = next();
                let (status, force) = match mode.as_str() {
                    Some("engage") => ("engaged", 500.0),
                    Some("release") => ("released", 0.0),
                    _ => return err("Invalid mode"),
                };
                self.set("parkingBrakeStatus", PyVal::str(status));
                self.parking_brake_force = PyVal::Float(force);
                self.slope_angle = PyVal::Float(10.0);
                if let Some(lc) = self.long {
                    return ok(dict([
                        (
                            "parkingBrakeInstruction",
                            PyVal::str(lc.parking_brake_instruction.clone()),
                        ),
                        ("parkingBrakeStatus", PyVal::str(status)),
                        ("_parkingBrakeForce", PyVal::Float(force)),
                        ("_slopeAngle", PyVal::Float(10.0)),
                    ]));
                }
                ok(dict([
                    ("parkingBrakeStatus", PyVal::str(status)),
                    ("_parkingBrakeForce", PyVal::Float(force)),
                    ("_slopeAngle", PyVal::Float(10.0)),
                ]))
            }
            "pressBrakePedal" => self.brake_pedal(next()),
            "releaseBrakePedal" => {
                self.set("brakePedalStatus", PyVal::str("released"));
                self.brake_pedal_force = PyVal::Float(0.0);
                ok(dict([
                    ("brakePedalStatus", PyVal::str("released")),
                    ("brakePedalForce", PyVal::Float(0.0)),
                ]))
            }
            "setCruiseControl" => {
                let (s, a, d) = (next(), next(), next());
                self.cruise(s, a, d)
            }
            "get_current_speed" => ok(dict([(
                "currentSpeed",
                PyVal::Float(self.random.uniform(0.0, 120.0)),
            )])),
            "display_log" => ok(dict([("log", next())])),
            "estimate_drive_feasibility_by_mileage" => {
                let distance = next();
                let range = mul(&self.get("fuelLevel"), &PyVal::Float(20.0))?;
                ok(dict([("canDrive", PyVal::Bool(!lt(&range, &distance)?))]))
            }
            "liter_to_gallon" => ok(dict([("gallon", mul(&next(), &PyVal::Float(0.264172))?)])),
            "gallon_to_liter" => ok(dict([("liter", mul(&next(), &PyVal::Float(3.78541))?)])),
            "estimate_distance" => {
                let (a, b) = (next(), next());
                let (a, b) = (a.as_str().unwrap_or("\u{0}"), b.as_str().unwrap_or("\u{0}"));
                let mut out = match DISTANCES
                    .iter()
                    .find(|(x, y, _)| (a == *x && b == *y) || (a == *y && b == *x))
                {
                    Some((_, _, d)) => dict([("distance", PyVal::Float(*d))]),
                    None => dict([("error", PyVal::str("distance not found in database."))]),
                };
                if let (Some(lc), PyVal::Dict(d)) = (self.long, &mut out) {
                    d.insert_str("intermediaryCities", lc.intermediary_cities.clone());
                }
                ok(out)
            }
            "get_zipcode_based_on_city" => {
                let city = next();
                let zip = ZIPCODES
                    .iter()
                    .find(|(c, _)| city.as_str() == Some(*c))
                    .map_or("00000", |(_, z)| *z);
                ok(dict([("zipcode", PyVal::str(zip))]))
            }
            "set_navigation" => {
                let destination = next();
                // The attribute is assigned before the concatenation can fail.
                self.set("destination", destination.clone());
                let PyVal::Str(d) = &destination else {
                    return Err(PyException::type_error(format!(
                        "can only concatenate str (not \"{}\") to str",
                        type_name(&destination)
                    )));
                };
                let status = format!("Navigating to {d}");
                ok(dict([("status", PyVal::str(status))]))
            }
            "check_tire_pressure" => self.tires(),
            "find_nearest_tire_shop" => ok(dict([(
                "shopLocation",
                PyVal::str("456 Oakwood Avenue, Rivermist, 83214"),
            )])),
            other => Err(PyException::attribute_error(format!(
                "'VehicleControlAPI' object has no attribute '{}'",
                repr(&PyVal::str(other)).trim_matches('\'')
            ))),
        }
    }

    fn state(&self) -> PyDict {
        self.public.clone()
    }
}
