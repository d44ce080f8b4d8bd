//! The admin web UI, served at `/ui/` by the service itself: a single page (embedded assets)
//! over the same API and application service as every other front end, with its own session
//! login and CSRF tokens.

pub mod api;
mod assets;
pub mod sessions;

use actix_web::web;

use crate::routes::{auth, content_type, not_allowed};

/// Mounts `/ui`, `/ui/` and its files, and the UI's data under `/ui/api`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ui").route(web::get().to(assets::to_index)))
        .service(
            web::scope("/ui")
                .service(
                    web::resource("/api/session")
                        .wrap(actix_web::middleware::from_fn(content_type::require_json))
                        .route(web::get().to(api::session))
                        .route(web::post().to(api::log_in))
                        .route(web::delete().to(api::log_out))
                        .default_service(not_allowed("GET, POST, DELETE")),
                )
                .service(
                    web::scope("/api")
                        .wrap(actix_web::middleware::from_fn(auth::require_token))
                        .service(
                            web::resource("/jobs")
                                .route(web::get().to(api::jobs))
                                .default_service(not_allowed("GET")),
                        )
                        .service(
                            web::resource("/overview")
                                .route(web::get().to(api::overview))
                                .default_service(not_allowed("GET")),
                        ),
                )
                .service(web::resource("/").route(web::get().to(assets::index)))
                .service(web::resource("/{file}").route(web::get().to(assets::asset))),
        );
}
