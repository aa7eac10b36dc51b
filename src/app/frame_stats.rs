//! How long the UI thread takes to build each frame, apart while a training run goes on (issue
//! 18: painting stays responsive while training, under 50 ms a frame). With
//! `SCENEPAINT_FRAME_STATS=1` the painter prints the median and the 95th percentile to stderr
//! every few seconds. This is the app's own work per frame (widgets, canvas, textures), not
//! the GPU's drawing, which eframe does after it.
use std::time::{Duration, Instant};

/// The environment variable that turns the report on.
pub const FRAME_STATS_ENV: &str = "SCENEPAINT_FRAME_STATS";
/// Time between two reports.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// Frames kept per kind (the newest).
const KEPT: usize = 2000;

/// Frame times in milliseconds, without and with a training run.
pub struct FrameStats {
    enabled: bool,
    idle_ms: Vec<f32>,
    training_ms: Vec<f32>,
    last_report: Instant,
}

impl Default for FrameStats {
    fn default() -> Self {
        FrameStats {
            enabled: std::env::var_os(FRAME_STATS_ENV).is_some_and(|v| v != "0"),
            idle_ms: Vec::new(),
            training_ms: Vec::new(),
            last_report: Instant::now(),
        }
    }
}

impl FrameStats {
    pub fn record(&mut self, took: Duration, training: bool) {
        if !self.enabled {
            return;
        }
        let times = if training {
            &mut self.training_ms
        } else {
            &mut self.idle_ms
        };
        if times.len() == KEPT {
            times.remove(0);
        }
        times.push(took.as_secs_f32() * 1000.0);
        if self.last_report.elapsed() >= REPORT_EVERY {
            self.last_report = Instant::now();
            eprintln!("{}", self.summary());
        }
    }

    /// "frame ms: idle median 3.1 p95 5.0 (n 300); training median ..."
    pub fn summary(&self) -> String {
        let part = |name: &str, times: &[f32]| match percentiles(times) {
            Some((median, p95, max)) => format!(
                "{name} median {median:.1} p95 {p95:.1} max {max:.1} (n {})",
                times.len()
            ),
            None => format!("{name} (no frames)"),
        };
        format!(
            "frame ms: {}; {}",
            part("idle", &self.idle_ms),
            part("training", &self.training_ms)
        )
    }
}

/// Median, 95th percentile and maximum.
fn percentiles(times: &[f32]) -> Option<(f32, f32, f32)> {
    let mut sorted = times.to_vec();
    sorted.sort_by(f32::total_cmp);
    let at = |q: f32| sorted[((sorted.len() - 1) as f32 * q).round() as usize];
    (!sorted.is_empty()).then(|| (at(0.5), at(0.95), at(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_gives_median_and_tail_per_kind() {
        let mut stats = FrameStats {
            enabled: true,
            ..FrameStats::default()
        };
        for ms in 1..=100 {
            stats.record(Duration::from_millis(ms), false);
        }
        stats.record(Duration::from_millis(40), true);
        let summary = stats.summary();
        assert!(summary.contains("idle median 50.") || summary.contains("idle median 51."));
        assert!(
            summary.contains("p95 95.") || summary.contains("p95 96."),
            "{summary}"
        );
        assert!(summary.contains("training median 40.0"), "{summary}");
        assert_eq!(percentiles(&[]), None);
    }
}
