//! The forwarder's settings, from the Lambda function's environment variables. Each error
//! names the variable, since a Lambda's log is often the only place a mistake shows.

use std::time::Duration;

use rask_model::forwarder::MIN_SECRET_BYTES;

/// Alexa waits 8 s for an answer; the forwarder gives rask this long by default.
pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(7000);

/// What the forwarder needs.
#[derive(Clone)]
pub struct Settings {
    /// `RASK_URL`: the rask server's public base URL, such as `https://home.example.com`.
    pub rask_url: String,
    /// `RASK_FORWARDER_SECRET`: shared with rask's `alexa.forwarder_secret_env`.
    pub secret: Vec<u8>,
    /// `AWS_REGION`: set by Lambda; tells rask which Event Gateway the user belongs to.
    pub aws_region: String,
    /// `RASK_DEADLINE_MS`: how long to wait for rask (default 7000, at most 7900).
    pub deadline: Duration,
    /// `RASK_CA_CERT`: a PEM certificate to trust besides the public roots (a private CA).
    pub extra_root_pem: Option<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("rask_url", &self.rask_url)
            .field("aws_region", &self.aws_region)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// A setting that is missing or wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {problem}")]
pub struct SettingsError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn wrong(variable: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        variable,
        problem: problem.into(),
    }
}

impl Settings {
    /// Reads the settings through `var` (the process environment in production).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let rask_url = var("RASK_URL").filter(|v| !v.is_empty()).ok_or_else(|| {
            wrong(
                "RASK_URL",
                "not set; it is rask's public URL, such as https://home.example.com",
            )
        })?;
        let rask_url = rask_url.trim_end_matches('/').to_owned();
        // Directives carry users' tokens and grant codes: plain HTTP only to this machine.
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| {
                rask_url
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
            });
        if !(rask_url.starts_with("https://") || loopback) {
            return Err(wrong(
                "RASK_URL",
                format!(
                    "{rask_url:?} is not an https:// URL (plain http:// only to this machine's loopback)"
                ),
            ));
        }
        let secret = var("RASK_FORWARDER_SECRET").unwrap_or_default().into_bytes();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(wrong(
                "RASK_FORWARDER_SECRET",
                format!(
                    "must be at least {MIN_SECRET_BYTES} bytes, the same value as rask's forwarder secret (it has {})",
                    secret.len()
                ),
            ));
        }
        let aws_region = var("AWS_REGION").filter(|v| !v.is_empty()).ok_or_else(|| {
            wrong(
                "AWS_REGION",
                "not set (Lambda sets it; set it by hand only outside Lambda)",
            )
        })?;
        if rask_model::region::Region::from_aws(&aws_region).is_none() {
            return Err(wrong(
                "AWS_REGION",
                format!(
                    "{aws_region}: Alexa calls smart-home Lambdas only in us-east-1 (North America), eu-west-1 (Europe and India) and us-west-2 (Far East); deploy the forwarder there"
                ),
            ));
        }
        let deadline = match var("RASK_DEADLINE_MS") {
            None => DEFAULT_DEADLINE,
            Some(v) => match v.parse::<u64>() {
                Ok(ms @ 100..=7900) => Duration::from_millis(ms),
                _ => {
                    return Err(wrong(
                        "RASK_DEADLINE_MS",
                        format!("{v:?} is not a number of milliseconds from 100 to 7900 (Alexa waits 8 s)"),
                    ));
                }
            },
        };
        Ok(Settings {
            rask_url,
            secret,
            aws_region,
            deadline,
            extra_root_pem: var("RASK_CA_CERT").filter(|v| !v.is_empty()),
        })
    }

    /// Where directives go.
    pub fn endpoint(&self) -> String {
        format!("{}/alexa/smarthome", self.rask_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn reads_a_complete_environment() {
        let s = Settings::from_env(env(&[
            ("RASK_URL", "https://home.example.com/"),
            ("RASK_FORWARDER_SECRET", SECRET),
            ("AWS_REGION", "eu-west-1"),
            ("RASK_DEADLINE_MS", "2500"),
        ]))
        .unwrap();
        assert_eq!(s.endpoint(), "https://home.example.com/alexa/smarthome");
        assert_eq!(s.deadline, Duration::from_millis(2500));
        assert!(!format!("{s:?}").contains(SECRET), "the secret stays out of logs");
    }

    #[test]
    fn each_bad_variable_is_named() {
        let base = [
            ("RASK_URL", "https://h"),
            ("RASK_FORWARDER_SECRET", SECRET),
            ("AWS_REGION", "us-east-1"),
        ];
        let without =
            |name: &str| -> Vec<(&str, &str)> { base.iter().copied().filter(|(k, _)| *k != name).collect() };
        for name in ["RASK_URL", "RASK_FORWARDER_SECRET", "AWS_REGION"] {
            let pairs = without(name);
            assert_eq!(Settings::from_env(env(&pairs)).unwrap_err().variable, name);
        }
        let mut short = without("RASK_FORWARDER_SECRET");
        short.push(("RASK_FORWARDER_SECRET", "short"));
        assert!(
            Settings::from_env(env(&short))
                .unwrap_err()
                .problem
                .contains("at least 32 bytes")
        );
        let mut slow = base.to_vec();
        slow.push(("RASK_DEADLINE_MS", "9000"));
        assert_eq!(
            Settings::from_env(env(&slow)).unwrap_err().variable,
            "RASK_DEADLINE_MS"
        );
        for url in [
            "ftp://h",
            "http://home.example.com",
            "http://127.0.0.1.evil.example",
        ] {
            let mut pairs = without("RASK_URL");
            pairs.push(("RASK_URL", url));
            assert_eq!(
                Settings::from_env(env(&pairs)).unwrap_err().variable,
                "RASK_URL",
                "{url}"
            );
        }
        let mut local = without("RASK_URL");
        local.push(("RASK_URL", "http://127.0.0.1:8080"));
        assert!(Settings::from_env(env(&local)).is_ok());
        let mut frankfurt = without("AWS_REGION");
        frankfurt.push(("AWS_REGION", "eu-central-1"));
        assert!(
            Settings::from_env(env(&frankfurt))
                .unwrap_err()
                .problem
                .contains("eu-west-1")
        );
    }
}
