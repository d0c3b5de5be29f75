//! The emulator's documented behaviour: REST checks, accounts, limits, faults.

use super::*;
use serde_json::{json, Value};
use tim_follow::testkit::Fault;
use tim_follow::{usersig, Error, TransportErrorKind};

/// POSTs `body` to the emulator with a hand-made query; returns (status, body).
fn raw(emu: &Emulator, method: &str, path_and_query: &str, body: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let url = format!("{}{}", emu.base_url(), path_and_query);
    let mut res = match method {
        "GET" => agent.get(&url).call().unwrap(),
        _ => agent.post(&url).send(body).unwrap(),
    };
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_string().unwrap())
}

fn code_of(body: &str) -> i64 {
    let v: Value = serde_json::from_str(body).unwrap();
    v["ErrorCode"].as_i64().unwrap()
}

fn sig(emu: &Emulator) -> String {
    usersig::generate(
        emu.sdkappid(),
        emu.secret_key(),
        emu.admin(),
        Duration::from_secs(3600),
    )
}

#[test]
fn query_checks_answer_the_documented_codes() {
    let emu = emulator_with("u1", &[]);
    let s = sig(&emu);
    let body = r#"{"From_Account":"u1","To_Account":["u1"]}"#;
    let path = "/v4/follow/follow_check";
    let cases: Vec<(String, i64)> = vec![
        (format!("{path}?identifier=administrator&usersig={s}&random=1&contenttype=json"), 60012),
        (format!("{path}?sdkappid=abc&identifier=administrator&usersig={s}&random=1&contenttype=json"), 60002),
        (format!("{path}?sdkappid=1400000001&identifier=administrator&usersig={s}&random=1&contenttype=json"), 70020),
        (format!("{path}?sdkappid=1400000000&usersig={s}&random=1&contenttype=json"), 60004),
        (format!("{path}?sdkappid=1400000000&identifier=administrator&usersig=&random=1&contenttype=json"), 70002),
        (format!("{path}?sdkappid=1400000000&identifier=administrator&usersig={s}&contenttype=json"), 60002),
        (format!("{path}?sdkappid=1400000000&identifier=administrator&usersig={s}&random=-1&contenttype=json"), 60002),
        (format!("{path}?sdkappid=1400000000&identifier=administrator&usersig={s}&random=1"), 60002),
        (format!("{path}?sdkappid=1400000000&identifier=administrator&usersig=garbage&random=1&contenttype=json"), 70003),
        (format!("{path}?sdkappid=1400000000&identifier=someone&usersig={s}&random=1&contenttype=json"), 70013),
        (format!("{path}?sdkappid=1400000000&identifier=administrator&usersig={s}&random=1&contenttype=json"), 0),
        (format!("/v4/follow/nope?sdkappid=1400000000&identifier=administrator&usersig={s}&random=1&contenttype=json"), 60009),
    ];
    for (pq, want) in cases {
        let (status, reply) = raw(&emu, "POST", &pq, body);
        assert_eq!(status, 200);
        assert_eq!(code_of(&reply), want, "{pq}: {reply}");
    }
    let ok = format!(
        "{path}?sdkappid=1400000000&identifier=administrator&usersig={s}&random=1&contenttype=json"
    );
    let (_, reply) = raw(&emu, "GET", &ok, "");
    assert_eq!(code_of(&reply), 60002, "GET is refused");
    for (bad_body, want) in [
        ("", 60003),
        ("{not json", 60003),
        ("[1]", 60003),
        (r#"{"To_Account":["u1"]}"#, 30001),
    ] {
        let (_, reply) = raw(&emu, "POST", &ok, bad_body);
        assert_eq!(code_of(&reply), want, "{bad_body:?}: {reply}");
    }
}

#[test]
fn clients_with_wrong_credentials_get_the_real_codes() {
    let emu = emulator_with("u1", &ids("t", 1));
    let cases = [
        (emu.client_builder().secret_key("wrong"), 70009),
        (
            Client::builder(1400000001, emu.admin())
                .base_url(emu.base_url())
                .secret_key(emu.secret_key()),
            70020,
        ),
        (
            Client::builder(emu.sdkappid(), "not_admin")
                .base_url(emu.base_url())
                .secret_key(emu.secret_key()),
            30004,
        ),
        (
            emu.client_builder().usersig(usersig::generate_at(
                emu.sdkappid(),
                emu.secret_key(),
                emu.admin(),
                Duration::from_secs(600),
                1_000_000,
            )),
            70001,
        ),
        (
            emu.client_builder().usersig(usersig::generate(
                1400000009,
                emu.secret_key(),
                emu.admin(),
                Duration::from_secs(600),
            )),
            70014,
        ),
    ];
    for (builder, want) in cases {
        let client = builder.build().unwrap();
        let err = client.follow_delete("u1", &["t_000"]).unwrap_err();
        assert_eq!(err.code(), Some(want), "{err}");
    }
}

#[test]
fn a_non_admin_identifier_gets_30004_on_every_follow_api_and_70403_on_imports() {
    let emu = emulator_with("u1", &ids("t", 1));
    let s = usersig::generate(
        emu.sdkappid(),
        emu.secret_key(),
        "someone",
        Duration::from_secs(600),
    );
    let query =
        format!("sdkappid=1400000000&identifier=someone&usersig={s}&random=1&contenttype=json");
    for (path, body, want) in [
        (
            "follow/follow_add",
            r#"{"From_Account":"u1","FollowItem":[{"To_Account":"t_000"}]}"#,
            30004,
        ),
        (
            "follow/follow_delete",
            r#"{"From_Account":"u1","To_Account":["t_000"]}"#,
            30004,
        ),
        (
            "follow/follow_check",
            r#"{"From_Account":"u1","To_Account":["t_000"]}"#,
            30004,
        ),
        (
            "follow/follow_get",
            r#"{"From_Account":"u1","FollowType":1,"StartCursor":"","WantNum":10}"#,
            30004,
        ),
        (
            "follow/follow_get_info",
            r#"{"From_Account":"u1","To_Account":["t_000"]}"#,
            30004,
        ),
        (
            "im_open_login_svc/account_import",
            r#"{"UserID":"x"}"#,
            70403,
        ),
        (
            "im_open_login_svc/multiaccount_import",
            r#"{"Accounts":["x"]}"#,
            70403,
        ),
    ] {
        let (status, reply) = raw(&emu, "POST", &format!("/v4/{path}?{query}"), body);
        assert_eq!((status, code_of(&reply)), (200, want), "{path}: {reply}");
    }
    assert!(!emu.is_following("u1", "t_000"), "nothing was applied");
    let err = Client::builder(emu.sdkappid(), "someone")
        .base_url(emu.base_url())
        .secret_key(emu.secret_key())
        .build()
        .unwrap()
        .follow_get_info("u1", &["t_000"])
        .unwrap_err();
    assert_eq!(err.code(), Some(30004), "{err}");
    assert_eq!(
        err.api().map(|a| a.kind()),
        Some(tim_follow::ErrorKind::Permission),
        "{err}"
    );
}

#[test]
fn accounts_must_be_imported_and_the_rest_import_endpoints_work() {
    let emu = Emulator::start().unwrap();
    let client = emu.client();
    assert_eq!(
        client.follow_add("u1", &["u2"]).unwrap_err().code(),
        Some(30003)
    );
    let r = client
        .call_json(
            "im_open_login_svc/account_import",
            &json!({"UserID": "u1", "Nick": "One"}),
        )
        .unwrap();
    assert_eq!(r["ErrorCode"], 0);
    let r = client
        .call_json(
            "v4/im_open_login_svc/multiaccount_import",
            &json!({"Accounts": ["u2", "u3", "", "x".repeat(33)]}),
        )
        .unwrap();
    assert_eq!(r["FailAccounts"].as_array().unwrap().len(), 2);
    let r = client
        .call_json(
            "im_open_login_svc/multiaccount_import",
            &json!({"AccountList": [{"UserID": "u4"}]}),
        )
        .unwrap();
    assert_eq!(r["FailAccounts"], json!([]));
    let too_many: Vec<String> = ids("m", 101);
    let e = client
        .call_json(
            "im_open_login_svc/multiaccount_import",
            &json!({"Accounts": too_many}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some(70402));
    let out = client.follow_add("u1", &["u2", "u3", "u4", "u5"]).unwrap();
    assert_eq!(out.applied().count(), 3);
    assert_eq!(
        out.get("u5").unwrap(),
        &tim_follow::Outcome::Refused(tim_follow::ApiError::new(
            30003,
            "Err_SNS_Account_Not_Exist",
            ""
        ))
    );
    // The imported nick comes back as a profile tag.
    let page = client
        .follow_get_page("u2", tim_follow::FollowList::Fans, "", 10)
        .unwrap();
    assert_eq!(page.entries[0].profile[0].value, "One");
}

#[test]
fn limits_self_follow_and_the_5000_following_cap() {
    let emu = Emulator::builder().max_following(3).start().unwrap();
    emu.import_accounts(&["u1"]);
    emu.import_accounts(&ids("t", 25));
    let client = emu.client();
    assert_eq!(client.follow("u1", "u1").unwrap_err().code(), Some(30001));
    let out = client.follow_add("u1", &ids("t", 5)).unwrap();
    let codes: Vec<i64> = out
        .iter()
        .map(|o| match &o.outcome {
            tim_follow::Outcome::Applied(()) => 0,
            tim_follow::Outcome::Refused(e) => e.code,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(codes, [0, 0, 0, 32100, 32100]);
    // Over-limit lists sent by hand are refused as a whole.
    let twenty_one: Vec<Value> = ids("t", 21)
        .iter()
        .map(|t| json!({"To_Account": t}))
        .collect();
    let e = client
        .call_json(
            "follow/follow_add",
            &json!({"From_Account": "u1", "FollowItem": twenty_one}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some(30001));
    let e = client
        .call_json(
            "follow/follow_delete",
            &json!({"From_Account": "u1", "To_Account": []}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some(30001));
}

#[test]
fn default_cap_is_5000_following() {
    let emu = Emulator::start().unwrap();
    for i in 0..5000 {
        emu.seed_follow("big", &format!("f{i}"));
    }
    emu.import_accounts(&["one_more"]);
    let client = emu.client();
    assert_eq!(
        client.follow("big", "one_more").unwrap_err().code(),
        Some(32100)
    );
    assert_eq!(client.counts("big").unwrap().following, 5000);
}

#[test]
fn rate_limit_answers_60007_past_the_limit() {
    let emu = Emulator::builder()
        .rate_limit(Some(5), 60007)
        .accounts(&["u1"])
        .start()
        .unwrap();
    let client = emu
        .client_builder()
        .no_rate_limit()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(
            client
                .relation("u1", "u1")
                .err()
                .and_then(|e| e.code())
                .unwrap_or(0),
        );
    }
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 5, "{codes:?}");
    assert_eq!(
        codes.iter().filter(|c| **c == 60007).count(),
        3,
        "{codes:?}"
    );
}

#[test]
fn calls_sent_at_the_limit_are_counted_on_arrival_whatever_the_latency() {
    let targets = ids("far", 4000);
    let emu = emulator_with("me", &targets);
    emu.import_accounts(&["you"]);
    emu.set_rate_limit(Some(100), 60007);
    // 300 ms ± 20 %: counted after the latency, calls sent evenly spaced
    // would be counted in another order and some would find the window full.
    emu.set_random_latency(Duration::from_millis(240), Duration::from_millis(360));
    let client = emu.client_builder().rate_limit(100).build().unwrap();
    // 400 calls of one API, evenly spaced over four seconds.
    for from in ["me", "you"] {
        assert!(client.follow_add(from, &targets).unwrap().all_applied());
        assert_eq!(emu.following(from).len(), 4000);
    }
    let log = emu.requests();
    let refused: Vec<_> = log.iter().filter(|r| r.error_code == Some(60007)).collect();
    // A loaded machine can deliver a few calls late, bunched with the next
    // ones: a refusal is right only when 100 calls arrived in the second
    // before it (give or take the few milliseconds between a handler's
    // start and its count).
    let slack = Duration::from_millis(5);
    for r in &refused {
        let before = log
            .iter()
            .filter(|c| c.error_code == Some(0))
            .filter(|c| c.at + Duration::from_secs(1) + slack > r.at && c.at <= r.at + slack)
            .count();
        assert!(
            before >= 100,
            "answered 60007 at {:?} with {before} calls in the second before; {} of {} refused",
            r.at,
            refused.len(),
            log.len()
        );
    }
}

#[test]
fn every_fault_kind() {
    let emu = emulator_with("u1", &ids("t", 1));
    let client = emu
        .client_builder()
        .retry(RetryPolicy::none())
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let call = || client.follow_add("u1", &["t_000"]);
    let transport = |r: Result<_, Error>| match r {
        Err(Error::Transport(t)) => t.kind,
        other => panic!("{other:?}"),
    };

    emu.inject(Fault::HttpStatus(503), 1);
    assert!(matches!(call(), Err(Error::HttpStatus { status: 503, .. })));
    emu.inject(Fault::DropBeforeRead, 1);
    assert_eq!(transport(call()), TransportErrorKind::Io);
    emu.inject(Fault::DropAfterRead, 1);
    assert_eq!(transport(call()), TransportErrorKind::Io);
    assert!(
        !emu.is_following("u1", "t_000"),
        "dropped requests are not processed"
    );
    emu.inject(Fault::DropAfterProcessing, 1);
    assert_eq!(transport(call()), TransportErrorKind::Io);
    assert!(emu.is_following("u1", "t_000"), "processed, answer lost");
    emu.inject(Fault::TruncatedBody, 1);
    assert_eq!(transport(call()), TransportErrorKind::Io);
    emu.inject(Fault::GarbageBody, 1);
    assert!(matches!(call(), Err(Error::Decode(_))));
    emu.inject(Fault::ErrorCode(30006), 2);
    assert_eq!(call().unwrap_err().code(), Some(30006));
    assert_eq!(call().unwrap_err().code(), Some(30006));
    assert!(call().is_ok(), "only the next two");
    emu.inject(Fault::Latency(Duration::from_millis(150)), 1);
    let t = std::time::Instant::now();
    assert!(call().is_ok());
    assert!(t.elapsed() >= Duration::from_millis(150));
    emu.inject(Fault::OversizedBody(5 << 20), 1);
    assert_eq!(transport(call()), TransportErrorKind::BodyTooLarge);
    // Per endpoint: only follow_check is hit.
    emu.inject_for("v4/follow/follow_check", Fault::ErrorCode(60018), 1);
    assert!(call().is_ok());
    assert_eq!(
        client.relation("u1", "t_000").unwrap_err().code(),
        Some(60018)
    );
    let log = emu.requests();
    assert_eq!(log.iter().filter(|r| r.fault.is_some()).count(), 11);
    assert!(log.iter().all(|r| !r.query.contains("usersig")));
}

#[test]
fn random_latency_stays_in_range() {
    let emu = emulator_with("u1", &[]);
    // Far apart, so that a loaded machine's delays do not blur the two.
    emu.set_random_latency(Duration::from_millis(500), Duration::from_millis(600));
    let client = emu.client();
    for _ in 0..2 {
        let t = std::time::Instant::now();
        client.counts("u1").unwrap();
        let e = t.elapsed();
        assert!(e >= Duration::from_millis(500), "{e:?}");
        assert!(e < Duration::from_secs(5), "{e:?}");
    }
    emu.clear_faults();
    let t = std::time::Instant::now();
    client.counts("u1").unwrap();
    let e = t.elapsed();
    assert!(e < Duration::from_millis(500), "latency removed: {e:?}");
}

#[test]
fn want_num_defaults_to_100_and_is_at_most_1000() {
    let emu = Emulator::start().unwrap();
    for i in 0..150 {
        emu.seed_follow(&format!("f{i}"), "star");
    }
    let client = emu.client();
    let reply = client
        .call_json(
            "follow/follow_get",
            &json!({"From_Account": "star", "FollowType": 1, "StartCursor": ""}),
        )
        .unwrap();
    assert_eq!(reply["FollowItem"].as_array().unwrap().len(), 100);
    assert_ne!(reply["NextCursor"], "");
    let e = client
        .call_json(
            "follow/follow_get",
            &json!({"From_Account": "star", "FollowType": 1, "WantNum": 1001}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some(30001));
    let e = client
        .call_json(
            "follow/follow_get",
            &json!({"From_Account": "star", "FollowType": 4}),
        )
        .unwrap_err();
    assert_eq!(e.code(), Some(30001));
}

#[test]
fn bad_settings_are_refused_at_start() {
    for builder in [
        Emulator::builder().sdkappid(0),
        Emulator::builder().admin(""),
        Emulator::builder().secret_key(" "),
    ] {
        let err = builder.start().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    }
}

#[test]
fn stops_when_dropped() {
    let emu = Emulator::start().unwrap();
    let addr = emu.addr();
    assert!(std::net::TcpStream::connect(addr).is_ok());
    drop(emu);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still listening");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn plain_http_clients_such_as_curl_can_use_it() {
    // A chunked request body, as some HTTP clients send it.
    let emu = emulator_with("u1", &ids("t", 1));
    let s = sig(&emu);
    let mut stream = std::net::TcpStream::connect(emu.addr()).unwrap();
    use std::io::{Read, Write};
    let body = r#"{"From_Account":"u1","FollowItem":[{"To_Account":"t_000"}]}"#;
    let req = format!(
        "POST /v4/follow/follow_add?sdkappid=1400000000&identifier=administrator&usersig={s}&random=7&contenttype=json HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    stream.write_all(req.as_bytes()).unwrap();
    let mut reply = String::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(reply.contains(r#""ErrorCode":0"#), "{reply}");
    assert!(emu.is_following("u1", "t_000"));
}

/// Writes `raw` on a new connection and reads until the server closes it
/// (at most 10 s).
fn exchange(emu: &Emulator, raw: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(emu.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn ambiguous_request_framing_is_a_400() {
    let emu = Emulator::start().unwrap();
    for head in [
        "POST /v4/follow/follow_check HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v4/follow/follow_check HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    ] {
        let reply = exchange(&emu, head.as_bytes());
        assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    }
}

#[test]
fn idle_connections_and_bodies_that_never_arrive_are_closed() {
    use std::io::Read;
    let emu = Emulator::builder()
        .idle_timeout(Duration::from_millis(300))
        .start()
        .unwrap();
    // Idle: closed without a word.
    let mut idle = std::net::TcpStream::connect(emu.addr()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    assert_eq!(idle.read(&mut buf).unwrap_or(0), 0, "closed");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A body promised and never sent: 408.
    let reply = exchange(
        &emu,
        b"POST /v4/follow/follow_check HTTP/1.1\r\nContent-Length: 100\r\n\r\n{",
    );
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
}

#[test]
fn a_request_is_served_while_300_idle_connections_are_open() {
    let emu = emulator_with("a", &ids("t", 1));
    let idle: Vec<std::net::TcpStream> = (0..300)
        .map(|_| std::net::TcpStream::connect(emu.addr()).unwrap())
        .collect();
    let client = fast_client(&emu);
    assert_eq!(
        client.relation("a", "t_000").unwrap(),
        tim_follow::FollowType::None
    );
    assert!(emu.open_connections() >= 300, "{}", emu.open_connections());
    drop(idle);
}
