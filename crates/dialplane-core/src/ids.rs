//! Identifiers: opaque, URL-safe, time-ordered (UUID v7), each its own type.

/// Declares a UUID v7 newtype that serialises as its hyphenated string.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, utoipa::ToSchema)]
        #[schema(value_type = String, example = "0193a5b2-7c1d-7e3f-9a4b-5c6d7e8f9a0b")]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::ids::InvalidId;

            /// Accepts only the canonical lower-case hyphenated form, so one id has one spelling.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let id = uuid::Uuid::try_parse(s).map_err(|_| crate::ids::InvalidId)?;
                if id.hyphenated().to_string() == s {
                    Ok(Self(id))
                } else {
                    Err(crate::ids::InvalidId)
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A string that is not an id of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidId;

impl std::fmt::Display for InvalidId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a valid id")
    }
}

impl std::error::Error for InvalidId {}

uuid_id!(
    /// The id of an agent.
    AgentId
);
uuid_id!(
    /// The id of an API key (never the key itself).
    KeyId
);
uuid_id!(
    /// The id of a phone number of a workspace.
    PhoneNumberId
);
uuid_id!(
    /// The id of a conversation (one call).
    ConversationId
);
uuid_id!(
    /// The id of a workspace's webhook endpoint.
    EndpointId
);
uuid_id!(
    /// The id of an event: a delivery's `webhook-id`, the same on every attempt.
    EventId
);
uuid_id!(
    /// The id of one event's delivery to one target.
    DeliveryId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_string_form() {
        let id = AgentId::generate();
        assert_eq!(id.to_string().parse::<AgentId>(), Ok(id));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<AgentId>(&json).unwrap(), id);
    }

    #[test]
    fn only_the_canonical_spelling_is_an_id() {
        let id = AgentId::generate().to_string();
        assert!(id.to_uppercase().parse::<AgentId>().is_err());
        assert!(id.replace('-', "").parse::<AgentId>().is_err());
        assert!("agent-1".parse::<AgentId>().is_err());
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let a = AgentId::generate();
        let b = AgentId::generate();
        assert!(a.to_string() < b.to_string());
    }
}
