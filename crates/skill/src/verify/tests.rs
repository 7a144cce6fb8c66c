//! Verification against certificates made here and a chain served on loopback.

use super::testkit::*;
use super::*;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn a_signed_body_passes_and_the_chain_is_fetched_once() {
    let p = pki(SIGNER_NAME, CA_KEY, SIGNER_KEY);
    let (v, fetches) = verifier(&p, at(2026, 6, 1)).await;
    let body = br#"{"version":"1.0"}"#;
    let sig = sign(SIGNER_KEY, body);
    for _ in 0..3 {
        v.verify_signature(Some(CERT_URL), Some(&sig), body)
            .await
            .unwrap();
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "the verified chain is cached");
}

#[tokio::test]
async fn what_an_attacker_or_a_broken_proxy_sends_is_refused() {
    let p = pki(SIGNER_NAME, CA_KEY, SIGNER_KEY);
    let (v, _) = verifier(&p, at(2026, 6, 1)).await;
    let body = br#"{"version":"1.0","request":{"type":"LaunchRequest"}}"#;
    let sig = sign(SIGNER_KEY, body);
    let changed = br#"{"version":"1.0","request":{"type":"IntentRequest"}}"#;
    assert_eq!(
        v.verify_signature(Some(CERT_URL), Some(&sig), changed).await,
        Err(VerifyError::Signature)
    );
    assert_eq!(
        v.verify_signature(Some(CERT_URL), Some(&sign(STRANGER_KEY, body)), body)
            .await,
        Err(VerifyError::Signature)
    );
    assert_eq!(
        v.verify_signature(Some(CERT_URL), Some("not base64!"), body)
            .await,
        Err(VerifyError::SignatureEncoding)
    );
    assert_eq!(
        v.verify_signature(None, Some(&sig), body).await,
        Err(VerifyError::MissingHeader("SignatureCertChainUrl"))
    );
    assert_eq!(
        v.verify_signature(Some(CERT_URL), None, body).await,
        Err(VerifyError::MissingHeader("Signature-256"))
    );
    assert!(matches!(
        v.verify_signature(Some("https://evil.example/echo.api/c.pem"), Some(&sig), body)
            .await,
        Err(VerifyError::CertUrl(CertUrlError::Host(_)))
    ));
}

#[tokio::test]
async fn a_chain_to_another_root_another_name_or_out_of_date_is_refused() {
    let p = pki(SIGNER_NAME, CA_KEY, SIGNER_KEY);
    let body = b"{}";
    let sig = sign(SIGNER_KEY, body);

    // Another root: the chain's CA is not trusted.
    let (url, _) = mirror(p.chain_pem.clone()).await;
    let other = pki(SIGNER_NAME, STRANGER_KEY, SIGNER_KEY);
    let v = Verifier::amazon()
        .only_roots(std::slice::from_ref(&other.ca_der))
        .unwrap()
        .mirror(url.clone())
        .clock(at(2026, 6, 1));
    assert!(matches!(
        v.verify_signature(Some(CERT_URL), Some(&sig), body).await,
        Err(VerifyError::Untrusted(_))
    ));

    // The public web's roots do not trust a certificate made here.
    let v = Verifier::amazon().mirror(url).clock(at(2026, 6, 1));
    assert!(matches!(
        v.verify_signature(Some(CERT_URL), Some(&sig), body).await,
        Err(VerifyError::Untrusted(_))
    ));

    // Another name.
    let wrong = pki("echo-api.example.com", CA_KEY, SIGNER_KEY);
    let (v, _) = verifier(&wrong, at(2026, 6, 1)).await;
    assert_eq!(
        v.verify_signature(Some(CERT_URL), Some(&sig), body).await,
        Err(VerifyError::WrongName)
    );

    // Before and after the signer's validity.
    for clock in [at(2025, 6, 1), at(2027, 2, 1)] {
        let (v, _) = verifier(&p, clock).await;
        assert!(matches!(
            v.verify_signature(Some(CERT_URL), Some(&sig), body).await,
            Err(VerifyError::Untrusted(_))
        ));
    }
}

#[tokio::test]
async fn a_cached_chain_is_dropped_when_it_expires() {
    let p = pki(SIGNER_NAME, CA_KEY, SIGNER_KEY);
    let now = Arc::new(Mutex::new(at(2026, 12, 31)()));
    let clock_now = now.clone();
    let clock: Clock = Arc::new(move || *clock_now.lock().unwrap());
    let (v, fetches) = verifier(&p, clock).await;
    let body = b"{}";
    let sig = sign(SIGNER_KEY, body);
    v.verify_signature(Some(CERT_URL), Some(&sig), body)
        .await
        .unwrap();
    *now.lock().unwrap() = at(2027, 1, 2)();
    assert!(matches!(
        v.verify_signature(Some(CERT_URL), Some(&sig), body).await,
        Err(VerifyError::Untrusted(_))
    ));
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "expired: fetched and checked again"
    );
    // Refused again at once, without a fetch, for a few seconds; then tried again.
    assert!(matches!(
        v.verify_signature(Some(CERT_URL), Some(&sig), body).await,
        Err(VerifyError::Untrusted(_))
    ));
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "a failure is held, not refetched"
    );
    *now.lock().unwrap() = at(2027, 1, 2)() + FAILED_HOLD + Duration::from_secs(1);
    assert!(
        v.verify_signature(Some(CERT_URL), Some(&sig), body)
            .await
            .is_err()
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        3,
        "tried again once the hold is over"
    );
}

