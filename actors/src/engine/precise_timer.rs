//! One timer thread for every job's fire: a heap of deadlines and a condition variable that
//! sleeps to the earliest one. A tokio timer has 1 ms slots and rounds up, so a fire armed on
//! it is 0.5–1 ms late on average before anything else happens; a timed condition-variable
//! wait on Linux wakes within tens of microseconds. The entries that are due are handed to
//! `deliver` together, in one batch: the engine forwards a batch to the job actors from its
//! own thread, so 100 000 jobs due at one instant cost one cross-thread wake-up, not 100 000.
//! Entries are never removed: a job that re-arms ignores the wake of its older deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

struct Entry<T> {
    at: Instant,
    /// Breaks ties in arrival order.
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct Heap<T> {
    entries: BinaryHeap<Reverse<Entry<T>>>,
    seq: u64,
    stopped: bool,
}

struct Shared<T> {
    heap: Mutex<Heap<T>>,
    changed: Condvar,
}

/// Schedules items on the timer thread (cheap to clone).
pub struct PreciseTimer<T>(Arc<Shared<T>>);

impl<T> Clone for PreciseTimer<T> {
    fn clone(&self) -> Self {
        PreciseTimer(self.0.clone())
    }
}

/// The timer thread; stopped when this is dropped (pending items are dropped undelivered).
pub struct TimerThread<T>(PreciseTimer<T>);

impl<T: Send + 'static> TimerThread<T> {
    /// Starts the thread; `deliver` gets every batch of items whose deadline passed, in
    /// deadline order, on the timer thread.
    pub fn start(deliver: impl Fn(Vec<T>) + Send + 'static) -> TimerThread<T> {
        let timer = PreciseTimer(Arc::new(Shared {
            heap: Mutex::new(Heap {
                entries: BinaryHeap::new(),
                seq: 0,
                stopped: false,
            }),
            changed: Condvar::new(),
        }));
        let shared = timer.0.clone();
        std::thread::Builder::new()
            .name("job-timer".into())
            .spawn(move || run(&shared, deliver))
            .expect("start the job timer thread");
        TimerThread(timer)
    }

    pub fn timer(&self) -> PreciseTimer<T> {
        self.0.clone()
    }
}

impl<T> Drop for TimerThread<T> {
    fn drop(&mut self) {
        let shared = &self.0 .0;
        if let Ok(mut heap) = shared.heap.lock() {
            heap.stopped = true;
            heap.entries.clear();
        }
        shared.changed.notify_one();
    }
}

impl<T> PreciseTimer<T> {
    /// Delivers `item` at `at` (at once if it has passed).
    pub fn at(&self, at: Instant, item: T) {
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
        heap.entries.push(Reverse(Entry { at, seq, item }));
        drop(heap);
        if earliest {
            self.0.changed.notify_one();
        }
    }
}

fn run<T>(shared: &Shared<T>, deliver: impl Fn(Vec<T>)) {
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
                due.push(entry.item);
            }
        }
        if !due.is_empty() {
            drop(heap);
            deliver(due);
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
    fn items_are_delivered_in_deadline_order_and_never_early() {
        let (sender, received) = mpsc::channel();
        let thread = TimerThread::start(move |batch: Vec<(u32, Instant)>| {
            let now = Instant::now();
            for (label, at) in batch {
                let _ = sender.send((label, at, now));
            }
        });
        let timer = thread.timer();
        let start = Instant::now();
        for (label, after_ms) in [(3, 30), (1, 10), (2, 20), (0, 0)] {
            let at = start + Duration::from_millis(after_ms);
            timer.at(at, (label, at));
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
    fn items_due_together_come_in_one_batch() {
        let (sender, received) = mpsc::channel();
        let thread = TimerThread::start(move |batch: Vec<u32>| {
            let _ = sender.send(batch);
        });
        let timer = thread.timer();
        let at = Instant::now() + Duration::from_millis(20);
        for item in 0..1000 {
            timer.at(at, item);
        }
        let batch = received
            .recv_timeout(Duration::from_secs(5))
            .expect("a batch");
        assert_eq!(
            batch,
            (0..1000).collect::<Vec<_>>(),
            "one batch, in arrival order"
        );
    }

    #[test]
    fn a_stopped_timer_delivers_nothing_more() {
        let (sender, received) = mpsc::channel::<Vec<u32>>();
        let thread = TimerThread::start(move |batch| {
            let _ = sender.send(batch);
        });
        thread
            .timer()
            .at(Instant::now() + Duration::from_millis(50), 1);
        drop(thread);
        assert!(received.recv_timeout(Duration::from_millis(200)).is_err());
    }
}
