//! The emulator's endpoints: the five follow APIs and the two account
//! imports, over the graph. Each answers its reply's fields in the
//! documented order, without the envelope, or a refusal of the whole
//! request.

use serde_json::{Map, Value};

use super::gateway::Refusal;
use super::graph::Graph;
use super::layout::Node;
use super::service::Service;
use super::DuplicateAnswer;
use crate::request::MAX_ACCOUNT_BYTES;
use crate::sync::lock;

/// A reply's fields, or a refusal of the whole request.
pub(crate) type Outcome = Result<Vec<(&'static str, Node)>, Refusal>;

/// What one target of a batch gets: the fields after `ResultInfo` when
/// applied, or the `ResultCode` and `ResultInfo` of a refusal.
type ItemAnswer = Result<Vec<(&'static str, Node)>, (i64, &'static str)>;

fn err<T>(code: i64, info: impl Into<String>) -> Result<T, Refusal> {
    Err((code, info.into()))
}

fn now_secs() -> i64 {
    crate::clock::unix_now() as i64
}

fn string_field<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str, Refusal> {
    match body.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => err(30001, format!("{name} must be a string")),
        None => err(30001, format!("{name} is required")),
    }
}

fn string_list<'a>(
    body: &'a Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Vec<&'a str>, Refusal> {
    let Some(Value::Array(items)) = body.get(name) else {
        return err(30001, format!("{name} must be an array"));
    };
    if items.is_empty() {
        return err(30001, format!("{name} is empty"));
    }
    if items.len() > max {
        return err(
            30001,
            format!(
                "{name} has {} entries; at most {max} are allowed",
                items.len()
            ),
        );
    }
    items
        .iter()
        .map(|v| {
            v.as_str()
                .ok_or((60015, format!("every {name} entry must be a string")))
        })
        .collect()
}

/// The emulator's own `ResultInfo` for the graph's refusals: the service's
/// texts are not documented.
fn info_of(code: i64) -> &'static str {
    match code {
        30001 => "Err_SNS_Invalid_Param: cannot follow oneself",
        30003 => "Err_SNS_Account_Not_Exist",
        32100 => "Err_SNS_Following_Count_Exceed_Limit",
        _ => "error",
    }
}

/// A graph refusal with its `ResultInfo`.
fn refused(code: i64) -> (i64, &'static str) {
    (code, info_of(code))
}

/// One item per target, `To_Account`, `ResultCode`, `ResultInfo` then what
/// `f` answers for an applied target.
fn per_target(targets: &[&str], mut f: impl FnMut(&str) -> ItemAnswer) -> Node {
    let items = targets
        .iter()
        .map(|to| {
            let (code, info, extra) = match f(to) {
                Ok(extra) => (0, "", extra),
                Err((code, info)) => (code, info, Vec::new()),
            };
            let mut fields = vec![
                ("To_Account", Node::from(*to)),
                ("ResultCode", Node::from(code)),
                ("ResultInfo", Node::from(info)),
            ];
            fields.extend(extra);
            Node::Obj(fields)
        })
        .collect();
    Node::List(items)
}

/// The answer to a follow or unfollow: no extra fields when applied, and the
/// account noted in `changed` when the graph changed; a repeat is answered as
/// `duplicates` says, with `repeat_info`.
fn change(
    result: Result<bool, i64>,
    to: &str,
    duplicates: DuplicateAnswer,
    repeat_info: &'static str,
    changed: &mut Vec<String>,
) -> ItemAnswer {
    match (result.map_err(refused)?, duplicates) {
        (true, _) => changed.push(to.to_string()),
        (false, DuplicateAnswer::Apply) => {}
        (false, DuplicateAnswer::Refuse(code)) => return Err((code, repeat_info)),
    }
    Ok(Vec::new())
}

/// The emulator's cursors: opaque, short, and refused when not its own.
fn encode_cursor(seq: u64) -> String {
    format!("emu1.{:x}", seq ^ 0x5a5a_5a5a)
}

fn decode_cursor(c: &str) -> Option<u64> {
    let hex = c.strip_prefix("emu1.")?;
    u64::from_str_radix(hex, 16).ok().map(|v| v ^ 0x5a5a_5a5a)
}

