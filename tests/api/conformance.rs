//! Every answer the test suite gets is checked against the service's own OpenAPI document:
//! the operation exists, its status code is documented, the body has the documented media
//! type and matches the documented schema, and the documented headers are present. A request
//! body that the service accepted (2xx) must also match the documented request schema, so the
//! document never refuses what the service takes. Requests to paths or methods the document
//! does not list must get the JSON 404 / 405 error (405 with `Allow`).

use std::collections::HashMap;
use std::sync::OnceLock;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

struct Document {
    openapi: Value,
    validators: std::sync::Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| Document {
        openapi: serde_json::to_value(
            <jennie_scheduler::openapi::ApiDoc as utoipa::OpenApi>::openapi(),
        )
        .expect("the OpenAPI document serializes"),
        validators: Default::default(),
    })
}

impl Document {
    /// A validator for `schema`, resolving `#/components/...` against the document.
    fn validator(&self, schema: &Value) -> std::sync::Arc<jsonschema::Validator> {
        let key = schema.to_string();
        let mut cache = self.validators.lock().expect("validator cache");
        if let Some(validator) = cache.get(&key) {
            return validator.clone();
        }
        let mut root = schema.clone();
        if let Value::Object(root) = &mut root {
            root.insert("components".into(), self.openapi["components"].clone());
        }
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|error| panic!("the document's schema {schema} compiles: {error}"));
        let validator = std::sync::Arc::new(validator);
        cache.insert(key, validator.clone());
        validator
    }

    /// The path template of the document that `path` is an instance of.
    fn template_of(&self, path: &str) -> Option<(&str, &Value)> {
        let segments: Vec<&str> = path.split('/').collect();
        self.openapi["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .find(|(template, _)| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == segments.len()
                    && parts.iter().zip(&segments).all(|(part, segment)| {
                        (part.starts_with('{') && !segment.is_empty()) || part == segment
                    })
            })
            .map(|(template, item)| (template.as_str(), item))
    }

    fn check_schema(&self, what: &str, schema: &Value, instance: &Value) {
        let validator = self.validator(schema);
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|error| format!("{error} at {}", error.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} does not match the OpenAPI document: {errors:?}\nbody: {instance}"
        );
    }
}

/// One exchange with the service.
pub struct Exchange<'a> {
    pub method: &'a Method,
    /// The path with its query string.
    pub path: &'a str,
    pub request_body: Option<&'a str>,
    pub status: StatusCode,
    pub headers: &'a HeaderMap,
    pub body: &'a str,
}

/// `path` with its percent-encoded letters, digits and `-._~` decoded, as the router sees it
/// (`/%6Aobs` is `/jobs`).
fn unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| path.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|byte| byte.is_ascii_alphanumeric() || b"-._~".contains(byte));
        match decoded {
            Some(byte) => {
                out.push(char::from(byte));
                i += 3;
            }
            None => {
                out.push(char::from(bytes[i]));
                i += 1;
            }
        }
    }
    out
}

