#![allow(clippy::unwrap_used)]
//! `heap::reuse_freed_buffers` called first thing in a process, as `main` does: afterwards a
//! freed buffer over glibc's largest mmap threshold (32 MiB) is reused without page faults:
//! 64 MiB on the main thread, 40 MiB on a thread started later (as rayon's workers are; a
//! thread arena's heaps hold at most 64 MiB). A test binary of
//! its own without libtest's harness, so nothing allocates on other threads before the
//! setting.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    assert!(scenepaint::heap::reuse_freed_buffers(), "mallopt refused");
    let main_faults = faults_refilling(64 << 20);
    let worker_faults = std::thread::spawn(|| faults_refilling(40 << 20))
        .join()
        .unwrap();
    // By default each refill is fresh mapped memory: a page fault per 4 KiB page.
    for (thread, faults) in [("main", main_faults), ("worker", worker_faults)] {
        assert!(
            faults < 1000,
            "{thread} thread: {faults} page faults refilling a freed large buffer"
        );
    }
    // And the heap gives its free memory back when asked (after a training run).
    let resident = |what: &str| {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        println!("heap: resident {what}: {} MiB", kib / 1024);
        kib / 1024
    };
    let kept = resident("before release");
    scenepaint::heap::release_free_memory();
    let released = resident("after release");
    assert!(
        released + 32 < kept,
        "release_free_memory kept {released} of {kept} MiB resident"
    );
    println!(
        "heap: a freed 64 / 40 MiB buffer is refilled with {main_faults} / {worker_faults} page faults (main / worker thread)"
    );
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    assert!(!scenepaint::heap::reuse_freed_buffers());
}

/// Fills a buffer of `size` bytes, frees it, and returns the page faults of filling the next.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn faults_refilling(size: usize) -> i64 {
    drop(std::hint::black_box(vec![1u8; size]));
    let before = thread_page_faults();
    let second = std::hint::black_box(vec![2u8; size]);
    let faults = thread_page_faults() - before;
    let touched: usize = second.iter().step_by(4096).map(|&b| usize::from(b)).sum();
    assert_eq!(touched, 2 * size / 4096);
    faults
}

/// Minor page faults of the calling thread so far.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn thread_page_faults() -> i64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0);
        usage.ru_minflt
    }
}
