//! What this instance may fire: the partitions it holds, at which epoch, and until when by
//! its own monotonic clock. The lease keeper grants and revokes; job actors and the
//! persistence actor only read (lock-free). On SQLite (one instance) every job is in one
//! partition that is always held.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::run::Fence;

/// The partition of a job: FNV-1a of its id, modulo the partition count. Stable across
/// processes and versions (every instance must agree on it).
pub fn partition_of(job_id: &str, partitions: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in job_id.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(partitions.max(1))) as u32
}

struct Slot {
    /// The epoch held, 0 when not held (epochs start at 1).
    epoch: AtomicU64,
    /// Until when (milliseconds after `Leases::base`) this instance may act on it.
    valid_until_ms: AtomicU64,
    /// The epoch this process held it at last (kept when revoked).
    last_epoch: AtomicU64,
}

/// The leases this instance holds.
pub struct Leases {
    base: Instant,
    slots: Vec<Slot>,
    /// False on SQLite: one partition, always held, epoch 0.
    cluster: bool,
}

impl Leases {
    /// One instance owns everything (SQLite).
    pub fn solo() -> Leases {
        Leases {
            base: Instant::now(),
            slots: Vec::new(),
            cluster: false,
        }
    }

    /// Cluster mode with `partitions` partitions, none held yet.
    pub fn cluster(partitions: u32) -> Leases {
        Leases {
            base: Instant::now(),
            slots: (0..partitions.max(1))
                .map(|_| Slot {
                    epoch: AtomicU64::new(0),
                    valid_until_ms: AtomicU64::new(0),
                    last_epoch: AtomicU64::new(0),
                })
                .collect(),
            cluster: true,
        }
    }

    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// How many partitions the scope's jobs are split into.
    pub fn count(&self) -> u32 {
        self.slots.len().max(1) as u32
    }

    pub fn partition_of(&self, job_id: &str) -> u32 {
        if self.cluster {
            partition_of(job_id, self.count())
        } else {
            0
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_millis() as u64
    }

    /// The fence of `job_id` when this instance holds its partition now.
    pub fn fence_of(&self, job_id: &str) -> Option<Fence> {
        let partition = self.partition_of(job_id);
        self.epoch(partition)
            .map(|epoch| Fence { partition, epoch })
    }

    /// The epoch `partition` is held at, if this instance may act on it now.
    pub fn epoch(&self, partition: u32) -> Option<u64> {
        if !self.cluster {
            return Some(0);
        }
        let slot = self.slots.get(partition as usize)?;
        let epoch = slot.epoch.load(Ordering::Acquire);
        let valid = self.millis(Instant::now()) < slot.valid_until_ms.load(Ordering::Acquire);
        (epoch != 0 && valid).then_some(epoch)
    }

    /// Whether this instance may still act under `fence` (same epoch, not run out).
    pub fn holds(&self, fence: Fence) -> bool {
        self.epoch(fence.partition) == Some(fence.epoch)
    }

    /// `partition` is held at `epoch` until `valid_until`.
    pub fn grant(&self, partition: u32, epoch: u64, valid_until: Instant) {
        if let Some(slot) = self.slots.get(partition as usize) {
            slot.valid_until_ms
                .store(self.millis(valid_until), Ordering::Release);
            slot.epoch.store(epoch, Ordering::Release);
            slot.last_epoch.store(epoch, Ordering::Release);
        }
    }

    /// `partition` is no longer held (lost, released, or found fenced by a write).
    pub fn revoke(&self, partition: u32) {
        if let Some(slot) = self.slots.get(partition as usize) {
            slot.epoch.store(0, Ordering::Release);
            slot.valid_until_ms.store(0, Ordering::Release);
        }
    }

    /// The epoch this process held `partition` at last (0: never).
    pub fn last_epoch(&self, partition: u32) -> u64 {
        (self.slots.get(partition as usize))
            .map_or(0, |slot| slot.last_epoch.load(Ordering::Acquire))
    }

    /// Revokes `fence.partition` if it is held at `fence.epoch` (not at a newer one);
    /// answers whether it was.
    pub fn revoke_at(&self, fence: Fence) -> bool {
        let Some(slot) = self.slots.get(fence.partition as usize) else {
            return false;
        };
        let revoked = slot
            .epoch
            .compare_exchange(fence.epoch, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if revoked {
            slot.valid_until_ms.store(0, Ordering::Release);
        }
        revoked
    }

    /// The partitions held now, with their epochs.
    pub fn held(&self) -> Vec<(u32, u64)> {
        if !self.cluster {
            return vec![(0, 0)];
        }
        (0..self.slots.len() as u32)
            .filter_map(|partition| self.epoch(partition).map(|epoch| (partition, epoch)))
            .collect()
    }

    /// How long until the first held lease runs out locally (for the readiness view).
    pub fn shortest_validity(&self) -> Option<Duration> {
        let now = self.millis(Instant::now());
        self.held()
            .iter()
            .map(|(partition, _)| {
                let until = self.slots[*partition as usize]
                    .valid_until_ms
                    .load(Ordering::Acquire);
                Duration::from_millis(until.saturating_sub(now))
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_of_a_job_is_stable_and_spread() {
        assert_eq!(
            partition_of("price-monitor", 32),
            partition_of("price-monitor", 32)
        );
        // Known value: every instance and every version must agree.
        // FNV-1a 64 of "price-monitor" modulo 32: every instance and version must agree.
        assert_eq!(partition_of("price-monitor", 32), 25);
        let mut counts = [0u32; 8];
        for n in 0..8_000 {
            counts[partition_of(&format!("job-{n}"), 8) as usize] += 1;
        }
        assert!(
            counts.iter().all(|count| (800..1200).contains(count)),
            "{counts:?}"
        );
    }

    #[test]
    fn a_lease_is_held_at_its_epoch_until_it_runs_out_or_is_revoked() {
        let leases = Leases::cluster(4);
        assert_eq!(leases.epoch(1), None);
        leases.grant(1, 7, Instant::now() + Duration::from_secs(60));
        assert!(leases.holds(Fence {
            partition: 1,
            epoch: 7
        }));
        assert!(!leases.holds(Fence {
            partition: 1,
            epoch: 6
        }));
        assert_eq!(leases.held(), vec![(1, 7)]);
        leases.revoke(1);
        assert!(!leases.holds(Fence {
            partition: 1,
            epoch: 7
        }));
        leases.grant(2, 3, Instant::now());
        assert_eq!(
            leases.epoch(2),
            None,
            "a lease whose validity passed is not held"
        );
    }

    #[test]
    fn one_instance_holds_everything_at_epoch_zero() {
        let leases = Leases::solo();
        assert!(leases.holds(Fence::default()));
        assert_eq!(leases.fence_of("anything"), Some(Fence::default()));
        assert_eq!(leases.held(), vec![(0, 0)]);
    }
}
