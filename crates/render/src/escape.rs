//! Escaping for the format text lands in, so that text from the log cannot change a document.

/// Escapes text for HTML element content and attribute values.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '`' => out.push_str("&#96;"),
            '=' => out.push_str("&#61;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for inline Markdown (CommonMark) while keeping prose readable: characters that
/// open or close inline markup are backslash-escaped everywhere, those that open a block (`#`,
/// `>`, `-`, `+`, `=`, `1.`) where a block could start, `<` and `&` become entities so that no
/// HTML or entity survives, and line breaks become spaces so text cannot leave its list item.
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let at_line_start = i == 0 || chars[i - 1] == '\n';
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            '#' | '>' | '+' | '-' | '=' if at_line_start => {
                out.push('\\');
                out.push(c);
            }
            '!' if chars.get(i + 1) == Some(&'[') => {
                out.push_str("\\!");
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    // "1. text" at the start would become an ordered list.
    if let Some(pos) = out.find(['.', ')'])
        && pos > 0
        && out[..pos].chars().all(|c| c.is_ascii_digit())
    {
        out.insert(pos, '\\');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_inert() {
        assert_eq!(
            html("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(html("\" onload='x'"), "&quot; onload&#61;&#39;x&#39;");
    }

    #[test]
    fn markdown_is_inert() {
        assert_eq!(
            markdown("**fet** [länk](javascript:x)"),
            "\\*\\*fet\\*\\* \\[länk\\](javascript:x)"
        );
        assert_eq!(markdown("# rubrik"), "\\# rubrik");
        assert_eq!(markdown("<b>&amp;"), "&lt;b>&amp;amp;");
        assert_eq!(markdown("1. punkt"), "1\\. punkt");
        assert_eq!(
            markdown("Skåne, 1 046 miljoner kronor."),
            "Skåne, 1 046 miljoner kronor."
        );
        assert_eq!(markdown("rad\n# två"), "rad \\# två");
    }
}
