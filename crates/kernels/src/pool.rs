//! A pool of large `f32` buffers that the image conditioner ([`crate::conv_net`]) takes its
//! activations and temporaries from and gives back when done.
//!
//! A Glow step allocates and frees the same few dozen buffers of tens of megabytes (a
//! `[pixels, hidden]` activation of `glow_mnist_gpu` is 32 MB). Allocators hand such blocks
//! back to the system when freed, so every step faulted them in again and the kernel zeroed
//! them: a quarter of a step's time went to `clear_page` (`perf`, docs/performance.md). Kept
//! here, the memory is written without faulting from the second step on.

use std::sync::Mutex;

/// Buffers smaller than this go to the allocator (it reuses small blocks itself).
const MIN_POOLED: usize = 1 << 18;
/// At most this many idle buffers are kept. A `glow_mnist_gpu` step has ≈ 40 of its size in
/// flight at its peak (two activations per coupling, kept for the backward), so its pool holds
/// at most ≈ 1 GB between steps; a smaller model's much less.
const MAX_IDLE: usize = 32;

static IDLE: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// An empty vector with room for at least `len` values: a pooled buffer of about that size
/// when there is one.
pub fn take(len: usize) -> Vec<f32> {
    if len >= MIN_POOLED {
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        // The smallest idle buffer that fits, unless it is more than twice the size asked for.
        let best = idle
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len && v.capacity() <= 2 * len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        if let Some(i) = best {
            let mut v = idle.swap_remove(i);
            v.clear();
            return v;
        }
    }
    Vec::with_capacity(len)
}

/// `len` zeros, in a pooled buffer when there is one.
pub fn zeros(len: usize) -> Vec<f32> {
    let mut v = take(len);
    v.resize(len, 0.0);
    v
}

/// Gives a buffer back for later [`take`]s (small ones are simply freed; when the pool is
/// full, the smallest idle buffer is freed).
pub fn give(v: Vec<f32>) {
    if v.capacity() < MIN_POOLED {
        return;
    }
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    idle.push(v);
    if idle.len() > MAX_IDLE
        && let Some((i, _)) = idle.iter().enumerate().min_by_key(|(_, v)| v.capacity())
    {
        idle.swap_remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer given back is the one the next request of its size gets (no other test of
    /// this crate uses buffers this large), and a request of less than half its size does not
    /// take it.
    #[test]
    fn reuses_a_given_buffer_of_the_right_size() {
        let len = 3 * MIN_POOLED + 17;
        let v = zeros(len);
        assert_eq!(v.len(), len);
        let ptr = v.as_ptr();
        give(v);
        let small = take(len / 3);
        assert_ne!(
            small.as_ptr(),
            ptr,
            "a buffer over twice the size is not handed out"
        );
        let again = take(len);
        assert!(again.is_empty() && again.capacity() >= len);
        assert_eq!(again.as_ptr(), ptr, "the idle buffer is reused");
    }
}
