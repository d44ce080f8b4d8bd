//! The rebalance rule, pure: given the live instances and the lease table, which partitions
//! this instance gives up and which it tries to take. Each instance aims at an equal share
//! (the first `partitions % n` instances by id take one more), so the shares add up to every
//! partition and instances agree without talking to each other.

use crate::store::LeaseRow;

/// What one round of the lease keeper does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Held partitions to give up (beyond this instance's share).
    pub release: Vec<u32>,
    /// Partitions to try to take, in order, until `wanted` are taken: this instance's own
    /// from before first, then free or run-out ones (starting at a point of the ring that
    /// depends on the instance, so instances taking over together try different ones first).
    pub claim: Vec<u32>,
    /// How many of `claim` to take.
    pub wanted: usize,
}

/// This instance's share of `partitions` among the live instances `peers` (sorted ids; this
/// instance counts even when its own heartbeat is not in the list yet).
pub fn share(me: &str, peers: &[String], partitions: u32) -> u32 {
    let mut ids: Vec<&str> = peers.iter().map(String::as_str).collect();
    if !ids.contains(&me) {
        ids.push(me);
    }
    ids.sort_unstable();
    ids.dedup();
    let n = ids.len() as u32;
    let rank = ids.iter().position(|id| *id == me).unwrap_or(0) as u32;
    partitions / n + u32::from(rank < partitions % n)
}

/// The plan of one round: `held` are the partitions this instance holds now.
pub fn plan(
    me: &str,
    peers: &[String],
    partitions: u32,
    leases: &[LeaseRow],
    held: &[u32],
) -> Plan {
    let target = share(me, peers, partitions) as usize;
    let mut plan = Plan::default();
    if held.len() > target {
        let mut extra: Vec<u32> = held.to_vec();
        extra.sort_unstable();
        plan.release = extra.split_off(target);
        return plan;
    }
    let free = leases.iter().filter(|lease| {
        !held.contains(&lease.partition)
            && lease.partition < partitions
            && (!lease.live || lease.owner.is_none() || lease.owner.as_deref() == Some(me))
    });
    // This instance's own leases first (a restart under the same id resumes them at once).
    let (own, others): (Vec<&LeaseRow>, Vec<&LeaseRow>) =
        free.partition(|lease| lease.owner.as_deref() == Some(me));
    let start = super::partition_of(me, partitions);
    let mut others: Vec<u32> = others.iter().map(|lease| lease.partition).collect();
    others.sort_by_key(|partition| (partition + partitions - start) % partitions);
    plan.claim = own.iter().map(|lease| lease.partition).collect();
    plan.claim.extend(others);
    plan.wanted = target - held.len();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(partition: u32, owner: Option<&str>, live: bool) -> LeaseRow {
        LeaseRow {
            partition,
            owner: owner.map(str::to_string),
            epoch: 1,
            live,
        }
    }

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn shares_add_up_to_every_partition() {
        for n in 1..6 {
            let peers: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
            for partitions in [1, 7, 32, 33] {
                let total: u32 = peers.iter().map(|me| share(me, &peers, partitions)).sum();
                assert_eq!(total, partitions, "{n} instances, {partitions} partitions");
            }
        }
        assert_eq!(
            share("new", &ids(&["a", "b"]), 32),
            10,
            "counts itself before its heartbeat"
        );
    }

    #[test]
    fn an_instance_over_its_share_releases_its_highest_partitions() {
        let leases: Vec<LeaseRow> = (0..4).map(|p| lease(p, Some("a"), true)).collect();
        let plan = plan("a", &ids(&["a", "b"]), 4, &leases, &[0, 1, 2, 3]);
        assert_eq!(plan.release, vec![2, 3]);
        assert!(plan.claim.is_empty());
    }

    #[test]
    fn an_instance_takes_free_and_run_out_leases_but_never_a_live_one_of_another() {
        let leases = vec![
            lease(0, Some("b"), true),
            lease(1, Some("b"), false),
            lease(2, None, false),
            lease(3, Some("b"), true),
        ];
        let plan = plan("a", &ids(&["a", "b"]), 4, &leases, &[]);
        let mut claim = plan.claim.clone();
        claim.sort_unstable();
        assert_eq!(claim, vec![1, 2]);
        assert_eq!(plan.wanted, 2);
        assert!(plan.release.is_empty());
    }

    #[test]
    fn a_restart_under_the_same_id_takes_its_own_live_leases_first() {
        let leases = vec![lease(0, None, false), lease(1, Some("a"), true)];
        let plan = plan("a", &ids(&["a", "b"]), 2, &leases, &[]);
        assert_eq!(plan.claim, vec![1, 0]);
        assert_eq!(plan.wanted, 1);
    }
}
