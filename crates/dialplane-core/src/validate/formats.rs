//! String formats of the contract: ids, E.164 numbers, e-mail addresses, language codes, URLs, SIP URIs,
//! identifiers and time zones. Each check returns what is wrong, for the problem's message.

use super::reader::Fault;
use crate::problems::ProblemCode;

/// ISO 639-1 language codes.
const ISO_639_1: &[&str] = &[
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bh",
    "bi", "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da",
    "de", "dv", "dz", "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr",
    "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz",
    "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka", "kg", "ki", "kj",
    "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln",
    "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb",
    "nd", "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi",
    "pl", "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk",
    "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv", "sw", "ta", "te", "tg", "th", "ti",
    "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur", "uz", "ve", "vi", "vo",
    "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

fn fault(code: ProblemCode, message: impl Into<String>) -> Result<(), Fault> {
    Err((code, message.into()))
}

/// A string of `min..=max` characters (Unicode scalar values).
pub fn chars(min: usize, max: usize) -> impl Fn(&str) -> Result<(), Fault> {
    move |s| {
        let n = s.chars().count();
        if n < min {
            let what = if min == 1 {
                "must not be empty".to_owned()
            } else {
                format!("must have at least {min} characters, got {n}")
            };
            fault(ProblemCode::TooShort, what)
        } else if n > max {
            fault(
                ProblemCode::TooLong,
                format!("must have at most {max} characters, got {n}"),
            )
        } else {
            Ok(())
        }
    }
}

/// Any string of at most `max` characters.
pub fn text(max: usize) -> impl Fn(&str) -> Result<(), Fault> {
    chars(0, max)
}

/// An id string: 1..=128 characters.
pub fn id(s: &str) -> Result<(), Fault> {
    chars(1, 128)(s)
}

/// A non-empty string.
pub fn non_empty(s: &str) -> Result<(), Fault> {
    chars(1, usize::MAX)(s)
}

/// The most characters a name may have with the whitespace around it: the contract counts 200
/// after trimming, and a name is stored, indexed and listed as given, so the padding is bounded too.
pub const MAX_PADDED_NAME: usize = 1_000;

/// The agent's name: 1..=200 characters after trimming, at most [`MAX_PADDED_NAME`] before, no
/// control characters.
pub fn name(s: &str) -> Result<(), Fault> {
    chars(1, 200)(s.trim())?;
    let n = s.chars().count();
    if n > MAX_PADDED_NAME {
        return fault(
            ProblemCode::TooLong,
            format!(
                "must have at most {MAX_PADDED_NAME} characters with the whitespace around it, got {n}"
            ),
        );
    }
    if s.chars().any(char::is_control) {
        return fault(
            ProblemCode::InvalidFormat,
            "must not contain control characters",
        );
    }
    // A name that shows nothing, or shows its characters in another order than they are, is a
    // name two users can confuse (`invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`).
    if s.chars()
        .any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
    {
        return fault(
            ProblemCode::InvalidFormat,
            "must not contain text-direction overrides or isolates",
        );
    }
    if s.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return fault(ProblemCode::TooShort, "must have a visible character");
    }
    Ok(())
}

/// Characters that show nothing (format characters such as zero-width spaces and direction marks,
/// fillers, the byte-order mark): two labels that differ only by them look the same.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// A label an operator types and reads back (a workspace, a user id): 1..=200 characters that all
/// show, no whitespace at either end and none but plain spaces inside, so that two labels that look
/// the same are the same.
pub fn label(s: &str) -> Result<(), Fault> {
    chars(1, 200)(s)?;
    if s.trim() != s {
        return fault(
            ProblemCode::InvalidFormat,
            "must not start or end with whitespace",
        );
    }
    if let Some(c) = s
        .chars()
        .find(|c| c.is_control() || is_invisible(*c) || (c.is_whitespace() && *c != ' '))
    {
        return fault(
            ProblemCode::InvalidFormat,
            format!(
                "must not contain control, invisible or special whitespace characters (found U+{:04X})",
                u32::from(c)
            ),
        );
    }
    Ok(())
}

