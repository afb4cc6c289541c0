//! Reading and writing safetensors files. Writing takes tensors that are computed only when their
//! bytes are written (merged LoRA weights), so a shard never needs all of its tensors in memory.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Dtype as StDtype, SafeTensors, View};

use super::error::{Error, Result};

/// The `torch_dtype` string of a candle dtype.
pub fn torch_dtype_name(dtype: DType) -> Result<&'static str> {
    Ok(match dtype {
        DType::F32 => "float32",
        DType::BF16 => "bfloat16",
        DType::F16 => "float16",
        DType::F64 => "float64",
        other => {
            return Err(Error::Adapter(format!(
                "weights cannot be exported as {other:?} (use f32, bf16, f16 or f64)"
            )))
        }
    })
}

/// A tensor to write: its name, on-disk dtype and shape, and how to compute it.
pub(crate) struct PendingTensor<'a> {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub make: Box<dyn Fn() -> Result<Tensor> + 'a>,
}

impl PendingTensor<'_> {
    pub fn byte_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size_in_bytes()
    }
}

/// Little-endian bytes of `t` converted to `dtype`.
fn tensor_bytes(t: &Tensor, dtype: DType) -> Result<Vec<u8>> {
    let t = t.to_dtype(dtype)?.flatten_all()?.to_device(&Device::Cpu)?;
    Ok(match dtype {
        DType::F32 => t
            .to_vec1::<f32>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DType::F64 => t
            .to_vec1::<f64>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DType::BF16 => t
            .to_vec1::<half::bf16>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DType::F16 => t
            .to_vec1::<half::f16>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        other => {
            return Err(Error::Adapter(format!(
                "cannot write tensors of dtype {other:?}"
            )))
        }
    })
}

/// `safetensors::View` over a [`PendingTensor`]; `data()` cannot fail, so the first error is
/// parked in `failed` and the writer reports it after the file is written.
struct LazyView<'p, 'a> {
    t: &'p PendingTensor<'a>,
    failed: &'p RefCell<Option<Error>>,
}

impl View for LazyView<'_, '_> {
    fn dtype(&self) -> StDtype {
        self.t.dtype.into()
    }

    fn shape(&self) -> &[usize] {
        &self.t.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        let len = self.t.byte_len();
        let produced = (self.t.make)().and_then(|x| {
            if x.dims() != self.t.shape.as_slice() {
                return Err(Error::Adapter(format!(
                    "tensor `{}` became {:?}, expected {:?}",
                    self.t.name,
                    x.dims(),
                    self.t.shape
                )));
            }
            tensor_bytes(&x, self.t.dtype)
        });
        match produced {
            Ok(bytes) if bytes.len() == len => Cow::Owned(bytes),
            Ok(bytes) => {
                self.failed
                    .borrow_mut()
                    .get_or_insert(Error::Adapter(format!(
                        "tensor `{}` produced {} bytes, expected {len}",
                        self.t.name,
                        bytes.len()
                    )));
                Cow::Owned(vec![0; len])
            }
            Err(e) => {
                self.failed.borrow_mut().get_or_insert(e);
                Cow::Owned(vec![0; len])
            }
        }
    }

    fn data_len(&self) -> usize {
        self.t.byte_len()
    }
}

/// Writes `tensors` to `path` (the safetensors crate writes a temporary file and renames it),
/// with `__metadata__ = {"format": "pt"}` as transformers and PEFT expect.
pub(crate) fn write_safetensors(path: &Path, tensors: &[PendingTensor<'_>]) -> Result<()> {
    let failed = RefCell::new(None);
    let views: Vec<(String, LazyView<'_, '_>)> = tensors
        .iter()
        .map(|t| (t.name.clone(), LazyView { t, failed: &failed }))
        .collect();
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(views, Some(meta), path).map_err(|e| Error::Safetensors {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })?;
    if let Some(e) = failed.into_inner() {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// Reads every tensor of a (small) safetensors file, in its on-disk dtype, sorted by name.
pub fn read_safetensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::Safetensors {
        path: path.to_path_buf(),
        msg: format!("not a valid safetensors file: {e}"),
    })?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let dtype = match DType::try_from(view.dtype()) {
            Ok(d @ (DType::F32 | DType::BF16 | DType::F16 | DType::F64)) => d,
            _ => {
                return Err(Error::Safetensors {
                    path: path.to_path_buf(),
                    msg: format!(
                        "tensor `{name}` has dtype {:?} (expected a float type)",
                        view.dtype()
                    ),
                })
            }
        };
        let t = Tensor::from_raw_buffer(view.data(), dtype, view.shape(), &Device::Cpu)?;
        out.push((name, t));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
