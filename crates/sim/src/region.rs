//! Alexa's three regions and the base URL of each in the simulator.

use serde::{Deserialize, Serialize};

/// A region of Alexa's cloud. A user belongs to one; events for that user go to its gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Region {
    /// North America: `api.amazonalexa.com`; in the sim `/na` (and the bare root).
    #[serde(rename = "NA")]
    Na,
    /// Europe and India: `api.eu.amazonalexa.com`; in the sim `/eu`.
    #[serde(rename = "EU")]
    Eu,
    /// Far East and Australia: `api.fe.amazonalexa.com`; in the sim `/fe`.
    #[serde(rename = "FE")]
    Fe,
}

impl Region {
    /// The path prefix of this region's APIs in the sim.
    pub fn path_prefix(self) -> &'static str {
        match self {
            Region::Na => "/na",
            Region::Eu => "/eu",
            Region::Fe => "/fe",
        }
    }

    /// Amazon's account-linking redirect host for this region.
    pub fn redirect_host(self) -> &'static str {
        match self {
            Region::Na => "pitangui.amazon.com",
            Region::Eu => "layla.amazon.com",
            Region::Fe => "alexa.amazon.co.jp",
        }
    }

    /// `NA`, `EU` or `FE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Na => "NA",
            Region::Eu => "EU",
            Region::Fe => "FE",
        }
    }

    /// Reads `NA`, `EU` or `FE` (any case).
    pub fn parse(s: &str) -> Option<Region> {
        match s.to_ascii_uppercase().as_str() {
            "NA" => Some(Region::Na),
            "EU" => Some(Region::Eu),
            "FE" => Some(Region::Fe),
            _ => None,
        }
    }

    /// All three.
    pub const ALL: [Region; 3] = [Region::Na, Region::Eu, Region::Fe];
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
