//! Run targets: what a flow runs on.

pub mod cluster;
