//! The UI's files, compiled into the binary (no CDN: the UI works offline), served with a
//! strict Content-Security-Policy: only this origin's scripts and styles, no framing.

use actix_web::{http::header, web, HttpResponse};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "src/ui/assets/"]
struct Assets;

/// What a browser may load and do on the UI's pages.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

fn file(path: &str) -> Option<HttpResponse> {
    let file = Assets::get(path)?;
    Some(
        HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, content_type(path)))
            .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(file.data.into_owned()),
    )
}

/// `/ui/`: the single page.
pub async fn index() -> HttpResponse {
    file("index.html").unwrap_or_else(|| HttpResponse::NotFound().finish())
}

/// `/ui`: to `/ui/`, so relative asset paths resolve.
pub async fn to_index() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/ui/"))
        .finish()
}

/// `/ui/{file}`: a script, a style sheet or an icon.
pub async fn asset(path: web::Path<String>) -> Result<HttpResponse, crate::error::ApiError> {
    let name = path.into_inner();
    file(&name).ok_or_else(|| crate::error::ApiError::NoRoute(format!("/ui/{name}")))
}
