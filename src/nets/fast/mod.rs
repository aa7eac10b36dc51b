//! The fast CPU inference path of the generators (issue 8): the same networks as the Candle
//! ports (`pix2pix.rs`, `pix2pixhd.rs`, `spade_generator.rs`), eval mode only, rebuilt from a
//! loaded Candle generator's weights into kernels of our own:
//!
//! - convolutions as im2col + the `gemm` crate in cache-sized tiles on the current rayon pool,
//!   bias/residual/activation fused (`conv.rs`); transposed convolutions as one dense product
//!   per stride phase, no scatter-add (`transpose.rs`);
//! - batch norm (eval) folded into the preceding convolution; padding layers folded into the
//!   convolution's gather tables;
//! - SPADE's modulation computed once per distinct label neighbourhood: inside a region of one
//!   class, `gamma` and `beta` are constants per class, so only pixels near a class boundary
//!   (or the image border) go through the `mlp_gamma`/`mlp_beta` convolutions, and
//!   `mlp_shared` over a one-hot map is a table lookup per kernel tap (`spade_norm.rs`).
//!
//! Results equal the Candle path up to float summation order (`tests/fast_cpu.rs`). Threads:
//! whatever rayon pool the caller runs in (`RAYON_NUM_THREADS` for the global one).
pub mod conv;
pub mod gather;
mod gemm;
pub mod inception;
mod lookup;
mod mat_transpose;
pub mod ops;
pub mod pix2pix;
pub mod pix2pixhd;
pub mod planes;
pub mod region;
mod seg;
mod seg_hidden;
pub(crate) mod simd;
pub mod spade_generator;
pub mod spade_incremental;
mod spade_norm;
mod tanh;
pub mod train_conv;
mod train_conv_backward;
mod train_conv_direct;
mod train_conv_few;
mod train_conv_geometry;
mod train_conv_input_grad;
mod train_conv_lookup;
mod train_conv_transpose;
mod train_conv_weight_grad;
pub mod train_frozen;
pub mod train_loss;
pub mod train_modulation;
pub mod train_norm;
mod train_norm_planes;
pub mod train_ops;
pub(crate) mod train_pad;
pub(crate) mod train_pool;
mod train_storage;
#[cfg(test)]
pub(crate) mod train_testing;
pub mod training_path;
pub mod transpose;
pub mod winograd;

use candle_core::{Device, Tensor};

use super::generator::Generator;
use super::layers::{self, Norm2d};
pub use planes::Planes;

/// Errors of the fast path (defined with the crate's other errors).
pub use crate::error::FastError;

/// Runs `work` on a worker of a rayon pool of its own, as many threads as the current pool
/// has (the global one, `RAYON_NUM_THREADS`, from the CLI); inline when the caller is already
/// a pool worker (the training panel's thread runs in the panel's own pool). Why a worker: a
/// parallel loop started from outside a pool is handed to the pool while the caller sleeps
/// until it ends, two thread switches per loop and a core's worth of waiting; started on a
/// worker, that worker takes part. pix2pixhd-compact, `bench --train` (AMD EPYC, 2 threads):
/// 27-30 K context switches per run against 5.1-5.3 K, 0.353 against 0.326 s per step
/// (`docs/bench/train-lookup-2026-12-06-s12.txt`). Why a pool of its own: a worker waiting
/// inside a parallel loop runs other jobs of its pool, and in a shared pool that can be a
/// whole other run, which would then see this thread's thread-locals (the discriminator's
/// frozen weights during the generator step: two trainers in one test process on the global
/// pool did not resume exactly).
pub fn on_pool_worker<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return work();
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .thread_name(|i| format!("scenepaint-run-{i}"))
        .build()
    {
        Ok(pool) => pool.install(work),
        // No threads to be had: the calling thread, as before.
        Err(_) => work(),
    }
}

/// Which implementation runs a generator's inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InferencePath {
    /// Our kernels on the CPU device, Candle elsewhere.
    #[default]
    Auto,
    /// The plain Candle networks everywhere (the comparison baseline).
    Candle,
}

/// Environment variable that forces the Candle path: `SCENEPAINT_INFERENCE=candle`.
pub const INFERENCE_ENV: &str = "SCENEPAINT_INFERENCE";

impl InferencePath {
    /// `Candle` when `SCENEPAINT_INFERENCE=candle`, else `Auto`.
    pub fn from_env() -> Self {
        match std::env::var(INFERENCE_ENV) {
            Ok(v) if v.eq_ignore_ascii_case("candle") => Self::Candle,
            _ => Self::Auto,
        }
    }

    /// True when inference on `device` goes through [`FastGenerator`].
    pub fn uses_fast(self, device: &Device) -> bool {
        self == Self::Auto && device.is_cpu()
    }
}

/// A generator rebuilt for fast CPU inference (eval mode).
#[derive(Debug, Clone)]
pub enum FastGenerator {
    Unet(pix2pix::FastUnet),
    Global(pix2pixhd::FastGlobal),
    Local(pix2pixhd::FastLocal),
    Spade(spade_generator::FastSpade),
}

impl FastGenerator {
    /// Copies `generator`'s eval-mode weights (spectral norm applied, batch norm folded).
    pub fn from_generator(generator: &Generator) -> Result<Self, FastError> {
        Ok(match generator {
            Generator::Pix2pixUnet(g) => Self::Unet(pix2pix::FastUnet::new(g)?),
            Generator::Pix2pixhdGlobal(g) => Self::Global(pix2pixhd::FastGlobal::new(g)?),
            Generator::Pix2pixhdLocal(g) => Self::Local(pix2pixhd::FastLocal::new(g)?),
            Generator::Spade(g) => Self::Spade(spade_generator::FastSpade::new(g)?),
        })
    }

