//! Alexa's regions. A user's events go to the gateway of the region their AcceptGrant came
//! from; Skill Messaging's Far East host differs from the others.

pub use rask_model::region::Region;

/// Where Alexa's APIs are: Amazon's hosts, or a simulator's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Login with Amazon's base (`https://api.amazon.com`).
    pub lwa: String,
    /// The Alexa API base per region (`https://api.amazonalexa.com`, ...).
    pub alexa_api: [String; 3],
    /// Skill Messaging's base per region: the Alexa API's, but for the Far East
    /// (`https://api.fe.amazon.com`).
    pub skill_messaging: [String; 3],
}

impl Endpoints {
    /// Amazon's own hosts.
    pub fn amazon() -> Self {
        Endpoints {
            lwa: "https://api.amazon.com".into(),
            alexa_api: [
                "https://api.amazonalexa.com".into(),
                "https://api.eu.amazonalexa.com".into(),
                "https://api.fe.amazonalexa.com".into(),
            ],
            skill_messaging: [
                "https://api.amazonalexa.com".into(),
                "https://api.eu.amazonalexa.com".into(),
                "https://api.fe.amazon.com".into(),
            ],
        }
    }

    /// A simulator at `base` (`rask sim` serves the regions under `/na`, `/eu`, `/fe`).
    pub fn simulator(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        Endpoints {
            lwa: base.into(),
            alexa_api: [format!("{base}/na"), format!("{base}/eu"), format!("{base}/fe")],
            skill_messaging: [format!("{base}/na"), format!("{base}/eu"), format!("{base}/fe")],
        }
    }

    /// The Alexa API base of a region.
    pub fn api(&self, region: Region) -> &str {
        match region {
            Region::Na => &self.alexa_api[0],
            Region::Eu => &self.alexa_api[1],
            Region::Fe => &self.alexa_api[2],
        }
    }

    /// Skill Messaging's base in a region.
    pub fn skill_messaging(&self, region: Region) -> &str {
        match region {
            Region::Na => &self.skill_messaging[0],
            Region::Eu => &self.skill_messaging[1],
            Region::Fe => &self.skill_messaging[2],
        }
    }

    /// The Event Gateway URL of a region.
    pub fn gateway(&self, region: Region) -> String {
        format!("{}/v3/events", self.api(region))
    }

    /// LWA's token URL.
    pub fn token_url(&self) -> String {
        format!("{}/auth/o2/token", self.lwa)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amazon_and_sim_urls() {
        let a = Endpoints::amazon();
        assert_eq!(a.gateway(Region::Eu), "https://api.eu.amazonalexa.com/v3/events");
        assert_eq!(a.token_url(), "https://api.amazon.com/auth/o2/token");
        let s = Endpoints::simulator("http://127.0.0.1:9090/");
        assert_eq!(s.gateway(Region::Fe), "http://127.0.0.1:9090/fe/v3/events");
        assert_eq!(
            a.skill_messaging(Region::Fe),
            "https://api.fe.amazon.com",
            "not amazonalexa"
        );
        assert_eq!(a.skill_messaging(Region::Na), a.api(Region::Na));
    }
}
