//! Long-lived threads for data-parallel training's replicas: each step runs one job per
//! replica beside the calling thread and waits for all of them, like `std::thread::scope`, but
//! on threads that stay up for the whole run.
//!
//! A thread spawned afresh every step starts with an empty allocator heap (mimalloc's are per
//! thread) and abandons it when it ends; the replica it runs then finished ≈ 0.3 ms after the
//! primary's on a ≈ 6 ms step. Kept threads reuse their heaps from step to step: ten
//! alternating `flowplay bench` runs, two threads, median ≈ 153 → ≈ 164 steps/s
//! (`docs/performance.md`, finding 15). With glibc's allocator the same change measured no
//! faster, which is why it was once taken out again.
//!
//! The jobs borrow the caller's data (the model, the batch): [`Workers::run`] does not return —
//! not even by unwinding — before every job has finished, which is what makes lending them
//! those borrows sound, exactly as in a scoped thread.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

/// A job with its borrows' lifetime erased (see [`Workers::run`] for why that is sound).
type Job = Box<dyn FnOnce() + Send + 'static>;

/// What a finished job reports: `Err` carries its panic.
type Finished = std::thread::Result<()>;

struct Worker {
    jobs: Option<Sender<Job>>,
    finished: Receiver<Finished>,
    thread: Option<JoinHandle<()>>,
}

/// A fixed set of worker threads.
pub struct Workers {
    workers: Vec<Worker>,
}

impl Workers {
    /// `count` threads named `flowplay-replica-<i>`; an error if the system refuses one.
    pub fn new(count: usize) -> std::io::Result<Self> {
        let workers = (0..count)
            .map(|i| {
                let (jobs, inbox) = channel::<Job>();
                let (done, finished) = channel::<Finished>();
                let thread = std::thread::Builder::new()
                    .name(format!("flowplay-replica-{}", i + 1))
                    .spawn(move || {
                        for job in inbox {
                            if done.send(catch_unwind(AssertUnwindSafe(job))).is_err() {
                                break;
                            }
                        }
                    })?;
                Ok(Worker {
                    jobs: Some(jobs),
                    finished,
                    thread: Some(thread),
                })
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Self { workers })
    }

    /// Number of threads.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether there are no threads.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Runs `jobs[i]` on thread `i` and `here` on the calling thread, and returns `here`'s
    /// result and the jobs' (in order) once all have finished. A panic in any of them is
    /// re-raised here after all have finished.
    ///
    /// # Panics
    /// If there are more jobs than threads.
    pub fn run<'a, T: Send + 'a, H>(
        &self,
        jobs: Vec<Box<dyn FnOnce() -> T + Send + 'a>>,
        here: impl FnOnce() -> H,
    ) -> (H, Vec<T>) {
        assert!(jobs.len() <= self.workers.len(), "more jobs than threads");
        let mut slots: Vec<Option<T>> = jobs.iter().map(|_| None).collect();
        let result = {
            // Waits for every job handed out so far, also while unwinding from a panic in
            // `here`: no borrow lent to a job outlives this block.
            let mut pending = Pending {
                workers: &self.workers,
                started: 0,
                panic: None,
            };
            for ((job, slot), worker) in jobs.into_iter().zip(slots.iter_mut()).zip(&self.workers) {
                let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || *slot = Some(job()));
                // SAFETY: only the lifetime is changed. The job runs on the worker and is
                // finished (or has panicked) before `pending` is dropped at the end of this
                // block, on every path out of it, so everything it borrows (the caller's data
                // for 'a, its slot in `slots`) outlives it.
                let job: Job =
                    unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
                let sent = worker.jobs.as_ref().is_some_and(|s| s.send(job).is_ok());
                assert!(sent, "a replica thread has stopped");
                pending.started += 1;
            }
            let result = here();
            pending.wait_all();
            if let Some(payload) = pending.panic.take() {
                resume_unwind(payload);
            }
            result
        };
        let outputs = slots
            .into_iter()
            .map(|s| s.expect("every finished job filled its slot"))
            .collect();
        (result, outputs)
    }
}

/// The jobs of one [`Workers::run`] still to be waited for.
struct Pending<'w> {
    workers: &'w [Worker],
    started: usize,
    panic: Option<Box<dyn std::any::Any + Send>>,
}

impl Pending<'_> {
    fn wait_all(&mut self) {
        for worker in &self.workers[..self.started] {
            match worker.finished.recv() {
                Ok(Ok(())) => {}
                Ok(Err(payload)) => {
                    self.panic.get_or_insert(payload);
                }
                // The thread is gone: its job can no longer be running.
                Err(_) => {}
            }
        }
        self.started = 0;
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.wait_all();
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            // Closing the queue ends the thread's loop.
            worker.jobs.take();
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Jobs see borrowed data, run on their own threads (not the caller's), and come back in
    /// order; the same threads serve every call.
    #[test]
    fn runs_borrowing_jobs_on_kept_threads() {
        let workers = Workers::new(3).expect("threads");
        let data: Vec<u64> = (1..=100).collect();
        let mut seen = Vec::new();
        for round in 0..3u64 {
            let jobs: Vec<Box<dyn FnOnce() -> (u64, std::thread::ThreadId) + Send + '_>> = (0..3)
                .map(|i| {
                    let data = &data;
                    Box::new(move || {
                        (
                            data.iter().skip(i).step_by(3).sum::<u64>() + round,
                            std::thread::current().id(),
                        )
                    }) as Box<dyn FnOnce() -> _ + Send>
                })
                .collect();
            let (here, out) = workers.run(jobs, || data.len());
            assert_eq!(here, 100);
            let sums: Vec<u64> = out.iter().map(|o| o.0 - round).collect();
            assert_eq!(sums.iter().sum::<u64>(), 5050);
            assert_eq!(sums, [1717, 1650, 1683]);
            let ids: Vec<_> = out.iter().map(|o| o.1).collect();
            assert!(!ids.contains(&std::thread::current().id()));
            seen.push(ids);
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "threads are kept");
    }

    /// A panicking job is reported to the caller after the others finished, and the threads
    /// keep working afterwards.
    #[test]
    fn a_panicking_job_reaches_the_caller() {
        let workers = Workers::new(2).expect("threads");
        let finished = std::sync::atomic::AtomicBool::new(false);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let jobs: Vec<Box<dyn FnOnce() + Send + '_>> = vec![
                Box::new(|| panic!("replica failed")),
                Box::new(|| {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    finished.store(true, std::sync::atomic::Ordering::SeqCst);
                }),
            ];
            workers.run(jobs, || ())
        }));
        let message = outcome.expect_err("the panic is re-raised");
        assert_eq!(message.downcast_ref::<&str>(), Some(&"replica failed"));
        assert!(finished.load(std::sync::atomic::Ordering::SeqCst));
        let jobs: Vec<Box<dyn FnOnce() -> u32 + Send>> = vec![Box::new(|| 7)];
        assert_eq!(workers.run(jobs, || 1), (1, vec![7]));
    }
}
