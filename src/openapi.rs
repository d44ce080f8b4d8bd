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
        routes::control::schedule,
        routes::control::preview,
        routes::calendars::list,
        routes::calendars::get,
        routes::calendars::put,
        routes::calendars::delete,
        routes::calendars::add_dates,
        routes::calendars::remove_date,
        routes::audit::audit,
        crate::ui::api::session,
        crate::ui::api::log_in,
        crate::ui::api::log_out,
        crate::ui::api::jobs,
        crate::ui::api::overview,
        routes::health::health,
        routes::health::ready,
        routes::metrics::metrics,
    ),
    components(schemas(worker::JobMessage)),
    modifiers(&BearerAuth, &CommonResponses),
    tags(
        (name = "jobs", description = "Job definitions"),
        (name = "control", description = "Live control, completion reports and run history"),
        (name = "operations", description = "Health, readiness and metrics (never behind the token)"),
        (name = "calendars", description = "Exchange calendars: the closed days jobs on them do not fire on"),
        (name = "audit", description = "What operators did"),
        (name = "ui", description = "The admin UI's session and views (the UI at /ui/ is built on these and the routes above)"),
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

/// The answers every guarded operation (`/jobs`, `/audit`, the UI's views) can give besides
/// its own: 401 (with `WWW-Authenticate`) and 503 everywhere; 403 (CSRF) on changes; 400,
/// 413 and 415 where a body is sent.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Ok(mut document) = serde_json::to_value(&*openapi) else {
            return;
        };
        let error = |description: &str| {
            serde_json::json!({
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
            })
        };
        let Some(paths) = document["paths"].as_object_mut() else {
            return;
        };
        for (path, item) in paths.iter_mut() {
            let guarded = path.starts_with("/jobs")
                || path.starts_with("/calendars")
                || path == "/schedule/preview"
                || path == "/audit"
                || (path.starts_with("/ui/api/") && path != "/ui/api/session");
            if !guarded {
                continue;
            }
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                let Some(responses) = operation["responses"].as_object_mut() else {
                    continue;
                };
                let mut unauthorized = error("Missing or wrong bearer token");
                unauthorized["headers"] = serde_json::json!({
                    "WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}
                });
                responses.insert("401".into(), unauthorized);
                responses.entry("503").or_insert_with(|| {
                    error("The database or the engine is unavailable; nothing was changed")
                });
                if matches!(method.as_str(), "post" | "put" | "delete") {
                    responses.insert(
                        "403".into(),
                        error("A change made with a UI session cookie without its CSRF token (`csrf_token_invalid`)"),
                    );
                }
                if matches!(method.as_str(), "post" | "put") {
                    responses
                        .entry("400")
                        .or_insert_with(|| error("Invalid JSON, body or field"));
                    responses
                        .entry("413")
                        .or_insert_with(|| error("Body larger than 256 KiB"));
                    responses.insert(
                        "415".into(),
                        error(
                            "Content-Type is not application/json (required on every POST and PUT)",
                        ),
                    );
                }
            }
        }
        if let Ok(modified) = serde_json::from_value(document) {
            *openapi = modified;
        }
    }
}
