//! The simulator: the four echo-server models and the client behaviours on a
//! virtual clock, emitting the same [`protocol::Event`]s as the live relay so
//! that every view works on both.
//!
//! Not built yet: this crate holds the place of the simulator in the
//! workspace so that the layout tells the architecture from the first commit.
//! Until it lands, the app says so where the simulation will be.

pub use protocol::ServerModel;
