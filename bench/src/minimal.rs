//! The ceiling of the API scenario (`jennie-bench minimal-endpoint`): an actix-web server with
//! the service's worker count and one route, `GET /jobs/{id}`, answering a job-shaped JSON
//! object from a map held in memory.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Serialize;

use crate::plan::job_id;

#[derive(Serialize, Clone)]
struct Job {
    job_id: String,
    scope: &'static str,
    reschedule_mode: &'static str,
    interval_seconds: i64,
    cron_expr: &'static str,
    queue: &'static str,
    enabled: bool,
    max_parallel: i64,
    timeout_sec: i64,
    retry_limit: i64,
}

async fn get(jobs: web::Data<Arc<HashMap<String, Job>>>, id: web::Path<String>) -> HttpResponse {
    match jobs.get(id.as_str()) {
        Some(job) => HttpResponse::Ok().json(job),
        None => HttpResponse::NotFound().json(serde_json::json!({"error": "not_found"})),
    }
}

pub fn run(port: u16, jobs: u32, workers: usize) -> std::io::Result<()> {
    let map: HashMap<String, Job> = (0..jobs)
        .map(|index| {
            let id = job_id(index);
            let job = Job {
                job_id: id.clone(),
                scope: "mock",
                reschedule_mode: "scheduler",
                interval_seconds: 3600,
                cron_expr: "",
                queue: "mock.jobs.bench-api",
                enabled: true,
                max_parallel: 1,
                timeout_sec: 120,
                retry_limit: 3,
            };
            (id, job)
        })
        .collect();
    let data = web::Data::new(Arc::new(map));
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/jobs/{id}", web::get().to(get))
        })
        .workers(workers)
        .bind(("127.0.0.1", port))?
        .run();
        println!("minimal endpoint listening");
        server.await
    })
}
