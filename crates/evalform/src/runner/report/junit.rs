//! JUnit XML, the shape CI systems read into their test tabs: `<testsuites>` with one `<testsuite>` per agent's
//! result and one `<testcase classname="agent-ID" name="EVALUATOR">` per evaluator (for Tela, one testsuite per
//! prompt, `classname="prompt-ID"`, one testcase per test case); a run that failed its bar is a
//! `<failure>`, a run that did not end normally (timeout, cancelled, failed on the platform's side) an `<error>`.
//!
//! The XML is written by hand (it is small and flat); every value goes through [`xml_escape`], which also removes
//! the characters XML 1.0 cannot carry at all, so no name or explanation can produce a document that fails to parse.

use super::super::outcome::{RunReport, Verdict};

/// Escape text for XML 1.0 content and attribute values alike. Characters XML cannot hold (most C0 controls,
/// U+FFFE, U+FFFF) become U+FFFD; tab, newline and carriage return are kept as character references so that
/// attribute values keep them too.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn seconds(s: f64) -> String {
    format!("{s:.3}")
}

/// The report as a JUnit XML document.
pub fn junit(report: &RunReport) -> String {
    let failures = report.count(Verdict::Failed);
    let errors = report.count(Verdict::Error);
    let tests = report.evaluators().count();
    let time: f64 = report.results.iter().map(|r| r.seconds).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"evalform run\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{}\">\n",
        seconds(time)
    ));
    for (index, r) in report.results.iter().enumerate() {
        // One testsuite per agent's result, and one per Tela prompt.
        let class = match &r.prompt {
            Some(p) => format!("prompt-{}", xml_escape(p)),
            None => format!("agent-{}", r.agent),
        };
        let count = |v| r.evaluators.iter().filter(|e| e.verdict == v).count();
        out.push_str(&format!(
            "  <testsuite name=\"{class}\" id=\"{index}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{}\">\n",
            r.evaluators.len(),
            count(Verdict::Failed),
            count(Verdict::Error),
            seconds(r.seconds)
        ));
        out.push_str("    <properties>\n");
        let id = match &r.prompt {
            Some(p) => ("prompt", p.clone()),
            None => ("result_id", r.result_id.to_string()),
        };
        for (name, value) in [id, ("status", r.status.clone())] {
            out.push_str(&format!("      <property name=\"{name}\" value=\"{}\"/>\n", xml_escape(&value)));
        }
        out.push_str("    </properties>\n");
        for e in &r.evaluators {
            let open = format!("    <testcase classname=\"{class}\" name=\"{}\"", xml_escape(&e.name));
            if e.verdict == Verdict::Passed {
                out.push_str(&format!("{open}/>\n"));
                continue;
            }
            out.push_str(&format!("{open}>\n"));
            let (tag, kind) =
                if e.verdict == Verdict::Error { ("error", "run-error") } else { ("failure", "run-failed") };
            let first = e.failures.first().map(|f| f.describe()).unwrap_or_default();
            let body: Vec<String> = e.failures.iter().map(|f| f.describe()).collect();
            out.push_str(&format!(
                "      <{tag} message=\"{}\" type=\"{kind}\">{}</{tag}>\n",
                xml_escape(&first),
                xml_escape(&body.join("\n"))
            ));
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_hostile_strings() {
        assert_eq!(xml_escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;");
        assert_eq!(xml_escape("a\u{0}b\u{1b}c\u{ffff}"), "a\u{fffd}b\u{fffd}c\u{fffd}");
        assert_eq!(xml_escape("l1\nl2\tx\r"), "l1&#10;l2&#9;x&#13;");
        assert_eq!(xml_escape("]]><!-- é 日本 🎉"), "]]&gt;&lt;!-- é 日本 🎉");
    }

    proptest::proptest! {
        #[test]
        fn any_string_survives_an_xml_parser(s in "\\PC*|[\\x00-\\x20<>&\"'\\]]*") {
            let doc = format!("<a b=\"{}\">{}</a>", xml_escape(&s), xml_escape(&s));
            let parsed = roxmltree::Document::parse(&doc).unwrap();
            let expected: String = s.chars().map(|c| match c {
                '\t' | '\n' | '\r' => c,
                '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
                c => c,
            }).collect();
            proptest::prop_assert_eq!(parsed.root_element().attribute("b"), Some(expected.as_str()));
            proptest::prop_assert_eq!(parsed.root_element().text().unwrap_or(""), expected.as_str());
        }
    }

    #[test]
    fn junit_has_the_expected_shape() {
        let xml = junit(&crate::runner::report::tests::sample());
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(
            (root.attribute("tests"), root.attribute("failures"), root.attribute("errors")),
            (Some("3"), Some("1"), Some("1"))
        );
        let cases: Vec<_> = root.descendants().filter(|n| n.has_tag_name("testcase")).collect();
        assert_eq!(cases[1].attribute("name"), Some("Refund | <b>\"x\"</b>"));
        let failure = cases[1].children().find(|n| n.has_tag_name("failure")).unwrap();
        assert_eq!(failure.attribute("message"), Some("run 8 failed on Call success: Hung up.\nEarly & rude"));
        assert!(cases[2].children().any(|n| n.has_tag_name("error")));
        assert!(cases[0].children().all(|n| !n.is_element()));
    }
}
