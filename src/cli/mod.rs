//! The command line. `jennie-scheduler [serve]` runs the service; `migrate` manages the
//! database; `job <verb>` and `jobs apply` steer a running instance over its REST API (the
//! same routes and rules as every other front end).

pub mod apply;
mod calendar;
mod client;
pub(crate) mod job;
mod migrate;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use client::{default_url, Remote};
pub use migrate::migrate;

/// jennie-scheduler: the central job scheduler of the Jennie trading platform.
#[derive(Debug, Parser)]
#[command(
    name = "jennie-scheduler",
    version,
    after_help = "Settings of the service come from config/*.toml and the environment (see README.md)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the scheduler (the default).
    Serve,
    /// Database migrations: `up [N]`, `down [N]` (default 1), `status`.
    Migrate {
        /// up [N] | down [N] | status
        args: Vec<String>,
    },
    /// One job of a running instance: list, status, runs, run, pause, resume, create, edit,
    /// delete; and preview, the next instants of any schedule.
    Job {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(subcommand)]
        verb: JobVerb,
    },
    /// The exchange calendars of a running instance: list, show, put, add, remove, delete.
    Calendar {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(subcommand)]
        verb: CalendarVerb,
    },
    /// All jobs of a running instance at once.
    Jobs {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(subcommand)]
        verb: JobsVerb,
    },
}

/// Which instance, and how to answer.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// The instance's base URL [default: $SCHEDULER_URL, else by $SCHEDULER_SCOPE: real
    /// http://127.0.0.1:8095, mock http://127.0.0.1:9095]. The token is $SCHEDULER_API_TOKEN.
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// Answer JSON (for scripts) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum JobVerb {
    /// Every job of the scope, with its schedule in words.
    List {
        /// all, failing, paused, running or enabled
        #[arg(long)]
        state: Option<String>,
        /// Text in job_id, queue, cron or description.
        #[arg(long)]
        text: Option<String>,
    },
    /// One job's settings, state and next instants.
    Status { job_id: String },
    /// A job's newest runs.
    Runs {
        job_id: String,
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// Only runs of this status.
        #[arg(long)]
        status: Option<String>,
    },
    /// Publish a run now.
    Run {
        job_id: String,
        /// Params overlaid on the job's default_params (a JSON object).
        #[arg(long)]
        params: Option<String>,
        /// Run even when max_parallel runs are in flight.
        #[arg(long)]
        force: bool,
    },
    /// Stop the schedule (runs in flight go on).
    Pause { job_id: String },
    /// Start the schedule again.
    Resume { job_id: String },
    /// Create a job from a JSON or TOML file.
    Create {
        #[arg(short = 'f', long)]
        file: PathBuf,
    },
    /// Change the fields a JSON or TOML file names.
    Edit {
        job_id: String,
        #[arg(short = 'f', long)]
        file: PathBuf,
    },
    /// Stop and delete a job with its run history.
    Delete { job_id: String },
    /// The next instants of a schedule that need not be a job, in words and in its zone.
    Preview {
        /// A 5-field cron expression (with L, LW, nW, d#n, dL).
        #[arg(long)]
        cron: Option<String>,
        /// Every N seconds, when there is no cron.
        #[arg(long)]
        interval: Option<i64>,
        /// An IANA zone [default: the instance's].
        #[arg(long)]
        timezone: Option<String>,
        /// Jitter bound in seconds (the offset comes from --job-id's hash).
        #[arg(long)]
        jitter: Option<i64>,
        #[arg(long)]
        job_id: Option<String>,
        /// An exchange calendar: instants on its closed days are marked.
        #[arg(long)]
        calendar: Option<String>,
        /// skip or next_open_day [default: skip].
        #[arg(long)]
        calendar_mode: Option<String>,
        #[arg(long, default_value_t = 10)]
        count: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum CalendarVerb {
    /// Every calendar of the scope.
    List,
    /// One calendar: its closed weekdays, its jobs and its dates by year.
    Show { name: String },
    /// Create or replace a calendar from a JSON or TOML file (`dates`, `description`,
    /// `weekend`), as config/calendars/*.toml are written.
    Put {
        name: String,
        #[arg(short = 'f', long)]
        file: PathBuf,
    },
    /// List closed dates (YYYY-MM-DD); those listed already stay.
    Add {
        name: String,
        #[arg(required = true)]
        dates: Vec<String>,
    },
    /// Open a listed date again.
    Remove { name: String, date: String },
    /// Delete a calendar no job uses.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum JobsVerb {
    /// Make the scope's jobs match a file (create and update; delete the others with --prune),
    /// printing each change.
    Apply {
        /// A TOML or JSON file: `scope = "real"` and `[[jobs]]` tables of job fields.
        #[arg(short = 'f', long)]
        file: PathBuf,
        /// Also delete the scope's jobs the file does not name.
        #[arg(long)]
        prune: bool,
        /// Print the changes without making them.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs `job …` or `jobs …`; answers what to print.
pub async fn remote_command(
    remote_args: &RemoteArgs,
    command: RemoteCommand<'_>,
) -> anyhow::Result<String> {
    let url = remote_args.url.clone().unwrap_or_else(default_url);
    let remote = Remote::new(&url);
    match command {
        RemoteCommand::Job(verb) => job::run(&remote, verb, remote_args.json).await,
        RemoteCommand::Calendar(verb) => calendar::run(&remote, verb, remote_args.json).await,
        RemoteCommand::Jobs(JobsVerb::Apply {
            file,
            prune,
            dry_run,
        }) => apply::apply(&remote, file, *prune, *dry_run).await,
    }
}

/// What a remote command asks.
pub enum RemoteCommand<'a> {
    Job(&'a JobVerb),
    Calendar(&'a CalendarVerb),
    Jobs(&'a JobsVerb),
}
