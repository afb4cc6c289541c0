//! AdamW, clipping and schedules against torch / transformers (golden numbers from
//! `scripts/grpo_golden.py`), save → restore → next step bit-identical, and the skip policy.

use candle_core::{DType, Device, Tensor, Var};
use serde_json::Value;
use trainer::train::{
    AdamW, AdamWConfig, Error, Gradients, LrSchedule, ScheduleKind, SkipReason, StepOutcome,
    OPTIMIZER_FILE,
};

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/grpo/golden.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("read golden.json"))
        .expect("parse golden.json")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn values(var: &Var) -> Vec<f32> {
    var.as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

fn f32_tensor(v: &[f64], shape: &[usize]) -> Tensor {
    let data: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

#[test]
fn schedules_match_transformers() {
    let g = golden();
    for s in g["schedules"].as_array().unwrap() {
        let kind: ScheduleKind = serde_json::from_value(s["kind"].clone()).unwrap();
        let sched = LrSchedule {
            kind,
            warmup_steps: s["warmup_steps"].as_u64().unwrap(),
            total_steps: s["total_steps"].as_u64().unwrap(),
            num_cycles: 0.5,
        };
        for (step, want) in floats(&s["factors"]).into_iter().enumerate() {
            let got = sched.factor(step as u64);
            assert!(
                (got - want).abs() < 1e-12,
                "{kind:?} warmup {} total {} step {step}: {got} vs {want}",
                sched.warmup_steps,
                sched.total_steps
            );
        }
    }
}

/// Builds the variables and optimizer of a golden optimizer case.
fn setup(case: &Value) -> (Vec<(String, Var)>, AdamW, Vec<String>) {
    let mut cfg: AdamWConfig = serde_json::from_value(case["config"].clone()).unwrap();
    cfg.max_consecutive_skips = 3;
    let names = vec!["a".to_string(), "b".to_string()];
    let vars: Vec<(String, Var)> = names
        .iter()
        .map(|n| {
            let shape: Vec<usize> = case["shapes"][n]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            let var = Var::from_tensor(&f32_tensor(&floats(&case["init"][n]), &shape)).unwrap();
            (n.clone(), var)
        })
        .collect();
    let opt = AdamW::new(vars.clone(), cfg).unwrap();
    (vars, opt, names)
}

fn grads_of(case: &Value, step: usize, vars: &[(String, Var)]) -> Gradients {
    Gradients::new(
        vars.iter()
            .map(|(n, v)| {
                let g = &case["grads"][step][n];
                (!g.is_null()).then(|| f32_tensor(&floats(g), v.dims()))
            })
            .collect(),
    )
}

#[test]
fn adamw_with_clipping_and_schedule_matches_torch() {
    let g = golden();
    let mut worst = (0.0f64, 0.0f64);
    for case in g["optimizer"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (vars, mut opt, names) = setup(case);
        for (step, want) in case["steps"].as_array().unwrap().iter().enumerate() {
            let grads = grads_of(case, step, &vars);
            match opt.step(1.0, &grads).unwrap() {
                StepOutcome::Applied { lr, grad_norm } => {
                    let wlr = want["lr"].as_f64().unwrap();
                    let wnorm = want["grad_norm"].as_f64().unwrap();
                    assert!(
                        (lr - wlr).abs() < 1e-12,
                        "{name} step {step}: lr {lr} vs {wlr}"
                    );
                    let rel = (grad_norm - wnorm).abs() / wnorm;
                    assert!(
                        rel < 1e-6,
                        "{name} step {step}: norm {grad_norm} vs {wnorm}"
                    );
                    worst.1 = worst.1.max(rel);
                }
                other => panic!("{name} step {step}: {other:?}"),
            }
            for ((_, var), n) in vars.iter().zip(&names) {
                let want = floats(&want["params"][n]);
                for (i, (&got, w)) in values(var).iter().zip(want).enumerate() {
                    let e = (got as f64 - w).abs();
                    assert!(e < 1e-6, "{name} step {step} {n}[{i}]: {got} vs torch {w}");
                    worst.0 = worst.0.max(e);
                }
            }
        }
    }
    eprintln!(
        "AdamW vs torch: max |Δparam| = {:e}, max rel Δnorm = {:e}",
        worst.0, worst.1
    );
}

#[test]
fn save_restore_next_step_is_bit_identical() {
    let g = golden();
    let case = &g["optimizer"][0];
    let steps = case["steps"].as_array().unwrap().len();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(OPTIMIZER_FILE);

    // Uninterrupted run.
    let (vars, mut opt, _) = setup(case);
    let mut snapshot = None;
    for step in 0..steps {
        if step == 3 {
            opt.save_state(&path).unwrap();
            snapshot = Some(vars.iter().map(|(_, v)| values(v)).collect::<Vec<_>>());
        }
        opt.step(1.0, &grads_of(case, step, &vars)).unwrap();
    }
    let snapshot = snapshot.unwrap();

    // "Killed" after step 3: a fresh process rebuilds the variables from the saved adapter values
    // and the optimizer from its file.
    let (vars2, mut opt2, _) = setup(case);
    for ((_, v), data) in vars2.iter().zip(&snapshot) {
        v.set(&Tensor::from_vec(data.clone(), v.dims(), &Device::Cpu).unwrap())
            .unwrap();
    }
    opt2.load_state(&path).unwrap();
    assert_eq!(opt2.step_count(), 3);
    for step in 3..steps {
        opt2.step(1.0, &grads_of(case, step, &vars2)).unwrap();
    }
    for ((n, a), (_, b)) in vars.iter().zip(&vars2) {
        let (x, y) = (values(a), values(b));
        assert!(
            x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()),
            "{n}: resumed run differs from the uninterrupted one"
        );
    }
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1);
}

