//! The OpenAPI 3 document, generated from the handlers' annotations and the types they
//! read and write, served at `/openapi.json` with an interactive page at `/docs/`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "jennie-scheduler", description = "Central job scheduler: per-job timers firing JSON messages into RabbitMQ."),
    paths(
        routes::jobs::list,
        routes::jobs::create,
        routes::jobs::get,
        routes::jobs::update,
        routes::jobs::delete,
        routes::control::run_now,
        routes::control::pause,
        routes::control::resume,
        routes::control::last_run,
        routes::control::runs,
        routes::health::health,
        routes::health::ready,
        routes::metrics::metrics,
    ),
    components(schemas(worker::JobMessage)),
    modifiers(&BearerAuth),
    tags(
        (name = "jobs", description = "Job definitions"),
        (name = "control", description = "Live control, completion reports and run history"),
        (name = "operations", description = "Health, readiness and metrics (never behind the token)"),
    )
)]
pub struct ApiDoc;

/// `SCHEDULER_API_TOKEN` as an HTTP bearer scheme.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
