//! The preallocated KV cache the engine relies on: in-place appends agree with concatenation,
//! clones never see each other's writes, row selection, growth past the reservation, and
//! gradients still flow through a cached `Mode::Train` forward.

mod common;

use candle_core::{DType, Device, Tensor};
use common::*;
use trainer::model::{
    token_logprobs, AdapterUse, Arch, Batch, KvCache, LogprobOptions, LoraConfig, LoraTarget, Mode,
    Model,
};

fn kv(b: usize, t: usize, seed: u32) -> Tensor {
    let data: Vec<f32> = ids(1, b * 2 * t * 3, 1000, seed)[0]
        .iter()
        .map(|&x| x as f32 / 1000.0)
        .collect();
    Tensor::from_vec(data, (b, 2, t, 3), &Device::Cpu).unwrap()
}

fn same(a: &Tensor, b: &Tensor) -> bool {
    a.dims() == b.dims() && max_abs_diff(a, b) == 0.0
}

#[test]
fn appends_in_place_equal_concatenation_and_growth() {
    for reserve in [0, 4, 64] {
        let mut c = KvCache::new(1);
        c.reserve(reserve);
        let parts: Vec<Tensor> = (0..5).map(|i| kv(2, 1 + i % 3, i as u32)).collect();
        let mut expect: Option<Tensor> = None;
        for p in &parts {
            let (k, v) = c.append(0, p, &(p * 2.0).unwrap()).unwrap();
            let e = match expect {
                None => p.clone(),
                Some(e) => Tensor::cat(&[&e, p], 2).unwrap(),
            };
            assert!(same(&k, &e), "reserve {reserve}");
            assert!(same(&v, &(&e * 2.0).unwrap()));
            assert_eq!(c.seq_len(), e.dim(2).unwrap());
            expect = Some(e);
        }
    }
}

#[test]
fn clones_do_not_see_each_others_writes() {
    let mut a = KvCache::new(1);
    a.reserve(16);
    let first = kv(1, 3, 1);
    a.append(0, &first, &first).unwrap();
    let mut b = a.clone();
    let xa = kv(1, 2, 2);
    let xb = kv(1, 2, 3);
    let (ka, _) = a.append(0, &xa, &xa).unwrap();
    let (kb, _) = b.append(0, &xb, &xb).unwrap();
    assert!(same(&ka, &Tensor::cat(&[&first, &xa], 2).unwrap()));
    assert!(same(&kb, &Tensor::cat(&[&first, &xb], 2).unwrap()));
    // And again, after both have diverged.
    let (ka, _) = a.append(0, &xb, &xb).unwrap();
    assert!(same(&ka, &Tensor::cat(&[&first, &xa, &xb], 2).unwrap()));
}

#[test]
fn select_and_repeat_rows_pick_the_right_rows() {
    let mut c = KvCache::new(2);
    c.reserve(8);
    let x = kv(3, 2, 5);
    c.append(0, &x, &x).unwrap();
    c.append(1, &x, &x).unwrap();
    let mut s = c.select_rows(&[2, 0, 0]).unwrap();
    // In place, layer by layer: the same rows, and the source it was cloned from is untouched.
    let mut r = c.clone();
    r.retain_rows(&[2, 0, 0]).unwrap();
    let y = kv(3, 1, 6);
    let (kr, _) = r.append(0, &y, &y).unwrap();
    let (k, _) = s.append(0, &y, &y).unwrap();
    let idx = Tensor::new(&[2u32, 0, 0], &Device::Cpu).unwrap();
    let want = Tensor::cat(&[&x.index_select(&idx, 0).unwrap(), &y], 2).unwrap();
    assert!(same(&k, &want));
    assert!(same(&kr, &want));
    // The source cache is untouched by the selection's append.
    let (k0, _) = c.append(0, &y, &y).unwrap();
    assert!(same(&k0, &Tensor::cat(&[&x, &y], 2).unwrap()));
    let mut r = c.repeat_rows(2).unwrap();
    let z = kv(6, 1, 7);
    let (k1, _) = r.append(1, &z, &z).unwrap();
    let idx = Tensor::new(&[0u32, 0, 1, 1, 2, 2], &Device::Cpu).unwrap();
    let want = Tensor::cat(&[&x.index_select(&idx, 0).unwrap(), &z], 2).unwrap();
    assert!(same(&k1, &want));
}

/// Sum of log-probs of a sequence's next tokens, computed in two cached chunks or in one pass.
fn loss(model: &Model, seq: &[u32], split: Option<usize>) -> Tensor {
    let n = seq.len() - 1;
    let x = &seq[..n];
    let tgt = ids_tensor(&[seq[1..].to_vec()]);
    let opts = LogprobOptions {
        temperature: 1.0,
        chunk_size: 8,
        entropy: false,
    };
    let hidden = match split {
        None => {
            let b = Batch::dense(model, 1, n, AdapterUse::On).unwrap();
            model
                .forward(&ids_tensor(&[x.to_vec()]), &b, None, Mode::Train)
                .unwrap()
        }
        Some(s) => {
            let mut cache = model.new_cache();
            let b1 = Batch::dense(model, 1, s, AdapterUse::On).unwrap();
            let h1 = model
                .forward(
                    &ids_tensor(&[x[..s].to_vec()]),
                    &b1,
                    Some(&mut cache),
                    Mode::Train,
                )
                .unwrap();
            let pos: Vec<u32> = (s as u32..n as u32).collect();
            let b2 = Batch::new(model, &[vec![true; n]], &[pos], AdapterUse::On).unwrap();
            let h2 = model
                .forward(
                    &ids_tensor(&[x[s..].to_vec()]),
                    &b2,
                    Some(&mut cache),
                    Mode::Train,
                )
                .unwrap();
            Tensor::cat(&[h1, h2], 1).unwrap()
        }
    };
    token_logprobs(model, &hidden, &tgt, opts)
        .unwrap()
        .0
        .sum_all()
        .unwrap()
}

