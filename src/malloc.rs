//! glibc malloc's settings for ferrid's workload: a few dozen threads, one
//! burst of sign-ins after another, a small box (bench/memory.sh,
//! docs/benchmarks.md "Memory on a small box"). The two settings give way
//! to the environment variables glibc reads itself, for a machine that
//! wants otherwise.

/// glibc gives each thread that allocates under contention an arena of its
/// own, up to 8 per core, each keeping its own free memory and its own
/// 128 KiB of top padding: 15 arenas on 2 cores after a burst of sign-ins.
/// One arena keeps the anonymous memory after 10,000 sign-ins 3.4 MB
/// lower at the same sign-in rate (bench/memory.sh, bench/compare_flows.sh;
/// docs/benchmarks.md). `MALLOC_ARENA_MAX` in the environment, which glibc
/// reads itself, still decides (a large machine with many workers may
/// want more). Called before any thread starts.
pub fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: sets one of malloc's tunables, before any other thread
        // exists; no memory is touched.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// What `serve` runs with unless `GLIBC_TUNABLES` is set: no per-thread
/// cache of freed blocks. Each thread's cache keeps up to 7 freed blocks of
/// each size up to 1 KiB for itself, out of reach of the other threads and
/// of coalescing; with ~25 threads (actix workers, the blocking pool,
/// sled's) they held 4 to 6 MB after 10,000 sign-ins, at no measurable
/// gain in sign-in rate with one arena (docs/benchmarks.md).
const TUNABLES: &str = "glibc.malloc.tcache_count=0";

/// glibc reads its tunables only at start, so the server starts itself
/// again (the same binary, arguments and process id) with `TUNABLES` in
/// its environment. Returns if that cannot be done (the server then runs
/// with glibc's defaults), or if `GLIBC_TUNABLES` is set already: by this,
/// or by whoever started ferrid, whose choice it is. Called before any
/// thread starts.
pub fn restart_without_thread_caches() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        use std::os::unix::process::CommandExt;
        let Ok(binary) = std::env::current_exe() else { return };
        let mut args = std::env::args_os();
        let mut command = std::process::Command::new(binary);
        if let Some(arg0) = args.next() {
            command.arg0(arg0);
        }
        // Only returns on failure; then the server starts as it is.
        let _ = command.args(args).env("GLIBC_TUNABLES", TUNABLES).exec();
    }
}

/// Gives the free memory inside malloc's heap back to the system. The
/// minute's housekeeping passes over every short-lived record, and sled
/// pages them in and out as it goes: the heap grew by ~7 MB at each pass
/// after 10,000 sign-ins and, the blocks freed but scattered among ones in
/// use, never shrank (malloc returns only a free top of the heap itself).
/// Trimming madvises the free pages away wherever they are; it takes a few
/// milliseconds, once a minute, on a pool thread.
pub fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks malloc's own free lists, under its lock.
    unsafe {
        libc::malloc_trim(0);
    }
}
