//! Gradients of a fixed list of trainable variables: collected from a backward pass, summed over
//! micro-batches, measured (global L2 norm) and clipped.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

use super::error::{Error, Result};

/// One optional gradient per trainable variable, in the optimizer's variable order. `None` means
/// the variable took no part in the loss (as a `None` `.grad` in PyTorch: the optimizer leaves it
/// untouched, weight decay included).
#[derive(Debug, Clone)]
pub struct Gradients {
    grads: Vec<Option<Tensor>>,
}

impl Gradients {
    /// No gradient for any of `n` variables (the start of an accumulation).
    pub fn empty(n: usize) -> Self {
        Gradients {
            grads: vec![None; n],
        }
    }

    /// Gradients given directly, one slot per variable in the optimizer's order.
    pub fn new(grads: Vec<Option<Tensor>>) -> Self {
        Gradients { grads }
    }

    /// Picks the gradients of `vars` out of a backward pass.
    pub fn from_store(vars: &[(String, Var)], store: &GradStore) -> Self {
        Gradients {
            grads: vars
                .iter()
                .map(|(_, v)| store.get(v.as_tensor()).cloned())
                .collect(),
        }
    }

    /// Number of variable slots.
    pub fn len(&self) -> usize {
        self.grads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }

    /// The gradient of variable `i`, if it has one.
    pub fn get(&self, i: usize) -> Option<&Tensor> {
        self.grads.get(i).and_then(Option::as_ref)
    }

    /// Adds another micro-batch's gradients (same variable list) into these.
    pub fn accumulate(&mut self, other: &Gradients) -> Result<()> {
        if other.grads.len() != self.grads.len() {
            return Err(Error::Invalid(format!(
                "cannot accumulate gradients of {} variables into {}",
                other.grads.len(),
                self.grads.len()
            )));
        }
        for (mine, theirs) in self.grads.iter_mut().zip(&other.grads) {
            if let Some(g) = theirs {
                let g = g.detach();
                *mine = Some(match mine.take() {
                    Some(acc) => (acc + g)?,
                    None => g,
                });
            }
        }
        Ok(())
    }

    /// Global L2 norm over all gradients (the `total_norm` of `torch.nn.utils.clip_grad_norm_`),
    /// accumulated in f64. NaN / ±∞ when any gradient holds one.
    pub fn global_norm(&self) -> Result<f64> {
        // One device → host transfer for all variables.
        let squares = self
            .grads
            .iter()
            .flatten()
            .map(|g| g.to_dtype(DType::F64)?.sqr()?.sum_all())
            .collect::<candle_core::Result<Vec<_>>>()?;
        if squares.is_empty() {
            return Ok(0.0);
        }
        let sum_sq = Tensor::stack(&squares, 0)?.sum_all()?.to_scalar::<f64>()?;
        Ok(sum_sq.sqrt())
    }

    /// The factor `clip_grad_norm_` scales gradients by: `min(max_norm / (norm + 1e-6), 1)`.
    pub fn clip_coefficient(norm: f64, max_norm: f64) -> f64 {
        (max_norm / (norm + 1e-6)).min(1.0)
    }
}
