//! jennie-scheduler: the service binary's library (configuration, HTTP API, telemetry,
//! start-up wiring, CLI). The engine lives in the `actors` crate.

pub mod api;
pub mod api_views;
pub mod calendar_files;
pub mod cli;
pub mod configuration;
pub mod error;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod telegram;
pub mod telemetry;
pub mod ui;
