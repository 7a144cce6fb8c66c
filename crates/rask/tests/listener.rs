//! The listener's limits with the real binary: a client that sends nothing, trickles its
//! headers or its body, or sits idle on a kept-alive connection is cut off; the server goes
//! on serving others. Served over HTTPS, rask marks its cookie Secure and sends HSTS.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::start;

fn config(name: &str, server: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let path = d.join("rask.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\n{server}\n[database]\nurl = \"sqlite://{d}/rask.db\"\n\
             [[linking.clients]]\nid = \"alexa\"\nsecret_env = \"RASK_TEST_LINK_SECRET\"\nvendor_ids = [\"M2AAAAAAAAAAAA\"]\n",
            d = d.display()
        ),
    )
    .unwrap();
    path
}

/// Reads until the server closes the connection (or `limit` passes); returns what it sent and
/// whether it closed.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (String, bool) {
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let end = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), false)
}

#[test]
fn slow_and_silent_clients_are_cut_off_and_others_are_served() {
    let path = config(
        "rask-listener-slow",
        "header_timeout_seconds = 1\nbody_timeout_seconds = 2",
    );
    let server = start(
        &["serve", "--config", path.to_str().unwrap()],
        &[("RASK_TEST_LINK_SECRET", "link-secret-0123456789")],
    );
    let addr = server.url().trim_start_matches("http://").to_owned();
    let limit = Duration::from_secs(8);

    // Connects and says nothing.
    let mut silent = TcpStream::connect(&addr).unwrap();
    let (_, closed) = read_until_closed(&mut silent, limit);
    assert!(closed, "a silent connection is closed");

    // Trickles its headers, a byte every 300 ms.
    let mut slow = TcpStream::connect(&addr).unwrap();
    let trickle = std::thread::spawn(move || {
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"
        {
            if slow.write_all(&[*b]).is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        false
    });
    assert!(
        trickle.join().unwrap(),
        "the trickled headers were cut off before they were done"
    );

    // Sends one request, then sits idle on the kept-alive connection.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (answer, closed) = read_until_closed(&mut idle, limit);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle kept-alive connection is closed");

    // Trickles its body: 408 once the body timeout passes.
    let mut body = TcpStream::connect(&addr).unwrap();
    body.write_all(
        b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=",
    )
    .unwrap();
    let mut feeder = body.try_clone().unwrap();
    std::thread::spawn(move || {
        for _ in 0..30 {
            if feeder.write_all(b"a").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let (answer, _closed) = read_until_closed(&mut body, limit);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?} {_closed:?}");

    // Through it all, a normal client is served.
    let mut ok = TcpStream::connect(&addr).unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (answer, _) = read_until_closed(&mut ok, limit);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_hsts_is_sent() {
    let path = config("rask-listener-https", "");
    let d = path.parent().unwrap();
    let identity = rask_sim::tls::TlsIdentity::generate(&["127.0.0.1".into()]).unwrap();
    std::fs::write(d.join("cert.pem"), &identity.cert_chain_pem).unwrap();
    std::fs::write(d.join("key.pem"), &identity.key_pem).unwrap();
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "[server]\n",
        &format!(
            "[server]\ntls_cert_file = \"{0}/cert.pem\"\ntls_key_file = \"{0}/key.pem\"\n",
            d.display()
        ),
        1,
    );
    std::fs::write(&path, text).unwrap();
    let server = start(
        &["serve", "--config", path.to_str().unwrap()],
        &[("RASK_TEST_LINK_SECRET", "link-secret-0123456789")],
    );
    let url = server.url();
    assert!(url.starts_with("https://"), "{url}");
    let ca = reqwest::Certificate::from_pem(identity.ca_pem.as_ref().unwrap().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let r = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let r = client
        .get(format!(
            "{url}/oauth/authorize?client_id=alexa&response_type=code&state=s&scope=smart_home&\
             redirect_uri=https%3A%2F%2Flayla.amazon.com%2Fapi%2Fskill%2Flink%2FM2AAAAAAAAAAAA"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "no public_url, but HTTPS: {cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
}
