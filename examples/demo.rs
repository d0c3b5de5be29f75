//! The whole follow workflow against the built-in emulator: no credentials, no network.
//!
//! ```text
//! cargo run --example demo
//! ```

use std::error::Error;

use tim_follow::testkit::Emulator;
use tim_follow::{FollowAdd, FollowList, FollowType, Outcome};

fn main() -> Result<(), Box<dyn Error>> {
    // 1. A local stand-in for Tencent's REST API, on 127.0.0.1.
    let emu = Emulator::start()?;
    println!(
        "emulator listening on {} (SDKAppID {}, admin {:?})",
        emu.base_url(),
        emu.sdkappid(),
        emu.admin()
    );

    // 2. A client, exactly as for the real service, but pointed at the emulator.
    //    It generates and renews the admin UserSig from the SecretKey.
    let client = tim_follow::Client::builder(emu.sdkappid(), emu.admin())
        .base_url(emu.base_url())
        .secret_key(emu.secret_key())
        .build()?;

    // 3. Accounts must exist: import them through the account REST API.
    let me = "UserID_001";
    let others: Vec<String> = (2..=46).map(|i| format!("UserID_{i:03}")).collect();
    let mut everyone = vec![me.to_string()];
    everyone.extend(others.iter().cloned());
    for chunk in everyone.chunks(100) {
        let reply = client.call_json(
            "im_open_login_svc/multiaccount_import",
            &serde_json::json!({ "Accounts": chunk }),
        )?;
        println!(
            "imported {} accounts (failed: {})",
            chunk.len(),
            reply["FailAccounts"]
        );
    }

    // 4. Follow 45 users: the client splits them into requests of 20, 20 and 5.
    let out = client.batch_with_progress::<FollowAdd, _>(me, &others, |p| {
        println!(
            "  follow progress: {}/{} accounts, {} failed",
            p.done, p.total, p.failed
        );
    })?;
    println!(
        "followed {} of {} users in {} requests",
        out.applied().count(),
        out.len(),
        out.requests()
    );

    // A few of them follow back.
    for back in &others[..5] {
        client.follow(back, me)?;
    }

    // 5. Check relationships (one request for up to 100 accounts): "mutual"
    //    means the account followed back.
    let check = client.follow_check(me, &others[..8])?;
    for item in &check {
        if let Outcome::Applied(t) = &item.outcome {
            let label = match t {
                FollowType::Mutual => "mutual (it followed back)",
                FollowType::Following => "following (not followed back)",
                FollowType::Fan => "fan (follows us, not followed)",
                _ => "none",
            };
            println!("  {me} -> {}: {label}", item.account);
        }
    }

    // 6. Page through the following list, 20 per request.
    let mut listed = 0;
    for entry in client.follow_get(me, FollowList::Following).page_size(20) {
        let entry = entry?;
        listed += 1;
        if listed <= 3 {
            println!(
                "  following {} since {} (Unix {})",
                entry.to_account,
                entry.follow_time_rfc3339(),
                entry.follow_time
            );
        }
    }
    println!("following list: {listed} accounts (paged by 20)");
    let mutual = client.follow_get(me, FollowList::Mutual).count();
    println!("mutual list: {mutual} accounts");

    // 7. Counts.
    let counts = client.counts(me)?;
    println!(
        "counts of {me}: {} followers, {} following, {} mutual",
        counts.followers, counts.following, counts.mutual
    );

    // 8. Unfollow everyone. UserID_999 was never imported: it is there on
    //    purpose, to show a per-account refusal (30003) beside the applied ones.
    let mut targets = others.clone();
    targets.push("UserID_999".to_string());
    let out = client.follow_delete(me, &targets)?;
    for (account, refusal) in out.refused() {
        println!(
            "  not unfollowed {account}: {} ({}) — deliberate: it does not exist",
            refusal.code, refusal.info
        );
    }
    let after = client.counts(me)?;

    // 9. Summary.
    println!("--- summary ---");
    println!(
        "unfollowed: {} applied, {} refused, {} unknown",
        out.applied().count(),
        out.refused().count(),
        out.unknown().count()
    );
    println!("following after unfollow: {}", after.following);
    println!("requests seen by the emulator: {}", emu.requests().len());
    if after.following != 0 || out.applied().count() != others.len() {
        return Err("the workflow did not end as expected".into());
    }
    Ok(())
}
