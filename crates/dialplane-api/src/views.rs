//! Three views of one resource's schemas, made from the one set of Rust types that is stored and
//! answered, so that they cannot drift apart:
//!
//! - the **response** (`Agent`, `Prompt`…): every field the server always answers is `required`;
//! - the **create body** (`AgentCreate`, `PromptInput`…): only what the validator requires is
//!   `required`; each default is said in the field's description (see [`with_default`] for why not
//!   as `default`);
//! - the **merge-patch body** (`AgentPatch`, `PromptPatch`…): nothing is required, and `null` is
//!   allowed wherever it resets a field to its default. Arrays are replaced whole by a merge patch,
//!   so their items are the create body's.
//!
//! Along the way every composition utoipa writes for serde's shapes goes: `allOf` (from
//! `#[serde(flatten)]`) is merged into one object, and `oneOf: [{$ref}]` wrappers (which utoipa puts
//! around a referenced field so that it can carry a default) become the plain `$ref`. Generators and
//! strict validators handle plain objects well; they stumble on those.

use std::collections::{BTreeMap, BTreeSet};
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Object, Schema, SchemaType, Type};
use utoipa::openapi::{Ref, RefOr};

/// The components of a document, by name.
pub type Schemas = BTreeMap<String, RefOr<Schema>>;

/// What [`Views::apply`] needs to know about one resource.
pub struct Views {
    /// The schema the server answers (`Agent`); it keeps its name.
    pub response: &'static str,
    /// The schema of what a client may write (`AgentSpec`); replaced by the two request views.
    pub writable: &'static str,
    /// The name of the create body made from `writable` (`AgentCreate`).
    pub create: &'static str,
    /// The name of the merge-patch body made from `writable` (`AgentPatch`).
    pub patch: &'static str,
    /// The create body's description.
    pub create_description: &'static str,
    /// The merge-patch body's description.
    pub patch_description: &'static str,
    /// By schema (as the Rust types name it), the fields a request must send: the validator's
    /// `required` problems. They are required in the create views and never `null` in a patch.
    pub required: &'static [(&'static str, &'static [&'static str])],
}

/// The suffix of a nested create-body schema (`PromptInput`).
pub const INPUT: &str = "Input";
/// The suffix of a nested merge-patch schema (`PromptPatch`).
pub const PATCH: &str = "Patch";

impl Views {
    /// Replaces the response tree's schemas by their response views and adds the two request views.
    pub fn apply(&self, schemas: &mut Schemas) {
        let flat: BTreeMap<String, Object> = schemas
            .keys()
            .filter_map(|name| Some((name.clone(), flatten(schemas, name)?)))
            .collect();
        for name in reachable(&flat, self.response) {
            schemas.insert(name.clone(), self.response_view(&flat[&name]).into());
        }
        let request_tree = reachable(&flat, self.writable);
        for name in &request_tree {
            let input = self.input_view(name, &flat[name], &request_tree);
            schemas.insert(self.input_name(name), input.into());
        }
        // A patch merges into objects only; what sits in an array or a map is sent whole.
        let patch_tree = merged_into(&flat, self.writable);
        for name in &patch_tree {
            let patch = self.patch_view(name, &flat[name], &patch_tree, &request_tree);
            schemas.insert(self.patch_name(name), patch.into());
        }
        schemas.remove(self.writable);
    }

    fn input_name(&self, name: &str) -> String {
        if name == self.writable {
            self.create.to_owned()
        } else {
            format!("{name}{INPUT}")
        }
    }

    fn patch_name(&self, name: &str) -> String {
        if name == self.writable {
            self.patch.to_owned()
        } else {
            format!("{name}{PATCH}")
        }
    }

    fn required_in(&self, name: &str) -> &'static [&'static str] {
        self.required
            .iter()
            .find(|(schema, _)| *schema == name)
            .map_or(&[], |(_, fields)| fields)
    }

    /// Every field required but those that may be absent (`Option`s, skipped when empty).
    fn response_view(&self, object: &Object) -> Object {
        let mut out = object.clone();
        out.properties = object
            .properties
            .iter()
            .map(|(key, property)| (key.clone(), unwrap(property).0))
            .collect();
        out.required = out
            .properties
            .iter()
            .filter(|(_, property)| !is_nullable(property))
            .map(|(key, _)| key.clone())
            .collect();
        out
    }

    fn input_view(&self, name: &str, object: &Object, tree: &BTreeSet<String>) -> Object {
        let to_input = |r: &str| tree.contains(r).then(|| self.input_name(r));
        let required = self.required_in(name);
        let mut out = object.clone();
        out.properties = object
            .properties
            .iter()
            .map(|(key, property)| {
                let (property, default) = unwrap(property);
                let property = retarget(&property, &to_input, &to_input);
                // A field that must be sent has no default.
                let default = default.filter(|_| !required.contains(&key.as_str()));
                (key.clone(), with_default(property, default))
            })
            .collect();
        out.required = self.required_fields(name, &out);
        if name == self.writable {
            out.description = Some(self.create_description.to_owned());
        }
        out
    }

    fn patch_view(
        &self,
        name: &str,
        object: &Object,
        merged: &BTreeSet<String>,
        tree: &BTreeSet<String>,
    ) -> Object {
        let to_patch = |r: &str| merged.contains(r).then(|| self.patch_name(r));
        let to_input = |r: &str| tree.contains(r).then(|| self.input_name(r));
        let required = self.required_in(name);
        let mut out = object.clone();
        out.properties = object
            .properties
            .iter()
            .map(|(key, property)| {
                let property = retarget(&unwrap(property).0, &to_patch, &to_input);
                let property = if required.contains(&key.as_str()) {
                    property
                } else {
                    nullable(property)
                };
                (key.clone(), property)
            })
            .collect();
        out.required = Vec::new();
        if name == self.writable {
            out.description = Some(self.patch_description.to_owned());
        }
        out
    }

    fn required_fields(&self, name: &str, object: &Object) -> Vec<String> {
        self.required_in(name)
            .iter()
            .filter(|field| object.properties.contains_key(**field))
            .map(|field| (*field).to_owned())
            .collect()
    }
}

