//! The seed's example registrations, read from `config/examples/`, exactly as written there.

use actors::Scope;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, Backend};

fn examples(scope: &str) -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/examples")
        .join(scope);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).expect("JSON")
        })
        .collect()
}

async fn real_examples_register_on_a_real_instance(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let examples = examples("real");
    assert_eq!(examples.len(), 5);

    for example in &examples {
        let reply = app.post_job(example).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{example}: {:?}",
            reply.body
        );
        for (field, value) in example.as_object().expect("object") {
            assert_eq!(
                &reply.body[field], value,
                "{field} of {}",
                example["job_id"]
            );
        }
    }
    assert_eq!(app.list_jobs().await.len(), 5);
}
crate::on_both_backends!(real_examples_register_on_a_real_instance);

async fn mock_examples_register_only_on_a_mock_instance(backend: Backend) {
    let mock = spawn_app(Scope::Mock, backend).await;
    let real = spawn_app(Scope::Real, backend).await;

    for example in examples("mock") {
        let on_mock = mock.post_job(&example).await;
        let on_real = real.post_job(&example).await;

        assert_eq!(
            on_mock.status,
            StatusCode::CREATED,
            "{example}: {:?}",
            on_mock.body
        );
        assert_eq!(on_mock.body["scope"], "mock");
        assert_eq!(
            on_real.status,
            StatusCode::BAD_REQUEST,
            "{example}: {:?}",
            on_real.body
        );
        assert_eq!(on_real.body["field"], "queue");
    }
    assert_eq!(mock.list_jobs().await.len(), 2);
    assert!(real.list_jobs().await.is_empty());
}
crate::on_both_backends!(mock_examples_register_only_on_a_mock_instance);
