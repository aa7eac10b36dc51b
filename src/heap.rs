//! How the process's allocator treats large buffers (glibc on Linux; elsewhere nothing
//! changes). Training allocates and frees the same large activation, gradient and im2col
//! buffers every iteration, many over glibc's mmap threshold (32 MiB at most). glibc serves
//! those with fresh mmap'd pages and unmaps them on free, so each iteration of the default
//! model's training paid about a million page faults and the kernel's zeroing of every page:
//! 15 % of the iteration's samples under `perf`. Served from the heap instead (no mmap, no
//! trimming below [`TRIM_THRESHOLD_BYTES`]), a freed buffer is reused by the next one of its
//! size. One arena for every thread (`M_ARENA_MAX` 1): a thread's own arena maps blocks over
//! its 64 MiB heap afresh, and since session 12 the trainer runs on a pool worker
//! (`nets::fast::on_pool_worker`), where its own arena raised ycor-spade-256's peak from
//! 1.13-1.15 to 1.27-1.56 GiB; with one arena 1.11-1.12 GiB
//! (`docs/bench/train-lookup-2026-12-06-s12.txt`). ycor-spade-256 went from 4.15-4.37 to 3.9-4.0 s per iteration
//! with the same peak memory, and inference frames of the large generators by 7-10 %
//! (`docs/bench/train-2026-12-04-heap.txt`).
//!
//! `SCENEPAINT_HEAP=system` keeps the allocator's defaults (for measuring the difference).
//! Checked by `tests/heap.rs`, a process of its own: the setting must come before any thread
//! has an arena.

/// A free block at the heap's top larger than this goes back to the system.
pub const TRIM_THRESHOLD_BYTES: usize = 1 << 30;

/// The environment variable that keeps the allocator's defaults when set to `system`.
pub const HEAP_ENV: &str = "SCENEPAINT_HEAP";

/// Applies the setting above once, at start-up, before threads allocate; returns whether the
/// allocator was changed.
pub fn reuse_freed_buffers() -> bool {
    if std::env::var(HEAP_ENV).is_ok_and(|v| v == "system") {
        return false;
    }
    glibc_keep_large_blocks_in_heap()
}

/// Returns the heap's free memory to the system (at the end of a training run, so the painter
/// does not keep the run's buffers resident).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; any thread may call it.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc_keep_large_blocks_in_heap() -> bool {
    let trim = libc::c_int::try_from(TRIM_THRESHOLD_BYTES).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only changes the allocator's parameters; it is called before any other
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, trim) == 1
            && libc::mallopt(libc::M_ARENA_MAX, 1) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn glibc_keep_large_blocks_in_heap() -> bool {
    false
}