impl Service {
    /// The endpoint of `path` for this JSON body.
    pub(crate) fn dispatch(&self, path: &str, body: &[u8]) -> Outcome {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| (60003, format!("request JSON could not be parsed: {e}")))?;
        let Value::Object(body) = value else {
            return err(60003, "request body must be a JSON object");
        };
        if self.config.open_accounts && path.starts_with("follow/") {
            self.import_named(&body);
        }
        match path {
            "follow/follow_add" => self.follow_add(&body),
            "follow/follow_delete" => self.follow_delete(&body),
            "follow/follow_check" => self.follow_check(&body),
            "follow/follow_get" => self.follow_get(&body),
            "follow/follow_get_info" => self.follow_get_info(&body),
            "im_open_login_svc/account_import" => self.account_import(&body),
            "im_open_login_svc/multiaccount_import" => self.multiaccount_import(&body),
            _ => err(
                60009,
                format!("unknown API {path:?}: check the service name and command"),
            ),
        }
    }

    /// Imports every account a follow request names (open-accounts mode).
    fn import_named(&self, body: &Map<String, Value>) {
        let mut graph = lock(&self.graph);
        let mut import = |v: Option<&Value>| {
            if let Some(Value::String(id)) = v {
                if !id.is_empty() && id.len() <= MAX_ACCOUNT_BYTES && !graph.exists(id) {
                    graph.import(id, None);
                }
            }
        };
        import(body.get("From_Account"));
        for list in ["To_Account", "FollowItem"] {
            match body.get(list) {
                Some(Value::Array(items)) => {
                    for item in items {
                        import(item.get("To_Account").or(Some(item)));
                    }
                }
                other => import(other),
            }
        }
    }

    fn sender<'a>(&self, body: &'a Map<String, Value>, graph: &Graph) -> Result<&'a str, Refusal> {
        let from = string_field(body, "From_Account")?;
        if !graph.exists(from) {
            return err(30003, format!("From_Account {from:?} does not exist"));
        }
        Ok(from)
    }

    fn follow_add(&self, body: &Map<String, Value>) -> Outcome {
        let Some(Value::Array(items)) = body.get("FollowItem") else {
            return err(30001, "FollowItem must be an array");
        };
        if items.is_empty() || items.len() > 20 {
            return err(
                30001,
                format!(
                    "FollowItem has {} entries; 1 to 20 are allowed",
                    items.len()
                ),
            );
        }
        let mut targets = Vec::with_capacity(items.len());
        for i in items {
            match i.get("To_Account") {
                Some(Value::String(s)) => targets.push(s.as_str()),
                _ => return err(30001, "every FollowItem needs a To_Account string"),
            }
        }
        let mut graph = lock(&self.graph);
        let from = self.sender(body, &graph)?.to_string();
        let (now, max, dup) = (
            now_secs(),
            self.config.max_following,
            self.config.duplicates,
        );
        let mut done = Vec::new();
        let results = per_target(&targets, |to| {
            let result = graph.follow(&from, to, now, max);
            change(result, to, dup, "already following this account", &mut done)
        });
        drop(graph);
        if !done.is_empty() {
            self.send_webhook(crate::callback::FOLLOW_ADD, from, done);
        }
        Ok(vec![("ResultItem", results)])
    }

    fn follow_delete(&self, body: &Map<String, Value>) -> Outcome {
        let targets = string_list(body, "To_Account", 20)?;
        let mut graph = lock(&self.graph);
        let from = self.sender(body, &graph)?.to_string();
        let dup = self.config.duplicates;
        let mut done = Vec::new();
        let results = per_target(&targets, |to| {
            let result = graph.unfollow(&from, to);
            change(result, to, dup, "not following this account", &mut done)
        });
        drop(graph);
        if !done.is_empty() {
            self.send_webhook(crate::callback::FOLLOW_DELETE, from, done);
        }
        Ok(vec![("ResultItem", results)])
    }

    fn follow_check(&self, body: &Map<String, Value>) -> Outcome {
        let targets = string_list(body, "To_Account", 100)?;
        let graph = lock(&self.graph);
        let from = self.sender(body, &graph)?;
        let results = per_target(&targets, |to| {
            let t = graph.relation(from, to).ok_or(refused(30003))?;
            Ok(vec![("FollowType", Node::from(t))])
        });
        Ok(vec![("ResultItem", results)])
    }

    fn follow_get(&self, body: &Map<String, Value>) -> Outcome {
        let (list, want, before) = page_request(body)?;
        let graph = lock(&self.graph);
        let from = self.sender(body, &graph)?;
        let (entries, more) = graph.page(from, list, before, want);
        let next = match (more, entries.last()) {
            (true, Some(last)) => encode_cursor(last.2),
            _ => String::new(),
        };
        let items = entries
            .iter()
            .map(|(who, time, _)| {
                let profile = graph
                    .nick(who)
                    .map(|n| {
                        Node::Obj(vec![
                            ("Tag", Node::from("Tag_Profile_IM_Nick")),
                            ("Value", Node::from(n)),
                        ])
                    })
                    .into_iter()
                    .collect();
                Node::Obj(vec![
                    ("To_Account", Node::from(who.as_str())),
                    ("FollowTime", Node::from(*time)),
                    ("ProfileItem", Node::List(profile)),
                ])
            })
            .collect();
        Ok(vec![
            ("FollowItem", Node::List(items)),
            ("NextCursor", Node::from(next)),
        ])
    }

    fn follow_get_info(&self, body: &Map<String, Value>) -> Outcome {
        let targets = string_list(body, "To_Account", 20)?;
        let graph = lock(&self.graph);
        self.sender(body, &graph)?;
        let results = per_target(&targets, |to| {
            let (fans, following, mutual) = graph.counts(to).ok_or(refused(30003))?;
            Ok(vec![
                ("FollowerCount", Node::from(fans)),
                ("FollowingCount", Node::from(following)),
                ("MutualFollowingCount", Node::from(mutual)),
            ])
        });
        Ok(vec![("FollowInfo", results)])
    }

    fn account_import(&self, body: &Map<String, Value>) -> Outcome {
        let id = match body.get("UserID").or_else(|| body.get("Identifier")) {
            Some(Value::String(s)) => s.as_str(),
            _ => return err(70402, "UserID must be a string"),
        };
        if id.is_empty() || id.len() > MAX_ACCOUNT_BYTES {
            return err(70402, "UserID must be 1 to 32 bytes");
        }
        let nick = body.get("Nick").and_then(Value::as_str).map(str::to_string);
        lock(&self.graph).import(id, nick);
        Ok(Vec::new())
    }

    fn multiaccount_import(&self, body: &Map<String, Value>) -> Outcome {
        let entries: Vec<(Option<&str>, Option<String>)> =
            match (body.get("Accounts"), body.get("AccountList")) {
                (Some(Value::Array(a)), _) => a.iter().map(|v| (v.as_str(), None)).collect(),
                (_, Some(Value::Array(a))) => a
                    .iter()
                    .map(|v| {
                        (
                            v.get("UserID").and_then(Value::as_str),
                            v.get("Nick").and_then(Value::as_str).map(str::to_string),
                        )
                    })
                    .collect(),
                _ => return err(70402, "Accounts (or AccountList) must be an array"),
            };
        if entries.is_empty() || entries.len() > 100 {
            return err(
                70402,
                format!("{} accounts; 1 to 100 are allowed", entries.len()),
            );
        }
        let mut graph = lock(&self.graph);
        let mut failed = Vec::new();
        for (id, nick) in entries {
            match id {
                Some(id) if !id.is_empty() && id.len() <= MAX_ACCOUNT_BYTES => {
                    graph.import(id, nick)
                }
                Some(id) => failed.push(Node::from(id)),
                None => failed.push(Node::from("")),
            }
        }
        Ok(vec![("FailAccounts", Node::List(failed))])
    }
}

