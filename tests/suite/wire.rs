//! Golden wire tests: request bytes and response parsing from the documented samples,
//! and the exact HTTP request a server receives.

use super::*;
use std::io::Write;
use std::net::TcpListener;

use tim_follow::request::{parse_response, Context, Request};
use tim_follow::{
    Error, FollowAdd, FollowCheck, FollowDelete, FollowGet, FollowGetInfo, FollowList, FollowType,
};

#[test]
fn follow_delete_sample_request_and_response() {
    let req = FollowDelete::new("UserID_001", &["UserID_002", "UserID_003"]).unwrap();
    assert_eq!(
        req.body().unwrap(),
        br#"{"From_Account":"UserID_001","To_Account":["UserID_002","UserID_003"]}"#
    );
    let sample = br#"{
        "ResultItem": [
            {"To_Account": "UserID_002", "ResultCode": 0, "ResultInfo": ""},
            {"To_Account": "UserID_003", "ResultCode": 0, "ResultInfo": ""}
        ],
        "ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "ErrorDisplay": ""
    }"#;
    let r = FollowDelete::parse(200, sample).unwrap();
    assert_eq!(r.items.len(), 2);
    assert_eq!(r.items[1].to_account, "UserID_003");
    assert_eq!(r.items[1].result_code, 0);
    assert_eq!(r.items[1].payload, Some(()));
}

#[test]
fn follow_add_sample_request_and_response() {
    let req = FollowAdd::new("UserID_001", &["UserID_002", "UserID_003"]).unwrap();
    assert_eq!(
        req.body().unwrap(),
        br#"{"From_Account":"UserID_001","FollowItem":[{"To_Account":"UserID_002"},{"To_Account":"UserID_003"}]}"#
    );
    let sample = br#"{"ResultItem":[{"To_Account":"UserID_002","ResultCode":0,"ResultInfo":""},{"To_Account":"UserID_003","ResultCode":32101,"ResultInfo":"limit"}],
 "ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}"#;
    let r = parse_response::<<FollowAdd as Request>::Response>(200, sample).unwrap();
    assert_eq!(r.items[1].result_code, 32101);
    assert_eq!(r.items[1].result_info, "limit");
}

#[test]
fn follow_check_sample_request_and_response() {
    let req = FollowCheck::new("UserID_001", &["UserID_002", "UserID_003"]).unwrap();
    assert_eq!(
        req.body().unwrap(),
        br#"{"From_Account":"UserID_001","To_Account":["UserID_002","UserID_003"]}"#
    );
    let sample = br#"{"ResultItem":[{"To_Account":"UserID_002","ResultCode":0,"ResultInfo":"","FollowType":0},
               {"To_Account":"UserID_003","ResultCode":0,"ResultInfo":"","FollowType":3}],
 "ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}"#;
    let r = parse_response::<<FollowCheck as Request>::Response>(200, sample).unwrap();
    assert_eq!(r.items[0].payload, Some(FollowType::None));
    assert_eq!(r.items[1].payload, Some(FollowType::Mutual));
    let odd = br#"{"ResultItem":[{"To_Account":"a","ResultCode":0,"FollowType":7}],"ErrorCode":0}"#;
    let r = parse_response::<<FollowCheck as Request>::Response>(200, odd).unwrap();
    assert_eq!(r.items[0].payload, Some(FollowType::Unknown(7)));
    assert!(FollowCheck::new("a", &ids("t", 100)).is_ok());
    assert!(FollowCheck::new("a", &ids("t", 101)).is_err());
}

#[test]
fn follow_get_sample_request_and_response() {
    let req = FollowGet::new("UserID_001", FollowList::Fans, "", 100).unwrap();
    assert_eq!(
        req.body().unwrap(),
        br#"{"From_Account":"UserID_001","FollowType":1,"StartCursor":"","WantNum":100}"#
    );
    let sample = br#"{"FollowItem":[
        {"To_Account":"UserID_002","FollowTime":1702262118,"ProfileItem":[
            {"Tag":"Tag_Profile_IM_Nick","Value":"nick"},{"Tag":"Tag_Profile_IM_AllowType","Value":1}],
         "profile_sequence":123},
        {"To_Account":"UserID_003","FollowTime":4102444800,"ProfileSequence":7}],
      "NextCursor":"abc","ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}"#;
    let page = parse_response::<<FollowGet as Request>::Response>(200, sample).unwrap();
    assert_eq!(page.entries.len(), 2);
    assert_eq!(page.entries[0].follow_time, 1702262118);
    assert_eq!(page.entries[0].profile[0].value, "nick");
    assert_eq!(page.entries[0].profile[1].value, 1);
    assert_eq!(page.entries[0].profile_sequence, Some(123));
    assert_eq!(page.entries[1].profile_sequence, Some(7));
    assert_eq!(
        page.entries[1].follow_time, 4102444800,
        "times past 2038 fit"
    );
    assert!(!page.is_last());
    for bad in [0, 1001] {
        assert!(FollowGet::new("a", FollowList::Mutual, "", bad).is_err());
    }
}

