//! The command line: `jennie-scheduler [serve]` and `jennie-scheduler migrate up|down|status`.

use actors::Store;
use anyhow::{bail, Context};
use migration::{Migrator, MigratorTrait};

use crate::configuration::Settings;

pub const USAGE: &str = "\
usage: jennie-scheduler [serve]
       jennie-scheduler migrate up [N]     apply pending migrations (all, or N)
       jennie-scheduler migrate down [N]   roll back the last N migrations (default 1)
       jennie-scheduler migrate status     list migrations and whether each is applied
Settings come from config/*.toml and the environment (see README.md).";

/// Runs `migrate <action>` against the configured database.
pub async fn migrate(settings: &Settings, args: &[String]) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database)
        .await
        .with_context(|| format!("connecting to {}", settings.database))?;
    let db = store.connection();
    let steps = |default: Option<u32>| -> anyhow::Result<Option<u32>> {
        match args.get(1) {
            None => Ok(default),
            Some(n) => {
                Ok(Some(n.parse().with_context(|| {
                    format!("'{n}' is not a number of steps")
                })?))
            }
        }
    };
    match args.first().map(String::as_str) {
        Some("up") => Migrator::up(db, steps(None)?).await?,
        Some("down") => Migrator::down(db, steps(Some(1))?).await?,
        Some("status") | None => {
            for migration in Migrator::get_migration_with_status(db).await? {
                println!("{}\t{}", migration.status(), migration.name());
            }
        }
        Some(other) => bail!("unknown migrate action '{other}'\n{USAGE}"),
    }
    Ok(())
}
