//! The index page of a static export of the archive (`lagesbild report export-site`): every
//! published edition, newest first, with relative links to its files and their SHA-256, so that
//! the folder works wherever a plain file server puts it. Rendered through Handlebars in strict
//! mode with the HTML escape, like the report.

use handlebars::Handlebars;
use serde_json::Value;

use crate::escape;

const INDEX: &str = r#"<!DOCTYPE html>
<html lang="sv">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Regional rapport – publicerade utgåvor</title>
<link rel="alternate" type="application/atom+xml" title="Regional rapport – publicerade utgåvor" href="{{feed}}">
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#1a1a1a;background:#fff;max-width:50rem;margin:0 auto;padding:1rem;line-height:1.5}
h1{font-size:1.6rem;line-height:1.25}h2{font-size:1.2rem;margin-top:1.6rem;border-bottom:1px solid #767676}
a{color:#005a9c}a:focus{outline:3px solid #1a1a1a;outline-offset:2px}
.meta,.hint{color:#3d3d3d}code{font-size:.85rem;word-break:break-all}
</style>
</head>
<body>
<main>
<h1>Regional rapport – publicerade utgåvor</h1>
<p>Koncernstab kommunikation. Varje utgåva med den version som gäller, nyast först. Filerna är de publicerade byte för byte; deras SHA-256 står bredvid och kan jämföras med loggens. Följ nya utgåvor i en flödesläsare: <a href="{{feed}}">Atom-flöde</a>.</p>
{{#each editions}}
<section aria-labelledby="u-{{name}}">
<h2 id="u-{{name}}"><a href="{{href}}">{{title}}</a></h2>
<p class="meta">Publicerad {{published}}{{#if by}} av {{by}}{{/if}}{{#if updated}}, gällande version {{updated}}{{/if}}.</p>
{{#if summary}}<ul>{{#each summary}}<li>{{this}}</li>{{/each}}</ul>{{/if}}
<ul>
{{#each files}}<li><a href="{{href}}">{{label}}</a> <span class="hint">SHA-256 <code>{{sha256}}</code></span></li>
{{/each}}</ul>
{{#if earlier}}<p class="hint">Tidigare versioner: {{#each earlier}}{{#if @index}}, {{/if}}<a href="{{href}}">{{label}}</a>{{#if pdf}} (<a href="{{pdf}}">PDF</a>){{/if}}{{/each}}.</p>{{/if}}
</section>
{{else}}
<p>Ingen utgåva är publicerad ännu.</p>
{{/each}}
</main>
</body>
</html>
"#;

/// The index page from `context`: `feed` (the feed's relative path) and `editions`, each with
/// `name`, `title`, `href`, `published`, `by?`, `updated?`, `summary` (texts), `files`
/// (`label`, `href`, `sha256`) and `earlier` (`label`, `href`, `pdf`: the version's PDF or null).
pub fn index(context: &Value) -> Result<String, handlebars::RenderError> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(escape::html);
    registry.render_template(INDEX, context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_from_the_log_is_escaped_and_links_stay_relative() {
        let hostile = "<script>alert(1)</script>\"";
        let html = index(&json!({
            "feed": "rapporter.atom",
            "editions": [{
                "name": "2024-W52", "title": hostile, "href": "rapporter/7.html",
                "published": "2024-12-27 10:15", "by": hostile, "updated": null,
                "summary": [hostile],
                "files": [{"label": "Webbsida", "href": "rapporter/7.html", "sha256": "ab"}],
                "earlier": [{"label": "version 1", "href": "rapporter/5.html", "pdf": "rapporter/5.pdf"}],
            }],
        }))
        .expect("renders");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;"),
            "{html}"
        );
        assert!(html.contains(r#"<a href="rapporter/7.html">"#), "{html}");
        assert!(
            html.contains(r#"<a href="rapporter/5.html">version 1</a>"#),
            "{html}"
        );
    }
}
