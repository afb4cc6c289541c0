//! Toolset construction: clustering determinism and size bounds over the shipped specs, with the
//! hashed embedding and with model embeddings of a tiny random model.

mod common;

use std::path::PathBuf;

use candle_core::{DType, Device};
use trainer::chat::Tokenizer;
use trainer::model::{Arch, Model, TensorMap};
use trainer::specs::{ingest_paths, IngestOptions, Tool};
use trainer::synth::expand_spec_paths;
use trainer::toolsets::{
    by_api, cluster, definition_text, ClusterOptions, Embedder, HashedEmbedder, ModelEmbedder,
};

fn tools() -> Vec<Tool> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs");
    ingest_paths(
        &expand_spec_paths(&[root]).unwrap(),
        &IngestOptions::default(),
    )
    .tools
}

#[test]
fn hashed_clustering_is_deterministic_and_bounded() {
    let t = tools();
    let e = HashedEmbedder { dim: 256 };
    let opts = ClusterOptions {
        seed: 3,
        min_size: 3,
        max_size: 6,
        ..Default::default()
    };
    let a = cluster(&t, &e, &opts).unwrap();
    let b = cluster(&t, &e, &opts).unwrap();
    assert_eq!(a, b);
    let mut members: Vec<&String> = a.iter().flat_map(|s| &s.tools).collect();
    assert_eq!(members.len(), t.len(), "every tool in exactly one toolset");
    members.sort();
    members.dedup();
    assert_eq!(members.len(), t.len());
    assert!(
        a.iter().all(|s| s.tools.len() <= 6 && s.tools.len() >= 3),
        "{a:?}"
    );
    assert!(a.iter().all(|s| !s.label.is_empty()));
    let ids: Vec<&str> = a.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids[0], "ts-000");
    // Tools of one API mostly stay together: the weather tools share a toolset with at least
    // one other weather tool.
    let weather = [
        "get_current_weather",
        "get_forecast",
        "get_air_quality",
        "get_weather_alerts",
    ];
    let home = a
        .iter()
        .find(|s| s.tools.iter().any(|n| n == "get_forecast"))
        .unwrap();
    assert!(
        home.tools
            .iter()
            .filter(|n| weather.contains(&n.as_str()))
            .count()
            >= 2,
        "{home:?}"
    );
}

#[test]
fn different_seeds_can_differ_but_each_is_stable() {
    let t = tools();
    let e = HashedEmbedder { dim: 64 };
    let runs: Vec<_> = (0..4)
        .map(|seed| {
            cluster(
                &t,
                &e,
                &ClusterOptions {
                    seed,
                    min_size: 2,
                    max_size: 5,
                    ..Default::default()
                },
            )
            .unwrap()
        })
        .collect();
    for (seed, r) in runs.iter().enumerate() {
        let again = cluster(
            &t,
            &e,
            &ClusterOptions {
                seed: seed as u64,
                min_size: 2,
                max_size: 5,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(r, &again);
    }
}

#[test]
fn by_api_groups_per_file() {
    let t = tools();
    let sets = by_api(&t, 100);
    assert_eq!(sets.len(), 7);
    let small = by_api(&t, 4);
    assert!(small.iter().all(|s| s.tools.len() <= 4));
    assert_eq!(small.iter().map(|s| s.tools.len()).sum::<usize>(), t.len());
}

#[test]
fn model_embeddings_are_batched_deterministic_and_unit() {
    if trainer::assets::skip_real_assets() {
        println!("skipped: TRAINER_SKIP_REAL_ASSETS=1");
        return;
    }
    let assets = trainer::assets::ensure_assets().unwrap_or_else(|e| panic!("{e}"));
    let tok = Tokenizer::from_dir(&assets.qwen3_tokenizer_dir).unwrap();
    let mut cfg = common::tiny_config(Arch::Qwen3);
    cfg.vocab_size = tok.vocab_size();
    let w = TensorMap::random(&cfg, 5, 0.2).unwrap();
    let model = Model::load(&cfg, &w, DType::F32, &Device::Cpu).unwrap();
    let t = tools();
    let texts: Vec<String> = t.iter().take(7).map(definition_text).collect();
    let batched = ModelEmbedder {
        model: &model,
        tokenizer: &tok,
        batch_size: 3,
        max_tokens: 64,
    };
    let single = ModelEmbedder {
        model: &model,
        tokenizer: &tok,
        batch_size: 1,
        max_tokens: 64,
    };
    let a = batched.embed(&texts).unwrap();
    let b = single.embed(&texts).unwrap();
    assert_eq!(a.len(), 7);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.len(), cfg.hidden_size);
        let norm: f32 = x.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        let diff = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-4, "padding changes the embedding by {diff}");
    }
    let sets = cluster(
        &t,
        &batched,
        &ClusterOptions {
            seed: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        sets,
        cluster(
            &t,
            &batched,
            &ClusterOptions {
                seed: 1,
                ..Default::default()
            }
        )
        .unwrap()
    );
}
