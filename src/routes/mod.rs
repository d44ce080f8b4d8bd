//! HTTP routes: one file per resource.

pub(crate) mod audit;
pub(crate) mod auth;
mod body;
pub(crate) mod calendars;
pub(crate) mod content_type;
pub(crate) mod control;
pub(crate) mod health;
pub(crate) mod jobs;
pub(crate) mod metrics;

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::error::ApiError;

pub use auth::ApiToken;
pub(crate) use body::required_json_body;

/// Mounts every route on an actix-web app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/health")
            .route(web::get().to(health::health))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/ready")
            .route(web::get().to(health::ready))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(metrics::metrics))
            .default_service(not_allowed("GET")),
    )
    .service(
        utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
            .url(
                "/openapi.json",
                <crate::openapi::ApiDoc as utoipa::OpenApi>::openapi(),
            )
            // No call-out to the public validator: the page works offline.
            .config(utoipa_swagger_ui::Config::new(["/openapi.json"]).validator_url("none")),
    )
    .service(
        web::scope("/jobs")
            // Registered last, runs first: the token is checked before anything else.
            .wrap(actix_web::middleware::from_fn(content_type::require_json))
            .wrap(actix_web::middleware::from_fn(auth::require_token))
            .service(
                web::resource("")
                    .route(web::get().to(jobs::list))
                    .route(web::post().to(jobs::create))
                    .default_service(not_allowed("GET, POST")),
            )
            .service(
                web::resource("/{job_id}")
                    .route(web::get().to(jobs::get))
                    .route(web::put().to(jobs::update))
                    .route(web::delete().to(jobs::delete))
                    .default_service(not_allowed("GET, PUT, DELETE")),
            )
            .service(post_only("/{job_id}/run-now", control::run_now))
            .service(post_only("/{job_id}/pause", control::pause))
            .service(post_only("/{job_id}/resume", control::resume))
            .service(post_only("/{job_id}/last-run", control::last_run))
            .service(
                web::resource("/{job_id}/runs")
                    .route(web::get().to(control::runs))
                    .default_service(not_allowed("GET")),
            )
            .service(
                web::resource("/{job_id}/schedule")
                    .route(web::get().to(control::schedule))
                    .default_service(not_allowed("GET")),
            ),
    )
    .service(
        web::scope("/calendars")
            .wrap(actix_web::middleware::from_fn(content_type::require_json))
            .wrap(actix_web::middleware::from_fn(auth::require_token))
            .service(
                web::resource("")
                    .route(web::get().to(calendars::list))
                    .default_service(not_allowed("GET")),
            )
            .service(
                web::resource("/{name}")
                    .route(web::get().to(calendars::get))
                    .route(web::put().to(calendars::put))
                    .route(web::delete().to(calendars::delete))
                    .default_service(not_allowed("GET, PUT, DELETE")),
            )
            .service(post_only("/{name}/dates", calendars::add_dates))
            .service(
                web::resource("/{name}/dates/{date}")
                    .route(web::delete().to(calendars::remove_date))
                    .default_service(not_allowed("DELETE")),
            ),
    )
    .service(
        web::resource("/schedule/preview")
            .wrap(actix_web::middleware::from_fn(content_type::require_json))
            .wrap(actix_web::middleware::from_fn(auth::require_token))
            .route(web::post().to(control::preview))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/audit")
            .wrap(actix_web::middleware::from_fn(auth::require_token))
            .route(web::get().to(audit::audit))
            .default_service(not_allowed("GET")),
    )
    .configure(crate::ui::configure)
    .default_service(web::to(no_route));
}

fn post_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::post().to(handler))
        .default_service(not_allowed("POST"))
}

async fn no_route(request: HttpRequest) -> HttpResponse {
    ApiError::NoRoute(request.path().chars().take(200).collect()).error_response()
}

/// The answer to a method a resource does not take: 405 with the `Allow` header.
pub(crate) fn not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move |request: HttpRequest| async move {
        ApiError::MethodNotAllowed(request.method().to_string(), allow).error_response()
    })
}