/// The schema name a `$ref` points at.
fn ref_name(r: &Ref) -> &str {
    r.ref_location.rsplit('/').next().unwrap_or_default()
}

/// `name` as one plain object with properties, `allOf` parts merged in; `None` for anything else
/// (enums, strings, free-form objects).
fn flatten(schemas: &Schemas, name: &str) -> Option<Object> {
    match schemas.get(name)? {
        RefOr::T(Schema::Object(object)) if !object.properties.is_empty() => Some(object.clone()),
        RefOr::T(Schema::AllOf(all)) => {
            let mut out = Object::with_type(Type::Object);
            out.description.clone_from(&all.description);
            for part in &all.items {
                let part = match unwrap(part).0 {
                    RefOr::Ref(r) => flatten(schemas, ref_name(&r))?,
                    RefOr::T(Schema::Object(object)) => {
                        if out.description.is_none() {
                            out.description.clone_from(&object.description);
                        }
                        object
                    }
                    RefOr::T(_) => return None,
                };
                out.properties.extend(part.properties);
                out.required.extend(part.required);
            }
            Some(out)
        }
        _ => None,
    }
}

/// The objects reachable from `root` through `$ref`s, `root` included.
fn reachable(flat: &BTreeMap<String, Object>, root: &str) -> BTreeSet<String> {
    closure(flat, root, refs_in)
}

/// The objects a merge patch from `root` merges into: those its properties name directly.
fn merged_into(flat: &BTreeMap<String, Object>, root: &str) -> BTreeSet<String> {
    closure(flat, root, |property, next| {
        if let RefOr::Ref(r) = property {
            next.push(ref_name(r).to_owned());
        }
    })
}

/// The objects reached from `root`, `root` included, following what `edges` finds in each
/// property (unwrapped).
fn closure(
    flat: &BTreeMap<String, Object>,
    root: &str,
    edges: impl Fn(&RefOr<Schema>, &mut Vec<String>),
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut next = vec![root.to_owned()];
    while let Some(name) = next.pop() {
        let Some(object) = flat.get(&name) else {
            continue;
        };
        if !seen.insert(name) {
            continue;
        }
        for property in object.properties.values() {
            edges(&unwrap(property).0, &mut next);
        }
    }
    seen
}

fn refs_in(schema: &RefOr<Schema>, out: &mut Vec<String>) {
    match schema {
        RefOr::Ref(r) => out.push(ref_name(r).to_owned()),
        RefOr::T(Schema::Array(array)) => {
            if let ArrayItems::RefOrSchema(items) = &array.items {
                refs_in(items, out);
            }
        }
        RefOr::T(Schema::Object(object)) => {
            if let Some(AdditionalProperties::RefOr(values)) =
                object.additional_properties.as_deref()
            {
                refs_in(values, out);
            }
            for property in object.properties.values() {
                refs_in(property, out);
            }
        }
        RefOr::T(Schema::OneOf(one)) => one.items.iter().for_each(|item| refs_in(item, out)),
        RefOr::T(Schema::AllOf(all)) => all.items.iter().for_each(|item| refs_in(item, out)),
        RefOr::T(_) => {}
    }
}

/// A property without its `default`, which is handed back apart; `oneOf: [{$ref}]` becomes the `$ref`.
fn unwrap(property: &RefOr<Schema>) -> (RefOr<Schema>, Option<serde_json::Value>) {
    match property {
        RefOr::T(Schema::OneOf(one)) if one.items.len() == 1 => match &one.items[0] {
            RefOr::Ref(r) => {
                let mut r = r.clone();
                if let Some(description) = &one.description {
                    r.description.clone_from(description);
                }
                (RefOr::Ref(r), one.default.clone())
            }
            _ => (property.clone(), None),
        },
        RefOr::T(Schema::Object(object)) => {
            let mut object = object.clone();
            let default = object.default.take();
            (RefOr::T(Schema::Object(object)), default)
        }
        RefOr::T(Schema::Array(array)) => {
            let mut array = array.clone();
            let default = array.default.take();
            (RefOr::T(Schema::Array(array)), default)
        }
        _ => (property.clone(), None),
    }
}

