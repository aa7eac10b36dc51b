//! How the fast training ops read Candle's CPU storage: borrowed where it is contiguous,
//! copied in row-major order where a layout is strided (a transposed or narrowed view).
use candle_core::{CpuStorage, Layout, Storage, Tensor};

/// A contiguous f32 copy of a storage's values in `layout`'s order.
fn values(storage: &CpuStorage, layout: &Layout) -> candle_core::Result<Vec<f32>> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("fast conv2d: expected f32 values")
    };
    if let Some((start, end)) = layout.contiguous_offsets() {
        return Ok(data[start..end].to_vec());
    }
    // A strided view (a transposed or narrowed tensor): walk its indices in row-major order.
    let (dims, strides) = (layout.dims(), layout.stride());
    let mut out = Vec::with_capacity(layout.shape().elem_count());
    let mut index = vec![0usize; dims.len()];
    for _ in 0..layout.shape().elem_count() {
        let offset: usize = index.iter().zip(strides).map(|(i, s)| i * s).sum();
        out.push(data[layout.start_offset() + offset]);
        for d in (0..dims.len()).rev() {
            index[d] += 1;
            if index[d] < dims[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(out)
}

/// Runs `f` on `t`'s values in row-major order, borrowing them when they are contiguous.
pub(super) fn with_values<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    {
        let (storage, layout) = t.storage_and_layout();
        if let (Storage::Cpu(CpuStorage::F32(data)), Some((start, end))) =
            (&*storage, layout.contiguous_offsets())
        {
            return Ok(f(&data[start..end]));
        }
    }
    Ok(f(&t.flatten_all()?.to_vec1::<f32>()?))
}

/// Runs `f` on `t`'s values, mutably, in place: `t` must be a contiguous f32 CPU tensor.
/// Candle gives mutable access to a storage only inside an in-place op, one tensor per op;
/// nesting these calls lets one pass update several tensors (Adam's parameter and moments).
pub(super) fn with_values_mut<R: Send>(
    t: &Tensor,
    f: impl FnOnce(&mut [f32]) -> R + Send,
) -> candle_core::Result<R> {
    let access = MutAccess {
        f: std::sync::Mutex::new(Some(f)),
        out: std::sync::Mutex::new(None),
    };
    t.inplace_op1(&access)?;
    let out = access.out.into_inner().ok().flatten();
    out.ok_or_else(|| candle_core::Error::Msg("in-place access: the op did not run".into()))
}

/// The in-place op of [`with_values_mut`]: calls its closure once on the destination.
struct MutAccess<F, R> {
    f: std::sync::Mutex<Option<F>>,
    out: std::sync::Mutex<Option<R>>,
}

impl<F: FnOnce(&mut [f32]) -> R + Send, R: Send> candle_core::InplaceOp1 for MutAccess<F, R> {
    fn name(&self) -> &'static str {
        "scenepaint-fast-values-mut"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let (CpuStorage::F32(data), Some((start, end))) = (storage, layout.contiguous_offsets())
        else {
            candle_core::bail!("in-place access: expected contiguous f32 values")
        };
        let lock = |e: &str| candle_core::Error::Msg(format!("in-place access: {e} lock poisoned"));
        let f = self.f.lock().map_err(|_| lock("closure"))?.take();
        let Some(f) = f else {
            candle_core::bail!("in-place access: the op ran twice")
        };
        let result = f(&mut data[start..end]);
        *self.out.lock().map_err(|_| lock("result"))? = Some(result);
        Ok(())
    }
}

/// `storage`'s values in `layout`'s order, borrowed when contiguous.
pub(super) fn storage_values<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<std::borrow::Cow<'a, [f32]>> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("fast training op: expected f32 values")
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(std::borrow::Cow::Borrowed(&data[start..end])),
        // A strided view (rare: these ops follow convolutions).
        None => Ok(std::borrow::Cow::Owned(values(storage, layout)?)),
    }
}

/// Values per task of [`collect_par`].
const COLLECT_CHUNK: usize = 1 << 14;

/// A new vector of `len` values computed on the rayon pool, chunk by chunk: `values(range)`
/// yields the values of indices `range`. The memory is written once, not zeroed first (the
/// zeroing of element-wise ops' results was 1-2 % of a SPADE training step). A chunk whose
/// iterator is short is padded with zeros, so every value is initialised.
pub(super) fn collect_par<I>(
    len: usize,
    values: impl Fn(std::ops::Range<usize>) -> I + Sync,
) -> Vec<f32>
where
    I: Iterator<Item = f32>,
{
    use rayon::prelude::*;
    let mut out: Vec<f32> = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(COLLECT_CHUNK)
        .enumerate()
        .for_each(|(i, chunk)| {
            let start = i * COLLECT_CHUNK;
            let (mut written, end) = (0, start + chunk.len());
            for (slot, v) in chunk.iter_mut().zip(values(start..end)) {
                slot.write(v);
                written += 1;
            }
            for slot in &mut chunk[written..] {
                slot.write(0.0);
            }
        });
    // SAFETY: every one of the `len` slots was written above: the first `written` of each
    // chunk from its iterator, the rest with 0.
    unsafe { out.set_len(len) };
    out
}

#[cfg(test)]
mod tests {
    use super::collect_par;

    #[test]
    fn collect_par_writes_every_value_in_order_and_pads_short_chunks() {
        let len = 3 * super::COLLECT_CHUNK + 17;
        let v = collect_par(len, |r| r.map(|i| i as f32));
        assert_eq!(v.len(), len);
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as f32));
        let short = collect_par(len, |r| r.take(5).map(|i| i as f32 + 1.0));
        for (i, &x) in short.iter().enumerate() {
            let expected = if i % super::COLLECT_CHUNK < 5 {
                i as f32 + 1.0
            } else {
                0.0
            };
            assert_eq!(x, expected, "index {i}");
        }
    }
}
