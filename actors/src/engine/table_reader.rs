//! Reads the jobs table for the supervisor's reconcile on a thread of its own. Decoding 10k
//! rows and hashing their configurations took tens of milliseconds; done on the actix thread
//! the job actors fire on, it showed as a periodic stall in the fires' lateness. Here the
//! supervisor only receives the rows with their digests and touches those that changed.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::job::{Job, JobConfig, Scope};
use crate::store::{Store, StoreError};

/// A 64-bit digest of a job's configuration (SipHash of its JSON form; the params map is
/// ordered, so equal configurations give equal digests).
pub fn digest(config: &JobConfig) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(config)
        .expect("a job configuration serializes")
        .hash(&mut hasher);
    hasher.finish()
}

/// What to read.
#[derive(Debug, Clone, Copy)]
pub enum ReadKind {
    /// Every row.
    Full,
    /// The rows updated since this instant, unless the table holds another number of rows
    /// than `known` (then every row).
    Since { since: DateTime<Utc>, known: usize },
}

/// The rows read, each with the digest of its configuration, and (for a read of every row)
/// the ids present.
pub struct TableRead {
    pub present: Option<HashSet<String>>,
    pub jobs: Vec<(Job, u64)>,
}

type Request = (ReadKind, oneshot::Sender<Result<TableRead, StoreError>>);

/// The reader thread's handle; the thread ends when the handle is dropped.
pub struct TableReader {
    requests: mpsc::UnboundedSender<Request>,
}

impl TableReader {
    pub fn start(store: Store, scope: Scope) -> std::io::Result<TableReader> {
        let (requests, mut incoming) = mpsc::unbounded_channel::<Request>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("jobs-table-reader".into())
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some((kind, reply)) = incoming.recv().await {
                        let _ = reply.send(read(&store, scope, kind).await);
                    }
                })
            })?;
        Ok(TableReader { requests })
    }

    /// Asks for a read; the answer comes on the receiver (an error when the thread is gone).
    pub fn read(&self, kind: ReadKind) -> oneshot::Receiver<Result<TableRead, StoreError>> {
        let (reply, answer) = oneshot::channel();
        let _ = self.requests.send((kind, reply));
        answer
    }
}

async fn read(store: &Store, scope: Scope, kind: ReadKind) -> Result<TableRead, StoreError> {
    if let ReadKind::Since { since, known } = kind {
        if store.count_jobs(scope).await? as usize == known {
            let changed = store
                .jobs_updated_since(scope, since - chrono::Duration::seconds(2))
                .await?;
            return Ok(TableRead {
                present: None,
                jobs: with_digests(changed),
            });
        }
    }
    let jobs = store.list_jobs(scope).await?;
    let present = jobs.iter().map(|job| job.config.job_id.clone()).collect();
    Ok(TableRead {
        present: Some(present),
        jobs: with_digests(jobs),
    })
}

fn with_digests(jobs: Vec<Job>) -> Vec<(Job, u64)> {
    jobs.into_iter()
        .map(|job| {
            let digest = digest(&job.config);
            (job, digest)
        })
        .collect()
}
