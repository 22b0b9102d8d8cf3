//! The EMR Serverless target: a flow that runs as one job run on an EMR Serverless application
//! (StartJobRun), followed through the service's job-run events ([`events`]), its outcome
//! decided from the run's facts by [`crate::model::outcome::decide_job_run_outcome`].

pub mod events;
