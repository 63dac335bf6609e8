//! The use cases the command line and the web app share, so that neither implements any of
//! them twice: replaying the log into the projection from the nearest checkpoint, building the
//! weekly report's model as the log stood at a given position (its material from an index), publishing and reproducing the
//! report, and building the events staff write each week.

pub mod caches;
pub mod clock;
pub mod day_input;
pub mod edition;
pub mod edition_cache;
pub mod intranet;
pub mod mail;
pub mod material;
pub mod matters;
pub mod params;
pub mod provenance;
pub mod publish;
pub mod replay;
pub mod report;
pub mod staff;
pub mod window;
