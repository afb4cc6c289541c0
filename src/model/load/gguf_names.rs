//! llama.cpp tensor names ↔ Hugging Face names, and the Q/K row permutation llama.cpp applies to
//! `llama` models.
//!
//! llama.cpp's converter permutes the rows of `q_proj` / `k_proj` (weights and biases) of `llama`
//! models so that its rope kernel can rotate adjacent pairs; `qwen2` / `qwen3` use the NeoX
//! (half-split) rope kernel and are stored unpermuted.

use candle_core::Tensor;

/// Per-layer tensors: (llama.cpp suffix, HF suffix).
const LAYER_MAP: [(&str, &str); 14] = [
    ("attn_norm.weight", "input_layernorm.weight"),
    ("ffn_norm.weight", "post_attention_layernorm.weight"),
    ("attn_q.weight", "self_attn.q_proj.weight"),
    ("attn_q.bias", "self_attn.q_proj.bias"),
    ("attn_k.weight", "self_attn.k_proj.weight"),
    ("attn_k.bias", "self_attn.k_proj.bias"),
    ("attn_v.weight", "self_attn.v_proj.weight"),
    ("attn_v.bias", "self_attn.v_proj.bias"),
    ("attn_output.weight", "self_attn.o_proj.weight"),
    ("attn_q_norm.weight", "self_attn.q_norm.weight"),
    ("attn_k_norm.weight", "self_attn.k_norm.weight"),
    ("ffn_gate.weight", "mlp.gate_proj.weight"),
    ("ffn_up.weight", "mlp.up_proj.weight"),
    ("ffn_down.weight", "mlp.down_proj.weight"),
];

/// Whole-model tensors: (llama.cpp name, HF name).
const GLOBAL_MAP: [(&str, &str); 3] = [
    ("token_embd.weight", "model.embed_tokens.weight"),
    ("output_norm.weight", "model.norm.weight"),
    ("output.weight", "lm_head.weight"),
];

/// `blk.3.attn_q.weight` → `model.layers.3.self_attn.q_proj.weight`; `None` for tensors the
/// decoder does not use (e.g. `rope_freqs.weight`).
pub fn gguf_to_hf_name(name: &str) -> Option<String> {
    if let Some((_, hf)) = GLOBAL_MAP.iter().find(|(g, _)| *g == name) {
        return Some((*hf).to_string());
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, suffix) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (_, hf) = LAYER_MAP.iter().find(|(g, _)| *g == suffix)?;
    Some(format!("model.layers.{layer}.{hf}"))
}

/// The inverse of [`gguf_to_hf_name`].
pub fn hf_to_gguf_name(name: &str) -> Option<String> {
    if let Some((g, _)) = GLOBAL_MAP.iter().find(|(_, h)| *h == name) {
        return Some((*g).to_string());
    }
    let rest = name.strip_prefix("model.layers.")?;
    let (layer, suffix) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (g, _) = LAYER_MAP.iter().find(|(_, h)| *h == suffix)?;
    Some(format!("blk.{layer}.{g}"))
}

/// Undoes llama.cpp's Q/K permutation of a `[n_heads * head_dim, ...]` weight or bias:
/// `W_hf = W_gguf.reshape(n_heads, head_dim/2, 2, rest).transpose(1, 2).reshape(out, rest)`.
pub fn unpermute_rows(t: &Tensor, n_heads: usize) -> candle_core::Result<Tensor> {
    let dims = t.dims().to_vec();
    let out = dims.first().copied().unwrap_or(0);
    if n_heads == 0 || out % (2 * n_heads) != 0 {
        candle_core::bail!(
            "cannot un-permute {dims:?} rows for {n_heads} heads (rows must be a multiple of 2 × heads)"
        );
    }
    let half = out / n_heads / 2;
    let rest: usize = dims.iter().skip(1).product();
    t.reshape((n_heads, half, 2, rest))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape(dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for g in [
            "token_embd.weight",
            "output.weight",
            "output_norm.weight",
            "blk.0.attn_q.weight",
            "blk.11.attn_k.bias",
            "blk.2.attn_q_norm.weight",
            "blk.29.ffn_down.weight",
        ] {
            let h = gguf_to_hf_name(g).unwrap();
            assert_eq!(hf_to_gguf_name(&h).as_deref(), Some(g));
        }
        assert_eq!(
            gguf_to_hf_name("blk.3.ffn_norm.weight").as_deref(),
            Some("model.layers.3.post_attention_layernorm.weight")
        );
        assert_eq!(gguf_to_hf_name("rope_freqs.weight"), None);
        assert_eq!(gguf_to_hf_name("blk.x.attn_q.weight"), None);
    }
}
