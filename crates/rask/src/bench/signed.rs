//! The harness's custom-skill requests signed as Alexa signs them, for the verified run.
//!
//! The harness posts fixed, unsigned bodies with an old timestamp. For rask with verification
//! on, `bench peers` builds a copy of the harness beside it: the same `run.sh` and `post.lua`
//! with the two signature headers added (wrk's script and the checked `curl` request both read
//! them from `<body>.headers`), and the bodies with a fresh timestamp, signed by the sim. They
//! are signed again before every run, so that no run outlasts Alexa's 150 s.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Read by the harness's wrk script, appended to it: the headers in `<body>.headers`.
const LUA_HEADERS: &str = r#"
-- rask bench peers: the signature headers for this body, one "Name: value" per line.
local h = io.open(os.getenv("BODY_FILE") .. ".headers", "rb")
if h then
  for line in h:lines() do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    if k then wrk.headers[k] = v end
  end
  h:close()
end
"#;

/// The curl call in run.sh that checks one request first, and the same with the headers.
const CURL_BODY: &str = r#"--data-binary @"$body""#;
const CURL_SIGNED: &str = r#"-H @"$body.headers" --data-binary @"$body""#;

/// A copy of the harness whose custom-skill requests carry Alexa's signature.
pub struct SignedHarness {
    dir: PathBuf,
    originals: Vec<(String, String)>,
}

impl SignedHarness {
    /// Builds it in `dir` from `harness`, for the custom request types `types`.
    pub fn new(harness: &Path, dir: &Path, types: &[String]) -> anyhow::Result<SignedHarness> {
        std::fs::create_dir_all(dir.join("requests"))?;
        let run = std::fs::read_to_string(harness.join("run.sh"))?;
        if !run.contains(CURL_BODY) {
            bail!(
                "{}/run.sh no longer posts with {CURL_BODY}: the signed run cannot add its headers",
                harness.display()
            );
        }
        let run_path = dir.join("run.sh");
        std::fs::write(&run_path, run.replace(CURL_BODY, CURL_SIGNED))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&run_path, std::fs::Permissions::from_mode(0o755))?;
        let lua = std::fs::read_to_string(harness.join("post.lua"))?;
        std::fs::write(dir.join("post.lua"), format!("{lua}{LUA_HEADERS}"))?;
        let mut originals = Vec::new();
        for t in types {
            let path = harness.join("requests").join(format!("{t}.json"));
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            originals.push((t.clone(), text));
        }
        Ok(SignedHarness {
            dir: dir.to_owned(),
            originals,
        })
    }

    /// The directory to run `run.sh` in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Each body with the timestamp now and its signature headers, written afresh.
    pub fn sign(&self, signer: &rask_sim::signing::Signer) -> anyhow::Result<()> {
        let now = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)?
            .format(&time::format_description::well_known::Rfc3339)?;
        for (t, text) in &self.originals {
            let v: serde_json::Value = serde_json::from_str(text)?;
            let old = v["request"]["timestamp"]
                .as_str()
                .with_context(|| format!("{t}.json has no request.timestamp"))?;
            // The body's bytes as the harness has them, but for the timestamp's value.
            let body = text.replace(&format!("\"{old}\""), &format!("\"{now}\""));
            let path = self.dir.join("requests").join(format!("{t}.json"));
            std::fs::write(&path, &body)?;
            let headers = format!(
                "SignatureCertChainUrl: {}\nSignature-256: {}\n",
                signer.cert_url(),
                signer.sign(body.as_bytes())
            );
            std::fs::write(path.with_extension("json.headers"), headers)?;
        }
        Ok(())
    }
}
