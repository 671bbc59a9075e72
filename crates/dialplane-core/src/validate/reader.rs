//! A small reader over untrusted JSON that never stops at the first problem.
//!
//! Every accessor records what is wrong in the shared [`Ctx`] and hands back the field's default, so
//! one pass over a document finds every problem. An [`Obj`] remembers which keys were read; whatever
//! is left when it finishes is an unknown field.

use super::Rules;
use crate::agent::Choice;
use crate::json::type_name;
use crate::problems::{Pointer, ProblemCode, Problems};
use serde_json::{Map, Value};

/// What a string check says is wrong.
pub type Fault = (ProblemCode, String);

/// The state of one validation pass.
pub struct Ctx<'a> {
    pub problems: Problems,
    pub rules: &'a Rules,
    /// Keys the request set to `null`, by the object they are in. Merging removes them, so the
    /// unknown ones among them are checked here.
    pub null_keys: Vec<(Pointer, String)>,
}

impl<'a> Ctx<'a> {
    pub fn new(rules: &'a Rules) -> Self {
        Self {
            problems: Problems::new(),
            rules,
            null_keys: Vec::new(),
        }
    }

    pub fn report(&mut self, path: &Pointer, code: ProblemCode, message: impl Into<String>) {
        self.problems.push(path, code, message);
    }

    fn wrong_type(&mut self, path: &Pointer, expected: &str, got: &Value) {
        self.report(
            path,
            ProblemCode::InvalidType,
            format!("must be {expected}, got {}", type_name(got)),
        );
    }

    pub fn boolean(&mut self, v: &Value, path: &Pointer) -> Option<bool> {
        let b = v.as_bool();
        if b.is_none() {
            self.wrong_type(path, "a boolean", v);
        }
        b
    }

    pub fn str<'v>(&mut self, v: &'v Value, path: &Pointer) -> Option<&'v str> {
        let s = v.as_str();
        if s.is_none() {
            self.wrong_type(path, "a string", v);
        }
        s
    }

    /// A string that passes `check`.
    pub fn checked_str(
        &mut self,
        v: &Value,
        path: &Pointer,
        check: &dyn Fn(&str) -> Result<(), Fault>,
    ) -> Option<String> {
        let s = self.str(v, path)?;
        match check(s) {
            Ok(()) => Some(s.to_owned()),
            Err((code, message)) => {
                self.report(path, code, message);
                None
            }
        }
    }

    pub fn number(&mut self, v: &Value, path: &Pointer, min: f64, max: f64) -> Option<f64> {
        let Some(n) = v.as_f64() else {
            self.wrong_type(path, "a number", v);
            return None;
        };
        if !(min..=max).contains(&n) {
            self.report(
                path,
                ProblemCode::OutOfRange,
                format!("must be between {min} and {max}, got {n}"),
            );
            return None;
        }
        Some(n)
    }

    /// An integer: as in JSON Schema, any number without a fractional part (`3.0` is 3, and
    /// `1e23` an integer out of range rather than not an integer).
    pub fn int(&mut self, v: &Value, path: &Pointer, min: u32, max: u32) -> Option<u32> {
        // Every `u32` is exact as an `f64`, so the range check and the cast back are too.
        let whole = match v {
            Value::Number(n) => n.as_f64().filter(|f| f.fract() == 0.0).map(|f| (n, f)),
            _ => None,
        };
        let Some((n, f)) = whole else {
            self.wrong_type(path, "an integer", v);
            return None;
        };
        if (f64::from(min)..=f64::from(max)).contains(&f) {
            Some(f as u32)
        } else {
            self.report(
                path,
                ProblemCode::OutOfRange,
                format!("must be between {min} and {max}, got {n}"),
            );
            None
        }
    }

    pub fn choice<T: Choice>(&mut self, v: &Value, path: &Pointer) -> Option<T> {
        let s = self.str(v, path)?;
        let c = T::from_wire(s);
        if c.is_none() {
            self.report(
                path,
                ProblemCode::InvalidValue,
                format!("must be one of {}, got {s:?}", T::allowed()),
            );
        }
        c
    }

    pub fn object<'v>(&mut self, v: &'v Value, path: &Pointer) -> Option<&'v Map<String, Value>> {
        let m = v.as_object();
        if m.is_none() {
            self.wrong_type(path, "an object", v);
        }
        m
    }

    /// An array of at most `max` items, each read by `item`. A longer one is reported, and only its
    /// first `max` items are read: a body of a million items gets one problem, not a million.
    pub fn list<'v, T>(
        &mut self,
        v: &'v Value,
        path: &Pointer,
        max: usize,
        mut item: impl FnMut(&mut Self, &'v Value, Pointer) -> Option<T>,
    ) -> Vec<T> {
        let Some(items) = v.as_array() else {
            self.wrong_type(path, "an array", v);
            return Vec::new();
        };
        if items.len() > max {
            self.report(
                path,
                ProblemCode::TooLong,
                format!("must have at most {max} items, got {}", items.len()),
            );
        }
        items
            .iter()
            .take(max)
            .enumerate()
            .filter_map(|(i, v)| item(self, v, path.index(i)))
            .collect()
    }

    /// An array of distinct strings, each passing `check`.
    pub fn string_list(
        &mut self,
        v: &Value,
        path: &Pointer,
        max: usize,
        check: &dyn Fn(&str) -> Result<(), Fault>,
    ) -> Vec<String> {
        let items = self.list(v, path, max, |cx, v, p| {
            cx.checked_str(v, &p, check).map(|s| (p, s))
        });
        let mut seen = std::collections::HashSet::new();
        for (p, s) in &items {
            if !seen.insert(s.as_str()) {
                self.report(p, ProblemCode::Duplicate, format!("{s:?} is listed twice"));
            }
        }
        items.into_iter().map(|(_, s)| s).collect()
    }

    /// Reads the object at `path` with `read`, then reports its unknown keys.
    pub fn nested<'v, T>(
        &mut self,
        v: Option<&'v Value>,
        path: Pointer,
        read: impl FnOnce(&mut Obj<'v, '_, 'a>) -> T,
    ) -> T {
        self.nested_under(v, path, None, read)
    }

    /// [`Ctx::nested`], the object read under `patch`, the members a merge patch names in it.
    fn nested_under<'v, T>(
        &mut self,
        v: Option<&'v Value>,
        path: Pointer,
        patch: Option<&'v Map<String, Value>>,
        read: impl FnOnce(&mut Obj<'v, '_, 'a>) -> T,
    ) -> T {
        let map = match v {
            None => None,
            Some(v) => match self.object(v, &path) {
                Some(m) => Some(m),
                None => {
                    // The value is already reported; read defaults without piling up more problems.
                    let mut obj = Obj::new(self, None, path, Absence::Quiet);
                    return read(&mut obj);
                }
            },
        };
        let absence = if map.is_some() {
            Absence::Present
        } else {
            Absence::Absent(path.clone())
        };
        let mut obj = Obj::new(self, map, path, absence).under(patch);
        let out = read(&mut obj);
        obj.finish();
        out
    }
}

