//! Our own kernels' loops compiled for the CPU they run on. The crate is built for the
//! baseline x86-64 (SSE2), so a loop over 16 lanes becomes four 4-wide instructions; the
//! `gemm` crate dispatches at run time, our loops did not. [`simd_dispatch!`] compiles a
//! function's body three times (AVX-512, AVX2 + FMA, baseline) and picks one per call from the
//! CPU's features (cached by the standard library), so the same binary runs everywhere.
//!
//! Keep a dispatched function's hot loops in its body: a closure written there (say, one
//! passed to a helper that loops) is a function of its own, compiled for the baseline unless
//! LLVM inlines it, and the Winograd transforms ran as SSE code that way until session 11
//! (`winograd/tiles.rs`, `group_at`). `perf report` names such code `body::{{closure}}` instead
//! of `::avx512`.

/// Whether the CPU has AVX-512 (F, VL) and AVX2 + FMA.
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl")
}

/// Whether the CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// `fn name(args) -> ret { body }` whose body runs compiled for the best of AVX-512, AVX2 or
/// the baseline that the CPU has. The arguments must be plain identifiers.
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if $crate::nets::fast::simd::has_avx512() {
                    // SAFETY: the CPU has the features `avx512` is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if $crate::nets::fast::simd::has_avx2() {
                    // SAFETY: the CPU has the features `avx2` is compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;
