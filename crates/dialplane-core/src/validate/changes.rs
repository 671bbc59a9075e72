//! Which fields a change touched: the JSON Pointers at which two stored documents of an agent differ.
//!
//! The documents are compared as text first: a member or element whose text is the same on both
//! sides is the same value, and is skipped without being parsed. Only the objects and arrays on the
//! way to a difference are split into their members, and only differing leaves are parsed to be
//! compared as values. A PATCH touches a few fields of a large document, so this costs a small part
//! of turning both documents into JSON values and walking them.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// The JSON Pointers of every writable field that differs between two stored documents of an agent
/// (the read-only members, [`super::READ_ONLY`], are left out). Documents that do not parse as JSON
/// objects give no paths.
pub fn changed_paths(before: &str, after: &str) -> Vec<String> {
    let (Ok(Members(before)), Ok(Members(after))) = (
        serde_json::from_str::<Members>(before),
        serde_json::from_str::<Members>(after),
    ) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    diff_members(
        &before,
        &after,
        &|key| !super::READ_ONLY.contains(&key),
        &mut String::new(),
        &mut paths,
    );
    paths
}

/// The JSON Pointers at which `after` differs from `before`, in the order and at the depth of the
/// operations of an RFC 6902 diff (a changed scalar or a changed type at its own path, an added or
/// removed member or element at its path; removed trailing elements all at the first one's index),
/// each once.
pub(crate) fn diff(
    before: &RawValue,
    after: &RawValue,
    path: &mut String,
    paths: &mut Vec<String>,
) {
    if before.get() == after.get() {
        return;
    }
    match (first_byte(before), first_byte(after)) {
        (b'{', b'{') => {
            if let (Ok(Members(b)), Ok(Members(a))) = (
                serde_json::from_str::<Members>(before.get()),
                serde_json::from_str::<Members>(after.get()),
            ) {
                diff_members(&b, &a, &|_| true, path, paths);
                return;
            }
        }
        (b'[', b'[') => {
            if let (Ok(b), Ok(a)) = (
                serde_json::from_str::<Vec<&RawValue>>(before.get()),
                serde_json::from_str::<Vec<&RawValue>>(after.get()),
            ) {
                diff_elements(&b, &a, path, paths);
                return;
            }
        }
        _ => {}
    }
    // Leaves, or a change of type: equal if they are the same value written differently.
    let same = matches!(
        (
            serde_json::from_str::<Value>(before.get()),
            serde_json::from_str::<Value>(after.get()),
        ),
        (Ok(b), Ok(a)) if b == a
    );
    if !same {
        add(path, paths);
    }
}

fn diff_members(
    before: &[(String, &RawValue)],
    after: &[(String, &RawValue)],
    keep: &dyn Fn(&str) -> bool,
    path: &mut String,
    paths: &mut Vec<String>,
) {
    let len = path.len();
    for (key, value) in after.iter().filter(|(k, _)| keep(k)) {
        push_key(path, key);
        match find(before, key) {
            Some(old) => diff(old, value, path, paths),
            None => add(path, paths),
        }
        path.truncate(len);
    }
    for (key, _) in before.iter().filter(|(k, _)| keep(k)) {
        if find(after, key).is_none() {
            push_key(path, key);
            add(path, paths);
            path.truncate(len);
        }
    }
}

fn diff_elements(
    before: &[&RawValue],
    after: &[&RawValue],
    path: &mut String,
    paths: &mut Vec<String>,
) {
    let len = path.len();
    for (i, (old, new)) in before.iter().zip(after).enumerate() {
        push_key(path, &i.to_string());
        diff(old, new, path, paths);
        path.truncate(len);
    }
    // Extra elements, added or removed, start at the shorter array's length.
    for i in before.len().min(after.len())..before.len().max(after.len()) {
        let at = if after.len() > before.len() {
            i
        } else {
            after.len()
        };
        push_key(path, &at.to_string());
        add(path, paths);
        path.truncate(len);
    }
}

/// The value of member `key`. Members are few (tens): a scan is cheaper than a map.
fn find<'a>(members: &[(String, &'a RawValue)], key: &str) -> Option<&'a RawValue> {
    members.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

fn first_byte(value: &RawValue) -> u8 {
    value.get().trim_start().bytes().next().unwrap_or(b' ')
}

fn add(path: &str, paths: &mut Vec<String>) {
    if !paths.iter().any(|p| p == path) {
        paths.push(path.to_owned());
    }
}

fn push_key(path: &mut String, key: &str) {
    path.push('/');
    for c in key.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

/// An object's members sorted by key (the order of a `serde_json::Map`, which earlier versions'
/// changed paths follow), each value left as text.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Members<'de>, M::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                members.sort_by(|(a, _), (b, _)| a.cmp(b));
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}
