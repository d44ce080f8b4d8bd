//! Gives memory the allocator holds but no longer uses back to the system.
//!
//! Loading 100k jobs builds every row, model and job at once and queues a state write per
//! job; once the timers are armed, that memory is free but glibc keeps it in its heaps (most
//! pieces are small, so it never reaches the top of a heap where glibc trims by itself). The
//! engine calls this after the start-up load and after each full comparison with the table.

/// Returns free heap pages to the system (`malloc_trim`); a no-op off glibc.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
