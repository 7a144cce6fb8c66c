//! Alexa's three regions. A user belongs to one; their events, messages and notifications go
//! to that region's APIs, and account linking sends their browser back to that region's host.

use serde::{Deserialize, Serialize};

/// A region of Alexa's cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Region {
    /// North America: `api.amazonalexa.com`.
    #[serde(rename = "NA")]
    Na,
    /// Europe and India: `api.eu.amazonalexa.com`.
    #[serde(rename = "EU")]
    Eu,
    /// Far East and Australia: `api.fe.amazonalexa.com`.
    #[serde(rename = "FE")]
    Fe,
}

impl Region {
    /// All three.
    pub const ALL: [Region; 3] = [Region::Na, Region::Eu, Region::Fe];

    /// `NA`, `EU` or `FE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Na => "NA",
            Region::Eu => "EU",
            Region::Fe => "FE",
        }
    }

    /// Reads `NA`, `EU` or `FE` in any case.
    pub fn parse(s: &str) -> Option<Region> {
        match s.to_ascii_uppercase().as_str() {
            "NA" => Some(Region::Na),
            "EU" => Some(Region::Eu),
            "FE" => Some(Region::Fe),
            _ => None,
        }
    }

    /// The region of a custom-skill request's `context.System.apiEndpoint`: Amazon's hosts
    /// (`api.amazonalexa.com`, `api.eu.amazonalexa.com`, `api.fe.amazonalexa.com`), or a
    /// simulator's per-region path (`…/na`, `…/eu`, `…/fe`).
    pub fn from_api_endpoint(endpoint: &str) -> Option<Region> {
        let e = endpoint.trim_end_matches('/').to_ascii_lowercase();
        let rest = e.split_once("://").map(|(_, r)| r).unwrap_or(&e);
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        match (host, path) {
            ("api.amazonalexa.com", "") => Some(Region::Na),
            ("api.eu.amazonalexa.com", "") => Some(Region::Eu),
            ("api.fe.amazonalexa.com", "") => Some(Region::Fe),
            (_, p) => match p.rsplit('/').next() {
                Some("na") => Some(Region::Na),
                Some("eu") => Some(Region::Eu),
                Some("fe") => Some(Region::Fe),
                _ => None,
            },
        }
    }

    /// The region served by an AWS region's smart-home Lambda: us-east-1 for North America,
    /// eu-west-1 for Europe and India, us-west-2 for the Far East.
    pub fn from_aws(aws_region: &str) -> Option<Region> {
        match aws_region {
            "us-east-1" => Some(Region::Na),
            "eu-west-1" => Some(Region::Eu),
            "us-west-2" => Some(Region::Fe),
            _ => None,
        }
    }

    /// The AWS region whose Lambda serves this Alexa region (the inverse of [`Region::from_aws`]).
    pub fn aws_region(self) -> &'static str {
        match self {
            Region::Na => "us-east-1",
            Region::Eu => "eu-west-1",
            Region::Fe => "us-west-2",
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
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_endpoints_name_their_region() {
        assert_eq!(
            Region::from_api_endpoint("https://api.amazonalexa.com"),
            Some(Region::Na)
        );
        assert_eq!(
            Region::from_api_endpoint("https://api.eu.amazonalexa.com/"),
            Some(Region::Eu)
        );
        assert_eq!(
            Region::from_api_endpoint("https://API.FE.amazonalexa.com"),
            Some(Region::Fe)
        );
        assert_eq!(
            Region::from_api_endpoint("http://127.0.0.1:9090/eu"),
            Some(Region::Eu)
        );
        assert_eq!(Region::from_api_endpoint("https://evil.example"), None);
        assert_eq!(Region::from_api_endpoint("https://api.amazonalexa.com/x"), None);
    }

    #[test]
    fn names() {
        assert_eq!(Region::parse("eu"), Some(Region::Eu));
        assert_eq!(Region::from_aws("us-west-2"), Some(Region::Fe));
        for r in [Region::Na, Region::Eu, Region::Fe] {
            assert_eq!(Region::from_aws(r.aws_region()), Some(r));
        }
        assert_eq!(serde_json::to_value(Region::Na).unwrap(), "NA");
        assert_eq!(Region::Eu.redirect_host(), "layla.amazon.com");
    }
}
