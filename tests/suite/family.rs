//! The whole follow family against the emulator: semantics, paging, splitting.

use super::*;
use std::collections::HashSet;
use tim_follow::request::Request;
use tim_follow::{
    FollowAdd, FollowCheck, FollowCounts, FollowDelete, FollowGetInfo, FollowList, FollowType,
    Outcome,
};

#[test]
fn follow_check_list_count_unfollow_gone() {
    let emu = emulator_with("alice", &["bob".to_string()]);
    let client = emu.client();
    let before = crate::now_secs();
    client.follow("alice", "bob").unwrap();
    assert_eq!(
        client.relation("alice", "bob").unwrap(),
        FollowType::Following
    );
    assert_eq!(client.relation("bob", "alice").unwrap(), FollowType::Fan);
    let following: Vec<_> = client
        .follow_get("alice", FollowList::Following)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(following.len(), 1);
    assert_eq!(following[0].to_account, "bob");
    assert!(following[0].follow_time >= before && following[0].follow_time <= crate::now_secs());
    let fans: Vec<_> = client
        .follow_get("bob", FollowList::Fans)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(fans[0].to_account, "alice");
    assert_eq!(
        client.counts("alice").unwrap(),
        FollowCounts {
            followers: 0,
            following: 1,
            mutual: 0
        }
    );
    assert_eq!(
        client.counts("bob").unwrap(),
        FollowCounts {
            followers: 1,
            following: 0,
            mutual: 0
        }
    );
    client.unfollow("alice", "bob").unwrap();
    assert_eq!(client.relation("alice", "bob").unwrap(), FollowType::None);
    assert_eq!(client.follow_get("alice", FollowList::Following).count(), 0);
    assert_eq!(client.counts("bob").unwrap(), FollowCounts::default());
}

#[test]
fn mutual_follows() {
    let emu = emulator_with("a", &["b".to_string(), "c".to_string()]);
    let client = emu.client();
    client.follow_add("a", &["b", "c"]).unwrap();
    client.follow("b", "a").unwrap();
    let check = client.follow_check("a", &["b", "c"]).unwrap();
    assert_eq!(check.get("b"), Some(&Outcome::Applied(FollowType::Mutual)));
    assert_eq!(
        check.get("c"),
        Some(&Outcome::Applied(FollowType::Following))
    );
    assert!(
        matches!(check.get("b"), Some(Outcome::Applied(t)) if t.is_mutual() && t.follows() && t.followed_by())
    );
    let mutual: Vec<String> = client
        .follow_get("a", FollowList::Mutual)
        .map(|e| e.unwrap().to_account)
        .collect();
    assert_eq!(mutual, ["b"]);
    let info = client.follow_get_info("a", &["a", "b", "c"]).unwrap();
    assert_eq!(
        info.get("a"),
        Some(&Outcome::Applied(FollowCounts {
            followers: 1,
            following: 2,
            mutual: 1
        }))
    );
    assert_eq!(
        info.get("b"),
        Some(&Outcome::Applied(FollowCounts {
            followers: 1,
            following: 1,
            mutual: 1
        }))
    );
    assert_eq!(
        info.get("c"),
        Some(&Outcome::Applied(FollowCounts {
            followers: 1,
            following: 0,
            mutual: 0
        }))
    );
}

#[test]
fn paging_over_2500_fans_returns_each_exactly_once_for_every_page_size() {
    let emu = Emulator::start().unwrap();
    let fans = ids("fan", 2500);
    for f in &fans {
        emu.seed_follow(f, "star");
    }
    let client = emu.client();
    let expected: HashSet<&str> = fans.iter().map(String::as_str).collect();
    for size in [1000u32, 333, 100, 7] {
        let mut seen = HashSet::new();
        let mut count = 0;
        for entry in client.follow_get("star", FollowList::Fans).page_size(size) {
            let entry = entry.unwrap();
            assert!(
                seen.insert(entry.to_account.clone()),
                "{} twice",
                entry.to_account
            );
            count += 1;
            assert!(count <= 2500, "bounded");
        }
        assert_eq!(count, 2500, "page size {size}");
        assert_eq!(
            seen.iter().map(String::as_str).collect::<HashSet<_>>(),
            expected
        );
    }
    // Pages by hand: the default page size of the request is honoured and the last cursor is empty.
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .follow_get_page("star", FollowList::Fans, &cursor, 1000)
            .unwrap();
        pages += 1;
        if page.is_last() {
            assert_eq!(page.entries.len(), 500);
            break;
        }
        assert_eq!(page.entries.len(), 1000);
        cursor = page.next_cursor;
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
}