/// Whether an object was in the document, and if not, where reporting its required fields belongs.
#[derive(Clone)]
pub enum Absence {
    Present,
    /// Missing: a required field inside is reported once, at the outermost missing object.
    Absent(Pointer),
    /// Of the wrong type (already reported): say nothing more about it.
    Quiet,
}

/// One JSON object being read.
pub struct Obj<'v, 'c, 'a> {
    map: Option<&'v Map<String, Value>>,
    pub path: Pointer,
    absence: Absence,
    /// Read under a merge patch: the members it names in this object. The others are the stored
    /// agent's, which [`Obj::kept`] and [`Obj::section`] take as they are instead of reading them.
    patch: Option<&'v Map<String, Value>>,
    used: Vec<&'static str>,
    pub cx: &'c mut Ctx<'a>,
}

impl<'v, 'c, 'a> Obj<'v, 'c, 'a> {
    pub fn new(
        cx: &'c mut Ctx<'a>,
        map: Option<&'v Map<String, Value>>,
        path: Pointer,
        absence: Absence,
    ) -> Self {
        Self {
            map,
            path,
            absence,
            patch: None,
            used: Vec::new(),
            cx,
        }
    }

    /// This object as read under a merge patch that names `patch` in it.
    pub fn under(mut self, patch: Option<&'v Map<String, Value>>) -> Self {
        self.patch = patch;
        self
    }

    /// Whether member `key` is the stored agent's as it is: a merge patch leaves it alone.
    fn untouched(&self, key: &str) -> bool {
        self.patch.is_some_and(|p| !p.contains_key(key))
    }

    /// The value of `key` and its path; `null` counts as absent (it means "the default").
    pub fn field(&mut self, key: &'static str) -> Option<(&'v Value, Pointer)> {
        self.used.push(key);
        let v = self.map?.get(key)?;
        (!v.is_null()).then(|| (v, self.path.key(key)))
    }

    /// Marks `key` as known without reading it (read-only fields, checked elsewhere).
    pub fn skip(&mut self, key: &'static str) {
        self.used.push(key);
    }

    /// The `stored` value of member `key` when a merge patch leaves it alone (it is valid, and reading
    /// it again would give it back unchanged), else what `read` reads.
    pub fn kept<T: Clone>(
        &mut self,
        key: &'static str,
        stored: Option<&T>,
        read: impl FnOnce(&mut Self) -> T,
    ) -> T {
        match stored {
            Some(value) if self.untouched(key) => {
                self.skip(key);
                value.clone()
            }
            _ => read(self),
        }
    }

