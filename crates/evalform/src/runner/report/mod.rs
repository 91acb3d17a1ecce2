//! Renderers of a [`RunReport`]: text for a terminal, JSON for scripts, JUnit XML for CI test tabs, Markdown for a
//! pull-request comment. They only read the report; each returns the whole document as a string for stdout.
//!
//! Evaluator names, metric names and explanations come from the platform and from manifests: every renderer escapes
//! them for its format (XML entities, Markdown table cells), so a hostile name cannot break the document.

mod junit;

pub use junit::{junit, xml_escape};

use super::outcome::{RunReport, Verdict};

/// `2 of 3 runs succeeded (67%); required 100%`.
fn summary(report: &RunReport) -> String {
    format!(
        "{} of {} runs succeeded ({}); required {}",
        report.successful_runs,
        report.total_runs,
        percent(report.success_rate),
        percent(report.min_success_rate)
    )
}

fn percent(rate: f64) -> String {
    format!("{}%", (rate * 100.0).round() as i64)
}

/// The terminal report: one block per result, one line per evaluator, the reason under each failure.
pub fn text(report: &RunReport) -> String {
    let mut out = String::new();
    for r in &report.results {
        let result = if r.prompt.is_some() { String::new() } else { format!(", result {}", r.result_id) };
        out.push_str(&format!(
            "{}{result}: {}, {} of {} runs succeeded\n",
            r.label(),
            r.status,
            r.successful_runs,
            r.total_runs
        ));
        for e in &r.evaluators {
            let mark = match e.verdict {
                Verdict::Passed => "passed",
                Verdict::Failed => "FAILED",
                Verdict::Error => "ERROR ",
            };
            out.push_str(&format!("  {mark}  {} ({}/{} runs)\n", one_line(&e.name), e.successful_runs, e.runs));
            for f in &e.failures {
                out.push_str(&format!("          {}\n", one_line(&f.describe())));
            }
        }
    }
    let verdict = if report.passed { "passed" } else { "FAILED" };
    out.push_str(&format!("{verdict}: {}\n", summary(report)));
    out
}

/// The report as pretty JSON (the [`RunReport`] fields).
pub fn json(report: &RunReport) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report is JSON");
    s.push('\n');
    s
}

/// A Markdown comment: a verdict heading, the summary, and a table of the evaluators (failures first).
pub fn markdown(report: &RunReport) -> String {
    let mut out = String::new();
    let (icon, verdict) = if report.passed { ("✅", "passed") } else { ("❌", "failed") };
    out.push_str(&format!("### {icon} evalform run {verdict}\n\n{}.\n\n", summary(report)));
    let results: Vec<String> = report
        .results
        .iter()
        .map(|r| match &r.prompt {
            Some(_) => format!("{}: test cases ({})", r.label(), r.status),
            None => format!("{}: result {} ({})", r.label(), r.result_id, r.status),
        })
        .collect();
    out.push_str(&format!("Results: {}.\n\n", results.join("; ")));
    // Tela test cases share the table, under their prompt.
    let tela = report.results.iter().any(|r| r.prompt.is_some());
    let (what, whose) = if tela { ("Evaluator / test case", "Agent / prompt") } else { ("Evaluator", "Agent") };
    out.push_str(&format!(
        "| | {what} | {whose} | Runs passed | Failing metric | Explanation |\n|---|---|---|---|---|---|\n"
    ));
    let mut rows: Vec<_> = report.evaluators().collect();
    rows.sort_by_key(|(_, e)| e.verdict == Verdict::Passed);
    for (r, e) in rows {
        let icon = match e.verdict {
            Verdict::Passed => "✅",
            Verdict::Failed => "❌",
            Verdict::Error => "⚠️",
        };
        let first = e.failures.first();
        let metric = first.and_then(|f| f.metric.clone()).unwrap_or_default();
        let explanation = first
            .map(|f| if f.status == "completed" { f.explanation.clone().unwrap_or_default() } else { f.describe() })
            .unwrap_or_default();
        let more = if e.failures.len() > 1 { format!(" (+{} more)", e.failures.len() - 1) } else { String::new() };
        out.push_str(&format!(
            "| {icon} | {} | {} | {}/{} | {} | {}{more} |\n",
            cell(&e.name),
            match &r.prompt {
                Some(p) => format!("prompt {}", cell(p)),
                None => r.agent.to_string(),
            },
            e.successful_runs,
            e.runs,
            cell(&metric),
            cell(&explanation)
        ));
    }
    out
}

/// A Markdown table cell: no line breaks, no column breaks, no HTML.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.trim().chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push_str("\\`"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text lines stay lines: a newline in a platform string must not look like another entry.
fn one_line(s: &str) -> String {
    s.split(['\n', '\r']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::outcome::{AgentResult, EvaluatorResult, RunFailure};

    pub(crate) fn sample() -> RunReport {
        let e = |id, name: &str, verdict, ok, failures: Vec<RunFailure>| EvaluatorResult {
            id,
            test_case_id: None,
            name: name.into(),
            source: None,
            verdict,
            runs: ok + failures.len() as u64,
            successful_runs: ok,
            failures,
        };
        let fail = |id, status: &str, metric: Option<&str>, why: Option<&str>| RunFailure {
            run_id: Some(id),
            generation_id: None,
            status: status.into(),
            metric: metric.map(String::from),
            explanation: why.map(String::from),
        };
        let r = AgentResult {
            agent: 101,
            prompt: None,
            result_id: 1005,
            status: "completed".into(),
            total_runs: 3,
            successful_runs: 1,
            seconds: 2.5,
            evaluators: vec![
                e(5, "Order status", Verdict::Passed, 1, vec![]),
                e(
                    9,
                    "Refund | <b>\"x\"</b>",
                    Verdict::Failed,
                    0,
                    vec![fail(8, "completed", Some("Call success"), Some("Hung up.\nEarly & rude"))],
                ),
                e(11, "Slow", Verdict::Error, 0, vec![fail(9, "timeout", None, None)]),
            ],
        };
        RunReport::new(vec![r], 1.0)
    }

    #[test]
    fn text_report() {
        insta::assert_snapshot!(text(&sample()), @r#"
        agent 101, result 1005: completed, 1 of 3 runs succeeded
          passed  Order status (1/1 runs)
          FAILED  Refund | <b>"x"</b> (0/1 runs)
                  run 8 failed on Call success: Hung up. Early & rude
          ERROR   Slow (0/1 runs)
                  run 9 ended timeout
        FAILED: 1 of 3 runs succeeded (33%); required 100%
        "#);
    }

    #[test]
    fn json_report() {
        insta::assert_snapshot!(json(&sample()));
    }

    #[test]
    fn markdown_report_escapes_cells() {
        insta::assert_snapshot!(markdown(&sample()), @r#"
        ### ❌ evalform run failed

        1 of 3 runs succeeded (33%); required 100%.

        Results: agent 101: result 1005 (completed).

        | | Evaluator | Agent | Runs passed | Failing metric | Explanation |
        |---|---|---|---|---|---|
        | ❌ | Refund \| &lt;b&gt;"x"&lt;/b&gt; | 101 | 0/1 | Call success | Hung up.<br>Early &amp; rude |
        | ⚠️ | Slow | 101 | 0/1 |  | run 9 ended timeout |
        | ✅ | Order status | 101 | 1/1 |  |  |
        "#);
    }
}
