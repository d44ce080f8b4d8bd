//! Integration tests: each starts the real service on port 0 with a database of its own.

mod access;
mod amqp;
mod bad_inputs;
mod browser;
mod cli;
mod completion;
mod conformance;
mod control;
mod crash;
mod database_outage;
mod faults;
mod firing;
mod hardening;
mod health;
mod helpers;
mod jobs;
mod migrate;
mod observability;
mod reconcile;
mod report_queue;
mod restart;
mod seed_examples;
mod staged;
mod ui;
mod worker_loop;