#[test]
fn gradients_flow_through_a_cached_train_forward() {
    let (cfg, _, mut model) = tiny_model(Arch::Qwen2, DType::F64);
    model
        .attach_lora(&LoraConfig {
            r: 2,
            alpha: 4.0,
            targets: LoraTarget::ALL.to_vec(),
            use_rslora: false,
            seed: 5,
            layers: None,
        })
        .unwrap();
    for (name, var) in model.lora_vars() {
        if name.ends_with("lora_B.weight") {
            let (o, r) = var.as_tensor().dims2().unwrap();
            let data: Vec<f64> = ids(1, o * r, 1000, r as u32 + o as u32)[0]
                .iter()
                .map(|&x| (x as f64 / 1000.0 - 0.5) * 0.4)
                .collect();
            var.set(&Tensor::from_vec(data, (o, r), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    let seq = ids(1, 10, cfg.vocab_size, 9).remove(0);
    let full = loss(&model, &seq, None);
    let cached = loss(&model, &seq, Some(4));
    assert!(max_abs_diff(&full, &cached) < 1e-10);
    let gf = full.backward().unwrap();
    let gc = cached.backward().unwrap();
    let mut checked = 0;
    for (name, var) in model.lora_vars() {
        let a = gf.get(var.as_tensor()).expect("full-pass gradient");
        let b = gc
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient through the cached forward"));
        assert!(max_abs_diff(a, b) < 1e-9, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 2 * 7 * cfg.num_hidden_layers);
}

/// `extract_row` copies exactly the listed slots, in order, whether they form one run, two runs
/// around a gap, or many runs (the index path); `from_prefixes` right-aligns the prefixes (a
/// `take` of 0 is a row of padding only); `retain_rows` keeps the valid slots with the spare
/// capacity (the gather of valid slots only) and without it (whole rows).
#[test]
fn extract_assemble_and_retain_rows() {
    let x = kv(3, 5, 11);
    let x2 = (&x * 2.0).unwrap();
    let y = kv(1, 1, 12);
    for reserve in [0, 12] {
        let mut c = KvCache::new(2);
        c.reserve(reserve);
        c.append(0, &x, &x2).unwrap();
        c.append(1, &x2, &x).unwrap();
        let row = 1;
        let runs: [&[u32]; 5] = [
            &[0, 1, 2, 3, 4],
            &[2],
            &[0, 1, 3, 4],
            &[4, 0, 3, 1, 2, 0, 4, 1, 3, 2, 0],
            &[1, 2, 4],
        ];
        for slots in runs {
            let s = c.extract_row(row, slots).unwrap();
            let n = slots.len();
            assert_eq!(s.len(), n);
            let idx = Tensor::new(slots, &Device::Cpu).unwrap();
            let want = x.narrow(0, row, 1).unwrap().index_select(&idx, 2).unwrap();
            // Read the copy back through a cache assembled from it (one more slot appended).
            let t = n.min(2);
            let mut a = KvCache::from_prefixes(&[(&s, n), (&s, 0), (&s, t)], n, n + 1).unwrap();
            let y3 = Tensor::cat(&[&y, &y, &y], 0).unwrap();
            let (k, v) = a.append(0, &y3, &y3).unwrap();
            assert!(same(
                &k.narrow(0, 0, 1).unwrap(),
                &Tensor::cat(&[&want, &y], 2).unwrap()
            ));
            assert!(same(
                &v.narrow(0, 0, 1).unwrap(),
                &Tensor::cat(&[&(&want * 2.0).unwrap(), &y], 2).unwrap()
            ));
            let pad = Tensor::zeros((1, 2, n, 3), DType::F32, &Device::Cpu).unwrap();
            assert!(same(
                &k.narrow(0, 1, 1).unwrap(),
                &Tensor::cat(&[&pad, &y], 2).unwrap()
            ));
            let head = want.narrow(2, 0, t).unwrap();
            let pad = pad.narrow(2, 0, n - t).unwrap();
            assert!(same(
                &k.narrow(0, 2, 1).unwrap(),
                &Tensor::cat(&[&pad, &head, &y], 2).unwrap()
            ));
        }
        assert!(c.extract_row(row, &[]).is_err());
        assert!(c.extract_row(row, &[5]).is_err());
        let mut r = c.clone();
        r.retain_rows(&[2, 0, 2]).unwrap();
        assert!(r.retain_rows(&[3]).is_err());
        let y3 = kv(3, 1, 13);
        let (k, v) = r.append(1, &y3, &y3).unwrap();
        let idx = Tensor::new(&[2u32, 0, 2], &Device::Cpu).unwrap();
        let want = x.index_select(&idx, 0).unwrap();
        assert!(same(
            &k,
            &Tensor::cat(&[&(&want * 2.0).unwrap(), &y3], 2).unwrap()
        ));
        assert!(same(&v, &Tensor::cat(&[&want, &y3], 2).unwrap()));
    }
}
