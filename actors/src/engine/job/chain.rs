//! Queue mode: the chain of runs a job's workers publish themselves. The engine starts a
//! chain with a bootstrap message (position 1); each report of the position right after the
//! last one told to go on is told to go on, exactly once. A replaced chain (pause, edit,
//! watchdog) stops at its next report. No actix here: the actor persists and re-arms its
//! watchdog when a verdict says so.

use std::collections::VecDeque;

use uuid::Uuid;

/// Chains replaced on this job whose last run may still report: remembered so that run is
/// recorded (and told not to go on).
const OLD_CHAINS: usize = 4;

/// A chain and the highest position whose report was told to go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain {
    pub id: Uuid,
    pub last_seq: u64,
}

/// A report's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the worker should publish the next run.
    pub go_on: bool,
    /// Whether the current chain moved (persist it, re-arm the watchdog).
    pub advanced: bool,
}

#[derive(Debug, Default)]
pub struct Chains {
    current: Option<Chain>,
    /// Replaced since start-up, newest last.
    old: VecDeque<Chain>,
}

impl Chains {
    /// The chain on record at start-up (none for a new job).
    pub fn restored(on_record: Option<(Uuid, u64)>) -> Self {
        Chains {
            current: on_record.map(|(id, last_seq)| Chain { id, last_seq }),
            old: VecDeque::new(),
        }
    }

    pub fn current(&self) -> Option<Chain> {
        self.current
    }

    /// Starts chain `id`; the current one is retired. Answers the bootstrap's position.
    pub fn start(&mut self, id: Uuid) -> (Uuid, u64) {
        self.retire();
        self.current = Some(Chain { id, last_seq: 0 });
        (id, 1)
    }

    /// The current chain stops being current (it may still have a run out).
    pub fn retire(&mut self) {
        if let Some(chain) = self.current.take() {
            if self.old.len() == OLD_CHAINS {
                self.old.pop_front();
            }
            self.old.push_back(chain);
        }
    }

    /// The verdict on a run the engine published itself (a bootstrap, or a run restored after
    /// a restart whose report names its chain). `active`: the job is enabled in queue mode.
    pub fn own_run(&mut self, chain: Option<(Uuid, u64)>, active: bool) -> Verdict {
        let stop = Verdict {
            go_on: false,
            advanced: false,
        };
        let Some((id, seq)) = chain.filter(|_| active) else {
            return stop;
        };
        match &mut self.current {
            Some(current) if current.id == id && seq > current.last_seq => {
                current.last_seq = seq;
                Verdict {
                    go_on: true,
                    advanced: true,
                }
            }
            _ => stop,
        }
    }

    /// The verdict on a run a worker published itself: taken only when it is the position
    /// right after the last one told to go on, of the current chain or of a replaced one (whose
    /// one leftover run is taken once). None: the run cannot be one the engine asked for.
    pub fn worker_run(
        &mut self,
        chain_id: Option<Uuid>,
        seq: Option<u64>,
        active: bool,
    ) -> Option<Verdict> {
        // Position 1 is the engine's own bootstrap, never a worker's run.
        let (id, seq) = (chain_id?, seq.filter(|seq| *seq >= 2)?);
        if let Some(current) = self.current.as_mut().filter(|chain| chain.id == id) {
            if seq != current.last_seq + 1 {
                return None;
            }
            current.last_seq = seq;
            return Some(Verdict {
                go_on: active,
                advanced: true,
            });
        }
        let old = self
            .old
            .iter()
            .position(|chain| chain.id == id && seq == chain.last_seq + 1)?;
        self.old.remove(old);
        Some(Verdict {
            go_on: false,
            advanced: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn the_bootstrap_goes_on_once_and_each_next_position_once() {
        let mut chains = Chains::default();
        let bootstrap = chains.start(id(1));
        assert_eq!(bootstrap, (id(1), 1));
        assert!(chains.own_run(Some(bootstrap), true).go_on);
        assert!(!chains.own_run(Some(bootstrap), true).go_on, "a repeat");
        assert_eq!(chains.worker_run(Some(id(1)), Some(3), true), None, "a gap");
        let second = chains.worker_run(Some(id(1)), Some(2), true).unwrap();
        assert!(second.go_on && second.advanced);
        assert_eq!(chains.worker_run(Some(id(1)), Some(2), true), None);
        assert_eq!(chains.current().unwrap().last_seq, 2);
    }

    #[test]
    fn position_one_and_strangers_are_never_a_workers_run() {
        let mut chains = Chains::restored(Some((id(1), 0)));
        assert_eq!(chains.worker_run(Some(id(1)), Some(1), true), None);
        assert_eq!(chains.worker_run(Some(id(9)), Some(1), true), None);
        assert_eq!(chains.worker_run(Some(id(9)), Some(2), true), None);
        assert_eq!(chains.worker_run(None, Some(2), true), None);
        assert_eq!(chains.worker_run(Some(id(1)), None, true), None);
    }

    #[test]
    fn a_replaced_chain_has_its_one_leftover_report_taken_once_and_told_to_stop() {
        let mut chains = Chains::restored(Some((id(1), 4)));
        chains.start(id(2));
        let leftover = chains.worker_run(Some(id(1)), Some(5), true).unwrap();
        assert!(!leftover.go_on && !leftover.advanced);
        assert_eq!(chains.worker_run(Some(id(1)), Some(5), true), None);
        assert_eq!(chains.worker_run(Some(id(1)), Some(6), true), None);
    }

    #[test]
    fn only_the_newest_replaced_chains_are_remembered() {
        let replaced_by = |last: u128| {
            let mut chains = Chains::restored(Some((id(1), 3)));
            for n in 2..=last {
                chains.start(id(n));
            }
            chains.worker_run(Some(id(1)), Some(4), true)
        };
        assert!(
            replaced_by(5).is_some(),
            "four replacements: still remembered"
        );
        assert_eq!(replaced_by(6), None, "five: forgotten");
    }

    #[test]
    fn a_paused_job_takes_its_chains_report_but_tells_it_to_stop() {
        let mut chains = Chains::restored(Some((id(1), 2)));
        let verdict = chains.worker_run(Some(id(1)), Some(3), false).unwrap();
        assert!(!verdict.go_on && verdict.advanced);
        assert!(!chains.own_run(Some((id(1), 4)), false).go_on);
    }
}
