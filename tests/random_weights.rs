//! `RandomWeights` (lazy random-init weights generated on the requesting device, for benchmarks
//! of model shapes without a checkpoint): the same tensor names and shapes as the seeded
//! `TensorMap::random`, the requested dtype, the stated distributions, and a model that loads
//! and runs on them.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{ids, ids_tensor, tiny_config, values};
use trainer::model::{
    AdapterUse, Arch, Batch, Mode, Model, RandomWeights, TensorMap, TensorSource,
};

fn mean_std(t: &Tensor) -> (f64, f64) {
    let v = values(t);
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[test]
fn same_tensors_as_the_seeded_map_with_the_stated_distributions() {
    for arch in [Arch::Qwen2, Arch::Qwen3, Arch::Llama] {
        let cfg = tiny_config(arch);
        let lazy = RandomWeights::new(&cfg, 0.02);
        let map = TensorMap::random(&cfg, 0, 0.02).expect("map");
        assert_eq!(lazy.names(), map.names(), "{arch:?}");
        for name in map.names() {
            assert!(lazy.contains(&name));
            let t = lazy.get(&name, DType::BF16, &Device::Cpu).expect("tensor");
            let want = map.get(&name, DType::F32, &Device::Cpu).expect("tensor");
            assert_eq!(t.dims(), want.dims(), "{arch:?} {name}");
            assert_eq!(t.dtype(), DType::BF16);
        }
        // 97 × 32 = 3104 draws: mean within 4 standard errors, std within 10 %.
        let (mean, std) = mean_std(
            &lazy
                .get("model.embed_tokens.weight", DType::F32, &Device::Cpu)
                .expect("embed"),
        );
        assert!(
            mean.abs() < 4.0 * 0.02 / 3104f64.sqrt() && (std / 0.02 - 1.0).abs() < 0.1,
            "{mean} {std}"
        );
        let (mean, std) = mean_std(
            &lazy
                .get("model.norm.weight", DType::F32, &Device::Cpu)
                .expect("norm"),
        );
        assert!(
            (mean - 1.0).abs() < 0.1 && std > 0.05 && std < 0.15,
            "{mean} {std}"
        );
        assert!(lazy
            .get("model.nope.weight", DType::F32, &Device::Cpu)
            .is_err());
    }
}

#[test]
fn a_model_loads_and_runs_on_them() {
    let cfg = tiny_config(Arch::Qwen2);
    let model = Model::load(
        &cfg,
        &RandomWeights::new(&cfg, 0.02),
        DType::BF16,
        &Device::Cpu,
    )
    .expect("load");
    let x = ids_tensor(&ids(2, 5, cfg.vocab_size, 1));
    let batch = Batch::dense(&model, 2, 5, AdapterUse::Off).expect("batch");
    let h = model
        .forward(&x, &batch, None, Mode::Infer)
        .expect("forward");
    assert_eq!(h.dims(), [2, 5, cfg.hidden_size]);
    assert!(values(&h).iter().all(|v| v.is_finite()));
}
