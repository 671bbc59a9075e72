//! Which fields a change touched: the JSON Pointers at which two stored documents of an agent differ.
//!
//! The two documents are read side by side, in one pass over each: two documents of one agent are
//! written by the same code, so their objects hold the same members in the same order, and the walk
//! stays in step, comparing scalars as text. Only where it cannot (an object that gained or lost
//! members) is that object split into members by key and its members matched by name; only differing
//! leaves are parsed to be compared as values. A PATCH touches a few fields of a large document, so
//! this costs a small part of turning both documents into JSON values and walking them.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::problems::push_token;

/// The JSON Pointers of every field that differs between two stored documents of an agent, but for
/// the members every version changes or none does (`metadata`, `agentId`): a client's fields and
/// `phoneNumbers` (which the server changes when numbers are assigned). Documents that do not parse
/// as JSON objects give no paths.
pub fn changed_paths(before: &str, after: &str) -> Vec<String> {
    let keep = |key: &str| !matches!(key, "metadata" | "agentId");
    let mut paths = Vec::new();
    let mut pair = Pair::new(before, after);
    if pair.objects(&keep, &mut String::new(), &mut paths).is_ok() && pair.at_end() {
        return whole_phone_numbers(paths);
    }
    // Not JSON, or not objects: what parsing each says.
    paths.clear();
    match diff_by_key(before, after, &keep, &mut String::new(), &mut paths) {
        Ok(()) => whole_phone_numbers(paths),
        Err(Malformed) => Vec::new(),
    }
}

/// `phoneNumbers` is one list the server keeps: any change in it is a change of `/phoneNumbers`.
fn whole_phone_numbers(mut paths: Vec<String>) -> Vec<String> {
    const LIST: &str = "/phoneNumbers";
    let mut seen = false;
    paths.retain_mut(|p| {
        if p.starts_with(LIST) && (p.len() == LIST.len() || p.as_bytes()[LIST.len()] == b'/') {
            *p = LIST.to_owned();
            !std::mem::replace(&mut seen, true)
        } else {
            true
        }
    });
    paths
}

/// Diffs two objects by matching their members by key.
fn diff_by_key(
    before: &str,
    after: &str,
    keep: &dyn Fn(&str) -> bool,
    path: &mut String,
    paths: &mut Vec<String>,
) -> Result<(), Malformed> {
    let (Ok(Members(before)), Ok(Members(after))) = (
        serde_json::from_str::<Members>(before),
        serde_json::from_str::<Members>(after),
    ) else {
        return Err(Malformed);
    };
    diff_members(&before, &after, keep, path, paths);
    Ok(())
}

/// [`changed_paths`] of any two JSON values, read side by side (`None` if either is not JSON).
#[cfg(test)]
pub(crate) fn changed_paths_of_values(before: &str, after: &str) -> Option<Vec<String>> {
    let mut paths = Vec::new();
    let mut pair = Pair::new(before, after);
    pair.values(&mut String::new(), &mut paths).ok()?;
    pair.at_end().then_some(paths)
}

/// Why a side-by-side walk stopped: the text is not JSON.
#[derive(Debug)]
struct Malformed;

/// Two JSON texts, each read up to a position.
struct Pair<'a> {
    before: Side<'a>,
    after: Side<'a>,
}

impl<'a> Pair<'a> {
    fn new(before: &'a str, after: &'a str) -> Self {
        Self {
            before: Side {
                text: before,
                at: 0,
            },
            after: Side { text: after, at: 0 },
        }
    }

    /// Whether only white space is left on both sides.
    fn at_end(&mut self) -> bool {
        self.before.peek().is_none() && self.after.peek().is_none()
    }

    /// Diffs the next value of each side, and reads past both.
    fn values(&mut self, path: &mut String, paths: &mut Vec<String>) -> Result<(), Malformed> {
        match (self.before.peek(), self.after.peek()) {
            (Some(b'{'), Some(b'{')) => self.objects(&|_| true, path, paths),
            (Some(b'['), Some(b'[')) => self.arrays(path, paths),
            // Leaves, or a change of type: equal if they are the same value written differently.
            _ => {
                let (before, after) = (self.before.value()?, self.after.value()?);
                if before != after && !same_value(before, after)? {
                    add(path, paths);
                }
                Ok(())
            }
        }
    }

