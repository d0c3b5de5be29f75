//! Credentials: generated UserSigs, the re-sign on 70001, configuration from the environment.

use super::*;
use std::collections::HashMap;
use tim_follow::testkit::Fault;
use tim_follow::{ClientBuilder, Error};

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

#[test]
fn client_is_send_sync_clone() {
    assert_send_sync_clone::<Client>();
}

#[test]
fn a_usersig_rejected_as_expired_is_renewed_once_and_the_call_retried() {
    let emu = emulator_with("u1", &ids("t", 1));
    let client = emu
        .client_builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    emu.inject(Fault::ErrorCode(70001), 1);
    assert!(client.follow_add("u1", &["t_000"]).unwrap().all_applied());
    assert_eq!(emu.requests().len(), 2, "one refusal, one success");
    // Only once: a second refusal in a row is returned.
    emu.clear_requests();
    emu.inject(Fault::ErrorCode(70001), 2);
    assert_eq!(
        client.follow_add("u1", &["t_000"]).unwrap_err().code(),
        Some(70001)
    );
    assert_eq!(emu.requests().len(), 2);
}

#[test]
fn a_fixed_usersig_cannot_be_renewed_so_70001_is_returned_at_once() {
    let emu = emulator_with("u1", &ids("t", 1));
    let sig = tim_follow::usersig::generate(
        emu.sdkappid(),
        emu.secret_key(),
        emu.admin(),
        Duration::from_secs(600),
    );
    let client = emu.client_builder().usersig(sig).build().unwrap();
    emu.inject(Fault::ErrorCode(70001), 1);
    let err = client.follow_add("u1", &["t_000"]).unwrap_err();
    assert_eq!(err.code(), Some(70001));
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(emu.requests().len(), 1);
}

#[test]
fn a_secret_key_or_usersig_with_surrounding_whitespace_is_trimmed_like_from_env() {
    let emu = emulator_with("u1", &ids("t", 2));
    // A key read from a file keeps its newline; a copy may bring spaces.
    let key = format!(" {}\n", emu.secret_key());
    let client = emu.client_builder().secret_key(key).build().unwrap();
    assert!(client.generates_usersigs());
    assert!(client.follow_add("u1", &["t_000"]).unwrap().all_applied());
    let sig = tim_follow::usersig::generate(
        emu.sdkappid(),
        emu.secret_key(),
        emu.admin(),
        Duration::from_secs(600),
    );
    let client = emu
        .client_builder()
        .usersig(format!("{sig}\r\n"))
        .build()
        .unwrap();
    assert!(!client.generates_usersigs());
    assert!(client.follow_add("u1", &["t_001"]).unwrap().all_applied());
    // The one the emulator received is the UserSig itself.
    assert!(emu.received_usersigs().contains(&sig));
    // Whitespace only is still empty.
    let err = emu.client_builder().usersig(" \n").build().unwrap_err();
    assert!(err.to_string().contains("usersig"), "{err}");
}

#[test]
fn many_threads_share_one_generated_usersig() {
    let emu = emulator_with("u1", &ids("t", 8));
    let client = emu.client();
    std::thread::scope(|s| {
        for i in 0..8 {
            let client = client.clone();
            s.spawn(move || {
                for _ in 0..5 {
                    client.follow("u1", &format!("t_{i:03}")).unwrap();
                }
            });
        }
    });
    assert_eq!(emu.requests().len(), 40);
    assert!(emu.requests().iter().all(|r| r.error_code == Some(0)));
}

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn environment_configuration_and_its_errors() {
    let emu = emulator_with("u1", &ids("t", 1));
    let base = emu.base_url();
    let client = ClientBuilder::from_lookup(lookup(&[
        ("TIM_SDKAPPID", "1400000000"),
        ("TIM_SECRET_KEY", emu.secret_key()),
        ("TIM_BASE_URL", &base),
    ]))
    .build()
    .unwrap();
    assert_eq!(client.admin(), "administrator");
    assert!(client.follow("u1", "t_000").is_ok());

    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "TIM_SDKAPPID"),
        (
            vec![("TIM_SDKAPPID", "14x"), ("TIM_USERSIG", "s")],
            "TIM_SDKAPPID",
        ),
        (
            vec![
                ("TIM_SDKAPPID", "1"),
                ("TIM_USERSIG", "s"),
                ("TIM_REGION", "mars"),
            ],
            "TIM_REGION",
        ),
        (vec![("TIM_SDKAPPID", "1")], "credentials"),
        (
            vec![
                ("TIM_SDKAPPID", "1"),
                ("TIM_USERSIG", "s"),
                ("TIM_BASE_URL", "http://example.com"),
            ],
            "base_url",
        ),
        (
            vec![
                ("TIM_SDKAPPID", "1"),
                ("TIM_USERSIG", "s"),
                ("TIM_ADMIN", "has\ncontrol"),
            ],
            "admin",
        ),
    ];
    for (vars, names) in cases {
        match ClientBuilder::from_lookup(lookup(&vars)).build() {
            Err(Error::InvalidInput(inv)) => {
                assert!(inv.field.to_string().contains(names), "{vars:?}: {inv}")
            }
            other => panic!("{vars:?}: {other:?}"),
        }
    }
    let c = ClientBuilder::from_lookup(lookup(&[
        ("TIM_SDKAPPID", "1"),
        ("TIM_USERSIG", "s"),
        ("TIM_REGION", "Frankfurt"),
    ]))
    .build()
    .unwrap();
    assert_eq!(c.base_url(), "https://adminapiger.im.qcloud.com");
}

