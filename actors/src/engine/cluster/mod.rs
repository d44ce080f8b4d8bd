//! Cluster mode (MariaDB): several instances of one scope share the database. The scope's
//! jobs are split into partitions (`leases.rs`: a hash of the job id); each partition is owned
//! through a lease row renewed by the lease keeper (`keeper.rs`), which rebalances by the
//! pure rule of `balance.rs`. An instance fires only the partitions it holds; every write its
//! engine makes carries the partition's epoch and is applied only while the lease row still
//! has it (the persistence actor's fenced batches).

mod balance;
pub mod control;
mod keeper;
mod leases;

pub use control::{Control, ControlPlane};
pub use keeper::{round_once, ClusterSettings, ClusterView, Held, LeaseKeeper, ReleaseAll};
pub use leases::{partition_of, Leases};