/// Panics with what differs when the exchange is not what the document promises.
pub fn check(exchange: &Exchange<'_>) {
    let document = document();
    let path = unreserved(exchange.path.split('?').next().unwrap_or_default());
    let path = path.as_str();
    let what = format!(
        "{} {} → {}",
        exchange.method, exchange.path, exchange.status
    );
    if path.starts_with("/docs") || path == "/openapi.json" {
        return; // the document and its page, not operations of it
    }
    if path == "/ui" || (path.starts_with("/ui/") && !path.starts_with("/ui/api/")) {
        return; // the UI's page and files
    }
    let operation = document.template_of(path).and_then(|(_, item)| {
        let method = exchange.method.as_str().to_ascii_lowercase();
        item.get(&method)
    });
    let Some(operation) = operation else {
        // Not an operation of the document: the service must say so as JSON.
        assert!(
            matches!(exchange.status.as_u16(), 404 | 405),
            "{what}: a request outside the document must be 404 or 405"
        );
        if exchange.status == StatusCode::METHOD_NOT_ALLOWED {
            assert!(
                exchange.headers.contains_key("allow"),
                "{what}: 405 without Allow"
            );
        }
        let error_body = serde_json::json!({"$ref": "#/components/schemas/ErrorBody"});
        document.check_schema(&what, &error_body, &json_of(&what, exchange.body));
        return;
    };
    let status = exchange.status.as_u16().to_string();
    let Some(response) = operation["responses"].get(&status) else {
        panic!(
            "{what}: status {status} is not documented for this operation (documented: {:?})\nbody: {}",
            operation["responses"].as_object().map(|r| r.keys().collect::<Vec<_>>()),
            exchange.body
        );
    };
    if let Some(headers) = response["headers"].as_object() {
        for name in headers.keys() {
            assert!(
                exchange
                    .headers
                    .contains_key(name.to_ascii_lowercase().as_str()),
                "{what}: documented header {name} missing"
            );
        }
    }
    match response["content"].as_object() {
        None => assert!(
            exchange.body.is_empty(),
            "{what}: documented without a body, answered {}",
            exchange.body
        ),
        Some(content) => {
            let media = exchange
                .headers
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(';').next())
                .unwrap_or_default()
                .trim()
                .to_string();
            let Some(documented) = content.get(&media) else {
                panic!(
                    "{what}: media type '{media}' is not documented ({:?})",
                    content.keys().collect::<Vec<_>>()
                );
            };
            if media == "application/json" {
                if let Some(schema) = documented.get("schema") {
                    document.check_schema(&what, schema, &json_of(&what, exchange.body));
                }
            }
        }
    }
    if exchange.status.is_success() {
        if let Some(body) = exchange.request_body.filter(|body| !body.trim().is_empty()) {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            assert!(
                !schema.is_null(),
                "{what}: the service took a request body the document does not describe"
            );
            document.check_schema(
                &format!("{what} (request body)"),
                schema,
                &json_of(&what, body),
            );
        }
        check_query(&what, operation, exchange.path);
    }
}

/// Every query parameter of an accepted request is documented and within its schema.
fn check_query(what: &str, operation: &Value, path: &str) {
    let Some((_, query)) = path.split_once('?') else {
        return;
    };
    let parameters = operation["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(parameter) = parameters
            .iter()
            .find(|parameter| parameter["in"] == "query" && parameter["name"] == name)
        else {
            panic!("{what}: the service took query parameter '{name}', which is not documented");
        };
        let instance = serde_json::from_str(value).unwrap_or(Value::String(value.into()));
        let document = document();
        document.check_schema(
            &format!("{what} (query {name})"),
            &parameter["schema"],
            &instance,
        );
    }
}

fn json_of(what: &str, body: &str) -> Value {
    serde_json::from_str(body)
        .unwrap_or_else(|error| panic!("{what}: body is not JSON ({error}): {body}"))
}

#[test]
fn the_checker_catches_answers_the_document_does_not_promise() {
    let headers = HeaderMap::new();
    let mut json_headers = HeaderMap::new();
    json_headers.insert("content-type", "application/json".parse().unwrap());
    let exchange = |method: &'static Method,
                    path: &'static str,
                    status: u16,
                    headers: &'static HeaderMap,
                    body: &'static str| {
        std::panic::catch_unwind(move || {
            check(&Exchange {
                method,
                path,
                request_body: None,
                status: StatusCode::from_u16(status).unwrap(),
                headers,
                body,
            })
        })
        .is_ok()
    };
    let json_headers: &'static HeaderMap = Box::leak(Box::new(json_headers));
    let headers: &'static HeaderMap = Box::leak(Box::new(headers));
    let error = r#"{"error": "not_found", "message": "x", "field": null}"#;
    assert!(exchange(&Method::GET, "/jobs/a", 404, json_headers, error));
    assert!(
        !exchange(
            &Method::GET,
            "/jobs/a",
            200,
            json_headers,
            r#"{"job_id": 5}"#
        ),
        "wrong body"
    );
    assert!(
        !exchange(&Method::GET, "/jobs/a", 418, json_headers, error),
        "undocumented status"
    );
    assert!(
        !exchange(&Method::GET, "/jobs/a", 401, json_headers, error),
        "401 without WWW-Authenticate"
    );
    assert!(
        !exchange(&Method::PATCH, "/jobs/a", 405, json_headers, error),
        "405 without Allow"
    );
    assert!(
        !exchange(&Method::GET, "/jobs/a", 404, headers, error),
        "undocumented media type"
    );
}
