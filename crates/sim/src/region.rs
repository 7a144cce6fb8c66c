//! Where each region's APIs live in the simulator: under `/na`, `/eu` and `/fe` of its one
//! address (the bare root is North America), as Amazon's live under their own hosts.

pub use rask_model::region::Region;

/// The sim's path prefix of a region's APIs.
pub fn path_prefix(region: Region) -> &'static str {
    match region {
        Region::Na => "/na",
        Region::Eu => "/eu",
        Region::Fe => "/fe",
    }
}
