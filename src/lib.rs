//! portcullis: an OAuth 2.0 / OpenID Connect authorization server with a built-in user service.

pub mod cli;
pub mod clock;
pub mod config;
pub mod counters;
pub mod domain;
pub mod http;
pub mod keys;
pub mod mail;
pub mod startup;
pub mod storage;
pub mod telemetry;

pub use config::Config;
pub use startup::Application;
