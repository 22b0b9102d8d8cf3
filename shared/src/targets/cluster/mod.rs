//! The cluster target: a flow that runs on an EMR cluster of its own (RunJobFlow).

pub mod events;