/// `+` then 2..=15 digits, the first not 0.
pub fn e164(s: &str) -> Result<(), Fault> {
    let ok = s.strip_prefix('+').is_some_and(|d| {
        (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    });
    if ok {
        Ok(())
    } else {
        fault(
            ProblemCode::InvalidFormat,
            format!("must be an E.164 phone number like +14155550123, got {s:?}"),
        )
    }
}

/// An ISO 639-1 code with an optional region: `en`, `pt-BR`, `es-419`.
pub fn language(s: &str) -> Result<(), Fault> {
    let (lang, region) = match s.split_once('-') {
        Some((l, r)) => (l, Some(r)),
        None => (s, None),
    };
    let region_ok = region.is_none_or(|r| {
        (r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()))
            || (r.len() == 3 && r.bytes().all(|b| b.is_ascii_digit()))
    });
    if ISO_639_1.contains(&lang) && region_ok {
        Ok(())
    } else {
        fault(
            ProblemCode::InvalidValue,
            format!(
                "must be an ISO 639-1 language code with an optional region (en, pt-BR), got {s:?}"
            ),
        )
    }
}

/// `""` or a language code.
pub fn optional_language(s: &str) -> Result<(), Fault> {
    if s.is_empty() {
        Ok(())
    } else {
        language(s)
    }
}

/// An IANA time-zone name.
pub fn timezone(s: &str) -> Result<(), Fault> {
    if s.parse::<chrono_tz::Tz>().is_ok() {
        Ok(())
    } else {
        fault(
            ProblemCode::InvalidValue,
            format!("must be an IANA time-zone name like Europe/Paris, got {s:?}"),
        )
    }
}

/// `[A-Za-z_][A-Za-z0-9_]{0,63}`.
pub fn identifier(s: &str) -> Result<(), Fault> {
    let mut bytes = s.bytes();
    let ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && s.len() <= 64;
    if ok {
        Ok(())
    } else {
        fault(
            ProblemCode::InvalidFormat,
            format!("must match [A-Za-z_][A-Za-z0-9_]{{0,63}}, got {s:?}"),
        )
    }
}

/// A plain e-mail address: `local@domain.tld`, at most 254 characters.
pub fn email(s: &str) -> Result<(), Fault> {
    let valid = || -> bool {
        let (local, domain) = match s.rsplit_once('@') {
            Some(parts) => parts,
            None => return false,
        };
        let local_ok = (1..=64).contains(&local.len())
            && !local.contains('@')
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[]\\,;:\"".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                (1..=63).contains(&l.len())
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
        s.len() <= 254 && local_ok && domain_ok
    };
    if valid() {
        Ok(())
    } else {
        fault(
            ProblemCode::InvalidFormat,
            format!("must be an e-mail address, got {s:?}"),
        )
    }
}

/// `""` or an absolute https URL; http only for loopback hosts.
pub fn webhook(s: &str) -> Result<(), Fault> {
    if s.is_empty() {
        return Ok(());
    }
    webhook_url(s, false)
}

/// An absolute https URL with a host and no spaces or control characters; http for loopback hosts,
/// or for any host if `any_http_host`.
pub fn webhook_url(s: &str, any_http_host: bool) -> Result<(), Fault> {
    let bad = |why: &str| fault(ProblemCode::InvalidFormat, format!("{why}, got {s:?}"));
    // The URL parser drops tabs and newlines anywhere and spaces around the URL; the value is stored
    // and handed on as sent, so it must hold none.
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must be a URL without spaces or control characters (percent-encode them)");
    }
    let Ok(url) = url::Url::parse(s) else {
        return bad("must be an absolute URL");
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return bad("must be an absolute URL with a host"),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback || any_http_host => Ok(()),
        "http" => bad("must use https (http is allowed for loopback hosts only)"),
        _ => bad("must be an https URL"),
    }
}