    /// The eval-mode forward of an (N, C, H, W) input, like [`Generator::forward`]; `z` is
    /// the style code of SPADE VAE models (sampled when `None`), ignored otherwise.
    pub fn forward(&self, input: &Tensor, z: Option<&Tensor>) -> Result<Tensor, FastError> {
        let samples = Planes::from_batch(input)?;
        let outputs = match self {
            Self::Unet(g) => samples.iter().map(|x| g.forward(x)).collect(),
            Self::Global(g) => samples.iter().map(|x| g.forward(x)).collect(),
            Self::Local(g) => samples.iter().map(|x| g.forward(x)).collect(),
            Self::Spade(g) => g.forward_batch(&samples, z),
        };
        Planes::to_batch(outputs?, input.device())
    }

    /// Multiply-accumulates of one forward at `height x width` per convolution kind, as the
    /// dense network computes them (for GFLOP/s figures).
    pub fn family(&self) -> &'static str {
        match self {
            Self::Unet(_) => "pix2pix_unet",
            Self::Global(_) => "pix2pixhd_global",
            Self::Local(_) => "pix2pixhd_local",
            Self::Spade(_) => "spade",
        }
    }
}

/// A Candle tensor's values as f32.
fn values(tensor: &Tensor) -> Result<Vec<f32>, FastError> {
    planes::tensor_values(tensor)
}

/// A fast convolution with the weights of a Candle `Conv2d`.
fn conv_from(
    conv: &layers::Conv2d,
    pad: (usize, gather::PadMode),
) -> Result<conv::Conv2d, FastError> {
    let g = conv.geometry();
    conv::Conv2d::new(
        g.in_channels,
        g.out_channels,
        g.kernel,
        g.stride,
        pad,
        values(conv.weight())?,
        conv.bias().map(values).transpose()?,
    )
}

/// A fast convolution with the eval-mode weights of a possibly spectral-norm Candle conv.
fn maybe_spectral_from(conv: &layers::MaybeSpectralConv2d) -> Result<conv::Conv2d, FastError> {
    let (weight, bias, g) = conv.eval_weight_bias()?;
    conv::Conv2d::new(
        g.in_channels,
        g.out_channels,
        g.kernel,
        g.stride,
        (g.padding, gather::PadMode::Zero),
        values(&weight)?,
        bias.as_ref().map(values).transpose()?,
    )
}

fn conv_transpose_from(
    conv: &layers::ConvTranspose2d,
) -> Result<transpose::ConvTranspose2d, FastError> {
    let g = conv.geometry();
    transpose::ConvTranspose2d::new(
        g.in_channels,
        g.out_channels,
        g.kernel,
        (g.stride, g.padding, conv.output_padding()),
        &values(conv.weight())?,
        conv.bias().map(values).transpose()?,
    )
}

/// Eval-mode batch norm as a per-channel (scale, shift).
fn batch_norm_from(bn: &layers::BatchNorm2d) -> Result<Vec<ops::ChannelNorm>, FastError> {
    let (mean, var, affine, eps) = bn.eval_parts();
    let (weight, bias) = match affine {
        Some((w, b)) => (Some(values(w)?), Some(values(b)?)),
        None => (None, None),
    };
    Ok(ops::batch_norm_affine(
        &values(mean)?,
        &values(var)?,
        weight.as_deref(),
        bias.as_deref(),
        eps,
    ))
}

/// A normalization after a convolution, as the fast path applies it.
#[derive(Debug, Clone)]
enum NormStep {
    /// Folded into the convolution (batch norm in eval mode) or absent.
    Folded,
    Instance,
}

/// Folds `norm` into a conv through `fold` where it can; otherwise says it runs separately.
fn fold_norm(
    norm: Option<&Norm2d>,
    fold: impl FnOnce(&[f32], &[f32]),
) -> Result<NormStep, FastError> {
    Ok(match norm {
        Some(Norm2d::Batch(bn)) => {
            let (scale, shift): (Vec<f32>, Vec<f32>) = batch_norm_from(bn)?
                .into_iter()
                .map(ops::ChannelNorm::as_scale_shift)
                .unzip();
            fold(&scale, &shift);
            NormStep::Folded
        }
        Some(Norm2d::Instance) => NormStep::Instance,
        Some(Norm2d::Identity) | None => NormStep::Folded,
    })
}

#[cfg(test)]
mod pool_tests {
    use super::on_pool_worker;

    #[test]
    fn work_runs_on_a_pool_worker_and_inline_on_one() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a rayon pool");
        let outside = std::thread::current().id();
        let (on_worker, thread) = pool.install(|| {
            let caller = rayon::current_thread_index();
            let inner =
                on_pool_worker(|| (rayon::current_thread_index(), std::thread::current().id()));
            (caller == inner.0, inner.1)
        });
        assert!(
            on_worker,
            "inside a pool the work stays on the calling worker"
        );
        assert_ne!(thread, outside);
        let (index, threads, name) = on_pool_worker(|| {
            let name = std::thread::current().name().map(str::to_owned);
            (
                rayon::current_thread_index(),
                rayon::current_num_threads(),
                name,
            )
        });
        assert!(
            index.is_some(),
            "from outside a pool the work goes to a worker"
        );
        assert_eq!(
            threads,
            rayon::current_num_threads(),
            "as many threads as before"
        );
        assert!(
            name.is_some_and(|n| n.starts_with("scenepaint-run-")),
            "a pool of its own, not the global one"
        );
    }
}
