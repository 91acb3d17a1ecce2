//! `plan --format markdown`: a pull-request comment. A summary table, then one collapsed `<details>` block per
//! resource, then the API calls and notes. GitHub rejects comments over 65,536 characters, so the output stays
//! under [`MAX_CHARS`]: resources that do not fit are left out, with a note saying how many and to run
//! `evalform plan` locally.

use super::text::resource_block;
use super::{change_head, describe, no_changes_line, request, summary, unmanaged_line, UNMANAGED_HEADING};
use crate::plan::Plan;

/// The most characters a rendered comment has.
pub const MAX_CHARS: usize = 60_000;

/// A code fence longer than any run of backticks in `body`, so content cannot close it.
fn fence(body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

fn fenced(lang: &str, body: &str) -> String {
    let f = fence(body);
    format!("{f}{lang}\n{body}\n{f}\n")
}

pub fn markdown(plan: &Plan) -> String {
    let s = summary(plan);
    let mut out = String::from("### evalform plan\n\n");
    if plan.is_empty() {
        out.push_str(&no_changes_line(plan));
        out.push_str("\n\n");
    } else {
        out.push_str("| to create | to update | to delete | API calls |\n|---:|---:|---:|---:|\n");
        out.push_str(&format!("| {} | {} | {} | {} |\n\n", s.create, s.update, s.delete, s.api_calls));
    }

    let mut tail = String::new();
    if !plan.operations.is_empty() {
        let mut calls = String::new();
        for (i, op) in plan.operations.iter().enumerate() {
            if calls.len() > MAX_CHARS / 3 {
                calls.push_str(&format!("... and {} more\n", plan.operations.len() - i));
                break;
            }
            let (method, path, _) = request(op);
            calls.push_str(&format!("{:>3}. {method} {path}  {}\n", op.id + 1, describe(op)));
        }
        tail.push_str(&format!(
            "<details><summary>API calls ({})</summary>\n\n{}\n</details>\n\n",
            plan.operations.len(),
            fenced("text", calls.trim_end())
        ));
    }
    if !plan.unmanaged.is_empty() {
        tail.push_str(&format!("**{UNMANAGED_HEADING}**\n\n"));
        let start = tail.len();
        for (i, u) in plan.unmanaged.iter().enumerate() {
            if tail.len() - start > MAX_CHARS / 4 {
                tail.push_str(&format!(
                    "- ... and {} more (run `evalform plan` locally to see them all)\n",
                    plan.unmanaged.len() - i
                ));
                break;
            }
            tail.push_str(&format!("- `{}`\n", unmanaged_line(u).replace('`', "'")));
        }
        tail.push('\n');
    }
    if !plan.notes.is_empty() {
        tail.push_str("**Notes**\n\n");
        for n in &plan.notes {
            let message = n.message.replace('`', "'");
            match &n.address {
                Some(a) => tail.push_str(&format!("- `{a}`: {message}\n")),
                None => tail.push_str(&format!("- {message}\n")),
            }
        }
        tail.push('\n');
    }

    // Room for the cut note, whatever the count.
    const CUT_NOTE_ROOM: usize = 200;
    let mut shown = 0;
    for change in &plan.changes {
        let summary_text = change_head(change).replace('`', "'");
        let block = if change.fields.is_empty() {
            format!("- <code>{}</code>\n\n", html_escape(&summary_text))
        } else {
            format!(
                "<details><summary><code>{}</code></summary>\n\n{}\n</details>\n\n",
                html_escape(&summary_text),
                fenced("diff", &diff_highlighted(&resource_block(change)))
            )
        };
        if out.len() + block.len() + tail.len() + CUT_NOTE_ROOM > MAX_CHARS {
            break;
        }
        out.push_str(&block);
        shown += 1;
    }
    let left_out = plan.changes.len() - shown;
    if left_out > 0 {
        out.push_str(&format!(
            "> **{left_out} of {} resources are not shown** to keep this comment under {MAX_CHARS} characters. \
             Run `evalform plan` locally to see the whole plan.\n\n",
            plan.changes.len()
        ));
        if out.len() + tail.len() > MAX_CHARS {
            tail.clear();
        }
    }
    out.push_str(&tail);
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// The text block without its header line (the summary shows it), with the `+`/`-` of diff lines moved to the
/// first column so GitHub colours them.
fn diff_highlighted(block: &str) -> String {
    block
        .lines()
        .skip(1)
        .map(|line| {
            let indent = line.len() - line.trim_start().len();
            match line.trim_start().chars().next() {
                Some(sign @ ('+' | '-')) if indent >= 8 && !line.trim_start().starts_with("+ ") => {
                    format!("{sign}{}{}", " ".repeat(indent - 1), &line[indent + 1..])
                }
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
