//! Offline check of a 5-field crontab expression (minute hour day-of-month month day-of-week), as schedules take
//! it. Accepts `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`, and month and weekday names
//! (`jan`, `mon`). Knows nothing of manifests: the loader turns a problem into a located diagnostic.

const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    ("month", 1, 12, &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
    ("day of week", 0, 7, &["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
];

/// The expression with single spaces between its fields, or what is wrong with it.
pub fn check(expr: &str) -> Result<String, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("it has {} field{}, not 5", fields.len(), if fields.len() == 1 { "" } else { "s" }));
    }
    for (field, (what, min, max, names)) in fields.iter().zip(FIELDS) {
        for item in field.split(',') {
            check_item(item, min, max, names).map_err(|e| format!("{what} `{field}`: {e}"))?;
        }
    }
    Ok(fields.join(" "))
}

fn check_item(item: &str, min: u32, max: u32, names: &[&str]) -> Result<(), String> {
    let (range, step) = match item.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (item, None),
    };
    if let Some(s) = step {
        match s.parse::<u32>() {
            Ok(n) if n >= 1 && n <= max.max(1) => {}
            _ => return Err(format!("step `{s}` is not a number from 1 to {}", max.max(1))),
        }
    }
    if range == "*" {
        return Ok(());
    }
    let value = |v: &str| -> Result<u32, String> {
        let lower = v.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == lower) {
            return Ok(u32::try_from(i).unwrap_or(0) + min);
        }
        match v.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            Ok(_) => Err(format!("`{v}` is out of range {min}-{max}")),
            Err(_) if v.is_empty() => Err("an empty value".to_string()),
            Err(_) => Err(format!("`{v}` is not a number")),
        }
    };
    match range.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(format!("range `{range}` runs backwards"));
            }
        }
        None => {
            value(range)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn good_expressions_are_normalised() {
        assert_eq!(check("0 3 * * *").unwrap(), "0 3 * * *");
        assert_eq!(check("  */15  9-17 * * mon-fri ").unwrap(), "*/15 9-17 * * mon-fri");
        assert_eq!(check("0,30 0 1 JAN,jul 0").unwrap(), "0,30 0 1 JAN,jul 0");
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let problems: Vec<String> = ["0 3 * *", "60 3 * * *", "0 3 * * 8", "0 5-3 * * *", "*/0 * * * *", "a * * * *"]
            .into_iter()
            .map(|e| check(e).unwrap_err())
            .collect();
        insta::assert_debug_snapshot!(problems, @r#"
        [
            "it has 4 fields, not 5",
            "minute `60`: `60` is out of range 0-59",
            "day of week `8`: `8` is out of range 0-7",
            "hour `5-3`: range `5-3` runs backwards",
            "minute `*/0`: step `0` is not a number from 1 to 59",
            "minute `a`: `a` is not a number",
        ]
        "#);
    }
}
