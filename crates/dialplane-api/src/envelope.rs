//! The success envelopes, generic over what they carry. Each use is named in the OpenAPI document
//! (`AgentEnvelope`, `AgentListEnvelope`…) by [`named_envelope!`].

use serde::{Deserialize, Serialize};

/// `{"success": true, "data": <T>}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
}

impl<T> Envelope<T> {
    /// A successful answer carrying `data`.
    pub fn of(data: T) -> Self {
        Self {
            success: true,
            data,
        }
    }
}

/// `{"success": true, "data": [<T>…], "pagination": <P>}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListEnvelope<T, P> {
    pub success: bool,
    pub data: Vec<T>,
    pub pagination: P,
}

impl<T, P> ListEnvelope<T, P> {
    pub fn of(data: Vec<T>, pagination: P) -> Self {
        Self {
            success: true,
            data,
            pagination,
        }
    }
}

/// The `success` property of every envelope.
pub fn success() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Boolean)
        .into()
}

/// Names an envelope's use in the OpenAPI document: `named_envelope!(AgentEnvelope = Envelope<Agent>,
/// data: schema, "description")` declares `type AgentEnvelope` and gives it the schema
/// `{success, data}` (`ListEnvelope<T, P>`: `{success, data: [T], pagination: P}`) under that name.
#[macro_export]
macro_rules! named_envelope {
    ($(#[doc = $doc:literal])* $name:ident = Envelope<$data:ty>, data: $schema:expr, needs: [$($dep:ty),*]) => {
        $(#[doc = $doc])*
        pub type $name = $crate::Envelope<$data>;

        impl utoipa::PartialSchema for $crate::Envelope<$data> {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let description: Option<&str> = None $(.or(Some($doc.trim())))*;
                utoipa::openapi::schema::ObjectBuilder::new()
                    .description(description)
                    .property("success", $crate::envelope_success())
                    .required("success")
                    .property("data", $schema)
                    .required("data")
                    .into()
            }
        }

        impl utoipa::ToSchema for $crate::Envelope<$data> {
            fn name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn schemas(
                schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
            ) {
                $(
                    schemas.push((<$dep as utoipa::ToSchema>::name().into(), <$dep as utoipa::PartialSchema>::schema()));
                    <$dep as utoipa::ToSchema>::schemas(schemas);
                )*
            }
        }
    };
    ($(#[doc = $doc:literal])* $name:ident = ListEnvelope<$item:ty, $page:ty>) => {
        $(#[doc = $doc])*
        pub type $name = $crate::ListEnvelope<$item, $page>;

        impl utoipa::PartialSchema for $crate::ListEnvelope<$item, $page> {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::ToSchema;
                let description: Option<&str> = None $(.or(Some($doc.trim())))*;
                utoipa::openapi::schema::ObjectBuilder::new()
                    .description(description)
                    .property("success", $crate::envelope_success())
                    .required("success")
                    .property(
                        "data",
                        utoipa::openapi::schema::ArrayBuilder::new()
                            .items(utoipa::openapi::Ref::from_schema_name(<$item>::name())),
                    )
                    .required("data")
                    .property("pagination", utoipa::openapi::Ref::from_schema_name(<$page>::name()))
                    .required("pagination")
                    .into()
            }
        }

        impl utoipa::ToSchema for $crate::ListEnvelope<$item, $page> {
            fn name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn schemas(
                schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
            ) {
                use utoipa::PartialSchema;
                schemas.push((<$item>::name().into(), <$item>::schema()));
                <$item>::schemas(schemas);
                schemas.push((<$page>::name().into(), <$page>::schema()));
                <$page>::schemas(schemas);
            }
        }
    };
}

/// A `$ref` to the schema of `T`, for [`named_envelope!`]'s `data`.
pub fn schema_ref<T: utoipa::ToSchema>() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>
{
    utoipa::openapi::Ref::from_schema_name(T::name()).into()
}