    /// A nested object, read by `read` (an absent one as all defaults), but under a merge patch only
    /// as deep as the patch goes: left as `stored` when the patch does not name it; when the patch
    /// names it with members of its own, read under those, `read` being handed `stored` to keep the
    /// members of its own that the patch leaves alone.
    pub fn section<T: Clone>(
        &mut self,
        key: &'static str,
        stored: Option<&T>,
        read: impl FnOnce(&mut Obj<'v, '_, 'a>, Option<&T>) -> T,
    ) -> T {
        self.kept(key, stored, |o| {
            let patch = o.patch.and_then(|p| p.get(key)).and_then(Value::as_object);
            o.object_under(key, patch, |o| read(o, stored))
        })
    }

    /// [`Obj::field`], reporting `required` when it is absent.
    pub fn required(&mut self, key: &'static str) -> Option<(&'v Value, Pointer)> {
        let found = self.field(key);
        if found.is_none() {
            match &self.absence {
                Absence::Present => {
                    let p = self.path.key(key);
                    self.cx.report(&p, ProblemCode::Required, "is required");
                }
                Absence::Absent(root) => {
                    let root = root.clone();
                    self.cx.report(&root, ProblemCode::Required, "is required");
                    self.absence = Absence::Quiet;
                }
                Absence::Quiet => {}
            }
        }
        found
    }

    pub fn bool(&mut self, key: &'static str, default: bool) -> bool {
        self.field(key)
            .and_then(|(v, p)| self.cx.boolean(v, &p))
            .unwrap_or(default)
    }

    pub fn string(
        &mut self,
        key: &'static str,
        default: &str,
        check: &dyn Fn(&str) -> Result<(), Fault>,
    ) -> String {
        self.field(key)
            .and_then(|(v, p)| self.cx.checked_str(v, &p, check))
            .unwrap_or_else(|| default.to_owned())
    }

    pub fn required_string(
        &mut self,
        key: &'static str,
        check: &dyn Fn(&str) -> Result<(), Fault>,
    ) -> String {
        self.required(key)
            .and_then(|(v, p)| self.cx.checked_str(v, &p, check))
            .unwrap_or_default()
    }

    pub fn number(&mut self, key: &'static str, default: f64, min: f64, max: f64) -> f64 {
        self.field(key)
            .and_then(|(v, p)| self.cx.number(v, &p, min, max))
            .unwrap_or(default)
    }

    pub fn int(&mut self, key: &'static str, default: u32, min: u32, max: u32) -> u32 {
        self.field(key)
            .and_then(|(v, p)| self.cx.int(v, &p, min, max))
            .unwrap_or(default)
    }

    pub fn choice<T: Choice + Default>(&mut self, key: &'static str) -> T {
        self.field(key)
            .and_then(|(v, p)| self.cx.choice(v, &p))
            .unwrap_or_default()
    }

    pub fn string_list(
        &mut self,
        key: &'static str,
        max: usize,
        check: &dyn Fn(&str) -> Result<(), Fault>,
    ) -> Vec<String> {
        match self.field(key) {
            Some((v, p)) => self.cx.string_list(v, &p, max, check),
            None => Vec::new(),
        }
    }

    pub fn list<T>(
        &mut self,
        key: &'static str,
        max: usize,
        item: impl FnMut(&mut Ctx<'a>, &'v Value, Pointer) -> Option<T>,
    ) -> Vec<T> {
        match self.field(key) {
            Some((v, p)) => self.cx.list(v, &p, max, item),
            None => Vec::new(),
        }
    }

    /// A free-form object, with its path (empty when absent).
    pub fn map(&mut self, key: &'static str) -> (Map<String, Value>, Pointer) {
        let path = self.path.key(key);
        let map = self
            .field(key)
            .and_then(|(v, p)| self.cx.object(v, &p).cloned())
            .unwrap_or_default();
        (map, path)
    }

    /// A nested object read by `read` (under `patch`, the members a merge patch names in it); an
    /// absent one is read as all defaults.
    fn object_under<T>(
        &mut self,
        key: &'static str,
        patch: Option<&'v Map<String, Value>>,
        read: impl FnOnce(&mut Obj<'v, '_, 'a>) -> T,
    ) -> T {
        self.used.push(key);
        let path = self.path.key(key);
        let value = self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null());
        match (&self.absence, value) {
            (Absence::Present, _) => self.cx.nested_under(value, path, patch, read),
            // Inside an absent or broken object everything is absent too; keep the outer verdict.
            (absence, _) => {
                let absence = absence.clone();
                let mut obj = Obj::new(self.cx, None, path, absence);
                read(&mut obj)
            }
        }
    }

    /// Reports every key that was not read, and every unknown key the request set to `null`.
    pub fn finish(self) {
        let present = self.map.into_iter().flat_map(|m| m.keys());
        let nulled = self
            .cx
            .null_keys
            .iter()
            .filter(|(parent, _)| *parent == self.path)
            .map(|(_, key)| key);
        let unknown: Vec<Pointer> = present
            .chain(nulled)
            .filter(|key| !self.used.contains(&key.as_str()))
            .map(|key| self.path.key(key))
            .collect();
        for p in unknown {
            self.cx
                .report(&p, ProblemCode::UnknownField, "is not a known field");
        }
    }
}
