//! The terminal form of a plan: a summary line, then per resource only the fields that change (long texts as a
//! unified line diff), then the API calls in order, then notes. Colour only when the caller says the output is
//! a terminal; sensitive values are `(sensitive)` and never diffed.

use similar::TextDiff;

use super::{
    change_head, describe, no_changes_line, request, sorted_set, summary_line, unmanaged_line, UNMANAGED_HEADING,
};
use crate::model::SENSITIVE_MARK;
use crate::plan::{Action, FieldChange, FieldValue, Plan, ResourceChange};

const LABEL_WIDTH: usize = 15;

struct Paint(bool);

impl Paint {
    fn code(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\u{1b}[{code}m{s}\u{1b}[0m")
        } else {
            s.to_string()
        }
    }
    fn action(&self, a: Action, s: &str) -> String {
        self.code(
            match a {
                Action::Create => "32",
                Action::Update => "33",
                Action::Delete => "31",
            },
            s,
        )
    }
    fn diff_line(&self, line: &str) -> String {
        match line.chars().next() {
            Some('+') => self.code("32", line),
            Some('-') => self.code("31", line),
            Some('@') => self.code("36", line),
            _ => line.to_string(),
        }
    }
}

/// Render a plan for a terminal. `color`: emit ANSI colours (the caller checks the terminal and `NO_COLOR`).
pub fn text(plan: &Plan, color: bool) -> String {
    let paint = Paint(color);
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str(&no_changes_line(plan));
        out.push('\n');
    } else {
        out.push_str(&summary_line(plan));
        out.push_str("\n\n");
        for change in &plan.changes {
            for line in resource_lines(change, &paint) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        if !plan.operations.is_empty() {
            out.push_str("\nAPI calls:\n");
            for op in &plan.operations {
                let (method, path, _) = request(op);
                let head = format!("{:>3}. {method} {path}", op.id + 1);
                out.push_str(&format!("{head:<60} {}\n", describe(op)));
            }
        }
    }
    if !plan.unmanaged.is_empty() {
        out.push_str(&format!("\n{UNMANAGED_HEADING}:\n"));
        for u in &plan.unmanaged {
            out.push_str(&format!("  ? {}\n", unmanaged_line(u)));
        }
    }
    if !plan.notes.is_empty() {
        out.push_str("\nNotes:\n");
        for note in &plan.notes {
            match &note.address {
                Some(a) => out.push_str(&format!("  - {a}: {}\n", note.message)),
                None => out.push_str(&format!("  - {}\n", note.message)),
            }
        }
    }
    out
}

/// The block for one resource, without colour codes when `color` is false. Shared with the Markdown renderer.
pub(crate) fn resource_block(change: &ResourceChange) -> String {
    resource_lines(change, &Paint(false)).join("\n")
}

fn resource_lines(change: &ResourceChange, paint: &Paint) -> Vec<String> {
    let mut lines = vec![paint.action(change.action, &format!("  {}", change_head(change)))];
    for f in &change.fields {
        field_lines(f, change.action, paint, &mut lines);
    }
    lines
}

fn is_long(v: &FieldValue) -> bool {
    match v {
        FieldValue::Text(t) => !t.is_sensitive() && (t.expose().contains('\n') || t.expose().chars().count() > 80),
        // Objects are diffed line by line; a flag or a short list of words reads best on one line.
        FieldValue::Json(serde_json::Value::Object(_)) => true,
        FieldValue::Json(serde_json::Value::Array(items)) => {
            items.iter().any(|i| i.is_object() || i.is_array()) || scalar(v).chars().count() > 80
        }
        _ => false,
    }
}

fn scalar(v: &FieldValue) -> String {
    match v {
        FieldValue::Text(t) if t.is_sensitive() => SENSITIVE_MARK.to_string(),
        FieldValue::Text(t) => serde_json::to_string(t.expose()).unwrap_or_default(),
        FieldValue::Number(n) => n.to_string(),
        FieldValue::Label(l) => l.clone(),
        FieldValue::Set(s) => format!("[{}]", sorted_set(s).join(", ")),
        FieldValue::Json(j) => super::mask_json(j).to_string(),
    }
}

/// The text a long value is diffed as: the text itself, or pretty JSON with secrets masked.
fn long_text(v: &FieldValue) -> String {
    match v {
        FieldValue::Json(j) => serde_json::to_string_pretty(&super::mask_json(j)).unwrap_or_default(),
        FieldValue::Text(t) => t.shown().to_string(),
        other => scalar(other),
    }
}

fn field_lines(f: &FieldChange, action: Action, paint: &Paint, lines: &mut Vec<String>) {
    let label = format!("{}:", f.field);
    let width = LABEL_WIDTH.max(label.chars().count() + 1);
    let head = |rest: &str| format!("      {label:<width$}{rest}").trim_end().to_string();
    let long = f.before.as_ref().is_some_and(is_long) || f.after.as_ref().is_some_and(is_long);
    match (&f.before, &f.after) {
        (Some(FieldValue::Set(before)), Some(FieldValue::Set(after))) => {
            let added: Vec<String> = sorted_set(&after.difference(before).cloned().collect());
            let removed: Vec<String> = sorted_set(&before.difference(after).cloned().collect());
            let mut parts: Vec<String> = added.iter().map(|a| format!("+ {a}")).collect();
            parts.extend(removed.iter().map(|r| format!("- {r}")));
            lines.push(head(&parts.join(", ")));
        }
        (before, Some(after)) if long => {
            lines.push(head(""));
            let old = before.as_ref().map(long_text).unwrap_or_default();
            let new = long_text(after);
            if action == Action::Create || before.is_none() {
                lines.extend(new.lines().map(|l| paint.diff_line(&format!("        +{l}"))));
            } else {
                // A trailing newline on both sides keeps an unchanged last line from showing as changed.
                let (old, new) = (format!("{old}\n"), format!("{new}\n"));
                let diff = TextDiff::from_lines(&old, &new);
                let unified = diff.unified_diff().context_radius(2).missing_newline_hint(false).to_string();
                for l in unified.lines() {
                    lines.push(format!("        {}", paint.diff_line(l)));
                }
            }
        }
        (None, Some(after)) => lines.push(head(&scalar(after))),
        (Some(before), Some(after)) => lines.push(head(&format!("{} -> {}", scalar(before), scalar(after)))),
        (Some(before), None) => lines.push(head(&format!("{} -> (removed)", scalar(before)))),
        (None, None) => {}
    }
}