/// follow_get's list (1 to 3), page size and the sequence to list before.
fn page_request(body: &Map<String, Value>) -> Result<(i64, usize, u64), Refusal> {
    let list = match body.get("FollowType").map(Value::as_i64) {
        Some(Some(t @ 1..=3)) => t,
        Some(_) => {
            return err(
                30001,
                "FollowType must be 1 (fans), 2 (following) or 3 (mutual)",
            )
        }
        None => return err(30001, "FollowType is required"),
    };
    let want = match body.get("WantNum").map(Value::as_u64) {
        None | Some(Some(0)) => 100,
        Some(Some(n @ 1..=1000)) => n as usize,
        Some(_) => return err(30001, "WantNum must be from 1 to 1000"),
    };
    let before = match body.get("StartCursor") {
        None => u64::MAX,
        Some(Value::String(c)) if c.is_empty() => u64::MAX,
        Some(Value::String(c)) => match decode_cursor(c) {
            Some(seq) => seq,
            None => return err(30001, "StartCursor is not a cursor this service returned"),
        },
        Some(_) => return err(30001, "StartCursor must be a string"),
    };
    Ok((list, want, before))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_rejects_garbage() {
        for seq in [0u64, 1, 12345, u64::MAX - 1] {
            assert_eq!(decode_cursor(&encode_cursor(seq)), Some(seq));
        }
        assert_eq!(decode_cursor("garbage"), None);
        assert_eq!(decode_cursor("emu1.xyz"), None);
    }

    #[test]
    fn a_repeat_refused_carries_its_own_result_info() {
        let mut changed = Vec::new();
        let refuse = DuplicateAnswer::Refuse(30001);
        let got = change(Ok(false), "b", refuse, "already following", &mut changed);
        assert_eq!(got, Err((30001, "already following")));
        let own = change(Err(30001), "a", refuse, "already following", &mut changed);
        assert_eq!(own, Err((30001, info_of(30001))));
        assert!(changed.is_empty());
    }
}
