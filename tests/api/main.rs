//! Integration suite: the real server over HTTP. Runs on SQLite + in-process counters by
//! default and on PostgreSQL + Redis with `PORTCULLIS_TEST_BACKEND=postgres`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod abuse;
mod admin;
mod admin_cli;
mod admin_resources;
#[allow(dead_code)]
mod admin_support;
mod admin_users;
mod browser_flow;
mod browser_pages;
#[allow(dead_code)]
mod browser_support;
mod cli;
mod cli_users;
mod crash;
mod health;
#[allow(dead_code)] // Helpers serve many test files; not every one uses each.
mod helpers;
mod hostile_input;
mod key_propagation;
mod keys;
mod log_noise;
mod login_concurrency;
mod logs;
mod me;
#[allow(dead_code)]
mod oauth_support;
mod openapi_precision;
mod openapi_summaries;
mod ops;
mod outage;
mod recovery;
mod register;
mod security_headers;
mod signing_algs;
mod slow_clients;
mod token_forgery;
mod token_grants;
mod token_refresh;
