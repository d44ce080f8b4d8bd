//! Keeping the engine's calendars current across instances: a calendar changed through a peer
//! is announced on the control plane and read again here at once; in cluster mode every
//! calendar is also read again each minute, in case an announcement was lost.

use std::time::Duration;

use actix::prelude::*;

use super::supervisor::Supervisor;

/// How often cluster mode reads every calendar again.
pub const CALENDAR_RESYNC: Duration = Duration::from_secs(60);

/// Read the calendar named (every calendar when `None`) from the table into the registry.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RefreshCalendar(pub Option<String>);

impl Handler<RefreshCalendar> for Supervisor {
    type Result = ();

    fn handle(&mut self, RefreshCalendar(name): RefreshCalendar, ctx: &mut Context<Self>) {
        let engine = self.engine.clone();
        let (store, scope) = (engine.store.clone(), engine.settings.scope);
        let read_at = chrono::Utc::now();
        ctx.spawn(
            async move {
                match name {
                    Some(name) => match store.get_calendar(scope, &name).await {
                        Ok(Some(calendar)) => engine.calendars.set(calendar),
                        Ok(None) => engine.calendars.remove(&name),
                        Err(error) => {
                            tracing::warn!(%error, calendar = %name, "reading a calendar another instance changed failed; read again within a minute")
                        }
                    },
                    None => match store.list_calendars(scope).await {
                        Ok(calendars) => engine.calendars.replace_all(calendars, read_at),
                        Err(error) => {
                            tracing::warn!(%error, "reading the calendars failed; the ones in memory stay")
                        }
                    },
                }
            }
            .into_actor(self),
        );
    }
}