    /// Diffs the next object of each side, member by member while both hold the same keys in the
    /// same order, else matching members by key; reads past both. Members whose key `keep` refuses
    /// are skipped.
    fn objects(
        &mut self,
        keep: &dyn Fn(&str) -> bool,
        path: &mut String,
        paths: &mut Vec<String>,
    ) -> Result<(), Malformed> {
        let (before_start, after_start, found) = (self.before.at, self.after.at, paths.len());
        match self.members_in_step(keep, path, paths)? {
            true => Ok(()),
            false => {
                paths.truncate(found);
                self.before.at = before_start;
                self.after.at = after_start;
                let (before, after) = (self.before.value()?, self.after.value()?);
                diff_by_key(before, after, keep, path, paths)
            }
        }
    }

    /// The members of two objects in step: `false` as soon as their keys differ (the caller starts
    /// over by key). The paths come in the order [`diff_members`] gives: by key.
    fn members_in_step(
        &mut self,
        keep: &dyn Fn(&str) -> bool,
        path: &mut String,
        paths: &mut Vec<String>,
    ) -> Result<bool, Malformed> {
        self.before.expect(b'{')?;
        self.after.expect(b'{')?;
        let found = paths.len();
        // The members that changed, by key, with the first of their paths.
        let mut changed: Vec<(&str, usize)> = Vec::new();
        let (mut before_more, mut after_more) =
            (self.before.more(b'}', true)?, self.after.more(b'}', true)?);
        while before_more && after_more {
            let (key, escaped) = self.before.key()?;
            if self.after.key()? != (key, escaped) || escaped {
                return Ok(false);
            }
            if keep(key) {
                let len = path.len();
                let first = paths.len();
                push_token(path, key);
                self.values(path, paths)?;
                path.truncate(len);
                if paths.len() > first {
                    changed.push((key, first));
                }
            } else {
                self.before.value()?;
                self.after.value()?;
            }
            (before_more, after_more) = (
                self.before.more(b'}', false)?,
                self.after.more(b'}', false)?,
            );
        }
        if before_more != after_more {
            return Ok(false);
        }
        if changed.windows(2).any(|w| w[0].0 > w[1].0) {
            by_key(paths, found, changed);
        }
        Ok(true)
    }

    /// Diffs two arrays element by element; elements one has beyond the other's length are added
    /// or removed at the paths [`diff_elements`] gives. Reads past both.
    fn arrays(&mut self, path: &mut String, paths: &mut Vec<String>) -> Result<(), Malformed> {
        self.before.expect(b'[')?;
        self.after.expect(b'[')?;
        let len = path.len();
        let mut index = 0;
        let (mut before_more, mut after_more) =
            (self.before.more(b']', true)?, self.after.more(b']', true)?);
        while before_more && after_more {
            push_token(path, &index.to_string());
            self.values(path, paths)?;
            path.truncate(len);
            index += 1;
            (before_more, after_more) = (
                self.before.more(b']', false)?,
                self.after.more(b']', false)?,
            );
        }
        // Extra elements, added or removed, start at the shorter array's length.
        let shorter = index;
        let (longer, grew) = match (before_more, after_more) {
            (true, _) => (&mut self.before, false),
            (_, true) => (&mut self.after, true),
            _ => return Ok(()),
        };
        let mut more = true;
        while more {
            push_token(path, &(if grew { index } else { shorter }).to_string());
            add(path, paths);
            path.truncate(len);
            longer.value()?;
            index += 1;
            more = longer.more(b']', false)?;
        }
        Ok(())
    }
}

