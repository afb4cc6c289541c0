//! The training path of a tiny adapted model on any device: seeded LoRA, a padded batch, weighted
//! target log-probs (chunked, tempered, with entropy) and every LoRA gradient. Shared by the GPU
//! parity test and the CPU wiring test of the CUDA kernels.

use candle_core::{DType, Device, Tensor};
use trainer::model::{
    token_logprobs, AdapterUse, Arch, Batch, LogprobOptions, LoraConfig, LoraTarget, Mode, Model,
};

use super::{ids, ids_tensor, tiny_config, tiny_weights};

pub fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// A `dtype` model with the same seeded LoRA (r = 2 on every target, non-zero B) on `device`;
/// returns the vocabulary size too.
pub fn adapted(arch: Arch, dtype: DType, device: &Device, checkpointing: bool) -> (usize, Model) {
    let cfg = tiny_config(arch);
    let w = tiny_weights(&cfg, 7);
    let mut model = Model::load(&cfg, &w, dtype, device).unwrap();
    model
        .attach_lora(&LoraConfig {
            r: 2,
            alpha: 4.0,
            targets: LoraTarget::ALL.to_vec(),
            use_rslora: false,
            seed: 3,
            layers: None,
        })
        .unwrap();
    for (i, (name, var)) in model.lora_vars().into_iter().enumerate() {
        if name.ends_with("lora_B.weight") {
            let (o, r) = var.as_tensor().dims2().unwrap();
            let data: Vec<f32> = ids(1, o * r, 1000, 40 + i as u32)[0]
                .iter()
                .map(|&x| (x as f32 / 1000.0 - 0.5) * 0.4)
                .collect();
            let t = Tensor::from_vec(data, (o, r), device)
                .unwrap()
                .to_dtype(var.as_tensor().dtype())
                .unwrap();
            var.set(&t).unwrap();
        }
    }
    model.set_gradient_checkpointing(checkpointing);
    (cfg.vocab_size, model)
}

/// Weighted target log-probs over a left-padded batch of 2 rows, and every LoRA gradient (CPU).
pub fn loss_and_grads(
    model: &Model,
    vocab: usize,
    device: &Device,
) -> (f64, Vec<(String, Tensor)>) {
    let x = ids_tensor(&ids(2, 9, vocab, 11)).to_device(device).unwrap();
    let tg = ids_tensor(&ids(2, 9, vocab, 12)).to_device(device).unwrap();
    let mask = vec![vec![true; 9], [vec![false; 2], vec![true; 7]].concat()];
    let batch = Batch::padded(model, &mask, AdapterUse::Rows(vec![true, true])).unwrap();
    let h = model.forward(&x, &batch, None, Mode::Train).unwrap();
    let opts = LogprobOptions {
        temperature: 0.9,
        chunk_size: 4,
        entropy: true,
    };
    let (lp, _) = token_logprobs(model, &h, &tg, opts).unwrap();
    let w: Vec<f32> = (0..18).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
    let w = Tensor::from_vec(w, (2, 9), device)
        .unwrap()
        .to_dtype(lp.dtype())
        .unwrap();
    let loss = (lp * w).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let named = model
        .lora_vars()
        .into_iter()
        .map(|(n, v)| {
            let g = grads
                .get(v.as_tensor())
                .unwrap_or_else(|| panic!("{n}: no gradient on {:?}", device.location()))
                .to_device(&Device::Cpu)
                .unwrap();
            (n, g)
        })
        .collect();
    (scalar(&loss), named)
}
