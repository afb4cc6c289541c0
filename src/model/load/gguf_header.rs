//! Reading a GGUF file's header through candle, with the one check candle's reader lacks: a
//! declared `general.alignment` of 0 makes it divide by zero (a panic, not an error). The
//! metadata section is walked once here to find that key; everything else — truncation, absurd
//! lengths, unknown value types — is left to candle's own (bounded) reader and its errors.

use std::io::{Read, Seek, SeekFrom};

use candle_core::quantized::gguf_file::Content;

/// Nesting limit of array values (candle's reader stops at 64 as well).
const MAX_DEPTH: usize = 64;

/// Reads the header (metadata and tensor directory) of a GGUF file from the start of `reader`.
/// The error is a message for the caller to wrap with the file's path.
pub(crate) fn read_gguf_header<R: Read + Seek>(reader: &mut R) -> Result<Content, String> {
    if let Some(0) = declared_alignment(reader) {
        return Err(
            "metadata `general.alignment` is 0 (it must be a positive power of two, \
                    usually 32)"
                .into(),
        );
    }
    reader.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    Content::read(reader).map_err(|e| e.to_string())
}

/// `general.alignment` as declared in the metadata, if the walk finds it as an integer. `None`
/// for anything unusual: candle's reader then reports (or accepts) the file as it would.
fn declared_alignment<R: Read + Seek>(r: &mut R) -> Option<u64> {
    let mut w = Walker { r, version: 0 };
    if w.u32()? != u32::from_le_bytes(*b"GGUF") {
        return None;
    }
    w.version = w.u32()?;
    if !(1..=3).contains(&w.version) {
        return None;
    }
    let _tensors = w.len()?;
    let kv_count = w.len()?;
    for _ in 0..kv_count {
        let key = w.string()?;
        let ty = w.u32()?;
        if key == b"general.alignment" {
            return match ty {
                0 | 1 => Some(u64::from(w.bytes::<1>()?[0])),
                2 | 3 => Some(u64::from(u16::from_le_bytes(w.bytes::<2>()?))),
                4 | 5 => Some(u64::from(w.u32()?)),
                _ => None,
            };
        }
        w.skip_value(ty, 0)?;
    }
    None
}

struct Walker<'a, R> {
    r: &'a mut R,
    version: u32,
}

impl<R: Read + Seek> Walker<'_, R> {
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).ok()?;
        Some(b)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes::<4>()?))
    }

    /// A count or length: u32 in version 1, u64 after.
    fn len(&mut self) -> Option<u64> {
        match self.version {
            1 => self.u32().map(u64::from),
            _ => Some(u64::from_le_bytes(self.bytes::<8>()?)),
        }
    }

    fn skip(&mut self, n: u64) -> Option<()> {
        let n = i64::try_from(n).ok()?;
        self.r.seek(SeekFrom::Current(n)).ok().map(|_| ())
    }

    /// A key: read when short enough to be `general.alignment`, skipped otherwise.
    fn string(&mut self) -> Option<Vec<u8>> {
        let n = self.len()?;
        if n > 64 {
            self.skip(n)?;
            return Some(Vec::new());
        }
        let mut b = vec![0u8; usize::try_from(n).ok()?];
        self.r.read_exact(&mut b).ok()?;
        Some(b)
    }

    fn skip_value(&mut self, ty: u32, depth: usize) -> Option<()> {
        if let Some(size) = fixed_size(ty) {
            return self.skip(size);
        }
        match ty {
            8 => {
                let n = self.len()?;
                self.skip(n)
            }
            9 if depth < MAX_DEPTH => {
                let inner = self.u32()?;
                let count = self.len()?;
                match fixed_size(inner) {
                    Some(size) => self.skip(count.checked_mul(size)?),
                    None => (0..count).try_for_each(|_| self.skip_value(inner, depth + 1)),
                }
            }
            _ => None,
        }
    }
}

/// Bytes of a fixed-size GGUF value type (u8/i8/bool, u16/i16, u32/i32/f32, u64/i64/f64).
fn fixed_size(ty: u32) -> Option<u64> {
    match ty {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use candle_core::quantized::gguf_file::{self, Value};
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    use super::*;

    /// A small GGUF file with the given metadata (plus arrays of strings and numbers before
    /// it, so the walk has to skip them) and one f32 tensor.
    fn gguf_with(extra: Vec<(&str, Value)>) -> Vec<u8> {
        let t = Tensor::arange(0f32, 8., &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, GgmlDType::F32).unwrap();
        let mut meta = vec![
            ("general.architecture", Value::String("llama".into())),
            (
                "tokenizer.ggml.tokens",
                Value::Array(vec![Value::String("a".into()), Value::String("bc".into())]),
            ),
            (
                "tokenizer.ggml.scores",
                Value::Array(vec![Value::F32(0.5), Value::F32(1.5)]),
            ),
            (
                "nested",
                Value::Array(vec![Value::Array(vec![Value::U64(7)])]),
            ),
        ];
        meta.extend(extra);
        let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (*k, v)).collect();
        let mut out = Cursor::new(Vec::new());
        gguf_file::write(&mut out, &meta_refs, &[("w", &q)]).unwrap();
        out.into_inner()
    }

    #[test]
    fn alignment_zero_is_an_error_not_a_panic() {
        for v in [Value::U32(0), Value::U8(0), Value::I32(0), Value::U16(0)] {
            let bytes = gguf_with(vec![("general.alignment", v.clone())]);
            let err = read_gguf_header(&mut Cursor::new(bytes)).unwrap_err();
            assert!(err.contains("general.alignment` is 0"), "{v:?}: {err}");
        }
    }

    #[test]
    fn other_alignments_and_files_read_as_candle_reads_them() {
        let plain = gguf_with(vec![]);
        let c = read_gguf_header(&mut Cursor::new(plain.clone())).unwrap();
        assert!(c.tensor_infos.contains_key("w"));
        assert_eq!(declared_alignment(&mut Cursor::new(plain)), None);
        let aligned = gguf_with(vec![("general.alignment", Value::U32(32))]);
        assert_eq!(
            declared_alignment(&mut Cursor::new(aligned.clone())),
            Some(32)
        );
        let c = read_gguf_header(&mut Cursor::new(aligned)).unwrap();
        assert_eq!(c.tensor_data_offset % 32, 0);
    }

    #[test]
    fn truncated_or_foreign_files_get_candles_error() {
        let bytes = gguf_with(vec![("general.alignment", Value::U32(0))]);
        // Cut inside the metadata: the walk gives up, candle reports the truncation.
        let cut = bytes[..40].to_vec();
        assert!(read_gguf_header(&mut Cursor::new(cut)).is_err());
        let err = read_gguf_header(&mut Cursor::new(b"PK\x03\x04 not gguf".to_vec())).unwrap_err();
        assert!(!err.is_empty());
    }
}