#[test]
fn listings_are_read_strictly_and_errors_name_the_field() {
    type Page = <FollowGet as Request>::Response;
    let cases: [(&[u8], &str); 6] = [
        (br#"{"ErrorCode":0,"FollowItem":[{"FollowTime":1}],"NextCursor":""}"#, "To_Account"),
        (br#"{"ErrorCode":0,"FollowItem":[{"To_Account":1,"FollowTime":1}],"NextCursor":""}"#, "To_Account"),
        (br#"{"ErrorCode":0,"FollowItem":[{"To_Account":"a"}],"NextCursor":""}"#, "FollowTime"),
        (br#"{"ErrorCode":0,"FollowItem":[{"To_Account":"a","FollowTime":"1"}],"NextCursor":""}"#, "FollowTime"),
        (br#"{"ErrorCode":0,"FollowItem":[],"NextCursor":7}"#, "NextCursor"),
        (br#"{"ErrorCode":0,"FollowItem":[{"To_Account":"a","FollowTime":1,"ProfileSequence":-1}],"NextCursor":""}"#, "profile_sequence"),
    ];
    for (body, field) in cases {
        match parse_response::<Page>(200, body) {
            Err(tim_follow::Error::Decode(e)) => assert!(e.to_string().contains(field), "{e}"),
            other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
        }
    }
    // An empty last page may leave FollowItem out.
    let page = parse_response::<Page>(200, br#"{"ErrorCode":0,"NextCursor":""}"#).unwrap();
    assert!(page.entries.is_empty() && page.is_last());
    // An error envelope is the service's error, not a decode error.
    let e = parse_response::<Page>(200, br#"{"ErrorCode":30003,"ErrorInfo":"no such user"}"#);
    assert!(matches!(e, Err(tim_follow::Error::Api(_))), "{e:?}");
}

#[test]
fn a_page_without_next_cursor_is_the_last_when_short_and_an_error_when_full() {
    let body = br#"{"ErrorCode":0,"FollowItem":[{"To_Account":"a","FollowTime":1},{"To_Account":"b","FollowTime":2}]}"#;
    let short = FollowGet::new("me", FollowList::Fans, "", 3).unwrap();
    let page = short
        .check_page(FollowGet::parse(200, body).unwrap())
        .unwrap();
    assert!(page.is_last() && page.entries.len() == 2);
    let full = FollowGet::new("me", FollowList::Fans, "", 2).unwrap();
    match full.check_page(FollowGet::parse(200, body).unwrap()) {
        Err(Error::Decode(e)) => assert!(e.to_string().contains("NextCursor"), "{e}"),
        other => panic!("{other:?}"),
    }
    // An empty page without it is the last one.
    let empty = FollowGet::parse(200, br#"{"ErrorCode":0}"#).unwrap();
    assert!(short.check_page(empty).unwrap().is_last());
    // With NextCursor, a full page is returned as is.
    let with = br#"{"ErrorCode":0,"FollowItem":[{"To_Account":"a","FollowTime":1},{"To_Account":"b","FollowTime":2}],"NextCursor":"c"}"#;
    let page = full
        .check_page(FollowGet::parse(200, with).unwrap())
        .unwrap();
    assert_eq!(page.next_cursor, "c");
}

#[test]
fn the_client_ends_a_listing_on_a_short_page_without_next_cursor() {
    let reply = r#"{"FollowItem":[{"To_Account":"a","FollowTime":1},{"To_Account":"b","FollowTime":2}],"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}"#;
    let base = canned_server(reply.to_string(), 8);
    let client = Client::builder(1400000000, "administrator")
        .base_url(base)
        .usersig("sig")
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let listed: Vec<String> = client
        .follow_get("me", FollowList::Fans)
        .page_size(10)
        .map(|e| e.unwrap().to_account)
        .collect();
    assert_eq!(listed, ["a", "b"], "one page, the last");
    // A full page without it: the list may go on, so the listing fails.
    let got: Vec<_> = client
        .follow_get("me", FollowList::Fans)
        .page_size(2)
        .collect();
    assert!(
        matches!(got.last(), Some(Err(Error::Decode(_)))),
        "a full page without NextCursor: {got:?}"
    );
    let err = client
        .follow_get_page("me", FollowList::Fans, "", 2)
        .unwrap_err();
    assert!(err.to_string().contains("NextCursor"), "{err}");
}

#[test]
fn follow_get_info_sample_request_and_response() {
    let req =
        FollowGetInfo::new("UserID_001", &["UserID_001", "UserID_002", "UserID_003"]).unwrap();
    assert_eq!(
        req.body().unwrap(),
        br#"{"From_Account":"UserID_001","To_Account":["UserID_001","UserID_002","UserID_003"]}"#
    );
    let sample = br#"{"FollowInfo":[{"To_Account":"UserID_001","ResultCode":0,"ResultInfo":"","FollowerCount":0,"FollowingCount":2,"MutualFollowingCount":0}],
 "ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}"#;
    let r = parse_response::<<FollowGetInfo as Request>::Response>(200, sample).unwrap();
    let counts = r.items[0].payload.expect("complete");
    assert_eq!(
        (counts.followers, counts.following, counts.mutual),
        (0, 2, 0)
    );
    assert!(FollowGetInfo::new("a", &ids("t", 21)).is_err());
}

#[test]
fn failure_envelopes_are_api_errors() {
    let body = br#"{"ActionStatus":"FAIL","ErrorCode":30001,"ErrorInfo":"Err_SNS_Invalid_Param","ErrorDisplay":""}"#;
    match parse_response::<<FollowDelete as Request>::Response>(200, body) {
        Err(Error::Api(api)) => {
            assert_eq!(api.code, 30001);
            assert_eq!(api.info, "Err_SNS_Invalid_Param");
            assert!(!api.is_retryable());
        }
        other => panic!("{other:?}"),
    }
    let body = br#"{"ErrorCode":70001,"ErrorInfo":"sig expired"}"#;
    assert_eq!(
        parse_response::<<FollowDelete as Request>::Response>(200, body)
            .unwrap_err()
            .code(),
        Some(70001)
    );
}

/// Accepts one connection, records the raw request, answers with `reply`.
fn one_shot_server(reply: &'static str) -> (String, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let s = crate::accept_within(&listener, Duration::from_secs(30));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut writer = s.try_clone().unwrap();
        let request = crate::read_request(&mut std::io::BufReader::new(s)).expect("a request");
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
            reply.len()
        );
        writer.write_all(resp.as_bytes()).unwrap();
        let mut raw = (request.head + "\r\n\r\n").into_bytes();
        raw.extend_from_slice(&request.body);
        raw
    });
    (base, handle)
}

#[test]
fn a_server_sees_exactly_the_documented_request() {
    let (base, server) = one_shot_server(
        r#"{"ResultItem":[{"To_Account":"UserID_002","ResultCode":0,"ResultInfo":""},{"To_Account":"UserID_003","ResultCode":0,"ResultInfo":""}],"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ErrorDisplay":""}"#,
    );
    let client = Client::builder(88888888, "admin")
        .base_url(&base)
        .usersig("eJy*sig-_")
        .build()
        .unwrap();
    let out = client
        .follow_delete("UserID_001", &["UserID_002", "UserID_003"])
        .unwrap();
    assert!(out.all_applied());
    let raw = String::from_utf8(server.join().unwrap()).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let request_line = head.lines().next().unwrap();
    let (prefix, rest) = request_line
        .split_once("&random=")
        .expect("random follows usersig");
    assert_eq!(
        prefix,
        "POST /v4/follow/follow_delete?sdkappid=88888888&identifier=admin&usersig=eJy*sig-_"
    );
    let (random, tail) = rest.split_once('&').unwrap();
    random.parse::<u32>().expect("random is a u32");
    assert_eq!(tail, "contenttype=json HTTP/1.1");
    let head_lower = head.to_ascii_lowercase();
    assert!(
        head_lower.contains("content-type: application/json; charset=utf-8"),
        "{head}"
    );
    assert!(head_lower.contains("user-agent: tim-follow/"), "{head}");
    assert_eq!(
        body,
        r#"{"From_Account":"UserID_001","To_Account":["UserID_002","UserID_003"]}"#
    );
}

#[test]
fn each_request_gets_a_fresh_random() {
    let emu = emulator_with("u1", &ids("t", 30));
    let client = emu.client();
    client.follow_add("u1", &ids("t", 30)).unwrap();
    client.follow_check("u1", &ids("t", 30)).unwrap();
    let randoms: std::collections::HashSet<String> = emu
        .requests()
        .iter()
        .map(|r| {
            r.query
                .split('&')
                .find_map(|kv| kv.strip_prefix("random="))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(randoms.len(), 3);
}

#[test]
fn request_url_for_every_region() {
    for region in tim_follow::Region::ALL {
        let base = format!("https://{}", region.domain());
        let url = Context {
            base_url: &base,
            sdkappid: 1,
            identifier: "a",
            usersig: "s",
            random: 0,
        }
        .url(FollowDelete::PATH);
        assert!(url.starts_with(&format!(
            "https://{}/v4/follow/follow_delete?",
            region.domain()
        )));
    }
}
