//! Embeddings of tool definitions.

use candle_core::Tensor;

use super::Result;
use crate::chat::Tokenizer;
use crate::model::{AdapterUse, Batch, Mode, Model};
use crate::specs::Tool;
use crate::synth::words::{fnv1a, humanize, singular, tokens};

/// The text embedded for a tool: name (as words), description and parameter names.
pub fn definition_text(tool: &Tool) -> String {
    let params: Vec<String> = tool
        .parameters
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|m| m.keys().map(|k| humanize(k)).collect())
        .unwrap_or_default();
    let mut text = format!("{}: {}", humanize(&tool.name), tool.description.trim());
    if !params.is_empty() {
        text.push_str(&format!(" Parameters: {}.", params.join(", ")));
    }
    text
}

/// Turns texts into vectors (unit length, one per text, same dimension).
pub trait Embedder {
    /// Embeds every text.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

/// A deterministic hashed bag-of-words embedding: each word (lower-cased, naively singular,
/// stop words dropped) adds ±1 to one of `dim` buckets chosen by its FNV-1a hash; the vector
/// is L2-normalized. Texts sharing words are close. The fallback when no model is used.
#[derive(Debug, Clone, Copy)]
pub struct HashedEmbedder {
    /// Vector size.
    pub dim: usize,
}

#[rustfmt::skip]
const STOP: &[&str] = &[
    "a", "an", "the", "of", "for", "to", "in", "on", "by", "and", "or", "with", "from", "is",
    "are", "be", "this", "that", "it", "as", "at", "parameters", "given", "specified", "its",
    // Generic API verbs and nouns say little about the domain.
    "get", "list", "search", "find", "create", "delete", "update", "add", "remove", "set",
    "return", "returns", "retrieve", "fetch", "id", "ids", "new", "all", "one", "another",
    "detail", "details", "info", "information", "data", "between", "status", "name",
];

impl Embedder for HashedEmbedder {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let dim = self.dim.max(1);
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; dim];
                for w in tokens(t) {
                    if STOP.contains(&w.as_str()) {
                        continue;
                    }
                    let h = fnv1a(singular(&w).as_bytes());
                    let slot = (h % dim as u64) as usize;
                    let sign = if (h >> 63) == 0 { 1.0 } else { -1.0 };
                    v[slot] += sign;
                }
                normalize(&mut v);
                v
            })
            .collect())
    }
}

/// Mean-pooled last hidden states of the configured model (adapter off), batched, each text
/// cut to `max_tokens`; vectors are L2-normalized.
pub struct ModelEmbedder<'a> {
    /// The model.
    pub model: &'a Model,
    /// Its tokenizer.
    pub tokenizer: &'a Tokenizer,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Longest text in tokens.
    pub max_tokens: usize,
}

impl Embedder for ModelEmbedder<'_> {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_size.max(1)) {
            let ids: Vec<Vec<u32>> = chunk
                .iter()
                .map(|t| {
                    let mut ids = self.tokenizer.encode(t, false)?;
                    ids.truncate(self.max_tokens.max(1));
                    if ids.is_empty() {
                        ids.push(0);
                    }
                    Ok(ids)
                })
                .collect::<Result<_>>()?;
            let t = ids.iter().map(Vec::len).max().unwrap_or(1);
            // Left padding, as the engine does.
            let mut flat = Vec::with_capacity(ids.len() * t);
            let mut mask = Vec::with_capacity(ids.len());
            for row in &ids {
                let pad = t - row.len();
                flat.extend(std::iter::repeat_n(0u32, pad));
                flat.extend_from_slice(row);
                let mut m = vec![false; pad];
                m.extend(std::iter::repeat_n(true, row.len()));
                mask.push(m);
            }
            let input = Tensor::from_vec(flat, (ids.len(), t), self.model.device())?;
            let batch = Batch::padded(self.model, &mask, AdapterUse::Off)?;
            let hidden = self.model.forward(&input, &batch, None, Mode::Infer)?;
            let pooled = self.model.mean_pool(&hidden, &mask)?;
            for mut v in pooled.to_vec2::<f32>()? {
                normalize(&mut v);
                out.push(v);
            }
        }
        Ok(out)
    }
}

/// An embedder that remembers every text it embedded: the refinement and the grouping embed
/// the same definitions once (and get the very same vectors).
pub struct Memo<'a> {
    inner: &'a dyn Embedder,
    seen: std::sync::Mutex<std::collections::HashMap<String, Vec<f32>>>,
}

impl<'a> Memo<'a> {
    /// Wraps `inner`.
    pub fn new(inner: &'a dyn Embedder) -> Self {
        Memo {
            inner,
            seen: Default::default(),
        }
    }
}

impl Embedder for Memo<'_> {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut missing: Vec<String> = Vec::new();
        for t in texts {
            if !seen.contains_key(t) && !missing.contains(t) {
                missing.push(t.clone());
            }
        }
        if !missing.is_empty() {
            let vectors = self.inner.embed(&missing)?;
            seen.extend(missing.into_iter().zip(vectors));
        }
        Ok(texts
            .iter()
            .map(|t| seen.get(t).cloned().unwrap_or_default())
            .collect())
    }
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_embeddings_are_unit_and_similar_for_shared_words() {
        let e = HashedEmbedder { dim: 64 };
        let v = e
            .embed(&[
                "get weather forecast for a city".into(),
                "weather forecast by city".into(),
                "send an email message".into(),
            ])
            .unwrap();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-5);
        assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]));
    }

    /// Counts the texts it is asked for.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl Embedder for Counting {
        fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
            self.0
                .fetch_add(texts.len(), std::sync::atomic::Ordering::Relaxed);
            HashedEmbedder { dim: 8 }.embed(texts)
        }
    }

    #[test]
    fn memo_embeds_each_text_once_and_returns_the_same_vectors() {
        let inner = Counting(Default::default());
        let memo = Memo::new(&inner);
        let a: Vec<String> = vec![
            "weather by city".into(),
            "send email".into(),
            "weather by city".into(),
        ];
        let first = memo.embed(&a).unwrap();
        assert_eq!(inner.0.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert_eq!(first[0], first[2]);
        let again = memo
            .embed(&["send email".to_string(), "book a flight".to_string()])
            .unwrap();
        assert_eq!(inner.0.load(std::sync::atomic::Ordering::Relaxed), 3);
        assert_eq!(again[0], first[1]);
        assert_eq!(
            again[1],
            HashedEmbedder { dim: 8 }
                .embed(&["book a flight".into()])
                .unwrap()[0]
        );
    }
}