#[test]
fn builder_rejects_bad_settings_before_any_request() {
    let b = || Client::builder(1400000000, "administrator").usersig("s");
    assert!(b().build().is_ok());
    for (builder, field) in [
        (Client::builder(0, "administrator").usersig("s"), "sdkappid"),
        (Client::builder(1, "").usersig("s"), "admin"),
        (b().usersig(""), "usersig"),
        (b().secret_key(" "), "secret_key"),
        (
            b().secret_key("k").usersig_validity(Duration::from_secs(5)),
            "usersig_validity",
        ),
        (b().rate_limit(0), "rate_limit"),
        (b().concurrency(0), "concurrency"),
        (b().timeout(Duration::ZERO), "timeout"),
        (b().timeout(Duration::MAX), "timeout"),
        (b().connect_timeout(Duration::from_secs(90_000)), "timeout"),
        (b().max_response_bytes(10), "max_response_bytes"),
        (b().base_url("ftp://x"), "base_url"),
        (b().base_url("http://10.1.2.3"), "base_url"),
        (b().base_url("https://h/v4"), "base_url"),
    ] {
        match builder.build() {
            Err(Error::InvalidInput(inv)) => {
                assert!(inv.field.to_string().contains(field), "{field}: {inv}")
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(b()
        .base_url("http://10.1.2.3")
        .allow_insecure_http(true)
        .build()
        .is_ok());
    assert!(b().base_url("https://proxy.internal:8443").build().is_ok());
}

#[test]
fn invalid_input_names_its_field_by_variant() {
    use tim_follow::Field;
    let field = |r: Result<Client, Error>| match r {
        Err(Error::InvalidInput(inv)) => (inv.field, inv.remedy),
        other => panic!("{other:?}"),
    };
    let b = || Client::builder(1400000000, "administrator").usersig("s");
    assert_eq!(
        field(Client::builder(0, "administrator").usersig("s").build()),
        (Field::SdkAppId, None)
    );
    let (f, remedy) = field(b().base_url("http://10.1.2.3").build());
    assert_eq!(f, Field::BaseUrl);
    assert!(remedy.is_some_and(|r| r.contains("allow_insecure_http")));
    assert_eq!(
        field(b().base_url("ftp://x").build()),
        (Field::BaseUrl, None)
    );
    assert_eq!(field(b().rate_limit(0).build()).0, Field::RateLimit);
    assert_eq!(
        field(Client::builder(1400000000, "administrator").build()).0,
        Field::Credentials
    );
    let env = ClientBuilder::from_lookup(lookup(&[("TIM_SDKAPPID", "x"), ("TIM_USERSIG", "s")]));
    assert_eq!(field(env.build()).0, Field::Env("TIM_SDKAPPID"));
    // A request's account, with its place and id.
    let emu = emulator_with("u1", &ids("t", 1));
    match emu.client().follow_delete("u1", &["t_000", ""]) {
        Err(Error::InvalidInput(inv)) => {
            assert_eq!(
                inv.field,
                Field::ListItem {
                    list: "To_Account",
                    index: 1,
                    id: String::new()
                }
            );
            assert_eq!(inv.field.to_string(), r#"To_Account[1] ("")"#);
        }
        other => panic!("{other:?}"),
    }
    match emu.client().follow_delete("", &["t_000"]) {
        Err(Error::InvalidInput(inv)) => assert_eq!(inv.field, Field::FromAccount),
        other => panic!("{other:?}"),
    }
}
