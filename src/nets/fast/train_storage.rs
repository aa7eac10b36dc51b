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