/// Says a plain default (a scalar or a list of scalars) in the property's description, as
/// "Default: `7.0`.". Not as `default`: openapi-typescript types every property with a `default` as
/// always present, so a create body would have to send every one; and a client that sends the
/// server's defaults back pins them. An object's default is left out: it is the nested schema's own
/// defaults, said there.
fn with_default(property: RefOr<Schema>, default: Option<serde_json::Value>) -> RefOr<Schema> {
    let Some(default) = default.filter(is_plain) else {
        return property;
    };
    let said = format!("Default: `{default}`.");
    let add = |description: &mut String| {
        *description = if description.is_empty() {
            said.clone()
        } else {
            format!("{description} {said}")
        };
    };
    match property {
        RefOr::Ref(mut r) => {
            add(&mut r.description);
            RefOr::Ref(r)
        }
        RefOr::T(Schema::Object(mut object)) => {
            add(object.description.get_or_insert_with(String::new));
            RefOr::T(Schema::Object(object))
        }
        RefOr::T(Schema::Array(mut array)) => {
            add(array.description.get_or_insert_with(String::new));
            RefOr::T(Schema::Array(array))
        }
        other => other,
    }
}

fn is_plain(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(_) => false,
        serde_json::Value::Array(items) => items
            .iter()
            .all(|item| !item.is_object() && !item.is_array()),
        _ => true,
    }
}

/// `property` with every `$ref` renamed: `top` for the property itself, `nested` for array items and
/// map values (a merge patch replaces those whole).
fn retarget(
    property: &RefOr<Schema>,
    top: &dyn Fn(&str) -> Option<String>,
    nested: &dyn Fn(&str) -> Option<String>,
) -> RefOr<Schema> {
    match property {
        RefOr::Ref(r) => match top(ref_name(r)) {
            Some(name) => {
                let mut renamed = Ref::from_schema_name(name);
                renamed.description.clone_from(&r.description);
                RefOr::Ref(renamed)
            }
            None => property.clone(),
        },
        RefOr::T(Schema::Array(array)) => {
            let mut array = array.clone();
            if let ArrayItems::RefOrSchema(items) = &array.items {
                array.items = ArrayItems::RefOrSchema(Box::new(retarget(items, nested, nested)));
            }
            RefOr::T(Schema::Array(array))
        }
        RefOr::T(Schema::Object(object)) => {
            let mut object = object.clone();
            if let Some(AdditionalProperties::RefOr(values)) =
                object.additional_properties.as_deref()
            {
                object.additional_properties = Some(Box::new(AdditionalProperties::RefOr(
                    retarget(values, nested, nested),
                )));
            }
            RefOr::T(Schema::Object(object))
        }
        other => other.clone(),
    }
}

fn is_null_type(schema: &RefOr<Schema>) -> bool {
    matches!(schema, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
}

fn type_allows_null(t: &SchemaType) -> bool {
    match t {
        SchemaType::Type(t) => *t == Type::Null,
        SchemaType::Array(types) => types.contains(&Type::Null),
        SchemaType::AnyValue => true,
    }
}

/// Whether the property may be `null` (or absent: utoipa writes an `Option` so).
fn is_nullable(property: &RefOr<Schema>) -> bool {
    match property {
        RefOr::T(Schema::Object(object)) => type_allows_null(&object.schema_type),
        RefOr::T(Schema::Array(array)) => type_allows_null(&array.schema_type),
        RefOr::T(Schema::OneOf(one)) => one.items.iter().any(is_null_type),
        _ => false,
    }
}

fn with_null(t: SchemaType) -> SchemaType {
    match t {
        SchemaType::Type(only) if only != Type::Null => SchemaType::Array(vec![only, Type::Null]),
        SchemaType::Array(mut types) if !types.contains(&Type::Null) => {
            types.push(Type::Null);
            SchemaType::Array(types)
        }
        other => other,
    }
}

/// `property`, or `null` (which a merge patch reads as "back to the default").
fn nullable(property: RefOr<Schema>) -> RefOr<Schema> {
    if is_nullable(&property) {
        return property;
    }
    match property {
        RefOr::Ref(mut r) => {
            let description = std::mem::take(&mut r.description);
            let mut one = utoipa::openapi::schema::OneOf::new();
            one.items = vec![RefOr::Ref(r), Object::with_type(Type::Null).into()];
            one.description = (!description.is_empty()).then_some(description);
            RefOr::T(Schema::OneOf(one))
        }
        RefOr::T(Schema::Object(mut object)) => {
            object.schema_type = with_null(object.schema_type);
            RefOr::T(Schema::Object(object))
        }
        RefOr::T(Schema::Array(mut array)) => {
            array.schema_type = with_null(array.schema_type);
            RefOr::T(Schema::Array(array))
        }
        other => other,
    }
}
