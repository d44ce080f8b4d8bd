use actors::Scope;
use reqwest::{Method, StatusCode};

use crate::helpers::{spawn_app, Backend};

async fn health_and_ready_answer(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;

    let health = app.send(Method::GET, "/health", None).await;
    let ready = app.send(Method::GET, "/ready", None).await;

    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    assert_eq!(ready.status, StatusCode::OK, "{:?}", ready.body);
    assert_eq!(ready.body["database"], "up");
}
crate::on_both_backends!(health_and_ready_answer);

#[actix_web::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;

    let missing = app.send(Method::GET, "/nowhere", None).await;
    let bad_path = app.send(Method::GET, "/jobs/%FF", None).await;
    let wrong_method = app.send(Method::PATCH, "/jobs", None).await;

    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["error"], "not_found");
    assert_eq!(bad_path.status, StatusCode::NOT_FOUND);
    assert_eq!(
        bad_path.body["error"], "not_found",
        "a JSON error for a path that is not UTF-8"
    );
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.body["error"], "method_not_allowed");
}
