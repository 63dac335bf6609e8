//! The use cases the command line and the web app share, so that neither implements any of
//! them twice: replaying the log into the projection from the nearest checkpoint, and building
//! the weekly report's model as the log stood at a given position.

pub mod replay;
pub mod report;
