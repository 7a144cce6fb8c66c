//! The `SignatureCertChainUrl` rules: where Amazon's signing certificate may come from.
//!
//! `https` (any case), host `s3.amazonaws.com` (any case), port 443 or none, and a path that
//! starts with `/echo.api/` (exactly that case) once `.` and `..` segments are resolved.

use thiserror::Error;
use url::Url;

/// A certificate URL that breaks Amazon's rules.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertUrlError {
    /// Not a URL at all.
    #[error("SignatureCertChainUrl is not a URL")]
    NotAUrl,
    /// Not https.
    #[error("SignatureCertChainUrl must use https, not {0}")]
    Scheme(String),
    /// Not Amazon's host.
    #[error("SignatureCertChainUrl must be on s3.amazonaws.com, not {0}")]
    Host(String),
    /// A port other than 443.
    #[error("SignatureCertChainUrl must use port 443, not {0}")]
    Port(u16),
    /// Outside `/echo.api/`.
    #[error("SignatureCertChainUrl's path must start with /echo.api/, it is {0}")]
    Path(String),
    /// A user name, query or fragment, which Amazon's URLs never have: each would make the
    /// same chain another cache entry.
    #[error("SignatureCertChainUrl must have no user name, query or fragment")]
    Extra,
}

/// Checks `raw` against Amazon's rules, and returns it parsed (with its path normalised).
pub fn check(raw: &str) -> Result<Url, CertUrlError> {
    // The url crate lowercases the scheme and host and resolves dot segments, as the rules
    // require, and reports a port only when it is not the scheme's default.
    let url = Url::parse(raw).map_err(|_| CertUrlError::NotAUrl)?;
    if url.scheme() != "https" {
        return Err(CertUrlError::Scheme(cut(url.scheme())));
    }
    match url.host_str() {
        Some("s3.amazonaws.com") => {}
        other => return Err(CertUrlError::Host(cut(other.unwrap_or("")))),
    }
    if let Some(port) = url.port() {
        return Err(CertUrlError::Port(port));
    }
    if !url.path().starts_with("/echo.api/") {
        return Err(CertUrlError::Path(cut(url.path())));
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(CertUrlError::Extra);
    }
    Ok(url)
}

fn cut(s: &str) -> String {
    rask_model::limits::logged(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The cases the ASK SDKs' own verifiers test, and a few more.
    #[test]
    fn amazons_rules() {
        let good = [
            "https://s3.amazonaws.com/echo.api/echo-api-cert.pem",
            "HTTPS://s3.amazonaws.com/echo.api/echo-api-cert.pem",
            "https://S3.AMAZONAWS.COM/echo.api/echo-api-cert.pem",
            "https://s3.amazonaws.com:443/echo.api/echo-api-cert.pem",
            "https://s3.amazonaws.com/echo.api/../echo.api/echo-api-cert.pem",
            "https://s3.amazonaws.com/echo.api/./echo-api-cert.pem",
        ];
        for u in good {
            assert!(check(u).is_ok(), "{u}: {:?}", check(u));
        }
        let bad = [
            (
                "http://s3.amazonaws.com/echo.api/echo-api-cert.pem",
                CertUrlError::Scheme("http".into()),
            ),
            (
                "https://notamazon.com/echo.api/echo-api-cert.pem",
                CertUrlError::Host("notamazon.com".into()),
            ),
            (
                "https://s3.amazonaws.com.evil.com/echo.api/cert.pem",
                CertUrlError::Host("s3.amazonaws.com.evil.com".into()),
            ),
            (
                "https://s3.amazonaws.com:563/echo.api/echo-api-cert.pem",
                CertUrlError::Port(563),
            ),
            (
                "https://s3.amazonaws.com/EcHo.aPi/echo-api-cert.pem",
                CertUrlError::Path("/EcHo.aPi/echo-api-cert.pem".into()),
            ),
            (
                "https://s3.amazonaws.com/invalid.path/echo-api-cert.pem",
                CertUrlError::Path("/invalid.path/echo-api-cert.pem".into()),
            ),
            (
                "https://s3.amazonaws.com/echo.api/../invalid.path/echo-api-cert.pem",
                CertUrlError::Path("/invalid.path/echo-api-cert.pem".into()),
            ),
            (
                "https://s3.amazonaws.com/echo.api/../../echo-api-cert.pem",
                CertUrlError::Path("/echo-api-cert.pem".into()),
            ),
            (
                "https://s3.amazonaws.com/echo.api",
                CertUrlError::Path("/echo.api".into()),
            ),
            (
                "https://s3.amazonaws.com/echo.api/echo-api-cert.pem?n=1",
                CertUrlError::Extra,
            ),
            (
                "https://s3.amazonaws.com/echo.api/echo-api-cert.pem#1",
                CertUrlError::Extra,
            ),
            (
                "https://me@s3.amazonaws.com/echo.api/echo-api-cert.pem",
                CertUrlError::Extra,
            ),
            (
                "https://s3.amazonaws.com@evil.com/echo.api/echo-api-cert.pem",
                CertUrlError::Host("evil.com".into()),
            ),
            (
                "https://s3.amazonaws.com./echo.api/echo-api-cert.pem",
                CertUrlError::Host("s3.amazonaws.com.".into()),
            ),
            ("not a url", CertUrlError::NotAUrl),
            ("", CertUrlError::NotAUrl),
        ];
        for (u, e) in bad {
            assert_eq!(check(u).unwrap_err(), e, "{u}");
        }
    }

    #[test]
    fn percent_encoded_dots_are_not_resolved_into_the_path() {
        // `%2e%2e` is resolved by the url crate as `..` too; the result must still be checked.
        let r = check("https://s3.amazonaws.com/echo.api/%2e%2e/evil/cert.pem");
        assert!(r.is_err(), "{r:?}");
    }
}