/// A `sip:` or `sips:` URI with a host.
pub fn sip_uri(s: &str) -> Result<(), Fault> {
    let rest = s.strip_prefix("sip:").or_else(|| s.strip_prefix("sips:"));
    let ok = rest.is_some_and(|r| {
        let host = r.rsplit_once('@').map_or(r, |(_, h)| h);
        !host.is_empty() && !r.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if ok {
        Ok(())
    } else {
        fault(
            ProblemCode::InvalidFormat,
            format!("must be a sip: or sips: URI like sip:frontdesk@example.com, got {s:?}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_must_show_something_and_in_the_order_it_is_written() {
        assert!(name("Front desk").is_ok());
        assert!(
            name("مكتب الاستقبال").is_ok(),
            "right-to-left text itself is fine"
        );
        assert!(
            name("a\u{200B}b").is_ok(),
            "an invisible character beside visible ones is kept"
        );
        for invisible in ["\u{200B}", " \u{FEFF} ", "\u{2060}\u{00AD}"] {
            assert_eq!(
                name(invisible).unwrap_err().0,
                ProblemCode::TooShort,
                "{invisible:?}"
            );
        }
        for spoof in ["invoice\u{202E}fdp.exe", "a\u{2066}b\u{2069}"] {
            assert_eq!(
                name(spoof).unwrap_err().0,
                ProblemCode::InvalidFormat,
                "{spoof:?}"
            );
        }
    }

    #[test]
    fn e164_accepts_plus_and_up_to_15_digits() {
        for ok in ["+14155550123", "+442071838750", "+12"] {
            assert!(e164(ok).is_ok(), "{ok}");
        }
        for bad in [
            "14155550123",
            "+0123",
            "+1234567890123456",
            "+1 415",
            "+",
            "",
        ] {
            assert!(e164(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn languages_are_iso_639_1_with_optional_region() {
        for ok in ["en", "pt-BR", "es-419", "zh"] {
            assert!(language(ok).is_ok(), "{ok}");
        }
        for bad in ["", "english", "xx", "pt-br", "pt-", "EN", "en-US-x"] {
            assert!(language(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        for ok in ["a@b.co", "first.last+tag@mail.example.com"] {
            assert!(email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a b@c.co", "a@-b.co", "a@b.c0", "a@@b.co",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhooks_are_https_or_loopback_http() {
        for ok in [
            "",
            "https://example.com/hook",
            "http://localhost:8080/x",
            "http://127.0.0.1/x",
            "http://[::1]/",
        ] {
            assert!(webhook(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "ftp://example.com",
            "example.com",
            "/relative",
            "https://",
        ] {
            assert!(webhook(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sip_uris_need_a_scheme_and_host() {
        for ok in ["sip:alice@example.com", "sips:pbx.example.com:5061"] {
            assert!(sip_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "alice@example.com",
            "sip:",
            "sip:alice@",
            "sip:a b@c",
            "tel:+1415",
        ] {
            assert!(sip_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identifiers_and_time_zones() {
        assert!(identifier("_a1").is_ok());
        assert!(identifier(&"a".repeat(64)).is_ok());
        assert!(identifier(&"a".repeat(65)).is_err());
        assert!(identifier("1a").is_err());
        assert!(identifier("a-b").is_err());
        assert!(timezone("Europe/Paris").is_ok());
        assert!(timezone("UTC").is_ok());
        assert!(timezone("Mars/Olympus").is_err());
    }

    #[test]
    fn labels_refuse_padding_and_characters_that_do_not_show() {
        for good in ["acme", "Acme Corp", "ünïcødé", "a-b_c.d"] {
            assert!(label(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "A ",
            " A",
            "A\u{200B}",
            "A\u{FEFF}",
            "A\u{202E}B",
            "A\tB",
            "A\u{00A0}B",
            "A\nB",
            "A\rB",
            "A\u{1b}[31mB",
            "A\u{7}",
        ] {
            assert!(label(bad).is_err(), "{bad:?}");
        }
        assert!(label(&"a".repeat(200)).is_ok());
        assert!(label(&"a".repeat(201)).is_err());
    }

    #[test]
    fn names_are_trimmed_for_length_and_refuse_control_characters() {
        assert!(name("Ada").is_ok());
        assert!(name("   ").is_err());
        assert!(name(&"x".repeat(200)).is_ok());
        assert!(name(&"x".repeat(201)).is_err());
        assert!(name("a\u{7}b").is_err());
    }
}
