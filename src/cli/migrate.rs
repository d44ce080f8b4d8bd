//! `jennie-scheduler migrate up [N] | down [N] | status` against the configured database.

use actors::Store;
use anyhow::{bail, Context};
use migration::{Migrator, MigratorTrait};

use crate::configuration::Settings;

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
        Some(other) => bail!("unknown migrate action '{other}' (up [N], down [N] or status)"),
    }
    Ok(())
}
