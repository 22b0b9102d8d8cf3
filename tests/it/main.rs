//! The adapter and end-to-end tests, in one test binary (as zero2prod's `tests/api/main.rs` and
//! svix's `tests/it/main.rs`): the harness and the AWS SDKs are linked once, not once per
//! file. One module per area; run one with `cargo test -p integration-tests --test it -- flows::`.
//!
//! Every module's tests run in this one process, so what is process-wide is shared:
//! - moto: `integration_tests::world::MOTO` serves the world tests of `flows`, `outcomes` and `secrets`,
//!   and `flow_events`, and `api` starts one of its own (`e2e`, `e2e_api`, `flow_events` and some `secrets` tests start one per
//!   test); each test has a table of its own, secrets and functions under unique names, and
//!   its own fault proxy and receivers, so none sees another's flows;
//! - the log subscriber `api` installs captures every module's log lines (what it checks holds
//!   for all of them: JSON lines, none of its secrets, its own flows found by id); nothing else
//!   sets a subscriber;
//! - the metrics recorder `outcomes` installs counts every module's flows (its check asks for at
//!   least its own); only it flushes the recorder;
//! - ports are free ones, taken per stand-in (`integration_tests::free_port`); no test sets an environment
//!   variable of this process (stand-ins get theirs as they start).

mod api;
mod cli;
mod e2e;
mod e2e_api;
mod e2e_job_runs;
mod eks_job_runs;
mod findings;
mod flow_events;
mod flows;
mod job_runs;
mod outcomes;
mod secrets;
mod steps;
mod template;