#[test]
fn a_bad_cursor_is_refused_and_ends_the_iteration() {
    let emu = emulator_with("a", &[]);
    let client = emu.client();
    let err = client
        .follow_get_page("a", FollowList::Fans, "not-a-cursor", 10)
        .unwrap_err();
    assert_eq!(err.code(), Some(30001));
    let mut it = client.follow_get("nobody", FollowList::Fans);
    assert_eq!(it.next().unwrap().unwrap_err().code(), Some(30003));
    assert!(it.next().is_none(), "an error ends the iteration");
}

#[test]
fn splitting_for_each_batch_endpoint() {
    let targets = ids("t", 250);
    let emu = emulator_with("u", &targets);
    let client = emu.client();
    let check_sizes = |path: &str, want: &[usize]| {
        let mut sizes: Vec<usize> = emu
            .requests()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| {
                let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
                v.get("To_Account")
                    .or_else(|| v.get("FollowItem"))
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(sizes, want, "{path}");
    };
    let out = client.follow_add("u", &targets).unwrap();
    assert_eq!((out.len(), out.requests()), (250, 13));
    assert!(out.all_applied());
    let mut want = vec![20; 12];
    want.push(10);
    check_sizes(FollowAdd::PATH, &want);
    let out = client.follow_check("u", &targets).unwrap();
    assert_eq!((out.len(), out.requests()), (250, 3));
    assert!(out.applied().all(|(_, t)| *t == FollowType::Following));
    check_sizes("follow/follow_check", &[100, 100, 50]);
    let out = client.follow_get_info("u", &targets[..45]).unwrap();
    assert_eq!(out.requests(), 3);
    assert!(out.applied().all(|(_, c)| c.followers == 1));
    check_sizes("follow/follow_get_info", &[20, 20, 5]);
    let out = client.follow_delete("u", &targets).unwrap();
    assert_eq!(out.requests(), 13);
    check_sizes("follow/follow_delete", &want);
    assert!(emu.following("u").is_empty());
    let order: Vec<&str> = out.iter().map(|o| o.account.as_str()).collect();
    assert_eq!(
        order,
        targets.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // The declared limits are the documented ones.
    use tim_follow::BatchRequest;
    assert_eq!(
        [
            FollowAdd::MAX_ACCOUNTS,
            FollowDelete::MAX_ACCOUNTS,
            FollowCheck::MAX_ACCOUNTS,
            FollowGetInfo::MAX_ACCOUNTS
        ],
        [20, 20, 100, 20]
    );
}

#[test]
fn call_json_reaches_any_endpoint_and_typed_call_works() {
    let emu = emulator_with("a", &["b".to_string()]);
    let client = emu.client();
    let reply = client
        .call_json(
            "follow/follow_add",
            &serde_json::json!({"From_Account": "a", "FollowItem": [{"To_Account": "b"}]}),
        )
        .unwrap();
    assert_eq!(reply["ResultItem"][0]["ResultCode"], 0);
    let e = client
        .call_json("openim/querystate", &serde_json::json!({}))
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some(60009),
        "the emulator serves only the follow and account APIs"
    );
    for bad in ["", "nocommand", "a/b?x=1", "../x/y"] {
        assert!(
            matches!(
                client.call_json(bad, &serde_json::json!({})),
                Err(tim_follow::Error::InvalidInput(_))
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        client.call_json("a/b", &serde_json::json!([1])),
        Err(tim_follow::Error::InvalidInput(_))
    ));
    let page = client
        .call(&tim_follow::FollowGet::new("b", FollowList::Fans, "", 10).unwrap())
        .unwrap();
    assert_eq!(page.entries[0].to_account, "a");
}

#[test]
fn a_repeated_cursor_ends_the_iteration_instead_of_looping() {
    let page =
        r#"{"FollowItem":[{"To_Account":"x","FollowTime":1}],"NextCursor":"again","ErrorCode":0}"#;
    let base = crate::canned_server(page.to_string(), 10);
    let client = Client::builder(1400000000, "administrator")
        .base_url(base)
        .usersig("sig")
        .build()
        .unwrap();
    let items: Vec<_> = client.follow_get("a", FollowList::Fans).take(10).collect();
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(items[0].is_ok() && items[1].is_ok());
    match &items[2] {
        Err(tim_follow::Error::Decode(d)) => assert!(d.message.contains("twice"), "{}", d.message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_response_missing_an_account_reports_it_unknown() {
    let reply =
        r#"{"ResultItem":[{"To_Account":"b","ResultCode":0,"ResultInfo":""}],"ErrorCode":0}"#;
    let base = crate::canned_server(reply.to_string(), 10);
    let client = Client::builder(1400000000, "administrator")
        .base_url(base)
        .usersig("sig")
        .build()
        .unwrap();
    let out = client.follow_delete("a", &["b", "c"]).unwrap();
    assert_eq!(out.get("b"), Some(&Outcome::Applied(())));
    assert!(matches!(
        out.get("c"),
        Some(Outcome::Unknown(tim_follow::Error::Decode(_)))
    ));
}
