//! glibc's allocator, set for a process that serves one batch after another.
//!
//! Each invocation allocates buffers the size of the event (the body, the
//! decoded keys and values). By default glibc returns freed memory of that
//! size to the kernel (`munmap`, or `madvise` when it trims a heap), and the
//! next invocation page-faults it back in, zeroed: about a fifth of a warm
//! invocation's time on a 6 MB event in the side-by-side benchmark. Kept
//! mapped, the next invocation reuses it: the process holds on to what it
//! needed at most (a few MiB more resident between invocations).

/// Largest allocation served from the heap rather than `mmap` (glibc's
/// upper limit for this setting on 64-bit): Lambda's events are at most
/// 6 MB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;
/// Free memory at the top of a heap before glibc trims it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 64 << 20;

/// Sets glibc's allocator to keep freed memory mapped for the next
/// invocation, unless `GLIBC_TUNABLES` sets the allocator (the operator's
/// choice wins). Elsewhere than Linux with glibc, nothing. [`serve`] calls
/// it at start-up; call it once with a runtime loop of your own.
///
/// [`serve`]: super::serve
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.")) {
            return;
        }
        // SAFETY: mallopt only changes the allocator's thresholds; glibc
        // takes its own locks, so any thread may call it at any time.
        let ok = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        };
        if !ok {
            tracing::debug!("glibc did not take the allocator thresholds; using its defaults");
        }
    }
}