/// Puts the paths from `found` on in the order of the members they belong to, by key: `changed`
/// holds each member's key and the index of its first path.
fn by_key(paths: &mut Vec<String>, found: usize, mut changed: Vec<(&str, usize)>) {
    let ends: Vec<usize> = changed
        .iter()
        .skip(1)
        .map(|(_, start)| *start)
        .chain([paths.len()])
        .collect();
    let mut groups: Vec<(&str, Vec<String>)> = changed
        .drain(..)
        .zip(ends)
        .rev()
        .map(|((key, start), end)| (key, paths.drain(start..end).collect()))
        .collect();
    groups.sort_by(|a, b| a.0.cmp(b.0));
    paths.truncate(found);
    paths.extend(groups.into_iter().flat_map(|(_, group)| group));
}

/// Whether two JSON texts are the same value (`1` and `1.0` are not, as in a full diff).
fn same_value(before: &str, after: &str) -> Result<bool, Malformed> {
    match (
        serde_json::from_str::<Value>(before),
        serde_json::from_str::<Value>(after),
    ) {
        (Ok(before), Ok(after)) => Ok(before == after),
        _ => Err(Malformed),
    }
}

/// One JSON text, read up to `at`.
struct Side<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Side<'a> {
    /// The next byte that is not white space, without reading past it.
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = bytes.get(self.at) {
            self.at += 1;
        }
        bytes.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), Malformed> {
        if self.peek() != Some(byte) {
            return Err(Malformed);
        }
        self.at += 1;
        Ok(())
    }

    /// Whether a container goes on with another member or element: reads past the `,` before it
    /// (none before the `first`) or past the container's `close`.
    fn more(&mut self, close: u8, first: bool) -> Result<bool, Malformed> {
        match self.peek() {
            Some(b) if b == close => {
                self.at += 1;
                Ok(false)
            }
            Some(b',') if !first => {
                self.at += 1;
                Ok(true)
            }
            Some(_) if first => Ok(true),
            _ => Err(Malformed),
        }
    }

    /// A member's key and the `:` after it: its text between the quotes, and whether that holds
    /// escapes.
    fn key(&mut self) -> Result<(&'a str, bool), Malformed> {
        if self.peek() != Some(b'"') {
            return Err(Malformed);
        }
        let (key, escaped) = self.string()?;
        self.expect(b':')?;
        Ok((key, escaped))
    }

    /// Reads past the string that starts here: its text between the quotes, and whether that holds
    /// escapes.
    fn string(&mut self) -> Result<(&'a str, bool), Malformed> {
        let bytes = self.text.as_bytes();
        let start = self.at + 1;
        let mut at = start;
        let mut escaped = false;
        loop {
            let rest = bytes.get(at..).ok_or(Malformed)?;
            at += memchr::memchr2(b'"', b'\\', rest).ok_or(Malformed)?;
            if bytes[at] == b'"' {
                break;
            }
            escaped = true;
            at += 2;
        }
        self.at = at + 1;
        self.text
            .get(start..at)
            .map(|s| (s, escaped))
            .ok_or(Malformed)
    }

    /// Reads past the value that starts here: its text.
    fn value(&mut self) -> Result<&'a str, Malformed> {
        let bytes = self.text.as_bytes();
        let start = match self.peek() {
            Some(_) => self.at,
            None => return Err(Malformed),
        };
        match bytes[start] {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match bytes.get(self.at) {
                        Some(b'"') => {
                            self.string()?;
                            continue;
                        }
                        Some(b'{' | b'[') => depth += 1,
                        Some(b'}' | b']') => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                break;
                            }
                        }
                        Some(_) => {}
                        None => return Err(Malformed),
                    }
                    self.at += 1;
                }
            }
            _ => {
                while !matches!(
                    bytes.get(self.at),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                ) {
                    self.at += 1;
                }
            }
        }
        self.text.get(start..self.at).ok_or(Malformed)
    }
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
        push_token(path, key);
        match find(before, key) {
            Some(old) => diff(old, value, path, paths),
            None => add(path, paths),
        }
        path.truncate(len);
    }
    for (key, _) in before.iter().filter(|(k, _)| keep(k)) {
        if find(after, key).is_none() {
            push_token(path, key);
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
        push_token(path, &i.to_string());
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
        push_token(path, &at.to_string());
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
