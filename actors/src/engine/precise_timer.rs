//! One timer thread for every job's fire: a heap of deadlines and a condition variable that
//! sleeps to the earliest one. A tokio timer has 1 ms slots and rounds up, so a fire armed on
//! it is 0.5–1 ms late on average before anything else happens; a timed condition-variable
//! wait on Linux wakes within tens of microseconds. When a deadline passes, the thread runs
//! its callback (a message to the job actor), so the fire itself still happens on the actor.
//! Entries are never removed: a job that re-arms ignores the wake of its older deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

type Callback = Box<dyn FnOnce() + Send>;

struct Entry {
    at: Instant,
    /// Breaks ties in arrival order.
    seq: u64,
    callback: Callback,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct Heap {
    entries: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    heap: Mutex<Heap>,
    changed: Condvar,
}

/// Schedules callbacks on the timer thread (cheap to clone).
#[derive(Clone)]
pub struct PreciseTimer(Arc<Shared>);

/// The timer thread; stopped when this is dropped (pending callbacks are dropped unrun).
pub struct TimerThread(PreciseTimer);

impl TimerThread {
    pub fn start() -> TimerThread {
        let timer = PreciseTimer(Arc::default());
        let shared = timer.0.clone();
        std::thread::Builder::new()
            .name("job-timer".into())
            .spawn(move || run(&shared))
            .expect("start the job timer thread");
        TimerThread(timer)
    }

    pub fn timer(&self) -> PreciseTimer {
        self.0.clone()
    }
}

impl Drop for TimerThread {
    fn drop(&mut self) {
        let shared = &self.0 .0;
        if let Ok(mut heap) = shared.heap.lock() {
            heap.stopped = true;
            heap.entries.clear();
        }
        shared.changed.notify_one();
    }
}

impl PreciseTimer {
    /// Runs `callback` on the timer thread at `at` (at once if it has passed).
    pub fn at(&self, at: Instant, callback: impl FnOnce() + Send + 'static) {
        let Ok(mut heap) = self.0.heap.lock() else {
            return;
        };
        if heap.stopped {
            return;
        }
        heap.seq += 1;
        let seq = heap.seq;
        let earliest = heap
            .entries
            .peek()
            .is_none_or(|Reverse(first)| at < first.at);
        heap.entries.push(Reverse(Entry {
            at,
            seq,
            callback: Box::new(callback),
        }));
        drop(heap);
        if earliest {
            self.0.changed.notify_one();
        }
    }
}

fn run(shared: &Shared) {
    let Ok(mut heap) = shared.heap.lock() else {
        return;
    };
    loop {
        if heap.stopped {
            return;
        }
        let now = Instant::now();
        let mut due = Vec::new();
        while heap
            .entries
            .peek()
            .is_some_and(|Reverse(first)| first.at <= now)
        {
            if let Some(Reverse(entry)) = heap.entries.pop() {
                due.push(entry.callback);
            }
        }
        if !due.is_empty() {
            drop(heap);
            for callback in due {
                callback();
            }
            heap = match shared.heap.lock() {
                Ok(heap) => heap,
                Err(_) => return,
            };
            continue;
        }
        let wait = heap.entries.peek().map(|Reverse(first)| first.at - now);
        heap = match wait {
            Some(wait) => match shared.changed.wait_timeout(heap, wait) {
                Ok((heap, _)) => heap,
                Err(_) => return,
            },
            None => match shared.changed.wait(heap) {
                Ok(heap) => heap,
                Err(_) => return,
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn callbacks_run_in_deadline_order_and_never_early() {
        let thread = TimerThread::start();
        let timer = thread.timer();
        let (sender, received) = mpsc::channel();
        let start = Instant::now();
        for (label, after_ms) in [(3, 30), (1, 10), (2, 20), (0, 0)] {
            let sender = sender.clone();
            let at = start + Duration::from_millis(after_ms);
            timer.at(at, move || {
                let _ = sender.send((label, at, Instant::now()));
            });
        }
        let fired: Vec<_> = (0..4)
            .map(|_| {
                received
                    .recv_timeout(Duration::from_secs(5))
                    .expect("fired")
            })
            .collect();
        assert_eq!(
            fired.iter().map(|(label, ..)| *label).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert!(fired.iter().all(|(_, at, ran)| ran >= at), "none early");
    }

    #[test]
    fn a_stopped_timer_runs_nothing_more() {
        let thread = TimerThread::start();
        let timer = thread.timer();
        let (sender, received) = mpsc::channel::<()>();
        timer.at(Instant::now() + Duration::from_millis(50), move || {
            let _ = sender.send(());
        });
        drop(thread);
        assert!(received.recv_timeout(Duration::from_millis(200)).is_err());
    }
}
