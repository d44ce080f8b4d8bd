use serde_json::json;

use super::*;

fn file(jobs: Value) -> JobsFile {
    JobsFile {
        scope: Scope::Real,
        jobs: jobs
            .as_array()
            .unwrap()
            .iter()
            .map(|job| job.as_object().unwrap().clone())
            .collect(),
    }
}

/// A job as the instance shows it, with the service's defaults.
fn stored(body: Value) -> Value {
    let config = JobConfig::from_create_body(&body, Scope::Real).unwrap();
    let mut job = serde_json::to_value(config).unwrap();
    job["next_due_at"] = Value::Null;
    job
}

#[test]
fn a_plan_creates_updates_only_what_differs_and_prunes_on_request() {
    let current = vec![
        stored(json!({"job_id": "same", "queue": "real.jobs.a", "interval_seconds": 60})),
        stored(
            json!({"job_id": "edit", "queue": "real.jobs.b", "cron_expr": "0 8 * * *", "max_parallel": 2}),
        ),
        stored(json!({"job_id": "extra", "queue": "real.jobs.c", "interval_seconds": 5})),
    ];
    let wanted = file(json!([
        {"job_id": "same", "queue": "real.jobs.a", "interval_seconds": 60},
        {"job_id": "edit", "queue": "real.jobs.b", "cron_expr": "30 8 * * 1-5"},
        {"job_id": "new", "queue": "real.jobs.d", "interval_seconds": 10},
    ]));
    let changes = plan(&wanted, &current, false).unwrap();
    assert_eq!(
        changes[0],
        Change::Unchanged {
            job_id: "same".into()
        }
    );
    // A field left out of the file goes back to its default (max_parallel 1).
    assert_eq!(
        changes[1],
        Change::Update {
            job_id: "edit".into(),
            fields: vec![
                (
                    "cron_expr".into(),
                    json!("0 8 * * *"),
                    json!("30 8 * * 1-5")
                ),
                ("max_parallel".into(), json!(2), json!(1)),
            ]
        }
    );
    assert!(matches!(&changes[2], Change::Create { job_id, .. } if job_id == "new"));
    assert_eq!(changes.len(), 3, "no delete without prune");
    let pruned = plan(&wanted, &current, true).unwrap();
    assert_eq!(
        pruned.last(),
        Some(&Change::Delete {
            job_id: "extra".into()
        })
    );
    assert_eq!(
        pruned[1].line(),
        "~ update edit: cron_expr: \"0 8 * * *\" → \"30 8 * * 1-5\"; max_parallel: 2 → 1"
    );
}

#[test]
fn a_bad_or_repeated_job_stops_the_plan_with_its_name() {
    let error = plan(
        &file(json!([{"job_id": "x", "queue": "mock.jobs.x", "interval_seconds": 5}])),
        &[],
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("job 'x': queue"), "{error}");
    let twice = json!([
        {"job_id": "x", "queue": "real.jobs.x", "interval_seconds": 5},
        {"job_id": "x", "queue": "real.jobs.x", "interval_seconds": 6},
    ]);
    assert!(plan(&file(twice), &[], false)
        .unwrap_err()
        .to_string()
        .contains("twice"));
}

#[test]
fn the_shipped_jobs_files_are_valid_for_their_scope() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, scope) in [("real", Scope::Real), ("mock", Scope::Mock)] {
        let jobs = read_jobs_file(&root.join(format!("config/jobs/{name}.toml"))).unwrap();
        assert_eq!(jobs.scope, scope);
        let changes = plan(&jobs, &[], true).unwrap();
        assert!(!changes.is_empty());
        assert!(changes
            .iter()
            .all(|change| matches!(change, Change::Create { .. })));
    }
}

#[test]
fn a_jobs_file_names_its_scope_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.toml");
    std::fs::write(&path, "jobs = []\n").unwrap();
    assert!(read_jobs_file(&path)
        .unwrap_err()
        .to_string()
        .contains("scope"));
    std::fs::write(&path, "scope = \"mock\"\nextra = 1\n").unwrap();
    assert!(read_jobs_file(&path)
        .unwrap_err()
        .to_string()
        .contains("extra"));
    std::fs::write(&path, "scope = \"mock\"\n[[jobs]]\njob_id = \"a\"\nqueue = \"mock.jobs.a\"\ninterval_seconds = 5\n").unwrap();
    let file = read_jobs_file(&path).unwrap();
    assert_eq!((file.scope, file.jobs.len()), (Scope::Mock, 1));
}
