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

/// Every example's schedule previewed: in words, in Seoul time, the next instants on the
/// weekdays and times its cron names.
async fn every_example_s_schedule_is_previewed(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let expected = [
        ("buy-scanner", "every 5 minutes"),
        ("news-crawler", "every 10 minutes"),
        ("price-monitor-start", "at 09:00, Monday to Friday"),
        ("price-monitor-stop", "at 15:30, Monday to Friday"),
        ("scout-daily", "at 08:00, Monday to Friday"),
    ];
    for example in examples("real") {
        assert_eq!(app.post_job(&example).await.status, StatusCode::CREATED);
    }
    for (job_id, words) in expected {
        let preview = app
            .send(
                reqwest::Method::GET,
                &format!("/jobs/{job_id}/schedule?count=5"),
                None,
            )
            .await;
        assert_eq!(preview.status, StatusCode::OK, "{job_id}");
        assert_eq!(preview.body["description"], words, "{job_id}");
        assert_eq!(preview.body["timezone"], "Asia/Seoul");
        assert_eq!(
            preview.body["dst"],
            Value::Null,
            "Seoul has no clock changes"
        );
        let instants = preview.body["instants"].as_array().expect("instants");
        assert_eq!(instants.len(), 5, "{job_id}");
        for instant in instants {
            let local = chrono::DateTime::parse_from_rfc3339(instant["local"].as_str().unwrap())
                .expect("local time");
            assert_eq!(local.offset().local_minus_utc(), 9 * 3600, "{instant}");
            let (minute, hour) = (
                chrono::Timelike::minute(&local),
                chrono::Timelike::hour(&local),
            );
            let weekday = chrono::Datelike::weekday(&local).num_days_from_monday();
            match job_id {
                "buy-scanner" => assert_eq!(minute % 5, 0),
                "news-crawler" => assert_eq!(minute % 10, 0),
                _ => {
                    assert!(weekday < 5, "{job_id} on a weekend: {instant}");
                    let at = match job_id {
                        "price-monitor-start" => (9, 0),
                        "price-monitor-stop" => (15, 30),
                        _ => (8, 0),
                    };
                    assert_eq!((hour, minute), at, "{job_id}: {instant}");
                }
            }
        }
    }
}
crate::on_both_backends!(every_example_s_schedule_is_previewed);