#[test]
fn restoring_into_different_variables_is_a_typed_error() {
    let g = golden();
    let case = &g["optimizer"][0];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(OPTIMIZER_FILE);
    let (_, opt, _) = setup(case);
    opt.save_state(&path).unwrap();

    let other =
        Var::from_tensor(&Tensor::zeros((4, 3), DType::F32, &Device::Cpu).unwrap()).unwrap();
    let b = Var::from_tensor(&Tensor::zeros(5, DType::F32, &Device::Cpu).unwrap()).unwrap();
    let mut wrong = AdamW::new(
        vec![("a".into(), other), ("b".into(), b)],
        AdamWConfig::with_lr(1e-3),
    )
    .unwrap();
    match wrong.load_state(&path) {
        Err(Error::StateMismatch { name, .. }) => assert_eq!(name, "a"),
        other => panic!("expected a shape mismatch, got {other:?}"),
    }
    std::fs::write(&path, b"not a safetensors file").unwrap();
    assert!(matches!(
        wrong.load_state(&path),
        Err(Error::StateFormat { .. })
    ));
}

#[test]
fn non_finite_steps_are_skipped_then_fail() {
    let g = golden();
    let case = &g["optimizer"][0];
    let (vars, mut opt, _) = setup(case);
    opt.step(1.0, &grads_of(case, 1, &vars)).unwrap();
    let before: Vec<Vec<f32>> = vars.iter().map(|(_, v)| values(v)).collect();

    let out = opt.step(f64::NAN, &grads_of(case, 1, &vars)).unwrap();
    assert!(matches!(
        out,
        StepOutcome::Skipped {
            reason: SkipReason::NonFiniteLoss(_),
            consecutive: 1
        }
    ));
    let mut bad = grads_of(case, 1, &vars);
    let nan = Tensor::full(f32::INFINITY, vars[1].1.dims(), &Device::Cpu).unwrap();
    bad = Gradients::new(vec![bad.get(0).cloned(), Some(nan)]);
    let out = opt.step(0.5, &bad).unwrap();
    assert!(matches!(
        out,
        StepOutcome::Skipped {
            reason: SkipReason::NonFiniteGradNorm(_),
            consecutive: 2
        }
    ));
    let after: Vec<Vec<f32>> = vars.iter().map(|(_, v)| values(v)).collect();
    assert_eq!(before, after, "a skipped step must not touch the variables");
    assert_eq!(opt.step_count(), 1);

    // A good step resets the run of skips; three in a row (the configured limit) is an error.
    assert!(matches!(
        opt.step(1.0, &grads_of(case, 2, &vars)).unwrap(),
        StepOutcome::Applied { .. }
    ));
    for _ in 0..2 {
        opt.step(f64::INFINITY, &grads_of(case, 2, &vars)).unwrap();
    }
    match opt.step(f64::NAN, &grads_of(case, 2, &vars)) {
        Err(Error::TooManySkips {
            consecutive: 3,
            limit: 3,
            ..
        }) => {}
        other => panic!("expected TooManySkips, got {other:?}"),
    }
    assert_eq!(opt.skipped_total(), 5);
}

#[test]
fn invalid_config_names_the_field() {
    let mut cfg = AdamWConfig::with_lr(1e-3);
    cfg.beta2 = 1.0;
    let e = AdamW::new(vec![], cfg).unwrap_err().to_string();
    assert!(e.contains("beta2"), "{e}");
    let mut cfg = AdamWConfig::with_lr(1e-3);
    cfg.schedule.kind = ScheduleKind::Cosine;
    let e = AdamW::new(vec![], cfg).unwrap_err().to_string();
    assert!(e.contains("total_steps"), "{e}");
}

/// Rewrites the optimizer record kept in the safetensors metadata of `path`.
fn edit_record(path: &std::path::Path, edit: impl Fn(&mut Value)) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let meta = header["__metadata__"].as_object_mut().unwrap();
    let key = meta.keys().next().unwrap().clone();
    let mut record: Value = serde_json::from_str(meta[&key].as_str().unwrap()).unwrap();
    edit(&mut record);
    meta.insert(key, Value::String(record.to_string()));
    let text = serde_json::to_vec(&header).unwrap();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn out_of_range_counters_in_a_saved_state_are_refused() {
    let g = golden();
    let case = &g["optimizer"][0];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(OPTIMIZER_FILE);
    let (vars, mut opt, _) = setup(case);
    opt.step(1.0, &grads_of(case, 0, &vars)).unwrap();
    opt.save_state(&path).unwrap();
    let pristine = std::fs::read(&path).unwrap();
    // The unedited file loads (the edit helper itself keeps it valid).
    edit_record(&path, |_| {});
    opt.load_state(&path).unwrap();
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 4] = [
        ("step", |r| r["step"] = u64::MAX.into()),
        ("skipped_total", |r| r["skipped_total"] = u64::MAX.into()),
        ("consecutive_skips", |r| r["consecutive_skips"] = 7.into()),
        ("var_steps", |r| {
            for v in r["var_steps"].as_object_mut().unwrap().values_mut() {
                *v = u64::MAX.into();
            }
        }),
    ];
    for (what, edit) in cases {
        std::fs::write(&path, &pristine).unwrap();
        edit_record(&path, edit);
        match opt.load_state(&path) {
            Err(Error::StateFormat { msg, .. }) => assert!(msg.contains(what), "{what}: {msg}"),
            other => panic!("{what}: expected a format error, got {other:?}"),
        }
    }
    // A refused file changed nothing: the next step still works.
    opt.step(1.0, &grads_of(case, 1, &vars)).unwrap();
}
