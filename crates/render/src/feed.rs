//! The Atom feed (RFC 4287) of published editions, for the intranet: one entry per edition,
//! the version that stands, written by `atom_syndication` so that every text is escaped as XML.

use atom_syndication::{Content, Entry, Feed, Link, Person, Text};
use chrono::{DateTime, FixedOffset, Utc};

/// The feed as a whole.
#[derive(Clone, Debug)]
pub struct FeedHead {
    /// A permanent URI naming the feed.
    pub id: String,
    pub title: String,
    /// Where the feed itself is (`rel="self"`).
    pub self_href: String,
    /// The archive page the feed mirrors (`rel="alternate"`).
    pub alternate_href: String,
    /// When the feed last changed: the newest entry's update, or when there is none, the time
    /// the caller chooses (the log's head).
    pub updated: DateTime<Utc>,
}

/// One edition in the feed.
#[derive(Clone, Debug)]
pub struct FeedEntry {
    /// A permanent URI naming the edition (the same for all its versions, so a reader sees a
    /// new version as an update of the entry, not a new one).
    pub id: String,
    pub title: String,
    /// The permanent page of the standing version.
    pub href: String,
    /// Other representations of it (`rel="alternate"` with their type), such as the PDF.
    pub alternates: Vec<(String, String)>,
    /// When its first version was published.
    pub published: DateTime<Utc>,
    /// When the standing version was published.
    pub updated: DateTime<Utc>,
    pub author: Option<String>,
    /// Plain text.
    pub summary: String,
    /// The edition's HTML (already escaped HTML, which the feed escapes again as XML text).
    pub content_html: Option<String>,
}

/// The text with every character XML 1.0 does not allow (the C0 controls other than tab, line
/// feed and carriage return, and U+FFFE and U+FFFF) replaced by U+FFFD. `atom_syndication`
/// escapes markup but passes these through, and one of them makes every feed reader reject the
/// whole feed. New input refuses them, but a log may hold text from before that check.
fn xml_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

fn fixed(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.fixed_offset()
}

/// The Atom document, in UTF-8, with its XML declaration.
pub fn atom(head: &FeedHead, entries: &[FeedEntry]) -> String {
    let link = |href: &str, rel: &str, mime: Option<&str>| Link {
        href: xml_text(href),
        rel: rel.to_owned(),
        mime_type: mime.map(str::to_owned),
        ..Link::default()
    };
    let feed = Feed {
        title: Text::plain(xml_text(&head.title)),
        id: xml_text(&head.id),
        updated: fixed(
            entries
                .iter()
                .map(|e| e.updated)
                .max()
                .unwrap_or(head.updated),
        ),
        authors: vec![Person {
            name: "Koncernstab kommunikation".into(),
            ..Person::default()
        }],
        links: vec![
            link(&head.self_href, "self", Some("application/atom+xml")),
            link(&head.alternate_href, "alternate", Some("text/html")),
        ],
        lang: Some("sv".into()),
        entries: entries
            .iter()
            .map(|e| Entry {
                title: Text::plain(xml_text(&e.title)),
                id: xml_text(&e.id),
                updated: fixed(e.updated),
                published: Some(fixed(e.published)),
                authors: e
                    .author
                    .iter()
                    .map(|name| Person {
                        name: xml_text(name),
                        ..Person::default()
                    })
                    .collect(),
                links: std::iter::once(link(&e.href, "alternate", Some("text/html")))
                    .chain(
                        e.alternates
                            .iter()
                            .map(|(href, mime)| link(href, "alternate", Some(mime))),
                    )
                    .collect(),
                summary: Some(Text::plain(xml_text(&e.summary))),
                content: e.content_html.as_ref().map(|html| Content {
                    value: Some(xml_text(html)),
                    content_type: Some("html".into()),
                    ..Content::default()
                }),
                ..Entry::default()
            })
            .collect(),
        ..Feed::default()
    };
    feed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped_as_xml() {
        let at = DateTime::parse_from_rfc3339("2024-12-27T10:15:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        let head = FeedHead {
            id: "urn:x".into(),
            title: "Rapporter".into(),
            self_href: "/rapporter.atom".into(),
            alternate_href: "/rapporter".into(),
            updated: at,
        };
        let hostile = "</title><script>alert(1)</script> & ]]> \"'";
        let entry = FeedEntry {
            id: "urn:x:1".into(),
            title: hostile.into(),
            href: "/rapporter/1?a=1&b=2".into(),
            alternates: vec![],
            published: at,
            updated: at,
            author: Some(hostile.into()),
            summary: hostile.into(),
            content_html: Some("<p>&lt;script&gt;</p>".into()),
        };
        let xml = atom(&head, &[entry]);
        assert!(!xml.contains("<script>"), "{xml}");
        assert!(!xml.contains("</title><script"), "{xml}");
        assert!(
            xml.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; ]]&gt;"),
            "{xml}"
        );
        assert!(xml.contains("href=\"/rapporter/1?a=1&amp;b=2\""), "{xml}");
        assert!(
            xml.contains("<updated>2024-12-27T10:15:00+00:00</updated>"),
            "{xml}"
        );
        // Parsed back, every text is the text given.
        let parsed: Feed = xml.parse().expect("well-formed Atom");
        assert_eq!(parsed.entries[0].title.as_str(), hostile);
        assert_eq!(parsed.entries[0].authors[0].name, hostile);
    }

    #[test]
    fn characters_xml_forbids_are_replaced_not_written() {
        let at = DateTime::parse_from_rfc3339("2024-12-27T10:15:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        let head = FeedHead {
            id: "urn:x".into(),
            title: "Rapporter".into(),
            self_href: "/rapporter.atom".into(),
            alternate_href: "/rapporter".into(),
            updated: at,
        };
        let odd = "a\u{FFFF}b\u{FFFE}c\u{1}d\te";
        let entry = FeedEntry {
            id: "urn:x:1".into(),
            title: odd.into(),
            href: "/rapporter/1".into(),
            alternates: vec![],
            published: at,
            updated: at,
            author: Some(odd.into()),
            summary: odd.into(),
            content_html: Some(format!("<p>{odd}</p>")),
        };
        let xml = atom(&head, &[entry]);
        for bad in ['\u{FFFF}', '\u{FFFE}', '\u{1}'] {
            assert!(!xml.contains(bad), "U+{:04X} written", u32::from(bad));
        }
        let parsed: Feed = xml.parse().expect("well-formed Atom");
        assert_eq!(
            parsed.entries[0].title.as_str(),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\te"
        );
    }
}
