//! Palettes: class id <-> name <-> colour, loaded from `assets/palettes/*.json`.
