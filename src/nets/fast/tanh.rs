//! `tanh` for the generators' image heads (SPADE's `conv_img`, pix2pix's and pix2pixHD's last
//! layer) in a form the compiler turns into vector code: `tanh|x| = 1 - 2 / (e^(2|x|) + 1)`
//! with the sign put back, `e^y = 2^n e^r` (`n` the nearest integer to `y / ln 2`, `|r| <=
//! ln 2 / 2`, `e^r` by its Taylor series to `r^6`, whose remainder is under 2e-7 of it).
//! libm's `tanhf` is one scalar call per value: at 512x256 (393 216 values) it took most of the
//! 5-6 ms `conv_img` of a preview frame. Within 2.5e-7 of `f32::tanh` everywhere (tested), and
//! exact at 0 and for `|x| >= 9.1`, where `tanh` rounds to +-1 in f32.
use super::simd::simd_dispatch;

/// From this `|x|` on, `tanh(x)` is +-1 in f32 (1 - 2.5e-8, under half the spacing of f32
/// below 1).
const SATURATES_AT: f32 = 9.1;
/// `ln 2` in two parts: `n * LN_2_HIGH` is exact for the `|n| <= 27` used here (the high part
/// has 9 trailing zero bits), so `y - n ln 2` loses nothing to cancellation.
const LN_2_HIGH: f32 = 0.693_145_75;
const LN_2_LOW: f32 = 1.428_606_8e-6;
/// Adding and subtracting 1.5 * 2^23 rounds an f32 of magnitude under 2^22 to an integer,
/// which the sum also holds in its low mantissa bits.
const ROUNDER: f32 = 12_582_912.0;

/// `e^y` for `|y| <= 2 * SATURATES_AT`.
#[inline(always)]
fn exp_small(y: f32) -> f32 {
    let shifted = y * std::f32::consts::LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let n_bits = (shifted.to_bits() as i32).wrapping_sub(ROUNDER.to_bits() as i32);
    let r = (y - n * LN_2_HIGH) - n * LN_2_LOW;
    let series = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let two_to_n = f32::from_bits(((n_bits + 127) as u32) << 23);
    series * two_to_n
}

/// `tanh(x)` (see the module header).
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    // A comparison rather than `min`, which would turn NaN into 9.
    let magnitude = match x.abs() {
        m if m > SATURATES_AT => SATURATES_AT,
        m => m,
    };
    let t = 1.0 - 2.0 / (exp_small(2.0 * magnitude) + 1.0);
    t.copysign(x)
}

simd_dispatch! {
    /// [`tanh`] of every value, in place.
    pub(crate) fn tanh_slice(values: &mut [f32]) {
        values.iter_mut().for_each(|v| *v = tanh(*v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_of_ln_2_is_exact_enough() {
        let sum = LN_2_HIGH as f64 + LN_2_LOW as f64;
        assert!((sum - std::f64::consts::LN_2).abs() < 1e-12, "{sum}");
        // The high part times any n of the range is exact: 9 trailing zero bits.
        assert_eq!(LN_2_HIGH.to_bits() & 0x1ff, 0);
    }

    #[test]
    fn tanh_follows_libm_everywhere() {
        let mut worst = (0f32, 0f32);
        let steps = 400_000;
        for i in 0..=steps {
            let x = -12.0 + 24.0 * i as f32 / steps as f32;
            let error = (tanh(x) - x.tanh()).abs();
            if error > worst.1 {
                worst = (x, error);
            }
        }
        assert!(worst.1 < 2.5e-7, "at {}: {:e}", worst.0, worst.1);
        // Small values keep their size and sign.
        for x in [1e-3f32, 1e-5, 3e-8, -2e-6] {
            assert!((tanh(x) - x.tanh()).abs() < 1e-7 * x.abs().max(1.0), "{x}");
            assert_eq!(tanh(x).is_sign_negative(), x < 0.0);
        }
    }

    #[test]
    fn tanh_is_exact_at_zero_and_saturated_far_out() {
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        for x in [SATURATES_AT, 20.0, 1e30, f32::INFINITY] {
            assert_eq!(tanh(x), 1.0);
            assert_eq!(tanh(-x), -1.0);
        }
        assert!(tanh(f32::NAN).is_nan());
    }

    #[test]
    fn the_slice_version_matches_the_scalar_one() {
        let mut values: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 37.0).collect();
        let expected: Vec<f32> = values.iter().map(|&v| tanh(v)).collect();
        tanh_slice(&mut values);
        // FMA contraction may differ between the dispatched and the scalar code by an ulp.
        for (v, e) in values.iter().zip(&expected) {
            assert!((v - e).abs() <= 2.5e-7, "{v} vs {e}");
        }
    }
}
