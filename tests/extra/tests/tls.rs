//! TLS: certificates are verified, and there is no way to turn that off.

#![cfg(any(feature = "rustls", feature = "native-tls"))]

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tim_follow::testkit::Emulator;
use tim_follow::{Client, Error, RetryPolicy, TransportErrorKind};

#[test]
fn a_self_signed_certificate_is_rejected_before_any_request_is_sent() {
    let cert =
        CertificateDer::from_pem_slice(include_bytes!("../../fixtures/self-signed.cert.pem"))
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("../../fixtures/self-signed.key.pem"))
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let tcp = accept_within(&listener, Duration::from_secs(30));
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut buf = [0u8; 1024];
        // The client aborts the handshake: no request bytes ever arrive.
        matches!(tls.read(&mut buf), Ok(n) if n > 0)
    });
    // The certificate names 127.0.0.1, so its issuer is the only thing wrong with it.
    let client = Client::builder(1400000000, "administrator")
        .base_url(format!("https://127.0.0.1:{port}"))
        .usersig("sig")
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    match client.follow_delete("a", &["b"]) {
        Err(Error::Transport(t)) => {
            assert_eq!(t.kind, TransportErrorKind::Tls, "{}", t.message);
            // The TLS library's own error is the cause, on the chain.
            let cause = t.source.as_ref().map(|s| s.to_string()).unwrap_or_default();
            assert!(
                cause.to_ascii_lowercase().contains("certificate"),
                "{cause}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!server.join().unwrap(), "the server received request bytes");
}

#[test]
fn https_to_a_plain_http_port_is_a_tls_problem_not_a_timeout() {
    let emu = Emulator::start().unwrap();
    let https = emu.base_url().replace("http://", "https://");
    let client = Client::builder(emu.sdkappid(), emu.admin())
        .base_url(https)
        .usersig("sig-sig-sig")
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let err = client.relation("a", "b").unwrap_err();
    match &err {
        tim_follow::Error::Transport(t) => {
            assert_eq!(t.kind, tim_follow::TransportErrorKind::Tls, "{err}");
            assert!(t.message.contains("TLS handshake"), "{err}");
        }
        other => panic!("{other}"),
    }
}

/// The next connection to `listener`, waiting at most `limit`: a test whose
/// client never connects fails instead of hanging in `accept`.
fn accept_within(listener: &TcpListener, limit: Duration) -> std::net::TcpStream {
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let deadline = std::time::Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("a blocking stream");
                return stream;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no connection within {limit:?}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}
