//! Tool-definition embeddings from an OpenAI-compatible `POST {url}/embeddings` endpoint.

use std::time::Duration;

use serde_json::{json, Value as Json};

use super::http::Http;
use super::{api_key, join_url, parallel_map, Error, Result};
use crate::config::EndpointSection;
use crate::toolsets::Embedder;

/// Texts per request.
const CHUNK: usize = 64;

/// An [`Embedder`] over `/embeddings`; vectors are L2-normalized here (servers differ).
#[derive(Debug)]
pub struct OpenAiEmbedder {
    http: Http,
    url: String,
    model: String,
    concurrency: usize,
}

impl OpenAiEmbedder {
    /// An embedder for an endpoint table (reads the API key from the environment now).
    pub fn new(ep: &EndpointSection) -> Result<OpenAiEmbedder> {
        Ok(OpenAiEmbedder {
            http: Http::new(
                Duration::from_secs_f64(ep.timeout_s),
                api_key(ep)?,
                ep.max_retries,
            ),
            url: join_url(&ep.url, "embeddings"),
            model: ep.model.clone(),
            concurrency: ep.concurrency.max(1),
        })
    }

    /// Embeds `texts` (in order), without normalizing.
    pub fn embed_raw(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let chunks: Vec<&[String]> = texts.chunks(CHUNK).collect();
        let parts = parallel_map(
            chunks.len(),
            self.concurrency,
            |i| self.embed_chunk(chunks.get(i).copied().unwrap_or_default()),
            || Error::Transport {
                url: self.url.clone(),
                attempts: 0,
                message: "a request worker stopped without a result".into(),
            },
        )?;
        let out: Vec<Vec<f32>> = parts.into_iter().flatten().collect();
        if let Some(dim) = out.first().map(Vec::len) {
            if let Some(i) = out.iter().position(|v| v.len() != dim) {
                return Err(self.bad(
                    format!("/data/{}", i % CHUNK),
                    format!(
                        "embedding of text {i} has {} dimensions, the first has {dim}",
                        out.get(i).map_or(0, Vec::len)
                    ),
                ));
            }
        }
        Ok(out)
    }

    fn bad(&self, pointer: String, message: String) -> Error {
        Error::BadResponse {
            url: self.url.clone(),
            pointer,
            message,
        }
    }

    fn embed_chunk(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let body = json!({"model": self.model, "input": texts, "encoding_format": "float"});
        let v = self.http.post_json(&self.url, &body)?;
        let data = v
            .get("data")
            .and_then(Json::as_array)
            .ok_or_else(|| self.bad("/data".into(), "missing or not an array".into()))?;
        if data.len() != texts.len() {
            return Err(self.bad(
                "/data".into(),
                format!("{} embeddings for {} inputs", data.len(), texts.len()),
            ));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (k, item) in data.iter().enumerate() {
            let index = match item.get("index") {
                None => k,
                Some(i) => i
                    .as_u64()
                    .map(|i| i as usize)
                    .filter(|i| *i < texts.len())
                    .ok_or_else(|| {
                        self.bad(
                            format!("/data/{k}/index"),
                            format!("{i} is not an input index"),
                        )
                    })?,
            };
            let vec = item
                .get("embedding")
                .and_then(Json::as_array)
                .ok_or_else(|| {
                    self.bad(
                        format!("/data/{k}/embedding"),
                        "missing or not an array of numbers".into(),
                    )
                })?
                .iter()
                .enumerate()
                .map(|(j, x)| {
                    x.as_f64().map(|x| x as f32).ok_or_else(|| {
                        self.bad(format!("/data/{k}/embedding/{j}"), "not a number".into())
                    })
                })
                .collect::<Result<Vec<f32>>>()?;
            if let Some(slot) = out.get_mut(index) {
                *slot = Some(vec);
            }
        }
        out.into_iter()
            .enumerate()
            .map(|(i, v)| {
                v.ok_or_else(|| self.bad("/data".into(), format!("no embedding for input {i}")))
            })
            .collect()
    }
}

impl Embedder for OpenAiEmbedder {
    fn embed(&self, texts: &[String]) -> crate::toolsets::Result<Vec<Vec<f32>>> {
        let mut out = self.embed_raw(texts)?;
        for v in &mut out {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0.0 {
                v.iter_mut().for_each(|x| *x /= n);
            }
        }
        Ok(out)
    }
}
