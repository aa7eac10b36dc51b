//! The egui application: one file per panel.
