//! Integration tests: real components, built from `plugins/` for wasm32-wasip2, run through
//! the real runtime and the real HTTP router.

mod authoring;
mod authority;
mod authorization;
mod binding_settings;
mod containment;
mod example_plugins;
mod extension_points;
mod gated_actions;
mod hostile_plugins;
mod http_api;
mod install;
mod operate_on_behalf;
mod polyglot;
mod replicas;
mod support;