#[tokio::test]
async fn requests_arriving_together_wait_for_one_fetch() {
    let p = pki(SIGNER_NAME, CA_KEY, SIGNER_KEY);
    let (url, fetches) = slow_mirror(p.chain_pem.clone(), Duration::from_millis(300)).await;
    let v = Verifier::amazon()
        .only_roots(std::slice::from_ref(&p.ca_der))
        .unwrap()
        .mirror(url)
        .clock(at(2026, 6, 1));
    let body = b"{}";
    let sig = sign(SIGNER_KEY, body);
    let asks: Vec<_> = (0..8)
        .map(|_| {
            let (v, sig) = (v.clone(), sig.clone());
            tokio::spawn(async move { v.verify_signature(Some(CERT_URL), Some(&sig), body).await })
        })
        .collect();
    for a in asks {
        a.await.unwrap().unwrap();
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "one fetch for all eight");
}

#[tokio::test]
async fn a_chain_that_never_arrives_is_given_up_on_whatever_the_client() {
    let p = pki(SIGNER_NAME, CA_KEY, SIGNER_KEY);
    let (url, _) = slow_mirror(p.chain_pem.clone(), Duration::from_secs(60)).await;
    // A client with no timeout of its own.
    let v = Verifier::amazon()
        .client(reqwest::Client::new())
        .only_roots(std::slice::from_ref(&p.ca_der))
        .unwrap()
        .mirror(url);
    // Without the verifier's own bound this would wait the mirror's minute and then pass.
    assert!(matches!(
        v.verify_signature(Some(CERT_URL), Some("AAAA"), b"{}").await,
        Err(VerifyError::Fetch(_))
    ));
}

#[tokio::test]
async fn a_chain_that_is_too_big_or_not_pem_is_refused() {
    let (url, _) = mirror("x".repeat(MAX_CHAIN_BYTES + 1)).await;
    let v = Verifier::amazon().mirror(url);
    assert!(matches!(
        v.verify_signature(Some(CERT_URL), Some("AAAA"), b"{}").await,
        Err(VerifyError::Fetch(_))
    ));
    let (url, _) = mirror("hello".into()).await;
    let v = Verifier::amazon().mirror(url);
    assert_eq!(
        v.verify_signature(Some(CERT_URL), Some("AAAA"), b"{}").await,
        Err(VerifyError::NoCertificate)
    );
}

fn envelope(kind: &str, timestamp: &str) -> RequestEnvelope {
    serde_json::from_value(serde_json::json!({
        "version": "1.0",
        "context": {"System": {"application": {"applicationId": "a"}, "user": {"userId": "u"}}},
        "request": {"type": kind, "requestId": "r", "timestamp": timestamp, "locale": "en-US"}
    }))
    .unwrap()
}

#[test]
fn timestamps_within_150_seconds_and_an_hour_for_skill_events() {
    let v = Verifier::amazon().clock(at(2026, 6, 1));
    assert_eq!(
        v.check_timestamp(&envelope("LaunchRequest", "2026-06-01T00:02:30Z")),
        Ok(())
    );
    assert_eq!(
        v.check_timestamp(&envelope("LaunchRequest", "2026-05-31T23:57:30Z")),
        Ok(())
    );
    assert_eq!(
        v.check_timestamp(&envelope("LaunchRequest", "2026-05-31T23:57:29Z")),
        Err(VerifyError::Timestamp {
            seconds: 151,
            tolerance: 150
        })
    );
    assert_eq!(
        v.check_timestamp(&envelope("AlexaSkillEvent.SkillEnabled", "2026-05-31T23:30:00Z")),
        Ok(())
    );
    assert!(
        v.check_timestamp(&envelope("AlexaSkillEvent.SkillEnabled", "2026-05-31T22:59:59Z"))
            .is_err()
    );
    assert_eq!(
        v.check_timestamp(&envelope("LaunchRequest", "yesterday")),
        Err(VerifyError::TimestampUnreadable)
    );
}

#[tokio::test]
async fn a_stricter_clone_does_not_inherit_what_was_verified_under_wider_roots() {
    let p = pki(SIGNER_NAME, CA_KEY, SIGNER_KEY);
    let (wide, _) = verifier(&p, at(2026, 6, 1)).await;
    let body = b"{}";
    let sig = sign(SIGNER_KEY, body);
    wide.verify_signature(Some(CERT_URL), Some(&sig), body)
        .await
        .unwrap();
    let other = pki(SIGNER_NAME, STRANGER_KEY, SIGNER_KEY);
    let strict = wide
        .clone()
        .only_roots(std::slice::from_ref(&other.ca_der))
        .unwrap();
    assert!(matches!(
        strict.verify_signature(Some(CERT_URL), Some(&sig), body).await,
        Err(VerifyError::Untrusted(_))
    ));
}
